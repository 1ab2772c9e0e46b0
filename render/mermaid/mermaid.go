// Package mermaid prints the steps of a story (render/story) as a Mermaid
// sequenceDiagram: participants by role, numbered arrows, dashed replies,
// crossed failures, notes. What to draw is decided in render/story; this
// package only writes the syntax, and escapes every piece of text so that
// the real Mermaid parser accepts the output.
package mermaid

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/render/internal/spool"
	"github.com/flowmap/flowmap/render/story"
)

// Options control the drawing.
type Options struct {
	Detail string // story.Compact (default) or story.Full
	Title  string
}

// TextSize is the length of d as Mermaid measures it against MaxText: a
// JavaScript string's length, in UTF-16 code units (a "·" is one, a byte
// count would say two).
func TextSize(d string) int {
	n := 0
	for _, r := range d {
		n++
		if r > 0xFFFF {
			n++
		}
	}
	return n
}

// MaxText is Mermaid's default maxTextSize: longer diagrams are replaced by
// an error box in renderers with the default configuration.
const MaxText = 50000

// Render returns the diagram of m, printed one session at a time like
// Stream, in memory.
func Render(m *flow.Model, opts Options) string {
	var b strings.Builder
	_ = story.PrintSessions(newStream(&b, opts, -1), m) // in memory: cannot fail
	return b.String()
}

// Stream prints a diagram one client session at a time (spool.Stream):
// Session prints each session into a body that moves to a temporary file
// past a few MB, Close writes the header, then the body. TextSize counts
// what it wrote. It keeps no session's nodes.
type Stream struct {
	*spool.Stream
	w *counter
}

// NewStream returns a Stream writing the diagram to w.
func NewStream(w io.Writer, opts Options) *Stream { return newStream(w, opts, 0) }

// newStream: limit is the body's memory limit (spool.Spool.Limit).
func newStream(w io.Writer, opts Options, limit int) *Stream {
	c := &counter{w: w}
	return &Stream{spool.NewStream(c, printer{opts.Title}, opts.Detail, limit), c}
}

// TextSize is the TextSize of what Close wrote.
func (s *Stream) TextSize() int { return s.w.size }

// counter counts what is written as TextSize does: a byte that starts a
// character counts 1, 2 when it starts a 4-byte sequence (what is written
// is UTF-8: Escape writes runes).
type counter struct {
	w    io.Writer
	size int
}

func (c *counter) Write(p []byte) (int, error) {
	for _, b := range p {
		if b&0xC0 != 0x80 {
			c.size++
		}
		if b >= 0xF0 {
			c.size++
		}
	}
	return c.w.Write(p)
}

// Print writes the steps of st as a diagram.
func Print(st *story.Story, title string) string {
	return spool.Print(printer{title}, st)
}

// printer prints steps into the body as they come, then the diagram
// (spool.Printer).
type printer struct{ title string }

func (printer) Step(b *spool.Diagram, s story.Step) {
	switch s.Kind {
	case story.Note, story.Session:
		if story.Pending(s) {
			b.Session(s)
			return
		}
		b.WriteString("  Note over ")
		b.ID(s.From)
		b.WriteString(": " + Escape(s.Text) + "\n")
	case story.Call, story.Reply:
		b.WriteString("  ")
		b.ID(s.From)
		b.WriteString(arrow(s))
		b.ID(s.To)
		b.WriteString(": " + Escape(guess(s)+s.Text) + "\n")
	}
}

// Print writes the header with participants ps, then the body.
func (p printer) Print(w *bufio.Writer, body *spool.Diagram, ps []*flow.Participant, sessions int) error {
	ids := story.IDs(ps, keywords)
	line := func(format string, args ...any) {
		fmt.Fprintf(w, format, args...)
		w.WriteByte('\n')
	}
	line("sequenceDiagram")
	if t := strings.TrimSpace(Escape(p.title)); t != "" { // "title" alone does not parse
		line("  title %s", t)
	}
	line("  autonumber")
	for _, p := range ps {
		line("  participant %s as %s", ids[p], Escape(p.Name))
	}
	return body.Copy(w, ids, sessions, func(w *bufio.Writer, id, text string) {
		fmt.Fprintf(w, "  Note over %s: %s\n", id, Escape(text))
	})
}

// guess marks a call only timing placed.
func guess(s story.Step) string {
	if s.Guessed {
		return "≈ "
	}
	return ""
}

// arrow is the Mermaid arrow of a call or reply: solid calls, dashed
// replies and bulk transfers (a service reading a whole file too),
// crossed failures, open arrows for messages that wait for no answer
// (casts).
func arrow(s story.Step) string {
	switch {
	case s.Failed:
		return "--x"
	case s.Async:
		return "-)"
	case s.Kind == story.Call && !s.Bulk:
		return "->>"
	}
	return "-->>"
}

// RenderSplit returns several diagrams, each under MaxText characters where
// a single tree allows, cut between trees. It works on the whole model in
// memory (it measures sessions and trees before choosing the cuts): it
// does not stream.
func RenderSplit(m *flow.Model, opts Options) []string {
	var out []string
	var cur []*flow.Node
	size := 0
	flush := func() {
		if len(cur) == 0 {
			return
		}
		sub := &flow.Model{Participants: m.Participants, Tokens: m.Tokens, Roots: cur, Sessions: m.Sessions}
		out = append(out, Render(sub.Prune(), opts))
		cur, size = nil, 0
	}
	// A session stays whole when it fits; one that does not is cut
	// between its trees.
	for part := range story.Sessions(m.Roots) {
		one := &flow.Model{Participants: m.Participants, Tokens: m.Tokens, Roots: part, Sessions: m.Sessions}
		if n := TextSize(Render(one.Prune(), opts)); n <= MaxText {
			if size > 0 && size+n > MaxText {
				flush()
			}
			cur = append(cur, part...)
			size += n
			continue
		}
		for _, r := range part {
			one := &flow.Model{Participants: m.Participants, Tokens: m.Tokens, Roots: []*flow.Node{r}, Sessions: m.Sessions}
			n := TextSize(Render(one.Prune(), opts))
			if size > 0 && size+n > MaxText {
				flush()
			}
			cur = append(cur, r)
			size += n
		}
	}
	flush()
	return out
}

// Write writes the diagram of m to w, one session at a time (Stream).
func Write(w io.Writer, m *flow.Model, opts Options) error {
	return story.PrintSessions(NewStream(w, opts), m)
}

// keywords may not be used as participant ids.
var keywords = map[string]bool{
	"end": true, "loop": true, "box": true, "note": true, "alt": true, "else": true, "opt": true,
	"par": true, "and": true, "rect": true, "critical": true, "option": true, "break": true,
	"participant": true, "actor": true, "as": true, "autonumber": true, "activate": true,
	"deactivate": true, "title": true, "link": true, "links": true, "create": true, "destroy": true,
	"over": true, "left": true, "right": true, "of": true, "sequencediagram": true,
}

// Escape makes s safe as Mermaid text: '#', ';' and '%' as entities (an
// entity start, a statement separator, and "%%" starts a comment or a
// directive anywhere on a line), line breaks as <br/>.
func Escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '#':
			b.WriteString("#35;")
		case ';':
			b.WriteString("#59;")
		case '%':
			b.WriteString("#37;") // "%%{…}%%" anywhere is a directive
		case '\n':
			b.WriteString("<br/>")
		case '\r', '\t', '\u2028', '\u2029':
			b.WriteByte(' ') // (U+2028/9 end a line in JavaScript)
		default:
			if r < 0x20 || r == 0x7f {
				b.WriteByte(' ')
				continue
			}
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}
