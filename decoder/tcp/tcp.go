// Package tcp turns IP packets into per-connection, in-order byte streams and
// hands each stream to the protocol decoder that recognises it.
//
// Reassembly is flowmap's own (reassembly.go, with gopacket's rules),
// driven by capture time only: out-of-order segments wait at most
// Options.Reorder of capture time for the bytes before them, idle
// connections are closed after Options.Idle, and nothing ever looks at the
// wall clock. Connections whose handshake was not captured are decoded
// too; lost bytes (capture drops, snaplen cuts) reach the decoder as Gap
// calls, never as invented data.
//
// Every cost is bounded by what is open, not by the capture: the oldest
// pending exchange is kept in a heap as decoders report it, an exchange
// waits for its reply at most Options.MaxHold (or MaxHoldBytes) before its
// decoder emits it in progress, at most Options.MaxConns connections are
// open, and a SYN with a new sequence number on a quiet 4-tuple starts a
// new connection instead of reading as billions of lost bytes.
package tcp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"time"

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
	// MaxPagesPerConn bounds the out-of-order bytes buffered per
	// direction of a connection (pages of 1900 bytes): a segment queued
	// past it gives the oldest hole up as a gap (one hole per segment,
	// gopacket's rule, so a burst of small holes can leave more queued
	// until Reorder of capture time has passed). Default 1024.
	MaxPagesPerConn int
	// MaxPagesTotal is the same over all connections. Default 8192 (~16
	// MB).
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
	// Fault, when set, tells whether a recovered panic is a memory fault
	// in a capture file mapped into memory, and which
	// (capture.Reader.Fault): the file changing while it is read, not a
	// decoder's bug. The goroutine decoding then asks for a panic on such
	// faults (debug.SetPanicOnFault), and the connection whose bytes
	// faulted is dropped and counted in Stats (Changed), not as Failed.
	Fault func(x any) (file string, ok bool)
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
	// file (Options.Fault): the file changed while it was read. Changed
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
	tcp       tcpHeader // the current segment's header
	pad       []byte
	now       time.Time
	nextFlush time.Time // a quarter of Reorder after the last flush: the next is due
	nextID    int
	conns     map[connKey]*stream // the open connections
	lru       lruList             // the same, least recently active first
	bytes     int64               // TCP payload bytes seen
	kept      bool                // the current packet's payload may be read in place (Options.PacketsKept)
	pages     int                 // out-of-order pages queued (reassembly.go)
	free      []*page             // pages to reuse
	scratch   []byte              // bytes of a run of pages, joined
	ooo       time.Time           // oldest segment that may wait in reassembly, zero when none
	lastOOO   time.Time           // newest segment that arrived ahead of its stream
	stats     Stats
}

// connKey is a connection's 4-tuple, the same for both directions: its
// ends in order (the lower address, then port, first). IPv4 addresses take
// the first 4 bytes.
type connKey struct {
	lo, hi   [16]byte
	plo, phi uint16
	v6       bool
}

// tcpHeader is the fixed part of a TCP header.
type tcpHeader struct {
	src, dst uint16
	seq      uint32
	off      uint8 // data offset, in 32-bit words
	flags    uint8
}

// TCP flags.
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagACK = 0x10
)

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
	a := &Assembler{opts: opts, conns: make(map[connKey]*stream)}
	a.dec = newDecoding(&a.opts, emit)
	if opts.Concurrent {
		a.w = newWorker(a.dec)
	}
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

