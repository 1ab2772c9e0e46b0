package tcp

import (
	"container/heap"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// The decoding side of the TCP stage: choosing each connection's protocol,
// the decoders themselves, the heap of pending exchanges and the hold-back
// limits. The reassembly side (Assembler) tells it what happened as a
// sequence of ops. Run serially, each op is carried out at once; with
// Options.Concurrent the ops go in batches to a goroutine of their own and
// are carried out there in the same order, so the decoders see the same
// calls with the same bytes either way, and emit the same exchanges in the
// same order. The two sides share no mutable state: a connection's
// reassembly bookkeeping is a stream, its decoding state a decStream.

type opKind uint8

const (
	opData   opKind = iota // bytes of one direction
	opGap                  // n bytes lost
	opEnd                  // a direction closed
	opUpdate               // a reassembled chunk was handed over: re-read Pending
	opFinish               // the connection is gone
	opExpire               // hold-back check at capture time t, bytes seen so far
	opSync                 // call fn
)

type op struct {
	kind    opKind
	dir     decoder.Dir
	evicted bool // opFinish: closed to keep MaxConns
	kept    bool // opData: data stays valid until a later opSync has run
	upd     bool // then an opUpdate of s (worker.add merges the two)
	s       *decStream
	data    []byte
	n       int
	t       time.Time
	now     time.Time // opFinish: the newest capture time
	bytes   int64     // opExpire
	fn      func(now, pending time.Time)
}

// batched is an op as a batch keeps it: with one pointer instead of five
// (a batch is written while the garbage collector runs, and every pointer
// written then costs a barrier). Times are capture times, which
// are UTC (decoder/capture); data lives in the batch's slab, or in big:
// a packet's own bytes (kept) or a copy of its own when large.
type batched struct {
	kind    opKind
	dir     decoder.Dir
	evicted bool
	upd     bool
	s       *decStream
	off, n  int // data: slab[off:off+n], or big[-off-1] when off < 0; gap: n
	t, now  int64
	bytes   int64
}

// decStream is a connection as the decoding side sees it.
type decStream struct {
	conn      *decoder.Conn
	dec       decoder.StreamDecoder
	proto     string // the protocol of dec
	opaque    int    // 1 + index in Stats.Opaque of its opaque protocol, 0 for none
	failed    bool   // its decoder panicked (contain): later bytes are FailedBytes
	changed   bool   // its bytes faulted in a mapped file that changed (contain)
	unknown   bool
	queued    []event
	sniff     [2][]byte // first bytes of each direction, until a protocol is chosen
	firstData time.Time
	done      bool
	hidx      int       // index in decoding.pending, -1 when not there
	pend      time.Time // the decoder's Pending when last asked
	stuck     time.Time // a Pending that Expire could not move: ignored
}

// event is a call replayed into the decoder once the protocol is known.
type event struct {
	kind opKind // opData, opGap or opEnd
	dir  decoder.Dir
	data []byte
	n    int
	t    time.Time
}

const maxSniff = 8 << 10

// decoding is the decoding side's state.
type decoding struct {
	opts     *Options
	emit     decoder.Emit
	pending  streamHeap // streams with a Pending time, oldest first
	marks    []mark     // (capture time, bytes) at each expire, for MaxHoldBytes
	holdWhy  [2]string  // Expire reasons: time, bytes
	evictWhy string
	stats    Stats // the decoding side's counters (Assembler.Stats)
	// cur is the stream whose op (or expiry) is being carried out: the one
	// whose decoder failed if a panic comes (contain).
	cur *decStream
}

type mark struct {
	t     time.Time
	bytes int64
}

func newDecoding(opts *Options, emit decoder.Emit) *decoding {
	return &decoding{
		opts: opts, emit: emit,
		holdWhy: [2]string{
			fmt.Sprintf("no reply within %v of capture time", opts.MaxHold),
			fmt.Sprintf("no reply while %d bytes more were captured", opts.MaxHoldBytes),
		},
		evictWhy: fmt.Sprintf("connection closed early: more than %d connections open", opts.MaxConns),
	}
}

func (d *decoding) exec(o *op) {
	s := o.s
	d.cur = s
	switch o.kind {
	case opData:
		d.data(s, o.dir, o.data, o.t)
	case opGap, opEnd:
		d.send(s, event{kind: o.kind, dir: o.dir, n: o.n, t: o.t})
	case opUpdate:
		d.update(s)
	case opFinish:
		d.finish(s, o.t, o.now, o.evicted)
	case opExpire:
		d.expire(o.t, o.bytes)
	case opSync:
		o.fn(o.t, d.oldest())
	}
	if o.upd {
		d.update(s)
	}
	d.cur = nil // a panic past here is no decoder's
}

// oldest is the start of the oldest exchange a decoder has begun but not
// emitted, or zero.
func (d *decoding) oldest() time.Time {
	if len(d.pending) == 0 {
		return time.Time{}
	}
	return d.pending[0].pend
}

func (d *decoding) data(s *decStream, dir decoder.Dir, b []byte, t time.Time) {
	if s.dec != nil {
		s.dec.Data(dir, b, t)
		return
	}
	if s.unknown {
		switch {
		case s.changed:
			// (its file changed: the run's diagnostic says so)
		case s.failed:
			d.stats.FailedBytes += int64(len(b))
		case s.opaque > 0:
			d.stats.Opaque[s.opaque-1].Bytes += int64(len(b))
		default:
			d.stats.UnknownBytes += int64(len(b))
		}
		return
	}
	if s.firstData.IsZero() {
		s.firstData = t
	}
	if len(s.sniff[dir]) < maxSniff {
		k := min(len(b), maxSniff-len(s.sniff[dir]))
		s.sniff[dir] = append(s.sniff[dir], b[:k]...)
	}
	s.queued = append(s.queued, event{kind: opData, dir: dir, data: append([]byte(nil), b...), t: t})
	d.choose(s, false)
}

func (d *decoding) send(s *decStream, e event) {
	switch {
	case s.dec != nil:
		s.replay(e)
	case s.unknown:
	default:
		s.queued = append(s.queued, e)
		if e.kind == opGap {
			// After a hole the sniffed bytes of this direction no longer
			// start a message; decide on what we have.
			d.choose(s, true)
		}
	}
}

func (s *decStream) replay(e event) {
	switch e.kind {
	case opData:
		s.dec.Data(e.dir, e.data, e.t)
	case opGap:
		s.dec.Gap(e.dir, e.n, e.t)
	case opEnd:
		s.dec.End(e.dir, e.t)
	}
}

// choose picks the protocol: for a connection whose start was captured,
// the first Yes of any protocol on either direction's first bytes, and when
// forced (or the sniff buffers are full, or every protocol said No) the
// server port; mid-stream, the server port first.
func (d *decoding) choose(s *decStream, force bool) {
	full := len(s.sniff[0]) >= maxSniff || len(s.sniff[1]) >= maxSniff
	// Mid-stream, the first bytes seen may be anything (a body, a result
	// set): a well-known server port is the better witness, unless an
	// opaque protocol's bytes (TLS records) say otherwise: the decoder of
	// the port would find nothing in them. (With the start captured, the
	// sniffing below asks every protocol in order anyway.)
	if !s.conn.SawSYN {
		p, yes, wait := d.sniffed(s, true)
		if yes {
			d.use(s, p)
			return
		}
		if wait && !force && !full {
			return // bytes that may yet prove opaque: no port decides yet
		}
		if d.byPort(s) {
			return
		}
	}
	p, yes, undecided := d.sniffed(s, false)
	if yes {
		d.use(s, p)
		return
	}
	if undecided && !force && !full {
		return
	}
	if d.byPort(s) {
		return
	}
	s.unknown = true
	d.stats.Unknown++
	for _, e := range s.queued {
		d.stats.UnknownBytes += int64(len(e.data))
	}
	s.queued = nil
	s.sniff = [2][]byte{}
}

// sniffed asks the protocols (only the opaque ones, when opaque), in
// order, about each direction's first bytes: the first that says Yes, or
// whether any needs more.
func (d *decoding) sniffed(s *decStream, opaque bool) (p decoder.Protocol, yes, needMore bool) {
	for _, p := range d.opts.Protocols {
		if opaque && p.Opaque == "" {
			continue
		}
		for dir := decoder.ClientToServer; dir <= decoder.ServerToClient; dir++ {
			b := s.sniff[dir]
			if len(b) == 0 {
				continue
			}
			switch p.Sniff(s.conn, dir, b) {
			case decoder.Yes:
				return p, true, false
			case decoder.NeedMore:
				needMore = true
			}
		}
	}
	return decoder.Protocol{}, false, needMore
}

// byPort gives s to the protocol whose well-known port its server listens
// on, if any.
func (d *decoding) byPort(s *decStream) bool {
	for _, p := range d.opts.Protocols {
		if p.Port != nil && p.Port(s.conn.Server.Port()) {
			d.use(s, p)
			return true
		}
	}
	return false
}

func (d *decoding) use(s *decStream, p decoder.Protocol) {
	if p.Opaque != "" {
		d.useOpaque(s, p)
		return
	}
	s.dec, s.proto = p.New(s.conn, d.emit), p.Name
	q := s.queued
	s.queued = nil
	s.sniff = [2][]byte{}
	for _, e := range q {
		s.replay(e)
	}
}

// useOpaque gives s to opaque protocol p: its bytes are counted, not
// decoded.
func (d *decoding) useOpaque(s *decStream, p decoder.Protocol) {
	i := slices.IndexFunc(d.stats.Opaque, func(o Opaque) bool { return o.Protocol == p.Name })
	if i < 0 {
		i = len(d.stats.Opaque)
		d.stats.Opaque = append(d.stats.Opaque, Opaque{Protocol: p.Name, Why: p.Opaque})
	}
	o := &d.stats.Opaque[i]
	o.Conns++
	for _, e := range s.queued {
		o.Bytes += int64(len(e.data))
	}
	s.unknown, s.opaque, s.queued, s.sniff = true, i+1, nil, [2][]byte{}
}

// finish closes the decoder, deciding by port if still undecided.
func (d *decoding) finish(s *decStream, t, now time.Time, evicted bool) {
	s.done = true
	if s.dec == nil && !s.unknown && len(s.queued) > 0 {
		d.choose(s, true)
	}
	if s.dec != nil {
		if evicted {
			d.stats.Evicted++
			s.dec.Expire(now.Add(1), d.evictWhy)
		}
		s.dec.Close(t)
		if u, ok := s.dec.(decoder.Unread); ok {
			if n := u.Unread(); n > 0 {
				d.stats.UnreadConns++
				d.stats.UnreadBytes += n
			}
		}
	}
	d.update(s)
}

// expire asks the decoders holding the oldest pending exchanges to give
// up on those older than MaxHold, or begun more than MaxHoldBytes ago;
// now is the newest capture time and bytes the TCP payload bytes seen.
func (d *decoding) expire(now time.Time, bytes int64) {
	cut, why := now.Add(-d.opts.MaxHold), d.holdWhy[0]
	for len(d.marks) > 0 && d.marks[0].t.Before(cut) {
		d.marks = d.marks[1:]
	}
	// marks[0] is kept as the newest mark more than MaxHoldBytes ago.
	for len(d.marks) > 1 && bytes-d.marks[1].bytes > d.opts.MaxHoldBytes {
		d.marks = d.marks[1:]
	}
	if len(d.marks) > 0 && bytes-d.marks[0].bytes > d.opts.MaxHoldBytes {
		cut, why = d.marks[0].t, d.holdWhy[1]
	}
	d.marks = append(d.marks, mark{now, bytes})
	for len(d.pending) > 0 && d.pending[0].pend.Before(cut) {
		s := d.pending[0]
		d.cur = s
		if s.dec == nil {
			d.choose(s, true)
		}
		if s.dec != nil {
			s.dec.Expire(cut, why)
		}
		d.stats.Expired++
		old := s.pend
		d.update(s)
		if s.hidx >= 0 && !s.pend.After(old) {
			// A message still arriving: wait no more for it.
			s.stuck = s.pend
			d.update(s)
		}
	}
}

// update moves s in the pending heap after a call into its decoder.
func (d *decoding) update(s *decStream) {
	var p time.Time
	switch {
	case s.done || s.unknown:
	case s.dec != nil:
		p = s.dec.Pending()
	default:
		p = s.firstData
	}
	if !p.IsZero() && p.Equal(s.stuck) {
		p = time.Time{}
	}
	s.pend = p
	switch {
	case p.IsZero():
		if s.hidx >= 0 {
			heap.Remove(&d.pending, s.hidx)
		}
	case s.hidx < 0:
		heap.Push(&d.pending, s)
	default:
		heap.Fix(&d.pending, s.hidx)
	}
}

// A decoder that panics (a flowmap bug that some bytes reveal) costs its
// connection, not the run: like a dissector exception in Wireshark, the
// panic is contained (execSafe, opBatch.run), the connection's decoder is
// dropped, so its exchanges in progress and its later bytes go undecoded,
// and Stats says so (Failed, Failure), which the pipeline reports as
// damage. Every other connection is decoded as before.

// execSafe carries out o, containing a decoder's panic.
func (d *decoding) execSafe(o *op) {
	defer func() {
		if r := recover(); r != nil {
			d.contain(r)
		}
	}()
	d.exec(o)
}

// contain drops the decoder of the stream whose op panicked with r (d.cur);
// a panic outside any stream's op (a Sync callback: the caller's code) is
// not the decoders' and goes on.
func (d *decoding) contain(r any) {
	s := d.cur
	if s == nil {
		panic(r)
	}
	d.cur = nil
	file, changed := d.changed(r)
	if changed {
		// The capture file changed under the decoder (mapped, it
		// shrank): its bytes are gone, the decoder is not at fault.
		d.stats.ChangedConns++
		if d.stats.Changed == "" {
			d.stats.Changed = file
		}
	} else {
		d.stats.Failed++
	}
	if d.stats.Failure == "" && !changed {
		name := "protocol sniffing"
		if s.dec != nil {
			name = "the " + s.proto + " decoder"
		}
		// A runtime error says what went wrong and nothing of the bytes;
		// any other panic value might quote them (a secret): only its type.
		what := fmt.Sprintf("a panic (%T)", r)
		if e, ok := r.(runtime.Error); ok {
			what = e.Error()
		}
		d.stats.Failure = fmt.Sprintf("%s failed on connection %d (%s → %s): %s%s", name, s.conn.ID, s.conn.Client, s.conn.Server, what, panicSite(debug.Stack()))
	}
	s.dec, s.unknown, s.failed, s.changed, s.queued, s.sniff = nil, true, !changed, changed, nil, [2][]byte{}
	d.update(s)
}

// changed reports whether r, a recovered panic, is a fault in a mapped
// capture file (Options.Fault), and which.
func (d *decoding) changed(r any) (string, bool) {
	if d.opts.Fault == nil {
		return "", false
	}
	return d.opts.Fault(r)
}

// panicSite names the innermost flowmap function of a panic's stack below
// the panic itself (" in mysql.(*conn).column"), or "".
func panicSite(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "panic(") {
			continue
		}
		for _, f := range lines[i+1:] {
			if strings.HasPrefix(f, "\t") || !strings.Contains(f, "flowmap/") || strings.HasPrefix(f, "runtime.") {
				continue
			}
			f = f[strings.LastIndex(f, "/")+1:]
			if j := strings.LastIndex(f, "("); j > 0 {
				f = f[:j]
			}
			return " in " + f
		}
	}
	return ""
}

