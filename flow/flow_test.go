package flow

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/decoder/memcache"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/internal/truth"
)

var (
	cacheMu sync.Mutex
	cache   = map[string]*Model{}
)

// model decodes a capture and builds its model (once per test binary).
func model(t *testing.T, path string) *Model {
	t.Helper()
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if m := cache[path]; m != nil {
		return m
	}
	var exs []*decoder.Exchange
	if _, err := pipeline.Run([]string{path}, pipeline.Options{}, func(e *decoder.Exchange) { exs = append(exs, e) }); err != nil {
		t.Fatal(err)
	}
	m := Build(exs, Options{})
	cache[path] = m
	return m
}

// step is one expected event of the story, matched in pre-order.
type step struct {
	from, to string
	match    func(n *Node) bool
	what     string
}

func role(from, to string, r Role, result string) step {
	return step{from, to, func(n *Node) bool { return n.Role == r && (result == "" || n.Result == result) }, string(r) + " " + result}
}

func status(from, to, prefix string, code int) step {
	return step{from, to, func(n *Node) bool { return strings.HasPrefix(n.Summary, prefix) && n.Status == code }, prefix}
}

// expectStory checks that steps occur, in this order, in a pre-order walk
// of the trees (other nodes may come between them).
func expectStory(t *testing.T, m *Model, steps []step) {
	t.Helper()
	var nodes []*Node
	m.Walk(func(n *Node, _ int) { nodes = append(nodes, n) })
	i := 0
	for _, s := range steps {
		for i < len(nodes) && !(nodes[i].From == s.from && nodes[i].To == s.to && s.match(nodes[i])) {
			i++
		}
		if i == len(nodes) {
			t.Fatalf("story stops before %s -> %s: %s", s.from, s.to, s.what)
		}
		i++
	}
}

const (
	client   = "OpenStackClient"
	keystone = "keystone"
	kdb      = "keystone DB"
	glance   = "glance"
	gdb      = "glance DB"
	mc       = "memcached"
)

// seedSave is the story of the seed case: image list, then image save.
var seedSave = []step{
	status(client, keystone, "POST /v3/auth/tokens", 201),
	role(keystone, kdb, RoleLogin, ""),
	status(client, glance, "GET /v2/images", 200),
	role(glance, mc, RoleCacheGet, "miss"),
	status(glance, keystone, "POST /v3/auth/tokens", 201),
	role(keystone, kdb, RoleQuery, ""),
	status(glance, keystone, "GET /v3/auth/tokens", 200),
	role(glance, mc, RoleCacheSet, "stored"),
	role(glance, gdb, RoleLogin, ""),
	status(client, keystone, "POST /v3/auth/tokens", 201),
	status(client, glance, "GET /v2/images/cirros", 404),
	role(glance, mc, RoleCacheGet, "miss"),
	status(glance, keystone, "GET /v3/auth/tokens", 200),
	role(glance, mc, RoleCacheSet, "stored"),
	status(client, glance, "GET /v2/images?name=cirros", 200),
	role(glance, mc, RoleCacheGet, "hit"),
	status(client, glance, "GET /v2/images/59153cd7-096f-4ecd-bab0-d185f54de134/file", 200),
	role(glance, mc, RoleCacheGet, "hit"),
	role(glance, gdb, RoleQuery, ""),
}

func TestSeedImageSaveStory(t *testing.T) {
	m := model(t, truth.Capture("seed-image-save.cut"))
	expectStory(t, m, seedSave)
	checkSeedTokens(t, m)
	// The image body was cut out of the copy: the download is there,
	// marked as lost bytes, not broken.
	var file *Node
	m.Walk(func(n *Node, _ int) {
		if strings.HasSuffix(n.Summary, "/file") {
			file = n
		}
	})
	if !file.Truncated || file.ResponseBytes == nil || *file.ResponseBytes < 12_000_000 || !file.Bulk || file.Outcome != OK {
		t.Errorf("image download: truncated %v, outcome %s, bulk %v, response bytes %v", file.Truncated, file.Outcome, file.Bulk, file.ResponseBytes)
	}
}

