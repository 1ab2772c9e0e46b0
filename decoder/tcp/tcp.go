// Package tcp turns IP packets into per-connection, in-order byte streams and
// hands each stream to the protocol decoder that recognises it.
//
// Reassembly is gopacket's reassembly package, driven by capture time only:
// out-of-order segments wait at most Options.Reorder of capture time for the
// bytes before them, idle connections are closed after Options.Idle, and
// nothing ever looks at the wall clock. Connections whose handshake was not
// captured are decoded too; lost bytes (capture drops, snaplen cuts) reach
// the decoder as Gap calls, never as invented data.
//
// Every cost is bounded by what is open, not by the capture: the oldest
// pending exchange is kept in a heap as decoders report it, an exchange
// waits for its reply at most Options.MaxHold (or MaxHoldBytes) before its
// decoder emits it in progress, at most Options.MaxConns connections are
// open, and a SYN with a new sequence number on a quiet 4-tuple starts a
// new connection instead of reading as billions of lost bytes.
package tcp

import (
	"encoding/binary"
	"net/netip"
	"sort"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/reassembly"

	"github.com/flowmap/flowmap/decoder"
)

// Options tune reassembly. The zero value is usable.
type Options struct {
	// Protocols are asked, in order, to recognise each connection.
	Protocols []decoder.Protocol
	// Reorder is how long (capture time) a segment waits for missing bytes
	// before them; after that the missing bytes are a gap. Default 1s.
	Reorder time.Duration
	// Idle closes connections without packets for this long. Default 10m.
	Idle time.Duration
	// MaxPagesPerConn caps the out-of-order bytes buffered per connection
	// (pages of ~1.9 KB); beyond it the oldest hole becomes a gap. Default 1024.
	MaxPagesPerConn int
	// MaxPagesTotal caps out-of-order bytes over all connections. Default
	// 8192 (~16 MB).
	MaxPagesTotal int
	// MaxHold and MaxHoldBytes cap how long an exchange may wait for its
	// reply, in capture time and in TCP payload bytes captured since it
	// began: past either, the decoder emits it in progress (see
	// decoder.StreamDecoder.Expire), so that one silent connection does
	// not hold every later exchange back. Defaults 1 minute and 64 MiB.
	MaxHold      time.Duration
	MaxHoldBytes int64
	// MaxConns caps the open connections; past it the least recently
	// active eighth are closed (their decoders emit what they have, with
	// a note). Default 65536.
	MaxConns int
	// Concurrent runs the decoders on a goroutine of their own, fed in
	// order by reassembly: the same calls, the same exchanges in the same
	// order, on two cores. emit and Sync's callbacks are then called on
	// that goroutine; Stats, Now and Pending may be read only after Close
	// (a Sync callback gets the time and Pending as arguments).
	Concurrent bool
	// PacketsKept, with Concurrent, promises that the bytes of each packet
	// stay unchanged until the callback of a Sync called after the packet
	// has run: the decoders then read a segment's payload in place instead
	// of a copy.
	PacketsKept bool
	// Mapped, when set, tells whether an address is in a capture file
	// mapped into memory, and which. A fault there is the file changing
	// while it is read, not a decoder's bug: the goroutine decoding asks
	// for a panic on such faults (debug.SetPanicOnFault), and the
	// connection whose bytes faulted is dropped and counted in Stats
	// (Changed), not as Failed.
	Mapped func(addr uintptr) (file string, ok bool)
}

