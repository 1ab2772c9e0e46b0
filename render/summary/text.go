package summary

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fatih/color"

	"github.com/flowmap/flowmap/render/story"
)

// TextOptions control the terminal printer.
type TextOptions struct {
	// Colour turns on ANSI colour (the caller decides: a terminal, no
	// NO_COLOR).
	Colour bool
}

type styles struct {
	title, head, bad, warn, dim *color.Color
}

func newStyles(on bool) styles {
	s := styles{
		title: color.New(color.Bold, color.FgCyan),
		head:  color.New(color.Bold),
		bad:   color.New(color.FgRed, color.Bold),
		warn:  color.New(color.FgYellow),
		dim:   color.New(color.Faint),
	}
	for _, c := range []*color.Color{s.title, s.head, s.bad, s.warn, s.dim} {
		if on {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
	}
	return s
}

// cell is one table cell: its text and how it is coloured.
type cell struct {
	text  string
	style *color.Color
}

// table prints aligned columns; right-aligned columns hold numbers.
type table struct {
	head  []string
	right []bool
	rows  [][]cell
}

func (t *table) add(cells ...cell) { t.rows = append(t.rows, cells) }

func (t *table) print(w io.Writer, st styles) {
	width := make([]int, len(t.head))
	for i, h := range t.head {
		width[i] = utf8.RuneCountInString(h)
	}
	for _, r := range t.rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c.text))
		}
	}
	line := func(cells []cell) {
		var b strings.Builder
		b.WriteString("  ")
		for i, c := range cells {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c.text))
			text := c.text
			if c.style != nil && c.text != "" {
				text = c.style.Sprint(c.text)
			}
			last := i == len(cells)-1
			switch {
			case t.right[i]:
				b.WriteString(pad + text)
			case last:
				b.WriteString(text)
			default:
				b.WriteString(text + pad)
			}
			if !last {
				b.WriteString("  ")
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	hs := make([]cell, len(t.head))
	for i, h := range t.head {
		hs[i] = cell{h, st.head}
	}
	line(hs)
	for _, r := range t.rows {
		line(r)
	}
}

func plain(s string) cell { return cell{text: s} }

func num(n int) cell { return cell{text: strconv.Itoa(n)} }

// count is n, red when it is not 0.
func count(n int, bad *color.Color) cell {
	c := num(n)
	if n != 0 {
		c.style = bad
	}
	return c
}

// MsText is a duration given in milliseconds, for people.
func MsText(ms float64) string { return story.Dur(time.Duration(ms * 1e6)) }

// Offset is a start offset given in milliseconds: "+1.52 s".
func Offset(ms float64) string { return "+" + fmt.Sprintf("%.3f s", ms/1000) }

