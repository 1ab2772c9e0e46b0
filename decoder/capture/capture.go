// Package capture is the first stage of flowmap's pipeline: it reads pcap and
// pcapng files (plain or gzipped) and yields their packets in capture-time
// order, with interface names, the link layer located and duplicates removed.
//
// Every file is split into one source per interface (a pcapng interface
// description, or the whole of a classic pcap file). Packets within a source
// are in time order (but for microsecond jitter), but sources are not in
// step: dumpcap writes each interface's buffer in turn, so a pcapng can hold
// loopback packets 250 ms behind the Ethernet ones that precede them. The
// Reader therefore merges all sources of all files by timestamp, like
// mergecap does for files: the oldest queued packet is released once every
// live source has been read a little past it, or once the source holding it
// back lags its own file by more than Options.MergeWindow, or when
// Options.MaxBuffered bytes are queued. A packet that another source already
// delivered (the same traffic captured on two interfaces, or by two dumpcaps)
// is dropped.
//
// Formats are told by their magic number: pcap (both byte orders, µs and ns,
// Kuznetzov's variant), pcapng (any number of sections and interfaces, mixed
// link types, per-interface timestamp resolution and offset), and gzip of
// either. Every length a file declares is checked against the block holding
// it and capped before use; damage never stops the other files: everything
// before it is returned and Diagnostics names the file, offset and packet.
package capture

import (
	"container/heap"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync/atomic"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/gopacket/gopacket/layers"
)

// Defaults for Options fields left zero.
const (
	DefaultMergeWindow  = 2 * time.Second
	DefaultMaxBuffered  = 32 << 20
	DefaultDedupeWindow = 50 * time.Millisecond
)

// Options tune a Reader. The zero value is ready to use.
type Options struct {
	// MergeWindow bounds how long (capture time) packets are held to merge
	// interfaces/files in time order. Default 2s when 0. Output is in time
	// order as long as no source lags the others by more than this.
	MergeWindow time.Duration
	// MaxBuffered bounds bytes held for merging (default 32 MiB); when
	// exceeded the oldest packet is released anyway.
	MaxBuffered int
	// DedupeWindow is how far apart in capture time two copies of a packet
	// from different sources may be and still count as one. Default 50ms
	// when 0; negative disables duplicate removal.
	DedupeWindow time.Duration
	// Stdin is what "-" reads; os.Stdin when nil.
	Stdin io.Reader
	// Poison, for tests, overwrites a slab's bytes when it is freed, so
	// that whoever still reads a packet it no longer holds (Keep) reads
	// garbage instead of, most of the time, the same bytes. Files are
	// then read, not mapped: a mapped file's pages cannot be overwritten.
	Poison bool
	// NoMap reads files instead of mapping them into memory (mapped.go).
	NoMap bool
}

// Packet is one captured frame.
type Packet struct {
	Time     time.Time
	Iface    string // pcapng IDB if_name; "if<N>" when unnamed; "" for classic pcap
	Source   int    // index of the (file, interface) source, stable for the run
	File     string // path as given ("-" for stdin)
	Number   int    // 1-based frame number within its file (like Wireshark's frame.number)
	LinkType layers.LinkType
	Data     []byte // frame as captured (valid until the next call to Next)
	// IP is the network layer (IPv4 or IPv6 header onward) inside Data,
	// trimmed to the IP packet's own length (no Ethernet padding); nil if
	// the frame is not IP. A snaplen-cut packet has a short IP.
	IP      []byte
	OrigLen int // original length on the wire
}

// Truncated reports whether the packet was captured shorter than it was on
// the wire (snap length).
func (p *Packet) Truncated() bool { return p.OrigLen > len(p.Data) }

