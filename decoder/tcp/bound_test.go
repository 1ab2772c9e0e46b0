package tcp

import (
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/decodertest"
)

// TCP flags for segment.
const (
	fin = 0x01
	syn = 0x02
	rst = 0x04
	psh = 0x08
	ack = 0x10
)

// segment builds an IPv4 packet carrying one TCP segment.
func segment(src, dst netip.AddrPort, seq, ackn uint32, flags byte, payload []byte) []byte {
	b := make([]byte, 40+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[6] = 0x40 // DF
	b[8], b[9] = 64, 6
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(b[12:], s4[:])
	copy(b[16:], d4[:])
	t := b[20:]
	binary.BigEndian.PutUint16(t[0:], src.Port())
	binary.BigEndian.PutUint16(t[2:], dst.Port())
	binary.BigEndian.PutUint32(t[4:], seq)
	binary.BigEndian.PutUint32(t[8:], ackn)
	t[12] = 5 << 4
	t[13] = flags
	binary.BigEndian.PutUint16(t[14:], 65535)
	copy(t[20:], payload)
	return b
}

// peer is one side of a made-up connection: it numbers its bytes.
type peer struct {
	addr netip.AddrPort
	seq  uint32
}

// conv drives a made-up connection into an Assembler.
type conv struct {
	a    *Assembler
	c, s peer
}

func newConv(a *Assembler, client, server string, isn uint32) *conv {
	return &conv{a: a, c: peer{netip.MustParseAddrPort(client), isn}, s: peer{netip.MustParseAddrPort(server), isn ^ 0x5a5a5a5a}}
}

func (cv *conv) handshake(t time.Time) {
	cv.a.Packet(segment(cv.c.addr, cv.s.addr, cv.c.seq, 0, syn, nil), t, "")
	cv.a.Packet(segment(cv.s.addr, cv.c.addr, cv.s.seq, cv.c.seq+1, syn|ack, nil), t, "")
	cv.c.seq++
	cv.s.seq++
	cv.a.Packet(segment(cv.c.addr, cv.s.addr, cv.c.seq, cv.s.seq, ack, nil), t, "")
}

func (cv *conv) send(dir decoder.Dir, data []byte, t time.Time) {
	from, to := &cv.c, &cv.s
	if dir == decoder.ServerToClient {
		from, to = to, from
	}
	cv.a.Packet(segment(from.addr, to.addr, from.seq, to.seq, psh|ack, data), t, "")
	from.seq += uint32(len(data))
}

// pendConn is a decoder with a real Pending: the first client byte not
// yet answered by a server byte.
type pendConn struct {
	c       *decoder.Conn
	sticky  bool // a message still arriving: Expire cannot end it
	waiting time.Time
	closed  bool
	expired []string
	data    [2]int64
}

func (p *pendConn) Data(d decoder.Dir, b []byte, t time.Time) {
	p.data[d] += int64(len(b))
	switch {
	case d == decoder.ClientToServer && p.waiting.IsZero():
		p.waiting = t
	case d == decoder.ServerToClient:
		p.waiting = time.Time{}
	}
}
func (p *pendConn) Gap(decoder.Dir, int, time.Time) {}
func (p *pendConn) End(decoder.Dir, time.Time)      {}
func (p *pendConn) Close(time.Time)                 { p.closed, p.waiting = true, time.Time{} }
func (p *pendConn) Pending() time.Time              { return p.waiting }
func (p *pendConn) Expire(before time.Time, why string) {
	if !p.waiting.IsZero() && p.waiting.Before(before) {
		p.expired = append(p.expired, why)
		if !p.sticky {
			p.waiting = time.Time{}
		}
	}
}

type pendProto struct {
	conns  []*pendConn
	sticky bool // decoders made are sticky
}

func (pp *pendProto) protocol() decoder.Protocol {
	return decoder.Protocol{
		Name:  "pend",
		Sniff: func(*decoder.Conn, decoder.Dir, []byte) decoder.Verdict { return decoder.Yes },
		New: func(c *decoder.Conn, emit decoder.Emit) decoder.StreamDecoder {
			p := &pendConn{c: c, sticky: pp.sticky}
			pp.conns = append(pp.conns, p)
			return p
		},
	}
}

// oldest is Pending computed the slow way, over every decoder.
func (pp *pendProto) oldest() time.Time {
	var m time.Time
	for _, p := range pp.conns {
		if w := p.Pending(); !w.IsZero() && (m.IsZero() || w.Before(m)) {
			m = w
		}
	}
	return m
}

// TestPendingIsTheOldestDecoderPending replays a real capture (45
// connections, requests waiting for responses) and checks after every
// packet that Assembler.Pending, kept incrementally, is what asking every
// decoder would give.
func TestPendingIsTheOldestDecoderPending(t *testing.T) {
	ps := load(t, filepath.Join("..", "..", "testdata", "captures", "seed-image-list.pcapng"))
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].t.Before(ps[j].t) })
	pp := &pendProto{}
	a := New(Options{Protocols: []decoder.Protocol{pp.protocol()}}, func(*decoder.Exchange) {})
	nonZero := 0
	for i, p := range ps {
		a.Packet(p.data, p.t, "")
		got, want := a.Pending(), pp.oldest()
		if !got.Equal(want) {
			t.Fatalf("packet %d: Pending() = %v, the decoders say %v", i, got, want)
		}
		if !got.IsZero() {
			nonZero++
		}
	}
	if nonZero < len(ps)/10 {
		t.Fatalf("Pending was non-zero after only %d of %d packets: the check proves little", nonZero, len(ps))
	}
	a.Close()
	if p := a.Pending(); !p.IsZero() {
		t.Fatalf("Pending() = %v after Close", p)
	}
}

