package summary

import (
	"slices"
	"sort"
	"time"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/render/story"
)

// Stream computes a summary handed a run of client sessions at a time, as
// trace prints them (flow.Segments hands each segment's sessions over as
// it is built), and keeps what the summary needs, never a node: counts
// and latencies per participant, a line per session, the slowest trees
// so far, the errors, and what each finding weighs. What only the whole
// capture settles (the participants' order, the first tree's start that
// every offset counts from, what a token was learned to be) is read at
// Finish, so that the summary is the one Compute gives for the whole
// model. Its memory grows with what the summary reports or must sort,
// never with the trees' nodes: a line per session and per error (both
// printed whole), a latency per exchange answered (the percentiles are
// exact) and a start per token validation (revalidated sorts them), a
// few words each.
type Stream struct {
	opts          Options
	origin, last  time.Time
	exchanges     int
	trees         int
	parts         map[*flow.Participant]*partStats
	sessions      []sessionLine
	slowest       []slowTree // the slowest trees so far, slowest first
	errors        []errorLine
	namesLookedUp int

	// findings (findings.go)
	valid      validationStats
	reval      map[revalKey]*revalStats
	revalOrder []revalKey
	ttl        map[*flow.Token]time.Duration
	auths      map[*flow.Participant]int
	served     map[*flow.Participant]int
	authOrder  []*flow.Participant
	dbHits     int
	dbWorst    dbHit
	lost       int
	lostActive int // of them, in progress when the capture ended
	firstLost  lostCall
}

// lostCall is the first request never answered.
type lostCall struct {
	from, to, request string
	at                time.Time
	session           int
}

// partStats is what one participant served and asked; db and cache are
// its work as a database or a cache.
type partStats struct {
	p     Participant
	lat   []time.Duration
	db    Database
	cache Cache
}

// call is a Call, in the words of the diagrams, before the origin is
// known.
type call struct {
	from, to, request, answer string
	at                        time.Time
}

func (c call) at0(origin time.Time) Call {
	return Call{From: c.from, To: c.to, Request: c.request, Answer: c.answer, AtMs: Ms(c.at.Sub(origin))}
}

func callOf(n *flow.Node) call {
	return call{from: name(n.FromP()), to: name(n.ToP()), request: story.Short(n.Summary, 100), answer: Answer(n), at: n.Start}
}

type sessionLine struct {
	s          Session
	start, end time.Time
	tok        *flow.Token // read at Finish: a later part may name its user
}

type slowTree struct {
	t     Tree
	start time.Time
	d     time.Duration
}

type errorLine struct {
	e     Error
	call  call
	cause *call
}

// validationStats weigh the token validations: the costliest is the
// first with the most DB queries (none while worstQ is 0).
type validationStats struct {
	worstQ, total, n int
	worstMs          float64
	worstD           time.Duration
	worstTok         *flow.Token
	worstSession     int
}

type revalKey struct {
	tk  *flow.Token
	who string
}

// revalStats are the validations of one token by one service: when each
// began, and the session of the earliest (the first met among equals).
type revalStats struct {
	starts       []time.Time
	first        time.Time
	firstSession int
}

type dbHit struct {
	session       int
	from, request string
	q             int
	ms, of        float64
}

// NewStream returns a Stream.
func NewStream(opts Options) *Stream {
	if opts.Slowest == 0 {
		opts.Slowest = 10
	}
	return &Stream{opts: opts, parts: map[*flow.Participant]*partStats{},
		reval: map[revalKey]*revalStats{}, ttl: map[*flow.Token]time.Duration{},
		auths: map[*flow.Participant]int{}, served: map[*flow.Participant]int{}}
}

// Session takes the trees of one or more client sessions (roots in the
// model's order, after every tree given before). It keeps no node.
func (s *Stream) Session(roots []*flow.Node) {
	for trees := range story.Sessions(roots) {
		s.session(trees)
	}
}

