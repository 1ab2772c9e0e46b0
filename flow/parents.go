package flow

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/flowmap/flowmap/decoder"
	"math"
	"slices"
	"strings"
	"time"
)

// linkParents attaches every node made by a service to the request that
// service was serving. The candidates are the requests into the caller's
// service, on its host, in progress when the node's group started. The
// evidence is weighed strongest first, each kind deciding only between the
// candidates the stronger kinds left tied:
//
//  1. causality, a constraint: a service does no DB work for a request
//     before keystonemiddleware's check of the request's token ended;
//  2. links: the global request id or osprofiler trace passed on, the
//     token the node is about or passes on, the service's own login for
//     the validation that uses its token;
//  3. content: the literals of a DB checkout (user, project and image
//     names and ids inlined by PyMySQL) that one candidate names and
//     another does not;
//  4. timing: not a request that already ran one of the checkout's
//     queries, literals and all (two logins of one user at once each look
//     it up once), a pooled connection's next checkout stays with the
//     request it served, a request no other DB connection serves, one that
//     covers the whole group, and finally the innermost (latest started).
//
// Each node records which kind decided (Placed) and, when timing did and
// more than one request was in progress, the candidates.
func (b *builder) linkParents() {
	inbound := map[string]*timeline[*Node]{}
	for _, n := range b.nodes {
		if n.Proto == "http" && n.server != "" {
			if inbound[n.server] == nil {
				inbound[n.server] = &timeline[*Node]{}
			}
			inbound[n.server].add(n, n.Start, b.until(n.Ex))
		}
		if n.subject != nil {
			b.bySubject[n.subject] = append(b.bySubject[n.subject], n)
		}
	}
	p := &placer{b: b, usedFor: map[*Token][]*Token{}, lastParent: map[int]*Node{}, bound: map[*Node]int{}, ran: map[*Node]map[string]bool{}}
	// Tokens a service obtained for itself, to place its authentication
	// with the validation that uses the token.
	for _, n := range b.nodes {
		if n.Role == RoleValidate && n.token != nil && n.subject != nil {
			p.usedFor[n.token] = append(p.usedFor[n.token], n.subject)
		}
	}
	b.grouped = b.groups()
	accepted := b.acceptedBy()
	var fronts map[*decoder.Exchange]*Node // requests a proxy relayed
	if b.front != nil {
		fronts = map[*decoder.Exchange]*Node{}
		for _, n := range b.nodes {
			fronts[n.Ex] = n
		}
	}
	for _, g := range b.grouped {
		first := g[0]
		if fronts != nil && len(g) == 1 && b.linkProxied(first, fronts) {
			continue
		}
		if first.caller == "" {
			continue
		}
		p.start(g)
		db := p.db
		inbound[first.caller].around(first.Start, func(r *Node) {
			if r == first || r.Ex.Conn.Server.Addr() != first.Ex.Conn.Client.Addr() {
				return
			}
			if r.Role == RoleDiscovery && db {
				return // version documents are static: no DB behind them
			}
			if !r.Start.Before(first.Start) && !(r.Start.Equal(first.Start) && r.Ex.Conn.ID < first.Ex.Conn.ID) {
				return
			}
			p.cands = append(p.cands, r)
		})
		broken := false // every candidate broke causality: timing alone is a guess
		if db {
			p.cands, broken = b.causal(p.cands, first)
		}
		done, rivals := b.linkAccepted(g, accepted, p.cands, func(r *Node) bool { return p.score(ByLink, r) > 0 })
		if done || len(p.cands) == 0 {
			continue
		}
		best, placed, tied := p.choose()
		if len(rivals) > 0 && placed != ByLink {
			// a request answered 202 before may be the one whose work
			// this is: a guess among them all
			if len(tied) == 0 {
				tied = []*Node{best}
			}
			placed, tied = ByTiming, append(slices.Clone(tied), rivals...)
		}
		for _, n := range g {
			n.Placed = placed
			if len(tied) > 1 {
				n.candidates = tied
			}
			n.unsure = placed == ByTiming && broken
		}
		if db {
			if p.sticky != nil && p.sticky != best {
				p.bound[p.sticky]--
			}
			if p.sticky != best {
				p.bound[best]++
			}
			p.lastParent[first.Ex.Conn.ID] = best
		}
		accepted.placed(best, g)
		for _, n := range g {
			n.parent = best
			best.Children = append(best.Children, n)
			if db && n.Role == RoleQuery && strings.Contains(n.Summary, "'") {
				if p.ran[best] == nil {
					p.ran[best] = map[string]bool{}
				}
				p.ran[best][n.Summary] = true
			}
		}
	}
}

