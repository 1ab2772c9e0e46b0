package flow

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// Segments builds the model of a capture one segment at a time while it
// is being decoded, so that trace holds what is open rather than the
// whole capture (docs/streaming-trace.md). Exchanges are added in start
// order (as the pipeline delivers them). Once Size of them wait, the
// builder runs on them with the facts of every earlier segment (service
// names, tokens, who is behind each connection, the participants) and
// cuts where nothing reaches across: at the start of a session such that
//
//   - every node of the sessions before it began and ended before the cut,
//     and so did every node that timing offered as an alternative;
//   - every node of the sessions from it on began at or after the cut;
//   - it lies at least Window of capture time before the last exchange
//     added, so that what the next minute holds (a token used again, a
//     discovery claimed by a later login, an RPC's reply, work after a 202)
//     was seen by the build that decided.
//
// The sessions before the cut are final and handed over; the exchanges
// from the cut on are built again with the next segment. Where no cut
// holds, the segment grows. Below Size exchanges there is one segment,
// the model of Build.
//
// What a later segment learns does not go back to an earlier one: an
// endpoint named only by a later catalog keeps its earlier name, and a
// connection drawn from its host before later traffic named its process
// keeps that (a note counts them).
//
// What it keeps between segments grows with the endpoints, participants
// and tokens of the capture (the tokens are the model's tail, printed at
// the end), and per connection with those seen in the last hour of
// capture: a connection silent longer is forgotten (forgetConn).
type Segments struct {
	// Size is how many exchanges wait before a cut is looked for (and
	// again each time as many more came, while none is found).
	Size int
	// Window is how far behind the last exchange a cut must be.
	Window time.Duration
	// Filter selects the sessions handed over (Model.Filter).
	Filter Filter

	opts  Options
	emit  func(roots []*Node)
	facts *facts
	buf   []*decoder.Exchange
	tryAt int       // build when this many wait
	after time.Time // and an exchange starts after this
	// first and latest: the earliest and the latest start waiting;
	// drawn: the last cut; late: exchanges that came after it began
	first, latest, drawn time.Time
	late                 int
	// unnamed: connections drawn with no caller; namedLater: how many of
	// them a later segment named
	unnamed    map[int]bool
	namedLater int
	// lastSeen: the last start of each connection drawn (forgetConn)
	lastSeen map[int]time.Time
	forgot   time.Time // when connections were last forgotten
	nodes    int       // node IDs given
	count    int       // sessions handed over or filtered out
	tally    tallyCounter
	seen     appearance
	origin   time.Time // the first tree's start (Filter)
	// used: the participants and tokens of the trees handed over, when
	// Filter drops some (Model.Prune)
	used map[*Participant]bool
	toks map[string]bool
	some bool // some tree was built (filtered out or not)
}

// DefaultSegment and DefaultWindow are what trace uses: a segment of
// about 40 s of a busy control plane (on the long capture; 1 GB of it
// then peaks at about 100 MiB, against 255 built whole), and the hold-back
// minute of the pipeline, which is also the longest an RPC call waits for
// its reply by default, and more than SessionIdle.
const (
	DefaultSegment = 8192
	DefaultWindow  = time.Minute
)

// NewSegments returns a segmented build that hands each segment's
// sessions, in order, their trees' roots in the model's order, to emit.
func NewSegments(opts Options, emit func(roots []*Node)) *Segments {
	return &Segments{Size: DefaultSegment, Window: DefaultWindow, opts: opts, emit: emit, facts: newFacts(), unnamed: map[int]bool{}, lastSeen: map[int]time.Time{}}
}