// Stats counts what a Reader delivered.
type Stats struct {
	Packets    int64 // packets returned by Next
	Bytes      int64 // captured bytes of those packets
	Duplicates int64 // packets dropped as copies of one from another source
	NotIP      int64 // returned packets with no IPv4/IPv6 layer found
	// OutOfOrder counts packets returned earlier in time than one already
	// returned: a source lagged by more than MergeWindow or MaxBuffered.
	OutOfOrder int64
	Files      int // files opened
	Sources    int // (file, interface) sources seen
}

// source is one interface of one file. Its packets are queued here until the
// merge releases them.
type source struct {
	idx    int
	in     *input
	name   string
	lt     layers.LinkType
	q      queue
	newest int64 // time of the newest packet read: the next is not older than newest-reorderSlack
	seen   bool  // at least one packet read
	done   bool  // no more packets will come
	qi     int   // index in Reader.queued, -1 when its queue is empty
	ni     int   // index in its input's srcs
}

// lag is how far the source has been read, for the merge: unread sources
// are the furthest behind.
func (s *source) lag() int64 {
	if !s.seen {
		return math.MinInt64
	}
	return s.newest
}

// byFront orders sources with queued packets by their oldest one (ties:
// lower source index), so the next packet to release is found in O(1) and
// kept so in O(log sources), however many files and interfaces merge.
type byFront []*source

func (h byFront) Len() int { return len(h) }
func (h byFront) Less(i, j int) bool {
	a, b := h[i].q.front().t, h[j].q.front().t
	return a < b || a == b && h[i].idx < h[j].idx
}
func (h byFront) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].qi, h[j].qi = i, j
}
func (h *byFront) Push(x any) {
	s := x.(*source)
	s.qi = len(*h)
	*h = append(*h, s)
}
func (h *byFront) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	s.qi = -1
	return s
}

// byLag orders the sources of one input by how far they have been read,
// the furthest behind first.
type byLag []*source

func (h byLag) Len() int { return len(h) }
func (h byLag) Less(i, j int) bool {
	a, b := h[i].lag(), h[j].lag()
	return a < b || a == b && h[i].idx < h[j].idx
}
func (h byLag) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].ni, h[j].ni = i, j
}
func (h *byLag) Push(x any) {
	s := x.(*source)
	s.ni = len(*h)
	*h = append(*h, s)
}
func (h *byLag) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return s
}

// pending is a packet read from a file and not yet released.
type pending struct {
	t        int64 // Unix ns
	num      int
	orig     int
	ipS, ipE int // IP layer bounds in buf; ipE == 0 when not IP
	buf      []byte
	sl       *slab  // the slab buf points into
	key      uint64 // dedupe key of the IP packet
}

// queue is a FIFO ring of pending packets.
type queue struct {
	items []pending
	head  int
	n     int
}

// push adds p in time order: a packet older than the newest queued one
// (timestamps of one interface jitter by a microsecond now and then) moves
// back past the newer ones; equal times keep their file order. It reports
// whether p is now the front.
func (q *queue) push(p pending) bool {
	if q.n == len(q.items) {
		items := make([]pending, max(16, 2*len(q.items)))
		for i := 0; i < q.n; i++ {
			items[i] = q.items[(q.head+i)%len(q.items)]
		}
		q.items, q.head = items, 0
	}
	size := len(q.items)
	i := q.n
	for ; i > 0; i-- {
		prev := &q.items[(q.head+i-1)%size]
		if prev.t <= p.t {
			break
		}
		q.items[(q.head+i)%size] = *prev
	}
	q.items[(q.head+i)%size] = p
	q.n++
	return i == 0
}

func (q *queue) front() *pending { return &q.items[q.head] }

func (q *queue) pop() pending {
	p := q.items[q.head]
	q.items[q.head] = pending{}
	q.head = (q.head + 1) % len(q.items)
	q.n--
	return p
}