func (s *Stream) session(trees []*flow.Node) {
	ss := sessionLine{s: Session{Number: trees[0].Session, Command: flow.Command(trees), Trees: len(trees)}, start: trees[0].Start, end: trees[0].End}
	for _, r := range trees {
		s.trees++
		if s.origin.IsZero() || r.Start.Before(s.origin) {
			s.origin = r.Start
		}
		ss.start, ss.end = earlier(ss.start, r.Start), later(ss.end, r.End)
		from := r.FromP()
		if r.Proto == "http" && from != nil && from.Kind == flow.Client {
			ss.s.Requests++
			if ss.s.Client == "" {
				ss.s.Client = from.Name
			}
			if r.Role == flow.RoleAuth && ss.s.User == "" {
				ss.s.User = r.User
			}
			if ss.tok == nil {
				if ss.tok = r.TokenP(); ss.tok == nil && r.Role == flow.RoleAuth {
					ss.tok = r.SubjectP()
				}
			}
		}
		s.tree(r)
		var visit func(n *flow.Node, depth int)
		visit = func(n *flow.Node, depth int) {
			ss.s.Exchanges++
			if n.Outcome == flow.Failed {
				ss.s.Errors++
			}
			s.node(n, r, depth)
			for _, c := range n.Children {
				visit(c, depth+1)
			}
		}
		visit(r, 0)
		s.dbDominated(r)
	}
	if ss.s.Client == "" && trees[0].FromP() != nil {
		ss.s.Client = trees[0].FromP().Name
	}
	s.sessions = append(s.sessions, ss)
}

// tree weighs root r for the slowest list.
func (s *Stream) tree(r *flow.Node) {
	d := r.End.Sub(r.Start)
	k := s.opts.Slowest
	// slowest first; among equals, the first in the model's order
	at := sort.Search(len(s.slowest), func(i int) bool { return s.slowest[i].d < d })
	if at >= k {
		return
	}
	q, ms := dbWork(r)
	n := 0
	walk(r, func(*flow.Node) { n++ })
	t := slowTree{t: Tree{Session: r.Session, From: name(r.FromP()), To: name(r.ToP()),
		Request: story.Short(r.Summary, 100), Answer: Answer(r),
		DurationMs: Ms(d), Exchanges: n, DBQueries: q, DBTimeMs: ms}, start: r.Start, d: d}
	s.slowest = slices.Insert(s.slowest, at, t)
	if len(s.slowest) > k {
		s.slowest = s.slowest[:k]
	}
}

// node counts n, at depth under root r, everywhere it counts.
func (s *Stream) node(n *flow.Node, r *flow.Node, depth int) {
	if !n.IsFile() { // strace's file syscalls are not on the wire
		s.exchanges++
	}
	s.last = later(s.last, n.End)
	if from := n.FromP(); from != nil {
		s.stats(from).p.Calls++
	}
	if to := n.ToP(); to != nil {
		s.served1(s.stats(to), n)
	}
	// errors
	if n.Outcome == flow.Miss && n.Proto == "http" {
		s.namesLookedUp++
	}
	if n.Outcome == flow.Failed {
		e := errorLine{e: Error{Session: r.Session, Depth: depth}, call: callOf(n)}
		if c := Cause(n); c != nil {
			cc := callOf(c)
			e.cause = &cc
		}
		s.errors = append(s.errors, e)
	}
	// findings
	if tk := n.SubjectP(); tk != nil {
		switch n.Role {
		case flow.RoleValidate:
			k := revalKey{tk, name(n.FromP())}
			st := s.reval[k]
			if st == nil {
				st = &revalStats{}
				s.reval[k] = st
				s.revalOrder = append(s.revalOrder, k)
			}
			if len(st.starts) == 0 || n.Start.Before(st.first) {
				st.first, st.firstSession = n.Start, r.Session
			}
			st.starts = append(st.starts, n.Start)
		case flow.RoleCacheSet:
			if n.Expiry != nil && *n.Expiry > 0 {
				s.ttl[tk] = time.Duration(*n.Expiry) * time.Second
			}
		}
	}
	if n.Role == flow.RoleValidate {
		q, ms := dbWork(n)
		v := &s.valid
		v.n++
		v.total += q
		if q > v.worstQ {
			v.worstQ, v.worstMs, v.worstD, v.worstTok, v.worstSession = q, ms, n.End.Sub(n.Start), n.SubjectP(), r.Session
		}
	}
	if to := n.ToP(); to != nil && to.Kind == flow.Service && n.Role != flow.RoleDiscovery {
		s.served[to]++
	}
	if from := n.FromP(); n.Role == flow.RoleAuth && from != nil && from.Kind == flow.Service {
		if s.auths[from] == 0 {
			s.authOrder = append(s.authOrder, from)
		}
		s.auths[from]++
	}
	if unanswered(n) {
		if s.lost == 0 {
			s.firstLost = lostCall{from: name(n.FromP()), to: name(n.ToP()), request: story.Short(n.Summary, 60), at: n.Start, session: r.Session}
		}
		s.lost++
		if n.Outcome == flow.InProgress {
			s.lostActive++
		}
	}
}

