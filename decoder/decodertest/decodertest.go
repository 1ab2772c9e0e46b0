// Package decodertest is the contract every protocol decoder of flowmap
// keeps, as one test kit: a decoder's tests call Run with real recorded
// byte streams and a request that never gets an answer, and the kit checks
// what decoder.StreamDecoder promises (split invariance, bounded queues,
// Pending and Expire, gaps, start order, no panic on any prefix).
//
// It imports only the standard library and decoder, and is meant for
// _test.go files.
package decodertest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// Chunk is one call into a decoder: Data (Data non-nil), Gap (Gap != 0)
// or End, at capture time T.
type Chunk struct {
	Dir  decoder.Dir
	T    time.Time
	Data []byte
	Gap  int
	End  bool
}

// Stream is one recorded connection.
type Stream struct {
	Name   string
	Conn   decoder.Conn
	Chunks []Chunk
}

// Case describes a decoder to check.
type Case struct {
	Proto string // Exchange.Proto the decoder sets
	New   func(c *decoder.Conn, emit decoder.Emit) decoder.StreamDecoder
	// Streams are real recorded connections; each must decode to at
	// least one exchange.
	Streams []Stream
	// Unanswered returns the client bytes of the i-th request of a run
	// that never gets a reply (one whole request each).
	Unanswered func(i int) []byte
	// MaxQueue is the decoder's bound on requests awaiting a reply.
	MaxQueue int
	// ByteLimit: streams up to this many bytes are also fed one byte at
	// a time (default 64 KiB); longer ones only in random pieces.
	ByteLimit int
	// MaxNotes bounds the notes of any exchange (default 32).
	MaxNotes int
}

// Run checks c against the decoder contract, one subtest per property.
func Run(t *testing.T, c Case) {
	t.Helper()
	if c.New == nil || len(c.Streams) == 0 || c.Unanswered == nil || c.MaxQueue <= 0 {
		t.Fatal("decodertest: Case needs New, Streams, Unanswered and MaxQueue")
	}
	if c.ByteLimit == 0 {
		c.ByteLimit = 64 << 10
	}
	if c.MaxNotes == 0 {
		c.MaxNotes = 32
	}
	for _, s := range c.Streams {
		t.Run("split/"+s.Name, func(t *testing.T) { checkSplits(t, c, s) })
		t.Run("prefix/"+s.Name, func(t *testing.T) { checkPrefixes(t, c, s) })
		t.Run("gap/"+s.Name, func(t *testing.T) { checkGap(t, c, s) })
	}
	t.Run("unanswered", func(t *testing.T) { checkUnanswered(t, c) })
	t.Run("expire", func(t *testing.T) { checkExpire(t, c) })
}

// run feeds chunks to a new decoder, each Data cut by split (nil: whole),
// closes it and returns what it emitted. Input buffers are overwritten
// after each call, so a decoder that keeps them shows up as a difference.
func run(t *testing.T, c Case, s Stream, chunks []Chunk, split func(int) []int) []*decoder.Exchange {
	t.Helper()
	conn := s.Conn
	var got []*decoder.Exchange
	d := c.New(&conn, func(e *decoder.Exchange) { got = append(got, e) })
	var last time.Time
	for _, ch := range chunks {
		last = ch.T
		switch {
		case ch.Data != nil:
			data := ch.Data
			parts := []int{len(data)}
			if split != nil {
				parts = split(len(data))
			}
			for _, n := range parts {
				scratch := append([]byte(nil), data[:n]...)
				d.Data(ch.Dir, scratch, ch.T)
				for i := range scratch {
					scratch[i] = 0xEE
				}
				data = data[n:]
			}
		case ch.Gap != 0:
			d.Gap(ch.Dir, ch.Gap, ch.T)
		case ch.End:
			d.End(ch.Dir, ch.T)
		}
	}
	d.Close(last)
	if p := d.Pending(); !p.IsZero() {
		t.Errorf("Pending() = %v after Close, want zero", p)
	}
	checkEmitted(t, c, &conn, got)
	return got
}

// checkEmitted: every exchange is the decoder's, on its connection, and
// they leave in start order.
func checkEmitted(t *testing.T, c Case, conn *decoder.Conn, xs []*decoder.Exchange) {
	t.Helper()
	for i, x := range xs {
		if x.Proto != c.Proto || x.Conn != conn {
			t.Fatalf("exchange %d: proto %q conn %p, want %q %p", i, x.Proto, x.Conn, c.Proto, conn)
		}
		if len(x.Notes) > c.MaxNotes {
			t.Fatalf("exchange %d has %d notes, more than %d: notes must be capped", i, len(x.Notes), c.MaxNotes)
		}
		if i > 0 && x.Start().Before(xs[i-1].Start()) {
			t.Fatalf("exchange %d starts at %v, before exchange %d (%v): not in start order", i, x.Start(), i-1, xs[i-1].Start())
		}
	}
}

