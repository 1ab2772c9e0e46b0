package amqp

import (
	"testing"

	"github.com/flowmap/flowmap/decoder/redact"
)

// osloBodies are the bodies of the real streams' messages that are
// oslo.messaging envelopes (kept whole: --show-secrets).
func osloBodies(tb testing.TB) [][]byte {
	var bodies [][]byte
	for _, name := range realStreams {
		xs, _ := readConv(tb, "testdata/streams/"+name+".conv").run(Options{Redact: redact.Show()}, 0)
		for _, x := range xs {
			if m, ok := x.Request.(*Message); ok && m.Oslo != nil {
				bodies = append(bodies, []byte(m.Body))
			}
		}
	}
	if len(bodies) == 0 {
		tb.Fatal("no oslo.messaging bodies")
	}
	return bodies
}

// BenchmarkOslo reads the oslo.messaging envelope of every message body
// of the real streams.
func BenchmarkOslo(b *testing.B) {
	bodies := osloBodies(b)
	n := 0
	for _, body := range bodies {
		n += len(body)
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		for _, body := range bodies {
			if parseOslo(body) == nil {
				b.Fatal("not read")
			}
		}
	}
}