// Reader merges the packets of several capture files. It is not safe for
// concurrent use, except BytesRead and TotalBytes, which a progress display
// may call from another goroutine.
type Reader struct {
	window    int64 // MergeWindow in ns
	maxBuf    int
	inputs    []*input
	live      []*input  // inputs not yet at their end
	sources   []*source // all sources, by index
	queued    byFront   // sources holding packets
	buffered  int       // bytes queued in all sources
	lastOut   int64     // timestamp of the last packet returned
	slabs     slabPool
	compactAt int // slab bytes in use past which queued packets are compacted
	// compactBase is the least compactAt: MaxBuffered and the inputs'
	// read slabs.
	compactBase int
	dedupe      *dedupe
	out         Packet
	outSlab     *slab // slab of out, released on the next Next unless kept
	diags       []decoder.Diagnostic
	stats       Stats
	ended       bool
	closed      bool
	noMap       bool // Options.NoMap
	mapped      int  // inputs mapped, not read

	bytesRead  atomic.Int64
	totalBytes int64
}

// errClosed is returned by Next after Close.
var errClosed = errors.New("capture: reader closed")

// stream is one input to newReader.
type stream struct {
	name   string
	r      io.Reader
	closer io.Closer
	size   int64 // -1 when unknown
}

// Open opens the capture files at paths ("-" is standard input) and reads
// their headers. The error names the file that cannot even start: missing,
// empty, not a capture, gzip of garbage. Damage further in is reported by
// Diagnostics after the packets before it have been returned.
func Open(paths []string, opts Options) (*Reader, error) {
	streams := make([]stream, 0, len(paths))
	closeAll := func() {
		for _, s := range streams {
			if s.closer != nil {
				s.closer.Close()
			}
		}
	}
	stdin := false
	for _, p := range paths {
		if p == "-" {
			if stdin {
				closeAll()
				return nil, errors.New("capture: standard input (-) given twice")
			}
			stdin = true
			in := opts.Stdin
			if in == nil {
				in = os.Stdin
			}
			streams = append(streams, stream{name: p, r: in, size: -1})
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			closeAll()
			return nil, err // *PathError names the file
		}
		size := int64(-1)
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
		streams = append(streams, stream{name: p, r: f, closer: f, size: size})
	}
	r, err := newReader(streams, opts)
	if err != nil {
		closeAll()
		return nil, err
	}
	return r, nil
}

