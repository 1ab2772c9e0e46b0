// Package summary computes the overview of a flow.Model that an operator
// reads first after an incident: per participant, database, cache and
// client session, the slowest request trees, every error with its first
// cause, and findings with their numbers. It reads only the model's
// neutral facts; printers (text here, the HTML report, JSON) print the
// Summary it returns. Field names and their JSON are a documented
// contract: fields are only added.
package summary

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/render/story"
)

// Summary is the overview of one model.
type Summary struct {
	Capture      Capture       `json:"capture"`
	Participants []Participant `json:"participants"`
	Databases    []Database    `json:"databases"`
	Caches       []Cache       `json:"caches"`
	Sessions     []Session     `json:"sessions"`
	Slowest      []Tree        `json:"slowest"`
	Errors       []Error       `json:"errors"`
	// NamesLookedUp are the 404s a client expects, not errors: a name
	// asked for as an id, then found by listing (flow's Miss on HTTP).
	NamesLookedUp int       `json:"names_looked_up"`
	Findings      []Finding `json:"findings"`
}

// Capture is the whole: when, how long, how much.
type Capture struct {
	// Start is the start of the first tree; every *_ms offset counts from it.
	Start      time.Time `json:"start,omitzero"`
	DurationMs float64   `json:"duration_ms"`
	Exchanges  int       `json:"exchanges"`
	Trees      int       `json:"trees"`
	Sessions   int       `json:"sessions"`
}

// Participant is what one lifeline served and asked.
type Participant struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Served is how many exchanges it answered or was asked (arrows to it).
	Served int `json:"served"`
	// Errors are error answers (4xx/5xx, SQL errors, cache errors);
	// Unanswered are requests with no answer captured (lost or in
	// progress; not those that asked for none).
	Errors     int `json:"errors"`
	Unanswered int `json:"unanswered"`
	// Latencies of the answered exchanges it served: first byte of the
	// request to last byte of the answer.
	// Timed is how many of the exchanges it served have a latency (casts
	// and unanswered ones have none); the percentiles are over those.
	Timed int     `json:"timed"`
	P50Ms float64 `json:"p50_ms"`
	P95Ms float64 `json:"p95_ms"`
	MaxMs float64 `json:"max_ms"`
	// RequestBytes and ResponseBytes sum the bodies (values, for a cache)
	// it received and sent.
	RequestBytes  int64 `json:"request_bytes"`
	ResponseBytes int64 `json:"response_bytes"`
	// Calls is how many exchanges it started (arrows from it).
	Calls int `json:"calls"`
}

// Database is one DB participant's work.
type Database struct {
	Name string `json:"name"`
	// Queries are SQL statements (not logins, quits or pings).
	Queries int `json:"queries"`
	Logins  int `json:"logins"`
	// TimeMs sums the queries' durations; Rows the rows they returned.
	TimeMs float64 `json:"time_ms"`
	Rows   int64   `json:"rows"`
	Errors int     `json:"errors"`
}

// Cache is one cache participant's work.
type Cache struct {
	Name   string `json:"name"`
	Gets   int    `json:"gets"`
	Hits   int    `json:"hits"`
	Misses int    `json:"misses"`
	// HitRatio is hits / answered gets; absent when there was none.
	HitRatio *float64 `json:"hit_ratio,omitempty"`
	Sets     int      `json:"sets"`
	Other    int      `json:"other"`
}

// Session is one client session (one CLI command).
type Session struct {
	Number int `json:"session"`
	// Command is a guess of the command from its requests ("image save
	// cirros"); "" when they name no resource.
	Command    string  `json:"command"`
	Client     string  `json:"client"`
	User       string  `json:"user,omitempty"`
	Token      string  `json:"token,omitempty"` // "admin token sha256:67e8e033"
	StartMs    float64 `json:"start_ms"`
	DurationMs float64 `json:"duration_ms"`
	// Requests are the client's own HTTP requests; Exchanges every node
	// of the session's trees.
	Requests  int `json:"requests"`
	Exchanges int `json:"exchanges"`
	Errors    int `json:"errors"`
	Trees     int `json:"trees"`
}

