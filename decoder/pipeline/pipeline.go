// Package pipeline wires the decoding stages together: capture files to
// packets (decoder/capture), packets to byte streams (decoder/tcp), streams
// to exchanges (decoder/http, decoder/memcache, decoder/mysql,
// decoder/amqp), and hands the exchanges out in start-time order with
// bounded buffering. With Options.Streams it also records the connections'
// bytes, and Align places strace output (decoder/strace) on the capture's
// clock with them: the one stage that sees both the syscalls and the TCP
// streams.
//
// The pipeline owns the goroutines (decoders have none): reading the
// capture, reassembling (decoder/tcp), decoding (tcp.Options.Concurrent)
// and the caller's out run as four stages connected by small bounded
// queues, so a run uses more than one core. Each stage sees exactly the
// sequence it would see run serially, so the output is the same byte for
// byte (Options.Serial runs it on one goroutine; the tests compare the
// two).
package pipeline

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/amqp"
	"github.com/flowmap/flowmap/decoder/capture"
	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/decoder/memcache"
	"github.com/flowmap/flowmap/decoder/mysql"
	"github.com/flowmap/flowmap/decoder/tcp"
	"github.com/flowmap/flowmap/decoder/tls"
)

// Options configure a run. The zero value decodes everything with defaults.
type Options struct {
	Capture  capture.Options
	TCP      tcp.Options // Protocols defaults to HTTP, memcache, MySQL, AMQP
	HTTP     http.Options
	Memcache memcache.Options
	MySQL    mysql.Options
	AMQP     amqp.Options
	// Progress, when set, is called now and then with the bytes read so
	// far and the total (0 when unknown).
	Progress func(read, total int64)
	// Serial runs every stage on the calling goroutine (the default when
	// only one CPU is available): the same output, without concurrency.
	Serial bool
	// Streams, when set, records every decoded connection's bytes (to
	// align strace output with the capture: Align).
	Streams *Streams
}

// Result is what a run saw besides the exchanges.
type Result struct {
	Capture     capture.Stats
	TCP         tcp.Stats
	Exchanges   int
	Diagnostics []decoder.Diagnostic
}

// Fatal reports whether some input could not be read whole.
func (r *Result) Fatal() bool {
	for _, d := range r.Diagnostics {
		if d.Fatal {
			return true
		}
	}
	return false
}

// Protocols returns the decoders flowmap knows, in sniffing order.
func (o *Options) Protocols() []decoder.Protocol {
	return []decoder.Protocol{
		tls.Protocol(),
		http.NewProtocol(o.HTTP),
		memcache.NewProtocol(o.Memcache),
		mysql.NewProtocol(o.MySQL),
		amqp.NewProtocol(o.AMQP),
	}
}

