package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestDedupe: a packet is a duplicate only when another source delivered the
// same IP bytes (hop-by-hop fields aside) within the window.
func TestDedupe(t *testing.T) {
	ip4 := bytes.Clone(firstFrame(t)[14:])
	otherHop := bytes.Clone(ip4)
	otherHop[8]-- // TTL
	binary.BigEndian.PutUint16(otherHop[10:], 0xBEEF)
	otherID := bytes.Clone(ip4)
	otherID[5]++ // IP ID
	ip6 := make([]byte, 48)
	ip6[0], ip6[5], ip6[6], ip6[7] = 0x60, 8, 17, 64
	ip6Hop := bytes.Clone(ip6)
	ip6Hop[7] = 63
	ms := int64(time.Millisecond)
	// A 400-byte packet, and the same cut to 200 bytes by a snap length.
	big := append(bytes.Clone(ip4), make([]byte, 400-len(ip4))...)
	binary.BigEndian.PutUint16(big[2:], 400)
	bigOtherPayload := bytes.Clone(big)
	bigOtherPayload[399] = 1

	tests := []struct {
		name string
		a, b []byte
		srcB int
		dt   int64
		dup  bool
	}{
		{"other-source-same-time", ip4, ip4, 1, 0, true},
		{"other-source-within-window", ip4, ip4, 1, 49 * ms, true},
		{"other-source-at-window", ip4, ip4, 1, 50 * ms, true},
		{"other-source-after-window", ip4, ip4, 1, 51 * ms, false},
		{"same-source-is-a-retransmission", ip4, ip4, 0, 1 * ms, false},
		{"ttl-and-checksum-differ", ip4, otherHop, 1, 1 * ms, true},
		{"ip-id-differs", ip4, otherID, 1, 1 * ms, false},
		{"ipv6-hop-limit-differs", ip6, ip6Hop, 1, 1 * ms, true},
		{"ipv6-payload-differs", ip6, append(bytes.Clone(ip6[:47]), 1), 1, 1 * ms, false},
		{"snaplen-cut-copy", big, big[:200], 1, 1 * ms, true},
		// Beyond hashedLen bytes, packets with the same headers are taken
		// as the same: TCP never sends different bytes under the same IP
		// ID, length and sequence number.
		{"same-headers-payload-differs-far-in", big, bigOtherPayload, 1, 1 * ms, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDedupe(50*ms, false)
			t0 := int64(1795978839) * 1e9
			if d.duplicate(d.key(tt.a), t0, 0) {
				t.Fatal("first sighting is a duplicate")
			}
			if got := d.duplicate(d.key(tt.b), t0+tt.dt, tt.srcB); got != tt.dup {
				t.Fatalf("duplicate = %v, want %v", got, tt.dup)
			}
		})
	}

	t.Run("third-copy", func(t *testing.T) {
		d := newDedupe(50*ms, false)
		if d.duplicate(d.key(ip4), 0, 0) || !d.duplicate(d.key(ip4), 1, 1) || !d.duplicate(d.key(ip4), 2, 2) {
			t.Fatal("copies from sources 1 and 2 not both duplicates")
		}
	})
	t.Run("disabled", func(t *testing.T) {
		d := newDedupe(-1, false)
		if d.duplicate(d.key(ip4), 0, 0) || d.duplicate(d.key(ip4), 0, 1) {
			t.Fatal("duplicate with dedupe off")
		}
	})
	t.Run("keys-expire-by-time", func(t *testing.T) {
		d := newDedupe(50*ms, false)
		pkt := bytes.Clone(ip4)
		for i := range 100000 {
			binary.BigEndian.PutUint32(pkt[24:], uint32(i)) // TCP sequence number
			d.duplicate(d.key(pkt), int64(i)*ms/10, 0)      // 10,000 packets a second
		}
		if n := d.live(int64(99999) * ms / 10); n > 501 {
			t.Fatalf("%d keys live for a 50 ms window at 10k packets/s", n)
		}
		if len(d.slots) > minSlots {
			t.Fatalf("a table of %d slots for about 500 live keys", len(d.slots))
		}
	})
	t.Run("keys-bounded-without-time", func(t *testing.T) {
		if testing.Short() {
			t.Skip("1M keys")
		}
		d := newDedupe(50*ms, false)
		pkt := bytes.Clone(ip4)
		for i := range maxKeys + 1000 {
			binary.BigEndian.PutUint32(pkt[24:], uint32(i))
			d.duplicate(d.key(pkt), 0, 0) // all at the same instant
		}
		if n := d.live(0); n > maxKeys || len(d.slots) > 4*maxKeys {
			t.Fatalf("%d keys held in %d slots, limit %d", n, len(d.slots), maxKeys)
		}
	})
}