// Stats counts what the TCP layer saw.
type Stats struct {
	Packets      int64 // TCP segments
	Conns        int   // connections seen
	Unknown      int   // connections no protocol recognised
	UnknownBytes int64 // payload bytes of those
	Gaps         int   // holes reported to decoders
	LostBytes    int64 // bytes in those holes (when known)
	Truncated    int64 // segments cut by the capture's snaplen
	Fragments    int64 // IP fragments (not reassembled)
	Malformed    int64 // IP/TCP headers that could not be decoded
	NotTCP       int64 // IP packets of other transports
	Evicted      int   // connections closed because MaxConns were open
	Reused       int   // connections ended by a new SYN on their 4-tuple
	Expired      int   // times a connection's exchanges were emitted in progress (MaxHold)
	// Failed counts connections whose decoder panicked (a flowmap bug):
	// contained, it cost them their exchanges in progress and later bytes.
	// Failure describes the first.
	Failed      int
	FailedBytes int64 // bytes those connections carried after the failure
	Failure     string
	// Opaque counts the connections of each protocol recognised but not
	// decoded (decoder.Protocol.Opaque: TLS), in order of the first.
	Opaque []Opaque
	// UnreadConns and UnreadBytes count bytes decoders skipped (not at a
	// message start) that no exchange's note mentions (decoder.Unread).
	UnreadConns int
	UnreadBytes int64
	// ChangedConns counts connections whose bytes faulted in a mapped
	// file (Options.Mapped): the file changed while it was read. Changed
	// names the first such file.
	ChangedConns int
	Changed      string
}

// Opaque is what was seen of one opaque protocol.
type Opaque struct {
	Protocol, Why string
	Conns         int
	Bytes         int64
}

// Assembler is the TCP stage. It is not safe for concurrent use.
type Assembler struct {
	opts      Options
	dec       *decoding // the decoders' side (decoding.go)
	w         *worker   // carries ops to dec's goroutine (Options.Concurrent)
	pool      *reassembly.StreamPool
	asm       *reassembly.Assembler
	tcp       layers.TCP
	hdr       [20]byte // the current segment's fixed header (decodeTCP)
	pad       []byte
	ctxs      []context // the rest of the current slab (newContext)
	now       time.Time
	nextFlush time.Time // a quarter of Reorder after the last flush: the next is due
	nextID    int
	open      map[*stream]struct{}
	byTuple   map[connKey]*stream
	lru       lruList    // open streams, least recently active first
	bytes     int64      // TCP payload bytes seen
	fake      layers.TCP // segments made up to end a reused 4-tuple
	kept      bool       // the current packet's payload may be read in place (Options.PacketsKept)
	payload   []byte     // the current packet's TCP payload
	t         time.Time  // the current packet's capture time
	ooo       time.Time  // oldest segment that may wait in reassembly, zero when none
	lastOOO   time.Time  // newest segment that arrived ahead of its stream
	stats     Stats
}

// connKey is a connection's addresses and ports as its first packet had
// them.
type connKey struct{ net, tr gopacket.Flow }

func (k connKey) reverse() connKey { return connKey{k.net.Reverse(), k.tr.Reverse()} }

// New returns an Assembler that reports exchanges to emit.
func New(opts Options, emit decoder.Emit) *Assembler {
	if opts.Reorder <= 0 {
		opts.Reorder = time.Second
	}
	if opts.Idle <= 0 {
		opts.Idle = 10 * time.Minute
	}
	if opts.MaxPagesPerConn <= 0 {
		opts.MaxPagesPerConn = 1024
	}
	if opts.MaxPagesTotal <= 0 {
		opts.MaxPagesTotal = 8192
	}
	if opts.MaxHold <= 0 {
		opts.MaxHold = time.Minute
	}
	if opts.MaxHoldBytes <= 0 {
		opts.MaxHoldBytes = 64 << 20
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 65536
	}
	a := &Assembler{opts: opts, open: make(map[*stream]struct{}), byTuple: make(map[connKey]*stream)}
	a.dec = newDecoding(&a.opts, emit)
	if opts.Concurrent {
		a.w = newWorker(a.dec)
	}
	a.pool = reassembly.NewStreamPool(factory{a})
	a.asm = reassembly.NewAssembler(a.pool)
	a.asm.MaxBufferedPagesPerConnection = opts.MaxPagesPerConn
	a.asm.MaxBufferedPagesTotal = opts.MaxPagesTotal
	return a
}

