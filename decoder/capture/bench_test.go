package capture

import (
	"io"
	"os"
	"testing"
)

// benchRead reads paths to the end b.N times; bytes are the files' sizes.
func benchRead(b *testing.B, opts Options, paths ...string) {
	var size int64
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			b.Skip(err)
		}
		size += fi.Size()
	}
	b.SetBytes(size)
	b.ReportAllocs()
	var pkts int64
	for b.Loop() {
		r, err := Open(paths, opts)
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
		}
		pkts = r.Stats().Packets
		r.Close()
	}
	b.ReportMetric(float64(pkts), "packets/op")
}

// BenchmarkReader reads a real two-interface capture (6,475 packets,
// 1,277 of them out of order in the file).
func BenchmarkReader(b *testing.B) {
	benchRead(b, Options{}, capPath("concurrent.pcapng"))
}

// BenchmarkReaderLong reads the 81 MB long-mixed-head capture when the
// shared folder has it: the steady state, where setup is noise.
func BenchmarkReaderLong(b *testing.B) {
	p := sharedCapture("long-mixed-head.pcapng")
	if p == "" {
		b.Skip("long-mixed-head.pcapng not found")
	}
	benchRead(b, Options{}, p)
}

// BenchmarkReaderMergeDedupe merges a capture with its any twin: every
// packet is hashed and half are dropped as duplicates.
func BenchmarkReaderMergeDedupe(b *testing.B) {
	benchRead(b, Options{}, capPath("seed-image-list.pcapng"), capPath("seed-image-list.any.pcapng"))
}
