package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// seedFile is the real capture the damage cases are cut from.
const seedFile = "seed-image-list.pcapng"

// nthEPB returns the nth (1-based, file order) enhanced packet block.
func nthEPB(t testing.TB, data []byte, n int) ngBlock {
	t.Helper()
	for _, b := range ngBlocks(t, data) {
		if b.typ == blockEPB {
			if n--; n == 0 {
				return b
			}
		}
	}
	t.Fatalf("no EPB %d", n)
	return ngBlock{}
}

// block builds a little-endian pcapng block around body.
func block(typ uint32, body []byte) []byte {
	n := 12 + (len(body)+3)&^3
	b := make([]byte, n)
	binary.LittleEndian.PutUint32(b[0:], typ)
	binary.LittleEndian.PutUint32(b[4:], uint32(n))
	copy(b[8:], body)
	binary.LittleEndian.PutUint32(b[n-4:], uint32(n))
	return b
}

func randomBytes(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// firstFrame is the first packet of the seed capture, as captured.
func firstFrame(t testing.TB) []byte {
	return pcapgoRead(t, capPath(seedFile))[0].data
}

// TestBadInput feeds damaged, hostile and odd files, each a named case:
// Open fails naming the file when it cannot start; otherwise everything
// before the damage comes out, then a diagnostic says what and where.
// No case may allocate more than a few MiB, whatever lengths it declares.
func TestBadInput(t *testing.T) {
	seed := readFile(t, capPath(seedFile))
	blocks := ngBlocks(t, seed)
	shbLen := blocks[0].len
	e100 := nthEPB(t, seed, 100) // its block starts after packet 99
	e813 := nthEPB(t, seed, 813)
	patch := func(off int, v uint32) []byte {
		b := bytes.Clone(seed)
		binary.LittleEndian.PutUint32(b[off:], v)
		return b
	}
	insert := func(off int, blk []byte) []byte {
		return append(append(bytes.Clone(seed[:off]), blk...), seed[off:]...)
	}
	ens := pcapgoRead(t, capPath("seed-image-list.ens33.pcapng"))
	pcapUS := classicPcap(t, ens, false)
	pcapRec := func(n int) int { // offset of record n (1-based) in pcapUS
		off := 24
		for i := 1; i < n; i++ {
			off += 16 + len(ens[i-1].data)
		}
		return off
	}
	frame := firstFrame(t)
	bigFrame := make([]byte, maxCapLen) // the first frame, then a pattern
	for i := range bigFrame {
		bigFrame[i] = byte(i % 251)
	}
	copy(bigFrame, frame)
	epbBody := func(ifid uint32, data []byte) []byte {
		b := make([]byte, 20+len(data))
		binary.LittleEndian.PutUint32(b[0:], ifid)
		binary.LittleEndian.PutUint32(b[12:], uint32(len(data)))
		binary.LittleEndian.PutUint32(b[16:], uint32(len(data)))
		copy(b[20:], data)
		return b
	}
	idbEther := block(blockIDB, []byte{1, 0, 0, 0, 0, 0, 4, 0}) // Ethernet, snaplen 262144, no options
	shb := seed[:shbLen]
	tsresolOff := bytes.Index(seed[blocks[1].off:blocks[1].off+blocks[1].len], []byte{9, 0, 1, 0, 9}) // if_tsresol = 9
	if tsresolOff < 0 {
		t.Fatal("no if_tsresol option in the first IDB")
	}
	tsresolOff += blocks[1].off

	tests := []struct {
		name    string
		data    []byte
		openErr string // Open fails with this; the rest is not checked
		packets int    // packets returned (-1: some)
		fatal   string // a Fatal diagnostic with this text ("" none)
		note    string // a non-fatal diagnostic with this text ("" none)
		// disorder: packets come out of time order (timestamps made wrong)
		// and the merge says so.
		disorder bool
		check    func(t *testing.T, got []rec)
	}{
		{name: "empty", data: nil, openErr: "empty file"},
		{name: "not-a-capture-text", data: []byte("GET / HTTP/1.1\r\nHost: controller\r\n\r\n"), openErr: "not a pcap or pcapng file"},
		{name: "not-a-capture-3-bytes", data: []byte{0xd4, 0xc3, 0xb2}, openErr: "not a pcap or pcapng file"},
		{name: "random-bytes", data: randomBytes(4096), openErr: "not a pcap or pcapng file"},
		{name: "gzip-of-garbage", data: gzipBytes(t, randomBytes(4096)), openErr: "not a pcap or pcapng file"},
		{name: "gzip-bad-header", data: append([]byte{0x1f, 0x8b}, randomBytes(100)...), openErr: "gzip"},
		{name: "gzip-of-nothing", data: gzipBytes(t, nil), openErr: "empty file"},
		{name: "gzip-truncated", data: func() []byte { g := gzipBytes(t, seed); return g[:len(g)/2] }(),
			packets: -1, fatal: "truncated pcapng block"},
		{name: "gzip-corrupt-stream", data: func() []byte {
			g := gzipBytes(t, seed)
			copy(g[len(g)/2:], randomBytes(64))
			return g
		}(), packets: -1, fatal: " after packet "},

		{name: "pcapng-cut-in-section-header", data: seed[:20], openErr: "truncated pcapng block at offset 0 before the first packet (20 of"},
		{name: "pcapng-cut-in-interface", data: seed[:shbLen+10], packets: 0,
			fatal: fmt.Sprintf("truncated pcapng block at offset %d before the first packet (10 of", shbLen)},
		{name: "pcapng-cut-mid-block", data: seed[:e813.off+30], packets: 812,
			fatal: fmt.Sprintf("truncated pcapng block at offset %d after packet 812 (30 of %d bytes)", e813.off, e813.len)},
		{name: "pcapng-cut-in-block-header", data: seed[:e813.off+5], packets: 812,
			fatal: fmt.Sprintf("truncated pcapng block at offset %d after packet 812 (5 of 12 bytes)", e813.off)},
		{name: "pcapng-cut-at-block-boundary", data: seed[:e813.off], packets: 812},
		{name: "pcapng-huge-block-length", data: patch(e100.off+4, 0xFFFFFFF0), packets: 99,
			fatal: fmt.Sprintf("bad pcapng block length 4294967280 at offset %d after packet 99", e100.off)},
		{name: "pcapng-block-length-unaligned", data: patch(e100.off+4, uint32(e100.len+2)), packets: 99, fatal: "bad pcapng block length"},
		{name: "pcapng-block-length-too-small", data: patch(e100.off+4, 8), packets: 99, fatal: "bad pcapng block length 8"},
		{name: "pcapng-trailer-mismatch", data: patch(e100.off+e100.len-4, 12345), packets: 99,
			fatal: fmt.Sprintf("pcapng block at offset %d after packet 99: trailing length 12345 does not match %d", e100.off, e100.len)},
		{name: "pcapng-huge-caplen", data: patch(e100.off+20, 0xFFFFFFF0), packets: 1102,
			note: fmt.Sprintf("pcapng packet block at offset %d after packet 99: capture length 4294967280 exceeds the block, skipped", e100.off)},
		{name: "pcapng-undeclared-interface", data: patch(e100.off+8, 7), packets: 1102, note: "for undeclared interface 7, skipped"},
		{name: "pcapng-bad-byte-order-magic", data: patch(8, 0x11223344), openErr: "byte-order magic"},
		{name: "pcapng-version-2", data: func() []byte { b := bytes.Clone(seed); binary.LittleEndian.PutUint16(b[12:], 2); return b }(),
			openErr: "unsupported pcapng version 2.0"},
		{name: "pcapng-bad-tsresol", data: func() []byte { b := bytes.Clone(seed); b[tsresolOff+4] = 0x50; return b }(),
			packets: 1103, note: "unsupported timestamp resolution 0x50, using microseconds", disorder: true},
		{name: "pcapng-binary-tsresol", data: func() []byte { b := bytes.Clone(seed); b[tsresolOff+4] = 0x80 | 30; return b }(),
			packets: 1103, check: func(t *testing.T, got []rec) {
				for _, g := range got {
					if g.iface == "ens33" && g.t.Year() == 2026 {
						t.Fatalf("2^-30 resolution ignored: %v", g.t)
					}
				}
			}},
		{name: "pcapng-idb-option-overrun", data: func() []byte {
			b := bytes.Clone(seed)
			binary.LittleEndian.PutUint16(b[blocks[1].off+16+2:], 0xFFFF) // first option's length
			return b
		}(), packets: 1103, note: "overruns the block", disorder: true},
		{name: "pcapng-large-skippable-block", data: insert(e100.off, block(0x00000BAD, make([]byte, 1<<20))), packets: 1103},
		// Blocks larger than a slab but read whole get a slab of their own.
		{name: "pcapng-block-larger-than-a-slab", data: insert(e100.off, block(0x00000BAD, make([]byte, slabSize+100))), packets: 1103},
		{name: "pcapng-largest-packet", data: insert(e100.off, block(blockEPB, epbBody(0, bigFrame))), packets: 1104, disorder: true, // time 0
			check: func(t *testing.T, got []rec) {
				for _, g := range got {
					if g.num == 100 && !bytes.Equal(g.data, bigFrame) {
						t.Errorf("packet 100 is %d bytes, not the %d-byte frame inserted", len(g.data), len(bigFrame))
					}
				}
			}},
		{name: "pcapng-packet-block-too-large", data: insert(e100.off, block(blockEPB, epbBody(0, make([]byte, 600<<10)))), packets: 99,
			fatal: "pcapng block of 614432 bytes at offset 26508 after packet 99 exceeds 524288"},
		{name: "pcapng-too-many-interfaces", data: append(bytes.Clone(shb), bytes.Repeat(idbEther, maxIfaces+1)...), packets: 0,
			fatal: "more than 1024 pcapng interfaces"},
		{name: "pcapng-packet-before-interface", data: append(bytes.Clone(shb), block(blockEPB, epbBody(0, frame))...), packets: 0,
			note: "undeclared interface 0"},
		{name: "pcapng-simple-packet-block", data: append(append(bytes.Clone(shb), idbEther...), block(blockSPB, append(binary.LittleEndian.AppendUint32(nil, uint32(len(frame))), frame...))...),
			packets: 1, check: func(t *testing.T, got []rec) {
				if !bytes.Equal(got[0].data, frame) || got[0].iface != "if0" || got[0].ip == nil {
					t.Errorf("simple packet: %+v", got[0])
				}
			}},
		{name: "pcapng-obsolete-packet-block", data: func() []byte {
			body := epbBody(0, frame)
			binary.LittleEndian.PutUint32(body[4:], 0x00064000) // ts high: some time in 2024 in µs
			return append(append(bytes.Clone(shb), idbEther...), block(blockPB, body)...)
		}(), packets: 1},
		{name: "pcapng-section-without-interfaces", data: shb, packets: 0},

		{name: "pcap-cut-in-file-header", data: pcapUS[:10], openErr: "truncated pcap file header"},
		{name: "pcap-cut-mid-record", data: pcapUS[:pcapRec(20)+30], packets: 19,
			fatal: fmt.Sprintf("truncated pcap record at offset %d after packet 19 (30 of %d bytes)", pcapRec(20), 16+len(ens[19].data))},
		{name: "pcap-cut-in-record-header", data: pcapUS[:pcapRec(20)+7], packets: 19, fatal: "truncated pcap record header"},
		{name: "pcap-huge-caplen", data: func() []byte {
			b := bytes.Clone(pcapUS)
			binary.LittleEndian.PutUint32(b[pcapRec(5)+8:], 0xFFFFFFFF)
			return b
		}(), packets: 4, fatal: fmt.Sprintf("pcap record at offset %d after packet 4: capture length 4294967295 exceeds 262144", pcapRec(5))},
		{name: "pcap-version-1", data: func() []byte { b := bytes.Clone(pcapUS); b[4] = 1; return b }(), openErr: "unsupported pcap version 1.4"},
		{name: "pcap-caplen-over-origlen", data: func() []byte {
			b := bytes.Clone(pcapUS)
			binary.LittleEndian.PutUint32(b[pcapRec(1)+12:], 10)
			return b
		}(), packets: 39, check: func(t *testing.T, got []rec) {
			if got[0].orig != len(got[0].data) {
				t.Errorf("OrigLen %d < captured %d", got[0].orig, len(got[0].data))
			}
		}},
		{name: "pcap-modified-format", data: func() []byte {
			// Kuznetzov's format: 8 more bytes per record header.
			var b []byte
			b = append(b, pcapUS[:24]...)
			binary.LittleEndian.PutUint32(b[0:], magicPcapModified)
			for i, off := 1, 24; off < len(pcapUS); i++ {
				n := 16 + len(ens[i-1].data)
				b = append(b, pcapUS[off:off+16]...)
				b = append(b, 2, 0, 0, 0, 0x08, 0x00, 0, 0)
				b = append(b, pcapUS[off+16:off+n]...)
				off += n
			}
			return b
		}(), packets: 39},
		{name: "pcap-no-packets", data: pcapUS[:24], packets: 0},

		{name: "snaplen-truncated", data: readFile(t, capPath("snaplen-truncated.pcapng")), packets: 1102, check: func(t *testing.T, got []rec) {
			n := 0
			for _, g := range got {
				if g.orig > len(g.data) {
					n++
					if len(g.data) != 256 {
						t.Fatalf("truncated packet of %d bytes, snaplen 256", len(g.data))
					}
					p := Packet{Data: g.data, OrigLen: g.orig}
					if !p.Truncated() {
						t.Fatal("Truncated() false")
					}
				}
			}
			if n != 403 {
				t.Errorf("%d truncated packets, tshark counts 403", n)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, tt.name+".pcapng", tt.data)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			r, err := Open([]string{path}, Options{})
			var got []rec
			if err == nil {
				got = drain(t, r)
				r.Close()
			}
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
				t.Errorf("allocated %d MiB", alloc>>20)
			}
			if tt.openErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.openErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("Open error %v, want one naming %s with %q", err, path, tt.openErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if tt.packets >= 0 && len(got) != tt.packets || tt.packets < 0 && len(got) == 0 {
				t.Errorf("%d packets, want %d", len(got), tt.packets)
			}
			var fatal, note []string
			disorder := false
			for _, d := range r.Diagnostics() {
				if d.Where == "merge" {
					disorder = true
					continue
				}
				if d.Where != path {
					t.Errorf("diagnostic %q does not name the file", d)
				}
				if d.Fatal {
					fatal = append(fatal, d.String())
				} else {
					note = append(note, d.String())
				}
			}
			if tt.fatal == "" && len(fatal) != 0 || tt.fatal != "" && (len(fatal) != 1 || !strings.Contains(fatal[0], tt.fatal)) {
				t.Errorf("fatal diagnostics %q, want %q", fatal, tt.fatal)
			}
			if tt.note == "" && len(note) != 0 || tt.note != "" && (len(note) == 0 || !strings.Contains(note[0], tt.note)) {
				t.Errorf("other diagnostics %q, want %q", note, tt.note)
			}
			if disorder != tt.disorder || disorder != (r.Stats().OutOfOrder > 0) {
				t.Errorf("out of order: diagnostic %v, stats %+v", disorder, r.Stats())
			}
			if tt.check != nil {
				tt.check(t, got)
			}
			t.Logf("%d packets; %q %q", len(got), fatal, note)
		})
	}
}

// TestDamageLeavesOtherFilesAlone: a damaged file ends early; the files
// merged with it are read to their ends.
func TestDamageLeavesOtherFilesAlone(t *testing.T) {
	seed := readFile(t, capPath(seedFile))
	cut := writeTemp(t, "cut.pcapng", seed[:nthEPB(t, seed, 500).off+40])
	got, r := readAllPaths(t, Options{}, cut, capPath("auth-fail.pcapng"))
	if len(got) != 499+467 {
		t.Fatalf("%d packets, want %d", len(got), 499+467)
	}
	if d := r.Diagnostics(); len(d) != 1 || !d[0].Fatal || d[0].Where != cut {
		t.Fatalf("diagnostics %v", d)
	}
	if _, err := Open([]string{capPath("auth-fail.pcapng"), "/nonexistent/x.pcapng"}, Options{}); err == nil || !strings.Contains(err.Error(), "/nonexistent/x.pcapng") {
		t.Fatalf("missing file: %v", err)
	}
}
