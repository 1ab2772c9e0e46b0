package capture

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// strayCapture is a pcapng of n real frames on interface 0, 100 µs apart,
// where every strayEvery-th frame is on interface 1, all with one time an
// hour ahead: the merge holds those until the end, each pinning the slab
// it was read into.
func strayCapture(t testing.TB, n, strayEvery int) []byte {
	frames := pcapgoRead(t, capPath("seed-image-list.lo.pcapng"))
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "if0", LinkType: layers.LinkTypeEthernet, TimestampResolution: 9}, pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddInterface(pcapgo.NgInterface{Name: "if1", LinkType: layers.LinkTypeEthernet, TimestampResolution: 9}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1795978839, 0)
	for k := range n {
		data := frames[k%len(frames)].data
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(k) * 100 * time.Microsecond), CaptureLength: len(data), Length: len(data)}
		if k%strayEvery == strayEvery-1 {
			ci.Timestamp, ci.InterfaceIndex = t0.Add(time.Hour), 1
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readDigest reads data as one file and returns a digest of every packet
// returned, the most slab bytes in use at once, and how many were in use
// at the end. With compactBase set, it replaces the reader's.
func readDigest(t *testing.T, data []byte, opts Options, compactBase int) (uint64, int, int) {
	r, err := newReader([]stream{{name: "stray.pcapng", r: bytes.NewReader(data), size: int64(len(data))}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if compactBase > 0 {
		r.compactBase, r.compactAt = compactBase, compactBase
	}
	h := fnv.New64a()
	peak := 0
	each(t, r, func(p *Packet) {
		peak = max(peak, r.slabs.inUse)
		fmt.Fprint(h, p.Time.UnixNano(), p.Source, p.Number, len(p.IP))
		h.Write(p.Data)
	})
	if len(r.Diagnostics()) != 0 {
		t.Fatalf("diagnostics %v", r.Diagnostics())
	}
	return h.Sum64(), peak, r.slabs.inUse
}

// TestCompactBoundsPinnedSlabs: packets the merge holds long, scattered
// through a file, do not keep every slab they were read into: the slabs
// in use stay near MaxBuffered plus the read slab, and the packets come
// out the same as without compaction.
func TestCompactBoundsPinnedSlabs(t *testing.T) {
	data := strayCapture(t, 50000, 500) // 100 strays, one per ~170 KiB
	if len(data) < 12*slabSize {
		t.Fatalf("capture of %d bytes spans too few slabs", len(data))
	}
	opts := Options{MaxBuffered: 1 << 20}
	want, pinned, _ := readDigest(t, data, opts, 1<<40)
	if pinned < 8*slabSize {
		t.Fatalf("without compaction only %d bytes of slabs in use: the strays do not pin them", pinned)
	}
	got, peak, end := readDigest(t, data, opts, 0)
	if got != want {
		t.Fatal("compaction changed the packets returned")
	}
	if limit := opts.MaxBuffered + 4*slabSize; peak > limit {
		t.Errorf("%d bytes of slabs in use at once, want at most %d", peak, limit)
	}
	if end != 0 {
		t.Errorf("%d bytes of slabs still in use after the end", end)
	}
}
