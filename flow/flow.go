// Package flow is the only package that knows OpenStack (its knowledge is
// the table in flow/registry). It turns decoded exchanges into participants
// (by role, not address), keystone tokens with their owners, and request
// trees: each request into a service is the parent of what the service did
// while serving it (outbound HTTP, cache lookups, database queries),
// recursively. Nodes carry neutral facts and notes; renderers read the
// Model and never a decoder type.
//
// Build runs its passes in this order, one file each: services.go (who
// serves each endpoint), tokens.go (keystone tokens and their owners),
// callers.go (which process is on the client side of each connection),
// nodes.go (a node with its facts per exchange), parents.go (request
// trees, weighing the evidence of evidence.go), notes.go (what to explain),
// files.go (strace's file syscalls, when given, under the requests being
// served), sessions.go (client sessions and the model), with rpc.go's
// passes for oslo.messaging beside them; filter.go then selects sessions.
// builder.go holds what the passes share.
package flow

import (
	"cmp"
	"slices"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/pipeline"
)

// Options tune correlation.
type Options struct {
	// Names override participant names: "10.0.20.11:9292" or "10.0.20.11"
	// (any port) -> "glance-api".
	Names map[string]string
	// MemcacheSecret is keystonemiddleware's memcache_secret_key, to
	// recognise cache keys of the MAC and ENCRYPT strategies.
	MemcacheSecret string
	// BulkBytes is the answer size from which a node is a bulk transfer
	// (Node.Bulk). Default 64 KiB.
	BulkBytes int64
	// Strace are strace files aligned with the capture: their file
	// syscalls become nodes under the requests being served (files.go).
	Strace []*pipeline.StraceFile
}

// Kind says what role a participant plays.
type Kind string

const (
	Client  Kind = "client"  // outside host/process calling in
	Service Kind = "service" // an API service (keystone, glance, ...)
	DB      Kind = "db"      // a service's database
	Cache   Kind = "cache"   // memcached
	Host    Kind = "host"    // anything else, by address
	// Proxy is a reverse proxy or load balancer in front of the services
	// (HAProxy on a VIP): it relays calls (proxy.go).
	Proxy Kind = "proxy"
)

// Participant is one lifeline of the diagram.
type Participant struct {
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Addrs are the server addresses (or client hosts) behind it.
	Addrs []string `json:"addrs,omitempty"`
}

// Token is a keystone token seen in the capture. Value is never serialised.
type Token struct {
	Value       string    `json:"-"`
	Fingerprint string    `json:"fingerprint"`
	User        string    `json:"user,omitempty"`
	Domain      string    `json:"domain,omitempty"`
	Project     string    `json:"project,omitempty"`
	Issued      time.Time `json:"issued,omitzero"`
	// Owner is who holds it: "admin token", "glance token".
	Owner string `json:"owner"`
	// Invalid is set when keystone refused it.
	Invalid bool `json:"invalid,omitempty"`
	sha     string
	ids     []string // keystone ids of its user, user's domain and project
	// heldBy is the service that presents it to validate others (makeNodes)
	heldBy string
}

// Label is how a token is named in output: "admin token sha256:67e8e033".
func (t *Token) Label() string {
	if t == nil {
		return ""
	}
	return t.Owner + " " + t.Fingerprint
}

// Role of an exchange in the story.
type Role string

const (
	RoleCall      Role = "call"      // an ordinary API request
	RoleDiscovery Role = "discovery" // GET / or GET /v3: version discovery
	RoleAuth      Role = "authenticate"
	RoleValidate  Role = "validate"
	RoleRevoke    Role = "revoke" // a token revoked (keystone's DELETE /v3/auth/tokens)
	RoleCacheGet  Role = "cache-get"
	RoleCacheSet  Role = "cache-set"
	RoleCache     Role = "cache"
	RoleLogin     Role = "db-login"
	RoleQuery     Role = "db-query"
)

// Outcome is how an exchange ended, in words every printer understands.
type Outcome string