// Tree is one request tree.
type Tree struct {
	Session    int     `json:"session"`
	From       string  `json:"from"`
	To         string  `json:"to"`
	Request    string  `json:"request"`
	Answer     string  `json:"answer"`
	StartMs    float64 `json:"start_ms"`
	DurationMs float64 `json:"duration_ms"`
	Exchanges  int     `json:"exchanges"`
	DBQueries  int     `json:"db_queries"`
	DBTimeMs   float64 `json:"db_time_ms"`
}

// Call names one exchange: who asked whom what, and how it ended.
type Call struct {
	From    string  `json:"from"`
	To      string  `json:"to"`
	Request string  `json:"request"`
	Answer  string  `json:"answer"`
	AtMs    float64 `json:"at_ms"`
}

// Error is one error answer and the first cause found under it.
type Error struct {
	Session int  `json:"session"`
	Call    Call `json:"call"`
	// Depth is 0 for a tree's root.
	Depth int `json:"depth"`
	// Cause is the first failed exchange beneath it (recursively the
	// deepest first one) or, when none failed, the last DB write it
	// caused (keystone's failed_auth_count update under a refused
	// login); absent when nothing beneath explains it.
	Cause *Call `json:"cause,omitempty"`
}

// Finding is something an expert would point at, with its numbers.
type Finding struct {
	// Kind is a stable id: validation-cost, revalidated, reauth,
	// db-dominated, cache-misses, no-response.
	Kind    string             `json:"kind"`
	Text    string             `json:"text"`
	Session int                `json:"session,omitempty"`
	Numbers map[string]float64 `json:"numbers"`
}

// Options tune what counts as a finding.
type Options struct {
	// Slowest is how many trees the slowest list keeps (default 10).
	Slowest int
}

// Ms is d in milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / 1e6 }

// Compute returns the summary of m.
func Compute(m *flow.Model, opts Options) *Summary {
	if opts.Slowest == 0 {
		opts.Slowest = 10
	}
	origin := m.Origin()
	s := &Summary{Participants: []Participant{}, Databases: []Database{}, Caches: []Cache{},
		Sessions: []Session{}, Slowest: []Tree{}, Errors: []Error{}, Findings: []Finding{}}
	s.Capture.Start = origin
	s.Capture.Trees = len(m.Roots)
	var last time.Time
	m.Walk(func(n *flow.Node, _ int) {
		if !n.IsFile() { // strace's file syscalls are not on the wire
			s.Capture.Exchanges++
		}
		if n.End.After(last) {
			last = n.End
		}
	})
	if !origin.IsZero() {
		s.Capture.DurationMs = Ms(last.Sub(origin))
	}
	s.participants(m)
	s.sessions(m, origin)
	s.Capture.Sessions = len(s.Sessions)
	s.slowest(m, origin, opts.Slowest)
	s.errors(m, origin)
	s.findings(m, origin)
	return s
}

