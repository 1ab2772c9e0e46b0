// Package report writes the post-mortem page of a capture: one
// self-contained HTML file that works offline. Its first screen is the
// summary (render/summary) as sortable tables with a timeline of the
// client sessions; each session opens into its sequence diagram, drawn in
// the page by the embedded Mermaid bundle from the same story the other
// printers print, beside the list of its steps; a click on an arrow or a
// step shows that exchange's facts. Everything from the capture is data:
// HTML-escaped by html/template or carried as JSON and set as text.
package report

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/render/mermaid"
	"github.com/flowmap/flowmap/render/story"
	"github.com/flowmap/flowmap/render/summary"
)

// The Mermaid bundle: the npm package's dist/mermaid.min.js, gzipped,
// refreshed and checked by scripts/mermaid-bundle.sh.
var (
	//go:embed mermaid/mermaid.min.js.gz
	mermaidGz []byte
	//go:embed mermaid/VERSION
	mermaidVersion string
	//go:embed mermaid/SHA256SUM
	mermaidSum string
	//go:embed mermaid/LICENSE
	mermaidLicense string
	//go:embed page.html
	pageHTML string
	//go:embed page.css
	pageCSS string
	//go:embed page.js
	pageJS string
)

// MermaidVersion is the version of the embedded Mermaid.
func MermaidVersion() string { return strings.TrimSpace(mermaidVersion) }

var bundle = sync.OnceValues(func() (string, error) {
	zr, err := gzip.NewReader(bytes.NewReader(mermaidGz))
	if err != nil {
		return "", fmt.Errorf("report: mermaid bundle: %w", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return "", fmt.Errorf("report: mermaid bundle: %w", err)
	}
	sum := sha256.Sum256(b)
	if want, _, _ := strings.Cut(mermaidSum, " "); hex.EncodeToString(sum[:]) != want {
		return "", fmt.Errorf("report: mermaid bundle: sha256 %x, SHA256SUM says %s", sum, want)
	}
	return safeScript(string(b)), nil
})

// Bundle is the embedded Mermaid script, checked against its SHA-256, as
// the page holds it (no "</script" in it).
func Bundle() (string, error) { return bundle() }

// Options control the page.
type Options struct {
	// Title heads the page (default: "flowmap report").
	Title string
	// Detail is the diagrams' detail (story.Compact by default).
	Detail string
	// Sources name the captures the page is about.
	Sources []string
	// Version is flowmap's version, printed in the footer.
	Version string
}

// Limits that keep the page small on long captures.
const (
	// maxStatements is how many distinct statements a folded burst's
	// details list; the rest are counted.
	maxStatements = 40
	// maxText cuts each SQL statement, target or message shown in details.
	maxText = 1500
)

// Session is one session entry of the page's data.
type Session struct {
	summary.Session
	// Diagram is the session's Mermaid sequenceDiagram.
	Diagram string `json:"diagram"`
	// Steps are its arrows in the order Mermaid draws them.
	Steps []Step `json:"steps"`
	// Text is what the search box looks in.
	Text string `json:"text"`
}

// Step is one arrow of a session's diagram and the facts behind it.
type Step struct {
	Kind   string      `json:"kind"` // call or reply
	From   string      `json:"from"`
	To     string      `json:"to"`
	Text   string      `json:"text"`
	Failed bool        `json:"failed,omitempty"`
	Depth  int         `json:"depth"`
	Facts  [][2]string `json:"facts"`
	// RequestHeaders and ResponseHeaders are an HTTP exchange's headers,
	// credentials fingerprinted.
	RequestHeaders  [][2]string `json:"request_headers,omitempty"`
	ResponseHeaders [][2]string `json:"response_headers,omitempty"`
	// Statements are the SQL of a folded burst: distinct text and count.
	Statements []Statement `json:"statements,omitempty"`
	More       int         `json:"more,omitempty"`
}

// Statement is one distinct statement of a burst.
type Statement struct {
	Text  string `json:"text"`
	Count int    `json:"count"`
}

// data is what the page's script reads.
type data struct {
	Sessions []Session `json:"sessions"`
}

// page is what the template fills.
type page struct {
	Title, Version, MermaidVersion string
	Sources                        []string
	S                              *summary.Summary
	Sessions                       []Session
	Data                           template.JS
	CSS                            template.CSS
	License                        string
}

var tmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"ms":     summary.MsText,
	"offset": summary.Offset,
	"size":   story.Size,
	"pct": func(f *float64) string {
		if f == nil {
			return ""
		}
		return fmt.Sprintf("%.0f%%", 100**f)
	},
	"ratio": func(f *float64) float64 {
		if f == nil {
			return -1
		}
		return *f
	},
	// bar places a session on the timeline: left and width in percent.
	"bar": func(s Session, total float64) template.CSS {
		if total <= 0 {
			total = 1
		}
		left := 100 * s.StartMs / total
		width := max(100*s.DurationMs/total, 0.4)
		return template.CSS(fmt.Sprintf("left:%.3f%%;width:%.3f%%", left, min(width, 100-left)))
	},
}).Parse(pageHTML))