func TestSeedImageSaveStoryFull(t *testing.T) {
	p := truth.Shared("seed-image-save.pcapng")
	if p == "" {
		t.Skip("../shared/captures/seed-image-save.pcapng absent")
	}
	m := model(t, p)
	expectStory(t, m, seedSave)
	checkSeedTokens(t, m)
}

// checkSeedTokens: the admin tokens and the glance token have owners, and
// glance's validations present the glance token about the admin token.
func checkSeedTokens(t *testing.T, m *Model) {
	t.Helper()
	owners := map[string]int{}
	for _, tk := range m.Tokens {
		owners[tk.Owner]++
		if !strings.HasPrefix(tk.Fingerprint, "sha256:") || len(tk.Fingerprint) != 15 {
			t.Errorf("fingerprint %q", tk.Fingerprint)
		}
	}
	if owners["admin token"] != 2 || owners["glance token"] != 1 {
		t.Errorf("token owners %v, want 2 admin tokens and 1 glance token", owners)
	}
	m.Walk(func(n *Node, _ int) {
		if n.Role != RoleValidate {
			return
		}
		if n.TokenP() == nil || n.TokenP().Owner != "glance token" || n.SubjectP() == nil || n.SubjectP().Owner != "admin token" {
			t.Errorf("validation %s: presents %v about %v", n.Summary, n.TokenP(), n.SubjectP())
		}
		if p := n.Parent(); p == nil || p.TokenP() != n.SubjectP() {
			t.Errorf("validation of %s is not under the request that presented it", n.SubjectToken)
		}
	})
}

func TestParticipantsByRole(t *testing.T) {
	m := model(t, truth.Capture("seed-image-list"))
	var names []string
	for _, p := range m.Participants {
		names = append(names, p.Name+"/"+string(p.Kind))
	}
	want := "OpenStackClient/client keystone/service keystone DB/db glance/service glance DB/db memcached/cache"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("participants\n got %s\nwant %s", got, want)
	}
	// On lo alone no request into glance is visible: its cache lookups are
	// still glance's, known by the tokens it validates.
	for _, p := range model(t, truth.Capture("seed-image-list.lo")).Participants {
		if p.Kind == Host {
			t.Errorf("lo capture: participant %s known only by address", p.Name)
		}
	}
}

// TestConcurrentTrees: 8 clients at once. Every client request is a root;
// each image listing carries its own token, and every memcache operation
// and token validation under it is about that token.
func TestConcurrentTrees(t *testing.T) {
	m := model(t, truth.Capture("concurrent"))
	lists := 0
	tokens := map[*Token]bool{}
	for _, r := range m.Roots {
		if r.Proto == "http" && r.From != client {
			t.Errorf("root %s -> %s %s is not a client request", r.From, r.To, r.Summary)
		}
		if r.Summary != "GET /v2/images" {
			continue
		}
		lists++
		if r.TokenP() == nil || tokens[r.TokenP()] {
			t.Fatalf("listing %d: token %v (nil or shared)", lists, r.TokenP())
		}
		tokens[r.TokenP()] = true
		roles := map[Role]int{}
		var walk func(n *Node)
		walk = func(n *Node) {
			for _, c := range n.Children {
				roles[c.Role]++
				if c.Proto == "memcache" || c.Role == RoleValidate {
					if c.SubjectP() != r.TokenP() {
						t.Errorf("tree of %s holds %s %s about %s", r.Token, c.Role, c.Summary, c.SubjectToken)
					}
				}
				walk(c)
			}
		}
		walk(r)
		if roles[RoleCacheGet] != 1 || roles[RoleCacheSet] != 1 || roles[RoleValidate] != 1 {
			t.Errorf("tree of %s: %v, want one cache get, one validation, one cache set", r.Token, roles)
		}
	}
	if lists != 8 {
		t.Errorf("%d image listings, want 8", lists)
	}
	// Each of the 8 client sessions is one `openstack image list`: its
	// GET /v3, its login, glance's GET / and the listing.
	sessions := map[int][]string{}
	for _, r := range m.Roots {
		if r.Proto == "http" {
			sessions[r.Session] = append(sessions[r.Session], r.Summary)
		}
	}
	if len(sessions) != 8 {
		t.Errorf("%d sessions, want 8", len(sessions))
	}
	for s, reqs := range sessions {
		if got := strings.Join(reqs, ", "); got != "GET /v3, POST /v3/auth/tokens, GET /, GET /v2/images" {
			t.Errorf("session %d: %s", s, got)
		}
	}
}