// newReader reads the headers of streams. On error the caller closes them.
func newReader(streams []stream, opts Options) (*Reader, error) {
	if len(streams) == 0 {
		return nil, errors.New("capture: no input files")
	}
	r := &Reader{
		window:  int64(opts.MergeWindow),
		maxBuf:  opts.MaxBuffered,
		lastOut: math.MinInt64,
	}
	r.slabs.poison = opts.Poison
	r.noMap = opts.NoMap || opts.Poison
	if r.window <= 0 {
		r.window = int64(DefaultMergeWindow)
	}
	if r.maxBuf <= 0 {
		r.maxBuf = DefaultMaxBuffered
	}
	for _, s := range streams {
		if s.size < 0 {
			r.totalBytes = -1
		} else if r.totalBytes >= 0 {
			r.totalBytes += s.size
		}
	}
	if r.totalBytes < 0 {
		r.totalBytes = 0
	}
	r.stats.Files = len(streams)
	for _, s := range streams {
		in := &input{path: s.name, closer: s.closer, newest: math.MinInt64}
		r.inputs = append(r.inputs, in)
		r.live = append(r.live, in)
		if err := r.openGuarded(in, s.r, s.size); err != nil {
			if in.gz != nil {
				in.gz.Close()
			}
			for _, in := range r.inputs {
				if in.m != nil {
					in.m.close()
				}
			}
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		if in.m != nil {
			r.compactBase += mapChunk
		} else if in.cur != nil {
			r.compactBase += len(in.cur.buf)
		}
	}
	r.compactBase += r.maxBuf
	r.compactAt = r.compactBase
	dw := int64(opts.DedupeWindow)
	if dw == 0 {
		dw = int64(DefaultDedupeWindow)
	}
	if len(r.inputs) == 1 && !r.inputs[0].ng {
		// One classic pcap file is one source: no packet can come from
		// another, so none is a duplicate.
		dw = -1
	}
	r.dedupe = newDedupe(dw, len(r.sources) == 1)
	return r, nil
}

// newSource registers a new (file, interface) source.
func (r *Reader) newSource(in *input, name string, lt layers.LinkType) *source {
	s := &source{idx: len(r.sources), in: in, name: name, lt: lt, qi: -1}
	r.sources = append(r.sources, s)
	if r.dedupe != nil && len(r.sources) == 2 {
		r.dedupe.addSource() // nil while the files are opened
	}
	heap.Push(&in.srcs, s)
	r.stats.Sources++
	return s
}

// note records a non-fatal problem in a file, up to maxNotes per file.
func (r *Reader) note(in *input, what string) {
	in.notes++
	switch {
	case in.notes < maxNotes:
		r.diags = append(r.diags, decoder.Diagnostic{Where: in.path, What: what})
	case in.notes == maxNotes:
		r.diags = append(r.diags, decoder.Diagnostic{Where: in.path, What: what + " (further problems in this file not reported)"})
	}
}

// fail records the damage that ends a file and ends it.
func (r *Reader) fail(in *input, err error) {
	r.diags = append(r.diags, decoder.Diagnostic{Where: in.path, What: err.Error(), Fatal: true})
	r.finish(in)
}

// finish ends an input: its sources get no more packets (those queued are
// still released) and its file is closed.
func (r *Reader) finish(in *input) {
	if in.done {
		return
	}
	in.done = true
	for _, s := range in.srcs {
		s.done = true
	}
	if in.gz != nil {
		in.gz.Close()
		in.gz = nil
	}
	if in.closer != nil && in.m == nil { // a mapped file's stays open
		in.closer.Close()
		in.closer = nil
	}
	if in.m != nil {
		in.endMapped()
	}
	if in.cur != nil {
		in.cur.reading = false
		r.slabs.release(in.cur) // the queued packets keep it if they need it
		in.cur = nil
	}
	for i, l := range r.live {
		if l == in {
			r.live = append(r.live[:i], r.live[i+1:]...)
			break
		}
	}
}

// readFrom reads one packet of in into its source's queue, or ends in.
func (r *Reader) readFrom(in *input) {
	var (
		s   *source
		p   pending
		err error
	)
	if in.ng {
		s, p, err = r.ngNext(in, false)
	} else {
		s, p, _, err = r.pcapNext(in)
	}
	if err != nil {
		r.fail(in, err)
		return
	}
	if s == nil {
		r.finish(in)
		return
	}
	if p.orig < len(p.buf) {
		p.orig = len(p.buf)
	}
	if start, end, ok := ipBounds(s.lt, p.buf); ok {
		p.ipS, p.ipE = start, end
		if r.dedupe.on() {
			p.key = r.dedupe.key(p.buf[start:end])
		}
	}
	// The heaps are fixed only when what orders them changed: most packets
	// go to the back of their queue, and are not older than the newest.
	front := s.q.push(p)
	if s.qi < 0 {
		heap.Push(&r.queued, s)
	} else if front {
		heap.Fix(&r.queued, s.qi)
	}
	if !s.seen || p.t > s.newest {
		s.newest = p.t
		s.seen = true
		heap.Fix(&in.srcs, s.ni)
	}
	r.buffered += len(p.buf)
	if p.t > in.newest {
		in.newest = p.t
	}
	if r.slabs.inUse > r.compactAt {
		r.compact()
	}
}

// compact copies the queued packets that pin slabs no longer read into
// fresh slabs, packed one after the other, so that the slabs they were
// the last to point into are freed (see slab.go). The next compaction
// waits until the slabs in use have doubled again: every byte read is
// copied at most about once.
func (r *Reader) compact() {
	var dst *slab
	used := 0
	// (deferred: a fault copying a mapped file that shrank ends the
	// compaction half way, see tryNext)
	defer func() {
		if dst != nil {
			r.slabs.release(dst)
		}
		r.compactAt = max(r.compactBase, 2*r.slabs.inUse)
	}()
	for _, s := range r.sources {
		for i := range s.q.n {
			p := &s.q.items[(s.q.head+i)%len(s.q.items)]
			if p.sl.reading {
				continue // pinned by its input anyway
			}
			if dst == nil || used+len(p.buf) > len(dst.buf) {
				if dst != nil {
					r.slabs.release(dst)
				}
				dst, used = r.slabs.get(max(slabSize, len(p.buf))), 0
			}
			n := copy(dst.buf[used:], p.buf)
			r.slabs.release(p.sl)
			dst.refs++
			p.sl, p.buf = dst, dst.buf[used:used+n:used+n]
			used += n
		}
	}
}

// minSource returns the source whose queued head is oldest (ties go to the
// lower source index), or nil when no packet is queued.
func (r *Reader) minSource() *source {
	if len(r.queued) == 0 {
		return nil
	}
	return r.queued[0]
}

// reorderSlack is how far back in time one interface's timestamps may jump.
// Packets of one interface are in time order but for jitter of about a
// microsecond (packets timestamped on different CPUs: glanceclient-upload
// has three such pairs); every source is read this far past a packet before
// the packet is released.
const reorderSlack = int64(5 * time.Millisecond)

// blocking returns a file that must be read before a packet at time t can
// be released, or nil. A live source holds t back while it may still
// deliver something older: it has delivered nothing yet, or nothing
// reorderSlack past t. It stops holding back when its own file has been
// read more than the merge window past t: the source is lagging more than
// the window allows (or idle) and the packet goes out.
func (r *Reader) blocking(t int64) *input {
	slack, window := satAdd(t, reorderSlack), satAdd(t, r.window)
	for _, in := range r.live {
		if in.newest > window {
			continue // read past the window: its sources lag or idle
		}
		if in.ng && len(in.ifaces) == 0 {
			return in // no interface yet: any packet may come
		}
		if len(in.srcs) > 0 && in.srcs[0].lag() < slack {
			return in // its furthest-behind source may still deliver older
		}
	}
	return nil
}

// satAdd is a+b for b >= 0, saturating instead of wrapping.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Next returns the next packet in capture-time order, or io.EOF when all
// files are done. The packet and its Data are valid until the next call.
// Damage in a file ends that file only; see Diagnostics.
func (r *Reader) Next() (*Packet, error) {
	if r.mapped > 0 {
		return r.nextGuarded()
	}
	return r.next()
}

func (r *Reader) next() (*Packet, error) {
	if r.closed {
		return nil, errClosed
	}
	if r.outSlab != nil {
		r.slabs.release(r.outSlab)
		r.outSlab = nil
		r.out.Data, r.out.IP = nil, nil
	}
	for {
		s := r.minSource()
		if s == nil {
			if len(r.live) == 0 {
				r.end()
				return nil, io.EOF
			}
			r.readFrom(r.live[0])
			continue
		}
		if r.buffered <= r.maxBuf {
			if in := r.blocking(s.q.front().t); in != nil {
				r.readFrom(in)
				continue
			}
		}
		p := s.q.pop()
		if s.q.n == 0 {
			heap.Pop(&r.queued) // s is the top
		} else {
			heap.Fix(&r.queued, 0)
		}
		r.buffered -= len(p.buf)
		if p.ipE > 0 && r.dedupe.duplicate(p.key, p.t, s.idx) {
			r.stats.Duplicates++
			r.slabs.release(p.sl)
			continue
		}
		return r.emit(s, p), nil
	}
}

// emit fills the Packet returned by Next.
func (r *Reader) emit(s *source, p pending) *Packet {
	if p.t < r.lastOut {
		r.stats.OutOfOrder++
	} else {
		r.lastOut = p.t
	}
	r.outSlab = p.sl
	// Field by field: assigning a whole new Packet copied it with the
	// garbage collector's bulk write barrier: emit went from 8% to 5%
	// of the reader's CPU in a profile of BenchmarkReaderLong.
	o := &r.out
	o.Time = time.Unix(0, p.t).UTC()
	o.Iface, o.Source, o.File = s.name, s.idx, s.in.path
	o.Number, o.LinkType, o.OrigLen = p.num, s.lt, p.orig
	o.Data = p.buf
	if p.ipE > 0 {
		o.IP = p.buf[p.ipS:p.ipE:p.ipE]
	} else {
		o.IP = nil
		r.stats.NotIP++
	}
	r.stats.Packets++
	r.stats.Bytes += int64(len(p.buf))
	return &r.out
}

// Keep lets the caller hold on to the bytes of the packet Next returned
// last (its Data and IP): Next will not reuse them until the Hold is given
// back with Reuse, on the goroutine that calls Next, once done with them.
// A pipeline stage that passes packets to another goroutine keeps them
// this way instead of copying them. Keep returns the zero Hold when there
// is no packet (Reuse ignores it).
func (r *Reader) Keep() Hold {
	h := Hold{r.outSlab}
	r.outSlab = nil
	return h
}

// Reuse gives back a Hold from Keep.
func (r *Reader) Reuse(h Hold) {
	if h.s != nil {
		r.slabs.release(h.s)
	}
}

// end runs once when the last packet has been returned.
func (r *Reader) end() {
	if r.ended {
		return
	}
	r.ended = true
	if n := r.stats.OutOfOrder; n > 0 {
		r.diags = append(r.diags, decoder.Diagnostic{
			Where: "merge",
			What: fmt.Sprintf("%d packets returned out of time order: a source lagged by more than the %v merge window or the %d-byte buffer",
				n, time.Duration(r.window), r.maxBuf),
		})
	}
}

// SourceInfo describes one (file, interface) source.
type SourceInfo struct {
	Index    int // Packet.Source
	File     string
	Iface    string
	LinkType layers.LinkType
}

// Sources lists the sources seen so far, by index. A pcapng file's
// interfaces are known from Open on (those described before its first
// packet); later sections add theirs as they are read.
func (r *Reader) Sources() []SourceInfo {
	out := make([]SourceInfo, len(r.sources))
	for i, s := range r.sources {
		out[i] = SourceInfo{Index: s.idx, File: s.in.path, Iface: s.name, LinkType: s.lt}
	}
	return out
}

// Diagnostics returns the damage found so far. Fatal ones mean a file could
// not be read to its end.
func (r *Reader) Diagnostics() []decoder.Diagnostic { return r.diags }

// Stats returns counts of what has been delivered so far.
func (r *Reader) Stats() Stats { return r.stats }

// BytesRead returns the bytes consumed from all files so far, compressed or
// not, as stored on disk. It may be called concurrently with Next.
func (r *Reader) BytesRead() int64 { return r.bytesRead.Load() }

// TotalBytes returns the sum of the file sizes, or 0 when one is unknown
// (standard input, a pipe).
func (r *Reader) TotalBytes() int64 { return r.totalBytes }

// Close closes all files. Packets already returned stay valid until then.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	var first error
	for _, in := range r.inputs {
		if in.gz != nil {
			in.gz.Close()
			in.gz = nil
		}
		if in.closer != nil {
			if err := in.closer.Close(); err != nil && first == nil {
				first = err
			}
			in.closer = nil
		}
		in.cur = nil
		in.done = true
		if in.m != nil {
			in.m.close()
		}
	}
	r.live = nil
	return first
}
