package memcache

import (
	"encoding/binary"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/decodertest"
)

// A fuzz input is a flags byte (bit 0: capture started mid-connection,
// bits 1-2: MaxValue choice) and records of
//
//	kind (bit 0: direction; bits 1-2: 0 data, 1 gap, 2 fin), length uint16, data
//
// where a gap's length is its size (0xFFFF: unknown). Seeds are the real
// conversations of testdata, encoded so.

func encodeFuzz(c *conv) []byte { return decodertest.EncodeFuzz(c.Stream) }

func decodeFuzz(b []byte) (midStream bool, opts Options, ops []op) {
	midStream, variant, chunks := decodertest.DecodeFuzz(b)
	opts.MaxValue = [...]int{0, 16, -1, 1}[variant]
	for _, c := range chunks {
		ops = append(ops, op{dir: c.Dir, data: string(c.Data), gap: c.Gap, fin: c.End})
	}
	return midStream, opts, ops
}

// fullToken matches a whole fernet token (read-only).
var fullToken = regexp.MustCompile(`gAAAAA[A-Za-z0-9_=-]{94,}`)

func fuzzSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.conv")
	for _, path := range files {
		f.Add(encodeFuzz(readConv(f, path)))
	}
	// a few hand-made shapes the real traffic lacks
	for _, s := range []string{
		"set k 0 0 18446744073709551616\r\nhello\r\n",
		"get a b c\r\nmg k v q Oq\r\nmn\r\n",
		string(bin(0x09, "k", "", "", 1, 0)) + string(bin(0x0a, "", "", "", 2, 0)),
	} {
		b := []byte{0, 0, 0, 0}
		binary.BigEndian.PutUint16(b[2:], uint16(len(s)))
		f.Add(append(b, s...))
	}
}

// FuzzDecoder feeds arbitrary conversations: the decoder must not panic,
// must give the same exchanges whatever the split, must emit in start
// order and honour Pending, and must leave nothing pending after Close.
func FuzzDecoder(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		midStream, opts, ops := decodeFuzz(in)
		start := time.Now()
		defer func() {
			if el := time.Since(start); el > 2*time.Second {
				t.Fatalf("slow input: %v for %d bytes", el, len(in))
			}
		}()
		whole := fuzzRun(t, midStream, opts, ops, 0)
		split := fuzzRun(t, midStream, opts, ops, 3)
		if len(whole) != len(split) {
			t.Fatalf("whole: %d exchanges, split by 3: %d", len(whole), len(split))
		}
		for i := range whole {
			if whole[i] != split[i] {
				t.Fatalf("exchange %d:\nwhole %s\nsplit %s", i, whole[i], split[i])
			}
		}
	})
}

// fuzzRun plays ops, each data op cut in pieces of split bytes (0: whole),
// checks the invariants and returns the exchanges described.
func fuzzRun(t *testing.T, midStream bool, opts Options, ops []op, split int) []string {
	var out []string
	var bound, last time.Time
	check := func(e *decoder.Exchange) {
		if e.Proto != "memcache" || (e.Request == nil && e.Response == nil) {
			t.Fatalf("bad exchange %+v", e)
		}
		if e.Start().Before(bound) {
			t.Fatalf("exchange starting %v emitted after Pending said %v: %s", e.Start(), bound, describe(e))
		}
		if e.Start().Before(last) {
			t.Fatalf("exchanges out of start order: %v after %v", e.Start(), last)
		}
		last = e.Start()
		if e.ReqEnd.Before(e.ReqStart) || e.RespEnd.Before(e.RespStart) || (e.Response == nil) != e.RespStart.IsZero() {
			t.Fatalf("bad times %s: %v %v %v %v", describe(e), e.ReqStart, e.ReqEnd, e.RespStart, e.RespEnd)
		}
		if q, ok := e.Request.(*Request); ok {
			_ = q.Summary()
			if r := q.Redacted().(*Request); fullToken.MatchString(r.Value) {
				t.Fatalf("token left in redacted value %q", r.Value)
			}
		}
		if p, ok := e.Response.(*Response); ok {
			_ = p.Summary()
			for _, v := range p.Redacted().(*Response).Values {
				if fullToken.MatchString(v.Data) {
					t.Fatalf("token left in redacted data %q", v.Data)
				}
			}
		}
		out = append(out, describe(e))
	}
	d := New(&decoder.Conn{SawSYN: !midStream}, check, opts)
	var tm time.Time
	for i, o := range ops {
		tm = t0.Add(time.Duration(i) * time.Microsecond)
		if p := d.Pending(); !p.IsZero() {
			bound = p
		} else {
			bound = tm
		}
		switch {
		case o.fin:
			d.End(o.dir, tm)
		case o.gap != 0:
			d.Gap(o.dir, o.gap, tm)
		default:
			data := []byte(o.data)
			for len(data) > 0 {
				n := len(data)
				if split > 0 {
					n = min(n, split)
				}
				d.Data(o.dir, data[:n], tm)
				data = data[n:]
			}
		}
	}
	if p := d.Pending(); !p.IsZero() {
		bound = p
	} else {
		bound = tm
	}
	d.Close(tm.Add(time.Microsecond))
	if p := d.Pending(); !p.IsZero() {
		t.Fatalf("Pending %v after Close", p)
	}
	return out
}

// BenchmarkDecoder decodes every recorded conversation (lab captures and
// live recordings: text, meta, binary), segment by segment.
func BenchmarkDecoder(b *testing.B) {
	var convs []*conv
	var total int64
	files, _ := filepath.Glob("testdata/*/*.conv")
	for _, f := range files {
		c := readConv(b, f)
		convs = append(convs, c)
		for _, l := range c.Chunks {
			total += int64(len(l.Data))
		}
	}
	b.SetBytes(total)
	b.ReportAllocs()
	emit := func(*decoder.Exchange) {}
	for b.Loop() {
		for _, c := range convs {
			d := New(c.conn(), emit, Options{})
			for _, l := range c.Chunks {
				switch {
				case l.End:
					d.End(l.Dir, l.T)
				case l.Gap > 0:
					d.Gap(l.Dir, l.Gap, l.T)
				default:
					d.Data(l.Dir, l.Data, l.T)
				}
			}
			d.Close(time.Time{})
		}
	}
}

// BenchmarkTokenCache is the hot path of the OpenStack captures: a get
// hit of a 1980-byte token JSON and a set, in the segments seen on lo.
func BenchmarkTokenCache(b *testing.B) {
	c := readConv(b, "testdata/streams/warm-cache.s5.conv")
	var total int64
	for _, l := range c.Chunks {
		total += int64(len(l.Data))
	}
	b.SetBytes(total)
	b.ReportAllocs()
	emit := func(*decoder.Exchange) {}
	for b.Loop() {
		d := New(c.conn(), emit, Options{})
		for _, l := range c.Chunks {
			d.Data(l.Dir, l.Data, l.T)
		}
		d.Close(time.Time{})
	}
}
