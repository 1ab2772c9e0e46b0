// Package tcp turns IP packets into per-connection, in-order byte streams and
// hands each stream to the protocol decoder that recognises it.
//
// Reassembly is gopacket's reassembly package, driven by capture time only:
// out-of-order segments wait at most Options.Reorder of capture time for the
// bytes before them, idle connections are closed after Options.Idle, and
// nothing ever looks at the wall clock. Connections whose handshake was not
// captured are decoded too; lost bytes (capture drops, snaplen cuts) reach
// the decoder as Gap calls, never as invented data.
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
}

// Assembler is the TCP stage. It is not safe for concurrent use.
type Assembler struct {
	opts      Options
	emit      decoder.Emit
	pool      *reassembly.StreamPool
	asm       *reassembly.Assembler
	tcp       layers.TCP
	pad       []byte
	now       time.Time
	lastFlush time.Time
	nextID    int
	open      map[*stream]struct{}
	stats     Stats
}

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
	a := &Assembler{opts: opts, emit: emit, open: make(map[*stream]struct{})}
	a.pool = reassembly.NewStreamPool(factory{a})
	a.asm = reassembly.NewAssembler(a.pool)
	a.asm.MaxBufferedPagesPerConnection = opts.MaxPagesPerConn
	a.asm.MaxBufferedPagesTotal = opts.MaxPagesTotal
	return a
}

// Stats returns the counters so far.
func (a *Assembler) Stats() Stats { return a.stats }

// context carries a packet's capture data through reassembly; queued pages
// keep it, so each packet gets its own.
type context struct {
	ci    gopacket.CaptureInfo
	iface string
	// lost is the tail of the segment the capture did not keep (snaplen):
	// the payload was padded to its real length and these bytes are a gap.
	lostFrom, lostLen int
}

func (c *context) GetCaptureInfo() gopacket.CaptureInfo { return c.ci }

// Packet feeds one IP packet (IPv4 or IPv6 header onward) captured at t on
// iface. ip may be shorter than the packet on the wire (snaplen); it is not
// kept after the call.
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
	if err := a.tcp.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil {
		a.stats.Malformed++
		return
	}
	a.stats.Packets++
	ctx := &context{ci: gopacket.CaptureInfo{Timestamp: t}, iface: iface}
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
		ctx.lostFrom, ctx.lostLen = got, want-got
	}
	flow := gopacket.NewFlow(et, src, dst)
	a.asm.AssembleWithContext(flow, &a.tcp, ctx)
	if a.now.Sub(a.lastFlush) >= a.opts.Reorder/4 {
		a.lastFlush = a.now
		a.asm.FlushWithOptions(reassembly.FlushOptions{T: a.now.Add(-a.opts.Reorder), TC: a.now.Add(-a.opts.Idle)})
	}
}

// Close ends every connection still open (end of capture): decoders emit
// what they have, marked truncated where incomplete.
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
}

// Pending is the start of the oldest exchange a decoder has begun but not
// emitted, or zero. Exchanges starting later than it may be emitted first.
func (a *Assembler) Pending() time.Time {
	var min time.Time
	for s := range a.open {
		if s.dec == nil {
			if !s.firstData.IsZero() && (min.IsZero() || s.firstData.Before(min)) {
				min = s.firstData
			}
			continue
		}
		if p := s.dec.Pending(); !p.IsZero() && (min.IsZero() || p.Before(min)) {
			min = p
		}
	}
	return min
}

// Now is the newest capture time seen.
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
	s := &stream{a: a, conn: c, flip: flip}
	a.open[s] = struct{}{}
	return s
}

// half is one direction's reassembly bookkeeping.
type half struct {
	seq     reassembly.Sequence // sequence number of the next byte to deliver
	started bool
	lost    []lostRange // snaplen cuts ahead of seq
	sniff   []byte      // first bytes, until a protocol is chosen
	ended   bool
}

type lostRange struct {
	from reassembly.Sequence
	n    int
}

// event is a call replayed into the decoder once the protocol is known.
type event struct {
	kind int // 0 data, 1 gap, 2 end
	dir  decoder.Dir
	data []byte
	n    int
	t    time.Time
}

const maxSniff = 8 << 10

type stream struct {
	a         *Assembler
	conn      *decoder.Conn
	flip      bool
	halves    [2]half // by decoder.Dir
	dec       decoder.StreamDecoder
	unknown   bool
	queued    []event
	firstData time.Time
	done      bool
}

func (s *stream) dir(d reassembly.TCPFlowDirection) decoder.Dir {
	if (d == reassembly.TCPDirClientToServer) != s.flip {
		return decoder.ClientToServer
	}
	return decoder.ServerToClient
}

func (s *stream) Accept(t *layers.TCP, ci gopacket.CaptureInfo, d reassembly.TCPFlowDirection, nextSeq reassembly.Sequence, start *bool, ac reassembly.AssemblerContext) bool {
	h := &s.halves[s.dir(d)]
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
	return true
}

