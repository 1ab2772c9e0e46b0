package flow

import (
	"runtime"
	"testing"

	"github.com/flowmap/flowmap/decoder"
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
