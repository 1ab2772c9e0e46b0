package pipeline

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/internal/truth"
)

func benchDecode(b *testing.B, path string, opts Options) {
	st, err := os.Stat(path)
	if err != nil {
		b.Skip(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	n := 0
	cpu0, wall0 := cpuTime(), time.Now()
	for b.Loop() {
		if _, err := Run([]string{path}, opts, func(*decoder.Exchange) { n++ }); err != nil {
			b.Fatal(err)
		}
	}
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	if n == 0 {
		b.Fatal("no exchanges")
	}
	// CPU of the whole process (every stage and the GC) per run, and wall
	// over CPU: below 1 when the stages ran on more than one core at once.
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

// BenchmarkDecode is the whole decode pipeline (read, merge, reassemble,
// HTTP + memcache + MySQL) on the seed-image-save capture: the 14.7 MB one
// from ../shared when present, else the cut copy in testdata.
func BenchmarkDecode(b *testing.B) {
	p := truth.Shared("seed-image-save.pcapng")
	if p == "" {
		p = truth.Capture("seed-image-save.cut")
	}
	benchDecode(b, p, Options{})
}

// BenchmarkDecodeLong is the 81 MB long-mixed-head capture (skipped when
// ../shared is absent).
func BenchmarkDecodeLong(b *testing.B) {
	p := truth.Shared("long-mixed-head.pcapng")
	if p == "" {
		b.Skip("../shared/captures/long-mixed-head.pcapng absent")
	}
	benchDecode(b, p, Options{})
}

// BenchmarkDecodeLongSerial is the same on one goroutine (Options.Serial):
// its cpu-ms/op against BenchmarkDecodeLong's is what the stages cost,
// and its wall/cpu (about 1) what they gain.
func BenchmarkDecodeLongSerial(b *testing.B) {
	p := truth.Shared("long-mixed-head.pcapng")
	if p == "" {
		b.Skip("../shared/captures/long-mixed-head.pcapng absent")
	}
	benchDecode(b, p, Options{Serial: true})
}
