package memcache

import (
	"fmt"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/decodertest"
)

// TestContract runs the decoder contract kit on real conversations: the
// lab captures' token caches (one began mid-connection, one cut by the
// snaplen) and live recordings of the text, meta and binary protocols.
func TestContract(t *testing.T) {
	decodertest.Run(t, contractCase(t))
}

// contractCase is the contract kit's view of the decoder.
func contractCase(t testing.TB) decodertest.Case {
	var streams []decodertest.Stream
	for _, path := range []string{
		"testdata/streams/seed-image-list.s4.conv",
		"testdata/streams/snaplen-truncated.s4.conv",
		"testdata/streams/long-mixed-head.s16.conv",
		"testdata/recorded/text.conv",
		"testdata/recorded/meta.conv",
		"testdata/recorded/binary.conv",
	} {
		c := readConv(t, path)
		streams = append(streams, c.Stream)
	}
	return decodertest.Case{
		Proto: "memcache",
		New: func(c *decoder.Conn, emit decoder.Emit) decoder.StreamDecoder {
			return New(c, emit, Options{})
		},
		Streams:  streams,
		MaxQueue: maxQueue,
		Unanswered: func(i int) []byte {
			// keystonemiddleware's lookup of a token it has not cached.
			return fmt.Appendf(nil, "get tokens/%064x\r\n", i)
		},
	}
}

// BenchmarkUnanswered sends 50k, then 100k requests that are never
// answered: the queue is bounded, so the x2-ratio stays about 2.
func BenchmarkUnanswered(b *testing.B) {
	decodertest.BenchmarkUnanswered(b, contractCase(b), 50_000)
}