// Options returns the options in use, defaults filled in.
func (a *Assembler) Options() Options { return a.opts }

// Stats returns the counters so far (with Options.Concurrent, only after
// Close: both sides count).
func (a *Assembler) Stats() Stats {
	st, d := a.stats, a.dec.stats
	st.Unknown, st.UnknownBytes, st.Expired, st.Evicted = d.Unknown, d.UnknownBytes, d.Expired, d.Evicted
	st.Failed, st.FailedBytes, st.Failure = d.Failed, d.FailedBytes, d.Failure
	st.Opaque = append([]Opaque(nil), d.Opaque...)
	st.UnreadConns, st.UnreadBytes = d.UnreadConns, d.UnreadBytes
	st.ChangedConns, st.Changed = d.ChangedConns, d.Changed
	return st
}

// do hands an op to the decoding side: carried out now, or queued to its
// goroutine.
func (a *Assembler) do(o op) {
	if a.w != nil {
		a.w.add(&o)
		return
	}
	a.dec.execSafe(&o)
}

// Sync calls fn on the decoding side once everything fed before has been
// decoded, with the newest capture time then and Pending at that point
// (with Options.Concurrent, on the decoders' goroutine, later).
func (a *Assembler) Sync(fn func(now, pending time.Time)) {
	a.do(op{kind: opSync, t: a.now, fn: fn})
}

// context carries a packet's capture data through reassembly; queued pages
// keep it, so such a packet gets its own (see newContext). It holds the time only, not a
// whole gopacket.CaptureInfo (lengths, interface index, ancillary data:
// nothing here reads them), which halves it.
type context struct {
	t     time.Time
	iface string
	// lost is the tail of the segment the capture did not keep (snaplen):
	// the payload was padded to its real length and these bytes are a gap.
	lostFrom, lostLen int
}

func (c *context) GetCaptureInfo() gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: c.t}
}

// newContext returns the context for the packet being assembled: the same
// one packet after packet, until reassembly keeps one with a segment it
// queues (retainContext); the next packet then gets the next of a slab.
// (A context for every packet was 12% of decode's allocation on the long
// capture, and as many cache lines written fresh.)
func (a *Assembler) newContext() *context {
	if len(a.ctxs) == 0 {
		a.ctxs = make([]context, 64)
	}
	return &a.ctxs[0]
}

// retainContext leaves c, when it is the current packet's context, to
// reassembly, which queues it with the packet's bytes.
func (a *Assembler) retainContext(c *context) {
	if len(a.ctxs) > 0 && c == &a.ctxs[0] {
		a.ctxs = a.ctxs[1:]
	}
}

