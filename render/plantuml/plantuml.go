// Package plantuml prints the steps of a story (render/story) as a PlantUML
// sequence diagram; what to draw is decided in render/story, not here.
package plantuml

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/render/internal/spool"
	"github.com/flowmap/flowmap/render/story"
)

// Options control the drawing.
type Options struct {
	Detail string // story.Compact (default) or story.Full
	Title  string
}

// Render returns the diagram of m, printed one session at a time like
// Stream, in memory.
func Render(m *flow.Model, opts Options) string {
	var b strings.Builder
	_ = story.PrintSessions(newStream(&b, opts, -1), m) // in memory: cannot fail
	return b.String()
}

// Write writes the diagram of m to w, one session at a time (Stream).
func Write(w io.Writer, m *flow.Model, opts Options) error {
	return story.PrintSessions(NewStream(w, opts), m)
}

// Stream prints a diagram one client session at a time (spool.Stream):
// Session prints each session into a body that moves to a temporary file
// past a few MB, Close writes the header, then the body. It keeps no
// session's nodes.
type Stream struct{ *spool.Stream }

// NewStream returns a Stream writing the diagram to w.
func NewStream(w io.Writer, opts Options) *Stream { return newStream(w, opts, 0) }

// newStream: limit is the body's memory limit (spool.Spool.Limit).
func newStream(w io.Writer, opts Options, limit int) *Stream {
	return &Stream{spool.NewStream(w, printer{opts.Title}, opts.Detail, limit)}
}

// Print writes the steps of st as a diagram: numbered arrows, dashed
// replies, crossed failures, open-headed bulk replies, notes, and session
// headers as separators.
func Print(st *story.Story, title string) string {
	return spool.Print(printer{title}, st)
}

// printer prints steps into the body as they come, then the diagram
// (spool.Printer).
type printer struct{ title string }

func (printer) Step(b *spool.Diagram, s story.Step) {
	switch s.Kind {
	case story.Session:
		if story.Pending(s) {
			b.Session(s)
			return
		}
		b.WriteString(separator(s.Text))
	case story.Note:
		l := label(s.Text)
		if l == "" {
			l = " :" // "note over X" alone opens a note block
		}
		b.WriteString("note over ")
		b.ID(s.From)
		b.WriteString(l + "\n")
	case story.Call, story.Reply:
		text := s.Text
		if s.Guessed {
			text = "≈ " + text
		}
		b.ID(s.From)
		b.WriteString(" " + arrow(s) + " ")
		b.ID(s.To)
		b.WriteString(label(text) + "\n")
	}
}

// separator is the line of a session header.
func separator(text string) string { return "== " + Escape(text) + " ==\n" }

// Print writes the header with participants ps, then the body.
func (p printer) Print(w *bufio.Writer, body *spool.Diagram, ps []*flow.Participant, sessions int) error {
	ids := story.IDs(ps, keywords())
	line := func(format string, args ...any) {
		fmt.Fprintf(w, format, args...)
		w.WriteByte('\n')
	}
	line("@startuml")
	if t := titleText(p.title); t != "" {
		line("title %s", t)
	}
	line("autonumber")
	for _, p := range ps {
		line("%s \"%s\" as %s", shape(p.Kind), escapeName(p.Name), ids[p])
	}
	if err := body.Copy(w, ids, sessions, func(w *bufio.Writer, _, text string) {
		w.WriteString(separator(text))
	}); err != nil {
		return err // no @enduml: what was written is not the whole diagram
	}
	line("@enduml")
	return nil
}

// label is " : text", or "" for an empty text.
func label(text string) string {
	if t := Escape(text); t != "" {
		return " : " + t
	}
	return ""
}

// shape is the participant keyword of a kind.
func shape(k flow.Kind) string {
	switch k {
	case flow.Client:
		return "actor"
	case flow.DB:
		return "database"
	case flow.Cache:
		return "collections"
	}
	return "participant"
}