// placer weighs the evidence for one group at a time (linkParents). What
// it learns of the requests (their connections, the queries they ran)
// carries from group to group; its buffers are reused.
type placer struct {
	b *builder
	// usedFor: the tokens each service token validated.
	usedFor map[*Token][]*Token
	// A pooled DB connection serves one request at a time, and a thread
	// that gives its connection back and asks again gets the same one:
	// consecutive checkouts on a connection stay with the request they
	// served while it is still in progress.
	lastParent map[int]*Node
	bound      map[*Node]int // request -> DB connections serving it
	// A request does not run the same query with the same literals twice
	// (two logins of one user at once each look it up once).
	ran map[*Node]map[string]bool

	// The group being placed, and facts of it read once.
	g           []*Node
	first, last *Node
	db          bool
	rid, base   string // first's request id and osprofiler trace
	sticky      *Node  // the request first's connection served last
	cands       []*Node
	// subjects are the tokens the group's nodes are about, read when a
	// candidate presents a token.
	subjects     []*Token
	subjectsRead bool
	// told are the group's SQL literals that some candidate does not name
	// (one all of them name tells nothing), read when content is weighed.
	told     []string
	toldRead bool
	named    []map[string]bool // what each candidate names
	left     []*Node           // the candidates the evidence weighed so far left tied
	scores   []int
	lits     []string // the group's literals
	chunk    []*Node  // where keep copies to
}

// start makes g the group to place.
func (p *placer) start(g []*Node) {
	p.g, p.first, p.last = g, g[0], g[len(g)-1]
	p.db = p.first.Proto == "mysql"
	p.rid = p.first.reqHeader("X-OpenStack-Request-ID")
	p.base = p.b.traceBase(p.first)
	p.sticky = p.lastParent[p.first.Ex.Conn.ID]
	p.cands, p.told, p.toldRead = p.cands[:0], p.told[:0], false
	p.subjects, p.subjectsRead = p.subjects[:0], false
}

// The kinds of evidence, strongest first, each a score per candidate
// (higher is better).
func (p *placer) score(kind Placement, r *Node) int {
	switch kind {
	case ByLink:
		return p.link(r)
	case ByContent:
		return p.content(r)
	}
	// A request that already ran one of the group's queries, literals
	// and all, is not the one running it again (a weak exclusion, not
	// evidence of the parent: it ranks first among the timing rules).
	return 1000*p.fresh(r) + p.timing(r)
}

func (p *placer) link(r *Node) int {
	score := 0
	if p.rid != "" && p.rid == r.respHeader("X-OpenStack-Request-ID") {
		score += 200
	}
	if p.base != "" && p.base == p.b.traceBase(r) {
		score += 150
	}
	if r.token != nil {
		if !p.subjectsRead {
			p.subjectsRead = true
			for _, n := range p.g {
				if n.subject != nil {
					p.subjects = append(p.subjects, n.subject)
				}
			}
		}
		if slices.Contains(p.subjects, r.token) {
			score += 100
		}
		// the calling service's token, presented beside the user's: the
		// server checks it too (glance validating nova's)
		if r.service != nil && slices.Contains(p.subjects, r.service) {
			score += 100
		}
		if p.first.token == r.token {
			score += 80 // passes the user's token on (nova → glance)
		}
		if p.first.Role == RoleAuth && p.first.subject != nil {
			for _, t := range p.usedFor[p.first.subject] {
				if t == r.token {
					score += 50
					break
				}
			}
		}
	}
	return score
}

// content counts the group's literals that r names and that not every
// candidate names.
func (p *placer) content(r *Node) int {
	if !p.toldRead {
		p.toldRead = true
		if p.db && !p.b.noContent {
			p.named = p.named[:0]
			for _, c := range p.cands {
				p.named = append(p.named, p.b.literals(c))
			}
			p.lits = groupLiterals(p.lits[:0], p.g)
			for _, l := range p.lits {
				for _, ls := range p.named {
					if !ls[l] {
						p.told = append(p.told, l)
						break
					}
				}
			}
		}
	}
	n := 0
	ls := p.b.literals(r)
	for _, l := range p.told {
		if ls[l] {
			n++
		}
	}
	return n
}

