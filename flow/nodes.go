package flow

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/decoder/memcache"
	"github.com/flowmap/flowmap/decoder/mysql"
	"github.com/flowmap/flowmap/flow/registry"
)

func (b *builder) participant(name string, kind Kind, addr string) *Participant {
	p := b.parts[name]
	if p == nil {
		p = &Participant{Name: name, Kind: kind}
		b.parts[name] = p
	}
	if addr != "" {
		for _, a := range p.Addrs {
			if a == addr {
				return p
			}
		}
		p.Addrs = append(p.Addrs, addr)
	}
	return p
}

// callerParticipant is the lifeline of the process on the client side of
// a connection.
func (b *builder) callerParticipant(n *Node) *Participant {
	c := n.Ex.Conn
	name := b.caller[c.ID]
	switch {
	case name == "":
		if o := b.override(c.Client); o != "" {
			return b.participant(o, Host, c.Client.Addr().String())
		}
		return b.participant(c.Client.Addr().String(), Host, c.Client.Addr().String())
	case b.isService(name):
		n.caller = name
		return b.participant(name, Service, "")
	default:
		return b.participant(name, Client, c.Client.Addr().String())
	}
}

func (b *builder) isService(name string) bool {
	if registry.Known(name) {
		return true
	}
	for _, s := range b.srvName {
		if s == name {
			return true
		}
	}
	return false
}

// nodes makes a Node of every exchange, with its participants, role,
// summary and tokens.
func (b *builder) makeNodes() {
	memcached := map[string]bool{}
	for _, e := range b.exs {
		if _, ok := e.Request.(*memcache.Request); ok {
			memcached[e.Conn.Server.String()] = true
		}
	}
	for _, e := range b.exs {
		b.lastOnConn[e.Conn.ID] = e
	}
	for _, e := range b.exs {
		n := &Node{Ex: e, Proto: e.Proto, Start: e.Start(), End: e.End(), Truncated: e.Truncated}
		n.from = b.callerParticipant(n)
		srv := e.Conn.Server
		switch req := e.Request.(type) {
		case *http.Request:
			n.server = b.srvName[srv]
			kind := Service
			if !b.isService(n.server) {
				kind = Host
			}
			n.to = b.participant(n.server, kind, srv.String())
			b.httpNode(n, req)
		case *memcache.Request:
			name := "memcached"
			if o := b.override(srv); o != "" {
				name = o
			} else if len(memcached) > 1 {
				name += " " + srv.String()
			}
			n.to = b.participant(name, Cache, srv.String())
			b.memcacheNode(n, req)
		case *mysql.Request:
			name := "database"
			if n.caller != "" {
				name = n.caller + " DB"
			}
			if o := b.override(srv); o != "" {
				name = o
			}
			n.to = b.participant(name, DB, srv.String())
			b.mysqlNode(n, req)
		default:
			name := b.override(srv)
			if name == "" {
				name = srv.String()
			}
			n.to = b.participant(name, Host, srv.String())
			n.Role = RoleCall // a protocol flowmap has no story for: a call and its answer
			n.Summary = e.Request.Summary()
		}
		n.From, n.To = n.from.Name, n.to.Name
		n.RequestEnd, n.ResponseStart = e.ReqEnd, e.RespStart
		n.Outcome = b.outcome(n)
		if n.token != nil {
			n.Token = n.token.Fingerprint
		}
		if n.subject != nil {
			n.SubjectToken = n.subject.Fingerprint
		}
		b.nodes = append(b.nodes, n)
	}
	// A token a service presents to validate others is that service's
	// own, even when it was issued before the capture.
	for _, n := range b.nodes {
		if t := n.token; n.Role == RoleValidate && t != nil && t.User == "" && n.caller != "" {
			t.Owner = n.caller + " token"
		}
	}
}

// outcome says how n ended. An exchange with no answer is in progress
// when nothing followed it on its connection (the capture may have ended
// first), lost when the connection went on.
func (b *builder) outcome(n *Node) Outcome {
	switch {
	case n.Ex.Response == nil && n.NoReply:
		return NoAnswer
	case n.Ex.Response == nil && b.lastOnConn[n.Ex.Conn.ID] != n.Ex:
		return Lost
	case n.Ex.Response == nil:
		return InProgress
	case n.Error:
		return Failed
	case n.Proto == "memcache" && n.Result == "miss":
		return Miss
	}
	return OK
}

