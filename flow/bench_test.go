package flow

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/flowmap/flowmap/decoder/decodertest"
	"net/netip"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/decoder/memcache"
	"github.com/flowmap/flowmap/decoder/mysql"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/internal/truth"
)

// BenchmarkBuildLong is Build alone on the exchanges of the long shared
// capture (skipped when absent), decoded once. Besides time and
// allocations it reports what trace holds at its peak, after Build:
// exchanges-MB, the live heap of the decoded exchanges, and model-MB, what
// the model adds (nodes, participants, tokens), each also per exchange.
func BenchmarkBuildLong(b *testing.B) {
	p := truth.Shared("long-mixed-head.pcapng")
	if p == "" {
		b.Skip("../shared/captures/long-mixed-head.pcapng absent")
	}
	live := func() float64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapAlloc)
	}
	base := live()
	var exs []*decoder.Exchange
	if _, err := pipeline.Run([]string{p}, pipeline.Options{}, func(e *decoder.Exchange) { exs = append(exs, e) }); err != nil {
		b.Fatal(err)
	}
	decoded := live()
	b.ReportAllocs()
	var m *Model
	for b.Loop() {
		m = Build(exs, Options{})
	}
	built := live()
	runtime.KeepAlive(m)
	runtime.KeepAlive(exs)
	n := float64(len(exs))
	b.ReportMetric((decoded-base)/1e6, "exchanges-MB")
	b.ReportMetric((built-decoded)/1e6, "model-MB")
	b.ReportMetric((decoded-base)/n, "exchange-B/exchange")
	b.ReportMetric((built-decoded)/n, "model-B/exchange")
}

// BenchmarkBuildOneToken is Build on n client requests to glance made
// with one token (a client working all day), each checked in the cache
// and followed by a query, at two sizes: twice the requests should cost
// about twice as much (each request's token check used to be looked for
// among every node about the token: quadratic).
func BenchmarkBuildOneToken(b *testing.B) { benchDay(b, false) }

// BenchmarkBuildHealthChecks is BenchmarkBuildOneToken with a load
// balancer's unauthenticated GET / every second beside: twice the
// requests should cost about twice as much (every session used to look at
// every health check before it).
func BenchmarkBuildHealthChecks(b *testing.B) { benchDay(b, true) }

// benchDay runs Build on oneTokenDay at two sizes.
func benchDay(b *testing.B, checks bool) {
	for _, n := range []int{2000, 4000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			exs := oneTokenDay(n, checks)
			trees := n
			if checks {
				trees = 2 * n
			}
			b.ReportAllocs()
			for b.Loop() {
				if m := Build(exs, Options{}); len(m.Roots) != trees {
					b.Fatalf("%d trees, want %d", len(m.Roots), trees)
				}
			}
		})
	}
}

// BenchmarkSegmentsOneToken is a segmented build (segments of 512) of
// oneTokenDay, one session that is never cut, at two sizes: with no cut a
// segment is tried again each time it doubled, so twice the requests
// cost about twice as much (x2-ratio), not four times.
func BenchmarkSegmentsOneToken(b *testing.B) {
	b.ReportAllocs()
	decodertest.Doubling(b, 2000, func(n int) func() {
		exs := oneTokenDay(n, false)
		return func() {
			trees := 0
			s := NewSegments(Options{}, func(roots []*Node) { trees += len(roots) })
			s.Size = 512
			for _, e := range exs {
				s.Add(e)
			}
			s.Close()
			if trees != n {
				b.Fatalf("%d trees, want %d", trees, n)
			}
		}
	})
}