// Add takes the next exchange.
func (s *Segments) Add(e *decoder.Exchange) {
	t := e.Start()
	if len(s.buf) == 0 || t.Before(s.first) {
		s.first = t
	}
	s.latest = later(s.latest, t)
	if t.Before(s.drawn) {
		s.late++ // its clock jumped back: what it belongs to is drawn
	}
	s.buf = append(s.buf, e)
	if s.tryAt == 0 {
		s.tryAt = s.Size
	}
	if len(s.buf) < s.tryAt || s.latest.Before(s.after) {
		return
	}
	if s.latest.Sub(s.first) <= s.Window {
		// no cut can be a window behind yet: wait, without building
		s.tryAt = len(s.buf) + max(s.Size/4, 1)
		return
	}
	s.build(false)
}

// Close builds what is left and returns the model's tail: everything but
// its trees (participants in their final order, tokens, the number of
// sessions, notes).
func (s *Segments) Close() *Model {
	s.build(true)
	tail := &Model{Tokens: s.facts.order, Sessions: s.count}
	tail.Participants = s.seen.participants(s.facts.parts)
	b := &builder{opts: s.opts, facts: s.facts}
	tail.Notes = append(b.hmacNotes(), s.tally.notes()...)
	if s.namedLater > 0 {
		what := "connections are"
		if s.namedLater == 1 {
			what = "connection is"
		}
		tail.Notes = append(tail.Notes, fmt.Sprintf("%d %s named after the host they come from in the first part of the capture, and after the process behind them once later traffic named it (the capture began after they were opened; a model built whole, as report's, names them after the process from the start)", s.namedLater, what))
	}
	if s.late > 0 {
		// (decode's note says where the clock jumped)
		what := "exchanges came"
		if s.late == 1 {
			what = "exchange came"
		}
		tail.Notes = append(tail.Notes, fmt.Sprintf("%d %s after the part of the capture their start times fall in was told (a merged capture's clock jumped back): told with the part they came with", s.late, what))
	}
	if s.filtering() {
		tail = (&Model{Participants: tail.Participants, Tokens: tail.Tokens, Sessions: tail.Sessions, Notes: tail.Notes}).pruneTo(s.used, s.toks)
	}
	return tail
}

func (s *Segments) filtering() bool { return s.Filter != (Filter{}) }

