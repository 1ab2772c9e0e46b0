package flow

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/flow/registry"
	"github.com/flowmap/flowmap/internal/truth"
)

// attribution is a capture of testdata/attribution (see its NOTES.md).
func attribution(name string) string {
	return filepath.Join(truth.Root(), "testdata", "attribution", name+".pcapng")
}

var (
	decodedMu sync.Mutex
	decoded   = map[string][]*decoder.Exchange{}
)

// decode runs the pipeline on one capture as flowmap does (the registry's
// ports and credential fields), once per test binary.
func decode(t testing.TB, p string) []*decoder.Exchange {
	t.Helper()
	decodedMu.Lock()
	defer decodedMu.Unlock()
	if exs, ok := decoded[p]; ok {
		return exs
	}
	var o pipeline.Options
	o.HTTP.Ports = registry.HTTPPorts()
	o.HTTP.Secrets = registry.Secrets()
	var exs []*decoder.Exchange
	if _, err := pipeline.Run([]string{p}, o, func(e *decoder.Exchange) { exs = append(exs, e) }); err != nil {
		t.Fatal(err)
	}
	decoded[p] = exs
	return exs
}

// busy are the captures with concurrent clients that attribution must get
// right over every node: testdata's, and ../shared's when it is there.
func busy(t *testing.T) map[string][]*decoder.Exchange {
	t.Helper()
	paths := map[string]string{"concurrent": truth.Capture("concurrent")}
	for _, name := range []string{"concurrent-mixed-small", "mixed-run-r01-03", "mac", "encrypt"} {
		paths[name] = attribution(name)
	}
	for _, name := range []string{"long-mixed-head.pcapng", "concurrent.pcapng"} {
		if p := truth.Shared(name); p != "" {
			paths["shared/"+name] = p
		}
	}
	out := map[string][]*decoder.Exchange{}
	for name, p := range paths {
		out[name] = decode(t, p)
	}
	return out
}

// request is the nearest HTTP ancestor of n.
func request(n *Node) *Node {
	for p := n.parent; p != nil; p = p.parent {
		if p.Proto == "http" {
			return p
		}
	}
	return nil
}

var userLookup = regexp.MustCompile(`local_user\.name = '([^']+)'`)

// images maps each image id and name the capture's glance answers show to
// both (id and name name the same image).
func images(m *Model) map[string][]string {
	out := map[string][]string{}
	m.Walk(func(n *Node, _ int) {
		_, resp := n.httpMsgs()
		if resp == nil || !strings.HasPrefix(n.Target, "/v2/images") || !strings.Contains(resp.Body, `"id"`) {
			return
		}
		var one struct{ ID, Name string }
		var list struct{ Images []struct{ ID, Name string } }
		all := []struct{ ID, Name string }{}
		if json.Unmarshal([]byte(resp.Body), &list) == nil {
			all = append(all, list.Images...)
		}
		if json.Unmarshal([]byte(resp.Body), &one) == nil && one.ID != "" {
			all = append(all, one)
		}
		for _, im := range all {
			if im.ID != "" && im.Name != "" {
				out[im.ID] = []string{im.ID, im.Name}
				out[im.Name] = []string{im.ID, im.Name}
			}
		}
	})
	return out
}

// about reports whether request r is about one of the image's names.
func about(r *Node, names []string) bool {
	for _, n := range names {
		if strings.Contains(r.Target, n) {
			return true
		}
	}
	return false
}