// WriteText prints s for a terminal: aligned tables, one section each.
func WriteText(w io.Writer, s *Summary, opts TextOptions) error {
	bw := bufio.NewWriter(w)
	st := newStyles(opts.Colour)
	section := func(title string) { fmt.Fprintln(bw); fmt.Fprintln(bw, st.title.Sprint(title)) }

	c := s.Capture
	fmt.Fprintf(bw, "%s · %s, %s, %s over %s",
		st.head.Sprint("flowmap summary"), story.Plural(int64(c.Sessions), "client session", "client sessions"),
		story.Plural(int64(c.Trees), "request tree", "request trees"), story.Plural(int64(c.Exchanges), "exchange", "exchanges"), MsText(c.DurationMs))
	if !c.Start.IsZero() {
		fmt.Fprintf(bw, " from %s", c.Start.UTC().Format("2006-01-02 15:04:05.000 UTC"))
	}
	fmt.Fprintln(bw)

	if len(s.Participants) > 0 {
		section("Participants")
		t := &table{head: []string{"participant", "kind", "served", "errors", "no reply", "p50", "p95", "max", "bytes in", "bytes out", "calls"},
			right: []bool{false, false, true, true, true, true, true, true, true, true, true}}
		for _, p := range s.Participants {
			lat := func(ms float64) cell {
				if p.Timed == 0 {
					return plain("")
				}
				return plain(MsText(ms))
			}
			t.add(plain(p.Name), cell{p.Kind, st.dim}, num(p.Served), count(p.Errors, st.bad), count(p.Unanswered, st.warn),
				lat(p.P50Ms), lat(p.P95Ms), lat(p.MaxMs), plain(story.Size(p.RequestBytes)), plain(story.Size(p.ResponseBytes)), num(p.Calls))
		}
		t.print(bw, st)
	}
	if len(s.Databases) > 0 {
		section("Databases")
		t := &table{head: []string{"database", "queries", "time in queries", "rows", "errors", "logins"},
			right: []bool{false, true, true, true, true, true}}
		for _, d := range s.Databases {
			t.add(plain(d.Name), num(d.Queries), plain(MsText(d.TimeMs)), plain(strconv.FormatInt(d.Rows, 10)), count(d.Errors, st.bad), num(d.Logins))
		}
		t.print(bw, st)
	}
	if len(s.Caches) > 0 {
		section("Caches")
		t := &table{head: []string{"cache", "gets", "hits", "misses", "hit ratio", "sets", "other"},
			right: []bool{false, true, true, true, true, true, true}}
		for _, k := range s.Caches {
			ratio := plain("")
			if k.HitRatio != nil {
				ratio = plain(fmt.Sprintf("%.0f%%", 100**k.HitRatio))
				if *k.HitRatio < 1-MissRatio {
					ratio.style = st.warn
				}
			}
			t.add(plain(k.Name), num(k.Gets), num(k.Hits), num(k.Misses), ratio, num(k.Sets), num(k.Other))
		}
		t.print(bw, st)
	}
	if len(s.Sessions) > 0 {
		section("Client sessions")
		t := &table{head: []string{"#", "command (guess)", "client", "start", "duration", "requests", "exchanges", "errors", "token"},
			right: []bool{true, false, false, true, true, true, true, true, false}}
		for _, x := range s.Sessions {
			cmd := x.Command
			if cmd == "" {
				cmd = "?"
			}
			t.add(num(x.Number), cell{cmd, st.head}, plain(x.Client), plain(Offset(x.StartMs)), plain(MsText(x.DurationMs)),
				num(x.Requests), num(x.Exchanges), count(x.Errors, st.bad), cell{x.Token, st.dim})
		}
		t.print(bw, st)
	}
	if len(s.Slowest) > 0 {
		section(fmt.Sprintf("Slowest %d request trees", len(s.Slowest)))
		t := &table{head: []string{"duration", "session", "start", "request", "answer", "exchanges", "DB queries", "DB time"},
			right: []bool{true, true, true, false, false, true, true, true}}
		for _, x := range s.Slowest {
			dbTime := plain("")
			if x.DBQueries > 0 {
				dbTime = plain(MsText(x.DBTimeMs))
			}
			t.add(cell{MsText(x.DurationMs), st.head}, num(x.Session), plain(Offset(x.StartMs)), plain(x.From+" → "+x.To+" "+story.Short(x.Request, 60)),
				plain(story.Short(x.Answer, 30)), num(x.Exchanges), num(x.DBQueries), dbTime)
		}
		t.print(bw, st)
	}
	head := fmt.Sprintf("Errors (%d)", len(s.Errors))
	if s.NamesLookedUp > 0 {
		head += fmt.Sprintf(" · %s not counted (a name asked for as an id, then found by listing)", story.Plural(int64(s.NamesLookedUp), "expected 404", "expected 404s"))
	}
	section(head)
	if len(s.Errors) == 0 {
		fmt.Fprintln(bw, "  none")
	}
	for _, e := range s.Errors {
		fmt.Fprintf(bw, "  session %d %s %s → %s %s → %s\n", e.Session, Offset(e.Call.AtMs), e.Call.From, e.Call.To,
			story.Short(e.Call.Request, 70), st.bad.Sprint(e.Call.Answer))
		if e.Cause != nil {
			fmt.Fprintf(bw, "      %s %s → %s %s → %s\n", st.dim.Sprint("first cause:"), e.Cause.From, e.Cause.To,
				story.Short(e.Cause.Request, 70), e.Cause.Answer)
		}
	}
	section(fmt.Sprintf("Findings (%d)", len(s.Findings)))
	if len(s.Findings) == 0 {
		fmt.Fprintln(bw, "  none")
	}
	for _, f := range s.Findings {
		fmt.Fprintf(bw, "  %s %s %s\n", st.warn.Sprint("•"), f.Text, st.dim.Sprint("["+f.Kind+"]"))
	}
	return bw.Flush()
}
