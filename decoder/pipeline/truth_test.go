package pipeline

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/decoder/memcache"
	"github.com/flowmap/flowmap/decoder/mysql"
	"github.com/flowmap/flowmap/internal/truth"
)

func decodeAll(t testing.TB, paths ...string) ([]*decoder.Exchange, *Result) {
	t.Helper()
	var exs []*decoder.Exchange
	res, err := Run(paths, Options{}, func(e *decoder.Exchange) { exs = append(exs, e) })
	if err != nil {
		t.Fatal(err)
	}
	return exs, res
}

// httpCalls lists the HTTP requests of exs in the order they completed,
// as tshark reports them.
func httpCalls(exs []*decoder.Exchange) []truth.HTTPCall {
	var hs []*decoder.Exchange
	for _, e := range exs {
		if _, ok := e.Request.(*http.Request); ok {
			hs = append(hs, e)
		}
	}
	sort.SliceStable(hs, func(i, j int) bool { return hs[i].ReqEnd.Before(hs[j].ReqEnd) })
	var calls []truth.HTTPCall
	for _, e := range hs {
		req := e.Request.(*http.Request)
		c := truth.HTTPCall{Method: req.Method, Target: req.Target}
		if resp, ok := e.Response.(*http.Response); ok {
			c.Status = strconv.Itoa(resp.Status)
		}
		calls = append(calls, c)
	}
	return calls
}

func diffCalls(t *testing.T, got, want []truth.HTTPCall) {
	t.Helper()
	n := max(len(got), len(want))
	for i := 0; i < n; i++ {
		var g, w truth.HTTPCall
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("request %d: got %v, tshark %v", i+1, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d requests, tshark %d", len(got), len(want))
	}
}

// TestHTTPMatchesTshark: every capture in testdata lists exactly the HTTP
// requests tshark lists, with their statuses, in order.
func TestHTTPMatchesTshark(t *testing.T) {
	for _, name := range truth.Captures(t) {
		t.Run(name, func(t *testing.T) {
			tname := name
			if name == "seed-image-save.cut" {
				tname = "seed-image-save" // same requests; most image bytes cut out
			}
			want, err := truth.HTTP(truth.File(tname, "http"))
			if err != nil {
				t.Fatal(err)
			}
			exs, _ := decodeAll(t, truth.Capture(name))
			diffCalls(t, httpCalls(exs), want)
		})
	}
}

// TestHTTPLongCapture checks the long capture when ../shared has it.
func TestHTTPLongCapture(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	p := truth.NeedShared(t, "long-mixed-head.pcapng")
	want, err := truth.HTTP(truth.SharedTruth("long-mixed-head", "http"))
	if err != nil {
		t.Fatal(err)
	}
	exs, _ := decodeAll(t, p)
	diffCalls(t, httpCalls(exs), want)
}

// TestSameExchangesAnyInterface: the merged capture, the two per-interface
// files together, and the `-i any` (SLL2) capture give the same HTTP
// exchanges, each once.
func TestSameExchangesAnyInterface(t *testing.T) {
	merged, _ := decodeAll(t, truth.Capture("seed-image-list"))
	split, _ := decodeAll(t, truth.Capture("seed-image-list.ens33"), truth.Capture("seed-image-list.lo"))
	anyc, _ := decodeAll(t, truth.Capture("seed-image-list.any"))
	both, res := decodeAll(t, truth.Capture("seed-image-list"), truth.Capture("seed-image-list.any"))
	m := httpCalls(merged)
	if len(m) != 7 {
		t.Fatalf("merged capture: %d HTTP requests, want 7", len(m))
	}
	diffCalls(t, httpCalls(split), m)
	diffCalls(t, httpCalls(anyc), m)
	diffCalls(t, httpCalls(both), m)
	if res.Capture.Duplicates == 0 {
		t.Errorf("merging a capture with its -i any twin found no duplicates")
	}
	if len(merged) != len(both) {
		t.Errorf("merged: %d exchanges; merged+any: %d", len(merged), len(both))
	}
}

func memcacheCalls(exs []*decoder.Exchange) []truth.MemcacheCall {
	var ms []*decoder.Exchange
	for _, e := range exs {
		if _, ok := e.Request.(*memcache.Request); ok {
			ms = append(ms, e)
		}
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].ReqEnd.Before(ms[j].ReqEnd) })
	var calls []truth.MemcacheCall
	for _, e := range ms {
		req := e.Request.(*memcache.Request)
		c := truth.MemcacheCall{Command: req.Command, Key: strings.Join(req.Keys, " ")}
		if resp, ok := e.Response.(*memcache.Response); ok {
			c.Result = resp.Result
		}
		calls = append(calls, c)
	}
	return calls
}