func (p *placer) timing(r *Node) int {
	score := 0
	if !p.b.until(r.Ex).Before(p.last.End) {
		score += 10
	}
	if r == p.sticky {
		score += 20
	} else if p.db {
		// Each request in progress holds one pooled connection at a
		// time: prefer a request no other connection is serving.
		score -= 5 * p.bound[r]
	}
	return score
}

func (p *placer) fresh(r *Node) int {
	ran := p.ran[r]
	if ran == nil {
		return 0
	}
	for _, n := range p.g {
		if ran[n.Summary] {
			return -1
		}
	}
	return 0
}

// choose returns the candidate the evidence points to, the kind of
// evidence that decided, and, when timing decided, the candidates that
// stronger evidence could not tell apart. Each kind only breaks the ties
// the ones before it left; among candidates still tied, the latest started
// wins (cands come latest first).
func (p *placer) choose() (*Node, Placement, []*Node) {
	p.left = append(p.left[:0], p.cands...)
	for _, kind := range [...]Placement{ByLink, ByContent} {
		was := len(p.left)
		top := p.keepBest(kind)
		if len(p.left) == 1 && (top > 0 || was > 1) {
			return p.left[0], kind, nil
		}
	}
	var tied []*Node
	if len(p.left) > 1 {
		tied = p.keep(p.left) // kept by the nodes: Candidates
	}
	p.keepBest(ByTiming)
	return p.left[0], ByTiming, tied
}

// keep returns a lasting copy of ns, cut from a shared chunk rather than
// allocated on its own (most groups have a few candidates).
func (p *placer) keep(ns []*Node) []*Node {
	if cap(p.chunk)-len(p.chunk) < len(ns) {
		p.chunk = make([]*Node, 0, max(1024, len(ns)))
	}
	at := len(p.chunk)
	p.chunk = append(p.chunk, ns...)
	return p.chunk[at:len(p.chunk):len(p.chunk)]
}

// keepBest keeps the candidates left with the top score of kind, in
// order, and returns that score.
func (p *placer) keepBest(kind Placement) int {
	top := math.MinInt
	p.scores = p.scores[:0]
	for _, r := range p.left {
		s := p.score(kind, r)
		p.scores = append(p.scores, s)
		top = max(top, s)
	}
	keep := p.left[:0]
	for i, r := range p.left {
		if p.scores[i] == top {
			keep = append(keep, r)
		}
	}
	p.left = keep
	return top
}

// causal drops the candidates whose token check had not ended when DB
// work n started (keystonemiddleware runs before the service's own code);
// when that would drop them all, the check was not captured as expected,
// nothing is dropped and broken says so (a placement by timing is then a
// guess even among one candidate).
func (b *builder) causal(cands []*Node, n *Node) (keep []*Node, broken bool) {
	checked := func(r *Node) bool {
		end := b.checkEnd(r)
		return end.IsZero() || !end.After(n.Start)
	}
	if !slices.ContainsFunc(cands, checked) {
		return cands, len(cands) > 0
	}
	// (in place: cands is linkParents' buffer)
	return slices.DeleteFunc(cands, func(r *Node) bool { return !checked(r) }), false
}

// groups cuts the nodes into units that share one parent: a DB
// connection's queries from checkout to ROLLBACK/COMMIT (SQLAlchemy's pool
// hands a connection to one request at a time), every other node alone.
// The groups are cut from one array: each node's group is found first,
// then the nodes are laid out group by group.
func (b *builder) groups() [][]*Node {
	of := make([]int32, len(b.nodes)) // each node's group
	var size []int32                  // each group's size
	var lastOf []*Node                // each group's last node
	// Each DB connection's open group, and the group a ROLLBACK/COMMIT
	// ended (-1: none), in one map: one lookup per node.
	type checkout struct{ open, closed int32 }
	conns := map[int]checkout{}
	add := func(i int, g int32) {
		of[i] = g
		size[g]++
		lastOf[g] = b.nodes[i]
	}
	next := func() int32 {
		size, lastOf = append(size, 0), append(lastOf, nil)
		return int32(len(size) - 1)
	}
	for i, n := range b.nodes {
		if n.Proto != "mysql" {
			add(i, next())
			continue
		}
		ends := endsCheckout(n)
		c, seen := conns[n.Conn]
		if !seen {
			c = checkout{-1, -1}
		}
		if g := c.closed; g >= 0 && ends && n.Start.Sub(lastOf[g].End) < 50*time.Millisecond {
			// SQLAlchemy's reset-on-return rolls back twice.
			add(i, g)
			continue
		}
		c.closed = -1
		g := c.open
		if g >= 0 && n.Start.Sub(lastOf[g].End) > 200*time.Millisecond {
			g = -1
		}
		if g < 0 {
			g = next()
			c.open = g
		}
		add(i, g)
		if ends {
			c.open, c.closed = -1, g
		}
		conns[n.Conn] = c
	}
	out := make([][]*Node, len(size))
	flat := make([]*Node, len(b.nodes))
	at := 0
	for g, n := range size {
		out[g] = flat[at : at : at+int(n)]
		at += int(n)
	}
	for i, n := range b.nodes {
		out[of[i]] = append(out[of[i]], n)
	}
	return out
}