// Run decodes paths and calls out with every exchange in order of start
// time. It returns what it decoded even when some input was damaged; an
// error means nothing could be read at all.
//
// Unless opts.Serial, out runs on a goroutine of its own (the output stage,
// while decoding goes on), as does the reading of the capture; Progress is
// called on the caller's goroutine. out is never called concurrently with
// itself, every call has returned when Run returns, and an exchange handed
// to out is not touched again by Run.
func Run(paths []string, opts Options, out func(*decoder.Exchange)) (*Result, error) {
	r, err := capture.Open(paths, opts.Capture)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if opts.TCP.Protocols == nil {
		opts.TCP.Protocols = opts.Protocols()
	}
	if opts.Streams != nil {
		ps := make([]decoder.Protocol, len(opts.TCP.Protocols))
		for i, p := range opts.TCP.Protocols {
			ps[i] = opts.Streams.wrap(p)
		}
		opts.TCP.Protocols = ps
	}
	res := &Result{}
	serial := opts.Serial || runtime.GOMAXPROCS(0) < 2
	ord := &orderer{out: out}
	var wg sync.WaitGroup
	if !serial {
		// The caller's out (JSON encoding, a table) is the third stage.
		q := make(chan []*decoder.Exchange, outBatches)
		ord.q = q
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range q {
				for _, e := range b {
					out(e)
				}
			}
		}()
	}
	// Reassembly and decoding are two stages too: the decoders (and the
	// orderer they emit to) run on a goroutine of their own.
	// The read stage keeps each batch of packets until the decoders have
	// read it (rs.release), so they read payloads in place.
	opts.TCP.Concurrent, opts.TCP.PacketsKept = !serial, !serial
	// A mapped capture file that shrinks while it is read faults where
	// its bytes are touched (capture/mapped.go): here too (the loop
	// below), and on the decoders' goroutine (tcp.Options.Fault).
	guard := r.MapsFiles()
	if guard {
		opts.TCP.Fault = r.Fault
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	}
	asm := tcp.New(opts.TCP, ord.add)
	reorder := opts.TCP.Reorder
	if reorder <= 0 {
		reorder = time.Second
	}
	// Everything that starts before the oldest unfinished exchange, and
	// before anything reassembly may still be holding back, is final.
	release := func(now, pend time.Time) {
		w := now.Add(-2 * reorder)
		if !pend.IsZero() && pend.Before(w) {
			w = pend
		}
		ord.release(w)
	}
	var src packetSource = &serialSource{r: r}
	stopReading := func() {}
	if !serial {
		rs := newReadStage(r)
		defer rs.stop()
		stopReading = rs.stop
		rs.release = func(b *readBatch) {
			asm.Sync(func(time.Time, time.Time) { rs.free <- b })
		}
		src = rs
	}
	// One guard for the whole loop, not one a packet: a fault in a
	// mapped file's bytes (the warm-up, the TCP stage; the reader's own
	// are its damage) ends it, with the TCP stage perhaps half way through
	// a segment: it takes no more, from any file.
	var (
		n       int
		at      time.Time // the packet being fed
		changed string
	)
	func() {
		if guard {
			defer capture.CatchFault(r.Fault, &changed)
		}
		for {
			p, err := src.next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					res.Diagnostics = append(res.Diagnostics, decoder.Diagnostic{Where: "capture", What: err.Error(), Fatal: true})
				}
				return
			}
			if p.ip != nil {
				at = p.t
				asm.Packet(p.ip, p.t, p.iface)
			}
			n++
			if n&255 == 0 {
				asm.Sync(release)
				if opts.Progress != nil && n&4095 == 0 {
					opts.Progress(p.read, r.TotalBytes())
				}
			}
		}
	}()
	if changed != "" {
		res.Diagnostics = append(res.Diagnostics, decoder.Diagnostic{Where: changed, Fatal: true, What: capture.Changed + ": decoding stopped there, after " + at.Format(time.RFC3339Nano) + ", for every file: the exchanges then in progress are incomplete"})
	}
	// The reader is left alone from here (after a fault above its goroutine
	// may still be reading).
	stopReading()
	asm.Close()
	ord.release(time.Time{})
	ord.flush()
	wg.Wait()
	if opts.Progress != nil {
		opts.Progress(r.BytesRead(), r.TotalBytes())
	}
	res.Capture = r.Stats()
	res.TCP = asm.Stats()
	res.Exchanges = ord.n
	res.Diagnostics = append(r.Diagnostics(), res.Diagnostics...)
	if st := res.TCP; st.Gaps > 0 {
		res.Diagnostics = append(res.Diagnostics, decoder.Diagnostic{Where: "tcp", What: fmt.Sprintf("%d gaps, %d bytes not captured (marked truncated)", st.Gaps, st.LostBytes)})
	}
	if st := res.TCP; st.Unknown > 0 {
		res.Diagnostics = append(res.Diagnostics, decoder.Diagnostic{Where: "tcp", What: fmt.Sprintf("%d connections of unknown protocol (%d bytes) not decoded", st.Unknown, st.UnknownBytes)})
	}
	if st := res.TCP; st.Evicted > 0 {
		res.Diagnostics = append(res.Diagnostics, decoder.Diagnostic{Where: "tcp", What: fmt.Sprintf("%d connections closed early: more than %d open at once (their exchanges are noted)", st.Evicted, asm.Options().MaxConns)})
	}
	if st := res.TCP; st.Expired > 0 {
		o := asm.Options()
		res.Diagnostics = append(res.Diagnostics, decoder.Diagnostic{Where: "tcp", What: fmt.Sprintf("%d times exchanges were emitted in progress: no reply within %v or %d MiB of capture (noted on each)", st.Expired, o.MaxHold, o.MaxHoldBytes>>20)})
	}
	if st := res.TCP; st.Failed > 0 {
		res.Diagnostics = append(res.Diagnostics, decoder.Diagnostic{Where: "tcp", Fatal: true, What: fmt.Sprintf("a decoder failed on %d connection%s (a flowmap bug: please report it with the capture); the exchanges it had in progress and its later bytes (%d) were not decoded; the first: %s", st.Failed, plural(st.Failed), st.FailedBytes, st.Failure)})
	}
	if st := res.TCP; st.ChangedConns > 0 {
		res.Diagnostics = append(res.Diagnostics, decoder.Diagnostic{Where: st.Changed, Fatal: true, What: fmt.Sprintf("%s: the decoding of %d connection%s stopped where its bytes were lost", capture.Changed, st.ChangedConns, plural(st.ChangedConns))})
	}
	for _, o := range res.TCP.Opaque {
		res.Diagnostics = append(res.Diagnostics, decoder.Diagnostic{Where: o.Protocol, What: fmt.Sprintf("%d connection%s (%d bytes) not decoded: %s", o.Conns, plural(o.Conns), o.Bytes, o.Why)})
	}
	if st := res.TCP; st.UnreadConns > 0 {
		res.Diagnostics = append(res.Diagnostics, decoder.Diagnostic{Where: "tcp", What: fmt.Sprintf("%d bytes on %d connection%s skipped: no message start found after them (they follow a gap, or are not that protocol)", st.UnreadBytes, st.UnreadConns, plural(st.UnreadConns))})
	}
	if st := res.TCP; st.Malformed > 0 {
		res.Diagnostics = append(res.Diagnostics, decoder.Diagnostic{Where: "ip", What: fmt.Sprintf("%d packets with IP or TCP headers that could not be decoded were skipped", st.Malformed)})
	}
	if st := res.TCP; st.Fragments > 0 {
		res.Diagnostics = append(res.Diagnostics, decoder.Diagnostic{Where: "ip", What: fmt.Sprintf("%d IP fragments not reassembled", st.Fragments)})
	}
	return res, nil
}