// TestAttributionOverEveryNode checks, on every node of the busy captures:
// a user lookup by name sits under that user's login; DB work naming an
// image sits under no request about another image; no DB work of a
// service starts before its request's token check ended; every non-root
// node says what placed it, and a timing guess lists its candidates.
func TestAttributionOverEveryNode(t *testing.T) {
	allNamed := 0
	for name, exs := range busy(t) {
		m := Build(exs, Options{})
		imgs := images(m)
		checks := map[*Token][]*Node{}
		m.Walk(func(n *Node, _ int) {
			if n.subject != nil && (n.Role == RoleCacheGet || n.Role == RoleValidate) {
				checks[n.subject] = append(checks[n.subject], n)
			}
		})
		var lookups, named, dbWork int
		m.Walk(func(n *Node, depth int) {
			if depth > 0 && n.Placed == "" {
				t.Errorf("%s: node %d (%s) has no placed_by", name, n.ID, n.Summary)
			}
			if n.Placed == ByTiming && len(n.Candidates) == 1 || n.Placed != ByTiming && len(n.Candidates) > 0 {
				t.Errorf("%s: node %d placed by %s lists candidates %v", name, n.ID, n.Placed, n.Candidates)
			}
			if len(n.Candidates) > 1 && !slices.Contains(n.Candidates, n.parent.ID) {
				t.Errorf("%s: node %d's parent %d is not among its candidates %v", name, n.ID, n.parent.ID, n.Candidates)
			}
			if n.Role != RoleQuery {
				return
			}
			r := request(n)
			for _, u := range userLookup.FindAllStringSubmatch(n.Summary, -1) {
				lookups++
				if r == nil || r.Role != RoleAuth || r.User != u[1] {
					t.Errorf("%s: lookup of user %s (node %d) under %v", name, u[1], n.ID, describe(r))
				}
			}
			if r == nil {
				return
			}
			for img, same := range imgs {
				if !strings.Contains(n.Summary, "'"+img+"'") {
					continue
				}
				named++
				for other, names := range imgs {
					if !slices.Contains(same, other) && about(r, names) && !about(r, same) {
						t.Errorf("%s: DB work naming image %s (node %d) under %s", name, img, n.ID, r.Summary)
					}
				}
			}
			if r.token != nil && r.server != "" && n.caller == r.server {
				dbWork++
				// every check of r's token by r's service while r was in
				// progress, wherever it was placed
				for _, c := range checks[r.token] {
					if c.caller == r.server && !c.Start.Before(r.Start) && !c.Start.After(r.End) && c.End.After(n.Start) {
						t.Errorf("%s: DB work %d of %s starts before its token check %d ended", name, n.ID, r.Summary, c.ID)
					}
				}
			}
		})
		if lookups == 0 || dbWork == 0 {
			t.Errorf("%s: %d user lookups, %d service DB queries checked: the test checked nothing", name, lookups, dbWork)
		}
		allNamed += named
		t.Logf("%s: %d user lookups, %d queries naming an image, %d service DB queries checked", name, lookups, named, dbWork)
	}
	if allNamed < 50 {
		t.Errorf("%d queries naming an image checked: the image check checked nothing", allNamed)
	}
}

func describe(r *Node) string {
	if r == nil {
		return "no request"
	}
	return r.Summary + " (user " + r.User + ")"
}

// TestSelfAuthenticationCarriesItsLookup: each service's own login (glance
// authenticating itself while serving a request) has its user lookup under
// it, when keystone's DB traffic was captured.
func TestSelfAuthenticationCarriesItsLookup(t *testing.T) {
	checked := 0
	for name, exs := range busy(t) {
		m := Build(exs, Options{})
		m.Walk(func(n *Node, _ int) {
			if n.Role != RoleAuth || n.parent == nil || n.User == "" {
				return
			}
			checked++
			found := false
			walk(n, func(c *Node) {
				for _, u := range userLookup.FindAllStringSubmatch(c.Summary, -1) {
					found = found || u[1] == n.User
				}
			})
			if !found {
				t.Errorf("%s: %s's login (node %d) has no lookup of user %s under it", name, n.from.Name, n.ID, n.User)
			}
		})
	}
	if checked < 10 {
		t.Errorf("%d service logins checked: want the recorded captures' glance logins", checked)
	}
}

// TestContentEvidenceIsHonest: a node placed by content names something
// its parent names; without content evidence the same nodes fall back to
// timing (and nothing else changes kind).
func TestContentEvidenceIsHonest(t *testing.T) {
	total := 0
	for name, exs := range busy(t) {
		with := newBuilder(exs, Options{})
		m := with.build()
		groupOf := map[*Node][]*Node{}
		for _, g := range with.groups() {
			for _, n := range g {
				groupOf[n] = g
			}
		}
		byContent := map[int]bool{}
		m.Walk(func(n *Node, _ int) {
			if n.Placed != ByContent {
				return
			}
			byContent[n.ID] = true
			// n's checkout names something the parent names
			ls := with.literals(n.parent)
			group := groupOf[n]
			told := false
			for _, l := range groupLiterals(nil, group) {
				told = told || ls[l]
			}
			if !told {
				t.Errorf("%s: node %d (%s) placed by content under %s, which names none of its checkout's literals", name, n.ID, n.Summary, n.parent.Summary)
			}
		})
		without := newBuilder(exs, Options{})
		without.noContent = true
		without.build().Walk(func(n *Node, _ int) {
			if byContent[n.ID] && n.Placed != ByTiming {
				t.Errorf("%s: without content evidence node %d is placed by %s", name, n.ID, n.Placed)
			}
			if !byContent[n.ID] && n.Placed == ByContent {
				t.Errorf("%s: without content evidence node %d is still placed by content", name, n.ID)
			}
		})
		total += len(byContent)
		t.Logf("%s: %d nodes placed by content fall back to timing without it", name, len(byContent))
	}
	if total == 0 {
		t.Fatal("no node placed by content: the test checks nothing")
	}
}

