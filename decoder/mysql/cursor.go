package mysql

import "bytes"

// The readers below return (value, n, ok): the value, how many bytes of b it
// used, and whether b held all of it. They check every length before
// indexing; a declared length longer than b is not ok.

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func le24(b []byte) uint32 { return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 }
func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// fixedInt reads a little-endian integer of size bytes (1..8).
func fixedInt(b []byte, size int) (uint64, int, bool) {
	if size < 1 || size > 8 || len(b) < size {
		return 0, 0, false
	}
	var v uint64
	for i := size - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, size, true
}

// lenencInt reads a length-encoded integer. 0xFB (NULL in rows) and 0xFF
// (undefined) are not ok.
func lenencInt(b []byte) (uint64, int, bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch c := b[0]; {
	case c < 0xfb:
		return uint64(c), 1, true
	case c == 0xfc:
		v, n, ok := fixedInt(b[1:], 2)
		return v, n + 1, ok
	case c == 0xfd:
		v, n, ok := fixedInt(b[1:], 3)
		return v, n + 1, ok
	case c == 0xfe:
		v, n, ok := fixedInt(b[1:], 8)
		return v, n + 1, ok
	}
	return 0, 0, false
}

// lenencBytes reads a length-encoded string; the result aliases b.
func lenencBytes(b []byte) ([]byte, int, bool) {
	l, n, ok := lenencInt(b)
	if !ok || l > uint64(len(b)-n) {
		return nil, 0, false
	}
	return b[n : n+int(l)], n + int(l), true
}

// nulBytes reads a NUL-terminated string; the result aliases b.
func nulBytes(b []byte) ([]byte, int, bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return nil, 0, false
	}
	return b[:i], i + 1, true
}

// cursor reads a payload front to back. Its failure is sticky: after the
// first short read every later read returns zero values and ok() is false,
// so parsers read a whole structure and check once, keeping what they got.
type cursor struct {
	b   []byte
	off int
	bad bool
}

func (c *cursor) ok() bool     { return !c.bad }
func (c *cursor) left() int    { return len(c.b) - c.off }
func (c *cursor) rest() []byte { return c.b[c.off:] }

func (c *cursor) int(size int) uint64 {
	if c.bad {
		return 0
	}
	v, n, ok := fixedInt(c.b[c.off:], size)
	if !ok {
		c.bad = true
		return 0
	}
	c.off += n
	return v
}

func (c *cursor) lenenc() uint64 {
	if c.bad {
		return 0
	}
	v, n, ok := lenencInt(c.b[c.off:])
	if !ok {
		c.bad = true
		return 0
	}
	c.off += n
	return v
}

func (c *cursor) lenencBytes() []byte {
	if c.bad {
		return nil
	}
	v, n, ok := lenencBytes(c.b[c.off:])
	if !ok {
		c.bad = true
		return nil
	}
	c.off += n
	return v
}

func (c *cursor) nulBytes() []byte {
	if c.bad {
		return nil
	}
	v, n, ok := nulBytes(c.b[c.off:])
	if !ok {
		c.bad = true
		return nil
	}
	c.off += n
	return v
}

// bytes reads n bytes.
func (c *cursor) bytes(n int) []byte {
	if c.bad || n < 0 || n > c.left() {
		c.bad = true
		return nil
	}
	v := c.b[c.off : c.off+n]
	c.off += n
	return v
}

// skip moves over n bytes.
func (c *cursor) skip(n int) { c.bytes(n) }
