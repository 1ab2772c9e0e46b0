package pipeline

import (
	"sort"
	"strconv"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/http"
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
	for _, name := range truth.Captures() {
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
	p := truth.Shared("long-mixed-head.pcapng")
	if p == "" {
		t.Skip("../shared/captures/long-mixed-head.pcapng absent")
	}
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