// orderer holds exchanges until no earlier one can still come.
type orderer struct {
	h    exHeap
	seq  int
	n    int
	last time.Time // start of the last exchange written
	out  func(*decoder.Exchange)
	// q, when set, takes the exchanges to out on another goroutine, in
	// batches of at most outBatch (batch is the one being filled).
	q     chan<- []*decoder.Exchange
	batch []*decoder.Exchange
}

// outBatch is how many exchanges go to the out stage at once, and
// outBatches how many batches may wait for it.
const (
	outBatch   = 64
	outBatches = 32
)

// flush hands the last batch to the out stage and ends it.
func (o *orderer) flush() {
	if o.q == nil {
		return
	}
	if len(o.batch) > 0 {
		o.q <- o.batch
	}
	close(o.q)
	o.q, o.batch = nil, nil
}

// item is an exchange in the heap with its start time kept beside it, as
// seconds and nanoseconds (capture times carry no monotonic reading, so
// comparing these is comparing the times): the comparisons then read the
// heap's own array, not every exchange it points to and its time.Time
// (following e for the start was most of the heap's CPU).
type item struct {
	e    *decoder.Exchange
	seq  int
	sec  int64
	nsec int32
}

func newItem(e *decoder.Exchange, seq int) item {
	st := e.Start()
	return item{e: e, seq: seq, sec: st.Unix(), nsec: int32(st.Nanosecond())}
}

