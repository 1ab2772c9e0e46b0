// Package mermaid prints the steps of a story (render/story) as a Mermaid
// sequenceDiagram: participants by role, numbered arrows, dashed replies,
// crossed failures, notes. What to draw is decided in render/story; this
// package only writes the syntax, and escapes every piece of text so that
// the real Mermaid parser accepts the output.
package mermaid

import (
	"fmt"
	"io"
	"strings"

	"github.com/flowmap/flowmap/flow"
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

// Render returns the diagram of m.
func Render(m *flow.Model, opts Options) string {
	return Print(story.Tell(m, story.Options{Detail: opts.Detail}), opts.Title)
}

// Print writes the steps of st as a diagram.
func Print(st *story.Story, title string) string {
	var b strings.Builder
	ids := story.IDs(st.Participants, keywords)
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	line("sequenceDiagram")
	if t := strings.TrimSpace(Escape(title)); t != "" { // "title" alone does not parse
		line("  title %s", t)
	}
	line("  autonumber")
	for _, p := range st.Participants {
		line("  participant %s as %s", ids[p], Escape(p.Name))
	}
	for _, s := range st.Steps {
		switch s.Kind {
		case story.Note, story.Session:
			line("  Note over %s: %s", ids[s.From], Escape(s.Text))
		case story.Call, story.Reply:
			line("  %s%s%s: %s", ids[s.From], arrow(s), ids[s.To], Escape(guess(s)+s.Text))
		}
	}
	return b.String()
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
// a single tree allows, cut between trees.
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
	roots := m.Roots
	for i := 0; i < len(roots); {
		// A session stays whole when it fits; one that does not is cut
		// between its trees.
		j := i + 1
		for j < len(roots) && roots[j].Session == roots[i].Session {
			j++
		}
		part := roots[i:j]
		one := &flow.Model{Participants: m.Participants, Tokens: m.Tokens, Roots: part, Sessions: m.Sessions}
		if n := TextSize(Render(one.Prune(), opts)); n <= MaxText {
			if size > 0 && size+n > MaxText {
				flush()
			}
			cur = append(cur, part...)
			size += n
			i = j
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
		i = j
	}
	flush()
	return out
}

// Write writes the diagram of m to w.
func Write(w io.Writer, m *flow.Model, opts Options) error {
	_, err := io.WriteString(w, Render(m, opts))
	return err
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