// Dump renders exchanges one per line, for comparisons and messages.
func Dump(xs []*decoder.Exchange) []string {
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		req, _ := json.Marshal(x.Request)
		resp, _ := json.Marshal(x.Response)
		out = append(out, fmt.Sprintf("%s %s %s %s req=%s resp=%s truncated=%v notes=%q",
			stamp(x.ReqStart), stamp(x.ReqEnd), stamp(x.RespStart), stamp(x.RespEnd), req, resp, x.Truncated, x.Notes))
	}
	return out
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("15:04:05.000000000")
}

func size(s Stream) int {
	n := 0
	for _, ch := range s.Chunks {
		n += len(ch.Data)
	}
	return n
}

func compare(t *testing.T, how string, want, got []string) {
	t.Helper()
	for i := 0; i < len(want) || i < len(got); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			t.Fatalf("%s: exchange %d of %d/%d differs\nwhole: %s\n  got: %s", how, i, len(want), len(got), cut(w), cut(g))
		}
	}
}

func cut(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}

// checkSplits: the same bytes cut anywhere decode to the same exchanges.
func checkSplits(t *testing.T, c Case, s Stream) {
	whole := Dump(run(t, c, s, s.Chunks, nil))
	if len(whole) == 0 {
		t.Fatalf("no exchange decoded: split invariance would prove nothing")
	}
	if size(s) <= c.ByteLimit {
		compare(t, "byte by byte", whole, Dump(run(t, c, s, s.Chunks, func(n int) []int {
			out := make([]int, n)
			for i := range out {
				out[i] = 1
			}
			return out
		})))
	}
	for seed := uint64(1); seed <= 3; seed++ {
		rng := rand.New(rand.NewPCG(seed, uint64(len(s.Chunks))))
		maxPiece := []int{7, 300, 5000}[seed-1]
		compare(t, fmt.Sprintf("random pieces of 1..%d bytes (seed %d)", maxPiece, seed), whole, Dump(run(t, c, s, s.Chunks, func(n int) []int {
			var out []int
			for n > 0 {
				k := min(n, 1+rng.IntN(maxPiece))
				out = append(out, k)
				n -= k
			}
			return out
		})))
	}
}

// prefix returns the chunks holding the first n bytes of s.
func prefix(s Stream, n int) []Chunk {
	var out []Chunk
	for _, ch := range s.Chunks {
		if ch.Data == nil {
			out = append(out, ch)
			continue
		}
		if n <= 0 {
			break
		}
		if len(ch.Data) > n {
			ch.Data = ch.Data[:n]
		}
		n -= len(ch.Data)
		out = append(out, ch)
	}
	return out
}

// checkPrefixes: a capture may stop anywhere; no prefix panics, and what
// is emitted still keeps the contract.
func checkPrefixes(t *testing.T, c Case, s Stream) {
	total := size(s)
	const points = 96
	seen := map[int]bool{}
	for i := 0; i <= points; i++ {
		n := total * i / points
		for _, m := range []int{n, n + 1, n + 5} { // also just past a boundary
			if m > total || seen[m] {
				continue
			}
			seen[m] = true
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panic on the first %d of %d bytes: %v", m, total, r)
					}
				}()
				run(t, c, s, prefix(s, m), nil)
			}()
		}
	}
}

// checkGap: bytes lost inside the largest segment mark an exchange that
// had begun by then Truncated.
func checkGap(t *testing.T, c Case, s Stream) {
	big := -1
	for i, ch := range s.Chunks {
		if len(ch.Data) >= 3 && (big < 0 || len(ch.Data) > len(s.Chunks[big].Data)) {
			big = i
		}
	}
	if big < 0 {
		t.Skip("no segment to cut a gap into")
	}
	at := s.Chunks[big]
	truncatedBy := func(xs []*decoder.Exchange) int {
		n := 0
		for _, x := range xs {
			if x.Truncated && !x.Start().After(at.T) {
				n++
			}
		}
		return n
	}
	clean := truncatedBy(run(t, c, s, s.Chunks, nil))
	third := len(at.Data) / 3
	gapped := append([]Chunk(nil), s.Chunks[:big]...)
	gapped = append(gapped,
		Chunk{Dir: at.Dir, T: at.T, Data: at.Data[:third]},
		Chunk{Dir: at.Dir, T: at.T, Gap: third},
		Chunk{Dir: at.Dir, T: at.T, Data: at.Data[2*third:]})
	gapped = append(gapped, s.Chunks[big+1:]...)
	xs := run(t, c, s, gapped, nil)
	// When the clean run has truncated exchanges there already (a snaplen
	// cut), the gap can only be asked to leave them so.
	if got := truncatedBy(xs); got == 0 || got < clean {
		t.Fatalf("gap of %d bytes in the segment at %v: %d exchanges begun by then are truncated (%d without the gap)\n%s",
			third, stamp(at.T), got, clean, strings.Join(Dump(xs), "\n"))
	}
}

