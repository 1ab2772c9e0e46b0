package capture

import "math/bits"

// minBufShift is the smallest pooled buffer (64 bytes); classes double up to
// the largest block a file may hold.
const (
	minBufShift = 6
	numClasses  = 14 // 64 B .. 512 KiB
)

// bufPool is a free list of byte buffers in power-of-two size classes. Every
// buffer it hands out goes back to it when its packet is released, so once
// the merge buffers have reached their working size no packet allocates.
// It is owned by one Reader and not safe for concurrent use.
type bufPool struct {
	free [numClasses][][]byte
}

func sizeClass(n int) int {
	if n <= 1<<minBufShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minBufShift
}

// get returns a buffer of length n.
func (p *bufPool) get(n int) []byte {
	c := sizeClass(n)
	if c >= numClasses {
		return make([]byte, n) // not pooled; callers cap n well below this
	}
	if l := len(p.free[c]); l > 0 {
		b := p.free[c][l-1]
		p.free[c][l-1] = nil
		p.free[c] = p.free[c][:l-1]
		return b[:n]
	}
	return make([]byte, n, 1<<(c+minBufShift))
}

// put returns b to the pool. Buffers that did not come from get are dropped.
func (p *bufPool) put(b []byte) {
	c := sizeClass(cap(b))
	if c >= numClasses || cap(b) != 1<<(c+minBufShift) {
		return
	}
	p.free[c] = append(p.free[c], b[:0])
}
