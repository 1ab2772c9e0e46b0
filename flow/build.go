package flow

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/flow/registry"
)

type builder struct {
	opts    Options
	exs     []*decoder.Exchange
	srvName map[netip.AddrPort]string // HTTP server endpoint -> service
	hosts   map[netip.Addr]bool       // addresses that serve something
	tokens  map[string]*Token         // by value
	bySHA   map[string]*Token         // by cache key suffix
	order   []*Token
	caller  map[int]string // conn ID -> calling service (or client label)
	parts   map[string]*Participant
	nodes   []*Node
	// lastOnConn is the last exchange of each connection.
	lastOnConn map[int]*decoder.Exchange
	last       time.Time // end of the last exchange: the end of the capture
}

func newBuilder(exs []*decoder.Exchange, opts Options) *builder {
	b := &builder{
		opts: opts, srvName: map[netip.AddrPort]string{}, hosts: map[netip.Addr]bool{},
		tokens: map[string]*Token{}, bySHA: map[string]*Token{}, caller: map[int]string{},
		parts: map[string]*Participant{}, lastOnConn: map[int]*decoder.Exchange{},
	}
	for _, e := range exs {
		if e != nil && e.Conn != nil && e.Request != nil {
			b.exs = append(b.exs, e)
			if e.End().After(b.last) {
				b.last = e.End()
			}
		}
	}
	sort.SliceStable(b.exs, func(i, j int) bool {
		if !b.exs[i].Start().Equal(b.exs[j].Start()) {
			return b.exs[i].Start().Before(b.exs[j].Start())
		}
		return b.exs[i].Conn.ID < b.exs[j].Conn.ID
	})
	return b
}

// override returns the user's name for addr, if any.
func (b *builder) override(ap netip.AddrPort) string {
	if n, ok := b.opts.Names[ap.String()]; ok {
		return n
	}
	if n, ok := b.opts.Names[ap.Addr().String()]; ok {
		return n
	}
	return ""
}

// services names every HTTP server endpoint: the user's --name, then the
// service catalog (URLs matched through the Host header), then paths, then
// the port.
func (b *builder) nameServices() {
	votes := map[netip.AddrPort]map[string]int{}
	hostHdr := map[string]netip.AddrPort{} // "controller:9292" -> server
	catalog := map[string]string{}         // "controller:9292" -> "glance"
	for _, e := range b.exs {
		b.hosts[e.Conn.Server.Addr()] = true
		req, ok := e.Request.(*http.Request)
		if !ok {
			continue
		}
		srv := e.Conn.Server
		if votes[srv] == nil {
			votes[srv] = map[string]int{}
		}
		path, _, _ := strings.Cut(req.Target, "?")
		if s := registry.ByPath(path); s != "" {
			votes[srv][s] += 2
		}
		if h := req.Header("Host"); h != "" {
			if !strings.Contains(h, ":") {
				h += ":80"
			}
			hostHdr[strings.ToLower(h)] = srv
		}
		if resp, ok := e.Response.(*http.Response); ok && resp.Status == 201 && registry.Authentication(req.Method, req.Target) {
			for u, name := range parseCatalog(resp.Body) {
				catalog[u] = name
			}
		}
	}
	for hp, name := range catalog {
		if srv, ok := hostHdr[hp]; ok {
			votes[srv][name] += 100
		}
	}
	for srv, v := range votes {
		name := registry.ByPort(srv.Port())
		best := 0
		for s, n := range v {
			if n > best || n == best && s < name {
				name, best = s, n
			}
		}
		if name == "" {
			name = srv.String()
		}
		if o := b.override(srv); o != "" {
			name = o
		}
		b.srvName[srv] = name
	}
}

// parseCatalog maps "host:port" of each endpoint URL in a keystone token
// response to the service's name.
func parseCatalog(body string) map[string]string {
	if !strings.Contains(body, `"catalog"`) {
		return nil
	}
	var doc struct {
		Token struct {
			Catalog []struct {
				Name      string `json:"name"`
				Type      string `json:"type"`
				Endpoints []struct {
					URL string `json:"url"`
				} `json:"endpoints"`
			} `json:"catalog"`
		} `json:"token"`
	}
	if json.Unmarshal([]byte(body), &doc) != nil {
		return nil
	}
	m := map[string]string{}
	for _, s := range doc.Token.Catalog {
		name := s.Name
		if name == "" {
			name = firstOf(registry.ByCatalogType(s.Type), s.Type)
		}
		for _, ep := range s.Endpoints {
			u := ep.URL
			if i := strings.Index(u, "://"); i >= 0 {
				scheme := u[:i]
				u = u[i+3:]
				if j := strings.IndexAny(u, "/?"); j >= 0 {
					u = u[:j]
				}
				if !strings.Contains(u, ":") {
					if scheme == "https" {
						u += ":443"
					} else {
						u += ":80"
					}
				}
				m[strings.ToLower(u)] = name
			}
		}
	}
	return m
}

// authBody is the part of a keystone auth request flowmap reads.
type authBody struct {
	Auth struct {
		Identity struct {
			Methods  []string `json:"methods"`
			Password struct {
				User struct {
					Name   string `json:"name"`
					ID     string `json:"id"`
					Domain struct {
						Name string `json:"name"`
						ID   string `json:"id"`
					} `json:"domain"`
				} `json:"user"`
			} `json:"password"`
			Token struct {
				ID string `json:"id"`
			} `json:"token"`
			AppCred struct {
				Name string `json:"name"`
				ID   string `json:"id"`
			} `json:"application_credential"`
		} `json:"identity"`
		Scope json.RawMessage `json:"scope"`
	} `json:"auth"`
}

