package capture

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"
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
	if int(m.next.Load()) != len(m.freed) || r.slabs.inUse != 0 {
		t.Errorf("at the end %d of %d chunks unmapped, %d bytes in use", m.next.Load(), len(m.freed), r.slabs.inUse)
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
	if first := (24 + 4000*1016) / mapChunk; int(m.next.Load()) != first {
		t.Errorf("%d chunks unmapped while chunk %d is held", m.next.Load(), first)
	}
	for _, h := range holds {
		r.Reuse(h)
	}
	if int(m.next.Load()) < len(m.freed)-1 {
		t.Errorf("%d of %d chunks unmapped once given back", m.next.Load(), len(m.freed))
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
	if len(d) != 1 || !d[0].Fatal || !strings.Contains(d[0].What, "changed while it was being read") || !strings.Contains(d[0].What, "840 packets read before lay past where it can now be read: dropped") || d[0].Where != p {
		t.Errorf("diagnostics %+v", d)
	}
}

// mkBlock is a pcapng block of typ with body (padded).
func mkBlock(typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	b := make([]byte, 12+len(body))
	binary.LittleEndian.PutUint32(b[0:], typ)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
	copy(b[8:], body)
	binary.LittleEndian.PutUint32(b[len(b)-4:], uint32(len(b)))
	return b
}

// ngFile is a pcapng section with one Ethernet interface (µs) and an
// enhanced packet block of data at each time (µs) of ts, each after pad
// bytes of a block flowmap skips.
func ngFile(ts []uint64, data []byte, pad int) []byte {
	var b bytes.Buffer
	shb := make([]byte, 16)
	binary.LittleEndian.PutUint32(shb[0:], ngByteOrderMagic)
	binary.LittleEndian.PutUint16(shb[4:], 1)
	binary.LittleEndian.PutUint64(shb[8:], ^uint64(0))
	b.Write(mkBlock(magicNgSection, shb))
	idb := make([]byte, 8)
	binary.LittleEndian.PutUint16(idb[0:], 1)
	b.Write(mkBlock(blockIDB, idb))
	b.Write(ngPackets(ts, data, pad))
	return b.Bytes()
}

// ngPackets is the enhanced packet blocks of ngFile.
func ngPackets(ts []uint64, data []byte, pad int) []byte {
	var b bytes.Buffer
	for _, us := range ts {
		if pad > 0 {
			b.Write(mkBlock(0xBAD, make([]byte, pad)))
		}
		epb := make([]byte, 20, 20+len(data))
		binary.LittleEndian.PutUint32(epb[4:], uint32(us>>32))
		binary.LittleEndian.PutUint32(epb[8:], uint32(us))
		binary.LittleEndian.PutUint32(epb[12:], uint32(len(data)))
		binary.LittleEndian.PutUint32(epb[16:], uint32(len(data)))
		b.Write(mkBlock(blockEPB, append(epb, data...)))
	}
	return b.Bytes()
}

// TestMappedFinishedFileShrinks: a file read to its end whose last
// packets still wait in the merge queue (another file is behind in time)
// shrinks; copying those packets (compaction, forced by the other file's
// megabytes) faults. Its packets past the new end are dropped, it is
// reported as changed, and the other file is read to its end, without a
// crash. (Found in review: the Reader panicked on a finished file's fault.)
func TestMappedFinishedFileShrinks(t *testing.T) {
	const base = uint64(1_700_000_000) * 1e6
	var ta, tb []uint64
	for i := range 100 {
		ta = append(ta, base+10e6+uint64(i))
	}
	for i := range 60 {
		tb = append(tb, base+5e6+uint64(i))
	}
	pa := writeTemp(t, "a.pcapng", ngFile(ta, make([]byte, 100), 0))
	// B: a packet at once, then each after a megabyte that is skipped
	pb := writeTemp(t, "b.pcapng", append(ngFile([]uint64{base}, make([]byte, 64), 0), ngPackets(tb, make([]byte, 64), 1<<20)...))
	r := openT(t, Options{}, pa, pb)
	n := 0
	for !r.inputs[0].done {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if r.compactAt != r.compactBase || r.buffered < 100*100 {
		t.Fatalf("A done after %d packets with %d bytes queued, compacted already (%d, %d)", n, r.buffered, r.compactAt, r.compactBase)
	}
	if err := os.Truncate(pa, 0); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := r.Next(); err != nil {
			break
		}
		n++
	}
	// B's 61, and none of A's 100, all queued behind B when A shrank
	if n != 61 {
		t.Errorf("%d packets, want B's 61", n)
	}
	d := r.Diagnostics()
	if len(d) != 1 || d[0].Where != pa || !strings.Contains(d[0].What, Changed) || !strings.Contains(d[0].What, "100 packets read before lay past") {
		t.Errorf("diagnostics %+v", d)
	}
}

// TestMappedFaultInUnmappedChunk: an address in a chunk flowmap unmapped
// itself is not the file's (Reader.Fault says no): a stage reading it
// has a bug, which must not be reported as the file changing.
func TestMappedFaultInUnmappedChunk(t *testing.T) {
	p := bigCapture(t, 4000, 1000) // 4 MB: four chunks
	r := openT(t, Options{}, p)
	m := r.inputs[0].m
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m.buf)))
	if _, ok := r.mappedAt(base + 10); !ok {
		t.Fatal("the first chunk is not mapped before reading")
	}
	drain(t, r)
	if _, ok := r.mappedAt(base + 10); ok || int(m.next.Load()) != len(m.freed) {
		t.Errorf("an unmapped chunk counts as the file's (%d of %d chunks unmapped)", m.next.Load(), len(m.freed))
	}
	if _, ok := r.mappedAt(base + uintptr(len(m.buf)) + 10); ok {
		t.Error("an address past the file counts as the file's")
	}
}
