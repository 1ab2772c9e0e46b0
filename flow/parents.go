package flow

import (
	"encoding/base64"
	"encoding/json"
	"math"
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
	// Tokens a service obtained for itself, to place its authentication
	// with the validation that uses the token.
	usedFor := map[*Token][]*Token{} // service token -> tokens it validated
	for _, n := range b.nodes {
		if n.Role == RoleValidate && n.token != nil && n.subject != nil {
			usedFor[n.token] = append(usedFor[n.token], n.subject)
		}
	}
	// A pooled DB connection serves one request at a time, and a thread
	// that gives its connection back and asks again gets the same one:
	// consecutive checkouts on a connection stay with the request they
	// served while it is still in progress.
	lastParent := map[int]*Node{}
	bound := map[*Node]int{} // request -> DB connections serving it
	// A request does not run the same query with the same literals twice
	// (two logins of one user at once each look it up once).
	ran := map[*Node]map[string]bool{}
	for _, g := range b.groups() {
		first := g[0]
		if first.caller == "" {
			continue
		}
		last := g[len(g)-1]
		db := first.Proto == "mysql"
		var cands []*Node
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
			cands = append(cands, r)
		})
		broken := false // every candidate broke causality: timing alone is a guess
		if db {
			cands, broken = b.causal(cands, first)
		}
		if len(cands) == 0 {
			continue
		}
		link := func(r *Node) int {
			score := 0
			if id := first.reqHeader("X-OpenStack-Request-ID"); id != "" && id == r.respHeader("X-OpenStack-Request-ID") {
				score += 200
			}
			if base := b.traceBase(first); base != "" && base == b.traceBase(r) {
				score += 150
			}
			if r.token != nil {
				for _, n := range g {
					if n.subject == r.token {
						score += 100
						break
					}
				}
				if first.token == r.token {
					score += 80 // passes the user's token on (nova → glance)
				}
				if first.Role == RoleAuth && first.subject != nil {
					for _, t := range usedFor[first.subject] {
						if t == r.token {
							score += 50
							break
						}
					}
				}
			}
			return score
		}
		var lits []string
		if db && !b.noContent {
			lits = groupLiterals(g)
		}
		content := func(r *Node) int { return b.contentMatch(lits, r, cands) }
		sticky := lastParent[first.Ex.Conn.ID]
		timing := func(r *Node) int {
			score := 0
			if !b.until(r.Ex).Before(last.End) {
				score += 10
			}
			if r == sticky {
				score += 20
			} else if db {
				// Each request in progress holds one pooled connection at a
				// time: prefer a request no other connection is serving.
				score -= 5 * bound[r]
			}
			return score
		}
		// A request that already ran one of the group's queries, literals
		// and all, is not the one running it again.
		fresh := func(r *Node) int {
			for _, n := range g {
				if ran[r][n.Summary] {
					return -1
				}
			}
			return 0
		}
		// (a weak exclusion, not evidence of the parent: it ranks first
		// among the timing rules)
		best, placed, tied := choose(cands, []tier{{ByLink, link}, {ByContent, content}}, func(r *Node) int {
			return 1000*fresh(r) + timing(r)
		})
		for _, n := range g {
			n.Placed = placed
			if len(tied) > 1 {
				n.candidates = tied
			}
			n.unsure = placed == ByTiming && broken
		}
		if db {
			if sticky != nil && sticky != best {
				bound[sticky]--
			}
			if sticky != best {
				bound[best]++
			}
			lastParent[first.Ex.Conn.ID] = best
		}
		for _, n := range g {
			n.parent = best
			best.Children = append(best.Children, n)
			if db && n.Role == RoleQuery && strings.Contains(n.Summary, "'") {
				if ran[best] == nil {
					ran[best] = map[string]bool{}
				}
				ran[best][n.Summary] = true
			}
		}
	}
}

// tier is one kind of evidence: a score per candidate, higher is better.
type tier struct {
	kind  Placement
	score func(*Node) int
}

// choose returns the candidate the evidence points to, the kind of
// evidence that decided, and, when timing decided, the candidates that
// stronger evidence could not tell apart. Each tier only breaks the ties
// the ones before it left; among candidates still tied, the latest started
// wins (cands come latest first).
func choose(cands []*Node, tiers []tier, timing func(*Node) int) (*Node, Placement, []*Node) {
	left := cands
	for _, t := range tiers {
		keep, top := best(left, t.score)
		if len(keep) == 1 && (top > 0 || len(left) > 1) {
			return keep[0], t.kind, nil
		}
		left = keep
	}
	keep, _ := best(left, timing)
	return keep[0], ByTiming, left
}

// best returns the nodes of ns with the top score, in order, and the score.
func best(ns []*Node, score func(*Node) int) ([]*Node, int) {
	top := math.MinInt
	var keep []*Node
	for _, n := range ns {
		switch s := score(n); {
		case s > top:
			top, keep = s, []*Node{n}
		case s == top:
			keep = append(keep, n)
		}
	}
	return keep, top
}

// causal drops the candidates whose token check had not ended when DB
// work n started (keystonemiddleware runs before the service's own code);
// when that would drop them all, the check was not captured as expected,
// nothing is dropped and broken says so (a placement by timing is then a
// guess even among one candidate).
func (b *builder) causal(cands []*Node, n *Node) (keep []*Node, broken bool) {
	for _, r := range cands {
		if end := b.checkEnd(r); end.IsZero() || !end.After(n.Start) {
			keep = append(keep, r)
		}
	}
	if len(keep) == 0 {
		return cands, len(cands) > 0
	}
	return keep, false
}

// groups cuts the nodes into units that share one parent: a DB
// connection's queries from checkout to ROLLBACK/COMMIT (SQLAlchemy's pool
// hands a connection to one request at a time), every other node alone.
func (b *builder) groups() [][]*Node {
	var out [][]*Node
	open := map[int]int{}   // conn ID -> index in out of its open group
	closed := map[int]int{} // conn ID -> index of the group a ROLLBACK/COMMIT ended
	for _, n := range b.nodes {
		if n.Proto != "mysql" {
			out = append(out, []*Node{n})
			continue
		}
		id := n.Ex.Conn.ID
		if i, ok := closed[id]; ok && endsCheckout(n) && n.Start.Sub(out[i][len(out[i])-1].End) < 50*time.Millisecond {
			// SQLAlchemy's reset-on-return rolls back twice.
			out[i] = append(out[i], n)
			continue
		}
		delete(closed, id)
		i, ok := open[id]
		if ok && n.Start.Sub(out[i][len(out[i])-1].End) > 200*time.Millisecond {
			ok = false
		}
		if !ok {
			out = append(out, nil)
			i = len(out) - 1
			open[id] = i
		}
		out[i] = append(out[i], n)
		if endsCheckout(n) {
			delete(open, id)
			closed[id] = i
		}
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
	if id, ok := b.traces[n]; ok {
		return id
	}
	id := decodeTraceBase(n)
	b.traces[n] = id
	return id
}

func decodeTraceBase(n *Node) string {
	h := n.reqHeader("X-Trace-Info")
	if h == "" {
		return ""
	}
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