func (s *stream) ReassembledSG(sg reassembly.ScatterGather, ac reassembly.AssemblerContext) {
	d, _, end, skip := sg.Info()
	dir := s.dir(d)
	h := &s.halves[dir]
	n, _ := sg.Lengths()
	t := s.a.now
	if n > 0 {
		t = sg.CaptureInfo(0).Timestamp
	} else if ac != nil {
		t = ac.GetCaptureInfo().Timestamp
	}
	if skip > 0 {
		s.gap(dir, skip, t)
		h.seq = h.seq.Add(skip)
	}
	if n > 0 {
		data := sg.Fetch(n)
		s.deliver(dir, data, t)
	}
	if end && !h.ended {
		h.ended = true
		s.send(event{kind: 2, dir: dir, t: t})
	}
}

// deliver passes data (which starts at h.seq) on, turning the padded
// snaplen cuts inside it into gaps.
func (s *stream) deliver(dir decoder.Dir, data []byte, t time.Time) {
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
			s.data(dir, data[:off], t)
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
		s.data(dir, data, t)
		h.seq = h.seq.Add(len(data))
	}
	if len(h.lost) == 0 {
		h.lost = h.lost[:0:0] // let the backing array go
	}
}

func (s *stream) data(dir decoder.Dir, b []byte, t time.Time) {
	if s.dec != nil {
		s.dec.Data(dir, b, t)
		return
	}
	if s.unknown {
		s.a.stats.UnknownBytes += int64(len(b))
		return
	}
	if s.firstData.IsZero() {
		s.firstData = t
	}
	h := &s.halves[dir]
	if len(h.sniff) < maxSniff {
		k := min(len(b), maxSniff-len(h.sniff))
		h.sniff = append(h.sniff, b[:k]...)
	}
	s.queued = append(s.queued, event{kind: 0, dir: dir, data: append([]byte(nil), b...), t: t})
	s.choose(false)
}

func (s *stream) gap(dir decoder.Dir, n int, t time.Time) {
	s.a.stats.Gaps++
	s.a.stats.LostBytes += int64(n)
	s.send(event{kind: 1, dir: dir, n: n, t: t})
}

func (s *stream) send(e event) {
	switch {
	case s.dec != nil:
		s.replay(e)
	case s.unknown:
	default:
		s.queued = append(s.queued, e)
		if e.kind == 1 {
			// After a hole the sniffed bytes of this direction no longer
			// start a message; decide on what we have.
			s.choose(true)
		}
	}
}

func (s *stream) replay(e event) {
	switch e.kind {
	case 0:
		s.dec.Data(e.dir, e.data, e.t)
	case 1:
		s.dec.Gap(e.dir, e.n, e.t)
	case 2:
		s.dec.End(e.dir, e.t)
	}
}

// choose picks the protocol: for a connection whose start was captured,
// the first Yes of any protocol on either direction's first bytes, and when
// forced (or the sniff buffers are full, or every protocol said No) the
// server port; mid-stream, the server port first.
func (s *stream) choose(force bool) {
	// Mid-stream, the first bytes seen may be anything (a body, a result
	// set): a well-known server port is the better witness.
	if !s.conn.SawSYN {
		for _, p := range s.a.opts.Protocols {
			if p.Port != nil && p.Port(s.conn.Server.Port()) {
				s.use(p)
				return
			}
		}
	}
	undecided := false
	for _, p := range s.a.opts.Protocols {
		for d := decoder.ClientToServer; d <= decoder.ServerToClient; d++ {
			b := s.halves[d].sniff
			if len(b) == 0 {
				continue
			}
			switch p.Sniff(s.conn, d, b) {
			case decoder.Yes:
				s.use(p)
				return
			case decoder.NeedMore:
				undecided = true
			}
		}
	}
	full := len(s.halves[0].sniff) >= maxSniff || len(s.halves[1].sniff) >= maxSniff
	if undecided && !force && !full {
		return
	}
	for _, p := range s.a.opts.Protocols {
		if p.Port != nil && p.Port(s.conn.Server.Port()) {
			s.use(p)
			return
		}
	}
	if undecided && !force && !full {
		return
	}
	s.unknown = true
	s.a.stats.Unknown++
	for _, e := range s.queued {
		s.a.stats.UnknownBytes += int64(len(e.data))
	}
	s.queued = nil
	s.halves[0].sniff, s.halves[1].sniff = nil, nil
}

func (s *stream) use(p decoder.Protocol) {
	s.dec = p.New(s.conn, s.a.emit)
	q := s.queued
	s.queued = nil
	s.halves[0].sniff, s.halves[1].sniff = nil, nil
	for _, e := range q {
		s.replay(e)
	}
}

func (s *stream) ReassemblyComplete(ac reassembly.AssemblerContext) bool {
	t := s.a.now
	if ac != nil {
		t = ac.GetCaptureInfo().Timestamp
	}
	s.finish(t)
	return true
}

// finish closes the decoder once, deciding by port if still undecided.
func (s *stream) finish(t time.Time) {
	if s.done {
		return
	}
	s.done = true
	delete(s.a.open, s)
	if s.dec == nil && !s.unknown && len(s.queued) > 0 {
		s.choose(true)
	}
	if s.dec != nil {
		s.dec.Close(t)
	}
}
