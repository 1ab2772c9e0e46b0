package pipeline

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/capture"
	"github.com/flowmap/flowmap/decoder/tcp"
	"github.com/flowmap/flowmap/internal/benchcpu"
	"github.com/flowmap/flowmap/internal/truth"
)

func benchDecode(b *testing.B, path string, opts Options) {
	st, err := os.Stat(path)
	if err != nil {
		b.Skip(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	n := 0
	mark := benchcpu.Start()
	for b.Loop() {
		if _, err := Run([]string{path}, opts, func(*decoder.Exchange) { n++ }); err != nil {
			b.Fatal(err)
		}
	}
	if n == 0 {
		b.Fatal("no exchanges")
	}
	mark.Report(b)
}

// BenchmarkDecode is the whole decode pipeline (read, merge, reassemble,
// HTTP + memcache + MySQL) on the seed-image-save capture: the 14.7 MB one
// from ../shared when present, else the cut copy in testdata.
func BenchmarkDecode(b *testing.B) {
	p := truth.Shared("seed-image-save.pcapng")
	if p == "" {
		p = truth.Capture("seed-image-save.cut")
	}
	benchDecode(b, p, Options{})
}

// BenchmarkDecodeLong is the 81 MB long-mixed-head capture (skipped when
// ../shared is absent).
func BenchmarkDecodeLong(b *testing.B) {
	p := truth.Shared("long-mixed-head.pcapng")
	if p == "" {
		b.Skip("../shared/captures/long-mixed-head.pcapng absent")
	}
	benchDecode(b, p, Options{})
}

// BenchmarkDecodeLongSerial is the same on one goroutine (Options.Serial):
// its cpu-ms/op against BenchmarkDecodeLong's is what the stages cost,
// and its wall/cpu (about 1) what they gain.
func BenchmarkDecodeLongSerial(b *testing.B) {
	p := truth.Shared("long-mixed-head.pcapng")
	if p == "" {
		b.Skip("../shared/captures/long-mixed-head.pcapng absent")
	}
	benchDecode(b, p, Options{Serial: true})
}

// novaBoot is testdata's nova-boot capture: HTTP, memcache, MySQL and
// AMQP (oslo.messaging) of one `openstack server create --wait`.
func novaBoot() string {
	return filepath.Join(truth.Root(), "testdata", "nova", "nova-boot.pcapng")
}

// BenchmarkDecodeNova is the whole decode pipeline, AMQP included, on
// nova-boot.
func BenchmarkDecodeNova(b *testing.B) {
	benchDecode(b, novaBoot(), Options{})
}

// recorder keeps the bytes a connection's decoder would get.
type recorder struct {
	c      *decoder.Conn
	chunks []recChunk
	end    time.Time
}

type recChunk struct {
	dir  decoder.Dir
	data []byte
	t    time.Time
}

func (r *recorder) Data(dir decoder.Dir, data []byte, t time.Time) {
	r.chunks = append(r.chunks, recChunk{dir, append([]byte(nil), data...), t})
}
func (r *recorder) Gap(decoder.Dir, int, time.Time)     {}
func (r *recorder) End(decoder.Dir, time.Time)          {}
func (r *recorder) Close(t time.Time)                   { r.end = t }
func (r *recorder) Pending() time.Time                  { return time.Time{} }
func (r *recorder) Expire(before time.Time, why string) {}

// protoStreams is what one protocol's decoders got from a capture.
type protoStreams struct {
	name  string
	recs  []*recorder
	bytes int64
}

// protocol makes the protocol afresh, as each run of the pipeline does
// (state its decoders share, such as AMQP's envelopes, starts empty).
func (ps *protoStreams) protocol() decoder.Protocol {
	var o Options
	for _, p := range o.Protocols() {
		if p.Name == ps.name {
			return p
		}
	}
	panic("no protocol " + ps.name)
}

// recordStreams runs path through the TCP layer with proto's sniffing and
// keeps, for each of its connections, the bytes its decoder would get.
func recordStreams(b *testing.B, path string, proto decoder.Protocol) *protoStreams {
	ps := &protoStreams{name: proto.Name}
	rec := proto
	rec.New = func(c *decoder.Conn, _ decoder.Emit) decoder.StreamDecoder {
		r := &recorder{c: c}
		ps.recs = append(ps.recs, r)
		return r
	}
	asm := tcp.New(tcp.Options{Protocols: []decoder.Protocol{rec}}, func(*decoder.Exchange) {})
	r, err := capture.Open([]string{path}, capture.Options{})
	if err != nil {
		b.Skip(err)
	}
	defer r.Close()
	for {
		p, err := r.Next()
		if err != nil {
			break
		}
		if p.IP != nil {
			asm.Packet(p.IP, p.Time, p.Iface)
		}
	}
	asm.Close()
	for _, rc := range ps.recs {
		for _, ch := range rc.chunks {
			ps.bytes += int64(len(ch.data))
		}
	}
	return ps
}

// decode feeds every stream to a new decoder; it returns the exchanges.
func (ps *protoStreams) decode() int {
	n := 0
	proto := ps.protocol()
	for _, rc := range ps.recs {
		d := proto.New(rc.c, func(*decoder.Exchange) { n++ })
		for _, ch := range rc.chunks {
			d.Data(ch.dir, ch.data, ch.t)
		}
		d.Close(rc.end)
	}
	return n
}

// BenchmarkProtocolNova decodes the AMQP and the MySQL connections of
// nova-boot, each protocol's byte streams fed to its decoder as the TCP
// layer cut them (reassembly not counted): MB/s is the protocol's decoding
// cost per byte of its own traffic. AMQP's includes reading every
// oslo.messaging envelope. "both" alternates the two in each iteration
// (on a shared machine the load changes between sub-benchmarks) and
// reports each one's ns per byte and their ratio.
func BenchmarkProtocolNova(b *testing.B) {
	var o Options
	streams := map[string]*protoStreams{}
	for _, proto := range o.Protocols() {
		if proto.Name == "amqp" || proto.Name == "mysql" {
			streams[proto.Name] = recordStreams(b, novaBoot(), proto)
		}
	}
	for _, name := range []string{"amqp", "mysql"} {
		ps := streams[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(ps.bytes)
			b.ReportAllocs()
			for b.Loop() {
				if ps.decode() == 0 {
					b.Fatal("no exchanges")
				}
			}
		})
	}
	b.Run("both", func(b *testing.B) {
		a, m := streams["amqp"], streams["mysql"]
		var ta, tm time.Duration
		odd := false
		for b.Loop() {
			// each goes first every other time (the garbage of the one
			// before is collected during the next)
			first, second, tf, ts := a, m, &ta, &tm
			if odd {
				first, second, tf, ts = m, a, &tm, &ta
			}
			odd = !odd
			t0 := time.Now()
			first.decode()
			t1 := time.Now()
			second.decode()
			*tf, *ts = *tf+t1.Sub(t0), *ts+time.Since(t1)
		}
		na := float64(ta.Nanoseconds()) / float64(b.N) / float64(a.bytes)
		nm := float64(tm.Nanoseconds()) / float64(b.N) / float64(m.bytes)
		b.ReportMetric(na, "amqp-ns/B")
		b.ReportMetric(nm, "mysql-ns/B")
		b.ReportMetric(na/nm, "amqp/mysql")
	})
}