// before reports whether it starts before the time of sec and nsec.
func (it *item) before(sec int64, nsec int32) bool {
	return it.sec < sec || it.sec == sec && it.nsec < nsec
}

// exHeap is a min-heap of items by (start, seq), typed by hand:
// container/heap boxes every item pushed and popped in an interface (two
// allocations per exchange).
type exHeap []item

func (h exHeap) less(i, j int) bool {
	a, b := &h[i], &h[j]
	if a.sec != b.sec || a.nsec != b.nsec {
		return a.before(b.sec, b.nsec)
	}
	return a.seq < b.seq
}

func (h *exHeap) push(it item) {
	*h = append(*h, it)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *exHeap) pop() item {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s[n] = item{}
	s = s[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && s.less(l, m) {
			m = l
		}
		if r := l + 1; r < n && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

func (o *orderer) add(e *decoder.Exchange) {
	o.seq++
	o.h.push(newItem(e, o.seq))
}

// release emits every exchange that starts before w (all when w is zero).
func (o *orderer) release(w time.Time) {
	wsec, wnsec := w.Unix(), int32(w.Nanosecond())
	for len(o.h) > 0 && (w.IsZero() || o.h[0].before(wsec, wnsec)) {
		it := o.h.pop()
		o.n++
		if st := it.e.Start(); st.Before(o.last) {
			// Only a message still arriving past the TCP layer's hold-back
			// limit (a slow upload) is no longer waited for.
			it.e.Notes = append(it.e.Notes, "out of start order: began before exchanges already written (arrived after the hold-back limit)")
		} else {
			o.last = st
		}
		if o.q == nil {
			o.out(it.e)
			continue
		}
		o.batch = append(o.batch, it.e)
		if len(o.batch) == outBatch {
			o.q <- o.batch
			o.batch = make([]*decoder.Exchange, 0, outBatch)
		}
	}
	if o.q != nil && len(o.batch) > 0 {
		// Hand out what is final now: output streams, and the out stage
		// works while this one goes on.
		o.q <- o.batch
		o.batch = make([]*decoder.Exchange, 0, outBatch)
	}
}

// packet is what the TCP stage needs of a captured packet.
type packet struct {
	ip    []byte // nil when not IP
	t     time.Time
	iface string
	read  int64 // capture bytes read when it was
}

// packetSource yields packets; the packet (and its ip) is valid until the
// next call. (Pointed to, not copied: a packet is nine words.)
type packetSource interface {
	next() (*packet, error)
}

// serialSource reads the capture on the calling goroutine.
type serialSource struct {
	r   *capture.Reader
	cur packet
}

func (s *serialSource) next() (*packet, error) {
	p, err := s.r.Next()
	if err != nil {
		return nil, err
	}
	s.cur = packet{ip: p.IP, t: p.Time, iface: p.Iface, read: s.r.BytesRead()}
	return &s.cur, nil
}

// readStage reads the capture on its own goroutine (parsing, merging,
// de-duplicating: about half the CPU of decoding) and hands packets over in
// batches. The packets' buffers are the reader's own (capture.Reader.Keep),
// handed back to it when their batch returns: at most readBatches batches
// of readBatchPackets packets or readBatchBytes bytes are out.
type readStage struct {
	full, free chan *readBatch
	done       chan struct{}
	cur        *readBatch
	i          int
	once       sync.Once
	// release, when set, hands a batch that next is done with back to
	// the reader once its packets are no longer read (else at once).
	release func(*readBatch)
	warm    byte // see warm
}

// warm reads the first bytes of each packet's headers, and returns them
// summed so that the reads are not optimised away. The packets were read
// from the file long before (the merge holds them) and on another core: on
// the TCP stage the first read of each packet's headers was a cache miss,
// one after the other, 4% of decode's CPU. Read in one loop of independent
// loads, the misses of a whole batch overlap, and the TCP stage then finds
// the headers in its cache.
func warm(pkts []packet) byte {
	var sum byte
	for i := range pkts {
		if ip := pkts[i].ip; len(ip) > 0 {
			// the IP header's first byte and the end of a TCP header
			// with options, which may be the next cache line
			sum += ip[0] + ip[min(len(ip), 64)-1]
		}
	}
	return sum
}

// Deeper queues let a stage run ahead while the other waits for the
// scheduler: 32 instead of 4 batches took decode's wall time on two cores
// from 0.73 to 0.63 of its CPU time (trace 0.78 to 0.73), for about 2 MiB
// more of packet buffers held. A batch goes back to the reader only once
// the decoders have read it, so the bytes out bound how far reading runs
// ahead of decoding: at 32 batches of 64 KiB, in a run of decode on the
// long capture (about 105 ms), the reader still waited 22 ms for a free
// batch and the TCP stage 16 ms for a full one (go tool trace
// -pprof=sync). 24 batches of 128 KiB (3 MiB out, half the handovers)
// took decode from 0.61-0.64 of its CPU time to 0.60-0.61 and trace from
// 0.72-0.74 to 0.70-0.71, and decode's peak RSS on the 1 GB capture from
// 49 to 53 MiB (32 of them: the same times, 59 MiB).
const (
	readBatches      = 24
	readBatchBytes   = 128 << 10
	readBatchPackets = 512
)

type readBatch struct {
	pkts  []packet
	holds []capture.Hold // on the reader's buffers behind pkts
	err   error          // after the packets, the reader's error (io.EOF at the end)
}

func newReadStage(r *capture.Reader) *readStage {
	s := &readStage{full: make(chan *readBatch, readBatches), free: make(chan *readBatch, readBatches), done: make(chan struct{})}
	for range readBatches {
		s.free <- &readBatch{pkts: make([]packet, 0, readBatchPackets), holds: make([]capture.Hold, 0, readBatchPackets)}
	}
	go s.run(r)
	return s
}

func (s *readStage) run(r *capture.Reader) {
	defer close(s.full)
	for {
		var b *readBatch
		select {
		case b = <-s.free:
		case <-s.done:
			return
		}
		for _, h := range b.holds {
			r.Reuse(h)
		}
		// Not cleared: the packets are overwritten, and what the old ones
		// point to is the reader's, reused anyway (clearing them was 1%
		// of trace's CPU, write barriers while the GC runs).
		b.pkts, b.holds, b.err = b.pkts[:0], b.holds[:0], nil
		for size := 0; len(b.pkts) < readBatchPackets && size < readBatchBytes; {
			p, err := r.Next()
			if err != nil {
				b.err = err
				break
			}
			if p.IP != nil {
				b.holds = append(b.holds, r.Keep())
				size += len(p.IP)
			}
			b.pkts = append(b.pkts, packet{ip: p.IP, t: p.Time, iface: p.Iface, read: r.BytesRead()})
		}
		select {
		case s.full <- b:
		case <-s.done:
			return
		}
		if b.err != nil {
			return
		}
	}
}

// next returns the next packet, valid (its ip too) until the next call.
func (s *readStage) next() (*packet, error) {
	for s.cur == nil || s.i == len(s.cur.pkts) {
		if s.cur != nil {
			if err := s.cur.err; err != nil {
				return nil, err
			}
			if s.release != nil {
				s.release(s.cur)
			} else {
				s.free <- s.cur // never blocks: free holds every batch
			}
		}
		b, ok := <-s.full
		if !ok {
			return nil, io.EOF // stopped
		}
		s.cur, s.i = b, 0
		s.warm = warm(b.pkts)
	}
	p := &s.cur.pkts[s.i]
	s.i++
	return p, nil
}

// stop ends the reading goroutine (when Run returns early, on panic) and
// waits for it: the capture.Reader is closed after.
func (s *readStage) stop() {
	s.once.Do(func() {
		close(s.done)
		for range s.full {
		}
	})
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