// Packet feeds one IP packet (IPv4 or IPv6 header onward) captured at t on
// iface. ip may be shorter than the packet on the wire (snaplen); it is not
// kept after the call, unless Options.PacketsKept (then until a later
// Sync's callback).
func (a *Assembler) Packet(ip []byte, t time.Time, iface string) {
	if t.After(a.now) {
		a.now = t
	}
	var src, dst []byte
	var et gopacket.EndpointType
	var payload []byte
	declared := -1 // transport bytes on the wire, when the IP header says
	if len(ip) < 1 {
		a.stats.Malformed++
		return
	}
	switch ip[0] >> 4 {
	case 4:
		if len(ip) < 20 {
			a.stats.Malformed++
			return
		}
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:4]))
		if ihl < 20 || len(ip) < ihl {
			a.stats.Malformed++
			return
		}
		if ip[9] != 6 {
			a.stats.NotTCP++
			return
		}
		if frag := binary.BigEndian.Uint16(ip[6:8]); frag&0x3fff != 0 {
			a.stats.Fragments++
			return
		}
		if total >= ihl {
			if len(ip) > total {
				ip = ip[:total] // Ethernet padding
			}
			declared = total - ihl
		} // total 0: TSO on the capturing host; trust the capture
		src, dst, et = ip[12:16], ip[16:20], layers.EndpointIPv4
		payload = ip[ihl:]
	case 6:
		if len(ip) < 40 {
			a.stats.Malformed++
			return
		}
		plen := int(binary.BigEndian.Uint16(ip[4:6]))
		if plen > 0 && len(ip) > 40+plen {
			ip = ip[:40+plen]
		}
		next, off := ip[6], 40
		for next != 6 {
			switch next {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if len(ip) < off+2 {
					a.stats.Malformed++
					return
				}
				next, off = ip[off], off+(int(ip[off+1])+1)*8
			case 44:
				a.stats.Fragments++
				return
			default:
				a.stats.NotTCP++
				return
			}
			if off > len(ip) {
				a.stats.Malformed++
				return
			}
		}
		if plen > 0 {
			declared = plen - (off - 40)
		}
		src, dst, et = ip[8:24], ip[24:40], layers.EndpointIPv6
		payload = ip[off:]
	default:
		a.stats.Malformed++
		return
	}
	if !a.decodeTCP(payload) {
		a.stats.Malformed++
		return
	}
	a.stats.Packets++
	a.bytes += int64(len(a.tcp.Payload))
	ctx := a.newContext()
	*ctx = context{t: t, iface: iface}
	a.kept = a.opts.PacketsKept
	a.payload, a.t = a.tcp.Payload, t
	hdr := int(a.tcp.DataOffset) * 4
	if want := declared - hdr; declared >= 0 && want > len(a.tcp.Payload) && want <= 65535 {
		// Snaplen cut: pad to the real length so sequence numbers stay
		// right, and remember which bytes are invented.
		a.stats.Truncated++
		got := len(a.tcp.Payload)
		if cap(a.pad) < want {
			a.pad = make([]byte, want)
		}
		p := a.pad[:want]
		copy(p, a.tcp.Payload)
		clear(p[got:])
		a.tcp.Payload = p
		a.kept = false // a.pad is the next packet's too
		ctx.lostFrom, ctx.lostLen = got, want-got
	}
	flow := gopacket.NewFlow(et, src, dst)
	if a.tcp.SYN {
		a.syn(connKey{flow, a.tcp.TransportFlow()})
	}
	a.asm.AssembleWithContext(flow, &a.tcp, ctx)
	if len(a.open) > a.opts.MaxConns {
		a.evict()
	}
	if !a.now.Before(a.nextFlush) {
		a.nextFlush = a.now.Add(a.opts.Reorder / 4)
		a.flush()
		a.do(op{kind: opExpire, t: a.now, bytes: a.bytes})
	}
}

// decodeTCP fills a.tcp from seg, a TCP header and its payload, and
// reports whether the header is whole. The options are not decoded:
// nothing here or in reassembly reads them, and gopacket's parsing of them
// (a TCPOption appended per option, three on most segments) was two
// thirds of the header's decoding. gopacket decodes the fixed 20 bytes,
// copied with a data offset of 5 (a.hdr, where its port slices point until
// the next packet); the real offset, header and payload are set after.
// An option gopacket cannot follow never made the segment malformed (it
// stops reading options there), so the segments accepted are the same.
func (a *Assembler) decodeTCP(seg []byte) bool {
	if len(seg) < 20 {
		return false
	}
	off := int(seg[12]>>4) * 4
	if off < 20 || off > len(seg) {
		return false
	}
	copy(a.hdr[:], seg[:20])
	a.hdr[12] = 5<<4 | seg[12]&0x0f
	if a.tcp.DecodeFromBytes(a.hdr[:], gopacket.NilDecodeFeedback) != nil {
		return false
	}
	a.tcp.DataOffset = seg[12] >> 4
	a.tcp.Contents, a.tcp.Payload = seg[:off:off], seg[off:]
	return true
}

