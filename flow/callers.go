package flow

import (
	"net/netip"
	"strings"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/decoder/memcache"
	"github.com/flowmap/flowmap/decoder/mysql"
	"github.com/flowmap/flowmap/flow/registry"
	"github.com/flowmap/flowmap/internal/memo"
)

// findCallers decides which process is on the client side of each connection:
// a service (by User-Agent, the token it presents, its DB login, the
// tables it queries) or an outside client; what is learned about a
// connection holds for all its exchanges. Connections still unknown are
// attributed by time nesting inside requests served on the same host.
func (b *builder) findCallers() {
	b.sqlOf = make([]*sqlFacts, len(b.exs))
	votes := map[int]map[string]int{}
	top := map[int]int{} // each connection's highest vote (votes only grow)
	vote := func(id int, s string, n int) {
		if s == "" {
			return
		}
		if votes[id] == nil {
			votes[id] = map[string]int{}
		}
		votes[id][s] += n
		top[id] = max(top[id], votes[id][s])
	}
	// the registry is asked the same few logins and schemas for every
	// query: each answer is kept
	dbNames := map[string]string{}
	byDBName := func(name string) string {
		s, ok := dbNames[name]
		if !ok {
			s = registry.ByDBName(name)
			dbNames[name] = s
		}
		return s
	}
	for i, e := range b.exs {
		id := e.Conn.ID
		switch req := e.Request.(type) {
		case *http.Request:
			ua := req.Header("User-Agent")
			external := !b.hosts[e.Conn.Client.Addr()]
			s, versioned := registry.ByUserAgent(ua)
			switch c := registry.Client(ua); {
			case s != "" && (versioned || !external || strings.Contains(ua, "keystonemiddleware")):
				vote(id, s, 100) // "glance/25.1.0 keystonemiddleware…": the service itself
			case s != "":
				vote(id, s+"client", 100) // "glance keystoneauth1/…": the glance CLI
			case c != "" && external:
				vote(id, c, 100)
			case c != "":
				vote(id, c, 10)
			}
			if t := b.tokens[req.Header(registry.AuthTokenHeader)]; t != nil && registry.Known(t.User) {
				vote(id, t.User, 50)
			}
		case *mysql.Request:
			if s := byDBName(req.User); req.UserKnown && s != "" {
				vote(id, s, 100)
			} else {
				vote(id, byDBName(req.Database), 80)
			}
			// A table only one service has is as good as a login.
			b.sqlOf[i] = factsOf(req.Query) // for mysqlNode too
			vote(id, b.sqlOf[i].service, 30)
		}
	}
	// Nesting: what a service does while serving a request happens inside
	// that request, on the same host.
	evidence := map[int]map[string]bool{} // what named a caller before timing
	for id, v := range votes {
		evidence[id] = map[string]bool{}
		for s := range v {
			evidence[id][s] = true
		}
	}
	inb := b.inboundByHost()
	for _, e := range b.exs {
		id := e.Conn.ID
		if top[id] >= 50 {
			continue
		}
		hreq, isHTTP := e.Request.(*http.Request)
		target := b.srvName[e.Conn.Server]
		inb[e.Conn.Client.Addr()].around(e.Start(), func(r *decoder.Exchange) {
			if r.Conn.ID == id {
				return
			}
			s := b.srvName[r.Conn.Server]
			if isHTTP && s == target {
				return // services do not call themselves over HTTP
			}
			w := 1
			if rq, ok := r.Request.(*http.Request); ok && isHTTP {
				tok := rq.Header(registry.AuthTokenHeader)
				if sub := hreq.Header(registry.SubjectTokenHeader); sub != "" && sub == tok {
					w = 20 // validating the token of the request it serves
				} else if tok != "" && hreq.Header(registry.AuthTokenHeader) == tok {
					w = 20 // passing the token of the request it serves on
				}
			}
			if mreq, ok := e.Request.(*memcache.Request); ok {
				if rq, ok := r.Request.(*http.Request); ok {
					for _, k := range mreq.Keys {
						if t := b.cacheToken(k); t != nil && t.Value != "" && t.Value == rq.Header(registry.AuthTokenHeader) {
							w = 20
						}
					}
				}
			}
			vote(id, s, w)
			if w >= 20 {
				// the token of the request it serves: more than timing
				if evidence[id] == nil {
					evidence[id] = map[string]bool{}
				}
				evidence[id][s] = true
			}
		})
	}
	for id, v := range votes {
		b.caller[id] = pickVote(v)
		if c := b.caller[id]; c != "" && !evidence[id][c] {
			// only timing named it: another process on that host (one
			// with no request in progress, a periodic task) may be it
			b.callerByTiming[id] = true
		} else {
			delete(b.callerByTiming, id)
		}
	}
	// A connection is one process's: what an earlier segment decided
	// (segments.go) holds.
	if len(b.decided) > 0 {
		for _, e := range b.exs {
			if c, ok := b.decided[e.Conn.ID]; ok {
				b.caller[e.Conn.ID] = c
				delete(b.callerByTiming, e.Conn.ID)
			}
		}
	}
	// A cache connection nothing placed is keystonemiddleware's in the
	// service that validates the tokens it looks up (captures of lo alone
	// show no request it serves).
	validator := map[*Token]string{}
	for _, e := range b.exs {
		if req, ok := e.Request.(*http.Request); ok && registry.Validation(req.Method, req.Target) {
			if t := b.tokens[req.Header(registry.SubjectTokenHeader)]; t != nil && b.caller[e.Conn.ID] != "" {
				validator[t] = b.caller[e.Conn.ID]
			}
		}
	}
	for _, e := range b.exs {
		req, ok := e.Request.(*memcache.Request)
		if !ok || b.caller[e.Conn.ID] != "" {
			continue
		}
		for _, k := range req.Keys {
			if s := validator[b.cacheToken(k)]; s != "" {
				b.caller[e.Conn.ID] = s
			}
		}
	}
	// An outside host's connections that said nothing about themselves
	// (python-keystoneclient, used by the OpenStack CLI for identity calls)
	// belong to the client that host runs most.
	byHost := map[netip.Addr]map[string]int{}
	for _, e := range b.exs {
		c := e.Conn
		if _, ok := e.Request.(*http.Request); !ok || b.hosts[c.Client.Addr()] {
			continue
		}
		if name := b.caller[c.ID]; name != "" {
			if byHost[c.Client.Addr()] == nil {
				byHost[c.Client.Addr()] = map[string]int{}
			}
			byHost[c.Client.Addr()][name]++
		}
	}
	for _, e := range b.exs {
		c := e.Conn
		if _, ok := e.Request.(*http.Request); !ok || b.caller[c.ID] != "" {
			continue
		}
		b.caller[c.ID] = pickVote(byHost[c.Client.Addr()])
	}
}

