package flow

import (
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/amqp"
	"github.com/flowmap/flowmap/flow/registry"
)

// rpc.go: oslo.messaging RPC over AMQP. A message published and
// delivered through the broker is one-way; an RPC is a call (a publish
// with _msg_id and _reply_q) and its reply (a publish to the caller's
// reply queue with the same _msg_id), matched across connections, or a
// cast (no reply). Each call or cast is one Node drawn from the service
// that published it to the service it was delivered to; the broker hop
// is kept in Node.RPC. The passes here run beside the others in Build:
// splitAMQP (before nameServices), findRPCCallers (after findCallers),
// makeRPCNodes (after makeNodes), linkRPC (after linkParents).

// Roles of RPC nodes.
const (
	RoleRPCCall Role = "rpc-call" // a call: the caller waits for the reply
	RoleRPCCast Role = "rpc-cast" // a cast: no reply
)

// Broker is the kind of the message broker's lifeline.
const Broker Kind = "broker"

// RPC is what an oslo.messaging node tells besides the common facts.
type RPC struct {
	// Kind is "call", "cast" or "fanout" (a cast to every consumer of a
	// topic).
	Kind       string `json:"kind"`
	Method     string `json:"method"`
	Version    string `json:"version,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	Args       string `json:"args,omitempty"`
	Exchange   string `json:"exchange"`
	RoutingKey string `json:"routing_key"`
	MsgID      string `json:"msg_id,omitempty"`
	ReplyQueue string `json:"reply_queue,omitempty"`
	RequestID  string `json:"request_id,omitempty"`
	// GlobalRequestID is the id a caller outside passed on, if any.
	GlobalRequestID string `json:"global_request_id,omitempty"`
	// Published, Delivered: the message reaching the broker and (the first
	// copy) leaving it; Consumers is how many deliveries were captured.
	Published time.Time `json:"published"`
	Delivered time.Time `json:"delivered,omitzero"`
	Consumers int       `json:"consumers"`
	// ReplyPublished, ReplyDelivered: the reply reaching the broker and
	// the caller.
	ReplyPublished time.Time `json:"reply_published,omitzero"`
	ReplyDelivered time.Time `json:"reply_delivered,omitzero"`
	// Result is the kind of a call's result ("list[1]", "None",
	// "Instance"); Failure the exception class of a failed one, with its
	// message in the node's Message.
	Result  string `json:"result,omitempty"`
	Failure string `json:"failure,omitempty"`
	// Background is set on a call or cast no client request caused (its
	// request id is no request's): periodic tasks, service reports.
	Background bool `json:"background,omitempty"`

	broker    *Participant
	publisher string // service of the publishing process
}

// Background reports whether n is work no client request caused: an RPC
// whose request id no client request carries (periodic tasks, service
// reports), or an HTTP request a service made with the id of its own
// such RPCs.
func (n *Node) Background() bool { return n.background }

// BrokerP is the broker an RPC went through (nil for other nodes).
func (n *Node) BrokerP() *Participant {
	if n.RPC == nil {
		return nil
	}
	return n.RPC.broker
}

// rpcState is what the RPC passes share.
type rpcState struct {
	exs []*decoder.Exchange // AMQP exchanges, by start
	// deliveries of each published message, by oslo _unique_id.
	deliveries map[string][]*decoder.Exchange
	// replies by _msg_id: the reply's publish and delivery.
	replyPub, replyDel map[string]*decoder.Exchange
}

// splitAMQP takes the AMQP exchanges out of the ones the other passes
// read: the RPC passes make their nodes.
func (b *builder) splitAMQP() {
	b.rpc = &rpcState{deliveries: map[string][]*decoder.Exchange{}, replyPub: map[string]*decoder.Exchange{}, replyDel: map[string]*decoder.Exchange{}}
	kept := b.exs[:0]
	for _, e := range b.exs {
		switch e.Request.(type) {
		case *amqp.Message, *amqp.Method:
			b.rpc.exs = append(b.rpc.exs, e)
			continue
		}
		kept = append(kept, e)
	}
	b.exs = kept
	for _, e := range b.rpc.exs {
		if m, ok := e.Request.(*amqp.Message); ok && m.Kind == "publish" && m.Oslo != nil && m.Oslo.Error != "" {
			b.count(e, unreadAMQP, m.Oslo.Error, netip.Addr{}) // an envelope that could not be read
		}
	}
	for _, e := range b.rpc.exs {
		m, o := osloOf(e)
		if o == nil {
			continue
		}
		switch {
		case m.Kind == "deliver" && o.Kind() == "reply":
			if b.rpc.replyDel[o.MsgID] == nil {
				b.rpc.replyDel[o.MsgID] = e
			}
		case m.Kind == "publish" && o.Kind() == "reply":
			if b.rpc.replyPub[o.MsgID] == nil {
				b.rpc.replyPub[o.MsgID] = e
			}
		case m.Kind == "deliver" && o.UniqueID != "":
			b.rpc.deliveries[o.UniqueID] = append(b.rpc.deliveries[o.UniqueID], e)
		}
	}
}

// osloOf returns the AMQP message of e and its oslo.messaging envelope
// (nil when e is not one).
func osloOf(e *decoder.Exchange) (*amqp.Message, *amqp.Oslo) {
	m, ok := e.Request.(*amqp.Message)
	if !ok || m.Oslo == nil || m.Oslo.Error != "" {
		return m, nil
	}
	return m, m.Oslo
}

// findRPCCallers decides which service is behind each AMQP connection:
// the process name its Connection.Start-Ok gave, else what it consumes
// (a topic's queue), what it answers (the reply to a call delivered to a
// topic's consumer is published by that consumer), the methods only one
// service publishes, and which service was handling the request id of
// what it published. Connections of one process are joined first: the
// one that publishes calls with a reply queue and the one that consumes
// that queue; the one a call was delivered on and the one its reply was
// published on.
func (b *builder) findRPCCallers() {
	up := map[int]int{}
	var find func(int) int
	find = func(x int) int {
		p, ok := up[x]
		if !ok || p == x {
			return x
		}
		r := find(p)
		up[x] = r
		return r
	}
	union := func(a, c int) {
		if ra, rc := find(a), find(c); ra != rc {
			up[ra] = rc
		}
	}
	votes := map[int]map[string]int{}
	vote := func(id int, s string, n int) {
		if s == "" {
			return
		}
		if votes[id] == nil {
			votes[id] = map[string]int{}
		}
		votes[id][s] += n
	}
	replyQCaller := map[string]int{}
	replyQConsumer := map[string]int{}
	calls := map[string]*decoder.Exchange{} // by _msg_id
	// handlers of each request id: HTTP requests served (by their
	// response's X-OpenStack-Request-ID) and RPCs delivered, by start
	type handled struct {
		who    string
		t, end time.Time // end: a call's reply (zero: open)
	}
	handlers := map[string][]handled{}
	for _, e := range b.exs {
		if _, resp := (&Node{Ex: e}).httpMsgs(); resp != nil {
			if rid := resp.Header("X-OpenStack-Request-ID"); rid != "" && b.srvName[e.Conn.Server] != "" {
				handlers[rid] = append(handlers[rid], handled{b.srvName[e.Conn.Server], e.Start(), time.Time{}})
			}
		}
	}
	for _, e := range b.rpc.exs {
		id := e.Conn.ID
		if m, ok := e.Request.(*amqp.Method); ok {
			switch m.Name {
			case "connection.start":
				if r, ok := e.Response.(*amqp.Method); ok {
					vote(id, registry.ByProcess(r.Properties.String("connection_name")), 1000)
				}
			case "connection.start-ok":
				vote(id, registry.ByProcess(m.Properties.String("connection_name")), 1000)
			case "basic.consume":
				vote(id, registry.ByRPCTopic("", m.Queue), 100)
			}
			continue
		}
		m, o := osloOf(e)
		if o == nil {
			continue
		}
		switch {
		case m.Kind == "deliver" && o.Kind() == "reply":
			replyQConsumer[m.RoutingKey] = id
		case m.Kind == "deliver":
			vote(id, registry.ByRPCTopic(m.Exchange, m.RoutingKey), 100)
		case m.Kind == "publish" && o.Kind() == "reply":
			if c := calls[o.MsgID]; c != nil {
				cm, _ := osloOf(c)
				vote(id, registry.ByRPCTopic(cm.Exchange, cm.RoutingKey), 100)
			}
		case m.Kind == "publish":
			if o.Kind() == "call" {
				calls[o.MsgID] = e
				if c, ok := replyQCaller[o.ReplyQ]; ok {
					union(c, id)
				} else {
					replyQCaller[o.ReplyQ] = id
				}
			}
			vote(id, registry.ByRPCMethod(o.Method), 50)
		}
	}
	for q, id := range replyQConsumer {
		if c, ok := replyQCaller[q]; ok {
			union(c, id)
		}
	}
	for msgID, call := range calls {
		_, o := osloOf(call)
		rep := b.rpc.replyPub[msgID]
		if rep == nil {
			continue
		}
		for _, d := range b.rpc.deliveries[o.UniqueID] {
			union(d.Conn.ID, rep.Conn.ID)
		}
	}
	// Who was handling the request id of what a connection published
	// (the latest to get it before; a service does not call its own
	// topic): weak, but the only evidence for a process whose consuming
	// connection said nothing.
	for _, e := range b.rpc.exs {
		m, o := osloOf(e)
		if o == nil {
			continue
		}
		if m.Kind == "deliver" && o.RequestID != "" && o.Kind() != "reply" {
			var end time.Time
			if r := b.rpc.replyPub[o.MsgID]; o.MsgID != "" && r != nil {
				end = r.Start()
			}
			if s := registry.ByRPCTopic(m.Exchange, m.RoutingKey); s != "" {
				handlers[o.RequestID] = append(handlers[o.RequestID], handled{s, e.Start(), end})
			}
		}
	}
	for _, hs := range handlers {
		sort.SliceStable(hs, func(i, j int) bool { return hs[i].t.Before(hs[j].t) })
	}
	for _, e := range b.rpc.exs {
		m, o := osloOf(e)
		if o == nil || m.Kind != "publish" || o.Kind() == "reply" || o.RequestID == "" {
			continue
		}
		target := registry.ByRPCTopic(m.Exchange, m.RoutingKey)
		hs := handlers[o.RequestID]
		for i := len(hs) - 1; i >= 0; i-- {
			if hs[i].t.Before(e.Start()) && hs[i].who != target && (hs[i].end.IsZero() || hs[i].end.After(e.Start())) {
				vote(e.Conn.ID, hs[i].who, 30)
				break
			}
		}
	}
	group := map[int]map[string]int{}
	for id, v := range votes {
		r := find(id)
		if group[r] == nil {
			group[r] = map[string]int{}
		}
		for s, n := range v {
			group[r][s] += n
		}
	}
	for _, e := range b.rpc.exs {
		id := e.Conn.ID
		if s := pickVote(group[find(id)]); s != "" {
			b.caller[id] = s
		}
	}
}

// makeRPCNodes makes a node of every call and cast: from the service
// that published it to the one it was delivered to, its reply folded in.
func (b *builder) makeRPCNodes() {
	var broker *Participant
	for _, e := range b.rpc.exs {
		m, o := osloOf(e)
		if o == nil || m.Kind != "publish" || o.Kind() == "reply" {
			continue
		}
		b.at = e.Start()
		if broker == nil {
			name := b.override(e.Conn.Server)
			if name == "" {
				name = registry.Broker
			}
			broker = b.participant(name, Broker, e.Conn.Server.String())
		}
		r := &RPC{Kind: o.Kind(), Method: o.Method, Version: o.APIVer, Namespace: o.Namespace, Args: o.Args,
			Exchange: m.Exchange, RoutingKey: m.RoutingKey, MsgID: o.MsgID, ReplyQueue: o.ReplyQ,
			RequestID: o.RequestID, GlobalRequestID: o.GlobalRequestID, Published: e.Start(), broker: broker}
		if r.Kind == "cast" && strings.HasSuffix(m.Exchange, "_fanout") {
			r.Kind = "fanout"
		}
		n := &Node{Ex: e, Proto: e.Proto, Start: e.Start(), End: e.End(), Truncated: e.Truncated, RPC: r}
		n.from = b.callerParticipant(n)
		r.publisher, n.caller = n.caller, "" // placed by linkRPC, not by linkParents
		dels := b.rpc.deliveries[o.UniqueID]
		r.Consumers = len(dels)
		consumer := ""
		if len(dels) > 0 {
			r.Delivered = dels[0].Start()
			consumer = b.caller[dels[0].Conn.ID]
			n.End = dels[0].End()
		}
		consumer = firstOf(consumer, registry.ByRPCTopic(m.Exchange, m.RoutingKey))
		if consumer != "" {
			n.server = consumer
			n.to = b.participant(consumer, Service, "")
		} else {
			n.to = broker
		}
		n.Op = o.Method
		n.Target = m.Exchange + "/" + m.RoutingKey
		n.Summary = o.Method + " (" + r.Kind + ")"
		n.RequestBytes = ptr(int64(m.BodySize))
		n.RequestType = m.ContentType
		if n.token = b.tokens[o.AuthToken]; n.token != nil {
			n.Token = n.token.Fingerprint
		}
		if r.Kind == "call" {
			n.Role = RoleRPCCall
			if rep := b.rpc.replyPub[o.MsgID]; rep != nil {
				rm, ro := osloOf(rep)
				r.ReplyPublished = rep.Start()
				n.ResponseStart, n.End = rep.Start(), rep.End()
				if d := b.rpc.replyDel[o.MsgID]; d != nil {
					r.ReplyDelivered, n.End = d.Start(), d.End()
				}
				n.ResponseBytes = ptr(int64(rm.BodySize))
				n.ResponseType = rm.ContentType
				n.Truncated = n.Truncated || rep.Truncated
				if ro.FailureClass != "" {
					r.Failure, n.Error = ro.FailureClass, true
					n.Result, n.Message = ro.FailureClass, ro.FailureMessage
					if red, ok := rm.Redacted().(*amqp.Message); ok && red.Oslo != nil {
						n.Message = red.Oslo.FailureMessage // as printed: it may quote a secret
					}
				} else {
					r.Result = ro.Result
					n.Result = ro.Result
				}
			}
		} else {
			n.Role = RoleRPCCast
			n.NoReply = true
		}
		n.From, n.To = n.from.Name, n.to.Name
		n.RequestEnd = e.ReqEnd
		n.Conn, n.System = e.Conn.ID, "rabbitmq"
		switch {
		case n.NoReply:
			n.Outcome = NoAnswer
		case r.ReplyPublished.IsZero() && b.last.Sub(n.Start) < 60*time.Second:
			n.Outcome = InProgress
		case r.ReplyPublished.IsZero():
			n.Outcome = Lost
		case n.Error:
			n.Outcome = Failed
		default:
			n.Outcome = OK
		}
		b.nodes = append(b.nodes, n)
	}
	sortNodes(b.nodes)
}

// requestID is the request id a node carries: an RPC's, or the
// X-OpenStack-Request-ID header of an HTTP request a service made.
func (n *Node) requestID() string {
	if n.RPC != nil {
		return n.RPC.RequestID
	}
	return n.reqHeader("X-OpenStack-Request-ID")
}

// linkRPC places what services did while handling an RPC, and the RPCs
// themselves. The request id decides: an RPC, or an HTTP request a
// service made, goes under the latest request with the same id that the
// same service was handling (an HTTP request it served, whose answer
// carried the id, or an RPC delivered to it). An HTTP request with no id
// goes under the call its service was handling then, by timing (a guess
// when the service was handling a cast too: it may be the cast's). DB work
// of a process flowmap could not name (its service's DB login is shared
// by the service's processes) goes under the request one of them was
// handling, by timing, and is drawn from that process. An RPC whose
// request id no request carries is background work: a root.
func (b *builder) linkRPC() {
	if len(b.rpc.exs) > 0 {
		b.amqp = true // for the later segments (segments.go)
	}
	if !b.amqp {
		return
	}
	type handling struct {
		n          *Node
		start, end time.Time
	}
	byService := map[string][]handling{}
	rids := map[string]bool{} // request ids of requests from outside
	add := func(s string, h handling) { byService[s] = append(byService[s], h) }
	for _, n := range b.nodes {
		switch {
		case n.RPC != nil && n.to != nil && n.to.Kind == Service:
			start := n.RPC.Delivered
			if start.IsZero() {
				start = n.Start
			}
			end := n.RPC.ReplyPublished
			if end.IsZero() {
				end = b.last
			}
			add(n.to.Name, handling{n, start, end})
		case n.Proto == "http" && n.server != "":
			if rid := n.respHeader("X-OpenStack-Request-ID"); rid != "" && n.from != nil && n.from.Kind != Service {
				rids[rid] = true
			}
			add(n.server, handling{n, n.Start, b.until(n.Ex)})
		}
	}
	for _, hs := range byService {
		sort.SliceStable(hs, func(i, j int) bool { return hs[i].start.Before(hs[j].start) })
	}
	attach := func(n, p *Node, how Placement, cands []*Node) {
		n.parent, n.Placed = p, how
		if len(cands) > 1 {
			n.candidates = cands
		}
		p.Children = append(p.Children, n)
	}
	handlerRID := func(h handling) string {
		if h.n.RPC != nil {
			return h.n.RPC.RequestID
		}
		return h.n.respHeader("X-OpenStack-Request-ID")
	}
	// Each service's handlings are indexed by request id (positions in
	// byService, in order) and laid on a timeline, so that finding one
	// does not walk them all: every RPC and request asks.
	type serviceRID struct{ service, rid string }
	byRID := map[serviceRID][]int{}
	inTime := map[string]*timeline[handling]{}
	for s, hs := range byService {
		tl := &timeline[handling]{}
		for i, h := range hs {
			if rid := handlerRID(h); rid != "" {
				k := serviceRID{s, rid}
				byRID[k] = append(byRID[k], i)
			}
			tl.add(h, h.start, h.end)
		}
		inTime[s] = tl
	}
	// byID is the latest request with id rid service s got before t.
	byID := func(s, rid string, t time.Time, self *Node) *Node {
		hs, at := byService[s], byRID[serviceRID{s, rid}]
		// (those started after t are not looked at)
		after := sort.Search(len(at), func(i int) bool { return hs[at[i]].start.After(t) })
		for i := after - 1; i >= 0; i-- {
			h := hs[at[i]]
			ended := h.n.RPC != nil && h.n.RPC.Kind == "call" && h.end.Before(t)
			if h.n != self && !h.start.After(t) && !ended {
				return h.n
			}
		}
		return nil
	}
	// inProgress are the requests s was handling at t (calls and HTTP
	// only: a cast's handling has no visible end), latest first.
	inProgress := func(s string, t time.Time, self *Node) []*Node {
		var out []*Node
		inTime[s].around(t, func(h handling) {
			if h.n != self && (h.n.RPC == nil || h.n.RPC.Kind == "call") {
				out = append(out, h.n)
			}
		})
		return out
	}
	// handlerOf is the request with id rid one of among was handling when
	// n started (the latest such; services in name order on a tie), and
	// that service's lifeline.
	services := make([]string, 0, len(byService))
	for s := range byService {
		services = append(services, s)
	}
	sort.Strings(services)
	handlerOf := func(rid string, n *Node, among []string) (*Node, *Participant) {
		var best *Node
		var who string
		for _, s := range among {
			if p := byID(s, rid, n.Start, n); p != nil && (best == nil || p.Start.After(best.Start)) {
				best, who = p, s
			}
		}
		if best == nil {
			return nil, nil
		}
		if best.RPC != nil {
			return best, best.to
		}
		return best, b.participant(who, Service, "")
	}
	// A cast's handling has no visible end but the work its service does
	// for its request id: the latest start of that work, by service and
	// request id, ends it; castsBy holds each service's casts so.
	type work struct{ who, rid string }
	lastWork := map[work]time.Time{}
	for _, n := range b.nodes {
		w := work{n.caller, n.requestID()}
		if n.RPC != nil {
			w.who = n.RPC.publisher
		}
		if w.who != "" && w.rid != "" && n.Start.After(lastWork[w]) {
			lastWork[w] = n.Start
		}
	}
	castsBy := map[string]*timeline[*Node]{}
	for s, hs := range byService {
		for _, h := range hs { // in order of start
			if r := h.n.RPC; r != nil && r.Kind != "call" && r.RequestID != "" {
				if castsBy[s] == nil {
					castsBy[s] = &timeline[*Node]{}
				}
				castsBy[s].add(h.n, h.start, lastWork[work{s, r.RequestID}])
			}
		}
	}
	// openCasts are the casts s was handling at t, latest first: each
	// delivered before t, its request id one s still worked for at or
	// after t. Over-cautious where a call shares the cast's request id
	// (nova gives one operation one id: the call's work keeps the cast
	// open); blind to a cast whose later work carries no id.
	openCasts := func(s string, t time.Time) []*Node {
		var out []*Node
		castsBy[s].around(t, func(c *Node) { out = append(out, c) })
		return out
	}
	bgIDs := map[string]bool{} // publisher + request id of background RPCs
	for _, n := range b.nodes {
		if n.parent != nil {
			continue
		}
		switch {
		case n.RPC != nil:
			rid := n.RPC.RequestID
			if rid != "" {
				if p := byID(n.RPC.publisher, rid, n.Start, n); p != nil {
					attach(n, p, ByLink, nil)
					continue
				}
			}
			n.RPC.Background = rid == "" || !rids[rid]
			n.background = n.RPC.Background
			if n.background && rid != "" {
				bgIDs[n.RPC.publisher+" "+rid] = true
			}
		case n.Proto == "http" && n.requestID() != "" && byService[n.caller] == nil && len(registry.Members(n.caller)) == 0:
			// A request carrying the request id of a request a service
			// was handling then was made by that service, whatever its
			// User-Agent says (nova calls neutron with
			// python-neutronclient). (A family's caller, "nova", is
			// looked for among its members below.)
			if p, who := handlerOf(n.requestID(), n, services); p != nil {
				attach(n, p, ByLink, nil)
				n.caller, n.from, n.From = who.Name, who, who.Name
				continue
			}
		case n.Proto == "http" && n.caller != "":
			if rid := n.requestID(); rid != "" {
				if p := byID(n.caller, rid, n.Start, n); p != nil {
					attach(n, p, ByLink, nil)
					continue
				}
				// a caller known only by its family's token (nova): the
				// process handling the request id made it
				if p, who := handlerOf(rid, n, registry.Members(n.caller)); p != nil {
					attach(n, p, ByLink, nil)
					n.from, n.From = who, who.Name
					continue
				}
			}
			if cands := inProgress(n.caller, n.Start, n); len(cands) > 0 {
				// the service was handling casts too: it may be one's
				// (candidates, so the guess is marked and they are listed)
				attach(n, cands[0], ByTiming, append(cands, openCasts(n.caller, n.Start)...))
				continue
			}
			// a service's HTTP request with the id of its own background
			// RPCs is part of that background work
			n.background = bgIDs[n.caller+" "+n.requestID()]
		}
	}
	// DB work of a service family (nova) drawn from the process that
	// was handling a request then: the one whose request id the SQL
	// names (nova writes it in instance_actions), else the latest begun,
	// a guess.
	for _, g := range b.grouped { // the nodes have not changed since linkParents
		first := g[0]
		if first.parent != nil || first.Proto != "mysql" || first.caller == "" {
			continue
		}
		var cands []*Node
		for _, s := range registry.Members(first.caller) {
			cands = append(cands, inProgress(s, first.Start, nil)...)
		}
		lits := groupLiterals(nil, g)
		if len(lits) > 0 {
			// a cast being handled has no visible end: one the SQL names
			// is a candidate too
			for _, s := range registry.Members(first.caller) {
				// the handlings whose request id the SQL names, in order
				var at []int
				for i, l := range lits {
					if !slices.Contains(lits[:i], l) {
						at = append(at, byRID[serviceRID{s, l}]...)
					}
				}
				slices.Sort(at)
				for _, i := range at {
					h := byService[s][i]
					if r := h.n.RPC; r != nil && r.Kind != "call" && r.RequestID != "" && !h.start.After(first.Start) {
						cands = append(cands, h.n)
					}
				}
			}
		}
		if len(cands) == 0 {
			continue
		}
		sort.SliceStable(cands, func(i, j int) bool { return cands[i].Start.After(cands[j].Start) })
		p, how := cands[0], ByTiming
		var named []*Node
		for _, c := range cands {
			if rid := handlerRID(handling{n: c}); rid != "" && slices.Contains(lits, rid) && !slices.Contains(named, c) {
				named = append(named, c)
			}
		}
		if len(named) == 1 {
			p, how = named[0], ByContent
		}
		who := p.to
		if p.RPC == nil {
			who = b.participant(p.server, Service, "")
		}
		if how != ByTiming {
			cands = nil // candidates list timing's guesses only
		}
		for _, n := range g {
			attach(n, p, how, cands)
			n.from, n.From = who, who.Name
			n.CallerByTiming = how == ByTiming // which of the family: timing alone
		}
	}
}
