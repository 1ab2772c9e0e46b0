package tcp

import (
	"slices"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// flowmap's own TCP reassembly: segments in, in-order bytes and gaps out,
// per direction of a connection.
//
// It replaces gopacket's reassembly package, which flowmap used until its
// own bookkeeping around it (4-tuple reuse, eviction, idle and reorder
// flushes, snaplen cuts) had grown larger than what it used of it, while
// its generality was the largest single cost of decoding: on the long
// shared capture, about 34 ms of `decode`'s 190 ms went to
// AssembleWithContext, lookups in a pool map keyed by 112-byte flows under
// a lock, page cache and scatter-gather bookkeeping, and the callbacks
// through interfaces and per-packet contexts that flowmap needed to get
// its own data in and out. Here a segment that arrives in order on a
// connection with nothing queued goes straight to the decoding side, after
// one lookup in a map keyed by the canonical 4-tuple.
//
// The rules are gopacket's (v1.7.7), kept so that every capture decodes
// exactly as before:
//   - each direction starts at its SYN (sequence number + 1), or at the
//     first segment seen when the handshake was not captured;
//   - a segment ahead of the next expected byte is copied into pages of
//     pageBytes and queued, sorted by sequence number; a later segment
//     overlapping queued pages trims them (or replaces the bytes inside
//     one, or drops one it covers: the newer copy wins);
//   - bytes before the next expected byte are retransmissions and are
//     dropped;
//   - the first queued page is given up on (the bytes before it become a
//     gap) when it has waited Options.Reorder of capture time (a page
//     counts as old as the oldest page after it), when its direction holds
//     MaxPagesPerConn pages, or all connections MaxPagesTotal;
//   - a FIN or RST at the next expected byte ends its direction, a FIN
//     queued ahead ends it once the bytes before it are delivered; a RST
//     anywhere else, and a FIN or RST wholly before the next expected
//     byte, is ignored, as is a SYN on a started direction (RFC 5961);
//   - a connection whose two directions ended is finished and leaves the
//     table: a later segment on its 4-tuple starts a new one.
//
// Capture time alone drives it: no wall clock, no goroutine.

// pageBytes is the size of the pages out-of-order bytes are queued in;
// Options.MaxPagesPerConn and MaxPagesTotal count them.
const pageBytes = 1900

// seq is a TCP sequence number.
type seq uint32

func (s seq) add(n int) seq { return s + seq(uint32(n)) }

// to is how far t is after s (negative: before). Numbers in the first
// quarter of the space count as after those in the last quarter (the
// wraparound); otherwise the plain difference. (It is gopacket's ordering,
// which is not a modular distance: it decides which segments are queued,
// trimmed and dropped.)
func (s seq) to(t seq) int {
	const quarter = 0xFFFFFFFF / 4
	a, b := int64(s), int64(t)
	if a > 0xFFFFFFFF-quarter && b < quarter {
		b += 1 << 32
	} else if b > 0xFFFFFFFF-quarter && a < quarter {
		a += 1 << 32
	}
	return int(b - a)
}

// page holds queued bytes of one segment, in order of sequence number in
// its direction's list.
type page struct {
	seq        seq
	data       []byte    // within buf
	t          time.Time // capture time of the segment
	seen       time.Time // for Reorder: the oldest capture time of it and the pages after it
	end        bool      // the segment's last page, and the segment had a FIN
	prev, next *page
	buf        [pageBytes]byte
}

// maxFreePages caps the pages kept for reuse (~500 KB).
const maxFreePages = 256

func (a *Assembler) newPage() *page {
	a.pages++
	if n := len(a.free); n > 0 {
		p := a.free[n-1]
		a.free = a.free[:n-1]
		return p
	}
	return new(page)
}

// release returns p, unlinked from h, to the free pages.
func (a *Assembler) release(h *half, p *page) {
	h.pages--
	a.pages--
	if len(a.free) < maxFreePages {
		p.data, p.prev, p.next = nil, nil, nil
		a.free = append(a.free, p)
	}
}

// unlink takes p out of h's queue.
func (h *half) unlink(p *page) {
	if p.prev != nil {
		p.prev.next = p.next
	} else {
		h.first = p.next
	}
	if p.next != nil {
		p.next.prev = p.prev
	} else {
		h.last = p.prev
	}
	p.prev, p.next = nil, nil
}

// segment reassembles one TCP segment of the connection on k (opened
// when there is none), sent from k's low end when fromLow, captured at t
// on iface. payload starts at sequence number hdr.seq; its bytes from
// lostFrom on (lostLen of them) were not captured.
func (a *Assembler) segment(k connKey, fromLow bool, hdr *tcpHeader, payload []byte, t time.Time, iface string, lostFrom, lostLen int) {
	s := a.conns[k]
	if s == nil {
		s = a.newStream(k, fromLow, hdr, t, iface)
	}
	dir := s.dir(fromLow == s.fromLow)
	h := &s.halves[dir]
	syn, fin, rst := hdr.flags&flagSYN != 0, hdr.flags&flagFIN != 0, hdr.flags&flagRST != 0
	sq := seq(hdr.seq)
	// A SYN starts a direction not yet synchronised; so does any first
	// segment (mid-stream pickup: captures often begin inside connections).
	start := !h.synced && syn

	// flowmap's bookkeeping, for every segment, even one that reassembly
	// then ignores.
	if t.After(s.last) {
		s.last = t
	}
	if s.next != nil { // move to the back of the LRU list
		a.lru.remove(s)
		a.lru.pushBack(s)
	}
	if syn && !h.synSeen {
		h.synSeen, h.isn = true, sq
	}
	if h.synced && len(payload) > 0 && h.next.to(sq) > 0 {
		// Ahead of the stream: queued until the bytes before it come or a
		// flush gives up on them.
		if a.ooo.IsZero() {
			a.ooo = t
		}
		a.lastOOO = t
	}
	if !h.started {
		if !syn {
			start = true
		}
		h.started = true
		h.seq = sq
		if syn {
			h.seq = h.seq.add(1)
		}
	}
	if lostLen > 0 {
		h.addLost(lostRange{sq.add(lostFrom), lostLen})
	}

	// Reassembly.
	if h.closed || syn && h.synced {
		return
	}
	queue := true
	if !h.synced {
		switch {
		case syn:
			sq = sq.add(1)
			h.next, h.synced, queue = sq, true, false
		case start:
			h.next, h.synced, queue = sq, true, false
		}
	} else {
		switch d := h.next.to(sq); {
		case d > 0:
		case rst && d < 0 || fin && h.next.to(sq.add(len(payload))) < 0:
			return // wholly before the next expected byte: out of window
		default:
			queue = false
		}
	}
	if rst && queue {
		return // a RST not at the next expected byte is dropped (RFC 5961)
	}
	if fin && queue {
		h.fin, h.finAhead = sq.add(len(payload)), true
	}
	next, sent := seq(0), false
	if queue {
		a.overlap(h, sq, payload, true, t, fin)
		if h.pages >= a.opts.MaxPagesPerConn || a.pages >= a.opts.MaxPagesTotal {
			if p := h.first; p != nil {
				h.unlink(p)
				next, sent = a.run(s, h, dir, p.seq, p.data, p.t, p.end, p), true
			}
		}
	} else {
		if d := sq.to(h.next); d != 0 {
			// A retransmission of bytes already delivered, in part.
			payload = payload[min(d, len(payload)):]
			sq = h.next
		}
		payload = a.overlap(h, sq, payload, false, t, false)
		if len(payload) > 0 || fin || rst || syn {
			next, sent = a.run(s, h, dir, sq, payload, t, fin || rst, nil), true
		}
	}
	if sent {
		h.next, h.synced = next, true
		if fin {
			h.next = h.next.add(1)
		}
	}
}

// addLost remembers a snaplen cut in sequence order (deliver reads the
// first): segments come out of order too. A cut wholly behind the bytes
// delivered (a retransmission, dropped) or one already there is not kept:
// deliver drops cuts only when bytes come, and a run of retransmitted cut
// segments would otherwise pile up with none.
func (h *half) addLost(l lostRange) {
	if l.from.add(l.n).to(h.seq) >= 0 {
		return
	}
	i := len(h.lost)
	for i > 0 && l.from.to(h.lost[i-1].from) > 0 {
		i--
	}
	if i > 0 && h.lost[i-1] == l {
		return
	}
	h.lost = slices.Insert(h.lost, i, l)
}

// overlap fits the bytes b at start against the pages queued in h: a page
// inside them is dropped, a page they partly cover is trimmed, and bytes
// inside a page overwrite the page's. With queue, the rest of b is queued
// in new pages (end: the segment had a FIN), captured at t; either way the
// rest is returned.
func (a *Assembler) overlap(h *half, start seq, b []byte, queue bool, t time.Time, end bool) []byte {
	stop := start.add(len(b))
	var after *page // the first page kept after the bytes
	cur := h.last
	for cur != nil {
		if stop.to(cur.seq) > 0 { // wholly after
			after, cur = cur, cur.prev
			continue
		}
		curEnd := cur.seq.add(len(cur.data))
		if start.to(curEnd) <= 0 { // wholly before: done
			break
		}
		ds, de := start.to(cur.seq), stop.to(curEnd)
		switch {
		case de <= 0 && ds >= 0: // inside the bytes: the newer copy wins
			prev := cur.prev
			h.unlink(cur)
			a.release(h, cur)
			cur = prev
			continue
		case de < 0: // (ds < 0) the page's end is covered: trim it
			cur.data = cur.data[:clamp(-ds, len(cur.data))]
			return a.queue(h, cur, after, start, b, queue, t, end)
		case ds > 0 && stop.to(cur.seq) < 0: // the page's start is covered
			n := clamp(-stop.to(cur.seq), len(cur.data))
			cur.data, cur.seq = cur.data[n:], cur.seq.add(n)
			after = cur
		case de >= 0 && ds <= 0: // the bytes are inside the page
			if o := -ds; o <= len(cur.data) {
				copy(cur.data[o:], b)
			}
			b = b[:0]
		default: // right after the bytes
			after = cur
		}
		cur = cur.prev
	}
	return a.queue(h, cur, after, start, b, queue, t, end)
}

// clamp bounds n to [0, limit]: trims computed from hostile sequence numbers
// (gopacket's ordering is not transitive across the whole space) never
// index out of a page.
func clamp(n, limit int) int {
	return min(max(n, 0), limit)
}

// queue links b at start, cut into new pages, between before and after
// in h's queue when queue is set and b is not empty; it returns b.
func (a *Assembler) queue(h *half, before, after *page, start seq, b []byte, queue bool, t time.Time, end bool) []byte {
	if len(b) == 0 || !queue {
		return b
	}
	prev := before
	for rest, sq := b, start; len(rest) > 0; {
		p := a.newPage()
		h.pages++
		n := copy(p.buf[:], rest)
		p.data, p.seq, p.t, p.seen = p.buf[:n], sq, t, t
		rest, sq = rest[n:], sq.add(n)
		p.end = end && len(rest) == 0
		p.prev = prev
		if prev != nil {
			prev.next = p
		} else {
			h.first = p
		}
		prev = p
	}
	prev.next = after
	if after != nil {
		after.prev = prev
	} else {
		h.last = prev
	}
	return b
}

// run delivers b (at start, captured at t; end: its segment closes the
// direction) and the queued pages that follow it without a hole: the
// bytes between h.next and start as a gap, the bytes, the end. head is
// the page b is, nil when b is the current packet's payload. It returns
// the sequence number after the bytes.
func (a *Assembler) run(s *stream, h *half, dir decoder.Dir, start seq, b []byte, t time.Time, end bool, head *page) seq {
	skip := -1
	if h.synced {
		skip = h.next.to(start)
	}
	next := start.add(len(b))
	n, dataT := len(b), t
	var first, last *page // the pages joined, in order
	for p := h.first; p != nil && next.to(p.seq) == 0; p = h.first {
		h.unlink(p)
		if first == nil {
			first = p
			if n == 0 {
				dataT = p.t
			}
		} else {
			last.next = p
		}
		last = p
		next, n, end = next.add(len(p.data)), n+len(p.data), p.end
	}
	if h.finAhead && next == h.fin {
		end, h.finAhead = true, false
	}
	if n > 0 {
		t = dataT
	}
	if skip > 0 {
		a.gap(s, dir, skip, t)
		h.seq = h.seq.add(skip)
	}
	if n > 0 {
		data, kept := b, a.kept && a.w != nil && head == nil
		if n > len(b) {
			a.scratch = append(a.scratch[:0], b...)
			for p := first; p != nil; p = p.next {
				a.scratch = append(a.scratch, p.data...)
			}
			data, kept = a.scratch, false
		}
		a.deliver(s, dir, data, t, kept)
	}
	if end && !h.ended {
		h.ended = true
		a.do(op{kind: opEnd, s: s.d, dir: dir, t: t})
	}
	a.do(op{kind: opUpdate, s: s.d})
	if head != nil {
		a.release(h, head)
	}
	for p := first; p != nil; {
		q := p.next
		a.release(h, p)
		p = q
	}
	if end {
		a.closeHalf(s, h)
	}
	return next
}

// closeHalf ends h's reassembly, dropping what it still queues; the
// connection is finished when both directions are.
func (a *Assembler) closeHalf(s *stream, h *half) {
	h.closed = true
	a.drop(h)
	if s.halves[0].closed && s.halves[1].closed {
		a.finish(s, a.now)
	}
}

// drop releases the pages h queues, undelivered.
func (a *Assembler) drop(h *half) {
	for p := h.first; p != nil; {
		next := p.next
		a.release(h, p)
		p = next
	}
	h.first, h.last = nil, nil
}

// skip gives up on the bytes before h's first queued page: they are a gap,
// and the page and those after it without a hole are delivered.
func (a *Assembler) skip(s *stream, h *half, dir decoder.Dir) {
	p := h.first
	h.unlink(p)
	h.next, h.synced = a.run(s, h, dir, p.seq, p.data, p.t, p.end, p), true
}

// flushOlder gives up on holes before pages queued before t, and closes
// the connections without a packet since tc. Every connection is visited
// (in LRU order): the callers call it only when there is work.
func (a *Assembler) flushOlder(t, tc time.Time) {
	for s := a.lru.head; s != nil; {
		next := s.next // s may finish
		for _, fwd := range [2]bool{false, true} {
			dir := s.dir(fwd)
			h := &s.halves[dir]
			if h.closed {
				continue
			}
			// Pages go in order of sequence number: a page waits no
			// longer than the pages queued after it.
			for p := h.last; p != nil && p.prev != nil; p = p.prev {
				if p.seen.Before(p.prev.seen) {
					p.prev.seen = p.seen
				}
			}
			for h.first != nil && h.first.seen.Before(t) && !h.closed {
				a.skip(s, h, dir)
			}
			if !h.closed && h.first == nil && s.last.Before(tc) {
				a.closeHalf(s, h)
			}
		}
		s = next
	}
}

// flushAll delivers everything queued, gaps and all, and finishes every
// connection.
func (a *Assembler) flushAll() {
	for s := a.lru.head; s != nil; {
		next := s.next
		for _, fwd := range [2]bool{false, true} {
			dir := s.dir(fwd)
			h := &s.halves[dir]
			for !h.closed {
				if h.first == nil {
					a.closeHalf(s, h)
				} else {
					a.skip(s, h, dir)
				}
			}
		}
		s = next
	}
}