func endsCheckout(n *Node) bool {
	q := strings.TrimSpace(n.Summary)
	if len(q) > 32 {
		// Upper-casing (which allocates) cannot make 8 runes of this out
		// of more than 32 bytes: most SQL stops here.
		return false
	}
	q = strings.ToUpper(q)
	return q == "ROLLBACK" || q == "COMMIT"
}

// traceBase is the osprofiler trace a request belongs to: base_id of the
// base64 JSON in its X-Trace-Info header.
func (b *builder) traceBase(n *Node) string {
	h := n.reqHeader("X-Trace-Info")
	if h == "" {
		return "" // most nodes: not HTTP, or not traced
	}
	if id, ok := b.traces[n]; ok {
		return id
	}
	id := decodeTraceBase(h)
	b.traces[n] = id
	return id
}

func decodeTraceBase(h string) string {
	raw, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		if raw, err = base64.URLEncoding.DecodeString(h); err != nil {
			return ""
		}
	}
	var ti struct {
		BaseID string `json:"base_id"`
	}
	if json.Unmarshal(raw, &ti) != nil {
		return ""
	}
	return ti.BaseID
}

// acceptedWindow is how long after answering 202 Accepted a service's
// own work may still be the request's (glance's image import goes on for
// as long as the image takes to copy).
const acceptedWindow = 10 * time.Minute

// acceptedGap is how long work after a 202 may pause and still be taken
// for the same work by the resource's id alone (linkAccepted).
const acceptedGap = 10 * time.Second

// accepted knows the requests each service answered 202 Accepted (the
// request taken, its work not done) and the ids every request into such
// a service names: in its target, and in the work placed under it so far
// (the task glance's import inserted), by id, so that a group looks up
// the requests that name its ids instead of reading every request's
// tree.
//
// Groups come in order of start, and a request is of use only while it is
// in progress or answered less than acceptedWindow before: sweep forgets
// the others, so the index holds what a window of the capture names, not
// the capture's.
type accepted struct {
	b        *builder
	services map[string]bool           // services that answered 202
	ids      map[*Node]map[string]bool // what each request names
	byID     map[string][]*Node        // the requests naming each id
	swept    int                       // len(ids) after the last sweep
	// answered: the requests answered 202, by start, not yet indexed
	// (a group indexes those begun before it: advance)
	answered []*Node
}

// sweep forgets the requests answered more than acceptedWindow before
// now, when the index has doubled since the last sweep (each sweep reads
// it whole: linear over the capture).
func (a *accepted) sweep(now time.Time) {
	if len(a.ids) < 2*a.swept+64 {
		return
	}
	for r := range a.ids {
		if now.Sub(r.End) > acceptedWindow {
			delete(a.ids, r)
		}
	}
	for id, rs := range a.byID {
		rs = slices.DeleteFunc(rs, func(r *Node) bool { _, ok := a.ids[r]; return !ok })
		if len(rs) == 0 {
			delete(a.byID, id)
		} else {
			a.byID[id] = rs
		}
	}
	a.swept = len(a.ids)
}

func (b *builder) acceptedBy() *accepted {
	a := &accepted{b: b}
	for _, n := range b.nodes {
		if n.Proto == "http" && n.server != "" && n.Status == 202 {
			if a.services == nil {
				a.services, a.ids, a.byID = map[string]bool{}, map[*Node]map[string]bool{}, map[string][]*Node{}
			}
			a.services[n.server] = true
			a.answered = append(a.answered, n) // (b.nodes are by start)
		}
	}
	return a
}

// advance indexes the requests answered 202 that began before t: their
// targets' ids, found by id from then on.
func (a *accepted) advance(t time.Time) {
	for len(a.answered) > 0 && a.answered[0].Start.Before(t) {
		a.of(a.answered[0])
		a.answered = a.answered[1:]
	}
}