// TestWarmCache: the second listing with the same token hits the cache and
// needs no validation.
func TestWarmCache(t *testing.T) {
	m := model(t, truth.Capture("warm-cache"))
	var lists []*Node
	for _, r := range m.Roots {
		if strings.HasPrefix(r.Summary, "GET /v2/images") {
			lists = append(lists, r)
		}
	}
	if len(lists) != 2 {
		t.Fatalf("%d listings, want 2", len(lists))
	}
	count := func(n *Node, r Role, result string) int {
		k := 0
		for _, c := range n.Children {
			if c.Role == r && (result == "" || c.Result == result) {
				k++
			}
		}
		return k
	}
	if count(lists[0], RoleCacheGet, "miss") != 1 || count(lists[0], RoleValidate, "") != 1 {
		t.Errorf("first listing: want a miss and a validation")
	}
	if count(lists[1], RoleCacheGet, "hit") != 1 || count(lists[1], RoleValidate, "") != 0 {
		t.Errorf("second listing: want a hit and no validation")
	}
}

// TestAuthFail: the wrong password's 401, keystone's 404 for the bogus
// token and glance's 401 are errors; the bogus token is invalid.
func TestAuthFail(t *testing.T) {
	m := model(t, truth.Capture("auth-fail"))
	var errs []string
	m.Walk(func(n *Node, _ int) {
		if n.Error {
			errs = append(errs, n.From+">"+n.To+" "+n.Summary)
		}
	})
	want := []string{
		"OpenStackClient>keystone POST /v3/auth/tokens",
		"curl>glance GET /v2/images",
		"glance>keystone GET /v3/auth/tokens",
	}
	if strings.Join(errs, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(want, "\n"))
	}
	invalid := 0
	for _, tk := range m.Tokens {
		if tk.Invalid {
			invalid++
		}
	}
	if invalid != 1 {
		t.Errorf("%d invalid tokens, want 1", invalid)
	}
}

// TestSecureCacheKey: keystonemiddleware's MAC/ENCRYPT keys (values from
// Python's hmac/hashlib/base64 running derive_keys and get_cache_key).
func TestSecureCacheKey(t *testing.T) {
	for _, c := range []struct{ strategy, want string }{
		{"ENCRYPT", "uWHXjY3pjA1VxStITk1D5Q=="},
		{"MAC", "D8Wr1k+q4a6Cchy84M/YfA=="},
	} {
		if got := secureKey("gAAAAABexampletoken", "memcache-secret", c.strategy); got != c.want {
			t.Errorf("%s: %s, want %s", c.strategy, got, c.want)
		}
	}
}

// TestIPv6SameStory: the seed traffic rewritten to IPv6 tells the same
// story with the same participants.
func TestIPv6SameStory(t *testing.T) {
	v4 := model(t, truth.Capture("seed-image-list"))
	v6 := model(t, truth.IPv6Copy(t, truth.Capture("seed-image-list")))
	var a, b []string
	v4.Walk(func(n *Node, d int) { a = append(a, n.From+">"+n.To+" "+n.Summary) })
	v6.Walk(func(n *Node, d int) { b = append(b, n.From+">"+n.To+" "+n.Summary) })
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("IPv6 story differs:\n%s\nvs\n%s", strings.Join(b[:min(10, len(b))], "\n"), strings.Join(a[:min(10, len(a))], "\n"))
	}
}

