package capture

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/flowmap/flowmap/decoder/decodertest"
)

// manySources writes files pcapngs of ifaces interfaces each, 4 real frames
// per interface, in time order over all of them (packet k on file k%files).
func manySources(b *testing.B, files, ifaces int) []string {
	frames := pcapgoRead(b, capPath("seed-image-list.lo.pcapng"))
	t0 := time.Unix(1795978839, 0)
	var paths []string
	for f := range files {
		var buf bytes.Buffer
		w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "if0", LinkType: layers.LinkTypeEthernet, TimestampResolution: 9}, pcapgo.NgWriterOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for i := 1; i < ifaces; i++ {
			if _, err := w.AddInterface(pcapgo.NgInterface{Name: fmt.Sprintf("if%d", i), LinkType: layers.LinkTypeEthernet, TimestampResolution: 9}); err != nil {
				b.Fatal(err)
			}
		}
		for k := f; k < 4*files*ifaces; k += files {
			data := frames[k%len(frames)].data
			ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(k) * 10 * time.Microsecond), CaptureLength: len(data), Length: len(data), InterfaceIndex: (k / files) % ifaces}
			if err := w.WritePacket(ci, data); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		paths = append(paths, writeTemp(b, fmt.Sprintf("f%d-%d.pcapng", files, f), buf.Bytes()))
	}
	return paths
}

func readAll(b *testing.B, paths []string, want int) func() {
	return func() {
		r, err := Open(paths, Options{DedupeWindow: -1})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			}
			n++
		}
		r.Close()
		if n != want {
			b.Fatalf("read %d packets, want %d", n, want)
		}
	}
}

// BenchmarkMergeInterfaces merges 8 files of 500, then 1,000 interfaces
// (4 packets each): the merge is a heap, so twice the sources and packets
// cost about twice (x2-ratio), not four times.
func BenchmarkMergeInterfaces(b *testing.B) {
	decodertest.Doubling(b, 500, func(n int) func() { return readAll(b, manySources(b, 8, n), 4*8*n) })
}

// BenchmarkMergeFiles merges 4, then 8 files of 1,000 interfaces.
func BenchmarkMergeFiles(b *testing.B) {
	decodertest.Doubling(b, 4, func(n int) func() { return readAll(b, manySources(b, n, 1000), 4*n*1000) })
}