// oneTokenDay is n requests a second apart made with one token, each with
// its cache lookup and query; checks adds a health check beside each.
func oneTokenDay(n int, checks bool) []*decoder.Exchange {
	const token = "gAAAAABoneTokenForAWholeDayOfRequestsXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	sum := sha256.Sum256([]byte(token))
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	glance := netip.MustParseAddr("10.0.20.11")
	client := netip.MustParseAddr("10.0.20.100")
	balancer := netip.MustParseAddr("10.0.20.200")
	ex := func(id int, c, s netip.AddrPort, start, end time.Duration, req, resp decoder.Message, proto string) *decoder.Exchange {
		return synthetic(t0, id, c, s, start, end, req, resp, proto)
	}
	var exs []*decoder.Exchange
	for i := range n {
		at := time.Duration(i) * time.Second
		port := uint16(10000 + i%40000)
		exs = append(exs,
			ex(3*i+1, netip.AddrPortFrom(client, port), netip.AddrPortFrom(glance, 9292), at, at+500*time.Millisecond,
				&http.Request{Method: "GET", Target: "/v2/images", Headers: [][2]string{{"X-Auth-Token", token}}},
				&http.Response{Status: 200}, "http"),
			ex(3*i+2, netip.AddrPortFrom(glance, port), netip.AddrPortFrom(glance, 11211), at+100*time.Millisecond, at+110*time.Millisecond,
				&memcache.Request{Command: "get", Keys: []string{"tokens/" + hex.EncodeToString(sum[:])}},
				&memcache.Response{Result: "hit"}, "memcache"),
			ex(3*i+3, netip.AddrPortFrom(glance, port+1), netip.AddrPortFrom(glance, 3306), at+200*time.Millisecond, at+210*time.Millisecond,
				&mysql.Request{Command: "COM_QUERY", User: "glance", UserKnown: true, Query: "SELECT images.id FROM images WHERE images.owner = 'p1'"},
				&mysql.Response{Result: "rows"}, "mysql"))
		if checks {
			exs = append(exs, ex(3*n+i+1, netip.AddrPortFrom(balancer, port), netip.AddrPortFrom(glance, 9292), at+700*time.Millisecond, at+710*time.Millisecond,
				&http.Request{Method: "GET", Target: "/"}, &http.Response{Status: 300}, "http"))
		}
	}
	return exs
}

// BenchmarkBuildNovaCopies is Build on copies of testdata/nova's
// concurrent boots, one after the other (new connections, times shifted),
// at two sizes: twice the RPCs should cost about twice as much (finding
// the request a service was handling used to walk all it handled).
func BenchmarkBuildNovaCopies(b *testing.B) {
	exs := decode(b, filepath.Join(truth.Root(), "testdata", "nova", "nova-concurrent.pcapng"))
	for _, k := range []int{8, 16} {
		b.Run(fmt.Sprint(k), func(b *testing.B) {
			copies := repeatExchanges(exs, k)
			b.ReportAllocs()
			for b.Loop() {
				Build(copies, Options{})
			}
		})
	}
}

