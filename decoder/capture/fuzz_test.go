package capture

import (
	"bytes"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var writeSeeds = flag.Bool("write-fuzz-seeds", false, "rewrite testdata/fuzz/FuzzReader/seed-* from the real captures")

// fuzzSeeds are real bytes: the first KBs of real captures of each link
// type, the same packets as classic pcap in each flavour, and gzipped.
func fuzzSeeds(t testing.TB) map[string][]byte {
	prefix := func(name string, n int) []byte {
		b := readFile(t, capPath(name))
		return b[:min(n, len(b))]
	}
	ens := pcapgoRead(t, capPath("seed-image-list.ens33.pcapng"))[:8]
	us := classicPcap(t, ens, false)
	ns := classicPcap(t, ens, true)
	seedNg := prefix("seed-image-list.pcapng", 4096)
	return map[string][]byte{
		"seed-pcapng-ether":         seedNg,
		"seed-pcapng-sll2":          prefix("seed-image-list.any.pcapng", 4096),
		"seed-pcapng-snaplen":       prefix("snaplen-truncated.pcapng", 4096),
		"seed-pcapng-big-endian":    swapNg(t, readFile(t, capPath("seed-image-list.lo.pcapng")))[:1000],
		"seed-pcap-micro":           us,
		"seed-pcap-nano-be":         swapPcap(t, ns),
		"seed-pcapng-gzip":          gzipBytes(t, seedNg),
		"seed-pcapng-cut-mid-block": seedNg[:3000],
	}
}

// TestWriteFuzzSeeds rewrites the committed seed corpus with
// -write-fuzz-seeds; otherwise it checks that the corpus is there.
func TestWriteFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReader")
	for name, data := range fuzzSeeds(t) {
		path := filepath.Join(dir, name)
		if !*writeSeeds {
			if _, err := os.Stat(path); err != nil {
				t.Errorf("seed corpus file missing (run go test -run TestWriteFuzzSeeds -write-fuzz-seeds): %v", err)
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzReader opens the bytes as a capture file, alone and merged with a
// copy of itself, and reads every packet: nothing may panic, hang or
// allocate without bound, and what comes out must be self-consistent and
// deterministic.
func FuzzReader(f *testing.F) {
	for _, data := range fuzzSeeds(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a := fuzzRead(t, data, 1, "")
		if b := fuzzRead(t, data, 1, ""); a != b {
			t.Fatalf("two readings differ: %x vs %x", a, b)
		}
		// the same bytes as a file, mapped (mapped.go)
		path := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if m := fuzzRead(t, data, 1, path); m != a {
			t.Fatalf("read %x, mapped %x", a, m)
		}
		// and two copies merged (which the duplicate removal's random
		// seed once decided: dedupe.newest)
		if b, m := fuzzRead(t, data, 2, ""), fuzzRead(t, data, 2, path); b != m {
			t.Fatalf("two copies merged: read %x, mapped %x", b, m)
		}
	})
}

// fuzzRead reads n copies of data merged and returns a digest of the
// output: read from memory, or from the file at path (mapped) when given.
func fuzzRead(t *testing.T, data []byte, n int, path string) uint64 {
	streams := make([]stream, n)
	for i := range streams {
		streams[i] = stream{name: fmt.Sprintf("f%d", i), r: bytes.NewReader(data), size: int64(len(data))}
		if path != "" {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			streams[i].r, streams[i].closer = f, f
		}
	}
	r, err := newReader(streams, Options{})
	if err != nil {
		if !strings.HasPrefix(err.Error(), "f0: ") {
			t.Fatalf("Open error does not name the file: %v", err)
		}
		return 0
	}
	defer r.Close()
	h := fnv.New64a()
	count := 0
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		count++
		if count > len(data) {
			t.Fatalf("%d packets from %d bytes", count, len(data))
		}
		if len(p.Data) > maxCapLen || p.OrigLen < len(p.Data) || p.Number < 1 || p.Source < 0 || p.Source >= r.Stats().Sources {
			t.Fatalf("bad packet: len %d orig %d number %d source %d", len(p.Data), p.OrigLen, p.Number, p.Source)
		}
		if p.IP != nil {
			inside := false
			for k := 0; k+len(p.IP) <= len(p.Data) && len(p.IP) > 0; k++ {
				if &p.Data[k] == &p.IP[0] {
					inside = true
					break
				}
			}
			if !inside {
				t.Fatalf("IP layer (%d bytes) not inside the frame (%d bytes)", len(p.IP), len(p.Data))
			}
			if v := p.IP[0] >> 4; v != 4 && v != 6 {
				t.Fatalf("IP version %d", v)
			}
		}
		fmt.Fprint(h, p.Time.UnixNano(), p.Source, p.Number, len(p.Data), len(p.IP), p.Iface)
		h.Write(p.Data)
	}
	if r.slabs.inUse != 0 {
		t.Fatalf("%d bytes of slabs still in use after the end", r.slabs.inUse)
	}
	st := r.Stats()
	if st.Packets != int64(count) || st.NotIP > st.Packets {
		t.Fatalf("stats %+v for %d packets", st, count)
	}
	for _, d := range r.Diagnostics() {
		if d.Where == "" || d.What == "" {
			t.Fatalf("empty diagnostic %q", d)
		}
	}
	fmt.Fprint(h, r.Diagnostics())
	return h.Sum64()
}