// streamHeap orders streams by Pending time.
type streamHeap []*decStream

func (h streamHeap) Len() int { return len(h) }
func (h streamHeap) Less(i, j int) bool {
	if !h[i].pend.Equal(h[j].pend) {
		return h[i].pend.Before(h[j].pend)
	}
	return h[i].conn.ID < h[j].conn.ID
}
func (h streamHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}
func (h *streamHeap) Push(x any) {
	s := x.(*decStream)
	s.hidx = len(*h)
	*h = append(*h, s)
}
func (h *streamHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	s.hidx = -1
	return s
}

// worker carries out ops on a goroutine of its own (Options.Concurrent).
// The reassembly side fills a batch, copying each op's bytes into the
// batch's slab (reassembly reuses its buffers once the call returns)
// unless they are a packet's own that the caller keeps, and hands it
// over; at most workerBatches batches exist, so a slow decoding side
// holds the reassembly side back instead of growing memory. Every Sync
// hands the batch over: the read stage's packets are released by Syncs,
// so a batch waiting to fill could hold back the packets that would fill
// it.
type worker struct {
	full, free chan *opBatch
	cur        *opBatch
	done       chan struct{}
}

type opBatch struct {
	ops  []batched
	slab []byte
	big  [][]byte
	// copied is how many bytes of big are copies made for the batch (not
	// a packet's own bytes the caller keeps): they count towards
	// workerSlab as the slab's do.
	copied int
	fns    []func(now, pending time.Time) // of the opSync ops, in order
}