// repeatExchanges is k copies of exs one after the other, on connections
// of their own.
func repeatExchanges(exs []*decoder.Exchange, k int) []*decoder.Exchange {
	var first, last time.Time
	maxID := 0
	for _, e := range exs {
		if first.IsZero() || e.Start().Before(first) {
			first = e.Start()
		}
		last = latest(last, e.End())
		maxID = max(maxID, e.Conn.ID)
	}
	span := last.Sub(first) + time.Minute
	conns := map[*decoder.Conn]*decoder.Conn{}
	var out []*decoder.Exchange
	for c := range k {
		shift := time.Duration(c) * span
		clear(conns)
		for _, e := range exs {
			x := *e
			if conns[e.Conn] == nil {
				cc := *e.Conn
				cc.ID += c * (maxID + 1)
				conns[e.Conn] = &cc
			}
			x.Conn = conns[e.Conn]
			for _, t := range []*time.Time{&x.ReqStart, &x.ReqEnd, &x.RespStart, &x.RespEnd} {
				if !t.IsZero() {
					*t = t.Add(shift)
				}
			}
			out = append(out, &x)
		}
	}
	return out
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// BenchmarkBuildImports is n image imports a service answers 202
// Accepted, each followed after its answer by a query naming its image
// (the import's work going on), at two sizes: twice the imports should
// cost about twice as much (each query looks up the answered requests
// that name its ids, not every answered request in the window).
func BenchmarkBuildImports(b *testing.B) {
	b.ReportAllocs()
	decodertest.Doubling(b, 2000, func(n int) func() {
		exs := imports(n)
		if m := Build(exs, Options{}); len(m.Roots) != n {
			b.Fatalf("%d trees, want %d (every query under its import)", len(m.Roots), n)
		}
		return func() { Build(exs, Options{}) }
	})
}

// imports is n imports 100 ms apart, each answered 202 in 50 ms, and a
// query naming its image 100 ms after the answer.
func imports(n int) []*decoder.Exchange {
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	glance := netip.MustParseAddr("10.0.20.11")
	client := netip.MustParseAddr("10.0.20.100")
	ex := func(id int, c, s netip.AddrPort, start, end time.Duration, req, resp decoder.Message, proto string) *decoder.Exchange {
		return synthetic(t0, id, c, s, start, end, req, resp, proto)
	}
	var exs []*decoder.Exchange
	for i := range n {
		at := time.Duration(i) * 100 * time.Millisecond
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		port := uint16(10000 + i%40000)
		exs = append(exs,
			ex(2*i+1, netip.AddrPortFrom(client, port), netip.AddrPortFrom(glance, 9292), at, at+50*time.Millisecond,
				&http.Request{Method: "POST", Target: "/v2/images/" + id + "/import"},
				&http.Response{Status: 202}, "http"),
			ex(2*i+2, netip.AddrPortFrom(glance, port+1), netip.AddrPortFrom(glance, 3306), at+60*time.Millisecond, at+61*time.Millisecond,
				&mysql.Request{Command: "COM_QUERY", User: "glance", UserKnown: true, Query: "UPDATE images SET status='importing' WHERE images.id = '" + id + "'"},
				&mysql.Response{Result: "ok"}, "mysql"))
	}
	return exs
}

// synthetic is an exchange of a synthetic capture: its connection, its
// request and response, and when each began and ended after t0 (the
// request and the answer each in one instant).
func synthetic(t0 time.Time, id int, c, s netip.AddrPort, start, end time.Duration, req, resp decoder.Message, proto string) *decoder.Exchange {
	return &decoder.Exchange{Proto: proto, Conn: &decoder.Conn{ID: id, Client: c, Server: s}, Request: req, Response: resp,
		ReqStart: t0.Add(start), ReqEnd: t0.Add(start), RespStart: t0.Add(end), RespEnd: t0.Add(end)}
}

// BenchmarkProxyUnanswered is n identical client requests through a
// proxy, each with its leg, the first one never answered: twice the
// requests should cost about twice as much (the unanswered one, lasting
// to the end of the capture, used to make every leg walk back over all
// the client's requests: 16,000 took 18 s).
func BenchmarkProxyUnanswered(b *testing.B) {
	decodertest.Doubling(b, 4000, func(n int) func() {
		t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
		client, vip, proxy, keystone := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.12"), netip.MustParseAddr("10.0.0.11"), netip.MustParseAddr("10.0.0.11")
		var exs []*decoder.Exchange
		for i := range n {
			at := time.Duration(i) * 10 * time.Millisecond
			port := uint16(10000 + i%40000)
			var resp decoder.Message = &http.Response{Status: 200}
			if i == 0 {
				resp = nil
			}
			exs = append(exs,
				synthetic(t0, 2*i+1, netip.AddrPortFrom(client, port), netip.AddrPortFrom(vip, 5000), at, at+5*time.Millisecond,
					&http.Request{Method: "GET", Target: "/v3/projects", Headers: [][2]string{{"Host", "vip:5000"}}}, resp, "http"),
				synthetic(t0, 2*i+2, netip.AddrPortFrom(proxy, port), netip.AddrPortFrom(keystone, 5000), at+time.Millisecond, at+4*time.Millisecond,
					&http.Request{Method: "GET", Target: "/v3/projects", Headers: [][2]string{{"Host", "vip:5000"}, {"X-Forwarded-For", "10.0.0.1"}}},
					&http.Response{Status: 200}, "http"))
		}
		return func() { Build(exs, Options{}) }
	})
}
