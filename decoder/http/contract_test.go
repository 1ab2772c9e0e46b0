package http

import (
	"fmt"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/decodertest"
)

// TestContract runs the decoder contract kit on real connections: a
// keystone token request, a glance listing, a 401, a snaplen-cut capture
// and a connection whose start was not captured.
func TestContract(t *testing.T) {
	decodertest.Run(t, contractCase(t))
}

// contractCase is the contract kit's view of the decoder.
func contractCase(t testing.TB) decodertest.Case {
	var streams []decodertest.Stream
	for _, name := range []string{"seed-image-list.0", "seed-image-list.1", "auth-fail.1", "snaplen-truncated.3", "tiny-save.7"} {
		fx := loadFixture(t, name)
		s := decodertest.Stream{Name: name, Conn: fx.conn}
		for _, sg := range fx.segs {
			if len(sg.data) > 0 {
				s.Chunks = append(s.Chunks, decodertest.Chunk{Dir: sg.dir, T: sg.t, Data: sg.data})
			}
			if sg.wireLen > len(sg.data) {
				s.Chunks = append(s.Chunks, decodertest.Chunk{Dir: sg.dir, T: sg.t, Gap: sg.wireLen - len(sg.data)})
			}
			if sg.fin {
				s.Chunks = append(s.Chunks, decodertest.Chunk{Dir: sg.dir, T: sg.t, End: true})
			}
		}
		streams = append(streams, s)
	}
	// The capture began inside the first request: its first bytes are
	// missing and the decoder must find the next message.
	mid := streams[1]
	mid.Name, mid.Conn.SawSYN = "seed-image-list.1-midstream", false
	mid.Chunks = append([]decodertest.Chunk(nil), mid.Chunks...)
	for i, ch := range mid.Chunks {
		if ch.Data != nil {
			mid.Chunks[i].Data = ch.Data[min(7, len(ch.Data)):]
			break
		}
	}
	streams = append(streams, mid)
	// The first request of a real connection, asked again and again.
	first := loadFixture(t, "seed-image-list.0")
	var request []byte
	for _, sg := range first.segs {
		if sg.dir == decoder.ClientToServer && len(sg.data) > 0 {
			request = sg.data
			break
		}
	}
	return decodertest.Case{
		Proto: "http",
		New: func(c *decoder.Conn, emit decoder.Emit) decoder.StreamDecoder {
			return New(c, emit, Options{})
		},
		Streams:  streams,
		MaxQueue: maxQueue,
		Unanswered: func(i int) []byte {
			if i%2 == 0 {
				return request
			}
			return fmt.Appendf(nil, "GET /v2/images/%d HTTP/1.1\r\nHost: controller:9292\r\n\r\n", i)
		},
	}
}

// BenchmarkUnanswered sends 50k, then 100k requests that are never
// answered: the queue is bounded, so the x2-ratio stays about 2.
func BenchmarkUnanswered(b *testing.B) {
	decodertest.BenchmarkUnanswered(b, contractCase(b), 50_000)
}
