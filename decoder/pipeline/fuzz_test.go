package pipeline

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/internal/truth"
)

// FuzzPipeline feeds arbitrary capture files through every stage
// (capture, TCP reassembly, protocol sniffing, all three decoders). It
// must not panic, and exchanges must come out whole and in start order.
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
		opts := Options{}
		opts.Capture.Stdin = bytes.NewReader(data)
		res, err := Run([]string{"-"}, opts, func(e *decoder.Exchange) {
			if e.Conn == nil || e.Proto == "" {
				t.Fatalf("incomplete exchange %+v", e)
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
		})
		// Start order holds unless the capture's own timestamps jump back
		// further than the merge window, which the reader reports.
		if err == nil && backwards > 0 && res.Capture.OutOfOrder == 0 {
			t.Fatalf("%d exchanges out of start order in a capture read in time order", backwards)
		}
	})
}