// of returns what request r names, reading its target the first time.
func (a *accepted) of(r *Node) map[string]bool {
	if ids, ok := a.ids[r]; ok {
		return ids
	}
	ids := map[string]bool{}
	a.b.namedIDs(ids, []*Node{r})
	a.drop(ids, r)
	keepResourceIDs(ids)
	a.ids[r] = ids
	for id := range ids {
		a.byID[id] = append(a.byID[id], r)
	}
	return ids
}

// drop removes the ids of who made r (its tokens' user, domain and
// project): the same for everything one user or service does.
func (a *accepted) drop(ids map[string]bool, ns ...*Node) {
	for _, n := range ns {
		for _, t := range []*Token{n.token, n.subject} {
			if t != nil {
				for _, id := range t.ids {
					delete(ids, id)
				}
			}
		}
	}
}

// placed records that group g went under request r.
func (a *accepted) placed(r *Node, g []*Node) {
	if a.services == nil || r.Proto != "http" || !a.services[r.server] || g[0].Ambiguous() {
		return // (what a guess put under r is not r's evidence)
	}
	ids := a.of(r)
	add := map[string]bool{}
	a.b.namedIDs(add, g)
	a.drop(add, g...)
	a.drop(add, r)
	keepResourceIDs(add)
	for id := range add {
		if !ids[id] {
			ids[id] = true
			a.byID[id] = append(a.byID[id], r)
		}
	}
}

// linkAccepted places group g under a request its service answered 202
// Accepted before g began (on the same host, within acceptedWindow) when
// g names an id that request named, in its target or in the work done
// for it so far (the task glance's import inserted): the work the answer
// said would go on (glance importing an image after POST
// /v2/images/{id}/import). It reports whether it placed g.
//
// When requests are in progress too (cands), g goes to the answered one
// only when each of them is about something else: its target names ids,
// none of them g's (two imports at once, the first one's work running
// while the second is being answered, are told apart by their images),
// and no link ties g to it. Otherwise the answered requests that name
// g's ids are returned as rivals: g is placed as usual, and when no link
// decided, as a guess among them all (an image list while an import goes
// on looks the importing image's tags up too). With no request in
// progress and several answered ones naming its ids, g goes under the
// latest, a guess among them. An id every request involved names tells
// none of them apart.
func (b *builder) linkAccepted(g []*Node, a *accepted, cands []*Node, linked func(*Node) bool) (done bool, rivals []*Node) {
	first := g[0]
	if !a.services[first.caller] {
		return false, nil
	}
	a.sweep(first.Start)
	a.advance(first.Start)
	ids := map[string]bool{}
	b.namedIDs(ids, g)
	a.drop(ids, g...)
	keepResourceIDs(ids)
	if len(ids) == 0 {
		return false, nil
	}
	host := first.Ex.Conn.Client.Addr()
	var match []*Node
	for id := range ids {
		rs := a.byID[id]
		for _, r := range rs {
			if r.Status == 202 && r.server == first.caller && r.End.Before(first.Start) &&
				first.Start.Sub(r.End) <= acceptedWindow && r.Ex.Conn.Server.Addr() == host && !slices.Contains(match, r) {
				match = append(match, r)
			}
		}
	}
	if len(match) == 0 {
		return false, nil
	}
	slices.SortFunc(match, func(x, y *Node) int { return y.End.Compare(x.End) }) // the latest answered first
	named := func(r *Node) map[string]bool {
		set := map[string]bool{}
		for id := range a.of(r) {
			if ids[id] {
				set[id] = true
			}
		}
		return set
	}
	sets := make([]map[string]bool, len(match))
	for k, r := range match {
		sets[k] = named(r)
	}
	cs := make([]map[string]bool, len(cands))
	for k, c := range cands {
		cs[k] = named(c)
	}
	all := append(slices.Clone(sets), cs...)
	tells := func(set map[string]bool) bool {
		for id := range set {
			if len(all) == 1 || slices.ContainsFunc(all, func(o map[string]bool) bool { return !o[id] }) {
				return true
			}
		}
		return false
	}
	if slices.ContainsFunc(cs, tells) {
		return false, nil // a request in progress names it too: weighed as usual
	}
	kept := match[:0]
	for k, r := range match {
		if tells(sets[k]) {
			kept = append(kept, r)
		}
	}
	match = kept
	if len(match) == 0 {
		return false, nil
	}
	if len(cands) > 0 {
		if slices.ContainsFunc(cands, linked) {
			return false, nil // a link decides
		}
		elsewhere := func(c *Node) bool { // its target names ids, none of g's
			own := map[string]bool{}
			b.namedIDs(own, []*Node{c})
			a.drop(own, c)
			for id := range own {
				if ids[id] {
					return false
				}
			}
			return len(own) > 0
		}
		if len(match) > 1 || !every(cands, elsewhere) {
			return false, match
		}
	}
	best := match[0]
	placed := ByContent
	var tied []*Node
	if len(match) > 1 {
		placed, tied = ByTiming, slices.Clone(match)
	}
	// Certain when g names an id only the request's own work gave (the
	// task glance's import inserted), or carries its work on (within
	// acceptedGap of the answer or of the last group placed after it); an
	// id of its target alone, long after, may be any later work on that
	// resource (glance's cache prefetcher): a guess.
	learned := func() bool {
		own := map[string]bool{}
		b.namedIDs(own, []*Node{best})
		for id := range sets[0] {
			if !own[id] {
				return true
			}
		}
		return false
	}
	prev := best.End
	if k := len(best.Children); k > 0 && best.Children[k-1].afterAnswer {
		prev = later(prev, best.Children[k-1].End)
	}
	unsure := placed == ByContent && first.Start.Sub(prev) > acceptedGap && !learned()
	if unsure {
		placed = ByTiming
	}
	if len(best.Children) == 0 || !best.Children[len(best.Children)-1].afterAnswer {
		best.note(best.to, false, fmt.Sprintf("%s answered 202 Accepted and goes on with the work after it", best.to.Name))
	}
	for _, n := range g {
		n.parent, n.Placed, n.candidates, n.afterAnswer, n.unsure = best, placed, tied, true, unsure
		best.Children = append(best.Children, n)
	}
	a.placed(best, g)
	return true, nil
}