// flush pushes out-of-order segments older than Options.Reorder as gaps
// and closes connections idle for Options.Idle. Reassembly's flush visits
// every connection, so it runs only when one of the two may have work:
// with many connections open and nothing to flush, calling it every
// quarter of Reorder made the cost grow with open connections times
// capture time.
func (a *Assembler) flush() {
	t, tc := a.now.Add(-a.opts.Reorder), a.now.Add(-a.opts.Idle)
	pages := !a.ooo.IsZero() && a.ooo.Before(t)
	idle := a.lru.head != nil && a.lru.head.last.Before(tc)
	if !pages && !idle {
		return
	}
	a.asm.FlushWithOptions(reassembly.FlushOptions{T: t, TC: tc})
	if pages {
		// Segments queued after t may still wait; none did when the last
		// one that could be queued is older.
		if a.lastOOO.Before(t) {
			a.ooo = time.Time{}
		} else {
			a.ooo = t
		}
	}
}

// synWindow is how far from a connection's next expected byte a SYN's
// sequence number may be and still belong to it.
const synWindow = 1 << 20

// syn ends the connection on k's 4-tuple when this SYN starts a new one:
// the old one is quiet (nothing for Options.Reorder) or closing, and the
// SYN is neither its own retransmitted nor inside its window. Reassembly
// would otherwise take the SYN for a stray one and the new connection's
// bytes for a gap of billions of bytes.
func (a *Assembler) syn(k connKey) {
	s, d := a.byTuple[k], reassembly.TCPDirClientToServer
	if s == nil {
		if s, d = a.byTuple[k.reverse()], reassembly.TCPDirServerToClient; s == nil {
			return
		}
	}
	dir := s.dir(d)
	h := &s.halves[dir]
	isn := reassembly.Sequence(a.tcp.Seq)
	quiet := a.now.Sub(s.last) >= a.opts.Reorder || s.halves[0].ended || s.halves[1].ended
	if !quiet || !h.started || h.synSeen && h.isn == isn {
		return
	}
	if diff := h.seq.Difference(isn.Add(1)); diff > -synWindow && diff < synWindow {
		return
	}
	// Close both halves in reassembly with a reset at the next expected
	// byte; the stream then completes and leaves the pool.
	a.stats.Reused++
	s.reused = true
	for _, rd := range []reassembly.TCPFlowDirection{reassembly.TCPDirClientToServer, reassembly.TCPDirServerToClient} {
		fk := s.key
		if rd == reassembly.TCPDirServerToClient {
			fk = fk.reverse()
		}
		var hdr [20]byte
		copy(hdr[0:2], fk.tr.Src().Raw())
		copy(hdr[2:4], fk.tr.Dst().Raw())
		if hh := &s.halves[s.dir(rd)]; hh.started {
			binary.BigEndian.PutUint32(hdr[4:8], uint32(hh.seq))
		}
		hdr[12], hdr[13] = 5<<4, 0x04 // RST
		if a.fake.DecodeFromBytes(hdr[:], gopacket.NilDecodeFeedback) == nil {
			a.asm.AssembleWithContext(fk.net, &a.fake, &context{t: s.last})
		}
	}
	s.finish(s.last) // in case reassembly still holds it
	if a.byTuple[s.key] == s {
		delete(a.byTuple, s.key)
	}
}

// evict closes the least recently active eighth of MaxConns connections.
func (a *Assembler) evict() {
	n := len(a.open) - (a.opts.MaxConns - a.opts.MaxConns/8)
	last := a.lru.head
	for i := 1; i < n && last != nil && last.next != nil; i++ {
		last = last.next
	}
	if last == nil {
		return
	}
	cut := last.last.Add(1)
	for s := a.lru.head; s != nil && s.last.Before(cut); s = s.next {
		s.evicted = true
	}
	a.asm.FlushWithOptions(reassembly.FlushOptions{T: cut, TC: cut})
	for s := a.lru.head; s != nil && s.last.Before(cut); {
		next := s.next
		s.finish(s.last) // should reassembly have kept one
		s = next
	}
}

// lruList links the open streams by last activity.
type lruList struct{ head, tail *stream }