// build builds the exchanges waiting and hands over the sessions before
// the latest safe cut (all of them when last).
func (s *Segments) build(last bool) {
	if len(s.buf) == 0 {
		return
	}
	var saved *factsSaved
	if !last {
		saved = s.facts.save()
	}
	b := newBuilderWith(s.buf, s.opts, s.facts)
	b.firstID = s.nodes
	var regs []reg
	if !last {
		b.regs = &regs
	}
	m := b.build()
	cut, at := len(m.Roots), time.Time{}
	if !last {
		var next time.Time
		cut, at, next = s.cut(m)
		if cut == 0 {
			s.facts.restore(saved)
			// again when that cut is a window behind, or when as many
			// more came: a capture with no cut costs a build per
			// doubling (twice the exchanges in all), not one per Size
			// exchanges
			s.tryAt = 2 * len(s.buf)
			if !next.IsZero() {
				s.tryAt, s.after = len(s.buf)+1, next.Add(s.Window)
			}
			return
		}
	}
	// the exchanges before the cut are drawn; the others wait (they come
	// in start order, unless a merged capture's clock jumped back)
	var done, kept []*decoder.Exchange
	if cut == len(m.Roots) {
		done = s.buf
	} else {
		for _, e := range s.buf {
			if e.Start().Before(at) {
				done = append(done, e)
			} else {
				kept = append(kept, e)
			}
		}
		s.drawn = at
		// a participant's addresses are those of the nodes drawn: what
		// the part after the cut added goes (it is built again)
		for p, v := range saved.parts {
			p.Addrs = v.Addrs
		}
		for _, r := range regs {
			if _, ok := saved.parts[r.p]; !ok {
				r.p.Addrs = nil
			}
		}
		for _, r := range regs {
			if r.at.Before(at) && !slices.Contains(r.p.Addrs, r.addr) {
				r.p.Addrs = append(r.p.Addrs, r.addr)
			}
		}
	}
	for _, t := range b.tally {
		if cut == len(m.Roots) || t.e.Start().Before(at) {
			s.tally.add(t)
		}
	}
	// what the segment drew of each connection and endpoint holds for
	// the next
	for _, e := range done {
		if e.Conn == nil {
			continue
		}
		id := e.Conn.ID
		// (what only timing named, or nothing, is decided again with
		// the next segment's traffic)
		if _, ok := s.facts.decided[id]; !ok {
			c := b.caller[id]
			if c != "" && !b.callerByTiming[id] {
				s.facts.decided[id] = c
			}
			switch {
			case c != "" && s.unnamed[id]:
				delete(s.unnamed, id)
				s.namedLater++
			case c == "":
				s.unnamed[id] = true
			}
		}
		if n, ok := b.srvName[e.Conn.Server]; ok {
			s.facts.named[e.Conn.Server] = n
		}
		s.lastSeen[id] = later(s.lastSeen[id], e.Start())
	}
	if cut < len(m.Roots) {
		s.forget(at, kept)
	}
	roots := m.Roots[:cut]
	for _, r := range roots {
		walk(r, func(*Node) { s.nodes++ })
	}
	if len(roots) > 0 {
		// sessions are numbered 1, 2, ... in the order of m.Roots
		n := roots[len(roots)-1].Session
		for _, r := range roots {
			r.Session += s.count
		}
		s.count += n
		s.some = true
	}
	s.seen.see(roots)
	// the rest is built again with the next segment (a new array: the
	// handed-over exchanges go)
	s.buf = kept
	for i, e := range s.buf {
		if i == 0 || e.Start().Before(s.first) {
			s.first = e.Start()
		}
	}
	s.tryAt = len(s.buf) + s.Size
	if s.filtering() {
		if s.origin.IsZero() && len(roots) > 0 {
			s.origin = roots[0].Start
		}
		roots = s.filter(roots)
	}
	if len(roots) > 0 {
		s.emit(roots)
	}
}

// forgetConn is how long a connection may be silent before what the
// segments learned of it is forgotten: per connection, the facts would
// otherwise grow with the capture (and be copied at every build). A
// connection back after that is decided again from its own traffic;
// oslo.db recycles a pooled connection after an hour
// (connection_recycle_time), so few are.
const forgetConn = time.Hour

// forget drops the facts of the connections silent for forgetConn before
// the cut at, every tenth of that, but of none still waiting in kept.
func (s *Segments) forget(at time.Time, kept []*decoder.Exchange) {
	if at.Sub(s.forgot) < forgetConn/10 {
		return
	}
	s.forgot = at
	waiting := map[int]bool{}
	for _, e := range kept {
		if e.Conn != nil {
			waiting[e.Conn.ID] = true
		}
	}
	f := s.facts
	for id, t := range s.lastSeen {
		if at.Sub(t) <= forgetConn || waiting[id] {
			continue
		}
		delete(s.lastSeen, id)
		delete(s.unnamed, id)
		delete(f.caller, id)
		delete(f.callerByTiming, id)
		delete(f.decided, id)
		delete(f.schemas, id)
		delete(f.relayedFor, id)
	}
}

