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
	s := NewStream(opts)
	s.Session(m.Roots)
	return s.Finish(m)
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