func (s *Stream) stats(p *flow.Participant) *partStats {
	st := s.parts[p]
	if st == nil {
		st = newPartStats(p)
		s.parts[p] = st
	}
	return st
}

func newPartStats(p *flow.Participant) *partStats {
	return &partStats{p: Participant{Name: p.Name, Kind: string(p.Kind)}, db: Database{Name: p.Name}, cache: Cache{Name: p.Name}}
}

// served1 counts n, which st's participant served.
func (s *Stream) served1(st *partStats, n *flow.Node) {
	p := &st.p
	p.Served++
	switch {
	case n.Outcome == flow.Failed:
		p.Errors++
	case unanswered(n):
		p.Unanswered++
	}
	if n.Answered() && n.Role != flow.RoleRPCCast {
		// a cast waits for no answer: it has no latency to count
		st.lat = append(st.lat, n.End.Sub(n.Start))
	}
	if n.RequestBytes != nil {
		p.RequestBytes += *n.RequestBytes
	}
	if n.ResponseBytes != nil {
		p.ResponseBytes += *n.ResponseBytes
	}
	switch n.ToP().Kind {
	case flow.DB:
		d := &st.db
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
	case flow.Cache:
		c := &st.cache
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
}

// dbDominated weighs root r for the db-dominated finding.
func (s *Stream) dbDominated(r *flow.Node) {
	d := r.End.Sub(r.Start)
	if d < DBMinDuration || !r.Answered() {
		return
	}
	q, ms := dbWork(r)
	if ms <= DBShare*Ms(d) {
		return
	}
	s.dbHits++
	if s.dbHits == 1 || ms > s.dbWorst.ms {
		s.dbWorst = dbHit{session: r.Session, from: name(r.FromP()), request: story.Short(r.Summary, 60), q: q, ms: ms, of: Ms(d)}
	}
}

// Finish returns the summary: tail is the model without its trees (its
// participants in their final order).
func (s *Stream) Finish(tail *flow.Model) *Summary {
	out := &Summary{Participants: []Participant{}, Databases: []Database{}, Caches: []Cache{},
		Sessions: []Session{}, Slowest: []Tree{}, Errors: []Error{}, Findings: []Finding{}}
	origin := s.origin
	out.Capture = Capture{Start: origin, Exchanges: s.exchanges, Trees: s.trees, Sessions: len(s.sessions)}
	if !origin.IsZero() {
		out.Capture.DurationMs = Ms(s.last.Sub(origin))
	}
	for _, p := range tail.Participants {
		st := s.parts[p]
		if st == nil {
			st = newPartStats(p) // it served and asked nothing
		}
		st.p.Timed = len(st.lat)
		st.p.P50Ms, st.p.P95Ms, st.p.MaxMs = Percentile(st.lat, 50), Percentile(st.lat, 95), Percentile(st.lat, 100)
		out.Participants = append(out.Participants, st.p)
		switch p.Kind {
		case flow.DB:
			out.Databases = append(out.Databases, st.db)
		case flow.Cache:
			c := st.cache
			if c.Hits+c.Misses > 0 {
				r := float64(c.Hits) / float64(c.Hits+c.Misses)
				c.HitRatio = &r
			}
			out.Caches = append(out.Caches, c)
		}
	}
	for _, l := range s.sessions {
		ss := l.s
		if l.tok != nil {
			ss.Token = l.tok.Label()
			if ss.User == "" {
				ss.User = l.tok.User
			}
		}
		ss.StartMs = Ms(l.start.Sub(origin))
		ss.DurationMs = Ms(l.end.Sub(l.start))
		out.Sessions = append(out.Sessions, ss)
	}
	for _, t := range s.slowest {
		tr := t.t
		tr.StartMs = Ms(t.start.Sub(origin))
		out.Slowest = append(out.Slowest, tr)
	}
	for _, l := range s.errors {
		e := l.e
		e.Call = l.call.at0(origin)
		if l.cause != nil {
			c := l.cause.at0(origin)
			e.Cause = &c
		}
		out.Errors = append(out.Errors, e)
	}
	out.NamesLookedUp = s.namesLookedUp
	s.findings(out, origin)
	return out
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
