package flow

import (
	"cmp"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/http"
)

type builder struct {
	opts Options
	exs  []*decoder.Exchange
	// facts are what a segmented build (segments.go) carries from one
	// segment to the next; the rest is the segment's own.
	*facts
	nodes     []*Node
	grouped   [][]*Node                 // groups of nodes (parents.go), by linkParents
	lits      map[*Node]map[string]bool // literals of requests (evidence.go)
	checks    map[*Node]time.Time       // end of each request's token check
	traces    map[*Node]string          // osprofiler base id of each request
	noContent bool                      // tests: weigh no content evidence
	bySubject map[*Token][]*Node        // nodes about each token
	// lastOnConn is the last exchange of each connection (lastOn).
	lastOnConn map[int]*decoder.Exchange
	last       time.Time // end of the last exchange: the end of the capture
	fileNotes  []string  // the model's notes: strace files (files.go)
	// tally counts what the model's counted notes say, by exchange
	// (notes.go): a segmented build counts only its segment's
	tally []tallied
	rpc   *rpcState // rpc.go
	// sqlOf are the facts of each MySQL exchange's SQL, by index in exs
	// (read by findCallers, kept for makeNodes).
	sqlOf []*sqlFacts
	auths map[string]authFacts // keystone auth request bodies, read (tokens.go)
	// front: each leg a reverse proxy relayed, and the client requests it
	// may relay, the likeliest first (proxy.go)
	front  map[*decoder.Exchange][]*decoder.Exchange
	issued map[string]tokenFacts // token responses to logins, read (services.go)
	// schemasFound: findSchemas ran (dbschema.go)
	schemasFound bool
	firstID      int // the node IDs before this segment's (segments.go)
	// at is the start of the exchange whose node is being made; regs,
	// when set, logs each address a participant gains, and when
	// (segments.go: only those before a cut are kept)
	at   time.Time
	regs *[]reg
}

// reg is an address participant p gained for a node that began at at.
type reg struct {
	p    *Participant
	addr string
	at   time.Time
}

// facts are what the passes learn of the capture beyond one exchange:
// names, tokens, who is behind each connection, the participants.
type facts struct {
	srvName map[netip.AddrPort]string // HTTP server endpoint -> service
	hosts   map[netip.Addr]bool       // addresses that serve something
	// hostHdr and catalog: Host headers seen ("controller:9292" -> the
	// server) and the catalogs' endpoints ("controller:9292" -> glance)
	hostHdr map[string]netip.AddrPort
	catalog map[string]string
	tokens  map[string]*Token // by value
	bySHA   map[string]*Token // by cache key suffix
	order   []*Token
	caller  map[int]string // conn ID -> calling service (or client label)
	// callerByTiming: connections whose caller only timing named
	callerByTiming map[int]bool
	// decided and named: the callers that evidence named for connections
	// and the names of endpoints that an earlier segment drew
	// (segments.go): they hold
	decided     map[int]string
	named       map[netip.AddrPort]string
	parts       map[string]*Participant
	hmacKeys    map[string]bool // MAC/ENCRYPT token cache keys no token matched
	hmacMatched bool            // some MAC/ENCRYPT key matched a token
	amqp        bool            // the capture has AMQP: RPC passes run (rpc.go)
	schemas     map[int]string  // dbschema.go: MySQL connection -> schema
	proxies     map[string]bool // the proxies' lifelines (proxy.go)
	// relayedFor: connections of a proxy relaying one client's requests
	// whose own leg the capture lacks, and that client (invalid: several)
	relayedFor map[int]netip.Addr
}

func newFacts() *facts {
	return &facts{
		srvName: map[netip.AddrPort]string{}, hosts: map[netip.Addr]bool{}, hostHdr: map[string]netip.AddrPort{}, catalog: map[string]string{},
		tokens: map[string]*Token{}, bySHA: map[string]*Token{}, caller: map[int]string{}, callerByTiming: map[int]bool{}, decided: map[int]string{}, named: map[netip.AddrPort]string{},
		parts: map[string]*Participant{}, hmacKeys: map[string]bool{}, schemas: map[int]string{},
	}
}

func newBuilder(exs []*decoder.Exchange, opts Options) *builder {
	return newBuilderWith(exs, opts, newFacts())
}

// newBuilderWith is a builder of exs that starts from what earlier
// segments learned.
func newBuilderWith(exs []*decoder.Exchange, opts Options, f *facts) *builder {
	b := &builder{
		opts: opts, facts: f,
		lits: map[*Node]map[string]bool{}, checks: map[*Node]time.Time{}, traces: map[*Node]string{}, bySubject: map[*Token][]*Node{},
		auths: map[string]authFacts{}, issued: map[string]tokenFacts{},
	}
	b.exs = make([]*decoder.Exchange, 0, len(exs))
	for _, e := range exs {
		if e != nil && e.Conn != nil && e.Request != nil {
			b.exs = append(b.exs, e)
			if e.End().After(b.last) {
				b.last = e.End()
			}
		} else if e != nil && e.Conn != nil && e.Response != nil {
			b.count(e, requestless, e.Proto, netip.Addr{})
		}
	}
	// (the pipeline delivers them in this order already: checked first)
	byStart := func(x, y *decoder.Exchange) int {
		if c := x.Start().Compare(y.Start()); c != 0 {
			return c
		}
		return cmp.Compare(x.Conn.ID, y.Conn.ID)
	}
	if !slices.IsSortedFunc(b.exs, byStart) {
		slices.SortStableFunc(b.exs, byStart)
	}
	return b
}

