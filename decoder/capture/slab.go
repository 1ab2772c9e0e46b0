package capture

import (
	"io"
)

// Packets are not copied out of the file's bytes: each file is read into
// slabs, large buffers filled by one Read after another, and a packet's
// Data is a sub-slice of the slab its block was read into. (Copying every
// packet into a buffer of its own was a fifth of the reader's CPU, and the
// buffers' allocation and clearing another tenth.) A slab is reference
// counted: it is reused once no packet points into it any more.
//
// A packet held long in the merge queue pins its whole slab. Normally the
// packets queued are the newest read and the slabs pinned are about the
// bytes queued; but timestamps that jump (hostile or broken captures) can
// leave a few old packets queued, each pinning a slab. When the slabs in use
// pass Options.MaxBuffered (besides the inputs' read slabs), the queued
// packets are copied together into fresh slabs (Reader.compact), which
// frees the sparse ones.

// slabSize is the size of the slabs a file is read into. A block that
// does not fit (up to readBufSize) gets a slab of its own size. Smaller
// slabs are freed sooner after their packets (the slabs pinned stay near
// the bytes queued) and cost less for small captures; larger ones copy
// fewer partial blocks from one slab to the next: 256 KiB read the long
// capture with the CPU of 1 MiB, and half the allocation for a 2 MB one.
const slabSize = 256 << 10

// slab is a chunk of a file's bytes as read.
type slab struct {
	buf []byte
	// refs counts the packets pointing into buf (queued, returned by
	// Next, or kept by the caller), plus one while it is an input's read
	// buffer. At zero the slab goes back to the free list.
	refs int
	// reading is set while it is an input's read buffer.
	reading bool
	// m is the mapping of a mapped file's chunk idx (mapped.go), nil for
	// a slab of memory.
	m   *mapping
	idx int
}

// slabPool recycles the slabs of one Reader (not safe for concurrent use).
// Only slabs of slabSize are kept; the others (a small file's, a large
// block's) are left to the garbage collector.
type slabPool struct {
	free   []*slab
	inUse  int  // bytes of the slabs whose refs are above zero
	poison bool // Options.Poison
}

// get returns a slab of n bytes with one reference.
func (p *slabPool) get(n int) *slab {
	p.inUse += n
	if n == slabSize {
		if l := len(p.free); l > 0 {
			s := p.free[l-1]
			p.free[l-1] = nil
			p.free = p.free[:l-1]
			s.refs = 1
			return s
		}
	}
	return &slab{buf: make([]byte, n), refs: 1}
}

// release drops one reference to s.
func (p *slabPool) release(s *slab) {
	s.refs--
	if s.refs > 0 {
		return
	}
	if s.m != nil {
		s.m.release(s.idx)
		return
	}
	p.inUse -= len(s.buf)
	if p.poison {
		for i := range s.buf {
			s.buf[i] = 0xA5
		}
	}
	if len(s.buf) == slabSize {
		p.free = append(p.free, s)
	}
}

// forget drops s, which holds bytes still in use elsewhere: it is left to
// the garbage collector instead of being reused.
func (p *slabPool) forget(s *slab) {
	p.inUse -= len(s.buf)
	s.refs, s.reading = 0, false
}

// Hold is a claim on the bytes of a packet returned by Next (Reader.Keep):
// they stay valid until the Hold is given back with Reader.Reuse.
type Hold struct{ s *slab }

// maxEmptyReads is how many reads in a row may return nothing before the
// input counts as broken (bufio's limit).
const maxEmptyReads = 100

// peek returns the next n bytes of in, or fewer and the reason (the error
// of the read that came short, or io.ErrUnexpectedEOF when n is more than
// the input's slabs hold: a small file's block that is longer than the
// file). The bytes stay in place until discard moves past them.
func (in *input) peek(n int) ([]byte, error) {
	if in.w-in.r >= n {
		return in.cur.buf[in.r : in.r+n], nil
	}
	if in.r+n > len(in.cur.buf) && in.m == nil {
		in.moveUnread(n)
	}
	for in.w-in.r < n && in.w < len(in.cur.buf) && in.rerr == nil {
		in.fill()
	}
	if in.w-in.r >= n {
		return in.cur.buf[in.r : in.r+n], nil
	}
	if in.rerr == nil {
		return in.cur.buf[in.r:in.w], io.ErrUnexpectedEOF
	}
	return in.cur.buf[in.r:in.w], in.rerr
}

// discard skips the next n bytes, reading them if need be. It returns how
// many were skipped and, when fewer than n, the read error.
func (in *input) discard(n int) (int, error) {
	done := 0
	for {
		if in.w-in.r >= n-done {
			in.r += n - done
			if in.r >= mapChunk && in.m != nil {
				in.nextChunk()
			}
			return n, nil
		}
		done += in.w - in.r
		in.r = in.w
		if in.rerr != nil {
			return done, in.rerr
		}
		if in.w == len(in.cur.buf) {
			in.moveUnread(0)
		}
		in.fill()
	}
}

// fill reads once into the free end of the current slab (again when a
// read returns nothing, up to maxEmptyReads).
func (in *input) fill() {
	for range maxEmptyReads {
		m, err := in.rd.Read(in.cur.buf[in.w:])
		in.w += m
		if err != nil {
			in.rerr = err
			return
		}
		if m > 0 {
			return
		}
	}
	in.rerr = io.ErrNoProgress
}

// moveUnread moves the unread bytes to the front of a slab, to make room
// after them for a block of need bytes: of the current one when no packet
// points into it and the block fits, else of a fresh one (the packets keep
// the old). The fresh one holds the block, up to the input's maxSlab.
func (in *input) moveUnread(need int) {
	cur := in.cur
	size := max(in.slabLen, min(need, in.maxSlab))
	if cur.refs == 1 && size <= len(cur.buf) {
		in.w = copy(cur.buf, cur.buf[in.r:in.w])
		in.r = 0
		return
	}
	next := in.slabs.get(size)
	in.w = copy(next.buf, cur.buf[in.r:in.w])
	in.r = 0
	in.cur, next.reading, cur.reading = next, true, false
	in.slabs.release(cur)
}

// take returns b, bytes of the current slab, as a packet's data: a
// reference to the slab is counted for it.
func (in *input) take(b []byte) (*slab, []byte) {
	in.cur.refs++
	return in.cur, b[:len(b):len(b)]
}
