package mysql

import (
	"bytes"
	"compress/zlib"
	"errors"
	"io"
	"time"
)

// maxPacket is the largest physical packet payload; a packet of exactly this
// length is continued by the next one.
const maxPacket = 0xffffff

// packet is one logical MySQL packet: one physical packet, or several when
// the payload is 16 MiB or more. Only the first bytes of the payload are
// kept (the framer's keep when the packet began); the rest is counted.
type packet struct {
	seq   byte  // sequence id of the first physical packet
	last  byte  // sequence id of the last physical packet
	size  int64 // payload bytes of all physical packets, lost ones included
	multi bool  // the first physical packet was 0xFFFFFF bytes long
	lost  int64 // payload bytes lost to gaps (data stops at the first)
	// data is the first min(size, keep) payload bytes. It aliases the
	// framer's buffer or the caller's input: valid until the next feed.
	data       []byte
	start, end time.Time
}

// framer splits one direction's bytes into logical packets. It keeps at
// most keep bytes of each payload and never allocates by a declared length.
type framer struct {
	keep int // payload bytes to keep of packets that begin from now on

	hdr    [4]byte
	nhdr   int  // header bytes of the current physical packet seen
	inPkt  bool // a logical packet has begun (its first header is read)
	remain int  // payload bytes of the current physical packet still due
	more   bool // the current physical packet is 0xFFFFFF long
	cur    packet
	limit  int  // keep for the current packet
	noKeep bool // a gap broke the kept bytes: keep no more
	alias  bool // cur.data aliases the input
	buf    []byte
	// badSeq is set when a continuation packet's sequence id did not follow
	// its predecessor's; the caller treats it as lost alignment.
	badSeq bool
	// done is the packet finish returned: like its data (buf, or the
	// input), valid until the next call (one allocation per packet less).
	done packet
}

// reset forgets any partial packet; the next byte must start a header.
func (f *framer) reset() {
	f.nhdr, f.inPkt, f.remain, f.more = 0, false, 0, false
	f.noKeep, f.alias, f.badSeq = false, false, false
	f.cur = packet{}
	f.buf = f.buf[:0]
}

// busy reports whether the framer is inside a packet.
func (f *framer) busy() bool { return f.inPkt || f.nhdr > 0 }

// feed consumes bytes of data until it completes a packet or runs out. It
// returns the bytes consumed and the completed packet, or nil. A packet
// whose continuation header has a wrong sequence id is returned at once with
// badSeq set.
func (f *framer) feed(data []byte, t time.Time) (int, *packet) {
	i := 0
	for {
		if f.nhdr < 4 {
			if i >= len(data) {
				return i, nil
			}
			if f.nhdr == 0 && !f.inPkt {
				f.cur = packet{start: t}
				f.buf = f.buf[:0]
				f.limit = max(f.keep, 0)
				f.noKeep, f.alias = false, false
			}
			c := copy(f.hdr[f.nhdr:], data[i:])
			f.nhdr += c
			i += c
			if f.nhdr < 4 {
				return i, nil
			}
			l := int(le24(f.hdr[:]))
			seq := f.hdr[3]
			if !f.inPkt {
				f.inPkt = true
				f.cur.seq = seq
				f.cur.multi = l == maxPacket
				// Fast path: the whole packet is in data, keep by aliasing.
				if l < maxPacket && l <= len(data)-i {
					f.cur.data = data[i : i+min(l, f.limit)]
					f.alias = true
				}
			} else if seq != f.cur.last+1 {
				f.badSeq = true
				f.cur.end = t
				p := f.cur
				f.reset()
				f.badSeq = true
				return i, &p
			}
			f.cur.last = seq
			f.remain = l
			f.more = l == maxPacket
		}
		take := min(f.remain, len(data)-i)
		if take > 0 {
			if !f.alias && !f.noKeep && len(f.buf) < f.limit {
				f.buf = append(f.buf, data[i:i+min(take, f.limit-len(f.buf))]...)
			}
			f.cur.size += int64(take)
			f.remain -= take
			i += take
		}
		if f.remain > 0 {
			return i, nil
		}
		f.nhdr = 0
		if !f.more {
			return i, f.finish(t)
		}
	}
}

// finish ends the current logical packet and returns it, valid until the
// framer's next call.
func (f *framer) finish(t time.Time) *packet {
	f.done = f.cur
	f.done.end = t
	if !f.alias {
		f.done.data = f.buf
	}
	f.inPkt = false
	f.nhdr = 0
	return &f.done
}