func (s *Summary) participants(m *flow.Model) {
	idx := map[*flow.Participant]int{}
	lat := map[int][]time.Duration{}
	for i, p := range m.Participants {
		idx[p] = i
		s.Participants = append(s.Participants, Participant{Name: p.Name, Kind: string(p.Kind)})
	}
	dbs := map[*flow.Participant]*Database{}
	caches := map[*flow.Participant]*Cache{}
	for _, p := range m.Participants {
		switch p.Kind {
		case flow.DB:
			dbs[p] = &Database{Name: p.Name}
		case flow.Cache:
			caches[p] = &Cache{Name: p.Name}
		}
	}
	m.Walk(func(n *flow.Node, _ int) {
		if i, ok := idx[n.FromP()]; ok {
			s.Participants[i].Calls++
		}
		i, ok := idx[n.ToP()]
		if !ok {
			return
		}
		p := &s.Participants[i]
		p.Served++
		switch {
		case n.Outcome == flow.Failed:
			p.Errors++
		case unanswered(n):
			p.Unanswered++
		}
		if n.Answered() && n.Role != flow.RoleRPCCast {
			// a cast waits for no answer: it has no latency to count
			lat[i] = append(lat[i], n.End.Sub(n.Start))
		}
		if n.RequestBytes != nil {
			p.RequestBytes += *n.RequestBytes
		}
		if n.ResponseBytes != nil {
			p.ResponseBytes += *n.ResponseBytes
		}
		if d := dbs[n.ToP()]; d != nil {
			switch n.Role {
			case flow.RoleLogin:
				d.Logins++
			case flow.RoleQuery:
				if !isDBQuery(n) {
					break
				}
				d.Queries++
				if n.Answered() {
					d.TimeMs += Ms(n.End.Sub(n.Start))
				}
			}
			if n.Rows != nil {
				d.Rows += *n.Rows
			}
			if n.Outcome == flow.Failed {
				d.Errors++
			}
		}
		if c := caches[n.ToP()]; c != nil {
			switch n.Role {
			case flow.RoleCacheGet:
				c.Gets++
				switch n.Outcome {
				case flow.OK:
					c.Hits++
				case flow.Miss:
					c.Misses++
				}
			case flow.RoleCacheSet:
				c.Sets++
			default:
				c.Other++
			}
		}
	})
	for i := range s.Participants {
		p := &s.Participants[i]
		p.Timed = len(lat[i])
		p.P50Ms, p.P95Ms, p.MaxMs = Percentile(lat[i], 50), Percentile(lat[i], 95), Percentile(lat[i], 100)
	}
	for _, p := range m.Participants {
		if d := dbs[p]; d != nil {
			s.Databases = append(s.Databases, *d)
		}
		if c := caches[p]; c != nil {
			if c.Hits+c.Misses > 0 {
				r := float64(c.Hits) / float64(c.Hits+c.Misses)
				c.HitRatio = &r
			}
			s.Caches = append(s.Caches, *c)
		}
	}
}

// Percentile is the nearest-rank p-th percentile of ds in milliseconds
// (p 100 is the maximum); 0 for none.
func Percentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	k := int(math.Ceil(p/100*float64(len(s)))) - 1
	k = max(0, min(k, len(s)-1))
	return Ms(s[k])
}

// Groups splits m's roots (ordered session by session) into sessions.
func Groups(m *flow.Model) [][]*flow.Node {
	var out [][]*flow.Node
	for i := 0; i < len(m.Roots); {
		j := i + 1
		for j < len(m.Roots) && m.Roots[j].Session == m.Roots[i].Session {
			j++
		}
		out = append(out, m.Roots[i:j])
		i = j
	}
	return out
}

func (s *Summary) sessions(m *flow.Model, origin time.Time) {
	for _, trees := range Groups(m) {
		ss := Session{Number: trees[0].Session, Command: flow.Command(trees), Trees: len(trees)}
		start, end := trees[0].Start, trees[0].End
		var tok *flow.Token
		for _, r := range trees {
			if r.Start.Before(start) {
				start = r.Start
			}
			if r.End.After(end) {
				end = r.End
			}
			from := r.FromP()
			if r.Proto == "http" && from != nil && from.Kind == flow.Client {
				ss.Requests++
				if ss.Client == "" {
					ss.Client = from.Name
				}
				if r.Role == flow.RoleAuth && ss.User == "" {
					ss.User = r.User
				}
				if tok == nil {
					if tok = r.TokenP(); tok == nil && r.Role == flow.RoleAuth {
						tok = r.SubjectP()
					}
				}
			}
			walk(r, func(n *flow.Node) {
				ss.Exchanges++
				if n.Outcome == flow.Failed {
					ss.Errors++
				}
			})
		}
		if ss.Client == "" && trees[0].FromP() != nil {
			ss.Client = trees[0].FromP().Name
		}
		if tok != nil {
			ss.Token = tok.Label()
			if ss.User == "" {
				ss.User = tok.User
			}
		}
		ss.StartMs = Ms(start.Sub(origin))
		ss.DurationMs = Ms(end.Sub(start))
		s.Sessions = append(s.Sessions, ss)
	}
}

func walk(n *flow.Node, fn func(*flow.Node)) {
	fn(n)
	for _, c := range n.Children {
		walk(c, fn)
	}
}

// unanswered: a request whose answer was expected and not captured. A DB
// command that is not a statement (a quit) is answered by the server
// closing the connection, never by a message, and does not count.
func unanswered(n *flow.Node) bool {
	if n.Role == flow.RoleQuery && !isDBQuery(n) {
		return false
	}
	return n.Outcome == flow.Lost || n.Outcome == flow.InProgress
}

