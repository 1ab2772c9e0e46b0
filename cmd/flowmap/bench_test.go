package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/internal/benchcpu"
	"github.com/flowmap/flowmap/internal/truth"
)

// BenchmarkDecodeRedaction is `flowmap decode --format jsonl` on the long
// shared capture, output discarded, with redaction (the default) and
// without (--show-secrets): the difference is what redaction costs.
func BenchmarkDecodeRedaction(b *testing.B) {
	p := truth.Shared("long-mixed-head.pcapng")
	if p == "" {
		b.Skip("../shared/captures/long-mixed-head.pcapng absent")
	}
	st, err := os.Stat(p)
	if err != nil {
		b.Skip(err)
	}
	for _, c := range []struct{ name, flag string }{{"redacted", ""}, {"show-secrets", "--show-secrets"}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(st.Size())
			b.ReportAllocs()
			args := []string{"decode", "--format", "jsonl", "--progress", "never", p}
			if c.flag != "" {
				args = append(args, c.flag)
			}
			for b.Loop() {
				if code := execute(&IO{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard, RedactKey: testKey}, args); code != 0 {
					b.Fatalf("exit %d", code)
				}
			}
		})
	}
}

// BenchmarkRedactLong is redaction alone: every message of the long
// capture (decoded once, outside the timer) through Redacted, as decode
// does before printing. Compare with BenchmarkDecodeRedaction/show-secrets,
// the whole of decode without it.
func BenchmarkRedactLong(b *testing.B) {
	p := truth.Shared("long-mixed-head.pcapng")
	if p == "" {
		b.Skip("../shared/captures/long-mixed-head.pcapng absent")
	}
	st, err := os.Stat(p)
	if err != nil {
		b.Skip(err)
	}
	var exs []*decoder.Exchange
	o := pipelineOptions(&IO{In: strings.NewReader(""), RedactKey: testKey}, false)
	if _, err := pipeline.Run([]string{p}, o, func(e *decoder.Exchange) { exs = append(exs, e) }); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range exs {
			if e.Request != nil {
				e.Request.Redacted()
			}
			if e.Response != nil {
				e.Response.Redacted()
			}
		}
	}
}

// benchCmd runs flowmap with args on the long shared capture (skipped
// when absent), output discarded: the whole command as a user runs it.
func benchCmd(b *testing.B, args ...string) {
	p := truth.Shared("long-mixed-head.pcapng")
	if p == "" {
		b.Skip("../shared/captures/long-mixed-head.pcapng absent")
	}
	st, err := statSize(p)
	if err != nil {
		b.Skip(err)
	}
	b.SetBytes(st)
	b.ReportAllocs()
	args = append(append(args, "--progress", "never"), p)
	mark := benchcpu.Start()
	for b.Loop() {
		if code := Main(args, strings.NewReader(""), io.Discard, io.Discard); code != 0 {
			b.Fatalf("flowmap %v: exit %d", args, code)
		}
	}
	mark.Report(b)
}

// BenchmarkTraceLong is `flowmap trace` (Mermaid) on the 81 MB
// long-mixed-head capture: decoding, flow and rendering.
func BenchmarkTraceLong(b *testing.B) { benchCmd(b, "trace") }

// BenchmarkDecodeJSONLLong is `flowmap decode --format jsonl` on the same
// capture.
func BenchmarkDecodeJSONLLong(b *testing.B) { benchCmd(b, "decode", "--format", "jsonl") }

func statSize(p string) (int64, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// BenchmarkTraceOTLPLong is `flowmap trace --format otlp` on the same
// capture.
func BenchmarkTraceOTLPLong(b *testing.B) { benchCmd(b, "trace", "--format", "otlp") }

// BenchmarkTraceJSONLong is `flowmap trace --format json` on the same
// capture.
func BenchmarkTraceJSONLong(b *testing.B) { benchCmd(b, "trace", "--format", "json") }

// BenchmarkReportLong is `flowmap report -o` on the same capture.
func BenchmarkReportLong(b *testing.B) {
	benchCmd(b, "report", "-o", filepath.Join(b.TempDir(), "report.html"))
}

// BenchmarkDecodeTextLong is `flowmap decode` (text, the default) on the
// same capture.
func BenchmarkDecodeTextLong(b *testing.B) { benchCmd(b, "decode") }
