package tcp

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/flowmap/flowmap/decoder"
)

// recorder is a protocol that accepts every connection and counts what the
// TCP layer hands it.
type recorder struct {
	conns map[int]*recConn
}

type recConn struct {
	c      *decoder.Conn
	data   [2]int64
	gaps   [2]int64
	nGaps  [2]int
	first  [2][]byte
	ends   [2]int
	closed int
	lastT  time.Time
	back   bool // time went backwards
}

func (r *recorder) protocol() decoder.Protocol {
	return decoder.Protocol{
		Name:  "rec",
		Sniff: func(*decoder.Conn, decoder.Dir, []byte) decoder.Verdict { return decoder.Yes },
		New: func(c *decoder.Conn, emit decoder.Emit) decoder.StreamDecoder {
			rc := &recConn{c: c}
			r.conns[c.ID] = rc
			return rc
		},
	}
}

func (r *recConn) Data(d decoder.Dir, b []byte, t time.Time) {
	r.data[d] += int64(len(b))
	if len(r.first[d]) < 16 {
		r.first[d] = append(r.first[d], b[:min(len(b), 16-len(r.first[d]))]...)
	}
	if t.Before(r.lastT) {
		r.back = true
	}
	r.lastT = t
}
func (r *recConn) Gap(d decoder.Dir, n int, t time.Time) { r.gaps[d] += int64(n); r.nGaps[d]++ }
func (r *recConn) End(d decoder.Dir, t time.Time)        { r.ends[d]++ }
func (r *recConn) Close(t time.Time)                     { r.closed++ }
func (r *recConn) Pending() time.Time                    { return time.Time{} }
func (r *recConn) Expire(time.Time, string)              {}

// feed replays an Ethernet pcapng (the lab's captures) into a, in file
// order, as the capture reader would without merging.
func feed(t testing.TB, a *Assembler, path string) {
	for _, p := range load(t, path) {
		a.Packet(p.data, p.t, "")
	}
	a.Close()
}

// want reads "client>server<TAB>bytes" lines made by tshark (sum of tcp.len
// per direction, which counts the bytes a snaplen cut away).
func want(t *testing.T, name string) map[string]int64 {
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "\t")
		n, _ := strconv.ParseInt(v, 10, 64)
		m[k] = n
	}
	return m
}

func run(t *testing.T, capture string) (*recorder, *Assembler) {
	rec := &recorder{conns: map[int]*recConn{}}
	a := New(Options{Protocols: []decoder.Protocol{rec.protocol()}}, func(*decoder.Exchange) {})
	feed(t, a, filepath.Join("..", "..", "testdata", "captures", capture))
	return rec, a
}

func got(rec *recorder, withGaps bool) map[string]int64 {
	m := map[string]int64{}
	for _, c := range rec.conns {
		for d := decoder.ClientToServer; d <= decoder.ServerToClient; d++ {
			n := c.data[d]
			if withGaps {
				n += c.gaps[d]
			}
			if n == 0 {
				continue
			}
			src, dst := c.c.Client, c.c.Server
			if d == decoder.ServerToClient {
				src, dst = dst, src
			}
			m[fmt.Sprintf("%s>%s", src, dst)] += n
		}
	}
	return m
}

func TestReassemblyBytesMatchTshark(t *testing.T) {
	rec, a := run(t, "seed-image-list.pcapng")
	w := want(t, "seed-image-list.bytes.tsv")
	g := got(rec, false)
	for k, v := range w {
		if g[k] != v {
			t.Errorf("%s: got %d bytes, tshark %d", k, g[k], v)
		}
	}
	if len(g) != len(w) {
		t.Errorf("got %d directions with data, tshark %d", len(g), len(w))
	}
	st := a.Stats()
	if st.Gaps != 0 || st.Truncated != 0 {
		t.Errorf("clean capture: %d gaps, %d truncated segments", st.Gaps, st.Truncated)
	}
	for _, c := range rec.conns {
		if c.closed != 1 {
			t.Errorf("conn %d closed %d times", c.c.ID, c.closed)
		}
		if c.back {
			t.Errorf("conn %d: data times went backwards", c.c.ID)
		}
		// Every client of keystone or glance speaks HTTP first.
		if p := c.c.Server.Port(); (p == 5000 || p == 9292) && c.data[0] > 0 {
			if s := string(c.first[0]); !strings.HasPrefix(s, "GET ") && !strings.HasPrefix(s, "POST ") {
				t.Errorf("conn %d (%s -> %s) client starts %q", c.c.ID, c.c.Client, c.c.Server, s)
			}
		}
		// keystone (uWSGI) closes every connection after its response.
		if c.c.Server.Port() == 5000 && c.ends[1] != 1 {
			t.Errorf("conn %d: keystone side ended %d times", c.c.ID, c.ends[1])
		}
	}
}