// keepResourceIDs keeps the dashed UUIDs of ids: 32 hex digits are
// keystone's ids and checksums (md5), not the resources a 202 goes on
// with.
func keepResourceIDs(ids map[string]bool) {
	for id := range ids {
		if len(id) != 36 {
			delete(ids, id)
		}
	}
}

func every[T any](s []T, f func(T) bool) bool {
	for _, v := range s {
		if !f(v) {
			return false
		}
	}
	return true
}

// namedIDs adds to ids the ids the nodes ns name, in their SQL literals
// or the segments of their targets, anywhere a string shaped like an
// OpenStack id is (a UUID, with or without dashes; inside JSON too): the
// only literals specific enough to tie work to a request long after it.
func (b *builder) namedIDs(ids map[string]bool, ns []*Node) {
	for _, n := range ns {
		switch {
		case n.sql != nil && n.Role == RoleQuery:
			for _, l := range n.sql.literals {
				idsIn(ids, l)
			}
		case n.Proto == "http":
			// its target's segments and query values (literals adds the
			// ids of its tokens, which say who, not what: dropped by the
			// caller)
			for l := range b.literals(n) {
				idsIn(ids, l)
			}
		}
	}
}

// idsIn adds the UUIDs (8-4-4-4-12 hex digits) and 32-hex-digit ids in s
// to ids.
func idsIn(ids map[string]bool, s string) {
	for i := 0; i+32 <= len(s); i++ {
		if !isHexDigit(s[i]) || i > 0 && isHexDigit(s[i-1]) {
			continue
		}
		j := i
		for j < len(s) && (isHexDigit(s[j]) || s[j] == '-') && j-i < 36 {
			j++
		}
		if id := s[i:j]; isID(id) && (j == len(s) || !isHexDigit(s[j])) {
			ids[id] = true
		} else if j-i >= 32 && isID(s[i:i+32]) && (i+32 == len(s) || !isHexDigit(s[i+32])) {
			ids[s[i:i+32]] = true
		}
	}
}

// isID reports whether s is shaped like an OpenStack id: a UUID
// (8-4-4-4-12 hex digits) or 32 hex digits.
func isID(s string) bool {
	switch len(s) {
	case 36:
		for i := 0; i < 36; i++ {
			c := s[i]
			if i == 8 || i == 13 || i == 18 || i == 23 {
				if c != '-' {
					return false
				}
			} else if !isHexDigit(c) {
				return false
			}
		}
		return true
	case 32:
		for i := 0; i < 32; i++ {
			if !isHexDigit(s[i]) {
				return false
			}
		}
		return true
	}
	return false
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