// realRequest is the first HTTP request of a real capture.
func realRequest(t testing.TB) []byte {
	for _, p := range load(t, filepath.Join("..", "..", "testdata", "captures", "seed-image-list.pcapng")) {
		ihl := int(p.data[0]&0x0f) * 4
		off := ihl + int(p.data[ihl+12]>>4)*4
		if pl := p.data[off:]; len(pl) > 0 && strings.HasPrefix(string(pl), "GET ") {
			return pl
		}
	}
	t.Fatal("no request in the capture")
	return nil
}

// TestHoldBackIsCapped: a request that is never answered holds Pending
// back for at most MaxHold of capture time, or MaxHoldBytes of captured
// bytes, after which its decoder is told to give up, once; a decoder that
// cannot (a message still arriving) is no longer waited for.
func TestHoldBackIsCapped(t *testing.T) {
	req := realRequest(t)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		opts   Options
		why    string
		limit  time.Duration // how old Pending may get
		sticky bool          // the decoder cannot give up (a message still arriving)
	}{
		{"time", Options{MaxHold: 30 * time.Second}, "no reply within 30s of capture time", 31 * time.Second, false},
		{"bytes", Options{MaxHold: time.Hour, MaxHoldBytes: 20 * int64(len(req))}, "no reply while", 21 * time.Second, false},
		{"still-arriving", Options{MaxHold: 30 * time.Second}, "no reply within 30s of capture time", 31 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pp := &pendProto{sticky: tc.sticky}
			tc.opts.Protocols = []decoder.Protocol{pp.protocol()}
			a := New(tc.opts, func(*decoder.Exchange) {})
			silent := newConv(a, "10.0.20.100:40000", "10.0.20.11:9292", 1000)
			silent.handshake(t0)
			silent.send(decoder.ClientToServer, req, t0)
			busy := newConv(a, "10.0.20.100:40002", "10.0.20.11:9292", 9000)
			busy.handshake(t0)
			for i := 1; i <= 180; i++ { // one request and its answer a second, for 3 minutes
				now := t0.Add(time.Duration(i) * time.Second)
				busy.send(decoder.ClientToServer, req, now)
				busy.send(decoder.ServerToClient, []byte("HTTP/1.1 204 No Content\r\n\r\n"), now)
				if p := a.Pending(); !p.IsZero() && now.Sub(p) > tc.limit {
					t.Fatalf("at +%ds Pending() is %v old", i, now.Sub(p))
				}
			}
			sc := pp.conns[0]
			if len(sc.expired) != 1 || !strings.HasPrefix(sc.expired[0], tc.why) {
				t.Fatalf("silent connection's decoder was told %q, want one %q", sc.expired, tc.why)
			}
			if a.Stats().Expired != 1 {
				t.Fatalf("Stats.Expired = %d", a.Stats().Expired)
			}
			a.Close()
		})
	}
}

// reuseCase is a connection on a 4-tuple its client reuses after a
// silence (the tests of 4-tuple reuse): a request and its answer on each.
type reuseCase struct {
	req, resp []byte
	t0        time.Time
	pp        *pendProto
	a         *Assembler
	first     *conv
}

// newReuseCase opens the first connection (its handshake only).
func newReuseCase(t *testing.T) *reuseCase {
	rc := &reuseCase{req: realRequest(t), resp: []byte("HTTP/1.1 204 No Content\r\n\r\n"), t0: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), pp: &pendProto{}}
	rc.a = New(Options{Protocols: []decoder.Protocol{rc.pp.protocol()}}, func(*decoder.Exchange) {})
	rc.first = newConv(rc.a, "10.0.20.100:40000", "10.0.20.11:9292", 1000)
	rc.first.handshake(rc.t0)
	return rc
}

// reuse makes the second connection 40 s later with a new ISN, a request
// and its answer, closes the assembler and checks there were two
// connections, one ended by the reuse.
func (rc *reuseCase) reuse(t *testing.T) Stats {
	t.Helper()
	second := newConv(rc.a, "10.0.20.100:40000", "10.0.20.11:9292", 3_000_000_000)
	second.handshake(rc.t0.Add(40 * time.Second))
	second.send(decoder.ClientToServer, rc.req, rc.t0.Add(41*time.Second))
	second.send(decoder.ServerToClient, rc.resp, rc.t0.Add(41*time.Second))
	rc.a.Close()
	st := rc.a.Stats()
	if len(rc.pp.conns) != 2 || st.Conns != 2 || st.Reused != 1 {
		t.Fatalf("%d decoders, %d connections, %d reused; want 2, 2, 1", len(rc.pp.conns), st.Conns, st.Reused)
	}
	return st
}

