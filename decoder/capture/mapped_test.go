package capture

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestMappedSameAsRead: every committed capture, alone and merged with
// others, gives the same packets, statistics and diagnostics mapped as
// read, and is mapped (gzipped ones are read).
func TestMappedSameAsRead(t *testing.T) {
	names, err := filepath.Glob(capPath("*.pcap*"))
	if err != nil || len(names) < 10 {
		t.Fatalf("captures: %v %v", names, err)
	}
	cases := [][]string{{capPath("seed-image-list.ens33.pcapng"), capPath("seed-image-list.lo.pcapng"), capPath("seed-image-list.any.pcapng")}}
	for _, n := range names {
		cases = append(cases, []string{n})
	}
	gz := writeTemp(t, "x.pcapng.gz", gzipBytes(t, readFile(t, capPath("tiny-save.pcapng"))))
	cases = append(cases, []string{gz})
	for _, paths := range cases {
		read, rr := readAllPaths(t, Options{NoMap: true}, paths...)
		mapped, rm := readAllPaths(t, Options{}, paths...)
		if want := !strings.HasSuffix(paths[0], ".gz"); rm.MapsFiles() != want || rr.MapsFiles() {
			t.Errorf("%v: mapped %v, read %v", paths, rm.MapsFiles(), rr.MapsFiles())
		}
		if len(read) == 0 || !reflect.DeepEqual(read, mapped) {
			t.Errorf("%v: %d packets read, %d mapped, or they differ", paths, len(read), len(mapped))
		}
		if !reflect.DeepEqual(rr.Stats(), rm.Stats()) || !reflect.DeepEqual(rr.Diagnostics(), rm.Diagnostics()) {
			t.Errorf("%v: stats %+v / %+v, diagnostics %v / %v", paths, rr.Stats(), rm.Stats(), rr.Diagnostics(), rm.Diagnostics())
		}
	}
}

// bigCapture writes a classic pcap of n packets of size bytes each, one
// every µs, to a temporary file (several mapping chunks).
func bigCapture(t *testing.T, n, size int) string {
	t.Helper()
	var b bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], magicPcapMicro)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // Ethernet
	b.Write(hdr)
	rec := make([]byte, 16+size)
	for i := range n {
		binary.LittleEndian.PutUint32(rec[0:], 1_700_000_000+uint32(i/1_000_000))
		binary.LittleEndian.PutUint32(rec[4:], uint32(i%1_000_000))
		binary.LittleEndian.PutUint32(rec[8:], uint32(size))
		binary.LittleEndian.PutUint32(rec[12:], uint32(size))
		binary.BigEndian.PutUint32(rec[16:], uint32(i)) // the packet's number, to check it
		b.Write(rec)
	}
	return writeTemp(t, "big.pcap", b.Bytes())
}

// TestMappedUnmapsBehind: a mapped file is unmapped behind the reader,
// chunk by chunk, so what is mapped stays near what is held, not the file.
func TestMappedUnmapsBehind(t *testing.T) {
	const n, size = 40_000, 1000 // 40 MB: ten chunks
	p := bigCapture(t, n, size)
	r := openT(t, Options{}, p)
	if !r.MapsFiles() {
		t.Fatal("not mapped")
	}
	m := r.inputs[0].m
	most := 0
	i := 0
	each(t, r, func(pk *Packet) {
		if got := int(binary.BigEndian.Uint32(pk.Data)); got != i {
			t.Fatalf("packet %d carries %d", i, got)
		}
		i++
		// what the merge holds (5 ms of packets: 5 MB here), the chunk
		// read, and the chunks they start and end in
		if over := r.slabs.inUse - r.buffered; over > most {
			most = over
		}
	})
	if i != n {
		t.Fatalf("%d packets, want %d", i, n)
	}
	if most > 3*mapChunk {
		t.Errorf("at most %d bytes more mapped than queued while reading, want at most three chunks (%d)", most, 3*mapChunk)
	}
	if m.next != len(m.freed) || r.slabs.inUse != 0 {
		t.Errorf("at the end %d of %d chunks unmapped, %d bytes in use", m.next, len(m.freed), r.slabs.inUse)
	}
}

// TestMappedHeldPacketKeepsItsBytes: a packet kept (Keep) while the reader
// goes on for chunks keeps its bytes, and its chunk and those after it
// are unmapped once it is given back.
func TestMappedHeldPacketKeepsItsBytes(t *testing.T) {
	p := bigCapture(t, 20_000, 1000)
	r := openT(t, Options{}, p)
	var held []*Packet
	var holds []Hold
	for i := range 20_000 {
		pk, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if i%4500 == 4000 { // spread over the file's five chunks
			c := *pk
			held, holds = append(held, &c), append(holds, r.Keep())
		}
	}
	for k, pk := range held {
		if got, want := int(binary.BigEndian.Uint32(pk.Data)), 4000+4500*k; got != want {
			t.Errorf("held packet %d carries %d", want, got)
		}
	}
	m := r.inputs[0].m
	if first := (24 + 4000*1016) / mapChunk; m.next != first {
		t.Errorf("%d chunks unmapped while chunk %d is held", m.next, first)
	}
	for _, h := range holds {
		r.Reuse(h)
	}
	if m.next < len(m.freed)-1 {
		t.Errorf("%d of %d chunks unmapped once given back", m.next, len(m.freed))
	}
}

// TestMappedFileShrinks: a file cut short by another program while it is
// read faults where its bytes are touched; the Reader reports the file as
// changed (fatal for that file) and ends it, instead of crashing.
func TestMappedFileShrinks(t *testing.T) {
	p := bigCapture(t, 20_000, 1000)
	r := openT(t, Options{}, p)
	for range 1000 {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Truncate(p, 5<<20); err != nil {
		t.Fatal(err)
	}
	got := 1000
	for {
		_, err := r.Next()
		if err != nil {
			break
		}
		got++
	}
	// every record that ends within the first 5 MiB, and none after
	if want := (5<<20 - 24) / 1016; got != want {
		t.Errorf("%d packets after the file shrank to 5 MiB, want %d: %v", got, want, r.Diagnostics())
	}
	d := r.Diagnostics()
	if len(d) != 1 || !d[0].Fatal || !strings.Contains(d[0].What, "changed while it was being read") || !strings.Contains(d[0].What, "840 packets read before it were past its new end") || d[0].Where != p {
		t.Errorf("diagnostics %+v", d)
	}
}
