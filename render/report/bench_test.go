package report

import (
	"io"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/flow/registry"
	"github.com/flowmap/flowmap/internal/truth"
	"github.com/flowmap/flowmap/render/mermaid"
	"github.com/flowmap/flowmap/render/summary"
)

// BenchmarkAfterModelLong: what each command does after the model of the
// 81 MB shared capture is built (decoding and correlating are the same
// for all three): trace's diagram, summary's numbers and text, report's
// page. summary and report must cost well under a second more than trace.
func BenchmarkAfterModelLong(b *testing.B) {
	p := truth.NeedShared(b, "long-mixed-head.pcapng")
	var o pipeline.Options
	o.HTTP.Ports = registry.HTTPPorts()
	o.HTTP.Secrets = registry.Secrets()
	var exs []*decoder.Exchange
	if _, err := pipeline.Run([]string{p}, o, func(e *decoder.Exchange) { exs = append(exs, e) }); err != nil {
		b.Fatal(err)
	}
	m := flow.Build(exs, flow.Options{})
	b.Run("trace-mermaid", func(b *testing.B) {
		for b.Loop() {
			if err := mermaid.Write(io.Discard, m, mermaid.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("summary-text", func(b *testing.B) {
		for b.Loop() {
			if err := summary.WriteText(io.Discard, summary.Compute(m, summary.Options{}), summary.TextOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("report", func(b *testing.B) {
		for b.Loop() {
			if err := Write(io.Discard, m, summary.Compute(m, summary.Options{}), Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
