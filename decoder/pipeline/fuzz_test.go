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
		opts := Options{}
		opts.Capture.Stdin = bytes.NewReader(data)
		_, err := Run([]string{"-"}, opts, func(e *decoder.Exchange) {
			if e.Conn == nil || e.Proto == "" {
				t.Fatalf("incomplete exchange %+v", e)
			}
			if e.Start().Before(last) {
				t.Fatalf("exchange starting %v emitted after one starting %v", e.Start(), last)
			}
			last = e.Start()
			_ = e.Request
			if e.Request != nil {
				_ = e.Request.Summary()
				_ = e.Request.Redacted()
			}
			if e.Response != nil {
				_ = e.Response.Summary()
				_ = e.Response.Redacted()
			}
		})
		_ = err
	})
}