// Write writes the page of m (already filtered) and its summary s to w.
func Write(w io.Writer, m *flow.Model, s *summary.Summary, opts Options) error {
	if opts.Title == "" {
		opts.Title = "flowmap report"
	}
	js, err := Bundle()
	if err != nil {
		return err
	}
	sessions := Sessions(m, s, opts)
	d, err := json.Marshal(data{Sessions: sessions})
	if err != nil {
		return err
	}
	// json.Marshal escapes <, > and & as \u003c…: the data cannot end its
	// script element.
	p := page{Title: opts.Title, Version: opts.Version, MermaidVersion: MermaidVersion(), Sources: opts.Sources,
		S: s, Sessions: sessions, Data: template.JS(d), CSS: template.CSS(pageCSS), License: mermaidLicense}
	if err := tmpl.Execute(w, p); err != nil {
		return err
	}
	// The bundle and the page's script are the project's own files, not
	// data: written as they are, after the template. Mermaid sits in a
	// script the browser does not run (text/plain): the page's script
	// runs it once the first screen is up, so a page opens as fast as its
	// tables draw.
	for _, part := range []string{`<script type="text/plain" id="mermaid-src">
/* Mermaid ` + MermaidVersion() + `, the npm package mermaid (github.com/mermaid-js/mermaid), MIT licence: see the footer; the licences of what it bundles are in its own comments. */
`, js, "\n</script>\n<script>", safeScript(pageJS), "</script>\n</body>\n</html>\n"} {
		if _, err := io.WriteString(w, part); err != nil {
			return err
		}
	}
	return nil
}

// safeScript keeps a script's text from closing its element early.
func safeScript(js string) string {
	return strings.ReplaceAll(js, "</script", `<\/script`)
}

// Sessions are the page's session entries: the summary's numbers, the
// diagram and the facts of each arrow.
func Sessions(m *flow.Model, s *summary.Summary, opts Options) []Session {
	var out []Session
	origin := m.Origin()
	for trees := range story.Sessions(m.Roots) {
		i := len(out) // the summary's line of this session
		sub := (&flow.Model{Participants: m.Participants, Tokens: m.Tokens, Roots: trees, Sessions: m.Sessions}).Prune()
		st := story.Tell(sub, story.Options{Detail: opts.Detail})
		title := fmt.Sprintf("session %d", trees[0].Session)
		if i < len(s.Sessions) && s.Sessions[i].Command != "" {
			title += " · " + s.Sessions[i].Command
		}
		x := Session{Diagram: mermaid.Print(st, title), Steps: []Step{}}
		if i < len(s.Sessions) {
			x.Session = s.Sessions[i]
		}
		var text []string
		text = append(text, x.Command, x.Client, x.User, x.Token)
		for _, step := range st.Steps {
			if step.Kind != story.Call && step.Kind != story.Reply {
				continue
			}
			x.Steps = append(x.Steps, stepOf(step, origin))
			text = append(text, step.Text)
		}
		x.Text = strings.ToLower(strings.Join(text, "\n"))
		out = append(out, x)
	}
	return out
}

func stepOf(s story.Step, origin time.Time) Step {
	st := Step{Kind: s.Kind.String(), From: s.From.Name, To: s.To.Name, Text: s.Text, Failed: s.Failed}
	n := s.Nodes[0]
	for p := n.Parent(); p != nil; p = p.Parent() {
		st.Depth++
	}
	if len(s.Nodes) > 1 {
		st.Facts = burstFacts(s.Nodes, origin)
		st.Statements, st.More = statements(s.Nodes)
		return st
	}
	st.Facts = facts(n, origin)
	st.RequestHeaders, st.ResponseHeaders = n.Headers()
	return st
}