// nanos and fromNanos carry a UTC capture time (or the zero time) as an
// integer.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// run carries out b's ops; a decoder's panic is contained (one deferred
// recover per run of ops, not per op) and the ops after it go on.
func (b *opBatch) run(d *decoding) {
	fns := b.fns
	for i := 0; i < len(b.ops); {
		i, fns = b.runFrom(d, i, fns)
	}
}

// runFrom carries out b's ops from i on, and returns where it stopped:
// the end, or just past an op whose decoder panicked.
func (b *opBatch) runFrom(d *decoding, i int, fns []func(now, pending time.Time)) (next int, rest []func(now, pending time.Time)) {
	next, rest = i, fns
	defer func() {
		if r := recover(); r != nil {
			d.contain(r)
			next++
		}
	}()
	for ; next < len(b.ops); next++ {
		x := &b.ops[next]
		o := op{kind: x.kind, dir: x.dir, evicted: x.evicted, upd: x.upd, s: x.s, n: x.n, t: fromNanos(x.t), now: fromNanos(x.now), bytes: x.bytes}
		switch {
		case x.kind == opData && x.off >= 0:
			o.data = b.slab[x.off : x.off+x.n]
		case x.kind == opData:
			o.data = b.big[-x.off-1]
		case x.kind == opSync:
			o.fn, rest = rest[0], rest[1:]
		}
		d.exec(&o)
	}
	return next, rest
}