// Packet feeds one IP packet (IPv4 or IPv6 header onward) captured at t on
// iface. ip may be shorter than the packet on the wire (snaplen); it is not
// kept after the call, unless Options.PacketsKept (then until a later
// Sync's callback).
func (a *Assembler) Packet(ip []byte, t time.Time, iface string) {
	if t.After(a.now) {
		a.now = t
	}
	var src, dst []byte
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
		src, dst = ip[12:16], ip[16:20]
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
		src, dst = ip[8:24], ip[24:40]
		payload = ip[off:]
	default:
		a.stats.Malformed++
		return
	}
	payload, ok := a.decodeTCP(payload)
	if !ok {
		a.stats.Malformed++
		return
	}
	a.stats.Packets++
	a.bytes += int64(len(payload))
	a.kept = a.opts.PacketsKept
	lostFrom, lostLen := 0, 0
	if want := declared - int(a.tcp.off)*4; declared >= 0 && want > len(payload) && want <= 65535 {
		// Snaplen cut: pad to the real length so sequence numbers stay
		// right, and remember which bytes are invented.
		a.stats.Truncated++
		got := len(payload)
		if cap(a.pad) < want {
			a.pad = make([]byte, want)
		}
		p := a.pad[:want]
		copy(p, payload)
		clear(p[got:])
		payload = p
		a.kept = false // a.pad is the next packet's too
		lostFrom, lostLen = got, want-got
	}
	k, fromLow := tupleKey(src, dst, a.tcp.src, a.tcp.dst)
	if a.tcp.flags&flagSYN != 0 {
		a.syn(k, fromLow)
	}
	a.segment(k, fromLow, &a.tcp, payload, t, iface, lostFrom, lostLen)
	if len(a.conns) > a.opts.MaxConns {
		a.evict()
	}
	if !a.now.Before(a.nextFlush) {
		a.nextFlush = a.now.Add(a.opts.Reorder / 4)
		a.flush()
		a.do(op{kind: opExpire, t: a.now, bytes: a.bytes})
	}
}

// tupleKey is the key of the connection of a segment from src:sp to
// dst:dp (raw IPv4 or IPv6 addresses), and whether src:sp is its low end.
func tupleKey(src, dst []byte, sp, dp uint16) (k connKey, fromLow bool) {
	k.v6 = len(src) == 16
	c := bytes.Compare(src, dst)
	fromLow = c < 0 || c == 0 && sp <= dp
	if fromLow {
		copy(k.lo[:], src)
		copy(k.hi[:], dst)
		k.plo, k.phi = sp, dp
	} else {
		copy(k.lo[:], dst)
		copy(k.hi[:], src)
		k.plo, k.phi = dp, sp
	}
	return k, fromLow
}

// ends are k's ends seen from one of them: its low end's when fromLow.
func (k *connKey) ends(fromLow bool) (src, dst netip.AddrPort) {
	lo, hi := netip.AddrFrom16(k.lo), netip.AddrFrom16(k.hi)
	if !k.v6 {
		lo, hi = netip.AddrFrom4([4]byte(k.lo[:4])), netip.AddrFrom4([4]byte(k.hi[:4]))
	}
	src, dst = netip.AddrPortFrom(lo, k.plo), netip.AddrPortFrom(hi, k.phi)
	if !fromLow {
		src, dst = dst, src
	}
	return src, dst
}

// decodeTCP reads the fixed header of seg, a TCP header and its payload,
// into a.tcp, and returns the payload, or false when the header is not
// whole. The options are not read: nothing here needs them.
func (a *Assembler) decodeTCP(seg []byte) ([]byte, bool) {
	if len(seg) < 20 {
		return nil, false
	}
	off := int(seg[12]>>4) * 4
	if off < 20 || off > len(seg) {
		return nil, false
	}
	a.tcp = tcpHeader{
		src:   binary.BigEndian.Uint16(seg[0:2]),
		dst:   binary.BigEndian.Uint16(seg[2:4]),
		seq:   binary.BigEndian.Uint32(seg[4:8]),
		off:   seg[12] >> 4,
		flags: seg[13],
	}
	return seg[off:], true
}