// TestMemcacheMatchesTshark: every memcache command tshark lists, with its
// key and hit/miss/stored, in order.
func TestMemcacheMatchesTshark(t *testing.T) {
	for _, name := range truth.Captures(t) {
		t.Run(name, func(t *testing.T) {
			want, err := truth.Memcache(truth.File(strings.TrimSuffix(name, ".cut"), "memcache"))
			if err != nil {
				t.Fatal(err)
			}
			exs, _ := decodeAll(t, truth.Capture(name))
			got := memcacheCalls(exs)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("memcache\n got %v\nwant %v", got, want)
			}
		})
	}
}

func mysqlEvents(exs []*decoder.Exchange) []truth.MySQLEvent {
	var ms []*decoder.Exchange
	for _, e := range exs {
		if _, ok := e.Request.(*mysql.Request); ok {
			ms = append(ms, e)
		}
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].ReqEnd.Before(ms[j].ReqEnd) })
	var evs []truth.MySQLEvent
	for _, e := range ms {
		req := e.Request.(*mysql.Request)
		switch {
		case req.Command == "login":
			evs = append(evs, truth.MySQLEvent{Login: req.User + "@" + req.Database})
		case req.Command == "COM_QUERY":
			evs = append(evs, truth.MySQLEvent{Query: req.Query})
		}
	}
	return evs
}

// sameQuery compares query texts; in a snaplen-cut capture either side may
// hold only the start of the text.
func sameQuery(got, want string, cut bool) bool {
	if got == want {
		return true
	}
	return cut && (strings.HasPrefix(got, want) || strings.HasPrefix(want, got))
}

// checkMySQL: every login and query text tshark lists appears in flowmap's
// output in the same order. Where tshark decodes less (snaplen cuts)
// flowmap may list more; on whole captures the lists are equal.
func checkMySQL(t *testing.T, got, want []truth.MySQLEvent, cut bool) {
	t.Helper()
	i := 0
	for k, w := range want {
		for i < len(got) && !(got[i].Login == w.Login && sameQuery(got[i].Query, w.Query, cut)) {
			if !cut {
				t.Fatalf("event %d: got %+v, tshark %+v", k+1, got[i], w)
			}
			i++
		}
		if i == len(got) {
			t.Fatalf("tshark's event %d (%+v) not found in order; flowmap has %d events", k+1, w, len(got))
		}
		i++
	}
	if !cut && len(got) != len(want) {
		t.Errorf("flowmap lists %d logins and queries, tshark %d", len(got), len(want))
	}
}

func TestMySQLMatchesTshark(t *testing.T) {
	for _, name := range truth.Captures(t) {
		t.Run(name, func(t *testing.T) {
			want, err := truth.MySQL(truth.File(strings.TrimSuffix(name, ".cut"), "mysql"))
			if err != nil {
				t.Fatal(err)
			}
			exs, _ := decodeAll(t, truth.Capture(name))
			checkMySQL(t, mysqlEvents(exs), want, name == "snaplen-truncated")
		})
	}
}

func TestMemcacheAndMySQLLongCapture(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	p := truth.NeedShared(t, "long-mixed-head.pcapng")
	exs, _ := decodeAll(t, p)
	wantM, err := truth.Memcache(truth.SharedTruth("long-mixed-head", "memcache"))
	if err != nil {
		t.Fatal(err)
	}
	if got := memcacheCalls(exs); fmt.Sprint(got) != fmt.Sprint(wantM) {
		t.Errorf("memcache: got %d calls, tshark %d", len(got), len(wantM))
	}
	wantQ, err := truth.MySQL(truth.SharedTruth("long-mixed-head", "mysql"))
	if err != nil {
		t.Fatal(err)
	}
	checkMySQL(t, mysqlEvents(exs), wantQ, false)
}

// TestTimeOrder: exchanges come out in order of their first byte on every
// testdata capture and on the long one (merged interfaces lag by up to a
// quarter of a second in file order).
func TestTimeOrder(t *testing.T) {
	paths := []string{}
	for _, name := range truth.Captures(t) {
		paths = append(paths, truth.Capture(name))
	}
	if p := truth.Shared("long-mixed-head.pcapng"); p != "" && !testing.Short() {
		paths = append(paths, p)
	}
	for _, p := range paths {
		exs, _ := decodeAll(t, p)
		for i := 1; i < len(exs); i++ {
			if exs[i].Start().Before(exs[i-1].Start()) {
				t.Errorf("%s: exchange %d starts %v before exchange %d", p, i+1, exs[i-1].Start().Sub(exs[i].Start()), i)
				break
			}
		}
	}
}