// cut returns how many of m's roots come before the latest safe cut, and
// the cut's time (0: none), and the next cut that would hold if it were
// a window behind (zero: none).
func (s *Segments) cut(m *Model) (int, time.Time, time.Time) {
	// each session's span: its roots are a run of m.Roots
	type span struct {
		at                 int       // its first root in m.Roots
		first              time.Time // its first root's start: a cut
		lastStart, lastEnd time.Time // over every node, and the alternatives timing offered
		minStart           time.Time
	}
	var spans []span
	for i, r := range m.Roots {
		if i == 0 || r.Session != m.Roots[i-1].Session {
			spans = append(spans, span{at: i, first: r.Start, minStart: r.Start})
		}
		sp := &spans[len(spans)-1]
		walk(r, func(n *Node) {
			sp.lastStart = later(sp.lastStart, n.Start)
			sp.lastEnd = later(sp.lastEnd, n.End)
			if n.Start.Before(sp.minStart) {
				sp.minStart = n.Start
			}
			for _, c := range n.candidates {
				sp.lastStart = later(sp.lastStart, c.Start)
				sp.lastEnd = later(sp.lastEnd, c.End)
				if c.Start.Before(sp.minStart) {
					sp.minStart = c.Start
				}
			}
		})
	}
	limit := s.latest.Add(-s.Window)
	// suffix minimum of the sessions' earliest starts
	minFrom := make([]time.Time, len(spans)+1)
	for j := len(spans) - 1; j >= 0; j-- {
		minFrom[j] = spans[j].minStart
		if j+1 < len(spans) && minFrom[j+1].Before(minFrom[j]) {
			minFrom[j] = minFrom[j+1]
		}
	}
	best, bestAt := 0, time.Time{}
	var reach time.Time // the latest start or end of the sessions before j
	for j := range spans {
		t := spans[j].first
		if j > 0 && reach.Before(t) && !minFrom[j].Before(t) {
			if t.After(limit) {
				// the first cut that holds so far, too recent yet
				return best, bestAt, t
			}
			best, bestAt = spans[j].at, t
		}
		reach = later(reach, later(spans[j].lastStart, spans[j].lastEnd))
	}
	return best, bestAt, time.Time{}
}

// filter keeps the sessions of roots that Filter selects (Model.Filter),
// and notes what they use.
func (s *Segments) filter(roots []*Node) []*Node {
	m := (&Model{Roots: roots}).filterAt(s.Filter, s.origin)
	if s.used == nil {
		s.used, s.toks = map[*Participant]bool{}, map[string]bool{}
	}
	m.Walk(func(n *Node, _ int) {
		s.used[n.from], s.used[n.to] = true, true
		s.toks[n.Token], s.toks[n.SubjectToken] = true, true
	})
	return m.Roots
}

// Built reports whether any tree was built, handed over or filtered out.
func (s *Segments) Built() bool { return s.some }

// factsSaved is what facts were before a build (save), to go back to when
// the build finds no cut: a segment is then built again, longer, and its
// first build must leave nothing behind (a participant named after what
// the next minute disproves).
type factsSaved struct {
	facts  facts
	tokens map[*Token]Token
	parts  map[*Participant]Participant
}

func (f *facts) save() *factsSaved {
	s := &factsSaved{facts: *f, tokens: make(map[*Token]Token, len(f.order)), parts: make(map[*Participant]Participant, len(f.parts))}
	c := &s.facts
	c.srvName, c.hosts, c.hostHdr, c.catalog = maps.Clone(f.srvName), maps.Clone(f.hosts), maps.Clone(f.hostHdr), maps.Clone(f.catalog)
	c.tokens, c.bySHA = maps.Clone(f.tokens), maps.Clone(f.bySHA)
	c.caller, c.callerByTiming, c.parts = maps.Clone(f.caller), maps.Clone(f.callerByTiming), maps.Clone(f.parts)
	c.hmacKeys, c.schemas, c.proxies, c.relayedFor = maps.Clone(f.hmacKeys), maps.Clone(f.schemas), maps.Clone(f.proxies), maps.Clone(f.relayedFor)
	c.decided, c.named = maps.Clone(f.decided), maps.Clone(f.named)
	for _, t := range f.order {
		s.tokens[t] = *t
	}
	for _, p := range f.parts {
		s.parts[p] = *p
	}
	return s
}

func (f *facts) restore(s *factsSaved) {
	*f = s.facts
	for t, v := range s.tokens {
		*t = v
	}
	for p, v := range s.parts {
		*p = v
	}
}
