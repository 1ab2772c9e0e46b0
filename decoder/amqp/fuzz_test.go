package amqp

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/decodertest"
)

// A fuzz input is a flags byte (bit 0: capture began mid-connection, bits
// 1-2: MaxBody choice) and records of
//
//	kind (bit 0: direction; bits 1-2: 0 data, 1 gap, 2 fin), length uint16, data
//
// where a gap's length is its size (0xFFFF: unknown). Seeds are the real
// streams of testdata, encoded so, and the malformed cases.

type op struct {
	dir  decoder.Dir
	data []byte
	gap  int
	fin  bool
}

func encodeFuzz(c *conv) []byte { return decodertest.EncodeFuzz(c.Stream) }

func decodeFuzz(b []byte) (midStream bool, opts Options, ops []op) {
	midStream, variant, chunks := decodertest.DecodeFuzz(b)
	opts.MaxBody = [...]int{0, 16, -1, 1}[variant]
	for _, c := range chunks {
		ops = append(ops, op{dir: c.Dir, data: c.Data, gap: c.Gap, fin: c.End})
	}
	return midStream, opts, ops
}

// FuzzDecoder feeds arbitrary conversations: the decoder must not panic,
// must give the same exchanges whether fed whole segments or 3 bytes at a
// time, must emit in start order and never before Pending, must leave
// nothing pending after Close, and its Redacted output must marshal.
func FuzzDecoder(f *testing.F) {
	for _, name := range realStreams {
		f.Add(encodeFuzz(readConv(f, "testdata/streams/"+name+".conv")))
	}
	for _, s := range [][]byte{
		cat([]byte("AMQP\x00\x00\x09\x01"), queueDeclare(1, "q"), publish(1, "x", "y"), header(1, 3), body(1, "abc")),
		cat(publish(2, "nova", "a"), header(2, 1<<40), body(2, "{}"), heartbeat),
		declareWithTable("q", []byte{0, 0, 0, 9, 1, 'k', 'A', 0, 0, 0, 2, 't', 1}),
	} {
		b := []byte{0, 0, 0, 0}
		binary.BigEndian.PutUint16(b[2:], uint16(len(s)))
		f.Add(append(b, s...))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		midStream, opts, ops := decodeFuzz(in)
		whole := fuzzRun(t, midStream, opts, ops, 0)
		split := fuzzRun(t, midStream, opts, ops, 3)
		if strings.Join(whole, "\n") != strings.Join(split, "\n") {
			t.Fatalf("whole segments and 3-byte pieces differ:\nwhole\n%s\nsplit\n%s", strings.Join(whole, "\n"), strings.Join(split, "\n"))
		}
	})
}

var fuzzT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func fuzzRun(t *testing.T, midStream bool, opts Options, ops []op, split int) []string {
	var got []*decoder.Exchange
	var bound, last time.Time
	conn := &decoder.Conn{ID: 1, SawSYN: !midStream}
	d := New(conn, func(x *decoder.Exchange) {
		if x.Proto != "amqp" || x.Conn != conn || x.Request == nil {
			t.Fatalf("bad exchange %+v", x)
		}
		if x.Start().Before(bound) || x.Start().Before(last) {
			t.Fatalf("exchange starting %v after Pending %v / previous start %v", x.Start(), bound, last)
		}
		last = x.Start()
		if len(x.Notes) > maxNotes+1 {
			t.Fatalf("%d notes", len(x.Notes))
		}
		if m, ok := x.Request.(*Message); ok && len(m.Body) > max(opts.maxBody(), 0) {
			t.Fatalf("kept %d body bytes, cap %d", len(m.Body), opts.maxBody())
		}
		for _, m := range []decoder.Message{x.Request, x.Response} {
			if m != nil {
				_ = m.Summary()
				json.Marshal(m.Redacted()) // NaN floats fail, but must not panic
			}
		}
		got = append(got, x)
	}, opts)
	for i, o := range ops {
		tm := fuzzT0.Add(time.Duration(i) * time.Microsecond)
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
			for data := o.data; len(data) > 0; {
				n := len(data)
				if split > 0 {
					n = min(n, split)
				}
				d.Data(o.dir, append([]byte(nil), data[:n]...), tm)
				data = data[n:]
			}
		}
	}
	d.Close(fuzzT0.Add(time.Hour))
	if !d.Pending().IsZero() {
		t.Fatalf("Pending %v after Close", d.Pending())
	}
	return decodertest.Dump(got)
}
