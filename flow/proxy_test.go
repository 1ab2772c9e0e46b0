package flow

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/internal/truth"
)

// TestProxyLegs: with HAProxy in front of keystone (the lab, recorded),
// every leg the proxy relayed, found by its X-Forwarded-For, sits under
// the client's request it relays, from the proxy's lifeline, with the
// same method and target; the client calls the proxy and never keystone
// itself; no tree starts at the proxy; and the two CLI commands are two
// sessions, not three.
func TestProxyLegs(t *testing.T) {
	for _, c := range []struct {
		name     string
		legs     int // at least
		sessions int
	}{
		{"haproxy-image-list", 4, 2},
		// three commands at once through the proxy: identical logins of
		// one address told apart by the answers' request ids
		{"haproxy-concurrent", 12, 3},
	} {
		t.Run(c.name, func(t *testing.T) { proxyLegs(t, c.name, c.legs, c.sessions) })
	}
}

func proxyLegs(t *testing.T, name string, want, sessions int) {
	m := model(t, filepath.Join(truth.Root(), "testdata", "captures", name+".pcapng"))
	legs := 0
	m.Walk(func(n *Node, _ int) {
		req, _ := n.httpMsgs()
		if n.parent == nil && n.FromP() != nil && n.FromP().Kind == Proxy {
			t.Errorf("tree %d (%s) starts at the proxy", n.ID, n.Summary)
		}
		if n.FromP() != nil && n.FromP().Kind == Client && n.To == "keystone" {
			t.Errorf("node %d: the client calls keystone itself (%s), not through the proxy", n.ID, n.Summary)
		}
		if req == nil || req.Header("X-Forwarded-For") == "" {
			return
		}
		legs++
		p := n.Parent()
		switch {
		case p == nil:
			t.Errorf("leg %d (%s) is a tree of its own", n.ID, n.Summary)
		case n.Placed != ByLink && n.respHeader("X-OpenStack-Request-ID") != "":
			t.Errorf("leg %d (%s) placed by %s, though its answer names its request id", n.ID, n.Summary, n.Placed)
		case n.Placed != ByLink && len(n.Candidates) < 2:
			t.Errorf("leg %d placed by %s among %v", n.ID, n.Placed, n.Candidates)
		case n.respHeader("X-OpenStack-Request-ID") != p.respHeader("X-OpenStack-Request-ID"):
			t.Errorf("leg %d answered %s under a request answered %s", n.ID, n.respHeader("X-OpenStack-Request-ID"), p.respHeader("X-OpenStack-Request-ID"))
		case p.FromP().Kind != Client || p.ToP().Kind != Proxy || n.FromP() != p.ToP():
			t.Errorf("leg %d: %s → %s under %s → %s", n.ID, n.From, n.To, p.From, p.To)
		case p.Summary != n.Summary || p.Ex.Conn.Client.Addr() != netip.MustParseAddr(req.Header("X-Forwarded-For")):
			t.Errorf("leg %d (%s) under %d (%s from %v)", n.ID, n.Summary, p.ID, p.Summary, p.Ex.Conn.Client)
		}
	})
	if legs < want {
		t.Fatalf("%d legs relayed by the proxy, want %d", legs, want)
	}
	if m.Sessions != sessions {
		t.Errorf("%d sessions, want %d (one per CLI command)", m.Sessions, sessions)
	}
}

// TestProxyAmbiguous: two identical requests of one client in progress
// through the proxy when a leg was sent: it goes under the latest begun,
// and the choice is said to be timing's, with both as candidates.
func TestProxyAmbiguous(t *testing.T) {
	get := func(hdrs ...[2]string) *http.Request {
		return &http.Request{Method: "GET", Target: "/v3", Headers: append([][2]string{{"User-Agent", "openstacksdk/1.0 keystoneauth1/5.0.0"}}, hdrs...)}
	}
	ok := &http.Response{Status: 200}
	a := exchange(1, "10.0.0.100:40000", "10.0.0.12:5000", 0, 10, get(), ok)
	b := exchange(2, "10.0.0.100:40002", "10.0.0.12:5000", 1, 10, get(), ok)
	leg := exchange(3, "10.0.0.11:50000", "10.0.0.11:5000", 2, 3, get([2]string{"X-Forwarded-For", "10.0.0.100"}), ok)
	m := Build([]*decoder.Exchange{a, b, leg}, Options{})
	got := nodeOf(m, leg)
	if got == nil || got.Parent() == nil || got.Parent().Ex != b {
		t.Fatalf("leg not under the latest request begun: %+v", got)
	}
	if got.Placed != ByTiming || len(got.Candidates) != 2 || !got.Ambiguous() {
		t.Errorf("leg placed by %s among %v: want timing among both", got.Placed, got.Candidates)
	}
	if got.FromP().Kind != Proxy || got.Parent().ToP() != got.FromP() {
		t.Errorf("leg drawn %s → %s under %s → %s", got.From, got.To, got.Parent().From, got.Parent().To)
	}
}

