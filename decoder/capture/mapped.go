package capture

import (
	"container/heap"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"unsafe"
)

// A capture file (a regular file, not gzipped) is mapped into memory, not
// read: a packet's bytes are the file's own pages, shared with the page
// cache. Reading copied every byte once more, into slabs that the merge
// queue pins by the megabyte, each first touched (a page fault) on the
// way in: on the long capture (81 MB) that was 27 ms of system time a run,
// and a third of the reader's wall time; mapped, decode's CPU went from
// 0.181 to 0.155 s and trace's from 0.190 to 0.172.
//
// The file is unmapped behind the reader a chunk (mapChunk) at a time,
// like slabs are freed: a chunk is a slab whose references are the packets
// that start in it, plus one while the reader is in it. Chunks are
// unmapped in file order, so a block that runs on into the next chunk
// keeps its bytes while its own chunk is held. Packets held long (the
// merge queue) are copied out by Reader.compact as with slabs, so memory
// stays bounded by what is queued, not by the file.
//
// The mapped pages count in the process's RSS beside its heap (they are
// not garbage-collected memory): decode's heap budget is smaller for it
// (cmd/flowmap).
//
// A mapped file that shrinks while it is read (or a page that cannot be
// read) faults where its bytes are touched, not at a read call. Every
// goroutine that touches packet bytes therefore asks the runtime for a
// panic instead of a crash (debug.SetPanicOnFault): the Reader (Next), and
// the pipeline's stages, which tell the fault from a bug by its address
// (Reader.Fault). The file is then reported as changed while it was read.

// mapChunk is how much of a mapped file is unmapped at once: a multiple of
// every page size. The pages mapped at a time are what the stages hold
// (3 MiB of read batches, the merge queue) and a chunk or two: on the 1 GB
// capture decode's peak RSS was 64 MiB with chunks of 1 MiB or 256 KiB,
// 68 with 4 MiB.
const mapChunk = 1 << 20

// mapping is one mapped file.
type mapping struct {
	buf   []byte // the whole file; chunks before next are unmapped
	freed []bool // chunks no packet or reader holds
	made  int    // chunks handed out so far (counted in pool.inUse)
	// next is the first chunk still mapped; the stages that classify
	// faults (Reader.Fault) read it on their own goroutines.
	next atomic.Int64
	pool *slabPool
}

func newMapping(b []byte, pool *slabPool) *mapping {
	return &mapping{buf: b, freed: make([]bool, (len(b)+mapChunk-1)/mapChunk), pool: pool}
}

// chunk returns chunk k as a slab with the reader's reference: its bytes
// are the rest of the file from the chunk's start, so that a block may run
// on past the chunk's end.
func (m *mapping) chunk(k int) *slab {
	m.pool.inUse += m.size(k)
	m.made = max(m.made, k+1)
	return &slab{buf: m.buf[k*mapChunk:], refs: 1, reading: true, m: m, idx: k}
}

// size is how many bytes of the file chunk k maps.
func (m *mapping) size(k int) int {
	return min(mapChunk, len(m.buf)-k*mapChunk)
}

// release frees chunk k (its last reference is gone) and unmaps every
// freed chunk from next on, in file order.
func (m *mapping) release(k int) {
	m.freed[k] = true
	for next := int(m.next.Load()); next < len(m.freed) && m.freed[next]; next++ {
		m.unmap(next)
		m.pool.inUse -= m.size(next)
		m.next.Store(int64(next + 1))
	}
}

// unmap unmaps chunk k, after marking it unmapped.
func (m *mapping) unmap(k int) {
	lo := k * mapChunk
	m.next.Store(int64(k + 1))
	unmapBytes(m.buf[lo : lo+m.size(k)])
}

// close unmaps what is still mapped (Reader.Close: packets are no longer
// valid).
func (m *mapping) close() {
	for k := int(m.next.Load()); k < len(m.freed); k++ {
		m.unmap(k)
		if k < m.made && !m.freed[k] {
			m.pool.inUse -= m.size(k)
		}
	}
}

// offset returns where in the file addr lies, if it does, in a chunk still
// mapped (a fault in one flowmap unmapped itself is flowmap's bug, not
// the file's).
func (m *mapping) offset(addr uintptr) (int64, bool) {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m.buf)))
	if addr < base || addr-base >= uintptr(len(m.buf)) {
		return 0, false
	}
	off := int64(addr - base)
	return off, off >= m.next.Load()*mapChunk
}

// mapInput makes in read its file through mapping b.
func (r *Reader) mapInput(in *input, b []byte) {
	in.m = newMapping(b, &r.slabs)
	in.cur = in.m.chunk(0)
	in.r, in.w, in.rerr = 0, len(in.cur.buf), io.EOF
	r.mapped++
}

// nextChunk moves a mapped input on to the chunk its position is in,
// releasing the reader's hold on the chunks it leaves.
func (in *input) nextChunk() {
	for in.r >= mapChunk && in.cur.idx+1 < len(in.m.freed) {
		old := in.cur
		in.cur = in.m.chunk(old.idx + 1)
		in.r -= mapChunk
		in.w -= mapChunk
		in.progress.Add(mapChunk)
		in.counted += mapChunk
		old.reading = false
		in.slabs.release(old)
	}
}