func (l *lruList) remove(s *stream) {
	if s.prev != nil {
		s.prev.next = s.next
	} else if l.head == s {
		l.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else if l.tail == s {
		l.tail = s.prev
	}
	s.prev, s.next = nil, nil
}

func (l *lruList) pushBack(s *stream) {
	s.prev, s.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = s
	} else {
		l.head = s
	}
	l.tail = s
}

// Close ends every connection still open (end of capture): decoders emit
// what they have, marked truncated where incomplete. With
// Options.Concurrent it returns once the decoders are done.
func (a *Assembler) Close() {
	a.asm.FlushAll()
	// Streams whose halves never closed in reassembly's view.
	rest := make([]*stream, 0, len(a.open))
	for s := range a.open {
		rest = append(rest, s)
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i].conn.ID < rest[j].conn.ID })
	for _, s := range rest {
		s.finish(a.now)
	}
	if a.w != nil {
		a.w.close()
		a.w = nil
	}
}

// Pending is the start of the oldest exchange a decoder has begun but not
// emitted, or zero. Exchanges starting later than it may be emitted first.
// It costs nothing: the streams are kept ordered by it as they change. It
// is never older than Options.MaxHold (or MaxHoldBytes) before Now, give
// or take a quarter of Options.Reorder, except for a message that is still
// arriving after that long (a slow upload): that one is no longer waited
// for and may be emitted after exchanges that began later. With
// Options.Concurrent, call it only after Close: a Sync callback gets it as
// its second argument.
func (a *Assembler) Pending() time.Time { return a.dec.oldest() }

// Now is the newest capture time seen (with Options.Concurrent, a Sync
// callback gets the time of its Sync as its first argument).
func (a *Assembler) Now() time.Time { return a.now }

type factory struct{ a *Assembler }

// wellKnown reports whether port is a server port: one a protocol claims, or
// a well-known OpenStack or system port.
func (a *Assembler) wellKnown(port uint16) bool {
	for _, p := range a.opts.Protocols {
		if p.Port != nil && p.Port(port) {
			return true
		}
	}
	return port < 1024
}

func (f factory) New(netFlow, tcpFlow gopacket.Flow, t *layers.TCP, ac reassembly.AssemblerContext) reassembly.Stream {
	a := f.a
	a.nextID++
	a.stats.Conns++
	srcIP, _ := netip.AddrFromSlice(netFlow.Src().Raw())
	dstIP, _ := netip.AddrFromSlice(netFlow.Dst().Raw())
	src := netip.AddrPortFrom(srcIP, uint16(t.SrcPort))
	dst := netip.AddrPortFrom(dstIP, uint16(t.DstPort))
	ctx, _ := ac.(*context)
	c := &decoder.Conn{ID: a.nextID, First: ac.GetCaptureInfo().Timestamp}
	if ctx != nil {
		c.Iface = ctx.iface
	}
	// The first packet's sender is reassembly's "client". Ours is the side
	// that sent the SYN or, mid-stream, the side not on a server port.
	flip := false
	switch {
	case t.SYN && !t.ACK:
		c.SawSYN = true
	case t.SYN && t.ACK:
		c.SawSYN, flip = true, true
	default:
		sk, dk := a.wellKnown(uint16(t.SrcPort)), a.wellKnown(uint16(t.DstPort))
		if sk && !dk || sk == dk && t.SrcPort < t.DstPort {
			flip = true
		}
	}
	if flip {
		src, dst = dst, src
	}
	c.Client, c.Server = src, dst
	s := &stream{a: a, conn: c, d: &decStream{conn: c, hidx: -1}, flip: flip, key: connKey{netFlow, tcpFlow}, last: c.First}
	a.open[s] = struct{}{}
	a.byTuple[s.key] = s
	a.lru.pushBack(s)
	return s
}

