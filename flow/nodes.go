package flow

import (
	"fmt"
	"slices"
	"strings"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/decoder/memcache"
	"github.com/flowmap/flowmap/decoder/mysql"
	"github.com/flowmap/flowmap/flow/registry"
)

// makeNodes makes a Node of every exchange, with its participants, role,
// summary and tokens.
func (b *builder) makeNodes() {
	memcached := map[string]bool{}
	for _, e := range b.exs {
		if _, ok := e.Request.(*memcache.Request); ok {
			memcached[e.Conn.Server.String()] = true
		}
	}
	// The nodes are allocated nodeChunk at a time, not one by one (a
	// capture has tens of thousands).
	var chunk []Node
	b.nodes = slices.Grow(b.nodes, len(b.exs))
	// Both lifelines of an exchange follow from its connection alone (the
	// process calling, the server and what it serves): they are worked
	// out, and their address strings formatted, once per connection.
	ends := map[int]connEnds{}
	for i, e := range b.exs {
		b.at = e.Start()
		if len(chunk) == 0 {
			chunk = make([]Node, min(nodeChunk, len(b.exs)-i))
		}
		n := &chunk[0] // zeroed: set field by field, not copied whole
		chunk = chunk[1:]
		n.Ex, n.Proto, n.Start, n.End, n.Truncated = e, e.Proto, e.Start(), e.End(), e.Truncated
		ce, known := ends[e.Conn.ID]
		if known {
			n.from, n.caller = ce.from, ce.caller
		} else {
			n.from = b.callerParticipant(n)
			ce.byTiming = b.callerByTiming[e.Conn.ID]
		}
		n.CallerByTiming = ce.byTiming
		srv := e.Conn.Server
		switch req := e.Request.(type) {
		case *http.Request:
			n.server = b.srvName[srv]
			if !known {
				kind := Service
				switch {
				case b.isProxy(n.server):
					kind = Proxy
				case !b.isService(n.server):
					kind = Host
				}
				ce.to = b.participant(n.server, kind, srv.String())
			}
			n.to = ce.to
			b.httpNode(n, req)
		case *memcache.Request:
			if !known {
				name := "memcached"
				if o := b.override(srv); o != "" {
					name = o
				} else if len(memcached) > 1 {
					name += " " + srv.String()
				}
				ce.to = b.participant(name, Cache, srv.String())
			}
			n.to = ce.to
			b.memcacheNode(n, req)
		case *mysql.Request:
			if !known {
				name := "database"
				if n.caller != "" {
					name = b.dbName(n)
				}
				if o := b.override(srv); o != "" {
					name = o
				}
				ce.to = b.participant(name, DB, srv.String())
			}
			n.to = ce.to
			b.mysqlNode(n, req, b.sqlOf[i])
		default:
			if !known {
				name := b.override(srv)
				if name == "" {
					name = srv.String()
				}
				ce.to = b.participant(name, Host, srv.String())
			}
			n.to = ce.to
			n.Role = RoleCall // a protocol flowmap has no story for: a call and its answer
			n.Summary = e.Request.Redacted().Summary()
			if e.Response != nil {
				n.Result = e.Response.Redacted().Summary()
			}
		}
		if !known {
			ce.from, ce.caller = n.from, n.caller
			ends[e.Conn.ID] = ce
		}
		n.From, n.To = n.from.Name, n.to.Name
		n.RequestEnd, n.ResponseStart = e.ReqEnd, e.RespStart
		n.Conn, n.System = e.Conn.ID, system(e.Proto)
		n.Outcome = b.outcome(n)
		if n.token != nil {
			n.Token = n.token.Fingerprint
		}
		if n.subject != nil {
			n.SubjectToken = n.subject.Fingerprint
		}
		if n.service != nil {
			n.ServiceToken = n.service.Fingerprint
		}
		b.nodes = append(b.nodes, n)
	}
	// A token a service presents to validate others is that service's
	// own, even when it was issued before the capture.
	for _, n := range b.nodes {
		if t := n.token; n.Role == RoleValidate && t != nil && t.User == "" && n.caller != "" {
			t.heldBy = n.caller
			t.Owner = n.caller + " token"
		}
	}
}