func (b *builder) httpNode(n *Node, req *http.Request) {
	resp, _ := n.Ex.Response.(*http.Response)
	n.Summary = req.Method + " " + req.Target
	n.token = b.tokens[req.Header(registry.AuthTokenHeader)]
	n.Role = RoleCall
	switch {
	case registry.Authentication(req.Method, req.Target):
		n.Role = RoleAuth
		n.User, _, n.Project = b.authRequest(req.Body)
		if resp != nil {
			n.subject = b.tokens[resp.Header(registry.SubjectTokenHeader)]
		}
	case registry.Validation(req.Method, req.Target):
		n.Role = RoleValidate
		n.subject = b.tokens[req.Header(registry.SubjectTokenHeader)]
	case registry.Discovery(req.Method, req.Target):
		n.Role = RoleDiscovery
	}
	n.Op, n.Target = req.Method, req.Target
	if req.BodyBytes > 0 {
		n.RequestBytes = ptr(req.BodyBytes)
		n.RequestType = req.Header("Content-Type")
	}
	n.RequestChunked = req.Chunked
	if resp != nil {
		n.Status = resp.Status
		n.Result = resp.Reason
		n.Error = resp.Status >= 400
		if resp.BodyBytes > 0 {
			n.ResponseBytes = ptr(resp.BodyBytes)
			n.ResponseType = resp.Header("Content-Type")
			n.Bulk = resp.BodyBytes >= b.bulkBytes()
		}
	}
}

func ptr[T any](v T) *T { return &v }

func (b *builder) bulkBytes() int64 {
	if b.opts.BulkBytes > 0 {
		return b.opts.BulkBytes
	}
	return 64 << 10
}

func (b *builder) memcacheNode(n *Node, req *memcache.Request) {
	resp, _ := n.Ex.Response.(*memcache.Response)
	switch req.Command {
	case "get", "gets", "gat", "gats", "mg", "getk", "getq", "getkq":
		n.Role = RoleCacheGet
	case "set", "add", "replace", "cas", "ms", "setq", "addq":
		n.Role = RoleCacheSet
	default:
		n.Role = RoleCache
	}
	for _, k := range req.Keys {
		if t := b.cacheToken(k); t != nil {
			n.subject = t
			break
		}
	}
	n.Summary = req.Summary()
	n.Op, n.Target = req.Command, strings.Join(req.Keys, " ")
	n.RequestBytes, n.Expiry, n.NoReply = req.Bytes, req.Exptime, req.Noreply
	if resp != nil {
		n.Result = resp.Result
		n.Error = strings.Contains(resp.Result, "error")
		n.Message = resp.Message
		if len(resp.Values) > 0 {
			var sum int64
			for _, v := range resp.Values {
				sum += v.Bytes
			}
			n.ResponseBytes = &sum
		}
	}
}

func (b *builder) mysqlNode(n *Node, req *mysql.Request) {
	resp, _ := n.Ex.Response.(*mysql.Response)
	n.Role = RoleQuery
	if req.Command == "login" {
		n.Role = RoleLogin
		n.Summary = fmt.Sprintf("login %s", req.User)
		if req.Database != "" {
			n.Summary += "@" + req.Database
		}
	} else if req.Query != "" {
		n.Summary = req.Query
	} else {
		n.Summary = req.Command
	}
	n.Op, n.Target = req.Command, req.Query
	n.Signature = QuerySignature(req.Query)
	if resp != nil {
		n.Result = resp.Result
		n.Error = resp.Result == "error"
		n.Rows = resp.Rows
		if resp.ErrorCode != nil {
			n.ErrorCode = ptr(int(*resp.ErrorCode))
		}
		n.Message = resp.Error
	}
}

// parents attaches every node made by a service to the request that
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
	q := strings.ToUpper(strings.TrimSpace(n.Summary))
	return q == "ROLLBACK" || q == "COMMIT"
}

// model orders participants as a person would draw them (clients, then
// each service followed by its database, then caches, then the rest) and
// returns the trees.
func (b *builder) model() *Model {
	m := &Model{Tokens: b.order}
	for _, n := range b.nodes {
		if n.parent == nil {
			m.Roots = append(m.Roots, n)
		}
		sortNodes(n.Children)
	}
	sortNodes(m.Roots)
	m.sessions()
	first := map[*Participant]int{}
	i := 0
	m.Walk(func(n *Node, _ int) {
		for _, p := range []*Participant{n.from, n.to} {
			if _, ok := first[p]; !ok {
				first[p] = i
				i++
			}
		}
	})
	rank := func(p *Participant) (int, int) {
		switch p.Kind {
		case Client:
			return 0, first[p]
		case Service:
			return 1, first[p]
		case DB:
			// right after its service
			if s := b.parts[strings.TrimSuffix(p.Name, " DB")]; s != nil && s != p {
				return 1, first[s]
			}
			return 3, first[p]
		case Cache:
			return 2, first[p]
		}
		return 4, first[p]
	}
	for _, p := range b.parts {
		if _, ok := first[p]; ok {
			m.Participants = append(m.Participants, p)
		}
	}
	sort.SliceStable(m.Participants, func(i, j int) bool {
		a, b := m.Participants[i], m.Participants[j]
		ra, fa := rank(a)
		rb, fb := rank(b)
		if ra != rb {
			return ra < rb
		}
		if fa != fb {
			return fa < fb
		}
		return a.Kind != DB && b.Kind == DB
	})
	return m
}

// reqHeader and respHeader read a header of an HTTP node ("" otherwise).
func (n *Node) reqHeader(name string) string {
	if req, _ := n.httpMsgs(); req != nil {
		return req.Header(name)
	}
	return ""
}

func (n *Node) respHeader(name string) string {
	if _, resp := n.httpMsgs(); resp != nil {
		return resp.Header(name)
	}
	return ""
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
