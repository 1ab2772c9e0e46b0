package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// capDir holds the real captures committed with the repository.
const capDir = "../../testdata/captures"

func capPath(name string) string { return filepath.Join(capDir, name) }

// sharedCapture finds a capture that is only in the shared folder (too big
// for the repository), or "" when it is not there.
func sharedCapture(name string) string {
	for _, dir := range []string{"../../../shared/captures", "/work/shared/captures"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// rec is a copy of a returned Packet.
type rec struct {
	t        time.Time
	iface    string
	src      int
	file     string
	num      int
	lt       layers.LinkType
	data, ip []byte
	orig     int
}

func openT(t testing.TB, opts Options, paths ...string) *Reader {
	t.Helper()
	r, err := Open(paths, opts)
	if err != nil {
		t.Fatalf("Open(%v): %v", paths, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// drain reads r to the end, copying every packet.
func drain(t testing.TB, r *Reader) []rec {
	t.Helper()
	var out []rec
	each(t, r, func(p *Packet) {
		out = append(out, rec{
			t: p.Time, iface: p.Iface, src: p.Source, file: p.File, num: p.Number, lt: p.LinkType,
			data: bytes.Clone(p.Data), ip: bytes.Clone(p.IP), orig: p.OrigLen,
		})
	})
	return out
}

// each calls f with every packet r returns, to the end.
func each(t testing.TB, r *Reader, f func(*Packet)) {
	t.Helper()
	for {
		p, err := r.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		f(p)
	}
}

func readAllPaths(t testing.TB, opts Options, paths ...string) ([]rec, *Reader) {
	t.Helper()
	r := openT(t, opts, paths...)
	return drain(t, r), r
}

// ngPacket is one packet as pcapgo's pcapng reader sees it.
type ngPacket struct {
	t      time.Time
	iface  int
	lt     layers.LinkType
	data   []byte
	caplen int
	orig   int
}

// pcapgoRead reads a pcapng file with pcapgo (mixed link types on), in file
// order: an independent reading of the same bytes.
func pcapgoRead(t testing.TB, path string) []ngPacket {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ng, err := pcapgo.NewNgReader(f, pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []ngPacket
	for {
		data, ci, err := ng.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("pcapgo %s: %v", path, err)
		}
		out = append(out, ngPacket{
			t: ci.Timestamp, iface: ci.InterfaceIndex, lt: ci.AncillaryData[0].(layers.LinkType),
			data: data, caplen: ci.CaptureLength, orig: ci.Length,
		})
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gzipBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// classicPcap writes the packets of a single-link-type pcapng as a classic
// pcap file, with microsecond or nanosecond timestamps.
func classicPcap(t testing.TB, pkts []ngPacket, nanos bool) []byte {
	t.Helper()
	var b bytes.Buffer
	var w *pcapgo.Writer
	if nanos {
		w = pcapgo.NewWriterNanos(&b)
	} else {
		w = pcapgo.NewWriter(&b)
	}
	if err := w.WriteFileHeader(262144, pkts[0].lt); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		ci := gopacketCI(p)
		if err := w.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// swapPcap turns a little-endian classic pcap into its big-endian twin by
// swapping every header field by hand.
func swapPcap(t testing.TB, le []byte) []byte {
	t.Helper()
	be := bytes.Clone(le)
	sw32 := func(b []byte) { binary.BigEndian.PutUint32(b, binary.LittleEndian.Uint32(b)) }
	sw16 := func(b []byte) { binary.BigEndian.PutUint16(b, binary.LittleEndian.Uint16(b)) }
	sw32(be[0:4])
	sw16(be[4:6])
	sw16(be[6:8])
	for i := 8; i < 24; i += 4 {
		sw32(be[i : i+4])
	}
	for off := 24; off < len(be); {
		if off+16 > len(be) {
			t.Fatalf("swapPcap: bad record at %d", off)
		}
		caplen := int(binary.LittleEndian.Uint32(be[off+8:]))
		for i := 0; i < 16; i += 4 {
			sw32(be[off+i : off+i+4])
		}
		off += 16 + caplen
	}
	return be
}

// ngBlock is one block of a little-endian pcapng file, for tests that edit
// real files.
type ngBlock struct {
	off int
	typ uint32
	len int
}

// ngBlocks walks the block framing of a little-endian pcapng.
func ngBlocks(t testing.TB, data []byte) []ngBlock {
	t.Helper()
	var out []ngBlock
	for off := 0; off < len(data); {
		if off+12 > len(data) {
			t.Fatalf("ngBlocks: trailing %d bytes", len(data)-off)
		}
		l := int(binary.LittleEndian.Uint32(data[off+4:]))
		out = append(out, ngBlock{off: off, typ: binary.LittleEndian.Uint32(data[off:]), len: l})
		off += l
	}
	return out
}

// swapNg turns a little-endian pcapng (SHB, IDB, EPB, ISB blocks; others are
// dropped) into a big-endian one.
func swapNg(t testing.TB, le []byte) []byte {
	t.Helper()
	var out []byte
	sw32 := func(b []byte) { binary.BigEndian.PutUint32(b, binary.LittleEndian.Uint32(b)) }
	sw16 := func(b []byte) { binary.BigEndian.PutUint16(b, binary.LittleEndian.Uint16(b)) }
	swapOpts := func(opts []byte) {
		for len(opts) >= 4 {
			code := binary.LittleEndian.Uint16(opts)
			l := int(binary.LittleEndian.Uint16(opts[2:]))
			sw16(opts[0:2])
			sw16(opts[2:4])
			if code == 0 {
				return
			}
			v := opts[4 : 4+l]
			switch {
			case code == optTSOffset && l == 8:
				binary.BigEndian.PutUint64(v, binary.LittleEndian.Uint64(v))
			case l == 8 && code != optIfName: // ISB counters, EPB drop count...
				binary.BigEndian.PutUint64(v, binary.LittleEndian.Uint64(v))
			case l == 4 && code != optIfName: // epb_flags
				sw32(v)
			}
			opts = opts[4+(l+3)&^3:]
		}
	}
	for _, blk := range ngBlocks(t, le) {
		b := bytes.Clone(le[blk.off : blk.off+blk.len])
		body := b[8 : len(b)-4]
		switch blk.typ {
		case magicNgSection:
			sw32(body[0:4])
			sw16(body[4:6])
			sw16(body[6:8])
			binary.BigEndian.PutUint64(body[8:16], binary.LittleEndian.Uint64(body[8:16]))
			swapOpts(body[16:])
		case blockIDB:
			sw16(body[0:2])
			sw32(body[4:8])
			swapOpts(body[8:])
		case blockEPB:
			for i := 0; i < 20; i += 4 {
				sw32(body[i : i+4])
			}
			caplen := int(binary.LittleEndian.Uint32(le[blk.off+8+12:]))
			swapOpts(body[20+(caplen+3)&^3:])
		case 5: // ISB
			for i := 0; i < 12; i += 4 {
				sw32(body[i : i+4])
			}
			swapOpts(body[12:])
		default:
			continue
		}
		sw32(b[0:4])
		sw32(b[4:8])
		sw32(b[len(b)-4:])
		out = append(out, b...)
	}
	return out
}

func gopacketCI(p ngPacket) gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: p.t, CaptureLength: len(p.data), Length: p.orig}
}