// A batch is handed over when it holds workerOps ops or workerSlab bytes
// (in its slab, or of its own copies), and at each Sync. Bytes of one op
// larger than a quarter of the slab get their own copy.
const (
	workerBatches = 8
	workerOps     = 1024
	workerSlab    = 256 << 10
)

func newWorker(d *decoding) *worker {
	w := &worker{full: make(chan *opBatch, workerBatches), free: make(chan *opBatch, workerBatches), done: make(chan struct{})}
	for range workerBatches - 1 {
		w.free <- &opBatch{}
	}
	w.cur = &opBatch{}
	go func() {
		defer close(w.done)
		if d.opts.Fault != nil {
			// The decoders read payloads in place, from a mapped file:
			// a fault there is contained like a decoder's panic.
			debug.SetPanicOnFault(true)
		}
		for b := range w.full {
			b.run(d)
			// The streams of the ops stay referenced until overwritten:
			// at most workerBatches*workerOps of them.
			clear(b.big)
			clear(b.fns)
			b.ops, b.slab, b.big, b.fns, b.copied = b.ops[:0], b.slab[:0], b.big[:0], b.fns[:0], 0
			w.free <- b
		}
	}()
	return w
}

func (w *worker) add(o *op) {
	if o.kind == opUpdate {
		// Nearly every update follows a chunk's last op on the same
		// stream: it rides on that op (half the ops of a batch were
		// updates, each written here and read back on the other core).
		if n := len(w.cur.ops); n > 0 {
			if l := &w.cur.ops[n-1]; l.s == o.s && (l.kind == opData || l.kind == opGap || l.kind == opEnd) {
				l.upd = true
				return
			}
		}
	}
	x := batched{kind: o.kind, dir: o.dir, evicted: o.evicted, s: o.s, n: o.n, t: nanos(o.t), now: nanos(o.now), bytes: o.bytes}
	switch o.kind {
	case opData:
		x.n = len(o.data)
		if o.kept || len(o.data) > workerSlab/4 {
			if !o.kept {
				o.data = append([]byte(nil), o.data...)
				w.cur.copied += len(o.data)
			}
			w.cur.big = append(w.cur.big, o.data)
			x.off = -len(w.cur.big)
			break
		}
		if len(w.cur.slab)+len(o.data) > workerSlab {
			w.send()
		}
		b := w.cur
		if b.slab == nil {
			b.slab = make([]byte, 0, workerSlab)
		}
		x.off = len(b.slab)
		b.slab = append(b.slab, o.data...)
	case opSync:
		w.cur.fns = append(w.cur.fns, o.fn)
	}
	w.cur.ops = append(w.cur.ops, x)
	if len(w.cur.ops) >= workerOps || o.kind == opSync || w.cur.copied >= workerSlab {
		w.send()
	}
}

// send hands the current batch over and takes a free one.
func (w *worker) send() {
	if len(w.cur.ops) == 0 {
		return
	}
	w.full <- w.cur
	w.cur = <-w.free
}

// close hands the last batch over and waits until every op is carried out.
func (w *worker) close() {
	w.send()
	close(w.full)
	<-w.done
}