// checkUnanswered: requests that never get a reply keep the queue under
// MaxQueue, Pending no older than the MaxQueue-th newest request, and the
// ones given up on leave truncated, with a note; Close emits the rest.
func checkUnanswered(t *testing.T, c Case) {
	conn := decoder.Conn{ID: 1, SawSYN: true}
	var got []*decoder.Exchange
	d := c.New(&conn, func(e *decoder.Exchange) { got = append(got, e) })
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }
	n := 4*c.MaxQueue + 3
	for i := range n {
		d.Data(decoder.ClientToServer, c.Unanswered(i), at(i))
		if waiting := i + 1 - len(got); waiting > c.MaxQueue {
			t.Fatalf("after %d unanswered requests %d are held, more than the bound %d", i+1, waiting, c.MaxQueue)
		}
		if p, oldest := d.Pending(), at(max(0, i+1-c.MaxQueue)); p.Before(oldest) {
			t.Fatalf("after %d unanswered requests Pending() = %v, older than request %d (%v), the oldest the queue may hold",
				i+1, stamp(p), i+1-c.MaxQueue, stamp(oldest))
		}
	}
	given := len(got)
	if given < n-c.MaxQueue {
		t.Fatalf("%d of %d unanswered requests emitted before Close, want at least %d", given, n, n-c.MaxQueue)
	}
	for i, x := range got {
		if !x.Truncated || len(x.Notes) == 0 || x.Response != nil {
			t.Fatalf("request %d given up on: truncated %v notes %q response %v, want truncated with a note and no response", i, x.Truncated, x.Notes, x.Response)
		}
	}
	d.Close(at(n))
	if len(got) != n {
		t.Fatalf("%d exchanges after Close, want %d", len(got), n)
	}
	checkEmitted(t, c, &conn, got)
}

// checkExpire: Expire emits the requests begun before its time, with its
// reason, and Pending moves past them.
func checkExpire(t *testing.T, c Case) {
	conn := decoder.Conn{ID: 1, SawSYN: true}
	var got []*decoder.Exchange
	d := c.New(&conn, func(e *decoder.Exchange) { got = append(got, e) })
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	const n, cutAt = 10, 6
	for i := range n {
		d.Data(decoder.ClientToServer, c.Unanswered(i), at(i))
	}
	if len(got) != 0 {
		t.Fatalf("%d exchanges emitted before any reply could be late", len(got))
	}
	if p := d.Pending(); !p.Equal(at(0)) {
		t.Fatalf("Pending() = %v, want the first request's start %v", stamp(p), stamp(at(0)))
	}
	d.Expire(at(cutAt), "kit limit")
	if len(got) != cutAt {
		t.Fatalf("Expire before request %d emitted %d exchanges, want %d", cutAt, len(got), cutAt)
	}
	for i, x := range got {
		if !x.Truncated || !strings.Contains(strings.Join(x.Notes, "; "), "emitted in progress: kit limit") {
			t.Fatalf("expired exchange %d: truncated %v notes %q", i, x.Truncated, x.Notes)
		}
	}
	if p := d.Pending(); !p.Equal(at(cutAt)) {
		t.Fatalf("Pending() = %v after Expire, want %v", stamp(p), stamp(at(cutAt)))
	}
	d.Close(at(n))
	if len(got) != n {
		t.Fatalf("%d exchanges after Close, want %d", len(got), n)
	}
	checkEmitted(t, c, &conn, got)
}

// Doubling runs the work setup(n) returns and the work setup(2n) returns
// in every iteration and reports how much longer the second took as
// "x2-ratio": about 2 for a linear cost, 4 for a quadratic one. Setup is
// not timed.
func Doubling(b *testing.B, n int, setup func(n int) func()) {
	b.Helper()
	small, large := setup(n), setup(2*n)
	var ts, tl time.Duration
	for b.Loop() {
		t0 := time.Now()
		small()
		t1 := time.Now()
		large()
		ts += t1.Sub(t0)
		tl += time.Since(t1)
	}
	if ts > 0 {
		b.ReportMetric(float64(tl)/float64(ts), "x2-ratio")
	}
	b.ReportMetric(float64(tl.Nanoseconds())/float64(b.N)/float64(2*n), "ns/unit")
}

// BenchmarkUnanswered feeds n, then 2n requests of c that never get a
// reply to a new decoder each and reports the x2-ratio (see Doubling):
// with the queue bounded at MaxQueue the cost per request is constant.
func BenchmarkUnanswered(b *testing.B, c Case, n int) {
	b.Helper()
	Doubling(b, n, func(n int) func() {
		reqs := make([][]byte, n)
		for i := range reqs {
			reqs[i] = c.Unanswered(i)
		}
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		return func() {
			d := c.New(&decoder.Conn{ID: 1, SawSYN: true}, func(*decoder.Exchange) {})
			for i, r := range reqs {
				d.Data(decoder.ClientToServer, r, t0.Add(time.Duration(i)*time.Microsecond))
			}
			d.Close(t0.Add(time.Hour))
		}
	})
}