// exchange builds an HTTP exchange for correlation tests.
func exchange(id int, client, server string, start, end float64, req *http.Request, resp *http.Response) *decoder.Exchange {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	return &decoder.Exchange{
		Proto:   "http",
		Conn:    &decoder.Conn{ID: id, Client: netip.MustParseAddrPort(client), Server: netip.MustParseAddrPort(server)},
		Request: req, Response: resp,
		ReqStart: at(start), ReqEnd: at(start), RespStart: at(end), RespEnd: at(end),
	}
}

// TestExactLinks: a global request id, or osprofiler's trace id, puts a
// call under the request that made it even when another request started
// later (time nesting alone would pick the innermost).
func TestExactLinks(t *testing.T) {
	traceInfo := func(base string) string {
		return base64.StdEncoding.EncodeToString([]byte(`{"base_id":"` + base + `","parent_id":"p"}`))
	}
	for _, c := range []struct {
		name     string
		aReq     [][2]string
		aResp    [][2]string
		callHdrs [][2]string
	}{
		{"global-request-id", nil, [][2]string{{"X-OpenStack-Request-ID", "req-a"}}, [][2]string{{"X-OpenStack-Request-ID", "req-a"}}},
		{"osprofiler", [][2]string{{"X-Trace-Info", traceInfo("trace-a")}}, nil, [][2]string{{"X-Trace-Info", traceInfo("trace-a")}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ua := [2]string{"User-Agent", "nova/27.0.0 keystonemiddleware.auth_token/10.1.0"}
			a := exchange(1, "10.0.0.1:40000", "10.0.0.2:8774", 0, 10,
				&http.Request{Method: "GET", Target: "/v2.1/servers", Headers: c.aReq},
				&http.Response{Status: 200, Headers: c.aResp})
			b := exchange(2, "10.0.0.1:40002", "10.0.0.2:8774", 1, 10,
				&http.Request{Method: "GET", Target: "/v2.1/flavors"},
				&http.Response{Status: 200})
			call := exchange(3, "10.0.0.2:50000", "10.0.0.3:9696", 2, 3,
				&http.Request{Method: "GET", Target: "/v2.0/ports", Headers: append(c.callHdrs, ua)},
				&http.Response{Status: 200})
			m := Build([]*decoder.Exchange{a, b, call}, Options{})
			got := nodeOf(m, call)
			if got == nil || got.Parent() == nil || got.Parent().Ex != a {
				t.Fatalf("call not under the request that made it: parent %+v", got.Parent())
			}
			if got.From != "nova-api" || got.To != "neutron" {
				t.Errorf("call drawn %s -> %s, want nova-api -> neutron", got.From, got.To)
			}
		})
	}
}

// TestTokenPassedOn: a service that calls another with the user's token
// (nova fetching an image from glance) is placed under the request that
// brought the token, and is named after the service, not its client
// library, although its User-Agent is python-glanceclient's.
func TestTokenPassedOn(t *testing.T) {
	tok := [2]string{"X-Auth-Token", "gAAAAABtokenOfUserA"}
	a := exchange(1, "10.0.0.1:40000", "10.0.0.2:8774", 0, 10,
		&http.Request{Method: "POST", Target: "/v2.1/servers", Headers: [][2]string{tok}}, &http.Response{Status: 202})
	b := exchange(2, "10.0.0.1:40002", "10.0.0.2:8774", 1, 10,
		&http.Request{Method: "POST", Target: "/v2.1/servers", Headers: [][2]string{{"X-Auth-Token", "gAAAAABtokenOfUserB"}}}, &http.Response{Status: 202})
	call := exchange(3, "10.0.0.2:50000", "10.0.0.2:9292", 2, 3,
		&http.Request{Method: "GET", Target: "/v2/images/x", Headers: [][2]string{tok, {"User-Agent", "python-glanceclient"}}},
		&http.Response{Status: 200})
	m := Build([]*decoder.Exchange{a, b, call}, Options{})
	got := nodeOf(m, call)
	if got.Parent() == nil || got.Parent().Ex != a {
		t.Fatalf("call not under the request whose token it passes on")
	}
	if got.From != "nova-api" || got.To != "glance" {
		t.Errorf("drawn %s -> %s, want nova-api -> glance", got.From, got.To)
	}
}

