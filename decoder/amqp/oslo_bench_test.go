package amqp

import "testing"

// BenchmarkOslo reads the oslo.messaging envelope of every message body
// of the real streams.
func BenchmarkOslo(b *testing.B) {
	var bodies [][]byte
	n := 0
	for _, name := range realStreams {
		xs, _ := readConv(b, "testdata/streams/"+name+".conv").run(Options{}, 0)
		for _, x := range xs {
			if m, ok := x.Request.(*Message); ok && m.Oslo != nil {
				bodies = append(bodies, []byte(m.Body))
				n += len(m.Body)
			}
		}
	}
	if len(bodies) == 0 {
		b.Fatal("no oslo.messaging bodies")
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		for _, body := range bodies {
			if parseOslo(body) == nil {
				b.Fatal("not read")
			}
		}
	}
}
