package main

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/internal/truth"
)

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
	for b.Loop() {
		if code := Main(args, strings.NewReader(""), io.Discard, io.Discard); code != 0 {
			b.Fatalf("flowmap %v: exit %d", args, code)
		}
	}
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