// half is one direction's reassembly bookkeeping.
type half struct {
	seq     reassembly.Sequence // sequence number of the next byte to deliver
	started bool
	lost    []lostRange // snaplen cuts ahead of seq
	ended   bool
	synSeen bool                // a SYN was seen, with sequence number isn
	isn     reassembly.Sequence // (to tell its retransmission from a new connection)
}

type lostRange struct {
	from reassembly.Sequence
	n    int
}

// stream is a connection as reassembly sees it; d is its decoding side.
type stream struct {
	a      *Assembler
	conn   *decoder.Conn
	d      *decStream
	flip   bool
	halves [2]half // by decoder.Dir
	done   bool

	key        connKey
	last       time.Time // capture time of the newest packet
	prev, next *stream   // Assembler.lru
	evicted    bool      // closed to keep MaxConns
	reused     bool      // ended by a new connection on its 4-tuple
}

func (s *stream) dir(d reassembly.TCPFlowDirection) decoder.Dir {
	if (d == reassembly.TCPDirClientToServer) != s.flip {
		return decoder.ClientToServer
	}
	return decoder.ServerToClient
}

func (s *stream) Accept(t *layers.TCP, ci gopacket.CaptureInfo, d reassembly.TCPFlowDirection, nextSeq reassembly.Sequence, start *bool, ac reassembly.AssemblerContext) bool {
	s.accept(t, ci, d, nextSeq, start, ac)
	// Reassembly queues the segment's bytes, and its context with them,
	// when they are ahead of the stream or the stream has not started
	// (gopacket's AssembleWithContext and handleBytes): that context is
	// no longer the next packet's.
	seq := reassembly.Sequence(t.Seq)
	if len(t.Payload) > 0 && (nextSeq >= 0 && nextSeq.Difference(seq) > 0 || nextSeq < 0 && !t.SYN && !*start) {
		if ctx, ok := ac.(*context); ok {
			s.a.retainContext(ctx)
		}
	}
	return true
}

func (s *stream) accept(t *layers.TCP, ci gopacket.CaptureInfo, d reassembly.TCPFlowDirection, nextSeq reassembly.Sequence, start *bool, ac reassembly.AssemblerContext) {
	if s.done {
		return
	}
	h := &s.halves[s.dir(d)]
	if ci.Timestamp.After(s.last) {
		s.last = ci.Timestamp
	}
	if s.next != nil { // move to the back of the LRU list
		s.a.lru.remove(s)
		s.a.lru.pushBack(s)
	}
	if t.SYN && !h.synSeen {
		h.synSeen, h.isn = true, reassembly.Sequence(t.Seq)
	}
	if nextSeq >= 0 && len(t.Payload) > 0 && nextSeq.Difference(reassembly.Sequence(t.Seq)) > 0 {
		// Ahead of the stream: reassembly queues it until the bytes
		// before it come or a flush gives up on them.
		a := s.a
		if a.ooo.IsZero() {
			a.ooo = ci.Timestamp
		}
		a.lastOOO = ci.Timestamp
	}
	if !h.started {
		// Start at the first segment seen in this direction, with or
		// without a SYN: captures often begin mid-connection.
		if !t.SYN {
			*start = true
		}
		h.started = true
		h.seq = reassembly.Sequence(t.Seq)
		if t.SYN {
			h.seq = h.seq.Add(1)
		}
	}
	if ctx, ok := ac.(*context); ok && ctx.lostLen > 0 {
		h.lost = append(h.lost, lostRange{reassembly.Sequence(t.Seq).Add(ctx.lostFrom), ctx.lostLen})
	}
}