// authRequest reads who logs in, and to which scope, from the body of a
// keystone POST /v3/auth/tokens (a token method names the user of the
// token it presents).
func (b *builder) authRequest(body string) (user, domain, project string) {
	var ab authBody
	if json.Unmarshal([]byte(body), &ab) != nil {
		return "", "", ""
	}
	id := ab.Auth.Identity
	user = firstOf(id.Password.User.Name, id.Password.User.ID, id.AppCred.Name)
	domain = id.Password.User.Domain.Name
	if t := b.tokens[id.Token.ID]; t != nil && user == "" {
		user, domain = t.User, t.Domain
	}
	var sc struct {
		Project struct {
			Name string `json:"name"`
			ID   string `json:"id"`
		} `json:"project"`
		Domain struct {
			Name string `json:"name"`
		} `json:"domain"`
	}
	if json.Unmarshal(ab.Auth.Scope, &sc) == nil {
		project = firstOf(sc.Project.Name, sc.Project.ID)
		if project == "" && sc.Domain.Name != "" {
			project = "domain " + sc.Domain.Name
		}
	}
	return user, domain, project
}

// tokenBody is the part of a keystone token response flowmap reads.
type tokenBody struct {
	Token struct {
		User struct {
			Name   string `json:"name"`
			Domain struct {
				Name string `json:"name"`
			} `json:"domain"`
		} `json:"user"`
		Project struct {
			Name string `json:"name"`
		} `json:"project"`
		Domain struct {
			Name string `json:"name"`
		} `json:"domain"`
		System json.RawMessage `json:"system"`
	} `json:"token"`
}

func (b *builder) token(value string) *Token {
	if value == "" {
		return nil
	}
	if t := b.tokens[value]; t != nil {
		return t
	}
	sum := sha256.Sum256([]byte(value))
	t := &Token{Value: value, Fingerprint: decoder.Fingerprint(value), sha: hex.EncodeToString(sum[:])}
	b.tokens[value] = t
	b.bySHA[t.sha] = t
	if s := b.opts.MemcacheSecret; s != "" {
		for _, strategy := range []string{"MAC", "ENCRYPT"} {
			b.bySHA[secureKey(value, s, strategy)] = t
		}
	}
	b.order = append(b.order, t)
	return t
}

// secureKey is keystonemiddleware's cache key under memcache_security_strategy
// MAC or ENCRYPT: base64 of the first third of HMAC-SHA384(secret, token+strategy)
// (keystonemiddleware's _memcache_crypt.derive_keys and get_cache_key).
func secureKey(token, secret, strategy string) string {
	m := hmac.New(sha512.New384, []byte(secret))
	m.Write([]byte(token + strategy))
	d := m.Sum(nil)
	return base64.StdEncoding.EncodeToString(d[:len(d)/3])
}

// tokens collects every keystone token: issued (POST /v3/auth/tokens),
// presented (X-Auth-Token) and validated (GET /v3/auth/tokens).
func (b *builder) findTokens() {
	for _, e := range b.exs {
		req, ok := e.Request.(*http.Request)
		if !ok {
			continue
		}
		resp, _ := e.Response.(*http.Response)
		switch {
		case registry.Authentication(req.Method, req.Target):
			if resp == nil || resp.Status != 201 {
				continue
			}
			t := b.token(resp.Header(registry.SubjectTokenHeader))
			if t == nil {
				continue
			}
			t.Issued = e.RespEnd
			t.User, t.Domain, t.Project = b.authRequest(req.Body)
			b.fillFromBody(t, resp.Body)
		case registry.Validation(req.Method, req.Target):
			t := b.token(req.Header(registry.SubjectTokenHeader))
			if t == nil || resp == nil {
				continue
			}
			if resp.Status == 404 || resp.Status == 401 {
				t.Invalid = true
			} else if resp.Status == 200 {
				b.fillFromBody(t, resp.Body)
			}
		}
		b.token(req.Header(registry.AuthTokenHeader))
	}
	for _, t := range b.order {
		switch {
		case t.User != "":
			t.Owner = t.User + " token"
		case t.Invalid:
			t.Owner = "invalid token"
		default:
			t.Owner = "token"
		}
	}
}

func (b *builder) fillFromBody(t *Token, body string) {
	var tb tokenBody
	if body == "" || json.Unmarshal([]byte(body), &tb) != nil {
		return
	}
	if t.User == "" {
		t.User = tb.Token.User.Name
	}
	if t.Domain == "" {
		t.Domain = tb.Token.User.Domain.Name
	}
	if t.Project == "" {
		t.Project = tb.Token.Project.Name
	}
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// cacheToken finds the token a keystonemiddleware cache key is about. A
// key of a token never seen whole (issued before the capture, or cut by the
// snaplen) still names it: its first 8 hex digits are the fingerprint.
func (b *builder) cacheToken(key string) *Token {
	k, ok := registry.TokenCacheKey(key)
	if !ok {
		return nil
	}
	if t := b.bySHA[k]; t != nil {
		return t
	}
	if len(k) != 64 {
		return nil
	}
	if _, err := hex.DecodeString(k); err != nil {
		return nil
	}
	t := &Token{Fingerprint: "sha256:" + k[:8], sha: k, Owner: "token"}
	b.bySHA[k] = t
	b.order = append(b.order, t)
	return t
}
