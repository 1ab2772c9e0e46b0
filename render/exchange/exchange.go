// Package exchange writes decoded exchanges as they come out of the decoders,
// before any correlation: JSON Lines (the stable machine contract of
// `flowmap decode --format jsonl`) and a table a person can scan.
package exchange

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/fatih/color"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/redact"
	"github.com/flowmap/flowmap/internal/line"
)

// Envelope is one line of JSONL output. Field names are a contract: add
// fields, never rename or remove them.
type Envelope struct {
	Proto         string          `json:"proto"`
	Conn          int             `json:"conn"`
	Iface         string          `json:"iface"`
	Client        string          `json:"client"`
	Server        string          `json:"server"`
	Start         string          `json:"start"`
	End           string          `json:"end"`
	RequestEnd    string          `json:"request_end,omitempty"`
	ResponseStart string          `json:"response_start,omitempty"`
	Request       decoder.Message `json:"request"`
	Response      decoder.Message `json:"response"`
	Truncated     bool            `json:"truncated"`
	Notes         []string        `json:"notes,omitempty"`
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// stamps formats times as stamp does, remembering the date and time of day
// of the last second it formatted: a capture's times come in order, up to
// thousands in a second, and time.Format spent more on the calendar than
// the JSON encoding on the whole line.
type stamps struct {
	sec    int64
	prefix []byte // "2006-01-02T15:04:05" of sec
	buf    []byte
}

func (s *stamps) format(t time.Time) string {
	s.buf = s.append(s.buf[:0], t)
	return string(s.buf)
}

// append appends t as format writes it to b.
func (s *stamps) append(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	// The calendar (the year too) is worked out only when the second
	// changes: a second of a year RFC3339 cannot write is never cached.
	if sec := t.Unix(); s.prefix == nil || sec != s.sec {
		t = t.UTC()
		if y := t.Year(); y < 1 || y > 9999 {
			return append(b, stamp(t)...)
		}
		s.sec = sec
		s.prefix = t.AppendFormat(s.prefix[:0], "2006-01-02T15:04:05")
	}
	b = append(b, s.prefix...)
	if ns := t.Nanosecond(); ns != 0 {
		// RFC3339Nano's ".999999999": nine digits, trailing zeros cut.
		var d [10]byte
		d[0] = '.'
		for i := 9; i >= 1; i-- {
			d[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for d[n-1] == '0' {
			n--
		}
		b = append(b, d[:n]...)
	}
	return append(b, 'Z')
}

// formatAll formats ts as format does, into one string that the results
// share: an exchange's four times cost one allocation instead of four (the
// time strings were a third of decode's allocations).
func (s *stamps) formatAll(ts *[4]time.Time) (out [4]string) {
	var ends [4]int
	b := s.buf[:0]
	for i, t := range ts {
		b = s.append(b, t)
		ends[i] = len(b)
	}
	s.buf = b
	all, from := string(b), 0
	for i, end := range ends {
		out[i], from = all[from:end], end
	}
	return out
}

// connNames caches the address strings of recent connections (by ID, a
// fixed number of slots): most exchanges follow others on their connection.
type connNames [256]struct {
	c              *decoder.Conn
	client, server string
}

func (n *connNames) of(c *decoder.Conn) (client, server string) {
	e := &n[uint(c.ID)%uint(len(n))]
	if e.c != c {
		e.c, e.client, e.server = c, c.Client.String(), c.Server.String()
	}
	return e.client, e.server
}

// Redact returns the messages of e with credentials replaced by their
// fingerprints, unless show is set.
func Redact(m decoder.Message, show bool) decoder.Message {
	if m == nil || show {
		return m
	}
	return m.Redacted()
}

// policyOf is the redaction policy the messages carry (they all carry
// the one the command chose), or nil for the default one.
func policyOf(ms ...decoder.Message) *redact.Policy {
	for _, m := range ms {
		if p, ok := m.(interface{ Policy() *redact.Policy }); ok {
			return p.Policy()
		}
	}
	return nil
}

// redactNotes returns notes with what they quote from the wire redacted
// (a malformed start line may hold a target with a password).
func redactNotes(notes []string, p *redact.Policy) []string {
	var out []string
	for i, n := range notes {
		r := p.Note(n)
		if r == n {
			continue
		}
		if out == nil {
			out = append([]string(nil), notes...)
		}
		out[i] = r
	}
	if out == nil {
		return notes
	}
	return out
}

// NewEnvelope builds the JSONL record of e.
func NewEnvelope(e *decoder.Exchange, showSecrets bool) *Envelope {
	env := new(Envelope)
	fillEnvelope(env, e, showSecrets, &stamps{}, nil)
	return env
}

// fillEnvelope sets env to the record of e, with the caches of a writer
// (names may be nil).
func fillEnvelope(env *Envelope, e *decoder.Exchange, showSecrets bool, st *stamps, names *connNames) {
	ts := st.formatAll(&[4]time.Time{e.Start(), e.End(), e.ReqEnd, e.RespStart})
	*env = Envelope{
		Proto:         e.Proto,
		Start:         ts[0],
		End:           ts[1],
		RequestEnd:    ts[2],
		ResponseStart: ts[3],
		Request:       Redact(e.Request, showSecrets),
		Response:      Redact(e.Response, showSecrets),
		Truncated:     e.Truncated,
		Notes:         e.Notes,
	}
	if !showSecrets {
		env.Notes = redactNotes(e.Notes, policyOf(e.Request, e.Response))
	}
	if c := e.Conn; c != nil {
		env.Conn, env.Iface = c.ID, c.Iface
		if names != nil {
			env.Client, env.Server = names.of(c)
		} else {
			env.Client, env.Server = c.Client.String(), c.Server.String()
		}
	}
}

// JSONL writes one JSON object per exchange.
type JSONL struct {
	enc         *json.Encoder
	ShowSecrets bool
	stamps      stamps
	names       connNames
	// env is the record being written, reused from one exchange to the
	// next: the encoder keeps nothing of it.
	env Envelope
}

// NewJSONL returns a JSONL writer on w.
func NewJSONL(w io.Writer, showSecrets bool) *JSONL {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &JSONL{enc: enc, ShowSecrets: showSecrets}
}

// Write writes e.
func (j *JSONL) Write(e *decoder.Exchange) error {
	fillEnvelope(&j.env, e, j.ShowSecrets, &j.stamps, &j.names)
	err := j.enc.Encode(&j.env)
	j.env = Envelope{} // holds on to nothing of e
	return err
}

// Table writes aligned, optionally coloured rows. Times are relative to
// Origin (the start of the first exchange).
type Table struct {
	w           *bufio.Writer
	Origin      time.Time
	ShowSecrets bool
	header      bool
}

// NewTable returns a table writer on w.
func NewTable(w io.Writer, origin time.Time, showSecrets bool) *Table {
	return &Table{w: bufio.NewWriter(w), Origin: origin, ShowSecrets: showSecrets}
}

var (
	dim    = color.New(color.Faint)
	bad    = color.New(color.FgRed, color.Bold)
	warn   = color.New(color.FgYellow)
	good   = color.New(color.FgGreen)
	protoC = map[string]*color.Color{
		"http":     color.New(color.FgCyan),
		"memcache": color.New(color.FgMagenta),
		"mysql":    color.New(color.FgBlue),
		"amqp":     color.New(color.FgGreen),
	}
)

// Write writes one row for e.
func (t *Table) Write(e *decoder.Exchange) error {
	if !t.header {
		t.header = true
		fmt.Fprintf(t.w, "%9s  %-6s %-45s %-8s %-60s %-26s %s\n", "TIME", "IFACE", "CLIENT → SERVER", "PROTO", "REQUEST", "RESPONSE", "DURATION")
	}
	rel := e.Start().Sub(t.Origin).Seconds()
	req := Redact(e.Request, t.ShowSecrets)
	resp := Redact(e.Response, t.ShowSecrets)
	sum := "-"
	if req != nil {
		sum = line.Cut(req.Summary(), 60)
	}
	status, sc := "(no response)", warn
	if e.OneWay {
		status, sc = "(one-way)", dim
	}
	if resp != nil {
		status, sc = resp.Summary(), statusColour(resp.Summary())
	}
	dur := ""
	if !e.RespEnd.IsZero() {
		dur = fmtDur(e.End().Sub(e.Start()))
	}
	conn := "-"
	iface := "-"
	if c := e.Conn; c != nil {
		conn = c.Client.String() + " → " + c.Server.String()
		if c.Iface != "" {
			iface = c.Iface
		}
	}
	pc := protoC[e.Proto]
	if pc == nil {
		pc = dim
	}
	fmt.Fprintf(t.w, "%9.3f  %-6s %-45s %s %s %s %s", rel, iface, conn, pc.Sprintf("%-8s", e.Proto), pad(sum, 60), sc.Sprint(pad(line.Cut(status, 26), 26)), dim.Sprint(dur))
	if e.Truncated {
		fmt.Fprint(t.w, " ", warn.Sprint("[truncated]"))
	}
	_, err := fmt.Fprintln(t.w)
	return err
}

// Flush writes buffered rows.
func (t *Table) Flush() error { return t.w.Flush() }

func statusColour(s string) *color.Color {
	f := strings.Fields(s)
	if len(f) == 0 {
		return dim
	}
	switch {
	case f[0] >= "400" && f[0] <= "599" && len(f[0]) == 3, strings.HasPrefix(f[0], "error"), f[0] == "miss":
		return bad
	case strings.HasPrefix(f[0], "2"), f[0] == "hit", f[0] == "ok", f[0] == "STORED", f[0] == "stored":
		return good
	}
	return color.New()
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// pad fills s with spaces to width runes (fmt's %-Ns counts bytes).
func pad(s string, width int) string {
	if n := len([]rune(s)); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s
}
