package flow

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"

	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/decoder/memcache"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/flow/registry"
)

func decodeAll(t *testing.T, path string) []*decoder.Exchange {
	t.Helper()
	var o pipeline.Options
	o.HTTP.Ports = registry.HTTPPorts()
	var exs []*decoder.Exchange
	if _, err := pipeline.Run([]string{path}, o, func(e *decoder.Exchange) { exs = append(exs, e) }); err != nil {
		t.Fatal(err)
	}
	return exs
}

// segmented builds exs in segments of size exchanges and window, and
// returns the model the segments make and how many segments there were.
func segmented(exs []*decoder.Exchange, size int, window time.Duration, f Filter) (*Model, int) {
	var roots []*Node
	parts := 0
	s := NewSegments(Options{}, func(rs []*Node) { roots = append(roots, rs...); parts++ })
	s.Size, s.Window, s.Filter = size, window, f
	for _, e := range exs {
		s.Add(e)
	}
	m := s.Close()
	m.Roots = roots
	return m, parts
}

func dump(t *testing.T, m *Model) string {
	t.Helper()
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// firstDiff shows where two dumps part.
func firstDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			lo := max(0, i-8)
			return "line " + itoa(i+1) + ":\nwhole:\n" + strings.Join(la[lo:min(len(la), i+4)], "\n") + "\nsegmented:\n" + strings.Join(lb[lo:min(len(lb), i+4)], "\n")
		}
	}
	return "lengths differ"
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestSegmentsAsWhole builds every capture in testdata in segments as
// small as a few exchanges, cut at the latest safe place a few seconds
// behind, and wants the model of the whole build, node for node: the
// same trees, sessions, numbers, participants in the same order, tokens
// and notes.
func TestSegmentsAsWhole(t *testing.T) {
	var paths []string
	for _, dir := range []string{"captures", "nova", "attribution"} {
		ps, _ := filepath.Glob(filepath.Join("..", "testdata", dir, "*.pcapng"))
		paths = append(paths, ps...)
	}
	if len(paths) < 20 {
		t.Fatalf("only %d captures in testdata", len(paths))
	}
	cut := 0
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			exs := decodeAll(t, p)
			whole := Build(exs, Options{})
			want := dump(t, whole)
			for _, size := range []int{5, 50} {
				for _, window := range []time.Duration{2 * time.Second, 5 * time.Second} {
					m, parts := segmented(exs, size, window, Filter{})
					if got := dump(t, m); got != want {
						t.Fatalf("size %d, window %s, %d segments: %s", size, window, parts, firstDiff(want, got))
					}
					if parts > 1 {
						cut++
					}
				}
			}
		})
	}
	if cut == 0 {
		t.Fatal("no capture was cut in segments: the test tested nothing")
	}
	t.Logf("%d of %d builds were cut", cut, 4*len(paths))
}

// TestSegmentsAsWholeLong does the same on the shared long capture (55 s,
// 10,864 exchanges, 30 CLI commands) and on the nova captures with
// RabbitMQ, in segments of a few hundred exchanges and the windows a few
// seconds long: the cuts fall between CLI commands.
func TestSegmentsAsWholeLong(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "shared", "captures", "nova", "*.pcapng"))
	paths = append([]string{filepath.Join("..", "..", "shared", "captures", "long-mixed-head.pcapng")}, paths...)
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s: %v (../shared is not here)", p, err)
		}
		t.Run(filepath.Base(p), func(t *testing.T) {
			exs := decodeAll(t, p)
			want := dump(t, Build(exs, Options{}))
			for _, size := range []int{40, 300} {
				for _, window := range []time.Duration{5 * time.Second, 10 * time.Second} {
					m, parts := segmented(exs, size, window, Filter{})
					if got := dump(t, m); got != want {
						t.Fatalf("size %d, window %s, %d segments: %s", size, window, parts, firstDiff(want, got))
					}
					t.Logf("size %d, window %s: %d segments", size, window, parts)
				}
			}
		})
	}
}