// endMapped ends the reading of a mapped input: the rest of the file
// counts as read, and the reader lets go of its chunk.
func (in *input) endMapped() {
	in.progress.Add(int64(len(in.m.buf)) - in.counted)
	in.counted = int64(len(in.m.buf))
}

// openGuarded is openInput with a fault in a mapped file (it shrank since
// it was measured) turned into an error.
func (r *Reader) openGuarded(in *input, rd io.Reader, size int64) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	var changed string
	defer func() {
		if changed != "" {
			err = errors.New(Changed)
		}
	}()
	defer CatchFault(func(x any) (string, bool) {
		addr, ok := faultAddr(x)
		if !ok || in.m == nil {
			return "", false
		}
		_, ok = in.m.offset(addr)
		return in.path, ok
	}, &changed)
	return r.openInput(in, rd, size)
}

// CatchFault, deferred (defer CatchFault(r.Fault, &file)) by a stage
// that touches packet bytes with debug.SetPanicOnFault, ends a panic that
// fault says is a file's, and names the file in *file; any other panic
// goes on.
func CatchFault(fault func(x any) (string, bool), file *string) {
	x := recover()
	if x == nil {
		return
	}
	if f, ok := fault(x); ok {
		*file = f
		return
	}
	panic(x)
}

// MapsFiles reports whether any file is mapped, not read.
func (r *Reader) MapsFiles() bool { return r.mapped > 0 }

// Fault reports whether x, a recovered panic, is a memory fault in a file
// this Reader maps, and which: the file changing while it is read, not a
// bug in the stage that touched its bytes. It may be called on any
// goroutine.
func (r *Reader) Fault(x any) (file string, ok bool) {
	addr, ok := faultAddr(x)
	if !ok {
		return "", false
	}
	return r.mappedAt(addr)
}

// mappedAt reports whether addr is in a chunk of a file this Reader maps,
// and which.
func (r *Reader) mappedAt(addr uintptr) (file string, ok bool) {
	for _, in := range r.inputs {
		if in.m != nil {
			if _, ok := in.m.offset(addr); ok {
				return in.path, true
			}
		}
	}
	return "", false
}

// faultAddr returns the address of a memory fault recovered as r, a
// panic value, when it is one (debug.SetPanicOnFault).
func faultAddr(r any) (uintptr, bool) {
	e, ok := r.(interface {
		runtime.Error
		Addr() uintptr
	})
	if !ok {
		return 0, false
	}
	return e.Addr(), true
}

// Changed is what a fault in a mapped file means: it is shorter than
// when it was opened, or a page of it could not be read.
const Changed = "the file changed while it was being read (it is shorter than when it was opened, or a part of it could not be read)"

// nextGuarded is next with a fault in a mapped file turned into damage of
// that file, which ends it like a truncated one.
func (r *Reader) nextGuarded() (*Packet, error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	for {
		p, faulted, err := r.tryNext()
		if !faulted {
			return p, err
		}
	}
}

func (r *Reader) tryNext() (p *Packet, faulted bool, err error) {
	defer func() {
		x := recover()
		if x == nil {
			return
		}
		addr, ok := faultAddr(x)
		var in *input
		var off int64
		if ok {
			for _, c := range r.inputs {
				if c.m != nil {
					if o, hit := c.m.offset(addr); hit {
						in, off = c, o
					}
				}
			}
		}
		if in == nil {
			panic(x) // not the file's: a bug
		}
		// The packets of the file queued for the merge that lie past the
		// fault would fault again where they are read: they go. (The
		// file may have ended already, its last packets queued: a
		// compaction copying them faults.)
		lost := r.dropGone(in, off)
		if in.changed && lost == 0 {
			panic(x) // nothing more to drop: not the file's change
		}
		if !in.changed {
			in.changed = true
			what := fmt.Sprintf("%s: stopped %s", Changed, in.at(in.off))
			if lost > 0 {
				what += fmt.Sprintf("; %d packet%s read before lay past where it can now be read: dropped", lost, plural(lost))
			}
			r.fail(in, &damage{what: what})
		}
		faulted = true
	}()
	p, err = r.next()
	return p, false, err
}

// dropGone drops the packets of in that are queued for the merge and end
// past what can still be read of its file: its size now, or the page of
// the fault at offset off (a page that could not be read), whichever is
// first. It returns how many.
func (r *Reader) dropGone(in *input, off int64) int {
	size := off &^ (4096 - 1) // the fault's page (the smallest page size)
	if in.f != nil {
		if fi, err := in.f.Stat(); err == nil {
			size = min(size, fi.Size())
		} else {
			size = 0 // unknown: none is safe
		}
	}
	dropped := 0
	var kept []pending
	for _, s := range in.srcs {
		kept = kept[:0]
		for s.q.n > 0 {
			p := s.q.pop()
			end, ok := in.m.offset(uintptr(unsafe.Pointer(unsafe.SliceData(p.buf))) + uintptr(max(len(p.buf), 1)-1))
			if !ok || end < size { // copied out (compact), or still there
				kept = append(kept, p)
				continue
			}
			dropped++
			r.buffered -= len(p.buf)
			r.slabs.release(p.sl)
		}
		for _, p := range kept {
			s.q.push(p) // in the order they were queued
		}
		switch {
		case s.qi >= 0 && s.q.n == 0:
			heap.Remove(&r.queued, s.qi)
		case s.qi >= 0:
			heap.Fix(&r.queued, s.qi)
		}
	}
	return dropped
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