// override returns the user's name for addr, if any.
func (b *builder) override(ap netip.AddrPort) string {
	if len(b.opts.Names) == 0 {
		return "" // asked for every exchange: spare the address strings
	}
	if n, ok := b.opts.Names[ap.String()]; ok {
		return n
	}
	if n, ok := b.opts.Names[ap.Addr().String()]; ok {
		return n
	}
	return ""
}

// timeline holds items sorted by start, for "which of these were in
// progress at time t" queries. It is not safe for concurrent use (a query
// builds its tree).
type timeline[T any] struct {
	items      []T
	start, end []time.Time
	maxDur     time.Duration
	// latest is a segment tree of the latest end under each node (the
	// leaves, at size+j, are the items' ends), built when a query first
	// needs it: it skips every stretch of items that all ended before t,
	// so one long exchange (a request never answered lasts to the end of
	// the capture) does not make each query walk back over everything.
	latest []time.Time
	size   int
}

// add appends an item; items must come in order of start.
func (s *timeline[T]) add(it T, start, end time.Time) {
	s.items = append(s.items, it)
	s.start = append(s.start, start)
	s.end = append(s.end, end)
	s.maxDur = max(s.maxDur, end.Sub(start))
	s.latest = nil
}

// walkBack is how many items around looks at one by one before it asks
// the segment tree.
const walkBack = 32

// around calls fn for each item that started at or before t and had not
// ended before t, latest start first. Items started longer before t than
// the longest lasted are not looked at; past the last walkBack items the
// segment tree finds the rest, at O(log n) per item found.
func (s *timeline[T]) around(t time.Time, fn func(T)) {
	if s == nil {
		return
	}
	i := sort.Search(len(s.start), func(i int) bool { return s.start[i].After(t) })
	j := i - 1
	for ; j >= 0 && j >= i-walkBack; j-- {
		if t.Sub(s.start[j]) > s.maxDur {
			return
		}
		if !s.end[j].Before(t) {
			fn(s.items[j])
		}
	}
	if j < 0 {
		return
	}
	if s.latest == nil {
		s.size = 1
		for s.size < len(s.items) {
			s.size *= 2
		}
		s.latest = make([]time.Time, 2*s.size)
		copy(s.latest[s.size:], s.end)
		for k := s.size - 1; k > 0; k-- {
			s.latest[k] = s.latest[2*k]
			if s.latest[2*k+1].After(s.latest[k]) {
				s.latest[k] = s.latest[2*k+1]
			}
		}
	}
	s.visit(1, 0, s.size, j+1, t, fn)
}

// visit calls fn for the items of [lo, hi), the span of tree node k, that
// come before i and had not ended before t, the later ones first.
func (s *timeline[T]) visit(k, lo, hi, i int, t time.Time, fn func(T)) {
	if lo >= i || s.latest[k].Before(t) {
		return
	}
	if hi-lo == 1 {
		fn(s.items[lo])
		return
	}
	mid := (lo + hi) / 2
	s.visit(2*k+1, mid, hi, i, t, fn)
	s.visit(2*k, lo, mid, i, t, fn)
}

// until is how long e may have been in progress: its end or, when its
// response was never captured, the end of the capture.
func (b *builder) until(e *decoder.Exchange) time.Time {
	if e.Response == nil {
		return b.last
	}
	return e.End()
}

// inboundByHost lists the HTTP exchanges served at each address, by start.
func (b *builder) inboundByHost() map[netip.Addr]*timeline[*decoder.Exchange] {
	m := map[netip.Addr]*timeline[*decoder.Exchange]{}
	for _, e := range b.exs {
		if _, ok := e.Request.(*http.Request); !ok {
			continue
		}
		a := e.Conn.Server.Addr()
		if m[a] == nil {
			m[a] = &timeline[*decoder.Exchange]{}
		}
		m[a].add(e, e.Start(), b.until(e))
	}
	return m
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// httpMsgs returns the HTTP messages of n (nil when not HTTP).
func (n *Node) httpMsgs() (*http.Request, *http.Response) {
	req, _ := n.Ex.Request.(*http.Request)
	resp, _ := n.Ex.Response.(*http.Response)
	return req, resp
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

// pickVote is the name with the most votes, the first in alphabetical
// order on a tie ("" for none): deterministic whatever the map's order.
func pickVote(v map[string]int) string {
	best, name := 0, ""
	for s, n := range v {
		if n > best || n == best && s < name {
			best, name = n, s
		}
	}
	return name
}
