package mysql

import (
	"testing"

	"github.com/flowmap/flowmap/decoder/decodertest"
)

// BenchmarkUnanswered sends 50k, then 100k commands whose replies are not
// in the capture: the queue is bounded, so the cost must double, not
// quadruple (x2-ratio about 2).
func BenchmarkUnanswered(b *testing.B) {
	decodertest.BenchmarkUnanswered(b, contractCase(b), 50_000)
}
