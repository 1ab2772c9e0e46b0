package pipeline

import (
	"bytes"
	"sort"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// DefaultStreamBytes is the most stream bytes a Streams keeps by default.
const DefaultStreamBytes = 256 << 20

// maxMarks caps the (offset, time) marks kept per direction: past it a
// direction's times are those of its last mark.
const maxMarks = 1 << 20

// Streams records the bytes of every decoded connection, with the capture
// time of each, so that strace output can be aligned with the capture
// (Align). Set Options.Streams to record; Run feeds it from the decoding
// stage only, so it needs no lock. Bytes past MaxBytes (over all
// connections) are counted but not kept: syscalls there are placed by
// their lengths alone.
type Streams struct {
	MaxBytes int64 // 0: DefaultStreamBytes
	kept     int64
	conns    []*Stream
}

// Stream is one connection's two directions.
type Stream struct {
	Conn *decoder.Conn
	Half [2]Half // by decoder.Dir
}

// Half is one direction of a stream, from its first captured byte.
type Half struct {
	chunks []chunk // kept bytes, by offset; lost ranges are not in any
	n      int64   // bytes seen (offset of the next one)
	marks  []mark  // where each delivery started
	dead   bool    // a gap of unknown size: later offsets are unknown
	full   bool    // the byte budget ran out: later bytes not kept
}

type chunk struct {
	off  int64
	data []byte
}

type mark struct {
	off int64
	t   time.Time
}

// Len is how many bytes of the direction the capture saw.
func (h *Half) Len() int64 { return h.n }

// TimeAt is the capture time of the packet that carried byte off.
func (h *Half) TimeAt(off int64) (time.Time, bool) {
	if len(h.marks) == 0 || off < 0 || off >= h.n {
		return time.Time{}, false
	}
	i := sort.Search(len(h.marks), func(i int) bool { return h.marks[i].off > off })
	if i == 0 {
		return time.Time{}, false
	}
	return h.marks[i-1].t, true
}

// byteAt is the kept byte at off.
func (h *Half) byteAt(off int64) (byte, bool) {
	i := sort.Search(len(h.chunks), func(i int) bool { return h.chunks[i].off > off })
	if i == 0 {
		return 0, false
	}
	c := &h.chunks[i-1]
	if off-c.off >= int64(len(c.data)) {
		return 0, false
	}
	return c.data[off-c.off], true
}

// Compare checks want against the bytes at off: matched is how many bytes
// were compared (0 when none were kept there), ok is false on a mismatch.
func (h *Half) Compare(off int64, want string) (matched int, ok bool) {
	if off < 0 {
		return 0, false
	}
	for i := 0; i < len(want); i++ {
		b, kept := h.byteAt(off + int64(i))
		if !kept {
			break
		}
		if b != want[i] {
			return matched, false
		}
		matched++
	}
	return matched, true
}

// Find returns up to max offsets at which want starts in the kept bytes.
func (h *Half) Find(want string, max int) []int64 {
	var out []int64
	if want == "" {
		return nil
	}
	w := []byte(want)
	for _, c := range h.chunks {
		for from := 0; len(out) < max; {
			i := bytes.Index(c.data[from:], w)
			if i < 0 {
				break
			}
			out = append(out, c.off+int64(from+i))
			from += i + 1
		}
	}
	return out
}

// Conns are the recorded connections, in order of their first bytes.
func (s *Streams) Conns() []*Stream { return s.conns }

func (s *Streams) limit() int64 {
	if s.MaxBytes > 0 {
		return s.MaxBytes
	}
	return DefaultStreamBytes
}

// wrap makes p's decoders record their connection's bytes into s.
func (s *Streams) wrap(p decoder.Protocol) decoder.Protocol {
	inner := p.New
	p.New = func(c *decoder.Conn, emit decoder.Emit) decoder.StreamDecoder {
		st := &Stream{Conn: c}
		s.conns = append(s.conns, st)
		return &tap{StreamDecoder: inner(c, emit), s: s, st: st}
	}
	return p
}

// tap records what the TCP layer hands a decoder, then hands it on.
type tap struct {
	decoder.StreamDecoder
	s  *Streams
	st *Stream
}

func (t *tap) Data(dir decoder.Dir, data []byte, at time.Time) {
	if dir <= decoder.ServerToClient {
		h := &t.st.Half[dir]
		if !h.dead {
			if len(h.marks) < maxMarks {
				h.marks = append(h.marks, mark{h.n, at})
			}
			if !h.full && t.s.kept+int64(len(data)) > t.s.limit() {
				h.full = true
			}
			if !h.full {
				if k := len(h.chunks) - 1; k >= 0 && h.chunks[k].off+int64(len(h.chunks[k].data)) == h.n {
					h.chunks[k].data = append(h.chunks[k].data, data...)
				} else {
					h.chunks = append(h.chunks, chunk{h.n, append([]byte(nil), data...)})
				}
				t.s.kept += int64(len(data))
			}
			h.n += int64(len(data))
		}
	}
	t.StreamDecoder.Data(dir, data, at)
}

func (t *tap) Gap(dir decoder.Dir, n int, at time.Time) {
	if dir <= decoder.ServerToClient {
		h := &t.st.Half[dir]
		if n < 0 {
			h.dead = true
		} else if !h.dead {
			h.n += int64(n)
		}
	}
	t.StreamDecoder.Gap(dir, n, at)
}