const (
	OK         Outcome = "ok"          // answered, no error
	Failed     Outcome = "error"       // an error answer (4xx/5xx, SQL error, cache error)
	Miss       Outcome = "miss"        // a lookup that found nothing
	Lost       Outcome = "lost"        // no answer captured, though the connection went on
	InProgress Outcome = "in-progress" // no answer by the end of the capture
	NoAnswer   Outcome = "no-reply"    // the request asked for no answer
)

// Note is something about a node a person would explain beside the
// arrows: "token not in cache: glance validates it with keystone".
type Note struct {
	Text string `json:"text"`
	// Before: the note comes before the node's call; otherwise after its
	// reply.
	Before bool `json:"before,omitempty"`
	// Over is the participant the note stands over.
	Over string `json:"over"`
	over *Participant
}

// OverP is the participant the note stands over.
func (n *Note) OverP() *Participant { return n.over }

// Node is one exchange in a request tree, described by neutral facts
// (what was asked, how it ended, sizes, times) so that printers need not
// know the protocol it came from.
type Node struct {
	Ex           *decoder.Exchange `json:"-"`
	Proto        string            `json:"proto"`
	Role         Role              `json:"role"`
	From         string            `json:"from"`
	To           string            `json:"to"`
	Summary      string            `json:"summary"`
	Start        time.Time         `json:"start"`
	End          time.Time         `json:"end"`
	Status       int               `json:"status,omitempty"` // HTTP
	Result       string            `json:"result,omitempty"` // memcache, MySQL, or HTTP reason
	Error        bool              `json:"error,omitempty"`
	Truncated    bool              `json:"truncated,omitempty"`
	User         string            `json:"user,omitempty"`          // authenticate: who logs in
	Project      string            `json:"project,omitempty"`       // authenticate: scope asked for
	Token        string            `json:"token,omitempty"`         // credential the caller presented
	SubjectToken string            `json:"subject_token,omitempty"` // token the message is about
	// ServiceToken is the calling service's own token, presented beside
	// Token (X-Service-Token): nova calling glance for a user sends both.
	ServiceToken string  `json:"service_token,omitempty"`
	Children     []*Node `json:"children,omitempty"`
	// Session numbers the client session (one CLI command: discovery,
	// authentication, the requests made with its token) a tree belongs to.
	// Set on roots only.
	Session int `json:"session,omitempty"`
	// SessionPlaced says what put a root in its session: "" when a token,
	// a login or its connection ties it to the session's client; "timing"
	// when nothing does (work no captured client request explains: a
	// service's own login or periodic task, a pool's chatter) and it went
	// with the session that started last before it; "order" when only its
	// client and its place in time do (ByOrder), among several sessions.
	SessionPlaced Placement `json:"session_placed_by,omitempty"`
	// SessionsInProgress is, for a root placed by timing, how many
	// sessions it could belong to by time: those in progress when it
	// started; when the one chosen was not, that one too, and the next one
	// if the chosen one was over (between two sessions). Above 1 its
	// session is a guess (SessionGuessed).
	SessionsInProgress int `json:"sessions_in_progress,omitempty"`

	// Conn is the exchange's connection number, as decode lists it (the
	// node's identity in the capture is Conn and Start).
	Conn int `json:"conn"`
	// System is the software on the server side as OpenTelemetry names it:
	// "http", "memcached", "mysql" (or the protocol flowmap decoded).
	System string `json:"system"`
	// Outcome is how the exchange ended.
	Outcome Outcome `json:"outcome"`
	// Op is what was asked: the HTTP method, the cache command, the DB
	// command ("query", "login", ...).
	Op string `json:"op,omitempty"`
	// Target is what it was asked of: the HTTP request target, the cache
	// keys (space separated), the SQL text.
	Target string `json:"target,omitempty"`
	// RequestBytes is the size of the request's body or value, when it
	// has one.
	RequestBytes *int64 `json:"request_bytes,omitempty"`
	// RequestType is the request body's content type.
	RequestType    string `json:"request_type,omitempty"`
	RequestChunked bool   `json:"request_chunked,omitempty"`
	// NoReply: the request asked the server not to answer.
	NoReply bool `json:"no_reply,omitempty"`
	// Expiry is the lifetime, in seconds, of what a cache store asked to
	// keep (0: no expiry).
	Expiry *int64 `json:"expiry,omitempty"`
	// ResponseBytes is the size of the answer's body or values, when it
	// has one.
	ResponseBytes *int64 `json:"response_bytes,omitempty"`
	ResponseType  string `json:"response_type,omitempty"`
	// Bulk is set on an answer large enough to be a data transfer rather
	// than an API reply (Options.BulkBytes).
	Bulk bool `json:"bulk,omitempty"`
	// Rows is how many rows a DB answer returned.
	Rows *int64 `json:"rows,omitempty"`
	// ErrorCode and Message are what the server said with its answer: a
	// SQL error's code and text, a cache server's message.
	ErrorCode *int   `json:"error_code,omitempty"`
	Message   string `json:"message,omitempty"`
	// Signature is a DB query's verb and main table ("SELECT project"),
	// "" for pool and session chatter.
	Signature string `json:"signature,omitempty"`
	// RequestEnd and ResponseStart are the last byte of the request and
	// the first of the answer (zero when none was captured).
	RequestEnd    time.Time `json:"request_end,omitzero"`
	ResponseStart time.Time `json:"response_start,omitzero"`
	// Notes explain the node the way the OpenStack operator who drew the
	// reference diagram would.
	Notes []*Note `json:"notes,omitempty"`
	// ID numbers the nodes of a model in order of start (1-based).
	ID int `json:"id"`
	// Placed says what put a node under its parent (roots: "").
	Placed Placement `json:"placed_by,omitempty"`
	// Candidates are the ids of the requests that were in progress and that
	// only timing told apart, when Placed is "timing" and there were
	// several: the parent is one of them.
	Candidates []int `json:"candidates,omitempty"`
	// CallerByTiming: only timing named the process behind the
	// connection (no login, User-Agent, token or table of one service;
	// or which member of a family sharing one DB login): From is a guess.
	CallerByTiming bool `json:"caller_by_timing,omitempty"`
	// PID is the process that served the request or made the file
	// syscalls (from strace output), 0 when unknown.
	PID int `json:"pid,omitempty"`
	// Syscalls is how many syscalls a file node folds; InCalls the time
	// spent in them when strace -T showed it.
	Syscalls int           `json:"syscalls,omitempty"`
	InCalls  time.Duration `json:"syscall_time,omitempty"`
	// Routine marks file work that is the process's housekeeping (Python
	// imports, /proc, /etc/hosts, logs), not the request's story.
	Routine bool `json:"routine,omitempty"`
	// RPC is set on an oslo.messaging call or cast (rpc.go).
	RPC *RPC `json:"rpc,omitempty"`
	// State is the status of the resource an HTTP answer describes
	// ({"server": {"status": "BUILD", …}}), when it names one.
	State string `json:"state,omitempty"`

	from, to   *Participant
	token      *Token // presented
	service    *Token // presented beside it: the calling service's own
	subject    *Token // issued, validated, cached
	parent     *Node
	candidates []*Node   // see Candidates
	caller     string    // service name of the calling process, if a service
	server     string    // service name of the server side
	sql        *sqlFacts // a DB node's SQL text, read (callers.go)
	background bool      // rpc.go: work no client request caused
	relayed    bool      // proxy.go: a leg a proxy relayed, under the request it relays
	// afterAnswer: work its service went on with after answering its
	// parent 202 Accepted (parents.go, linkAccepted)
	afterAnswer bool
	// unsure: timing placed n under its only candidate although that one
	// broke a rule (its token check had not ended): a guess (parents.go)
	unsure bool
}