// live counts the keys of d not expired at t.
func (d *dedupe) live(t int64) int {
	n := 0
	for _, s := range d.slots {
		if s.key != 0 && t-s.t <= d.window {
			n++
		}
	}
	return n
}

// TestDedupeSources: one classic pcap file is one source, so the Reader
// does no duplicate work for it; two files (pcap or not) do, and the copy
// of every packet in the second is dropped.
func TestDedupeSources(t *testing.T) {
	pcap := writeTemp(t, "ens33.pcap", classicPcap(t, pcapgoRead(t, capPath("seed-image-list.ens33.pcapng")), false))
	ng := capPath("seed-image-list.ens33.pcapng")
	for _, tt := range []struct {
		paths []string
		on    bool
	}{
		{[]string{pcap}, false},
		{[]string{ng}, true}, // a later interface description may add a source
		{[]string{pcap, pcap}, true},
		{[]string{pcap, ng}, true},
	} {
		got, r := readAllPaths(t, Options{}, tt.paths...)
		if r.dedupe.on() != tt.on {
			t.Errorf("%v: dedupe on %v, want %v", tt.paths, r.dedupe.on(), tt.on)
		}
		if st := r.Stats(); len(tt.paths) == 2 && (st.Duplicates != int64(len(got)) || st.Duplicates == 0) {
			t.Errorf("%v: %d duplicates of %d packets", tt.paths, st.Duplicates, len(got))
		}
	}
}

// TestDedupeLateSecondInterface: while a pcapng has one interface its keys
// only wait in the window's FIFO; an interface described later whose
// packets copy those of the first is still deduplicated, exactly as with
// the table used from the start.
func TestDedupeLateSecondInterface(t *testing.T) {
	frames := pcapgoRead(t, capPath("seed-image-list.ens33.pcapng"))
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "if0", LinkType: layers.LinkTypeEthernet, TimestampResolution: 9}, pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1795978839, 0)
	write := func(iface, k int, at time.Time) {
		data := frames[k%len(frames)].data
		binary.BigEndian.PutUint16(data[14+4:], uint16(k)) // IP ID: no two frames alike
		ci := gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(data), Length: len(data), InterfaceIndex: iface}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	for k := range 200 {
		write(0, k, t0.Add(time.Duration(k)*time.Millisecond))
	}
	if _, err := w.AddInterface(pcapgo.NgInterface{Name: "if1", LinkType: layers.LinkTypeEthernet, TimestampResolution: 9}); err != nil {
		t.Fatal(err)
	}
	for k := 150; k < 200; k++ { // copies of the last 50 ms of if0
		write(1, k, t0.Add(time.Duration(k)*time.Millisecond+500*time.Microsecond))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	read := func(solo bool) (uint64, Stats) {
		r, err := newReader([]stream{{name: "late.pcapng", r: bytes.NewReader(buf.Bytes()), size: int64(buf.Len())}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if r.dedupe.solo != true {
			t.Fatal("one interface at the start, but dedupe is not solo")
		}
		if !solo {
			r.dedupe = newDedupe(int64(DefaultDedupeWindow), false)
		}
		h := fnv.New64a()
		each(t, r, func(p *Packet) { fmt.Fprint(h, p.Time.UnixNano(), p.Source, p.Number) })
		return h.Sum64(), r.Stats()
	}
	got, st := read(true)
	want, wantSt := read(false)
	if st.Duplicates != 50 || st.Packets != 200 {
		t.Errorf("%d packets, %d duplicates; want 200 and the 50 copies", st.Packets, st.Duplicates)
	}
	if got != want || st != wantSt {
		t.Errorf("stats %+v, want %+v as with the table from the start", st, wantSt)
	}
}

// TestDedupeSeedless: which copies of a packet are removed does not hang
// on the duplicate table's random seed, even when capture times go back
// (here two copies of a hostile capture from FuzzReader, merged): 300
// readings, 300 new seeds, one result. (Keys expired by the packet's own
// time, which went back, and 2% of the readings removed other copies.)
func TestDedupeSeedless(t *testing.T) {
	raw := readFile(t, filepath.Join("testdata", "fuzz", "FuzzReader", "881772e03629117e"))
	lines := strings.SplitN(string(raw), "\n", 3)
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		t.Fatal(err)
	}
	data := []byte(s)
	first := fuzzRead(t, data, 2, "")
	for i := range 300 {
		if d := fuzzRead(t, data, 2, ""); d != first {
			t.Fatalf("reading %d: %x, first %x", i+2, d, first)
		}
	}
}