// isDBQuery: a DB statement (SQL text), not a login or a quit.
func isDBQuery(n *flow.Node) bool { return n.Role == flow.RoleQuery && n.Target != "" }

// dbWork counts the DB queries under n (n included) and their time.
func dbWork(n *flow.Node) (queries int, ms float64) {
	walk(n, func(c *flow.Node) {
		if isDBQuery(c) {
			queries++
			if c.Answered() {
				ms += Ms(c.End.Sub(c.Start))
			}
		}
	})
	return queries, ms
}

func name(p *flow.Participant) string {
	if p == nil {
		return ""
	}
	return p.Name
}

// call describes n in the words of the diagrams.
func call(n *flow.Node, origin time.Time) Call {
	return Call{From: name(n.FromP()), To: name(n.ToP()), Request: story.Short(n.Summary, 100),
		Answer: Answer(n), AtMs: Ms(n.Start.Sub(origin))}
}

// Answer is how n ended in a few words: "404 Not Found", "miss",
// "error 1062: Duplicate entry …", "no response captured".
func Answer(n *flow.Node) string {
	switch n.Outcome {
	case flow.Lost, flow.InProgress:
		return "no response captured"
	case flow.NoAnswer:
		return "no reply asked"
	}
	s := ""
	switch {
	case n.Status != 0:
		s = strconv.Itoa(n.Status)
		if n.Result != "" {
			s += " " + n.Result
		}
	case n.ErrorCode != nil:
		s = "error " + strconv.Itoa(*n.ErrorCode)
	case n.Result != "":
		s = n.Result
	default:
		s = string(n.Outcome)
	}
	if n.Message != "" {
		s += ": " + story.Short(n.Message, 80)
	}
	return s
}

func (s *Summary) slowest(m *flow.Model, origin time.Time, k int) {
	roots := append([]*flow.Node(nil), m.Roots...)
	sort.SliceStable(roots, func(i, j int) bool {
		return roots[i].End.Sub(roots[i].Start) > roots[j].End.Sub(roots[j].Start)
	})
	for _, r := range roots[:min(k, len(roots))] {
		q, ms := dbWork(r)
		n := 0
		walk(r, func(*flow.Node) { n++ })
		s.Slowest = append(s.Slowest, Tree{Session: r.Session, From: name(r.FromP()), To: name(r.ToP()),
			Request: story.Short(r.Summary, 100), Answer: Answer(r), StartMs: Ms(r.Start.Sub(origin)),
			DurationMs: Ms(r.End.Sub(r.Start)), Exchanges: n, DBQueries: q, DBTimeMs: ms})
	}
}

func (s *Summary) errors(m *flow.Model, origin time.Time) {
	for _, r := range m.Roots {
		var visit func(n *flow.Node, depth int)
		visit = func(n *flow.Node, depth int) {
			if n.Outcome == flow.Miss && n.Proto == "http" {
				s.NamesLookedUp++
			}
			if n.Outcome == flow.Failed {
				e := Error{Session: r.Session, Call: call(n, origin), Depth: depth}
				if c := Cause(n); c != nil {
					cc := call(c, origin)
					e.Cause = &cc
				}
				s.Errors = append(s.Errors, e)
			}
			for _, c := range n.Children {
				visit(c, depth+1)
			}
		}
		visit(r, 0)
	}
}

// Cause is the first cause of n's failure found beneath it: the first
// failed child, followed down to the deepest first failure; else the last
// DB write beneath it; nil when neither exists. Work only timing placed
// there (Ambiguous: it may be another request's or process's) is never
// named.
func Cause(n *flow.Node) *flow.Node {
	for _, c := range n.Children {
		if c.Ambiguous() {
			continue
		}
		if c.Outcome == flow.Failed {
			if d := Cause(c); d != nil {
				return d
			}
			return c
		}
	}
	var write *flow.Node
	walk(n, func(c *flow.Node) {
		if c != n && isDBQuery(c) && isWrite(c.Signature) && !c.Ambiguous() {
			write = c
		}
	})
	return write
}

func isWrite(sig string) bool {
	for _, v := range []string{"UPDATE ", "INSERT ", "DELETE ", "REPLACE "} {
		if strings.HasPrefix(sig, v) {
			return true
		}
	}
	return false
}
