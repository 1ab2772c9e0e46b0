package main

import (
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

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
	cpu0, wall0 := cpuTime(), time.Now()
	for b.Loop() {
		if code := Main(args, strings.NewReader(""), io.Discard, io.Discard); code != 0 {
			b.Fatalf("flowmap %v: exit %d", args, code)
		}
	}
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	// CPU of the process (every stage and the GC) per run, and wall over
	// CPU: below 1 when the pipeline's stages overlapped.
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	if cpu > 0 {
		b.ReportMetric(float64(wall)/float64(cpu), "wall/cpu")
	}
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
