package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/gopacket/gopacket/layers"
)

// The file formats are read here rather than with gopacket's pcapgo readers
// (which the tests use as an independent reference): pcapgo cannot say at
// which offset a file is damaged, its NgReader reads the rest of the file
// into memory for a hostile capture length (256 MiB allocated for the
// 81 MB long-mixed-head capture with one EPB's caplen set to 0xFFFFFFF0),
// and a block length below 8 makes it skip the rest of the file silently
// but for a final "unexpected EOF". And a packet here is not copied at all:
// its Data points into the slab its block was read into (slab.go).

// Limits on what a file may declare. Lengths beyond them are damage: they
// never size an allocation.
const (
	// maxCapLen is libpcap's MAXIMUM_SNAPLEN, which is also what Wireshark
	// accepts for Ethernet. Packets longer than this are damage.
	maxCapLen = 262144
	// readBufSize is the largest block that is read whole. Every block that
	// carries a packet must fit in it.
	readBufSize = 512 << 10
	// maxBlockLen is the largest pcapng block accepted (Wireshark's limit);
	// blocks above readBufSize that carry nothing we need are skipped
	// unread.
	maxBlockLen = 16 << 20
	// maxIfaces bounds the interfaces (and so merge sources) of one file.
	maxIfaces = 1024
	// maxNotes bounds the non-fatal diagnostics reported for one file.
	maxNotes = 20
)

// Magic numbers, as read little-endian.
const (
	magicPcapMicro    = 0xA1B2C3D4
	magicPcapNano     = 0xA1B23C4D
	magicPcapModified = 0xA1B2CD34 // Alexey Kuznetzov's patched libpcap: 24-byte records
	magicNgSection    = 0x0A0D0D0A // pcapng section header block type (a palindrome)
	ngByteOrderMagic  = 0x1A2B3C4D
)

// pcapng block types.
const (
	blockIDB = 1 // interface description
	blockPB  = 2 // packet (obsolete)
	blockSPB = 3 // simple packet
	blockEPB = 6 // enhanced packet
)

// pcapng option codes.
const (
	optEnd      = 0
	optIfName   = 2
	optTSResol  = 9
	optTSOffset = 14
)

// errNotCapture is returned by Open for a file that is neither pcap nor
// pcapng (nor gzip of one).
var errNotCapture = errors.New("not a pcap or pcapng file")

// damage is a problem in a file that stops its reading. What says what and
// where; it becomes a Fatal diagnostic (or, in Open, an error).
type damage struct{ what string }

func (d *damage) Error() string { return d.what }

// countingReader counts the bytes read from a file, for progress reporting.
// The count is shared by all files of a Reader and may be read concurrently.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// input is one capture file being read.
type input struct {
	path   string
	closer io.Closer // nil for stdin and in-memory streams
	gz     *gzip.Reader
	off    int64 // offset of the next block in the (decompressed) capture
	frames int   // packets read so far; the last one's Number
	done   bool
	notes  int
	ng     bool
	be     bool // big-endian file (pcap) or section (pcapng)

	// The (decompressed) capture bytes: cur.buf[r:w] are read and not yet
	// parsed, rerr is the error that ended reading (sticky).
	rd    io.Reader
	slabs *slabPool
	// m maps the file when it is mapped, not read (mapped.go): cur is
	// then the chunk the reader is in, and its bytes run to the file's
	// end. progress counts the bytes read (Reader.BytesRead), mapped
	// the chunks counted in it so far.
	m        *mapping
	f        *os.File // the file mapped (open until Close: dropGone asks its size)
	changed  bool     // it faulted: shorter than when opened, or unreadable
	progress *atomic.Int64
	counted  int64
	// slabLen is the size of the slabs it is read into, maxSlab the
	// largest block read whole (both its size for a small file).
	slabLen, maxSlab int
	cur              *slab
	r, w             int
	rerr             error

	// classic pcap
	nsUnit int64 // ns per timestamp fraction unit: 1000 (µs) or 1 (ns)
	recLen int   // record header length: 16, or 24 for the modified format
	src    *source

	// pcapng
	ifaces  []ngIface // interfaces of the current section, by IDB number
	nIfaces int       // interfaces seen in all sections
	lastT   int64     // time of the previous packet, for simple packet blocks

	// newest is the newest packet time read from the file (MinInt64 before
	// the first): how far the file has been read, in capture time.
	newest int64
	srcs   byLag // the file's sources, the furthest behind first
}