// TestSYNOnQuietTupleStartsANewConnection: a client port reused after a
// silence, with a new ISN, is a new connection, not 3 GB lost on the old
// one; a retransmitted SYN is not.
func TestSYNOnQuietTupleStartsANewConnection(t *testing.T) {
	rc := newReuseCase(t)
	first, t0 := rc.first, rc.t0
	// A retransmitted SYN: same ISN.
	rc.a.Packet(segment(first.c.addr, first.s.addr, 1000, 0, syn, nil), t0.Add(time.Second), "")
	first.send(decoder.ClientToServer, rc.req, t0.Add(time.Second))
	first.send(decoder.ServerToClient, rc.resp, t0.Add(time.Second))
	// No FIN: the connection goes quiet, then the port is reused.
	st := rc.reuse(t)
	if st.Gaps != 0 || st.LostBytes != 0 {
		t.Fatalf("%d gaps, %d bytes lost", st.Gaps, st.LostBytes)
	}
	for i, p := range rc.pp.conns {
		if p.data != [2]int64{int64(len(rc.req)), int64(len(rc.resp))} || !p.closed || !p.c.SawSYN {
			t.Errorf("connection %d: %v bytes, closed %v, SYN %v", i+1, p.data, p.closed, p.c.SawSYN)
		}
	}
}

// TestConnectionTableIsBounded: past MaxConns open connections the least
// recently active are closed, and their decoders told why.
func TestConnectionTableIsBounded(t *testing.T) {
	req := realRequest(t)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pp := &pendProto{}
	a := New(Options{Protocols: []decoder.Protocol{pp.protocol()}, MaxConns: 64}, func(*decoder.Exchange) {})
	for i := range 300 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		cv := newConv(a, netip.AddrPortFrom(netip.MustParseAddr("10.0.20.100"), uint16(20000+i)).String(), "10.0.20.11:9292", uint32(i)*7919)
		cv.handshake(now)
		cv.send(decoder.ClientToServer, req, now)
		if len(a.conns) > 64 {
			t.Fatalf("after %d connections %d are open", i+1, len(a.conns))
		}
	}
	st := a.Stats()
	if st.Evicted < 300-64 {
		t.Fatalf("%d connections evicted, want at least %d", st.Evicted, 300-64)
	}
	for i, p := range pp.conns[:200] {
		if !p.closed || len(p.expired) != 1 || !strings.Contains(p.expired[0], "more than 64 connections open") {
			t.Fatalf("connection %d: closed %v, told %q", i+1, p.closed, p.expired)
		}
	}
	a.Close()
}

// BenchmarkSYNFlood: SYNs that are never answered, 100k then 200k: the
// cost per SYN must not grow with their number (x2-ratio about 2).
func BenchmarkSYNFlood(b *testing.B) {
	decodertest.Doubling(b, 100_000, func(n int) func() {
		pkts := make([][]byte, n)
		server := netip.MustParseAddrPort("10.0.20.11:9292")
		for i := range pkts {
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 16), byte(i >> 8)}), uint16(1024+i&0xff))
			pkts[i] = segment(src, server, uint32(i)*2654435761, 0, syn, nil)
		}
		return func() {
			pp := &pendProto{}
			a := New(Options{Protocols: []decoder.Protocol{pp.protocol()}}, func(*decoder.Exchange) {})
			t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			for i, p := range pkts {
				a.Packet(p, t0.Add(time.Duration(i)*10*time.Microsecond), "")
				if i&255 == 0 {
					a.Pending()
				}
			}
			a.Close()
		}
	})
}

// BenchmarkConnections: short connections (handshake, a real request, an
// answer, no FIN), 20k then 40k, many open at once.
func BenchmarkConnections(b *testing.B) {
	req := realRequest(b)
	resp := []byte("HTTP/1.1 204 No Content\r\n\r\n")
	decodertest.Doubling(b, 20_000, func(n int) func() {
		return func() {
			pp := &pendProto{}
			a := New(Options{Protocols: []decoder.Protocol{pp.protocol()}}, func(*decoder.Exchange) {})
			t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			for i := range n {
				now := t0.Add(time.Duration(i) * 100 * time.Microsecond)
				src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 16), byte(i >> 8)}), uint16(1024+i&0xff))
				cv := &conv{a: a, c: peer{src, uint32(i) * 7919}, s: peer{netip.MustParseAddrPort("10.0.20.11:9292"), 77}}
				cv.handshake(now)
				cv.send(decoder.ClientToServer, req, now)
				cv.send(decoder.ServerToClient, resp, now)
				if i&63 == 0 {
					a.Pending()
				}
			}
			a.Close()
		}
	})
}