// TestProxyAnswerID: of two identical requests in progress, the one whose
// answer carries the leg's answer's request id is the one relayed, though
// the other began later.
func TestProxyAnswerID(t *testing.T) {
	get := func(hdrs ...[2]string) *http.Request {
		return &http.Request{Method: "POST", Target: "/v3/auth/tokens", Headers: hdrs}
	}
	answer := func(rid string) *http.Response {
		return &http.Response{Status: 201, Headers: [][2]string{{"X-OpenStack-Request-ID", rid}}}
	}
	a := exchange(1, "10.0.0.100:40000", "10.0.0.12:5000", 0, 10, get(), answer("req-a"))
	b := exchange(2, "10.0.0.100:40002", "10.0.0.12:5000", 1, 10, get(), answer("req-b"))
	leg := exchange(3, "10.0.0.11:50000", "10.0.0.11:5000", 2, 3, get([2]string{"X-Forwarded-For", "10.0.0.100"}), answer("req-a"))
	m := Build([]*decoder.Exchange{a, b, leg}, Options{})
	got := nodeOf(m, leg)
	if got == nil || got.Parent() == nil || got.Parent().Ex != a || got.Placed != ByLink {
		t.Fatalf("leg not under the request its answer names, by link: %+v", got)
	}
}

// TestForwardedFor reads the address a proxy names last.
func TestForwardedFor(t *testing.T) {
	for _, c := range []struct {
		hdrs [][2]string
		want string
	}{
		{[][2]string{{"X-Forwarded-For", "10.0.20.100"}}, "10.0.20.100"},
		{[][2]string{{"X-Forwarded-For", "203.0.113.7, 10.0.20.100"}}, "10.0.20.100"},
		{[][2]string{{"X-Forwarded-For", "::ffff:10.0.20.100"}}, "10.0.20.100"},
		{[][2]string{{"Forwarded", `for=192.0.2.60;proto=http;by=203.0.113.43`}}, "192.0.2.60"},
		{[][2]string{{"Forwarded", `for=192.0.2.43, for="[2001:db8:cafe::17]:4711"`}}, "2001:db8:cafe::17"},
		{[][2]string{{"Forwarded", `for="[2001:db8::1]"`}}, "2001:db8::1"},
		{[][2]string{{"X-Forwarded-For", "unknown"}}, ""},
		{[][2]string{{"Forwarded", "for=_hidden"}}, ""},
		{nil, ""},
	} {
		got := forwardedFor(&http.Request{Headers: c.hdrs})
		if (c.want == "" && got.IsValid()) || (c.want != "" && got != netip.MustParseAddr(c.want)) {
			t.Errorf("%v: %v, want %q", c.hdrs, got, c.want)
		}
	}
}

// TestProxyClientLegUnseen: when the capture has only the proxy's legs
// (the client's leg encrypted at the proxy, or captured elsewhere), the
// calls are drawn as the client's, and a note says a proxy relayed them.
func TestProxyClientLegUnseen(t *testing.T) {
	var back []*decoder.Exchange
	for _, e := range decode(t, filepath.Join(truth.Root(), "testdata", "captures", "haproxy-image-list.pcapng")) {
		if e.Conn.Server.Port() != 15000 { // the proxy's front
			back = append(back, e)
		}
	}
	m := Build(back, Options{})
	said := false
	for _, n := range m.Notes {
		said = said || strings.HasPrefix(n, "4 requests came through a proxy (from 10.0.20.11,")
	}
	if !said {
		t.Errorf("no note on the 4 relayed requests: %q", m.Notes)
	}
	for _, p := range m.Participants {
		if p.Kind == Proxy {
			t.Errorf("a proxy lifeline %q with no leg of the client's to draw", p.Name)
		}
		// the client's host is the one the proxy names, not the proxy's
		if p.Kind == Client && (len(p.Addrs) != 1 || p.Addrs[0] != "10.0.20.100") {
			t.Errorf("client %q on %v, want 10.0.20.100 only", p.Name, p.Addrs)
		}
	}
}