// ngIface is one pcapng interface description.
type ngIface struct {
	src     *source
	snaplen uint32
	units   uint64 // timestamp units per second
	mul     int64  // ns per unit when units divides 1e9, else 0
	offNs   int64  // if_tsoffset in ns
}

// ns converts a pcapng timestamp of this interface to Unix nanoseconds.
// Hostile values wrap instead of panicking.
func (f *ngIface) ns(ts uint64) int64 {
	if f.mul != 0 {
		return int64(ts)*f.mul + f.offNs
	}
	sec, frac := ts/f.units, ts%f.units
	hi, lo := bits.Mul64(frac, 1e9)
	nsec, _ := bits.Div64(hi, lo, f.units) // hi < units since frac < units
	return int64(sec)*1e9 + int64(nsec) + f.offNs
}

func (in *input) u16(b []byte) uint16 {
	if in.be {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (in *input) u32(b []byte) uint32 {
	if in.be {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (in *input) u64(b []byte) uint64 {
	if in.be {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

// at says where the next block is: "at offset 81234 after packet 812".
func (in *input) at(off int64) string {
	if in.frames == 0 {
		return "at offset " + strconv.FormatInt(off, 10) + " before the first packet"
	}
	return "at offset " + strconv.FormatInt(off, 10) + " after packet " + strconv.Itoa(in.frames)
}

func (in *input) damagef(format string, args ...any) error {
	return &damage{what: fmt.Sprintf(format, args...)}
}

// short turns a failed read of need bytes, of which have arrived, into
// damage: a truncated file or a read error.
func (in *input) short(kind string, have, need int, err error) error {
	if err == nil || err == io.EOF || err == io.ErrUnexpectedEOF {
		return in.damagef("truncated %s %s (%d of %d bytes)", kind, in.at(in.off), have, need)
	}
	return in.damagef("read error in %s %s: %v", kind, in.at(in.off), err)
}

// openInput reads the file header of rd (gunzipping it if need be) and
// prepares in for reading packets. The error does not name the file.
//
// A file of known size smaller than slabSize gets slabs of its size:
// merging many small files (or fuzzing) does not cost a slab each. No
// block of it can be larger.
func (r *Reader) openInput(in *input, rd io.Reader, size int64) error {
	in.slabLen, in.maxSlab = slabSize, readBufSize
	if size >= 0 && size < slabSize {
		in.slabLen = max(int(size), 16)
		in.maxSlab = in.slabLen
	}
	in.rd = &countingReader{r: rd, n: &r.bytesRead}
	in.slabs, in.progress = &r.slabs, &r.bytesRead
	if f, ok := rd.(*os.File); ok && size > 0 && !r.noMap {
		if b := mapFile(f, size); b != nil {
			if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
				unmapBytes(b) // gzipped: read, through gunzip
			} else {
				r.mapInput(in, b)
				in.f = f
			}
		}
	}
	if in.cur == nil {
		in.cur = r.slabs.get(in.slabLen)
		in.cur.reading = true
	}
	m, err := in.peek(4)
	if len(m) == 0 {
		if err == io.EOF {
			return errors.New("empty file")
		}
		return err
	}
	if len(m) >= 2 && m[0] == 0x1f && m[1] == 0x8b {
		// The bytes read so far go to gzip first; the decompressed ones
		// go to slabs of the full size (a small file may unzip large).
		read := in.cur.buf[in.r:in.w]
		gz, err := gzip.NewReader(io.MultiReader(bytes.NewReader(read), in.rd))
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		r.slabs.forget(in.cur) // read points into it: not to be reused
		in.gz, in.rd, in.rerr = gz, gz, nil
		in.slabLen, in.maxSlab = slabSize, readBufSize
		in.cur, in.r, in.w = r.slabs.get(in.slabLen), 0, 0
		in.cur.reading = true
		if m, err = in.peek(4); len(m) == 0 {
			if err == io.EOF {
				return errors.New("empty file (after gunzip)")
			}
			return fmt.Errorf("gzip: %w", err)
		}
	}
	if len(m) < 4 {
		return fmt.Errorf("%w (only %d bytes)", errNotCapture, len(m))
	}
	le, be := binary.LittleEndian.Uint32(m), binary.BigEndian.Uint32(m)
	switch {
	case le == magicNgSection:
		in.ng = true
		return r.openNg(in)
	case le == magicPcapMicro || le == magicPcapNano || le == magicPcapModified:
		in.be = false
		return r.openPcap(in, le)
	case be == magicPcapMicro || be == magicPcapNano || be == magicPcapModified:
		in.be = true
		return r.openPcap(in, be)
	}
	return fmt.Errorf("%w (starts with %q)", errNotCapture, m)
}

// openPcap reads a classic pcap file header.
func (r *Reader) openPcap(in *input, magic uint32) error {
	h, err := in.peek(24)
	if len(h) < 24 {
		return in.short("pcap file header", len(h), 24, err)
	}
	if major := in.u16(h[4:6]); major != 2 {
		return fmt.Errorf("unsupported pcap version %d.%d", major, in.u16(h[6:8]))
	}
	in.nsUnit = 1000
	if magic == magicPcapNano {
		in.nsUnit = 1
	}
	in.recLen = 16
	if magic == magicPcapModified {
		in.recLen = 24
	}
	// The low 16 bits are the link type; the upper ones carry FCS flags.
	lt := layers.LinkType(in.u32(h[20:24]) & 0xFFFF)
	in.discard(24)
	in.off = 24
	in.src = r.newSource(in, "", lt)
	return nil
}

// openNg reads the first section header and the interface descriptions
// before the first packet, so that a file's sources are numbered in IDB
// order before any merging starts.
func (r *Reader) openNg(in *input) error {
	_, _, err := r.ngNext(in, true)
	if err != nil && in.ifaces == nil && in.off == 0 {
		return err // the section header itself is unusable
	}
	if err != nil {
		r.fail(in, err)
	}
	return nil
}

// pcapNext reads the next record of a classic pcap file. ok is false at the
// clean end of the file.
func (r *Reader) pcapNext(in *input) (s *source, p pending, ok bool, err error) {
	n := in.recLen
	h, err := in.peek(n)
	if len(h) < n {
		if len(h) == 0 && err == io.EOF {
			return nil, p, false, nil
		}
		return nil, p, false, in.short("pcap record header", len(h), n, err)
	}
	sec, frac := in.u32(h[0:4]), in.u32(h[4:8])
	caplen, origlen := in.u32(h[8:12]), in.u32(h[12:16])
	if caplen > maxCapLen {
		return nil, p, false, in.damagef("pcap record %s: capture length %d exceeds %d", in.at(in.off), caplen, maxCapLen)
	}
	total := n + int(caplen)
	b, err := in.peek(total)
	if len(b) < total {
		return nil, p, false, in.short("pcap record", len(b), total, err)
	}
	p.t = int64(sec)*1e9 + int64(frac)*in.nsUnit
	p.sl, p.buf = in.take(b[n:])
	p.orig = int(origlen)
	in.discard(total)
	in.off += int64(total)
	in.frames++
	p.num = in.frames
	return in.src, p, true, nil
}

// isPacketBlock reports whether a pcapng block type carries a packet.
func isPacketBlock(typ uint32) bool {
	return typ == blockEPB || typ == blockPB || typ == blockSPB
}

// ngNext reads pcapng blocks up to and including the next packet. ok is
// false at the clean end of the file. With prime set it stops before the
// first packet block instead, leaving it unread.
func (r *Reader) ngNext(in *input, prime bool) (s *source, p pending, err error) {
	for {
		h, err := in.peek(12)
		if len(h) < 12 {
			if len(h) == 0 && err == io.EOF {
				return nil, p, nil
			}
			return nil, p, in.short("pcapng block", len(h), 12, err)
		}
		typ := in.u32(h[0:4])
		if typ == magicNgSection {
			// The section header sets the byte order of everything in the
			// section, its own length included.
			switch {
			case binary.LittleEndian.Uint32(h[8:12]) == ngByteOrderMagic:
				in.be = false
			case binary.BigEndian.Uint32(h[8:12]) == ngByteOrderMagic:
				in.be = true
			default:
				return nil, p, in.damagef("bad pcapng section header %s: byte-order magic %#x", in.at(in.off), h[8:12])
			}
		}
		blen := in.u32(h[4:8])
		if blen < 12 || blen%4 != 0 || blen > maxBlockLen || (typ == magicNgSection && blen < 28) {
			return nil, p, in.damagef("bad pcapng block length %d %s", blen, in.at(in.off))
		}
		needed := typ == magicNgSection || typ == blockIDB || isPacketBlock(typ)
		if prime && isPacketBlock(typ) {
			return nil, p, nil
		}
		if blen > readBufSize {
			if needed {
				return nil, p, in.damagef("pcapng block of %d bytes %s exceeds %d", blen, in.at(in.off), readBufSize)
			}
			if err := r.skipBlock(in, int(blen)); err != nil {
				return nil, p, err
			}
			continue
		}
		n := int(blen)
		b, err := in.peek(n)
		if len(b) < n {
			return nil, p, in.short("pcapng block", len(b), n, err)
		}
		if tl := in.u32(b[n-4:]); tl != blen {
			return nil, p, in.damagef("pcapng block %s: trailing length %d does not match %d", in.at(in.off), tl, blen)
		}
		body := b[8 : n-4]
		switch typ {
		case magicNgSection:
			err = r.ngSection(in, body)
		case blockIDB:
			err = r.ngInterface(in, body)
		case blockEPB, blockPB:
			s, p = r.ngPacket(in, typ, body)
		case blockSPB:
			s, p = r.ngSimplePacket(in, body)
		}
		if err != nil {
			return nil, p, err
		}
		in.discard(n)
		in.off += int64(n)
		if s != nil {
			in.frames++
			p.num = in.frames
			return s, p, nil
		}
	}
}

// skipBlock skips a block too large to hold in the read buffer, checking its
// trailing length.
func (r *Reader) skipBlock(in *input, n int) error {
	if d, err := in.discard(n - 4); d < n-4 {
		return in.short("pcapng block", d, n, err)
	}
	t, err := in.peek(4)
	if len(t) < 4 {
		return in.short("pcapng block", n-4+len(t), n, err)
	}
	if tl := in.u32(t); tl != uint32(n) {
		return in.damagef("pcapng block %s: trailing length %d does not match %d", in.at(in.off), tl, n)
	}
	in.discard(4)
	in.off += int64(n)
	return nil
}

// ngSection starts a new section: the interfaces of the previous one end.
func (r *Reader) ngSection(in *input, body []byte) error {
	// body: byte-order magic(4) major(2) minor(2) section length(8) options
	if major := in.u16(body[4:6]); major != 1 {
		return in.damagef("unsupported pcapng version %d.%d %s", major, in.u16(body[6:8]), in.at(in.off))
	}
	for _, f := range in.ifaces {
		f.src.done = true
	}
	in.ifaces = in.ifaces[:0]
	if in.ifaces == nil {
		in.ifaces = make([]ngIface, 0, 4)
	}
	return nil
}

// ngInterface reads an interface description block and makes its source.
func (r *Reader) ngInterface(in *input, body []byte) error {
	if len(body) < 8 {
		return in.damagef("short pcapng interface description %s", in.at(in.off))
	}
	if in.ifaces == nil {
		return in.damagef("pcapng interface description outside a section %s", in.at(in.off))
	}
	if in.nIfaces >= maxIfaces {
		return in.damagef("more than %d pcapng interfaces %s", maxIfaces, in.at(in.off))
	}
	in.nIfaces++
	lt := layers.LinkType(in.u16(body[0:2]))
	f := ngIface{snaplen: in.u32(body[4:8]), units: 1e6, mul: 1000}
	name := ""
	resol, offset := -1, int64(0)
	opts := body[8:]
	for len(opts) >= 4 {
		code, l := in.u16(opts[0:2]), int(in.u16(opts[2:4]))
		if code == optEnd {
			break
		}
		padded := (l + 3) &^ 3
		if 4+padded > len(opts) {
			r.note(in, fmt.Sprintf("pcapng interface %d %s: option %d overruns the block", len(in.ifaces), in.at(in.off), code))
			break
		}
		v := opts[4 : 4+l]
		switch code {
		case optIfName:
			for len(v) > 0 && v[len(v)-1] == 0 {
				v = v[:len(v)-1]
			}
			name = string(v)
		case optTSResol:
			if l >= 1 {
				resol = int(v[0])
			}
		case optTSOffset:
			if l >= 8 {
				offset = int64(in.u64(v))
			}
		}
		opts = opts[4+padded:]
	}
	if resol >= 0 {
		exp := uint(resol & 0x7F)
		switch {
		case resol&0x80 != 0 && exp <= 63:
			f.units = 1 << exp
		case resol&0x80 == 0 && exp <= 19:
			f.units = 1
			for range exp {
				f.units *= 10
			}
		default:
			r.note(in, fmt.Sprintf("pcapng interface %d %s: unsupported timestamp resolution %#x, using microseconds", len(in.ifaces), in.at(in.off), resol))
		}
		f.mul = 0
		if f.units <= 1e9 && 1e9%f.units == 0 {
			f.mul = int64(1e9 / f.units)
		}
	}
	f.offNs = offset * 1e9
	if name == "" {
		name = "if" + strconv.Itoa(len(in.ifaces))
	}
	f.src = r.newSource(in, name, lt)
	in.ifaces = append(in.ifaces, f)
	return nil
}

// ngPacket reads an enhanced (or obsolete) packet block. A block whose
// framing is sound but whose content is not (unknown interface, capture
// length beyond the block) is skipped with a note.
func (r *Reader) ngPacket(in *input, typ uint32, body []byte) (*source, pending) {
	var p pending
	// body: interface(4, or 2+2 drops) ts high(4) ts low(4) caplen(4) len(4) data
	if len(body) < 20 {
		r.note(in, "short pcapng packet block "+in.at(in.off)+", skipped")
		return nil, p
	}
	var id int
	if typ == blockEPB {
		id = int(in.u32(body[0:4]))
	} else {
		id = int(in.u16(body[0:2]))
	}
	caplen := in.u32(body[12:16])
	if id < 0 || id >= len(in.ifaces) {
		r.note(in, fmt.Sprintf("pcapng packet block %s for undeclared interface %d, skipped", in.at(in.off), id))
		return nil, p
	}
	if uint64(caplen) > uint64(len(body)-20) || caplen > maxCapLen {
		r.note(in, fmt.Sprintf("pcapng packet block %s: capture length %d exceeds the block, skipped", in.at(in.off), caplen))
		return nil, p
	}
	f := &in.ifaces[id]
	p.t = f.ns(uint64(in.u32(body[4:8]))<<32 | uint64(in.u32(body[8:12])))
	in.lastT = p.t
	p.orig = int(in.u32(body[16:20]))
	p.sl, p.buf = in.take(body[20 : 20+caplen])
	return f.src, p
}

// ngSimplePacket reads a simple packet block: interface 0, no timestamp
// (the previous packet's is used), captured length implied by the block.
func (r *Reader) ngSimplePacket(in *input, body []byte) (*source, pending) {
	var p pending
	if len(body) < 4 || len(in.ifaces) == 0 {
		r.note(in, "pcapng simple packet block "+in.at(in.off)+" without interface, skipped")
		return nil, p
	}
	f := &in.ifaces[0]
	orig := in.u32(body[0:4])
	caplen := uint64(len(body) - 4)
	if uint64(orig) < caplen {
		caplen = uint64(orig)
	}
	if f.snaplen != 0 && uint64(f.snaplen) < caplen {
		caplen = uint64(f.snaplen)
	}
	if caplen > maxCapLen {
		caplen = maxCapLen
	}
	p.t = in.lastT
	p.orig = int(orig)
	p.sl, p.buf = in.take(body[4 : 4+caplen])
	return f.src, p
}