func TestSnaplenCutsBecomeGaps(t *testing.T) {
	rec, a := run(t, "snaplen-truncated.pcapng")
	w := want(t, "snaplen-truncated.bytes.tsv")
	g := got(rec, true)
	for k, v := range w {
		if g[k] != v {
			t.Errorf("%s: data+gaps %d bytes, tshark tcp.len sum %d", k, g[k], v)
		}
	}
	st := a.Stats()
	if st.Truncated == 0 || st.Gaps == 0 {
		t.Fatalf("snaplen capture: %d truncated segments, %d gaps", st.Truncated, st.Gaps)
	}
	for _, c := range rec.conns {
		if p := c.c.Server.Port(); (p == 5000 || p == 9292) && c.data[0] > 0 {
			if s := string(c.first[0]); !strings.HasPrefix(s, "GET ") && !strings.HasPrefix(s, "POST ") {
				t.Errorf("conn %d client starts %q", c.c.ID, s)
			}
		}
	}
}

type pkt struct {
	data []byte
	t    time.Time
}

// load reads the IPv4 packets of an Ethernet pcapng.
func load(t testing.TB, path string) []pkt {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		t.Fatal(err)
	}
	var ps []pkt
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 14 && data[12] == 0x08 && data[13] == 0x00 {
			ps = append(ps, pkt{data[14:], ci.Timestamp})
		}
	}
	return ps
}

func payloadLen(ip []byte) int {
	ihl := int(ip[0]&0x0f) * 4
	total := int(ip[2])<<8 | int(ip[3])
	return total - ihl - int(ip[ihl+12]>>4)*4
}

// TestRetransmissionsAndReordering: a copy of a real capture in which every
// 7th data segment is sent twice and every 5th pair of data segments
// swapped gives the same bytes, with no gap.
func TestRetransmissionsAndReordering(t *testing.T) {
	ps := load(t, filepath.Join("..", "..", "testdata", "captures", "seed-image-list.pcapng"))
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].t.Before(ps[j].t) })
	var mangled []pkt
	data := 0
	for i := 0; i < len(ps); i++ {
		p := ps[i]
		if payloadLen(p.data) > 0 {
			data++
			if data%5 == 0 && i+1 < len(ps) && payloadLen(ps[i+1].data) > 0 {
				mangled = append(mangled, ps[i+1], p)
				i++
				continue
			}
			if data%7 == 0 {
				mangled = append(mangled, p)
			}
		}
		mangled = append(mangled, p)
	}
	rec := &recorder{conns: map[int]*recConn{}}
	a := New(Options{Protocols: []decoder.Protocol{rec.protocol()}}, func(*decoder.Exchange) {})
	for _, p := range mangled {
		a.Packet(p.data, p.t, "lo")
	}
	a.Close()
	w := want(t, "seed-image-list.bytes.tsv")
	g := got(rec, false)
	for k, v := range w {
		if g[k] != v {
			t.Errorf("%s: got %d bytes, want %d", k, g[k], v)
		}
	}
	if st := a.Stats(); st.Gaps != 0 {
		t.Errorf("%d gaps in a capture with nothing lost", st.Gaps)
	}
}

// tenthBigSegment returns the packets of seed-image-list in time order and
// the index of the tenth that carries more than 1,000 bytes (or -1).
func tenthBigSegment(t *testing.T) ([]pkt, int) {
	ps := load(t, filepath.Join("..", "..", "testdata", "captures", "seed-image-list.pcapng"))
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].t.Before(ps[j].t) })
	n := 0
	for i, p := range ps {
		if payloadLen(p.data) > 1000 {
			if n++; n == 10 {
				return ps, i
			}
		}
	}
	return ps, -1
}

// TestLostSegmentIsAGap: dropping one data segment gives a gap of exactly
// its size in that direction, reported once.
func TestLostSegmentIsAGap(t *testing.T) {
	ps, drop := tenthBigSegment(t)
	if drop < 0 {
		t.Fatal("no segment to drop")
	}
	lost := payloadLen(ps[drop].data)
	rec := &recorder{conns: map[int]*recConn{}}
	a := New(Options{Protocols: []decoder.Protocol{rec.protocol()}}, func(*decoder.Exchange) {})
	for i, p := range ps {
		if i != drop {
			a.Packet(p.data, p.t, "lo")
		}
	}
	a.Close()
	st := a.Stats()
	if st.Gaps != 1 || st.LostBytes != int64(lost) {
		t.Errorf("%d gaps, %d bytes lost; want 1 gap of %d", st.Gaps, st.LostBytes, lost)
	}
	total := int64(0)
	for _, c := range rec.conns {
		total += c.gaps[0] + c.gaps[1]
	}
	if total != int64(lost) {
		t.Errorf("decoders were told of %d lost bytes, want %d", total, lost)
	}
}