// TestCLINamedAfterService: the glance CLI's keystone requests ("glance
// keystoneauth1/...", from the client host) belong to the glance client,
// not to the glance service.
func TestCLINamedAfterService(t *testing.T) {
	m := model(t, truth.Capture("glanceclient-upload"))
	for _, r := range m.Roots {
		if r.Proto == "http" && r.From != "glanceclient" {
			t.Errorf("root %s -> %s %s: want it from glanceclient", r.From, r.To, r.Summary)
		}
	}
}

// TestEveryQueryHasARequest: on whole captures every DB query happened
// while its service served a request, and is placed under one. (The lone
// exception in concurrent is a ROLLBACK of a pool checkin before the
// first request.)
func TestEveryQueryHasARequest(t *testing.T) {
	for name, orphans := range map[string]int{
		"seed-image-list": 0, "keystone-only": 0, "auth-fail": 0, "warm-cache": 0,
		"tiny-save": 0, "image-create-delete": 0, "glanceclient-upload": 0, "concurrent": 1,
	} {
		m := model(t, truth.Capture(name))
		n := 0
		for _, r := range m.Roots {
			if r.Proto == "mysql" {
				n++
			}
		}
		if n != orphans {
			t.Errorf("%s: %d DB queries outside any request, want %d", name, n, orphans)
		}
	}
}

func TestQuerySignature(t *testing.T) {
	for _, c := range []struct{ q, want string }{
		{"SELECT project.id AS project_id \nFROM project \nWHERE project.id = 'x'", "SELECT project"},
		{"SELECT `group`.id FROM `group` JOIN user_group_membership ON x", "SELECT group"},
		{"SELECT 1", ""},
		{"SELECT VERSION()", ""},
		{"INSERT INTO images (id) VALUES ('x')", "INSERT images"},
		{"UPDATE `images` SET status='active'", "UPDATE images"},
		{"ROLLBACK", ""},
		{"SET NAMES utf8", ""},
	} {
		if got := QuerySignature(c.q); got != c.want {
			t.Errorf("QuerySignature(%q) = %q, want %q", c.q, got, c.want)
		}
	}
}

// TestValidationRefusals: keystone answers a token validation with 404
// when the subject token is not valid and 401 when the caller's own
// token is refused; only the token keystone judged is called invalid.
func TestValidationRefusals(t *testing.T) {
	for _, c := range []struct {
		status                     int
		callerInvalid, subjInvalid bool
	}{{404, false, true}, {401, true, false}, {200, false, false}} {
		caller, subject := "gAAAAABcallerToken0001", "gAAAAABsubjectToken001"
		v := exchange(1, "10.0.0.2:50000", "10.0.0.3:5000", 0, 3,
			&http.Request{Method: "GET", Target: "/v3/auth/tokens", Headers: [][2]string{{"X-Auth-Token", caller}, {"X-Subject-Token", subject}}},
			&http.Response{Status: c.status})
		m := Build([]*decoder.Exchange{v}, Options{})
		got := map[string]bool{}
		for _, tk := range m.Tokens {
			got[tk.Value] = tk.Invalid
		}
		if got[caller] != c.callerInvalid || got[subject] != c.subjInvalid {
			t.Errorf("%d: caller invalid %v, subject invalid %v; want %v, %v", c.status, got[caller], got[subject], c.callerInvalid, c.subjInvalid)
		}
	}
}