// TestSegmentsLate: an exchange that comes after the cut its start falls
// before (a merged capture whose clock jumped back) is drawn with the
// segment it came with, never lost nor drawn twice, and a note says so.
func TestSegmentsLate(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("..", "testdata", "captures", "*.pcapng"))
	tried := 0
	for _, p := range paths {
		exs := decodeAll(t, p)
		if _, parts := segmented(exs, 5, 2*time.Second, Filter{}); parts < 2 || len(exs) < 10 {
			continue
		}
		tried++
		nodes := func(m *Model) int {
			n := 0
			m.Walk(func(*Node, int) { n++ })
			return n
		}
		want := nodes(Build(exs, Options{}))
		// one exchange comes a third of the capture later: every node
		// drawn once, wherever it came; the note when it came after its
		// part was drawn
		noted := false
		for k := 1; k < len(exs)-1; k += max(len(exs)/20, 1) {
			to := min(len(exs)-1, k+len(exs)/3)
			late := append([]*decoder.Exchange(nil), exs[:k]...)
			late = append(late, exs[k+1:to+1]...)
			late = append(late, exs[k])
			late = append(late, exs[to+1:]...)
			m, parts := segmented(late, 5, 2*time.Second, Filter{})
			if got := nodes(m); got != want {
				t.Errorf("%s: exchange %d moved to %d: %d nodes in %d segments, want %d", p, k, to, got, parts, want)
			}
			noted = noted || strings.Contains(strings.Join(m.Notes, "\n"), "1 exchange came after the part of the capture their start times fall in was told")
		}
		if !noted {
			t.Errorf("%s: no exchange moved last was noted as late", p)
		}
	}
	if tried == 0 {
		t.Fatal("no capture was cut in segments")
	}
}

// retime moves every time of exs (and their connections' first packets)
// by at(t).
func retime(exs []*decoder.Exchange, at func(time.Time) time.Time) {
	move := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return at(t)
	}
	conns := map[*decoder.Conn]bool{}
	for _, e := range exs {
		e.ReqStart, e.ReqEnd, e.RespStart, e.RespEnd = move(e.ReqStart), move(e.ReqEnd), move(e.RespStart), move(e.RespEnd)
		if e.Conn != nil && !conns[e.Conn] {
			conns[e.Conn] = true
			e.Conn.First = move(e.Conn.First)
		}
	}
}

// stretched puts gap into exs at quiet moments (no exchange in flight) at
// least every apart: a capture whose commands and pauses last minutes.
func stretched(exs []*decoder.Exchange, gap, apart time.Duration) int {
	var quiet []time.Time
	var reach, last time.Time
	for i, e := range exs {
		if i > 0 && reach.Before(e.Start()) && (last.IsZero() || e.Start().Sub(last) >= apart) {
			last = reach.Add(e.Start().Sub(reach) / 2)
			quiet = append(quiet, last)
		}
		reach = later(reach, e.End())
	}
	retime(exs, func(t time.Time) time.Time {
		n, _ := slices.BinarySearchFunc(quiet, t, time.Time.Compare)
		return t.Add(time.Duration(n) * gap)
	})
	return len(quiet)
}

