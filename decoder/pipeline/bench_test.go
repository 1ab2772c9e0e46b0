package pipeline

import (
	"os"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/internal/truth"
)

func benchDecode(b *testing.B, path string) {
	st, err := os.Stat(path)
	if err != nil {
		b.Skip(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := Run([]string{path}, Options{}, func(*decoder.Exchange) { n++ }); err != nil {
			b.Fatal(err)
		}
	}
	if n == 0 {
		b.Fatal("no exchanges")
	}
}

// BenchmarkDecode is the whole decode pipeline (read, merge, reassemble,
// HTTP + memcache + MySQL) on the seed-image-save capture: the 14.7 MB one
// from ../shared when present, else the cut copy in testdata.
func BenchmarkDecode(b *testing.B) {
	p := truth.Shared("seed-image-save.pcapng")
	if p == "" {
		p = truth.Capture("seed-image-save.cut")
	}
	benchDecode(b, p)
}

// BenchmarkDecodeLong is the 81 MB long-mixed-head capture (skipped when
// ../shared is absent).
func BenchmarkDecodeLong(b *testing.B) {
	p := truth.Shared("long-mixed-head.pcapng")
	if p == "" {
		b.Skip("../shared/captures/long-mixed-head.pcapng absent")
	}
	benchDecode(b, p)
}
