package pipeline

import (
	"bytes"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/strace"
)

// DefaultStreamBytes is the most stream bytes a Streams keeps by default.
const DefaultStreamBytes = 256 << 20

// maxMarks caps the (offset, time) marks kept over all connections (32
// MiB): past it, later bytes have no time (AlignFiles says so). Marks
// are apart from MaxBytes: a socket whose bytes were not kept is still
// found by its -yy endpoints, and timed by its marks.
const maxMarks = 1 << 20

// Streams records the bytes of every decoded connection, with the capture
// time of each, so that strace output can be aligned with the capture
// (Align). Set Options.Streams to record; Run feeds it from the decoding
// stage only, so it needs no lock. Bytes past MaxBytes (over all
// connections) are counted but not kept: a socket there is found by its
// -yy endpoints alone (when its connection began in the capture), not by
// its bytes, and AlignFiles says the budget ran out.
type Streams struct {
	MaxBytes int64 // 0: DefaultStreamBytes
	MaxMarks int   // capture-time marks kept over all connections; 0: 1M (32 MiB)
	// Keep, when set, tells the connections worth recording (StreamsFor):
	// the others are not recorded at all.
	Keep    func(*decoder.Conn) bool
	kept    int64
	dropped int64 // bytes seen past MaxBytes
	marks   int   // marks kept, over all connections
	untimed int   // directions whose marks stopped at maxMarks
	conns   []*Stream
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
	// untimed: marks stopped (maxMarks) at offset untimedFrom; later
	// bytes have no time.
	untimed     bool
	untimedFrom int64
	dead        bool // a gap of unknown size: later offsets are unknown
	full        bool // the byte budget ran out: later bytes not kept
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

// TimeAt is the capture time of the packet that carried byte off; false
// when it is not known (not captured, or past where marks stopped).
func (h *Half) TimeAt(off int64) (time.Time, bool) {
	if len(h.marks) == 0 || off < 0 || off >= h.n || h.untimed && off >= h.untimedFrom {
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

func (s *Streams) markLimit() int {
	if s.MaxMarks > 0 {
		return s.MaxMarks
	}
	return maxMarks
}

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
		if s.Keep != nil && !s.Keep(c) {
			return inner(c, emit)
		}
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

// Unread is the decoder's, when it counts bytes it skipped (the embedded
// interface does not carry that method).
func (t *tap) Unread() int64 {
	if u, ok := t.StreamDecoder.(decoder.Unread); ok {
		return u.Unread()
	}
	return 0
}

func (t *tap) Data(dir decoder.Dir, data []byte, at time.Time) {
	if dir <= decoder.ServerToClient {
		h := &t.st.Half[dir]
		if !h.dead {
			switch {
			case h.untimed:
			case t.s.marks < t.s.markLimit():
				h.marks = append(h.marks, mark{h.n, at})
				t.s.marks++
			default:
				h.untimed, h.untimedFrom = true, h.n
				t.s.untimed++
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
			} else {
				t.s.dropped += int64(len(data))
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

// StreamsFor returns the Streams to record for aligning the strace files
// at paths, keeping only the connections they can be found on: read
// first, when every socket they use data on is named (-yy endpoints,
// accept's peer, connect's address), only the connections with those
// endpoints are recorded; a file with a socket nothing names (the seed's
// plain strace, an fd opened before strace attached) makes it record
// every connection. A file that cannot be read makes it record every
// connection too (AlignFiles reports the error).
func StreamsFor(paths []string, opts strace.Options) *Streams {
	k := &keepSet{pairs: map[[2]netip.AddrPort]bool{}, clients: map[netip.AddrPort]bool{}, servers: map[netip.AddrPort]bool{}}
	for _, p := range paths {
		if !k.scan(p, opts) {
			return &Streams{}
		}
	}
	return &Streams{Keep: k.keep}
}

// keepSet are the endpoints strace files name.
type keepSet struct {
	pairs   map[[2]netip.AddrPort]bool // -yy: local and peer, either order
	clients map[netip.AddrPort]bool    // accept's peer
	servers map[netip.AddrPort]bool    // connect's address
}

func (k *keepSet) keep(c *decoder.Conn) bool {
	return k.pairs[[2]netip.AddrPort{c.Client, c.Server}] || k.clients[c.Client] || k.servers[c.Server]
}

// maxKeep caps the endpoints kept per scan: past it every connection is
// recorded.
const maxKeep = 1 << 16

// scan adds the endpoints of one file; false when a socket with data
// has none (or the file can't be read).
func (k *keepSet) scan(path string, opts strace.Options) bool {
	fh, err := os.Open(path)
	if err != nil {
		return false
	}
	defer fh.Close()
	r := strace.NewReader(fh, path, opts)
	named := map[int]bool{} // fds returned by accept, socket, open…: known
	for r.Next() {
		c := r.Call()
		if c.Kind != strace.Syscall {
			continue
		}
		if len(k.pairs)+len(k.clients)+len(k.servers) > maxKeep {
			return false
		}
		for _, a := range c.Arg {
			if _, l, p, ok := strace.Endpoints(a.Ann); ok {
				k.pairs[[2]netip.AddrPort{l, p}] = true
				k.pairs[[2]netip.AddrPort{p, l}] = true
			}
		}
		if _, l, p, ok := strace.Endpoints(c.RetAnn); ok {
			k.pairs[[2]netip.AddrPort{l, p}] = true
			k.pairs[[2]netip.AddrPort{p, l}] = true
		}
		ok := c.HasVal && c.Value >= 0
		fd, hasFD := c.FD()
		switch {
		case (c.Name == "accept" || c.Name == "accept4") && ok:
			if _, _, _, yy := strace.Endpoints(c.RetAnn); yy {
				named[int(c.Value)] = true // -yy named it (above)
			} else if len(c.Arg) > 1 {
				if a := sockaddr(c.Arg[1].Raw); a.IsValid() {
					k.clients[a] = true
					named[int(c.Value)] = true
				}
			}
			if c.RetAnn != "" {
				named[int(c.Value)] = true
			}
		case c.Name == "connect" && hasFD && len(c.Arg) > 1:
			if fd.Ann != "" && !strings.HasPrefix(fd.Ann, "socket:[") {
				// -yy: its data syscalls will show its endpoints
				named[fd.FD] = true
			} else if a := sockaddr(c.Arg[1].Raw); a.IsValid() {
				k.servers[a] = true
				named[fd.FD] = true
			}
		case c.Name == "socket" && ok:
			if !strings.Contains(c.Args, "AF_INET") || !strings.Contains(c.Args, "SOCK_STREAM") {
				named[int(c.Value)] = true // not TCP: not in the streams
			}
		case (openCalls[c.Name] || c.Name == "pipe" || c.Name == "pipe2" || c.Name == "dup" || c.Name == "dup2" || c.Name == "dup3") && ok:
			named[int(c.Value)] = true // a file (pipes: their first fd; the other is rarely a socket's)
		case hasFD && fd.FD >= 0 && (recvCalls[c.Name] || sendCalls[c.Name]) && ok && c.Value > 0:
			if fd.Ann != "" && !strings.HasPrefix(fd.Ann, "socket:[") {
				continue // -y/-yy: a file, or a socket named above
			}
			if !named[fd.FD] {
				return false // data on an fd nothing names
			}
		case c.Name == "close" && hasFD:
			// an fd reused later is named again by what returns it
		}
	}
	return r.Err() == nil
}
