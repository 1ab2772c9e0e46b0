package tcp

import (
	"bytes"
	"fmt"
	"math/rand"
	"net/netip"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// checkPages verifies the page accounting that MaxPagesPerConn and
// MaxPagesTotal rest on: every queued page is counted once, in its
// direction and in all, and each queue is linked both ways.
func checkPages(t *testing.T, a *Assembler, when string) {
	t.Helper()
	total := 0
	for _, s := range a.conns {
		for d := range s.halves {
			h := &s.halves[d]
			n := 0
			var prev *page
			for p := h.first; p != nil; p = p.next {
				if p.prev != prev {
					t.Fatalf("%s: conn %d dir %d: page %d badly linked", when, s.conn.ID, d, n)
				}
				if len(p.data) > pageBytes {
					t.Fatalf("%s: a page of %d bytes", when, len(p.data))
				}
				prev = p
				n++
			}
			if h.last != prev || n != h.pages {
				t.Fatalf("%s: conn %d dir %d: %d pages queued, %d counted (last ok: %v)", when, s.conn.ID, d, n, h.pages, h.last == prev)
			}
			total += n
		}
	}
	if total != a.pages {
		t.Fatalf("%s: %d pages queued, %d counted in all", when, total, a.pages)
	}
}

// TestHostileSequenceNumbers: segments with sequence numbers anywhere
// (near the wraparound and the quarter marks where the ordering of
// sequence numbers stops being transitive), overlapping, ahead, behind,
// with SYN/FIN/RST at random, on a few 4-tuples, under small page
// limits: no panic, the page counts stay right and bounded, and Close
// leaves nothing queued.
func TestHostileSequenceNumbers(t *testing.T) {
	marks := []uint32{0, 0x3FFFFFFF, 0x40000000, 0x7FFFFFFF, 0xBFFFFFFF, 0xC0000000, 0xC0000001, 0xFFFFFFFF}
	payload := make([]byte, 9000)
	for i := range payload {
		payload[i] = byte(i)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for run := range 200 {
		r := rand.New(rand.NewSource(int64(run)))
		rec := &recorder{conns: map[int]*recConn{}}
		opts := Options{Protocols: []decoder.Protocol{rec.protocol()}, MaxPagesPerConn: 1 + r.Intn(8), MaxPagesTotal: 1 + r.Intn(16), MaxConns: 1 + r.Intn(4), Reorder: 50 * time.Millisecond}
		a := New(opts, func(*decoder.Exchange) {})
		ends := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.1:40001"), netip.MustParseAddrPort("10.0.0.2:9292")}
		now := t0
		for i := range 300 {
			src, dst := ends[r.Intn(2)], ends[2]
			if r.Intn(2) == 0 {
				src, dst = dst, src
			}
			sq := marks[r.Intn(len(marks))] + uint32(r.Intn(20000)) - 10000
			if r.Intn(4) == 0 {
				sq = r.Uint32()
			}
			flags := byte(ack)
			switch r.Intn(10) {
			case 0:
				flags = syn
			case 1:
				flags |= fin
			case 2:
				flags = rst
			}
			n := []int{0, 1, 100, 1460, 1901, 3800, 9000}[r.Intn(7)]
			ip := segment(src, dst, sq, 0, flags, payload[:n])
			if r.Intn(6) == 0 && n > 0 {
				ip = ip[:40+r.Intn(n)] // snaplen cut
			}
			now = now.Add(time.Duration(r.Intn(30)) * time.Millisecond)
			a.Packet(ip, now, "")
			checkPages(t, a, fmt.Sprintf("run %d packet %d", run, i))
			// A segment brings at most 9000/pageBytes+1 pages, and one
			// hole is given up per segment past the limit: not a hard cap
			// (small holes pile up until Reorder passes), so the bound
			// here is a loose one for this traffic.
			if limit := opts.MaxPagesTotal + opts.MaxConns*2*(9000/pageBytes+1); a.pages > limit {
				t.Fatalf("run %d: %d pages queued, limit %d", run, a.pages, limit)
			}
		}
		a.Close()
		if a.pages != 0 || len(a.conns) != 0 || a.lru.head != nil {
			t.Fatalf("run %d: after Close %d pages, %d connections", run, a.pages, len(a.conns))
		}
		for _, c := range rec.conns {
			if c.closed != 1 {
				t.Fatalf("run %d: conn %d closed %d times", run, c.c.ID, c.closed)
			}
		}
	}
}

// TestReusedTupleAfterBytesPastFIN: a client that sent bytes past its FIN
// (the FIN's direction then never closes: reassembly expects the FIN's
// sequence number, flowmap's count stops before it) and reuses its port
// after a silence: the old connection ends, and the new one is a
// connection of its own with all its bytes.
func TestReusedTupleAfterBytesPastFIN(t *testing.T) {
	rc := newReuseCase(t)
	a, c, s, t0 := rc.a, rc.first.c, rc.first.s, rc.t0
	// 10 bytes past the FIN arrive first, then the FIN with the 10 bytes
	// before them: delivered together, the direction does not end.
	a.Packet(segment(c.addr, s.addr, c.seq+10, s.seq, psh|ack, []byte("0123456789")), t0, "")
	a.Packet(segment(c.addr, s.addr, c.seq, s.seq, fin|ack, []byte("abcdefghij")), t0, "")
	rc.first.send(decoder.ServerToClient, rc.resp, t0)
	rc.reuse(t)
	want := [][2]int64{{20, int64(len(rc.resp))}, {int64(len(rc.req)), int64(len(rc.resp))}}
	for i, p := range rc.pp.conns {
		if p.data != want[i] || !p.closed {
			t.Errorf("connection %d: %v bytes, closed %v; want %v, closed", i+1, p.data, p.closed, want[i])
		}
	}
	if !rc.pp.conns[1].c.SawSYN {
		t.Errorf("the second connection did not start at its SYN")
	}
}

// TestReusedTupleAfterServerFIN: the server closed its side (its FIN
// captured, the client's not) and the client reuses its port after a
// silence: the new connection gets all its bytes, both sides.
func TestReusedTupleAfterServerFIN(t *testing.T) {
	rc := newReuseCase(t)
	first := rc.first
	first.send(decoder.ClientToServer, rc.req, rc.t0)
	first.send(decoder.ServerToClient, rc.resp, rc.t0)
	rc.a.Packet(segment(first.s.addr, first.c.addr, first.s.seq, first.c.seq, fin|ack, nil), rc.t0, "")
	rc.reuse(t)
	for i, p := range rc.pp.conns {
		if p.data != [2]int64{int64(len(rc.req)), int64(len(rc.resp))} || !p.closed || !p.c.SawSYN || p.c.Client != first.c.addr {
			t.Errorf("connection %d: %v bytes, closed %v, SYN %v, client %v", i+1, p.data, p.closed, p.c.SawSYN, p.c.Client)
		}
	}
}

// byteRec keeps every byte a connection's decoder gets, and its gaps.
type byteRec struct {
	got  [2][]byte
	gaps [2]int
}

func (r *byteRec) protocol() decoder.Protocol {
	return decoder.Protocol{Name: "bytes", Sniff: func(*decoder.Conn, decoder.Dir, []byte) decoder.Verdict { return decoder.Yes },
		New: func(c *decoder.Conn, emit decoder.Emit) decoder.StreamDecoder { return r }}
}
func (r *byteRec) Data(d decoder.Dir, b []byte, t time.Time) { r.got[d] = append(r.got[d], b...) }
func (r *byteRec) Gap(d decoder.Dir, n int, t time.Time)     { r.gaps[d] += n }
func (r *byteRec) End(decoder.Dir, time.Time)                {}
func (r *byteRec) Close(time.Time)                           {}
func (r *byteRec) Pending() time.Time                        { return time.Time{} }
func (r *byteRec) Expire(time.Time, string)                  {}

// TestReorderedSnaplenCuts: two segments cut by the snaplen arrive out of
// order, the later first. What the capture never had reaches the decoder
// as gaps, never as the zeros it was padded with (found in review: the
// cuts were kept in arrival order, and 900 zeros were delivered as data).
func TestReorderedSnaplenCuts(t *testing.T) {
	rec := &byteRec{}
	a := New(Options{Protocols: []decoder.Protocol{rec.protocol()}}, func(*decoder.Exchange) {})
	cv := newConv(a, "10.0.0.1:40000", "10.0.0.2:9292", 1000)
	t0 := time.Unix(1_700_000_000, 0).UTC()
	cv.handshake(t0)
	seg1 := segment(cv.c.addr, cv.s.addr, cv.c.seq, cv.s.seq, psh|ack, bytes.Repeat([]byte{'A'}, 1000))
	seg2 := segment(cv.c.addr, cv.s.addr, cv.c.seq+1000, cv.s.seq, psh|ack, bytes.Repeat([]byte{'B'}, 1000))
	a.Packet(seg2[:40+100], t0, "") // 100 of its 1000 bytes captured
	a.Packet(seg1[:40+100], t0, "")
	a.Close()
	want := append(bytes.Repeat([]byte{'A'}, 100), bytes.Repeat([]byte{'B'}, 100)...)
	if !bytes.Equal(rec.got[0], want) || rec.gaps[0] != 1800 {
		t.Errorf("delivered %q…, %d bytes, gaps %d; want 100 A, 100 B, gaps 1800", rec.got[0][:min(len(rec.got[0]), 8)], len(rec.got[0]), rec.gaps[0])
	}
}

// TestRetransmittedCutsNotKept: snaplen-cut retransmissions of bytes
// already delivered, and the same cut seen again, leave no cut behind:
// with no new bytes to deliver, none would be dropped, and each kept
// one made the next insertion longer.
func TestRetransmittedCutsNotKept(t *testing.T) {
	rec := &byteRec{}
	a := New(Options{Protocols: []decoder.Protocol{rec.protocol()}}, func(*decoder.Exchange) {})
	cv := newConv(a, "10.0.0.1:40000", "10.0.0.2:9292", 1000)
	t0 := time.Unix(1_700_000_000, 0).UTC()
	cv.handshake(t0)
	seg := segment(cv.c.addr, cv.s.addr, cv.c.seq, cv.s.seq, psh|ack, bytes.Repeat([]byte{'A'}, 1000))
	ahead := segment(cv.c.addr, cv.s.addr, cv.c.seq+5000, cv.s.seq, psh|ack, bytes.Repeat([]byte{'B'}, 1000))
	a.Packet(seg, t0, "")
	for range 1000 {
		a.Packet(seg[:40+100], t0, "")   // behind: delivered already
		a.Packet(ahead[:40+100], t0, "") // ahead, the same cut each time
	}
	if len(a.conns) != 1 {
		t.Fatalf("%d connections", len(a.conns))
	}
	for _, s := range a.conns {
		if h := &s.halves[decoder.ClientToServer]; len(h.lost) != 1 {
			t.Errorf("%d cuts kept, want the one ahead", len(h.lost))
		}
	}
	a.Close()
	if !bytes.Equal(rec.got[0][:1000], bytes.Repeat([]byte{'A'}, 1000)) || bytes.Count(rec.got[0], []byte{0}) > 0 {
		t.Errorf("delivered %d bytes, %d zeros", len(rec.got[0]), bytes.Count(rec.got[0], []byte{0}))
	}
}