// facts are one exchange's details, in the words of the JSON model.
func facts(n *flow.Node, origin time.Time) [][2]string {
	var f [][2]string
	add := func(k, v string) {
		if v != "" {
			f = append(f, [2]string{k, story.Short(v, maxText)})
		}
	}
	add("exchange", n.FromP().Name+" → "+n.ToP().Name+" ("+n.Proto+", "+string(n.Role)+")")
	add("request", n.Op+" "+n.Target)
	add("answer", summary.Answer(n))
	add("outcome", string(n.Outcome))
	add("start", "+"+fmt.Sprintf("%.6f s", n.Start.Sub(origin).Seconds()))
	add("duration", story.Dur(n.End.Sub(n.Start)))
	if !n.RequestEnd.IsZero() && !n.ResponseStart.IsZero() {
		add("request sent in", story.Dur(n.RequestEnd.Sub(n.Start)))
		add("server time (request end → first answer byte)", story.Dur(n.ResponseStart.Sub(n.RequestEnd)))
		add("answer received in", story.Dur(n.End.Sub(n.ResponseStart)))
	}
	if tk := n.TokenP(); tk != nil {
		add("token presented", tk.Label())
	}
	if tk := n.ServiceTokenP(); tk != nil {
		add("service token presented beside it", tk.Label())
	}
	if tk := n.SubjectP(); tk != nil {
		add("token concerned", tk.Label())
	}
	add("user", n.User)
	add("project", n.Project)
	if b := n.RequestBytes; b != nil {
		add("request body", story.Size(*b)+" "+n.RequestType)
	}
	if b := n.ResponseBytes; b != nil {
		add("answer body", story.Size(*b)+" "+n.ResponseType)
	}
	if n.Expiry != nil {
		add("cache ttl", fmt.Sprintf("%d s", *n.Expiry))
	}
	if n.Rows != nil {
		add("rows", fmt.Sprint(*n.Rows))
	}
	if n.ErrorCode != nil {
		add("error code", fmt.Sprint(*n.ErrorCode))
	}
	add("message", n.Message)
	if n.Truncated {
		add("capture", "bytes of this exchange were lost in the capture")
	}
	if n.Placed != "" {
		placed := string(n.Placed)
		if n.Ambiguous() {
			var alts []string
			for _, c := range n.CandidatesP() {
				alts = append(alts, c.FromP().Name+" → "+c.ToP().Name+" "+story.Short(c.Summary, 60))
			}
			placed += fmt.Sprintf(": a guess among %d requests in progress (%s)", len(alts), strings.Join(alts, "; "))
		}
		add("placed under its parent by", placed)
	}
	if n.SessionPlaced != "" {
		placed := string(n.SessionPlaced)
		if n.SessionGuessed() {
			placed += fmt.Sprintf(": a guess among %d sessions in progress", n.SessionsInProgress)
		}
		add("placed in its session by", placed)
	}
	for _, nt := range n.Notes {
		add("note", nt.Text)
	}
	return f
}

func burstFacts(ns []*flow.Node, origin time.Time) [][2]string {
	first, last := ns[0], ns[len(ns)-1]
	var rows int64
	errs, guessed := 0, 0
	placed := map[flow.Placement]int{}
	for _, n := range ns {
		if n.Rows != nil {
			rows += *n.Rows
		}
		if n.Outcome == flow.Failed {
			errs++
		}
		if n.Placed != "" {
			placed[n.Placed]++
		}
		if n.Ambiguous() {
			guessed++
		}
	}
	f := [][2]string{
		{"exchange", first.FromP().Name + " → " + first.ToP().Name + fmt.Sprintf(" (%d exchanges folded)", len(ns))},
		{"start", "+" + fmt.Sprintf("%.6f s", first.Start.Sub(origin).Seconds())},
		{"duration", story.Dur(last.End.Sub(first.Start))},
		{"rows", fmt.Sprint(rows)},
		{"errors", fmt.Sprint(errs)},
	}
	if len(placed) > 0 {
		var by []string
		for p, c := range placed {
			by = append(by, fmt.Sprintf("%s %d", p, c))
		}
		sort.Strings(by)
		text := strings.Join(by, ", ")
		if guessed > 0 {
			text += fmt.Sprintf(" (%d a guess among requests in progress)", guessed)
		}
		f = append(f, [2]string{"placed under their parent by", text})
	}
	return f
}

// statements lists a burst's distinct statements in order with counts.
// Statements are compared as sent and shortened once each: a burst holds
// hundreds of the same few.
func statements(ns []*flow.Node) ([]Statement, int) {
	idx := map[string]int{}
	var out []Statement
	more := 0
	for _, n := range ns {
		t := n.Target
		if t == "" {
			t = n.Summary
		}
		if i, ok := idx[t]; ok {
			if i >= 0 {
				out[i].Count++
			}
			continue
		}
		if len(out) == maxStatements {
			idx[t] = -1
			more++
			continue
		}
		idx[t] = len(out)
		out = append(out, Statement{Text: story.Short(t, maxText), Count: 1})
	}
	return out, more
}