// FromP and ToP are the participants of the arrow.
func (n *Node) FromP() *Participant { return n.from }

func (n *Node) ToP() *Participant { return n.to }

// TokenP and SubjectP are the tokens involved, if any.
func (n *Node) TokenP() *Token { return n.token }

func (n *Node) SubjectP() *Token { return n.subject }

// ServiceTokenP is the calling service's own token presented beside
// TokenP (nil when none).
func (n *Node) ServiceTokenP() *Token { return n.service }

// Parent is the request this one was made while serving, or nil.
func (n *Node) Parent() *Node { return n.parent }

// Ambiguous reports whether only timing placed n while other requests
// were in progress too: the parent is a guess among CandidatesP.
// A statement on a connection only timing named the process behind (no
// login, no table only one service has) is a guess too: another process on
// that host may have run it (pool chatter such as SELECT 1 aside).
func (n *Node) Ambiguous() bool {
	guessedCaller := n.CallerByTiming && n.Signature != ""
	return n.Placed == ByTiming && (len(n.candidates) > 1 || guessedCaller || n.unsure) ||
		n.parent == nil && guessedCaller // a root whose process only timing named
}

// SessionGuessed reports whether only timing put root n in its session
// while other sessions were in progress too: it may be another client's.
func (n *Node) SessionGuessed() bool {
	return (n.SessionPlaced == ByTiming || n.SessionPlaced == ByOrder) && n.SessionsInProgress > 1
}