// arrow is the PlantUML arrow of a call or reply: solid calls, dashed
// replies, crossed failures, an open head for bulk transfers (dashed like a
// reply, also when a service reads or writes a whole file: the Mermaid
// printer draws them the same way).
func arrow(s story.Step) string {
	switch {
	case s.Kind == story.Call && s.Failed:
		return "->x"
	case s.Kind == story.Call && s.Bulk:
		return "-->>"
	case s.Kind == story.Call && s.Async:
		return "->>"
	case s.Kind == story.Call:
		return "->"
	case s.Failed:
		return "-->x"
	case s.Bulk:
		return "-->>"
	}
	return "-->"
}

// keywords may not be used as participant ids: PlantUML's keywords and
// participant types, in lower case.
func keywords() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		abstract actor agent archimate artifact boundary card class cloud
		collections component control database detach diamond entity enum
		file folder frame interface node object package participant queue
		rectangle stack state storage usecase
		accross across activate again allow_mixing allowmixing also alt as
		autoactivate autonumber bottom box break caption center create
		critical deactivate delay destroy direction down else elseif end
		endif endwhile endbox endlegend endnote endhnote endrnote footbox
		footer fork group header hide hnote if ignore is kill left legend
		link loop mainframe namespace newpage note of on opt order over
		page par partition ref repeat return right rnote rotate show skin
		skinparam start stop title to top up while`) {
		m[w] = true
	}
	return m
}

// Escape makes s one line of PlantUML text that displays as s: creole
// markup, the preprocessor's %, comments and PlantUML's own escapes are
// neutralised, a newline becomes PlantUML's \n line break, other control
// characters and line separators a space; surrounding space is trimmed.
func Escape(s string) string { return escape(s, false) }

// titleText is Escape for the title line, "" when nothing is left: a
// brace at its start, or "{" at its end, would open or close a multi-line
// title block, and is written as an entity.
func titleText(s string) string {
	t := Escape(s)
	if t == "" {
		return ""
	}
	if t[0] == '{' || t[0] == '}' {
		t = fmt.Sprintf("&#%d;", t[0]) + t[1:]
	}
	if t[len(t)-1] == '{' {
		t = t[:len(t)-1] + "&#123;"
	}
	return t
}

// escapeName is Escape for a participant name inside double quotes.
func escapeName(s string) string { return escape(s, true) }

func escape(s string, quoted bool) string {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		// PlantUML also ends a line at U+2028 and U+2029
		if r != '\n' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029') {
			return ' '
		}
		return r
	}, s))
	rs := []rune(s)
	var b strings.Builder
	start := true // at the start of a displayed line
	for i, r := range rs {
		prev, next := rune(0), rune(0)
		if i > 0 {
			prev = rs[i-1]
		}
		if i+1 < len(rs) {
			next = rs[i+1]
		}
		switch {
		case r == '\n':
			b.WriteString(`\n`)
			start = true
			continue
		case r == '\\':
			// \n, \t, \l, \r are PlantUML's; a doubled backslash is one.
			b.WriteString(`\\`)
		case r == '<':
			// tags, <&icon>, <$sprite>; <U+hhhh> is read even after an
			// entity is decoded, but not twice.
			b.WriteString("<U+003C>")
		case r == '@' && prev == '~' && string(rs[i:min(i+6, len(rs))]) == "@start":
			b.WriteString("~@") // "~@start" is shown as "@start"
		case r == '"' && quoted,
			start && strings.ContainsRune("*#=|.", r), // lists, headings, tables, rules
			r == '~', // the creole escape, ~~wave~~
			r == '%', // preprocessor functions
			r == '&' && next == '#',
			r == '\'' && prev == '/': // /' comment '/
			fmt.Fprintf(&b, "&#%d;", r)
		case r == next && strings.ContainsRune(`*/"-_[`, r):
			// the first of a doubled markup character: **bold**, //italic//,
			// ""mono"", --strike--, __underline__, [[link]]
			b.WriteRune('~')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
		start = false
	}
	return b.String()
}
