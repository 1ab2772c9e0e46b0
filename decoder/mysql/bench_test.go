package mysql

import (
	"fmt"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/decodertest"
)

// BenchmarkUnanswered sends 50k and 100k commands whose replies are not
// in the capture: the queue is bounded, so the cost must double, not
// quadruple (x2-ratio about 2).
func BenchmarkUnanswered(b *testing.B) {
	decodertest.Doubling(b, 50_000, func(n int) func() {
		pkts := make([][]byte, n)
		for i := range pkts {
			pkts[i] = queryPacket(fmt.Sprintf("SELECT 1 FROM project WHERE id = %d", i))
		}
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		return func() {
			d := New(&decoder.Conn{ID: 1, SawSYN: true}, func(*decoder.Exchange) {}, Options{})
			for i, p := range pkts {
				d.Data(decoder.ClientToServer, p, t0.Add(time.Duration(i)*time.Microsecond))
			}
			d.Close(t0.Add(time.Hour))
		}
	})
}
