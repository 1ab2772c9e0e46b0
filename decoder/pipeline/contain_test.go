package pipeline

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/internal/truth"
)

// faulty wraps a protocol so that its decoder on connection conn panics
// at its after-th Data call (an index out of range, as a decoder bug on
// unforeseen bytes would; with quote, a panic quoting the bytes).
func faulty(p decoder.Protocol, conn, after int, quote bool) decoder.Protocol {
	inner := p.New
	p.New = func(c *decoder.Conn, emit decoder.Emit) decoder.StreamDecoder {
		d := inner(c, emit)
		if c.ID != conn {
			return d
		}
		return &faultyDecoder{StreamDecoder: d, left: after, quote: quote}
	}
	return p
}

type faultyDecoder struct {
	decoder.StreamDecoder
	left  int
	quote bool
}

func (f *faultyDecoder) Data(dir decoder.Dir, b []byte, t time.Time) {
	f.left--
	if f.left == 0 && f.quote {
		panic(fmt.Sprintf("cannot read %q", b))
	}
	if f.left == 0 {
		var none []byte
		_ = none[len(b)] // the bug
	}
	f.StreamDecoder.Data(dir, b, t)
}

// TestDecoderPanicContained: a decoder that panics on one connection costs
// that connection, not the run, in the serial and the staged pipeline:
// every other connection's exchanges are the ones a sound run gives, in
// the same order; the failed connection's exchanges emitted before the
// panic are the sound run's first ones; and a Fatal diagnostic names the
// protocol, the connection and where the panic came from.
func TestDecoderPanicContained(t *testing.T) {
	path := filepath.Join(truth.Root(), "testdata", "captures", "seed-image-list.pcapng")
	type run struct {
		proto  map[int]string
		byConn map[int][]string
		order  []string // every exchange but the failed connection's
		res    *Result
	}
	decode := func(opts Options, skip int) run {
		r := run{proto: map[int]string{}, byConn: map[int][]string{}}
		res, err := Run([]string{path}, opts, func(e *decoder.Exchange) {
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			r.proto[e.Conn.ID] = e.Proto
			r.byConn[e.Conn.ID] = append(r.byConn[e.Conn.ID], string(b))
			if e.Conn.ID != skip {
				r.order = append(r.order, string(b))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		r.res = res
		return r
	}
	sound := decode(Options{Serial: true}, 0)
	// The MySQL connection with the most exchanges fails at its 10th read.
	target := 0
	for id, exs := range sound.byConn {
		if sound.proto[id] == "mysql" && (len(exs) > len(sound.byConn[target]) || len(exs) == len(sound.byConn[target]) && id < target) {
			target = id
		}
	}
	if len(sound.byConn[target]) < 10 {
		t.Fatalf("no MySQL connection with 10 exchanges to break (best: %d, %d)", target, len(sound.byConn[target]))
	}
	want := decode(Options{Serial: true}, target)
	for _, c := range []struct{ serial, quote bool }{{true, false}, {false, false}, {true, true}} {
		serial := c.serial
		t.Run(fmt.Sprintf("serial=%v,quote=%v", c.serial, c.quote), func(t *testing.T) {
			if !serial {
				needTwoCores(t)
			}
			var o Options
			o.Serial = serial
			for _, p := range o.Protocols() {
				if p.Name == "mysql" {
					p = faulty(p, target, 10, c.quote)
				}
				o.TCP.Protocols = append(o.TCP.Protocols, p)
			}
			got := decode(o, target)
			if strings.Join(got.order, "\n") != strings.Join(want.order, "\n") {
				t.Errorf("the other connections' exchanges differ from a sound run's (%d vs %d)", len(got.order), len(want.order))
			}
			kept, all := got.byConn[target], sound.byConn[target]
			if len(kept) >= len(all) {
				t.Errorf("connection %d kept %d of %d exchanges after its decoder failed", target, len(kept), len(all))
			}
			for i := range kept {
				if kept[i] != all[i] {
					t.Errorf("connection %d: exchange %d differs from the sound run's", target, i)
				}
			}
			if got.res.TCP.Failed != 1 || got.res.TCP.FailedBytes == 0 {
				t.Errorf("Stats.Failed = %d, FailedBytes %d: want 1 connection, its later bytes counted", got.res.TCP.Failed, got.res.TCP.FailedBytes)
			}
			if got.res.TCP.UnknownBytes != sound.res.TCP.UnknownBytes || got.res.TCP.Unknown != sound.res.TCP.Unknown {
				t.Errorf("unknown protocol: %d connections, %d bytes; a sound run %d, %d: the failed connection's bytes counted as unknown", got.res.TCP.Unknown, got.res.TCP.UnknownBytes, sound.res.TCP.Unknown, sound.res.TCP.UnknownBytes)
			}
			if !got.res.Fatal() {
				t.Error("no Fatal diagnostic: the output is partial and must say so")
			}
			var diag string
			for _, d := range got.res.Diagnostics {
				if strings.Contains(d.What, "decoder failed") {
					diag = d.String()
				}
			}
			what := "index out of range"
			if c.quote {
				// the panic's text may quote the bytes (a password):
				// only its type is told
				what = "a panic (string)"
				if strings.Contains(diag, "cannot read") {
					t.Errorf("diagnostic %q quotes the panic, which quotes the bytes", diag)
				}
			}
			for _, w := range []string{"the mysql decoder", fmt.Sprintf("connection %d ", target), what, "in pipeline.(*faultyDecoder).Data", "flowmap bug"} {
				if !strings.Contains(diag, w) {
					t.Errorf("diagnostic %q does not say %q", diag, w)
				}
			}
		})
	}
}

// failing wraps a protocol so that on connection conn the method named
// by in panics the first time it is called: the decoder's Close (at the
// end of the capture), its Expire (an exchange held past MaxHold) or the
// protocol's Sniff.
func failing(p decoder.Protocol, conn int, in string) decoder.Protocol {
	if in == "Sniff" {
		inner := p.Sniff
		p.Sniff = func(c *decoder.Conn, dir decoder.Dir, first []byte) decoder.Verdict {
			if c.ID == conn {
				var none []int
				_ = none[len(first)] // the bug
			}
			return inner(c, dir, first)
		}
		return p
	}
	inner := p.New
	p.New = func(c *decoder.Conn, emit decoder.Emit) decoder.StreamDecoder {
		d := inner(c, emit)
		if c.ID != conn {
			return d
		}
		return &failingDecoder{StreamDecoder: d, in: in}
	}
	return p
}

type failingDecoder struct {
	decoder.StreamDecoder
	in string
}

func (f *failingDecoder) Close(t time.Time) {
	if f.in == "Close" {
		var none []int
		_ = none[t.Second()+1] // the bug
	}
	f.StreamDecoder.Close(t)
}

func (f *failingDecoder) Expire(before time.Time, why string) {
	if f.in == "Expire" {
		var none []int
		_ = none[len(why)] // the bug
	}
	f.StreamDecoder.Expire(before, why)
}

// TestDecoderPanicContainedOutsideData: a panic in a decoder's Close or
// Expire, or in a protocol's Sniff, is contained like one in Data: the run
// ends, every other connection's exchanges are a sound run's, and a Fatal
// diagnostic names the connection and where it failed.
func TestDecoderPanicContainedOutsideData(t *testing.T) {
	path := filepath.Join(truth.Root(), "testdata", "captures", "seed-image-list.pcapng")
	decode := func(opts Options, skip int) ([]string, *Result) {
		var out []string
		res, err := Run([]string{path}, opts, func(e *decoder.Exchange) {
			if e.Conn.ID == skip {
				return
			}
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		})
		if err != nil {
			t.Fatal(err)
		}
		return out, res
	}
	for _, c := range []struct {
		in     string
		serial bool
	}{{"Close", true}, {"Expire", true}, {"Sniff", true}, {"Close", false}, {"Expire", false}, {"Sniff", false}} {
		in := c.in
		t.Run(fmt.Sprintf("%s,serial=%v", in, c.serial), func(t *testing.T) {
			if !c.serial {
				needTwoCores(t)
			}
			var base Options
			base.Serial = c.serial
			if in == "Expire" {
				base.TCP.MaxHold = time.Millisecond // every answer is "late"
			}
			_, sound := decode(base, -1)
			if in == "Expire" && sound.TCP.Expired == 0 {
				t.Fatal("no exchange held past MaxHold: Expire is never called")
			}
			// the first connection whose decoder the method is asked of
			// (Sniff: the first MySQL one)
			target, proto := -1, ""
			_, _ = decode(withProtocols(base, func(p decoder.Protocol) decoder.Protocol {
				inner, name := p.New, p.Name
				p.New = func(c *decoder.Conn, emit decoder.Emit) decoder.StreamDecoder {
					return &probe{StreamDecoder: inner(c, emit), seen: func(method string) {
						if target < 0 && (method == in || in == "Sniff" && name == "mysql") {
							target, proto = c.ID, name
						}
					}}
				}
				return p
			}), -1)
			if target < 0 {
				t.Fatalf("no connection's %s called", in)
			}
			want, _ := decode(base, target)
			got, res := decode(withProtocols(base, func(p decoder.Protocol) decoder.Protocol {
				if p.Name == proto {
					return failing(p, target, in)
				}
				return p
			}), target)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("the other connections' exchanges differ from a sound run's (%d vs %d)", len(got), len(want))
			}
			if res.TCP.Failed != 1 || !res.Fatal() {
				t.Errorf("Stats.Failed = %d, fatal %v: want the failure said", res.TCP.Failed, res.Fatal())
			}
			var diag string
			for _, d := range res.Diagnostics {
				if strings.Contains(d.What, "failed on connection") {
					diag = d.String()
				}
			}
			for _, w := range []string{fmt.Sprintf("connection %d ", target), "index out of range"} {
				if !strings.Contains(diag, w) {
					t.Errorf("diagnostic %q does not say %q", diag, w)
				}
			}
		})
	}
}

// withProtocols returns o with its protocols passed through f.
func withProtocols(o Options, f func(decoder.Protocol) decoder.Protocol) Options {
	ps := o.Protocols()
	o.TCP.Protocols = nil
	for _, p := range ps {
		o.TCP.Protocols = append(o.TCP.Protocols, f(p))
	}
	return o
}

// probe reports the methods called on a decoder.
type probe struct {
	decoder.StreamDecoder
	seen func(method string)
}

func (p *probe) Data(dir decoder.Dir, b []byte, t time.Time) {
	p.seen("Data")
	p.StreamDecoder.Data(dir, b, t)
}

func (p *probe) Close(t time.Time) {
	p.seen("Close")
	p.StreamDecoder.Close(t)
}

func (p *probe) Expire(before time.Time, why string) {
	p.seen("Expire")
	p.StreamDecoder.Expire(before, why)
}
