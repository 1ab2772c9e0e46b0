package pipeline

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/internal/truth"
)

// FuzzPipeline feeds arbitrary capture files through every stage
// (capture, TCP reassembly, protocol sniffing, all three decoders). It
// must not panic, exchanges must come out whole and in start order, and
// the staged run (its reader poisoning freed slabs) must give the serial
// run's exchanges.
// Seeds are the starts of real captures.
func FuzzPipeline(f *testing.F) {
	for _, name := range []string{"seed-image-list", "snaplen-truncated", "warm-cache", "auth-fail"} {
		b, err := os.ReadFile(truth.Capture(name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 48<<10)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var last time.Time
		backwards := 0
		var incomplete *decoder.Exchange
		var staged bytes.Buffer
		enc := json.NewEncoder(&staged)
		opts := Options{}
		opts.Capture.Stdin, opts.Capture.Poison = bytes.NewReader(data), true
		// out runs on a goroutine of its own: failures are told after Run
		res, err := Run([]string{"-"}, opts, func(e *decoder.Exchange) {
			if (e.Conn == nil || e.Proto == "") && incomplete == nil {
				incomplete = e
			}
			if e.Start().Before(last) {
				backwards++
			}
			last = e.Start()
			if e.Request != nil {
				_ = e.Request.Summary()
				_ = e.Request.Redacted()
			}
			if e.Response != nil {
				_ = e.Response.Summary()
				_ = e.Response.Redacted()
			}
			_ = enc.Encode(e)
		})
		if incomplete != nil {
			t.Fatalf("incomplete exchange %+v", incomplete)
		}
		// The pipeline contains a decoder's panic: for the fuzzer it is
		// still the bug it is.
		if err == nil && res.TCP.Failed > 0 {
			t.Fatalf("a decoder panicked: %s", res.TCP.Failure)
		}
		// Start order holds unless the capture's own timestamps jump back
		// further than the merge window, which the reader reports.
		if err == nil && backwards > 0 && res.Capture.OutOfOrder == 0 {
			t.Fatalf("%d exchanges out of start order in a capture read in time order", backwards)
		}
		// The staged run is the serial run.
		var serial bytes.Buffer
		enc = json.NewEncoder(&serial)
		opts = Options{Serial: true}
		opts.Capture.Stdin = bytes.NewReader(data)
		_, _ = Run([]string{"-"}, opts, func(e *decoder.Exchange) { _ = enc.Encode(e) })
		if !bytes.Equal(staged.Bytes(), serial.Bytes()) {
			t.Fatalf("the staged run differs from the serial run")
		}
	})
}