func (s *stream) ReassembledSG(sg reassembly.ScatterGather, ac reassembly.AssemblerContext) {
	d, _, end, skip := sg.Info()
	dir := s.dir(d)
	h := &s.halves[dir]
	n, _ := sg.Lengths()
	t := s.a.now
	var data []byte
	current := false // data is bytes of the current packet's payload
	if n > 0 {
		data = sg.Fetch(n)
		current = within(data, s.a.payload)
		if current {
			// Fetch returned the first chunk in place, and it is the
			// packet being assembled: the time is that packet's, known
			// without asking reassembly (its CaptureInfo walks the chunks
			// and builds a whole gopacket.CaptureInfo: 2% of decode's CPU).
			t = s.a.t
		} else {
			t = sg.CaptureInfo(0).Timestamp
		}
	} else if ac != nil {
		t = ac.GetCaptureInfo().Timestamp
	}
	if skip > 0 {
		s.gap(dir, skip, t)
		h.seq = h.seq.Add(skip)
	}
	if n > 0 {
		// Bytes of the current packet's payload are read in place; any
		// other (reassembly's pages: a queued segment, even one whose
		// page counts as "a packet" in its stats) are copied.
		kept := s.a.kept && s.a.w != nil && current
		s.deliver(dir, data, t, kept)
	}
	if end && !h.ended {
		h.ended = true
		s.a.do(op{kind: opEnd, s: s.d, dir: dir, t: t})
	}
	s.a.do(op{kind: opUpdate, s: s.d})
}

// within reports whether b lies inside p's bytes (a sub-slice of it: the
// same array, same end of capacity).
func within(b, p []byte) bool {
	if len(b) == 0 || len(p) == 0 {
		return false
	}
	k := cap(p) - cap(b)
	return k >= 0 && k+len(b) <= len(p) && &p[k] == &b[0]
}

// deliver passes data (which starts at h.seq) on, turning the padded
// snaplen cuts inside it into gaps.
func (s *stream) deliver(dir decoder.Dir, data []byte, t time.Time, kept bool) {
	h := &s.halves[dir]
	for len(data) > 0 {
		// Drop cuts wholly behind us.
		for len(h.lost) > 0 && h.lost[0].from.Add(h.lost[0].n).Difference(h.seq) >= 0 {
			h.lost = h.lost[1:]
		}
		if len(h.lost) == 0 {
			break
		}
		off := h.seq.Difference(h.lost[0].from) // bytes before the cut
		if off >= len(data) {
			break
		}
		if off > 0 {
			s.data(dir, data[:off], t, kept)
			data = data[off:]
			h.seq = h.seq.Add(off)
		}
		// Inside the cut (off may be negative when we start within it).
		skip := h.seq.Difference(h.lost[0].from.Add(h.lost[0].n))
		if skip > len(data) {
			skip = len(data)
		}
		s.gap(dir, skip, t)
		data = data[skip:]
		h.seq = h.seq.Add(skip)
	}
	if len(data) > 0 {
		s.data(dir, data, t, kept)
		h.seq = h.seq.Add(len(data))
	}
	if len(h.lost) == 0 {
		h.lost = h.lost[:0:0] // let the backing array go
	}
}

// data hands b over; kept: b stays as it is until a later Sync's callback
// (Options.PacketsKept).
func (s *stream) data(dir decoder.Dir, b []byte, t time.Time, kept bool) {
	s.a.do(op{kind: opData, s: s.d, dir: dir, data: b, t: t, kept: kept})
}

func (s *stream) gap(dir decoder.Dir, n int, t time.Time) {
	s.a.stats.Gaps++
	s.a.stats.LostBytes += int64(n)
	s.a.do(op{kind: opGap, s: s.d, dir: dir, n: n, t: t})
}

func (s *stream) ReassemblyComplete(ac reassembly.AssemblerContext) bool {
	t := s.a.now
	if ac != nil {
		t = ac.GetCaptureInfo().Timestamp
	}
	s.finish(t)
	return true
}

// finish ends the connection once: the decoding side closes its decoder.
func (s *stream) finish(t time.Time) {
	if s.done {
		return
	}
	s.done = true
	a := s.a
	delete(a.open, s)
	if a.byTuple[s.key] == s {
		delete(a.byTuple, s.key)
	}
	a.lru.remove(s)
	a.do(op{kind: opFinish, s: s.d, t: t, now: a.now, evicted: s.evicted})
}