// nodeChunk is how many nodes makeNodes allocates at once: one chunk
// (about 24 kB) is still a small object, made from memory the runtime has
// freed; one block for all (megabytes) would take fresh pages and add to
// the peak RSS.
const nodeChunk = 32

// connEnds are the lifelines of a connection's exchanges, the service
// calling (Node.caller) and whether only timing named it.
type connEnds struct {
	from, to *Participant
	caller   string
	byTiming bool
}

// lastOn is the last exchange of connection id, which has an exchange
// without an answer (only those ask). The table is made when first asked,
// of those connections only.
func (b *builder) lastOn(id int) *decoder.Exchange {
	if b.lastOnConn == nil {
		b.lastOnConn = map[int]*decoder.Exchange{}
		for _, e := range b.exs {
			if e.Response == nil {
				b.lastOnConn[e.Conn.ID] = nil
			}
		}
		for _, e := range b.exs {
			if _, ok := b.lastOnConn[e.Conn.ID]; ok {
				b.lastOnConn[e.Conn.ID] = e
			}
		}
	}
	return b.lastOnConn[id]
}

func (b *builder) participant(name string, kind Kind, addr string) *Participant {
	p := b.parts[name]
	if p == nil {
		p = &Participant{Name: name, Kind: kind}
		b.parts[name] = p
	}
	if addr != "" {
		if b.regs != nil {
			// every time, not only the first: a node before a cut may
			// name an address a node after it named first (segments.go)
			*b.regs = append(*b.regs, reg{p, addr, b.at})
		}
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
	case b.isProxy(name):
		n.caller = name
		return b.participant(name, Proxy, "")
	case b.isService(name):
		n.caller = name
		return b.participant(name, Service, "")
	default:
		host := c.Client.Addr()
		if a, ok := b.relayedFor[c.ID]; ok && a.IsValid() {
			host = a // a proxy's connection: the client it names is the host behind
		}
		return b.participant(name, Client, host.String())
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

// outcome says how n ended. An exchange with no answer is in progress
// when nothing followed it on its connection (the capture may have ended
// first), lost when the connection went on.
func (b *builder) outcome(n *Node) Outcome {
	switch {
	case n.Ex.Response == nil && n.NoReply:
		return NoAnswer
	case n.Ex.Response == nil && b.lastOn(n.Ex.Conn.ID) != n.Ex:
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
	// printable strings come from the redacted message; flow correlates
	// on the raw one. Only the target is printed: a copy without headers
	// and body is redacted (each field is redacted on its own), which
	// spares scanning the JSON bodies.
	target := req.Target
	bare := *req
	bare.Headers, bare.Trailers, bare.Body = nil, nil, ""
	if r, ok := bare.Redacted().(*http.Request); ok {
		target = r.Target
	}
	n.Summary = req.Method + " " + target
	n.token = b.tokens[req.Header(registry.AuthTokenHeader)]
	if st := req.Header(registry.ServiceTokenHeader); st != "" {
		n.service = b.tokens[st]
	}
	n.Role = RoleCall
	switch {
	case registry.Authentication(req.Method, req.Target):
		n.Role = RoleAuth
		n.User, _, n.Project = b.authRequest(req.Body)
		if resp != nil {
			n.subject = b.tokens[resp.Header(registry.SubjectTokenHeader)]
		}
		// A login whose request names nobody (an application credential
		// by id) is said by the token keystone issued for it.
		if t := n.subject; t != nil && n.User == "" {
			n.User = t.User
			if n.Project == "" {
				n.Project = t.Project
			}
		}
	case registry.Validation(req.Method, req.Target):
		n.Role = RoleValidate
		n.subject = b.tokens[req.Header(registry.SubjectTokenHeader)]
	case registry.Revocation(req.Method, req.Target):
		n.Role = RoleRevoke
		n.subject = b.tokens[req.Header(registry.SubjectTokenHeader)]
	case registry.Discovery(req.Method, req.Target):
		n.Role = RoleDiscovery
	}
	n.Op, n.Target = req.Method, target
	if req.BodyBytes > 0 {
		n.RequestBytes = ptr(req.BodyBytes)
		n.RequestType = req.Header("Content-Type")
	}
	n.RequestChunked = req.Chunked
	if resp != nil {
		n.Status = resp.Status
		n.Result = resp.Policy().Text(resp.Reason) // a reason phrase may quote a token
		n.Error = resp.Status >= 400
		if n.Error {
			// what the service says went wrong, redacted as the body is
			// printed (a message may quote what it refused)
			n.Message = printedMessage(resp.Policy(), resp.Header("Content-Type"), resp.Body)
		}
		if resp.BodyBytes > 0 {
			n.ResponseBytes = ptr(resp.BodyBytes)
			n.ResponseType = resp.Header("Content-Type")
			n.Bulk = resp.BodyBytes >= b.bulkBytes()
		}
	}
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
	// Only the keys are printed: a copy without the value (a token's
	// whole validation JSON, under keystonemiddleware's keys) is redacted,
	// which spares scanning it (each field is redacted on its own).
	bare := *req
	bare.Value = ""
	shown := &bare
	if r, ok := bare.Redacted().(*memcache.Request); ok {
		shown = r
	}
	n.Summary = shown.Summary()
	n.Op, n.Target = req.Command, strings.Join(shown.Keys, " ")
	n.RequestBytes, n.Expiry, n.NoReply = req.Bytes, req.Exptime, req.Noreply
	if resp != nil {
		n.Result = resp.Result
		n.Error = strings.Contains(resp.Result, "error")
		n.Message = resp.Message
		// Only the message is printed: an empty one has nothing to redact
		// (redacting the values, not printed, is the cost spared).
		if resp.Message != "" {
			if r, ok := resp.Redacted().(*memcache.Response); ok {
				n.Message = r.Message
			}
		}
		if len(resp.Values) > 0 {
			var sum int64
			for _, v := range resp.Values {
				sum += v.Bytes
			}
			n.ResponseBytes = &sum
		}
	}
}

// mysqlNode fills n in from req, whose SQL facts are sql.
func (b *builder) mysqlNode(n *Node, req *mysql.Request, sql *sqlFacts) {
	resp, _ := n.Ex.Response.(*mysql.Response)
	query := req.Query
	if r, ok := req.Redacted().(*mysql.Request); ok {
		query = r.Query
	}
	n.Role = RoleQuery
	if req.Command == "login" {
		n.Role = RoleLogin
		n.Summary = fmt.Sprintf("login %s", req.User)
		if req.Database != "" {
			n.Summary += "@" + req.Database
		}
	} else if query != "" {
		n.Summary = query
	} else {
		n.Summary = req.Command
	}
	n.Op, n.Target = req.Command, query
	// COM_QUIT (and a statement close) is never answered: the client closes.
	n.NoReply = req.Command == "COM_QUIT" || req.Command == "COM_STMT_CLOSE"
	n.sql = sql
	n.Signature = sql.signature
	if resp != nil {
		n.Result = resp.Result
		n.Error = resp.Result == "error"
		n.Rows = resp.Rows
		if resp.ErrorCode != nil {
			n.ErrorCode = ptr(int(*resp.ErrorCode))
		}
		n.Message = resp.Error
		if r, ok := resp.Redacted().(*mysql.Response); ok {
			n.Message = r.Error
		}
	}
}

func ptr[T any](v T) *T { return &v }

// system names the server software of a protocol the way OpenTelemetry's
// db.system.name does.
func system(proto string) string {
	switch proto {
	case "memcache":
		return "memcached"
	}
	return proto
}

func (b *builder) bulkBytes() int64 {
	if b.opts.BulkBytes > 0 {
		return b.opts.BulkBytes
	}
	return 64 << 10
}