// TestSegmentsAsWholeStretched: every capture in testdata, its pauses
// stretched to 70 s (a gap at a quiet moment at least every 300 ms) or
// its clock slowed 100 times, built in segments with trace's window of a
// minute: the whole build's model, node for node. Pooled connections then
// idle for minutes, RPC calls and casts span minutes, sessions follow
// each other minutes apart.
func TestSegmentsAsWholeStretched(t *testing.T) {
	var paths []string
	for _, dir := range []string{"captures", "nova", "attribution"} {
		ps, _ := filepath.Glob(filepath.Join("..", "testdata", dir, "*.pcapng"))
		paths = append(paths, ps...)
	}
	cut := 0
	for _, p := range paths {
		for _, how := range []string{"stretched", "slowed"} {
			exs := decodeAll(t, p)
			if how == "stretched" {
				stretched(exs, 70*time.Second, 300*time.Millisecond)
			} else {
				t0 := exs[0].Start()
				retime(exs, func(t time.Time) time.Time { return t0.Add(100 * t.Sub(t0)) })
			}
			want := dump(t, Build(exs, Options{}))
			for _, size := range []int{20, 200} {
				m, parts := segmented(exs, size, DefaultWindow, Filter{})
				if got := dump(t, m); got != want {
					// only a connection opened before the capture, which
					// later traffic names, may differ: drawn from its host
					// until then, and said so
					if err := namedLater(Build(exs, Options{}), m); err != "" {
						t.Errorf("%s %s, size %d, %d segments: %s\n%s", filepath.Base(p), how, size, parts, err, firstDiff(want, got))
					}
				}
				if parts > 1 {
					cut++
				}
			}
		}
	}
	if cut < 20 {
		t.Errorf("only %d builds were cut", cut)
	}
	t.Logf("%d of %d builds were cut", cut, 4*len(paths))
}

// namedLater compares a segmented build m with the whole one: the same
// nodes (ids, what they say, whom they go to, their sessions and parents),
// drawn from the same callers except connections drawn from their host in
// an earlier segment, which a note counts. It returns what else differs.
func namedLater(whole, m *Model) string {
	type seen struct {
		n      *Node
		parent int
	}
	index := func(m *Model) map[int]seen {
		out := map[int]seen{}
		var walkP func(n *Node, parent int)
		walkP = func(n *Node, parent int) {
			out[n.ID] = seen{n, parent}
			for _, c := range n.Children {
				walkP(c, n.ID)
			}
		}
		for _, r := range m.Roots {
			walkP(r, 0)
		}
		return out
	}
	w, g := index(whole), index(m)
	if len(w) != len(g) || whole.Sessions != m.Sessions {
		return fmt.Sprintf("%d nodes in %d sessions, want %d in %d", len(g), m.Sessions, len(w), whole.Sessions)
	}
	conns := map[int]bool{}
	for id, x := range w {
		y, ok := g[id]
		switch {
		case !ok:
			return fmt.Sprintf("node %d missing", id)
		case x.parent != y.parent || x.n.Summary != y.n.Summary || x.n.Session != y.n.Session ||
			x.n.To != y.n.To && !(x.n.From != y.n.From && y.n.To == "database"): // (a DB is named after its caller)
			return fmt.Sprintf("node %d: %s → %s %q under %d in session %d, want %s → %s %q under %d in session %d", id,
				y.n.From, y.n.To, y.n.Summary, y.parent, y.n.Session, x.n.From, x.n.To, x.n.Summary, x.parent, x.n.Session)
		case x.n.From != y.n.From:
			if y.n.from == nil || y.n.from.Kind != Host || !slices.Contains(y.n.from.Addrs, y.n.Ex.Conn.Client.Addr().String()) {
				return fmt.Sprintf("node %d (conn %d) from %s, want %s", id, y.n.Conn, y.n.From, x.n.From)
			}
			conns[y.n.Conn] = true
		}
	}
	for _, n := range m.Notes {
		var k int
		if _, err := fmt.Sscanf(n, "%d connection", &k); err == nil && strings.Contains(n, "named after the host they come from in the first part") && k >= len(conns) {
			return ""
		}
	}
	return fmt.Sprintf("no note of %d connections drawn from their host at first: %q", len(conns), m.Notes)
}

