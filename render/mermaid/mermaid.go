// Package mermaid draws a flow.Model as a Mermaid sequenceDiagram the way a
// person would: participants by role, numbered arrows, dashed replies,
// errors marked, notes where a step needs explaining, bursts of DB queries
// and bulk transfers folded into one arrow. Every piece of text is escaped
// so that the real Mermaid parser accepts the output.
package mermaid

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/flowmap/flowmap/flow"
)

// Detail levels.
const (
	Compact = "compact" // one arrow per DB burst, discovery folded (default)
	Full    = "full"    // every exchange
)

// Options control the drawing.
type Options struct {
	Detail string
	Title  string
	// BulkBytes is the body size from which a reply is drawn as a bulk
	// transfer (size, type and duration on one dashed arrow). Default 64 KiB.
	BulkBytes int64
}

// MaxText is Mermaid's default maxTextSize: longer diagrams are replaced by
// an error box in renderers with the default configuration.
const MaxText = 50000

// Render returns the diagram of m.
func Render(m *flow.Model, opts Options) string {
	var sb strings.Builder
	d := newDrawer(&sb, m, opts)
	d.header()
	d.sessions(m.Roots)
	return sb.String()
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
		if n := len(Render(one.Prune(), opts)); n <= MaxText {
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
			n := len(Render(one.Prune(), opts))
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

type drawer struct {
	w    *strings.Builder
	m    *flow.Model
	opts Options
	ids  map[*flow.Participant]string
}

func newDrawer(w *strings.Builder, m *flow.Model, opts Options) *drawer {
	if opts.Detail == "" {
		opts.Detail = Compact
	}
	if opts.BulkBytes <= 0 {
		opts.BulkBytes = 64 << 10
	}
	d := &drawer{w: w, m: m, opts: opts, ids: map[*flow.Participant]string{}}
	used := map[string]bool{}
	for _, p := range m.Participants {
		id := baseID(p)
		for i := 2; used[id] || keywords[strings.ToLower(id)]; i++ {
			id = baseID(p) + strconv.Itoa(i)
		}
		used[id] = true
		d.ids[p] = id
	}
	return d
}

// keywords may not be used as participant ids.
var keywords = map[string]bool{
	"end": true, "loop": true, "box": true, "note": true, "alt": true, "else": true, "opt": true,
	"par": true, "and": true, "rect": true, "critical": true, "option": true, "break": true,
	"participant": true, "actor": true, "as": true, "autonumber": true, "activate": true,
	"deactivate": true, "title": true, "link": true, "links": true, "create": true, "destroy": true,
	"over": true, "left": true, "right": true, "of": true, "sequencediagram": true,
}

// baseID is a short plain id: C for a client, K for keystone, KD for its
// database, M for memcached.
func baseID(p *flow.Participant) string {
	var initials []rune
	for _, f := range strings.FieldsFunc(p.Name, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		r := []rune(f)[0]
		if r < 128 && unicode.IsLetter(r) {
			initials = append(initials, unicode.ToUpper(r))
		}
	}
	switch p.Kind {
	case flow.Client:
		return "C"
	case flow.Cache:
		return "M"
	case flow.Host:
		return "H"
	case flow.DB:
		if len(initials) > 0 {
			return string(initials[0]) + "D"
		}
		return "DB"
	}
	if len(initials) == 0 {
		return "P"
	}
	return string(initials[0])
}

func (d *drawer) line(format string, args ...any) {
	fmt.Fprintf(d.w, format, args...)
	d.w.WriteByte('\n')
}

func (d *drawer) header() {
	d.line("sequenceDiagram")
	if d.opts.Title != "" {
		d.line("  title %s", Escape(d.opts.Title))
	}
	d.line("  autonumber")
	for _, p := range d.m.Participants {
		d.line("  participant %s as %s", d.ids[p], Escape(p.Name))
	}
}

// arrow kinds
const (
	call  = "->>"
	reply = "-->>"
	fail  = "--x"
)

func (d *drawer) arrow(from, to *flow.Participant, kind, text string) {
	d.line("  %s%s%s: %s", d.ids[from], kind, d.ids[to], Escape(text))
}

func (d *drawer) note(p *flow.Participant, text string) {
	d.line("  Note over %s: %s", d.ids[p], Escape(text))
}

// sessions draws the trees session by session; when there are several,
// a note names each at its start.
func (d *drawer) sessions(roots []*flow.Node) {
	total := d.m.Sessions
	for i := 0; i < len(roots); {
		j := i + 1
		for j < len(roots) && roots[j].Session == roots[i].Session {
			j++
		}
		if total > 1 {
			d.sessionNote(roots[i:j], total)
		}
		d.seq(roots[i:j])
		i = j
	}
}

func (d *drawer) sessionNote(trees []*flow.Node, total int) {
	var who *flow.Participant
	var tok *flow.Token
	user := ""
	for _, r := range trees {
		if r.Role == flow.RoleAuth && user == "" {
			user = r.User
		}
		if r.Proto != "http" {
			continue
		}
		if who == nil {
			who = r.FromP()
		}
		if tok == nil {
			if tok = r.TokenP(); tok == nil && r.Role == flow.RoleAuth {
				tok = r.SubjectP()
			}
		}
	}
	if who == nil {
		who = trees[0].FromP()
	}
	text := fmt.Sprintf("session %d of %d", trees[0].Session, total)
	if tok != nil {
		text += " · " + tok.Label()
	} else if user != "" {
		text += " · user " + user
	}
	d.note(who, text)
}

// node draws n and everything under it.
func (d *drawer) node(n *flow.Node) {
	from, to := n.FromP(), n.ToP()
	switch n.Proto {
	case "http":
		if d.opts.Detail == Compact && n.Role == flow.RoleDiscovery && len(n.Children) == 0 {
			kind := call
			if n.Error || n.Ex.Response == nil {
				kind = fail
			}
			d.arrow(from, to, kind, httpRequest(n)+" → "+d.httpReply(n))
			return
		}
		if n.Role == flow.RoleAuth && n.Parent() != nil && n.User != "" {
			d.note(from, fmt.Sprintf("%s authenticates itself (user %s)", from.Name, n.User))
		}
		d.arrow(from, to, call, httpRequest(n))
		d.children(n)
		d.arrow(to, from, d.replyKind(n), d.httpReply(n))
		switch {
		case n.Role == flow.RoleValidate && n.Error && n.SubjectP() != nil:
			d.note(to, "token not valid: "+n.SubjectP().Fingerprint)
		case n.Role == flow.RoleAuth && (n.Status == 401 || n.Status == 403):
			who := "the credentials"
			if n.User != "" {
				who = "user " + n.User
			}
			d.note(to, "authentication failed for "+who)
		}
	case "memcache":
		d.arrow(from, to, call, memcacheRequest(n))
		d.children(n)
		d.arrow(to, from, d.replyKind(n), memcacheReply(n))
		d.cacheNote(n)
	default:
		d.burst([]*flow.Node{n})
	}
}

// children draws n's children.
func (d *drawer) children(n *flow.Node) { d.seq(n.Children) }

// seq draws sibling nodes in order, folding runs of DB queries to one
// database into one burst unless Detail is Full.
func (d *drawer) seq(kids []*flow.Node) {
	for i := 0; i < len(kids); {
		k := kids[i]
		if k.Proto != "mysql" || d.opts.Detail == Full {
			d.node(k)
			i++
			continue
		}
		j := i + 1
		for j < len(kids) && kids[j].Proto == "mysql" && kids[j].ToP() == k.ToP() && kids[j].FromP() == k.FromP() {
			j++
		}
		if k.Parent() == nil && k.FromP().Kind == flow.Service {
			d.note(k.FromP(), "no captured request in progress")
		}
		d.burst(kids[i:j])
		i = j
	}
}

// cacheNote explains a token cache miss or hit.
func (d *drawer) cacheNote(n *flow.Node) {
	t := n.SubjectP()
	p := n.Parent()
	if t == nil || p == nil || n.Role != flow.RoleCacheGet {
		return
	}
	switch n.Result {
	case "miss":
		for _, s := range p.Children {
			if s.Role == flow.RoleValidate && s.SubjectP() == t && s.Start.After(n.Start) {
				d.note(n.FromP(), fmt.Sprintf("token not in cache: %s validates it with %s", n.FromP().Name, s.ToP().Name))
				return
			}
		}
	case "hit":
		d.note(n.FromP(), "token found in cache: no call to keystone")
	}
}

func (d *drawer) replyKind(n *flow.Node) string {
	if n.Error || n.Result == "miss" || n.Ex.Response == nil {
		return fail
	}
	return reply
}

func httpRequest(n *flow.Node) string {
	req, _ := n.HTTP()
	s := n.Summary
	if req != nil {
		s = req.Method + " " + req.Target
	}
	switch n.Role {
	case flow.RoleAuth:
		if n.User != "" {
			s += " · user " + n.User
			if n.Project != "" {
				s += " → project " + n.Project
			}
		} else if t := n.TokenP(); t != nil {
			s += " · with " + t.Label()
		}
	case flow.RoleValidate:
		if t := n.SubjectP(); t != nil {
			s += " · validate " + t.Label()
		}
		if t := n.TokenP(); t != nil {
			s += " (as " + t.Label() + ")"
		}
	case flow.RoleDiscovery:
		s += " (version discovery)"
	default:
		if t := n.TokenP(); t != nil {
			s += " · " + t.Label()
		}
	}
	if req != nil && req.BodyBytes >= 10_000 {
		// an upload: its size, type and how long it took to send
		s += " · " + size(req.BodyBytes)
		if ct := req.Header("Content-Type"); ct != "" {
			s += " " + ct
		}
		if req.Chunked {
			s += " (chunked)"
		}
		s += " in " + dur(n.Ex.ReqEnd.Sub(n.Ex.ReqStart))
	}
	return s
}

func (d *drawer) httpReply(n *flow.Node) string {
	_, resp := n.HTTP()
	if resp == nil {
		return "no response captured"
	}
	s := strconv.Itoa(resp.Status)
	if resp.Reason != "" {
		s += " " + resp.Reason
	}
	switch {
	case n.Role == flow.RoleAuth && n.SubjectP() != nil:
		s += " · " + n.SubjectP().Label()
	case n.Role == flow.RoleValidate && !n.Error && n.SubjectP() != nil:
		s += " · token valid"
		if t := n.SubjectP(); t.User != "" {
			s += " (user " + t.User
			if t.Project != "" {
				s += ", project " + t.Project
			}
			s += ")"
		}
	case resp.BodyBytes >= d.opts.BulkBytes:
		ct := resp.Header("Content-Type")
		s += " · " + size(resp.BodyBytes)
		if ct != "" {
			s += " " + ct
		}
		s += fmt.Sprintf(" in %s", dur(n.End.Sub(n.Ex.RespStart)))
	case resp.BodyBytes > 0:
		s += " · " + size(resp.BodyBytes)
	}
	if n.Truncated {
		s += " ⚠ bytes lost in capture"
	}
	return s
}

func memcacheRequest(n *flow.Node) string {
	req, _ := n.Memcache()
	if req == nil {
		return n.Summary
	}
	what := strings.Join(req.Keys, " ")
	if t := n.SubjectP(); t != nil {
		what = t.Label()
	}
	s := req.Command + " " + what
	if req.Bytes != nil {
		s += " · " + size(*req.Bytes)
		if req.Exptime != nil {
			s += fmt.Sprintf(", ttl %ds", *req.Exptime)
		}
	}
	if req.Noreply {
		s += " (noreply)"
	}
	return strings.TrimSpace(s)
}

func memcacheReply(n *flow.Node) string {
	req, resp := n.Memcache()
	if resp == nil {
		if req != nil && req.Noreply {
			return "(no reply: noreply)"
		}
		return "no response captured"
	}
	s := resp.Result
	if len(resp.Values) > 0 {
		var b int64
		for _, v := range resp.Values {
			b += v.Bytes
		}
		s += " · " + size(b)
	}
	if resp.Message != "" {
		s += " · " + resp.Message
	}
	return s
}

// burst draws DB queries as one request and one reply.
func (d *drawer) burst(ns []*flow.Node) {
	from, to := ns[0].FromP(), ns[0].ToP()
	if len(ns) == 1 {
		n := ns[0]
		d.arrow(from, to, call, short(n.Summary, 80))
		d.arrow(to, from, d.dbReplyKind(ns), dbReply(ns))
		return
	}
	var logins []string
	var seen []string
	have := map[string]bool{}
	queries := 0
	for _, n := range ns {
		if n.Role == flow.RoleLogin {
			logins = append(logins, n.Summary)
			continue
		}
		queries++
		if sig := flow.QuerySignature(n.Summary); sig != "" && !have[sig] {
			have[sig] = true
			seen = append(seen, sig)
		}
	}
	var parts []string
	parts = append(parts, logins...)
	if queries > 0 {
		q := fmt.Sprintf("%d queries", queries)
		if queries == 1 {
			q = "1 query"
		}
		if len(seen) > 0 {
			list := seen
			if len(list) > 3 {
				list = append(list[:3:3], "…")
			}
			q += ": " + strings.Join(list, ", ")
		}
		parts = append(parts, q)
	}
	text := strings.Join(parts, ", ") + " (" + dur(ns[len(ns)-1].End.Sub(ns[0].Start)) + ")"
	d.arrow(from, to, call, text)
	d.arrow(to, from, d.dbReplyKind(ns), dbReply(ns))
}

func (d *drawer) dbReplyKind(ns []*flow.Node) string {
	for _, n := range ns {
		if n.Error {
			return fail
		}
	}
	return reply
}

func dbReply(ns []*flow.Node) string {
	var rows int64
	errs := 0
	var firstErr string
	for _, n := range ns {
		_, resp := n.MySQL()
		if resp == nil {
			continue
		}
		if resp.Rows != nil {
			rows += *resp.Rows
		}
		if resp.Result == "error" {
			errs++
			if firstErr == "" {
				firstErr = "error"
				if resp.ErrorCode != nil {
					firstErr += " " + strconv.Itoa(int(*resp.ErrorCode))
				}
				if resp.Error != "" {
					firstErr += ": " + short(resp.Error, 60)
				}
			}
		}
	}
	if errs > 0 {
		if errs == 1 {
			return firstErr
		}
		return fmt.Sprintf("%d errors, first %s", errs, firstErr)
	}
	if len(ns) == 1 {
		_, resp := ns[0].MySQL()
		if resp == nil {
			return "no response captured"
		}
		if resp.Rows != nil {
			return plural(*resp.Rows, "row")
		}
		return resp.Result
	}
	return "ok · " + plural(rows, "row")
}

func plural(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func short(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func size(n int64) string {
	switch {
	case n >= 100*1000*1000:
		return fmt.Sprintf("%.0f MB", float64(n)/1e6)
	case n >= 1000*1000:
		return fmt.Sprintf("%.2f MB", float64(n)/1e6)
	case n >= 10*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

func dur(d interface{ Seconds() float64 }) string {
	s := d.Seconds()
	switch {
	case s >= 1:
		return fmt.Sprintf("%.2f s", s)
	case s >= 0.001:
		return fmt.Sprintf("%.0f ms", s*1000)
	}
	return fmt.Sprintf("%.0f µs", s*1e6)
}

// Escape makes s safe as Mermaid text: '#' and ';' as entities (they are a
// comment and a statement separator), line breaks as <br/>.
func Escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '#':
			b.WriteString("#35;")
		case ';':
			b.WriteString("#59;")
		case '\n':
			b.WriteString("<br/>")
		case '\r', '\t':
			b.WriteByte(' ')
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