// TestMidStreamTrustsThePort: when a connection's start was not captured,
// a protocol that claims the server port gets it even if another protocol
// would take the first bytes; with the handshake, content decides.
func TestMidStreamTrustsThePort(t *testing.T) {
	ps := load(t, filepath.Join("..", "..", "testdata", "captures", "seed-image-list.pcapng"))
	got := map[string]map[uint16]int{}
	proto := func(name string, sniff decoder.Verdict, port uint16) decoder.Protocol {
		return decoder.Protocol{
			Name:  name,
			Sniff: func(*decoder.Conn, decoder.Dir, []byte) decoder.Verdict { return sniff },
			Port:  func(p uint16) bool { return p == port },
			New: func(c *decoder.Conn, emit decoder.Emit) decoder.StreamDecoder {
				if got[name] == nil {
					got[name] = map[uint16]int{}
				}
				got[name][c.Server.Port()]++
				return &recConn{c: c}
			},
		}
	}
	for _, withSYN := range []bool{true, false} {
		got = map[string]map[uint16]int{}
		a := New(Options{Protocols: []decoder.Protocol{proto("greedy", decoder.Yes, 0), proto("glance", decoder.No, 9292)}}, func(*decoder.Exchange) {})
		for _, p := range ps {
			ihl := int(p.data[0]&0x0f) * 4
			if syn := p.data[ihl+13]&0x02 != 0; syn && !withSYN {
				continue
			}
			a.Packet(p.data, p.t, "")
		}
		a.Close()
		if withSYN && (got["greedy"][9292] == 0 || got["glance"][9292] != 0) {
			t.Errorf("with handshakes, content should decide: %v", got)
		}
		if !withSYN && (got["greedy"][9292] != 0 || got["glance"][9292] == 0) {
			t.Errorf("mid-stream, the port should decide: %v", got)
		}
	}
}

// TestQueuedSegmentKeepsItsTime: when a segment is lost, the segments
// after it wait in reassembly with their capture data; once reassembly
// gives up on the hole, the bytes go on with the time of the first of
// them, not that of a packet which came later.
func TestQueuedSegmentKeepsItsTime(t *testing.T) {
	ps, drop := tenthBigSegment(t)
	if drop < 0 {
		t.Fatal("no segment to drop")
	}
	// the next segment with data of the same connection and direction
	// (IPv4 addresses and TCP ports)
	tuple := func(ip []byte) string {
		ihl := int(ip[0]&0x0f) * 4
		return string(ip[12:20]) + string(ip[ihl:ihl+4])
	}
	next := -1
	for i := drop + 1; i < len(ps); i++ {
		if tuple(ps[i].data) == tuple(ps[drop].data) && payloadLen(ps[i].data) > 0 {
			next = i
			break
		}
	}
	if next < 0 {
		t.Fatal("no segment after the dropped one")
	}
	var after []time.Time // times of the Data calls right after a Gap
	gapSeen := false
	p := decoder.Protocol{
		Name:  "rec",
		Sniff: func(*decoder.Conn, decoder.Dir, []byte) decoder.Verdict { return decoder.Yes },
		New: func(c *decoder.Conn, emit decoder.Emit) decoder.StreamDecoder {
			return &timeRec{gap: &gapSeen, after: &after}
		},
	}
	for _, concurrent := range []bool{false, true} {
		after, gapSeen = nil, false
		a := New(Options{Protocols: []decoder.Protocol{p}, Concurrent: concurrent}, func(*decoder.Exchange) {})
		for i, p := range ps {
			if i != drop {
				a.Packet(p.data, p.t, "lo")
			}
		}
		a.Close()
		if len(after) != 1 || !after[0].Equal(ps[next].t) {
			t.Errorf("concurrent %v: bytes after the hole delivered at %v, want once at %v (the first segment queued)", concurrent, after, ps[next].t)
		}
	}
}

// timeRec records the time of the first Data after a Gap.
type timeRec struct {
	gap   *bool
	after *[]time.Time
}

func (r *timeRec) Data(d decoder.Dir, b []byte, t time.Time) {
	if *r.gap {
		*r.after = append(*r.after, t)
		*r.gap = false
	}
}
func (r *timeRec) Gap(decoder.Dir, int, time.Time) { *r.gap = true }
func (r *timeRec) End(decoder.Dir, time.Time)      {}
func (r *timeRec) Close(time.Time)                 {}
func (r *timeRec) Pending() time.Time              { return time.Time{} }
func (r *timeRec) Expire(time.Time, string)        {}