// partial returns the packet begun but not finished, if its header was
// read: size is what its header declared, and the bytes not yet seen count
// as lost.
func (f *framer) partial() (*packet, bool) {
	if !f.inPkt {
		return nil, false
	}
	p := f.cur
	if !f.alias {
		p.data = f.buf
	}
	if f.nhdr == 4 {
		p.size += int64(f.remain)
		p.lost += int64(f.remain)
	}
	return &p, true
}

// gap accounts for n lost bytes (n < 0: unknown). When they fall inside the
// payload of the current physical packet the framer stays aligned: it
// returns aligned and, if the gap ended the packet, the packet (lost > 0).
// Otherwise alignment is lost and the framer is reset; the partial packet,
// if any, is returned as lost.
func (f *framer) gap(n int, t time.Time) (aligned bool, p *packet) {
	if n == 0 {
		return true, nil
	}
	if f.inPkt && f.nhdr == 4 && n > 0 && n <= f.remain {
		if f.alias {
			// aliased data belongs to an old input slice: copy what we had.
			f.buf = append(f.buf[:0], f.cur.data...)
			f.alias = false
		}
		f.noKeep = true
		f.remain -= n
		f.cur.size += int64(n)
		f.cur.lost += int64(n)
		if f.remain == 0 {
			f.nhdr = 0
			if !f.more {
				return true, f.finish(t)
			}
		}
		return true, nil
	}
	if !f.inPkt && f.nhdr == 0 && n < 0 {
		f.reset()
		return false, nil
	}
	var lost *packet
	if q, ok := f.partial(); ok {
		cp := *q
		cp.data = append([]byte(nil), q.data...)
		cp.end = t
		cp.lost = max(cp.lost, 1)
		lost = &cp
	}
	f.reset()
	return false, lost
}

// zframer undoes the compressed protocol: 7-byte header (3-byte compressed
// length, sequence id, 3-byte uncompressed length; 0 = stored as is) and a
// zlib stream per packet. Decompressed bytes go to the packet framer.
type zframer struct {
	hdr   [7]byte
	nhdr  int
	clen  int
	ulen  int
	seq   byte
	buf   []byte // compressed payload so far (grows with real bytes only)
	br    bytes.Reader
	zr    io.ReadCloser
	out   []byte
	start time.Time
}

func (z *zframer) reset() {
	z.nhdr, z.clen, z.ulen = 0, 0, 0
	z.buf = z.buf[:0]
}

// busy reports whether a compressed packet is partly read.
func (z *zframer) busy() bool { return z.nhdr > 0 }

// feed consumes compressed bytes until one compressed packet is complete; it
// then returns its payload (ok true). The payload is valid until the next
// feed.
func (z *zframer) feed(data []byte, t time.Time) (n int, payload []byte, ok bool) {
	i := 0
	if z.nhdr < 7 {
		if z.nhdr == 0 {
			z.start = t
			z.buf = z.buf[:0]
		}
		c := copy(z.hdr[z.nhdr:], data)
		z.nhdr += c
		i += c
		if z.nhdr < 7 {
			return i, nil, false
		}
		z.clen = int(le24(z.hdr[:]))
		z.seq = z.hdr[3]
		z.ulen = int(le24(z.hdr[4:]))
	}
	need := z.clen - len(z.buf)
	if need > 0 && z.nhdr == 7 && len(z.buf) == 0 && len(data)-i >= need {
		// whole payload in data: no copy
		z.nhdr = 0
		return i + need, data[i : i+need], true
	}
	take := min(need, len(data)-i)
	z.buf = append(z.buf, data[i:i+take]...)
	i += take
	if len(z.buf) < z.clen {
		return i, nil, false
	}
	z.nhdr = 0
	return i, z.buf, true
}

var errInflate = errors.New("mysql: compressed packet does not inflate to its declared length")

// inflate decompresses payload (declared ulen bytes, at most maxPacket) and
// hands the output to sink in chunks. Stored payloads (ulen 0) go as they
// are. sink returns false to stop early.
func (z *zframer) inflate(payload []byte, ulen int, sink func([]byte) bool) error {
	if ulen == 0 {
		sink(payload)
		return nil
	}
	z.br.Reset(payload)
	if z.zr == nil {
		r, err := zlib.NewReader(&z.br)
		if err != nil {
			return err
		}
		z.zr = r
	} else if err := z.zr.(zlib.Resetter).Reset(&z.br, nil); err != nil {
		return err
	}
	if z.out == nil {
		z.out = make([]byte, 32<<10)
	}
	total := 0
	for {
		n, err := z.zr.Read(z.out)
		if n > 0 {
			total += n
			if total > ulen {
				return errInflate
			}
			if !sink(z.out[:n]) {
				return nil
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if total != ulen {
		return errInflate
	}
	return nil
}