// TestProxyNotFooled: what only looks like a relayed leg is not paired.
// A proxy on its client's host relays two legs naming the same address
// (neither is the client's request); a client that sends X-Forwarded-For
// itself calls two services at once; the only request in progress answered
// with another request id than the leg.
func TestProxyNotFooled(t *testing.T) {
	req := func(target string, hdrs ...[2]string) *http.Request {
		return &http.Request{Method: "GET", Target: target, Headers: append([][2]string{{"User-Agent", "openstacksdk/1.0 keystoneauth1/5.0.0"}}, hdrs...)}
	}
	rid := func(id string) *http.Response {
		return &http.Response{Status: 200, Headers: [][2]string{{"X-OpenStack-Request-ID", id}}}
	}
	for _, c := range []struct {
		name string
		exs  []*decoder.Exchange
	}{
		{"sibling legs", []*decoder.Exchange{
			exchange(1, "10.0.0.11:50000", "10.0.0.21:5000", 0, 5, req("/v3/auth/tokens", [2]string{"X-Forwarded-For", "10.0.0.11"}), rid("req-1")),
			exchange(2, "10.0.0.11:50002", "10.0.0.22:5000", 1, 3, req("/v3/auth/tokens", [2]string{"X-Forwarded-For", "10.0.0.11"}), rid("req-2")),
		}},
		{"client's own header", []*decoder.Exchange{
			exchange(1, "10.0.0.100:40000", "10.0.0.11:5000", 0, 5, req("/", [2]string{"X-Forwarded-For", "10.0.0.100"}), &http.Response{Status: 300}),
			exchange(2, "10.0.0.100:40002", "10.0.0.11:9292", 1, 3, req("/", [2]string{"X-Forwarded-For", "10.0.0.100"}), &http.Response{Status: 300}),
		}},
		{"another answer", []*decoder.Exchange{
			exchange(1, "10.0.0.100:40000", "10.0.0.12:5000", 0, 5, req("/v3/auth/tokens"), rid("req-a")),
			exchange(2, "10.0.0.11:50000", "10.0.0.11:5000", 1, 3, req("/v3/auth/tokens", [2]string{"X-Forwarded-For", "10.0.0.100"}), rid("req-b")),
		}},
	} {
		m := Build(c.exs, Options{})
		for _, e := range c.exs {
			if n := nodeOf(m, e); n == nil || n.Parent() != nil {
				t.Errorf("%s: %v placed under %v", c.name, n, n.Parent())
			}
		}
		for _, p := range m.Participants {
			if p.Kind == Proxy {
				t.Errorf("%s: a proxy lifeline %q", c.name, p.Name)
			}
		}
	}
}

// TestProxyHostRewritten: a proxy that sets Host itself (nginx's
// default) relays a request with another Host than the client's: the
// leg is paired with it when their answers carry the same request id,
// and not on method and target alone.
func TestProxyHostRewritten(t *testing.T) {
	for _, c := range []struct {
		id     string
		paired bool
	}{{"req-1111", true}, {"", false}} {
		var hdr [][2]string
		if c.id != "" {
			hdr = [][2]string{{"X-OpenStack-Request-ID", c.id}}
		}
		client := exchange(1, "10.0.0.1:40000", "10.0.0.12:5000", 0, 1,
			&http.Request{Method: "GET", Target: "/v3/projects", Headers: [][2]string{{"Host", "keystone.example:5000"}}},
			&http.Response{Status: 200, Headers: hdr})
		leg := exchange(2, "10.0.0.12:50000", "10.0.0.11:5000", 0.1, 0.9,
			&http.Request{Method: "GET", Target: "/v3/projects", Headers: [][2]string{{"Host", "10.0.0.11:5000"}, {"X-Forwarded-For", "10.0.0.1"}}},
			&http.Response{Status: 200, Headers: hdr})
		m := Build([]*decoder.Exchange{client, leg}, Options{})
		n := nodeOf(m, leg)
		if got := n.Parent() != nil && n.Parent().Ex == client; got != c.paired {
			t.Errorf("answer id %q: leg under the client's request %v, want %v", c.id, got, c.paired)
		}
	}
}