// TestSegmentsTokenByKeyFirst: a token first met by its cache key (a
// cache hit, its value not on the wire), its value and owner only minutes
// later, in another segment, is one token, as in the whole build, not
// one by its key and another by its value.
func TestSegmentsTokenByKeyFirst(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	id := 0
	conn := func(client, server string) *decoder.Conn {
		id++
		return &decoder.Conn{ID: id, Client: netip.MustParseAddrPort(client), Server: netip.MustParseAddrPort(server), SawSYN: true, First: t0}
	}
	value := "gAAAAAB" + strings.Repeat("v", 170)
	sum := sha256.Sum256([]byte(value))
	get := func(c *decoder.Conn, s float64, target string, headers ...[2]string) *decoder.Exchange {
		return &decoder.Exchange{Proto: "http", Conn: c, ReqStart: at(s), ReqEnd: at(s + 0.001), RespStart: at(s + 0.01), RespEnd: at(s + 0.02),
			Request:  &http.Request{Method: "GET", Target: target, Version: "HTTP/1.1", Headers: append([][2]string{{"User-Agent", "openstacksdk/0.101.0 keystoneauth1/5.0.0"}}, headers...)},
			Response: &http.Response{Version: "HTTP/1.1", Status: 200, Headers: [][2]string{{"Content-Type", "application/json"}}, Body: "{}"}}
	}
	client := func(s float64, tok string) *decoder.Exchange {
		return get(conn(fmt.Sprintf("10.0.20.100:%d", 50000+id), "10.0.20.11:9292"), s, "/v2/images", [2]string{"X-Auth-Token", tok})
	}
	exs := []*decoder.Exchange{
		client(0, "a"+strings.Repeat("1", 170)),
		{Proto: "memcache", Conn: conn("10.0.20.11:40000", "10.0.20.11:11211"), ReqStart: at(0.005), ReqEnd: at(0.005), RespStart: at(0.006), RespEnd: at(0.006),
			Request: &memcache.Request{Command: "get", Keys: []string{"tokens/" + hex.EncodeToString(sum[:])}}, Response: &memcache.Response{Result: "hit"}},
		client(10, "b"+strings.Repeat("2", 170)),
		client(75, "c"+strings.Repeat("4", 170)),
		client(300, value),
	}
	// glance validates it: its owner comes with keystone's answer
	v := get(conn("10.0.20.11:41000", "10.0.20.11:5000"), 300.005, "/v3/auth/tokens",
		[2]string{"X-Auth-Token", "g" + strings.Repeat("3", 170)}, [2]string{"X-Subject-Token", value})
	v.Response.(*http.Response).Body = `{"token": {"user": {"name": "admin", "id": "u1", "domain": {"name": "Default", "id": "default"}}, "project": {"name": "admin", "id": "p1"}}}`
	exs = append(exs, v)
	want := dump(t, Build(exs, Options{}))
	m, parts := segmented(exs, 1, DefaultWindow, Filter{})
	if parts < 2 {
		t.Fatalf("%d segments", parts)
	}
	if got := dump(t, m); got != want {
		t.Errorf("%d segments: %s", parts, firstDiff(want, got))
	}
}

// TestSegmentsForget: what the segments keep per connection is bounded
// by the connections of the last forgetConn of capture: on captures
// whose pauses last two hours, the connections silent that long are
// forgotten, and every node is still drawn once.
func TestSegmentsForget(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("..", "testdata", "captures", "*.pcapng"))
	nodes := func(roots []*Node) int {
		n := 0
		for _, r := range roots {
			walk(r, func(*Node) { n++ })
		}
		return n
	}
	forgot := 0
	for _, p := range paths {
		exs := decodeAll(t, p)
		stretched(exs, 2*time.Hour, 300*time.Millisecond)
		conns := map[int]bool{}
		for _, e := range exs {
			conns[e.Conn.ID] = true
		}
		want := nodes(Build(exs, Options{}).Roots)
		got := 0
		s := NewSegments(Options{}, func(rs []*Node) { got += nodes(rs) })
		s.Size = 20
		kept := 0
		for _, e := range exs {
			s.Add(e)
			kept = max(kept, len(s.lastSeen))
		}
		s.Close()
		if got != want {
			t.Errorf("%s: %d nodes drawn, want %d", filepath.Base(p), got, want)
		}
		if kept > 0 && kept < len(conns) && len(s.lastSeen) < len(conns) {
			forgot++
		}
	}
	if forgot == 0 {
		t.Fatal("no capture had a connection forgotten")
	}
	t.Logf("%d of %d captures forgot connections", forgot, len(paths))
}