// TestConnectionStaysInItsSession: the requests of one client connection
// belong to one session.
func TestConnectionStaysInItsSession(t *testing.T) {
	for name, exs := range busy(t) {
		m := Build(exs, Options{})
		session := map[*decoder.Conn]int{}
		for _, r := range m.Roots {
			if r.Proto != "http" || r.from.Kind == Service {
				continue
			}
			if s, ok := session[r.Ex.Conn]; ok && s != r.Session {
				t.Errorf("%s: %s on a connection of session %d is in session %d", name, r.Summary, s, r.Session)
			}
			session[r.Ex.Conn] = r.Session
		}
	}
}

// TestMemcacheSecret: under keystonemiddleware's MAC and ENCRYPT
// strategies, with the service's memcache_secret_key every token cache
// operation is tied to its token; without it, or with a wrong one, the
// model says so.
func TestMemcacheSecret(t *testing.T) {
	const secret = "flowmap-lab8-Qm7rT2vX9kLp4Zs" // testdata/attribution/NOTES.md
	for _, name := range []string{"mac", "encrypt"} {
		exs := decode(t, attribution(name))
		ops := 0
		Build(exs, Options{MemcacheSecret: secret}).Walk(func(n *Node, _ int) {
			if n.Proto != "memcache" {
				return
			}
			ops++
			if n.subject == nil || n.subject.Value == "" {
				t.Errorf("%s: %s (node %d) is tied to no token seen in the capture", name, n.Summary, n.ID)
			}
			if !strings.Contains(n.Target, "tokens/b'") {
				t.Errorf("%s: key %q is not the Python 3 bytes form this test is about", name, n.Target)
			}
		})
		if ops < 8 {
			t.Errorf("%s: %d cache operations", name, ops)
		}
		for secret, want := range map[string]string{"": "give --memcache-secret", "not-the-secret": "matches none of them"} {
			m := Build(exs, Options{MemcacheSecret: secret})
			if len(m.Notes) != 1 || !strings.Contains(m.Notes[0], want) {
				t.Errorf("%s, secret %q: notes %q, want one saying %q", name, secret, m.Notes, want)
			}
		}
	}
}

// TestSessionsOneLoginEach: a client session (one CLI command) logs in at
// most once, after its own version discovery of keystone; a failed login
// is a session of its own, not a step of another command.
func TestSessionsOneLoginEach(t *testing.T) {
	failed := 0
	for name, exs := range busy(t) {
		m := Build(exs, Options{})
		logins := map[int][]*Node{}
		for _, r := range m.Roots {
			if r.Role == RoleAuth && r.from.Kind != Service {
				logins[r.Session] = append(logins[r.Session], r)
				if r.Error {
					failed++
				}
			}
		}
		for s, ls := range logins {
			if len(ls) > 1 {
				t.Errorf("%s: session %d logs in %d times (%s, then %s)", name, s, len(ls), ls[0].Summary+" "+ls[0].Result, ls[1].Summary+" "+ls[1].Result)
			}
		}
		for _, r := range m.Roots {
			if r.Role != RoleDiscovery || r.from.Kind == Service {
				continue
			}
			for _, l := range logins[r.Session] {
				if l.to == r.to && r.Start.After(l.Start) {
					t.Errorf("%s: session %d discovers %s at %v, after its login at %v", name, r.Session, r.To, r.Start, l.Start)
				}
			}
		}
	}
	if failed == 0 {
		t.Error("no failed login in the busy captures: the test misses its case")
	}
}