// AfterAnswer reports whether n is work its service went on with after
// answering its parent 202 Accepted (the request taken, its work not
// done): told after the parent's answer.
func (n *Node) AfterAnswer() bool { return n.afterAnswer }

// CandidatesP are the requests timing chose n's parent from.
func (n *Node) CandidatesP() []*Node { return n.candidates }

// Answered reports whether an answer was captured.
func (n *Node) Answered() bool {
	return n.Outcome != Lost && n.Outcome != InProgress && n.Outcome != NoAnswer
}

// Model is the correlated story of a capture.
type Model struct {
	Participants []*Participant `json:"participants"`
	Tokens       []*Token       `json:"tokens"`
	Roots        []*Node        `json:"trees"`
	// Sessions is how many client sessions the whole capture has (trees
	// carry their session's number).
	Sessions int `json:"sessions"`
	// Notes are what a reader should know about the model as a whole
	// ("12 token cache keys are HMAC-derived: give --memcache-secret").
	Notes []string `json:"notes,omitempty"`
}

// Walk calls fn for every node, depth first, parents before children.
func (m *Model) Walk(fn func(n *Node, depth int)) {
	var walk func(n *Node, d int)
	walk = func(n *Node, d int) {
		fn(n, d)
		for _, c := range n.Children {
			walk(c, d+1)
		}
	}
	for _, r := range m.Roots {
		walk(r, 0)
	}
}

// Build correlates exs (in any order) into a Model.
func Build(exs []*decoder.Exchange, opts Options) *Model {
	return newBuilder(exs, opts).build()
}

// build runs the passes in order.
func (b *builder) build() *Model {
	b.splitAMQP()
	b.nameServices()
	b.findTokens()
	b.findCallers()
	b.findRPCCallers()
	b.findProxies()
	b.makeNodes()
	b.makeRPCNodes()
	b.resourceStates()
	b.nameLookups()
	b.linkParents()
	b.linkRPC()
	b.explain()
	b.fileNodes()
	m := b.model()
	var c tallyCounter
	for _, t := range b.tally {
		c.add(t)
	}
	m.Notes = append(m.Notes, c.notes()...)
	m.Notes = append(m.Notes, b.fileNotes...)
	return m
}

// sortNodes orders ns by start, then connection. Most lists come in that
// order already (the exchanges were sorted so), which is checked first.
func sortNodes(ns []*Node) {
	if !slices.IsSortedFunc(ns, cmpNodes) {
		slices.SortStableFunc(ns, cmpNodes)
	}
}

func cmpNodes(a, b *Node) int {
	if c := a.Start.Compare(b.Start); c != 0 {
		return c
	}
	return cmp.Compare(a.Conn, b.Conn) // Ex.Conn.ID, without reading Ex
}