// flush gives up on holes before out-of-order segments older than
// Options.Reorder and closes connections idle for Options.Idle. That
// visits every connection, so it runs only when one of the two may have
// work: with many connections open and nothing to flush, doing it every
// quarter of Reorder made the cost grow with open connections times
// capture time.
func (a *Assembler) flush() {
	t, tc := a.now.Add(-a.opts.Reorder), a.now.Add(-a.opts.Idle)
	pages := !a.ooo.IsZero() && a.ooo.Before(t)
	idle := a.lru.head != nil && a.lru.head.last.Before(tc)
	if !pages && !idle {
		return
	}
	a.flushOlder(t, tc)
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

// syn ends the connection on k's 4-tuple when the current segment, a SYN
// (from k's low end when fromLow), starts a new one: the old one is quiet
// (nothing for Options.Reorder) or closing, and the SYN is neither its own
// retransmitted nor inside its window. Reassembly would otherwise take the
// SYN for a stray one (a SYN on a started direction is ignored) and the
// new connection's bytes for a gap of billions of bytes.
func (a *Assembler) syn(k connKey, fromLow bool) {
	s := a.conns[k]
	if s == nil {
		return
	}
	h := &s.halves[s.dir(fromLow == s.fromLow)]
	isn := seq(a.tcp.seq)
	quiet := a.now.Sub(s.last) >= a.opts.Reorder || s.halves[0].ended || s.halves[1].ended
	if !quiet || !h.started || h.synSeen && h.isn == isn {
		return
	}
	if diff := h.seq.to(isn.add(1)); diff > -synWindow && diff < synWindow {
		return
	}
	a.stats.Reused++
	// Reset both directions at their next byte, the first packet's
	// direction first, as segments captured when it was last active: each
	// ends its direction, and the second the connection. When the second
	// direction had closed before, the first reset finishes the connection
	// and there is nothing left to reset. (The reset packets flowmap gave
	// gopacket's reassembly went on to the second, which, finding no
	// connection, opened one on the 4-tuple with that direction closed:
	// the new SYN joined it and the new connection's server side was lost.)
	for _, fwd := range [2]bool{true, false} {
		if s.done {
			break
		}
		low := fwd == s.fromLow
		src, dst := k.ends(low)
		hdr := tcpHeader{src: src.Port(), dst: dst.Port(), off: 5, flags: flagRST}
		if hh := &s.halves[s.dir(fwd)]; hh.started {
			hdr.seq = uint32(hh.seq)
		}
		a.segment(k, low, &hdr, nil, s.last, "", 0, 0)
	}
	// A reset is ignored when it is not at reassembly's next byte, which
	// differs from flowmap's only after bytes that followed a FIN or
	// sequence numbers a quarter of the space apart. The connection is
	// finished and leaves the table anyway: the new SYN starts one of its
	// own. (gopacket's pool kept such a connection, and the new
	// connection's segments went to its finished decoder.)
	a.finish(s, s.last)
}

// evict closes the least recently active eighth of MaxConns connections.
func (a *Assembler) evict() {
	n := len(a.conns) - (a.opts.MaxConns - a.opts.MaxConns/8)
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
	a.flushOlder(cut, cut)
	for s := a.lru.head; s != nil && s.last.Before(cut); {
		next := s.next
		a.finish(s, s.last) // should one not have closed
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
	a.flushAll()
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

// newStream opens the connection on k whose first segment, hdr, came from
// k's low end when fromLow, at t on iface.
func (a *Assembler) newStream(k connKey, fromLow bool, hdr *tcpHeader, t time.Time, iface string) *stream {
	a.nextID++
	a.stats.Conns++
	src, dst := k.ends(fromLow)
	c := &decoder.Conn{ID: a.nextID, First: t, Iface: iface}
	// Ours is the side that sent the SYN or, mid-stream, the side not on
	// a server port.
	flip := false
	switch syn, ack := hdr.flags&flagSYN != 0, hdr.flags&flagACK != 0; {
	case syn && !ack:
		c.SawSYN = true
	case syn && ack:
		c.SawSYN, flip = true, true
	default:
		sk, dk := a.wellKnown(hdr.src), a.wellKnown(hdr.dst)
		if sk && !dk || sk == dk && hdr.src < hdr.dst {
			flip = true
		}
	}
	if flip {
		src, dst = dst, src
	}
	c.Client, c.Server = src, dst
	s := &stream{conn: c, d: &decStream{conn: c, hidx: -1}, flip: flip, key: k, fromLow: fromLow, last: t}
	a.conns[k] = s
	a.lru.pushBack(s)
	return s
}

// half is one direction of a connection.
type half struct {
	// flowmap's view: the bytes handed on
	seq     seq // sequence number of the next byte to deliver
	started bool
	lost    []lostRange // snaplen cuts ahead of seq
	ended   bool
	synSeen bool // a SYN was seen, with sequence number isn
	isn     seq  // (to tell its retransmission from a new connection)

	// reassembly's (reassembly.go): seq follows next, which also counts a
	// FIN
	next        seq // the next byte expected (once synced)
	synced      bool
	fin         seq // a FIN queued ahead ends the direction there (finAhead)
	finAhead    bool
	closed      bool
	first, last *page // queued out-of-order bytes
	pages       int
}

type lostRange struct {
	from seq
	n    int
}

// stream is a connection as reassembly sees it; d is its decoding side.
type stream struct {
	conn    *decoder.Conn
	d       *decStream
	flip    bool    // the first segment came from the server
	fromLow bool    // the first segment came from key's low end
	halves  [2]half // by decoder.Dir
	done    bool

	key        connKey
	last       time.Time // capture time of the newest packet
	prev, next *stream   // Assembler.lru
	evicted    bool      // closed to keep MaxConns
}

// dir is the direction of segments sent the way the connection's first
// segment was (fwd) or the other way.
func (s *stream) dir(fwd bool) decoder.Dir {
	if fwd != s.flip {
		return decoder.ClientToServer
	}
	return decoder.ServerToClient
}

// deliver passes data (which starts at h.seq) on, turning the padded
// snaplen cuts inside it into gaps.
func (a *Assembler) deliver(s *stream, dir decoder.Dir, data []byte, t time.Time, kept bool) {
	h := &s.halves[dir]
	for len(data) > 0 {
		// Drop cuts wholly behind us.
		for len(h.lost) > 0 && h.lost[0].from.add(h.lost[0].n).to(h.seq) >= 0 {
			h.lost = h.lost[1:]
		}
		if len(h.lost) == 0 {
			break
		}
		off := h.seq.to(h.lost[0].from) // bytes before the cut
		if off >= len(data) {
			break
		}
		if off > 0 {
			a.data(s, dir, data[:off], t, kept)
			data = data[off:]
			h.seq = h.seq.add(off)
		}
		// Inside the cut (off may be negative when we start within it).
		skip := h.seq.to(h.lost[0].from.add(h.lost[0].n))
		if skip > len(data) {
			skip = len(data)
		}
		a.gap(s, dir, skip, t)
		data = data[skip:]
		h.seq = h.seq.add(skip)
	}
	if len(data) > 0 {
		a.data(s, dir, data, t, kept)
		h.seq = h.seq.add(len(data))
	}
	if len(h.lost) == 0 {
		h.lost = h.lost[:0:0] // let the backing array go
	}
}

// data hands b over; kept: b stays as it is until a later Sync's callback
// (Options.PacketsKept).
func (a *Assembler) data(s *stream, dir decoder.Dir, b []byte, t time.Time, kept bool) {
	a.do(op{kind: opData, s: s.d, dir: dir, data: b, t: t, kept: kept})
}

func (a *Assembler) gap(s *stream, dir decoder.Dir, n int, t time.Time) {
	a.stats.Gaps++
	a.stats.LostBytes += int64(n)
	a.do(op{kind: opGap, s: s.d, dir: dir, n: n, t: t})
}

// finish ends the connection once: it leaves the table, and the decoding
// side closes its decoder.
func (a *Assembler) finish(s *stream, t time.Time) {
	if s.done {
		return
	}
	s.done = true
	a.drop(&s.halves[0]) // (queued only when syn's resets could not end it)
	a.drop(&s.halves[1])
	if a.conns[s.key] == s {
		delete(a.conns, s.key)
	}
	a.lru.remove(s)
	a.do(op{kind: opFinish, s: s.d, t: t, now: a.now, evicted: s.evicted})
}