func queryService(q string) string {
	// The first four table references, as the regexp that was here read them.
	at := 0
	for range 4 {
		t, end, ok := nextTable(q, at)
		if !ok {
			break
		}
		if s := registry.ByTable(strings.ToLower(t)); s != "" {
			return s
		}
		at = end
	}
	return ""
}

// QuerySignature is a query's verb and main table ("SELECT project"), or
// "" for pool and session chatter (SELECT 1, ROLLBACK, SET ...).
func QuerySignature(q string) string { return factsOf(q).signature }

// sqlFacts are what flow reads of one SQL text: its signature, the
// service whose tables it names, its literals (never modified: callers
// append them to their own slices).
type sqlFacts struct {
	signature, service string
	literals           []string
}

// factsOf returns the facts of q, remembered: services repeat a few
// hundred statements thousands of times, and one lookup of a long text
// serves every pass.
func factsOf(q string) *sqlFacts {
	return sqlFactsOf.Get(q, func(q string) *sqlFacts {
		return &sqlFacts{signature: querySignature(q), service: queryService(q), literals: scanLiterals(nil, q)}
	})
}

var sqlFactsOf memo.Table[*sqlFacts]

func querySignature(q string) string {
	v := queryVerb(q)
	if v == "" {
		return ""
	}
	verb := strings.ToUpper(v)
	t, _, ok := nextTable(q, 0)
	if !ok {
		if verb == "SELECT" {
			return "" // SELECT 1, SELECT VERSION()
		}
		return verb
	}
	return verb + " " + t
}
