package flow

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"time"
)

// linkParents attaches every node made by a service to the request that
// service was serving: among the requests in progress on the caller's host
// when it started, the one whose token it is about wins, then the one whose
// token it helps validate, then the innermost (latest started).
func (b *builder) linkParents() {
	inbound := map[string]*timeline[*Node]{}
	for _, n := range b.nodes {
		if n.Proto == "http" && n.server != "" {
			if inbound[n.server] == nil {
				inbound[n.server] = &timeline[*Node]{}
			}
			inbound[n.server].add(n, n.Start, b.until(n.Ex))
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
	for _, g := range b.groups() {
		first := g[0]
		if first.caller == "" {
			continue
		}
		last := g[len(g)-1]
		sticky := lastParent[first.Ex.Conn.ID]
		var best *Node
		bestScore := math.MinInt
		inbound[first.caller].around(first.Start, func(r *Node) {
			if r == first || r.Ex.Conn.Server.Addr() != first.Ex.Conn.Client.Addr() {
				return
			}
			if r.Role == RoleDiscovery && first.Proto == "mysql" {
				return // version documents are static: no DB behind them
			}
			if !r.Start.Before(first.Start) && !(r.Start.Equal(first.Start) && r.Ex.Conn.ID < first.Ex.Conn.ID) {
				return
			}
			score := 0
			// Exact links, when the services send them: the global
			// request id a service passes on, osprofiler's trace id.
			if id := first.reqHeader("X-OpenStack-Request-ID"); id != "" && id == r.respHeader("X-OpenStack-Request-ID") {
				score += 200
			}
			if base := traceBase(first); base != "" && base == traceBase(r) {
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
			if !b.until(r.Ex).Before(last.End) {
				score += 10
			}
			if r == sticky {
				score += 20
			} else if first.Proto == "mysql" {
				// Each request in progress holds one pooled connection at a
				// time: prefer a request no other connection is serving.
				score -= 5 * bound[r]
			}
			if score > bestScore || score == bestScore && closer(r, best, first, last) {
				best, bestScore = r, score
			}
		})
		if best == nil {
			continue
		}
		if first.Proto == "mysql" {
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
		}
	}
}

// closer reports whether request r is a better home than best for the
// group first..last, other evidence being equal: the request, the one that started last.
func closer(r, best, first, last *Node) bool {
	return r.Start.After(best.Start)
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
func traceBase(n *Node) string {
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