// TestRevocation: keystone's DELETE /v3/auth/tokens is about the token in
// X-Subject-Token, revoked; the caller presents its own.
func TestRevocation(t *testing.T) {
	const t1, t2 = "gAAAAABrevoked0000000000000000000000000000000000000000000000", "gAAAAABcaller00000000000000000000000000000000000000000000000"
	login := func(id int, at float64, tok string) *decoder.Exchange {
		return exchange(id, "10.0.0.100:4000"+string(rune('0'+id)), "10.0.0.11:5000", at, at+0.1,
			&http.Request{Method: "POST", Target: "/v3/auth/tokens", Headers: [][2]string{{"User-Agent", "openstacksdk/1.0"}}},
			&http.Response{Status: 201, Headers: [][2]string{{"X-Subject-Token", tok}}})
	}
	del := exchange(3, "10.0.0.100:40003", "10.0.0.11:5000", 1, 1.1,
		&http.Request{Method: "DELETE", Target: "/v3/auth/tokens", Headers: [][2]string{{"User-Agent", "openstacksdk/1.0"}, {"X-Auth-Token", t2}, {"X-Subject-Token", t1}}},
		&http.Response{Status: 204})
	m := Build([]*decoder.Exchange{login(1, 0, t1), login(2, 0.5, t2), del}, Options{})
	got := nodeOf(m, del)
	if got == nil || got.Role != RoleRevoke {
		t.Fatalf("DELETE /v3/auth/tokens: role %v, want %s", got, RoleRevoke)
	}
	if got.SubjectP() == nil || got.SubjectToken != decoder.Fingerprint(t1) || got.TokenP() == nil || got.Token != decoder.Fingerprint(t2) {
		t.Errorf("revoked %s as %s, want %s as %s", got.SubjectToken, got.Token, decoder.Fingerprint(t1), decoder.Fingerprint(t2))
	}
}

// TestLoginSaysWho: every login keystone answered with a token says who
// logged in, also when its request names nobody (an application
// credential by id: the seventh command of keystone-credentials): the
// issued token's user and project.
func TestLoginSaysWho(t *testing.T) {
	m := model(t, filepath.Join(truth.Root(), "testdata", "secrets", "keystone-credentials.pcapng"))
	logins, appcred := 0, 0
	m.Walk(func(n *Node, _ int) {
		if n.Role != RoleAuth || n.SubjectP() == nil {
			return
		}
		logins++
		if strings.Contains(n.Ex.Request.(*http.Request).Body, `"application_credential"`) {
			appcred++
		}
		if tok := n.SubjectP(); n.User == "" || n.User != tok.User {
			t.Errorf("login %d at %v: user %q, issued token's user %q", n.ID, n.Start, n.User, tok.User)
		}
		if n.Project == "" {
			t.Errorf("login %d at %v: no project", n.ID, n.Start)
		}
	})
	if logins < 2 || appcred == 0 {
		t.Fatalf("%d logins, %d with an application credential: the test checks nothing", logins, appcred)
	}
}

// TestLoginScope: a login says the scope it asks for: a project, a
// domain ("domain Default"), or keystone's system ("system all").
func TestLoginScope(t *testing.T) {
	for name, want := range map[string]string{"system-scope": "system all", "domain-scope": "domain Default", "keystone-only": "admin"} {
		m := model(t, filepath.Join(truth.Root(), "testdata", "captures", name+".pcapng"))
		n := 0
		m.Walk(func(r *Node, _ int) {
			if r.Role == RoleAuth && r.From == "OpenStackClient" {
				n++
				if r.Project != want {
					t.Errorf("%s: login at %v asks for %q, want %q", name, r.Start, r.Project, want)
				}
			}
		})
		if n == 0 {
			t.Errorf("%s: no client login", name)
		}
	}
}

// TestNameLookups: the CLI asks for a name as an id first (404) and then
// lists by name: that 404 is a lookup that found nothing, not an error,
// when the listing found the name. A 404 on an id stays an error, and so
// does one whose name the listing did not find either (the command
// failed).
func TestNameLookups(t *testing.T) {
	m := model(t, filepath.Join(truth.Root(), "testdata", "captures", "image-create-delete.pcapng"))
	looked := 0
	m.Walk(func(n *Node, _ int) {
		if n.Proto != "http" || n.Status != 404 {
			return
		}
		path, _, _ := strings.Cut(n.Target, "?")
		name := path[strings.LastIndexByte(path, '/')+1:]
		switch {
		case isID(name) && n.Outcome != Failed:
			t.Errorf("%s: a 404 on an id is %q, want an error", n.Summary, n.Outcome)
		case !isID(name) && n.Outcome != Miss:
			t.Errorf("%s: %q, want a miss (the name was found by listing)", n.Summary, n.Outcome)
		case !isID(name):
			looked++
		}
	})
	if looked == 0 {
		t.Fatal("no name lookup: the test checks nothing")
	}
}

