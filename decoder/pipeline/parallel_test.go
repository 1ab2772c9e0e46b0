package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/capture"
	"github.com/flowmap/flowmap/decoder/tcp"
	"github.com/flowmap/flowmap/internal/truth"
)

// runJSON runs the pipeline on paths and returns every exchange as JSON,
// one a line, then the result (stats and diagnostics).
// The staged run's reader poisons freed slabs: a stage reading bytes it
// no longer holds reads garbage, not, by luck, the same bytes.
func runJSON(t *testing.T, paths []string, serial bool) []byte {
	t.Helper()
	return runJSONWith(t, paths, Options{Serial: serial, Capture: capture.Options{Poison: !serial}})
}

// needTwoCores skips a test of the staged run where Run would run
// serially (one P): it would compare the serial run with itself.
func needTwoCores(t *testing.T) {
	t.Helper()
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one P: Run does not stage, there is nothing to compare")
	}
}

func runJSONWith(t *testing.T, paths []string, opts Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	res, err := Run(paths, opts, func(e *decoder.Exchange) {
		if err := enc.Encode(e); err != nil {
			t.Errorf("encode: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&buf, "%+v\n", *res)
	return buf.Bytes()
}

// TestParallelSameAsSerial: the staged run (reading, decoding and out on
// their own goroutines) gives the serial run's exchanges byte for byte, in
// the same order, with the same stats and diagnostics, on every capture
// (and all of them merged, and the long shared capture when present).
func TestParallelSameAsSerial(t *testing.T) {
	needTwoCores(t)
	var all [][]string
	for _, name := range truth.Captures(t) {
		all = append(all, []string{truth.Capture(name)})
	}
	var merged []string
	for _, p := range all {
		merged = append(merged, p[0])
	}
	all = append(all, merged)
	if p := truth.Shared("long-mixed-head.pcapng"); p != "" && !testing.Short() {
		all = append(all, []string{p})
	}
	for _, paths := range all {
		s, p := runJSON(t, paths, true), runJSON(t, paths, false)
		if !bytes.Equal(s, p) {
			i := 0
			for i < len(s) && i < len(p) && s[i] == p[i] {
				i++
			}
			lo := max(0, i-200)
			t.Errorf("%v: parallel differs from serial at byte %d:\nserial:   %.400s\nparallel: %.400s", paths, i, s[lo:], p[lo:])
		}
		if bytes.Count(s, []byte("\n")) < 2 {
			t.Errorf("%v: no exchanges", paths)
		}
	}
}

// TestParallelSameAsSerialAtLimits: with limits small enough that
// connections are evicted and exchanges emitted in progress all the time,
// the decoders on their own goroutine still see the serial run's calls:
// the same exchanges, notes and counters.
func TestParallelSameAsSerialAtLimits(t *testing.T) {
	needTwoCores(t)
	tight := tcp.Options{MaxConns: 4, MaxHold: 20 * time.Millisecond, MaxHoldBytes: 32 << 10}
	var evicted, expired bool
	for _, name := range truth.Captures(t) {
		paths := []string{truth.Capture(name)}
		s := runJSONWith(t, paths, Options{Serial: true, TCP: tight})
		p := runJSONWith(t, paths, Options{TCP: tight, Capture: capture.Options{Poison: true}})
		if !bytes.Equal(s, p) {
			i := 0
			for i < len(s) && i < len(p) && s[i] == p[i] {
				i++
			}
			lo := max(0, i-200)
			t.Errorf("%s: parallel differs from serial at byte %d:\nserial:   %.400s\nparallel: %.400s", name, i, s[lo:], p[lo:])
		}
		evicted = evicted || bytes.Contains(s, []byte("connection closed early"))
		expired = expired || bytes.Contains(s, []byte("emitted in progress"))
	}
	if !evicted || !expired {
		t.Errorf("the limits were not reached (evicted %v, expired %v): the test checks nothing", evicted, expired)
	}
}

// TestConcurrentCopiesSameAsSerial: the TCP layer's decoding goroutine
// fed copies (tcp.Options.Concurrent without PacketsKept: the reader
// reuses each packet's bytes at the next one, poisoned) sees the serial
// run's calls, at the default limits and at tight ones.
func TestConcurrentCopiesSameAsSerial(t *testing.T) {
	needTwoCores(t)
	run := func(path string, conc, tight bool) []byte {
		r, err := capture.Open([]string{path}, capture.Options{Poison: true})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var o Options
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		topts := tcp.Options{Protocols: o.Protocols(), Concurrent: conc}
		if tight {
			topts.MaxConns, topts.MaxHold, topts.MaxHoldBytes = 4, 20*time.Millisecond, 32<<10
		}
		a := tcp.New(topts, func(e *decoder.Exchange) { _ = enc.Encode(e) })
		for {
			p, err := r.Next()
			if err != nil {
				break
			}
			if p.IP != nil {
				a.Packet(p.IP, p.Time, p.Iface)
			}
		}
		a.Close()
		_ = enc.Encode(a.Stats())
		return buf.Bytes()
	}
	for _, name := range truth.Captures(t) {
		for _, tight := range []bool{false, true} {
			s, c := run(truth.Capture(name), false, tight), run(truth.Capture(name), true, tight)
			if !bytes.Equal(s, c) {
				t.Errorf("%s (tight %v): the decoding goroutine fed copies differs from the serial run", name, tight)
			}
			if bytes.Count(s, []byte("\n")) < 2 {
				t.Errorf("%s: no exchanges", name)
			}
		}
	}
}
