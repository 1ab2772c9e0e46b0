package mysql

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// fuzzInput packs a conversation into one byte string: each chunk is a
// control byte (bit 0: direction, bit 1: SawSYN on the first chunk, bit 2: a
// gap before it, bits 3-7: unused), a 2-byte length and the bytes.
func fuzzInput(chunks []chunk, limit int) []byte {
	var out []byte
	for i, ch := range chunks {
		if len(out) > limit {
			break
		}
		ctl := byte(ch.dir)
		if i == 0 {
			ctl |= 2
		}
		for data := ch.data; len(data) > 0; {
			n := min(len(data), 0xffff)
			out = append(out, ctl, byte(n), byte(n>>8))
			out = append(out, data[:n]...)
			data = data[n:]
		}
	}
	return out
}

// FuzzDecoder feeds arbitrary conversations, gaps included, and checks that
// the decoder neither panics nor emits what it must not: exchanges out of
// order, a Pending time later than an unemitted start, or invalid JSON.
func FuzzDecoder(f *testing.F) {
	for _, name := range []string{"seed-image-list-9", "concurrent-44", "rec-perl-prepared", "rec-cli-compress",
		"rec-cli-errors", "rec-cli-ed25519", "rec-cli-infile", "rec-admin"} {
		f.Add(fuzzInput(loadStream(f, name), 2500))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		sawSYN := len(in) > 0 && in[0]&2 != 0
		var got []*decoder.Exchange
		d := New(&decoder.Conn{ID: 1, SawSYN: sawSYN}, func(x *decoder.Exchange) { got = append(got, x) }, Options{MaxQuery: 64})
		t0 := time.Unix(0, 0)
		i := 0
		for step := 0; i+3 <= len(in); step++ {
			ctl := in[i]
			n := int(in[i+1]) | int(in[i+2])<<8
			i += 3
			n = min(n, len(in)-i)
			dir := decoder.Dir(ctl & 1)
			now := t0.Add(time.Duration(step) * time.Millisecond)
			if ctl&4 != 0 {
				d.Gap(dir, int(int8(ctl>>3)), now)
			}
			if p := d.Pending(); !p.IsZero() && p.After(now) {
				t.Fatalf("pending %v after now %v", p, now)
			}
			d.Data(dir, in[i:i+n], now)
			i += n
		}
		d.Close(t0.Add(time.Hour))
		var last time.Time
		for _, x := range got {
			if x.Request == nil || x.Proto != "mysql" {
				t.Fatalf("bad exchange %+v", x)
			}
			if x.ReqStart.Before(last) {
				t.Fatalf("exchanges out of order")
			}
			last = x.ReqStart
			r := x.Request.(*Request)
			if len(r.Query) > 64 {
				t.Fatalf("query of %d bytes kept", len(r.Query))
			}
			if _, err := json.Marshal([]decoder.Message{x.Request, x.Response}); err != nil {
				t.Fatal(err)
			}
			_ = x.Request.Summary()
			if x.Response != nil {
				_ = x.Response.Summary()
			}
		}
		if !d.Pending().IsZero() {
			t.Fatalf("pending after Close")
		}
	})
}

// BenchmarkDecoder decodes a real pooled keystone connection (SQLAlchemy +
// PyMySQL, 212 segments, result sets over lo).
func BenchmarkDecoder(b *testing.B) {
	chunks := loadStream(b, "keystone-only-1")
	var total int64
	for _, ch := range chunks {
		total += int64(len(ch.data))
	}
	b.SetBytes(total)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		d := New(&decoder.Conn{ID: 1}, func(*decoder.Exchange) { n++ }, Options{})
		for _, ch := range chunks {
			d.Data(ch.dir, ch.data, ch.t)
		}
		d.Close(chunks[len(chunks)-1].t)
	}
	if n == 0 {
		b.Fatal("no exchanges")
	}
}

// BenchmarkDecoderCompressed decodes the recorded --compress session.
func BenchmarkDecoderCompressed(b *testing.B) {
	chunks := loadStream(b, "rec-cli-compress")
	var total int64
	for _, ch := range chunks {
		total += int64(len(ch.data))
	}
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		d := New(&decoder.Conn{ID: 1, SawSYN: true}, func(*decoder.Exchange) {}, Options{})
		for _, ch := range chunks {
			d.Data(ch.dir, ch.data, ch.t)
		}
		d.Close(chunks[len(chunks)-1].t)
	}
}