func TestNameLookupNotFound(t *testing.T) {
	tok := [][2]string{{"X-Auth-Token", "gAAAAABnameLookupTokenXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"}}
	for _, c := range []struct {
		body string
		want Outcome
	}{{`{"images": []}`, Failed}, {`{"images": [{"name": "nope", "id": "x"}]}`, Miss}} {
		byID := exchange(1, "10.0.0.1:40000", "10.0.0.2:9292", 0, 0.1,
			&http.Request{Method: "GET", Target: "/v2/images/nope", Headers: tok}, &http.Response{Status: 404})
		byName := exchange(1, "10.0.0.1:40000", "10.0.0.2:9292", 0.2, 0.3,
			&http.Request{Method: "GET", Target: "/v2/images?name=nope", Headers: tok}, &http.Response{Status: 200, Body: c.body})
		m := Build([]*decoder.Exchange{byID, byName}, Options{})
		if n := nodeOf(m, byID); n.Outcome != c.want {
			t.Errorf("listing %s: the 404 is %q, want %q", c.body, n.Outcome, c.want)
		}
	}
}

// TestTokenMethod404NotAboutToken: keystone's token method answers 404
// for what it cannot find besides the token (a trust): the token
// presented is then not marked invalid, nor said to be.
func TestTokenMethod404NotAboutToken(t *testing.T) {
	const tok = "gAAAAABtokenMethodTrustXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	for _, c := range []struct {
		msg     string
		invalid bool
	}{{"Could not find trust: 7f3c.", false}, {"Failed to validate token", true}} {
		login := exchange(1, "10.0.0.1:40000", "10.0.0.2:5000", 0, 0.1,
			&http.Request{Method: "POST", Target: "/v3/auth/tokens", Headers: [][2]string{{"X-Auth-Token", tok}},
				Body: `{"auth": {"identity": {"methods": ["token"], "token": {"id": "` + tok + `"}}}}`},
			&http.Response{Status: 404, Headers: [][2]string{{"Content-Type", "application/json"}},
				Body: `{"error": {"code": 404, "title": "Not Found", "message": "` + c.msg + `"}}`})
		m := Build([]*decoder.Exchange{login}, Options{})
		n := nodeOf(m, login)
		said := false
		for _, nt := range n.Notes {
			said = said || strings.HasPrefix(nt.Text, "token not valid")
		}
		if n.TokenP() == nil || n.TokenP().Invalid != c.invalid || said != c.invalid {
			t.Errorf("%q: token invalid %v, said %v; want %v", c.msg, n.TokenP() != nil && n.TokenP().Invalid, said, c.invalid)
		}
	}
}

// TestNoTokenIsNoEvidence: a cache lookup of a token never seen whole,
// on a host serving a request that presents no token (a health check, a
// discovery): the two "" do not match, so the cache's caller is timing's
// guess (≈), as with a request presenting another token. (Review: the
// empty header matched the token known by its key only.)
func TestNoTokenIsNoEvidence(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	sum := sha256.Sum256([]byte("gAAAAAB" + strings.Repeat("z", 170)))
	for _, hdr := range [][][2]string{nil, {{"X-Auth-Token", "a" + strings.Repeat("1", 170)}}} {
		id := 0
		conn := func(client, server string) *decoder.Conn {
			id++
			return &decoder.Conn{ID: id, Client: netip.MustParseAddrPort(client), Server: netip.MustParseAddrPort(server), SawSYN: true, First: t0}
		}
		exs := []*decoder.Exchange{
			{Proto: "http", Conn: conn("10.0.20.100:50000", "10.0.20.11:9292"), ReqStart: at(0), ReqEnd: at(0.001), RespStart: at(0.02), RespEnd: at(0.03),
				Request:  &http.Request{Method: "GET", Target: "/v2/images", Version: "HTTP/1.1", Headers: append([][2]string{{"User-Agent", "curl/8"}}, hdr...)},
				Response: &http.Response{Version: "HTTP/1.1", Status: 200, Headers: [][2]string{{"Content-Type", "application/json"}}, Body: "{}"}},
			{Proto: "memcache", Conn: conn("10.0.20.11:40000", "10.0.20.11:11211"), ReqStart: at(0.005), ReqEnd: at(0.005), RespStart: at(0.006), RespEnd: at(0.006),
				Request: &memcache.Request{Command: "get", Keys: []string{"tokens/" + hex.EncodeToString(sum[:])}}, Response: &memcache.Response{Result: "hit"}},
		}
		found := false
		Build(exs, Options{}).Walk(func(n *Node, _ int) {
			if n.Proto == "memcache" {
				found = true
				if !n.CallerByTiming {
					t.Errorf("token header %v: the cache lookup drawn from %s as certain; only timing names it", hdr != nil, n.From)
				}
			}
		})
		if !found {
			t.Fatal("no cache node")
		}
	}
}

// TestNameLookupNotAListing: a 404 is a name lookup only when a listing
// of its collection (or its /detail) lists an item of that name: not a
// sub-resource of an id whose GET names the word (…/{id}/file, then the
// image with its "file" field), nor a name the listing shows only as
// another field's value ("visibility": "public"). Both stay errors.
func TestNameLookupNotAListing(t *testing.T) {
	const img = "0b7e6c2a-1111-4222-8333-944455556666"
	tok := [][2]string{{"X-Auth-Token", "gAAAAABnameLookupTokenXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"}}
	file := exchange(1, "10.0.0.1:40000", "10.0.0.2:9292", 0, 0.1,
		&http.Request{Method: "GET", Target: "/v2/images/" + img + "/file", Headers: tok}, &http.Response{Status: 404})
	show := exchange(1, "10.0.0.1:40000", "10.0.0.2:9292", 0.2, 0.3,
		&http.Request{Method: "GET", Target: "/v2/images/" + img, Headers: tok}, &http.Response{Status: 200, Body: `{"id": "` + img + `", "file": "/v2/images/` + img + `/file"}`})
	byID := exchange(2, "10.0.0.1:40002", "10.0.0.2:9292", 1, 1.1,
		&http.Request{Method: "GET", Target: "/v2/images/public", Headers: tok}, &http.Response{Status: 404})
	list := exchange(2, "10.0.0.1:40002", "10.0.0.2:9292", 1.2, 1.3,
		&http.Request{Method: "GET", Target: "/v2/images", Headers: tok}, &http.Response{Status: 200, Body: `{"images": [{"name": "cirros", "visibility": "public"}]}`})
	spaced := exchange(3, "10.0.0.1:40004", "10.0.0.2:9292", 2, 2.1,
		&http.Request{Method: "GET", Target: "/v2/images/my%20image", Headers: tok}, &http.Response{Status: 404})
	found := exchange(3, "10.0.0.1:40004", "10.0.0.2:9292", 2.2, 2.3,
		&http.Request{Method: "GET", Target: "/v2/images?name=my%20image", Headers: tok}, &http.Response{Status: 200, Body: `{"images": [{"name": "my image", "id": "` + img + `"}]}`})
	m := Build([]*decoder.Exchange{file, show, byID, list, spaced, found}, Options{})
	for _, c := range []struct {
		e    *decoder.Exchange
		want Outcome
	}{{file, Failed}, {byID, Failed}, {spaced, Miss}} {
		if n := nodeOf(m, c.e); n == nil || n.Outcome != c.want {
			t.Errorf("%s: %v, want %s", c.e.Request.Summary(), n, c.want)
		}
	}
}
