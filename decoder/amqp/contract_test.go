package amqp

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/decodertest"
)

// TestContract runs the decoder contract kit on the real nova streams: a
// handshake, connections that began before the capture, frames over many
// segments.
func TestContract(t *testing.T) {
	decodertest.Run(t, contractCase(t))
}

func contractCase(t testing.TB) decodertest.Case {
	var streams []decodertest.Stream
	for _, name := range realStreams {
		c := readConv(t, "testdata/streams/"+name+".conv")
		s := c.Stream
		s.Name = name
		streams = append(streams, s)
	}
	return decodertest.Case{
		Proto: "amqp",
		New: func(c *decoder.Conn, emit decoder.Emit) decoder.StreamDecoder {
			return New(c, emit, Options{})
		},
		Streams:  streams,
		MaxQueue: maxQueue,
		Unanswered: func(i int) []byte {
			// oslo.messaging declaring a reply queue the broker never
			// confirms.
			return queueDeclare(1, fmt.Sprintf("reply_%032x", i))
		},
	}
}

// methodFrame builds a method frame on channel ch.
func methodFrame(ch uint16, class, id uint16, args []byte) []byte {
	b := []byte{frameMethod}
	b = binary.BigEndian.AppendUint16(b, ch)
	b = binary.BigEndian.AppendUint32(b, uint32(4+len(args)))
	b = binary.BigEndian.AppendUint16(b, class)
	b = binary.BigEndian.AppendUint16(b, id)
	b = append(b, args...)
	return append(b, frameEnd)
}

func shortstr(s string) []byte { return append([]byte{byte(len(s))}, s...) }

// queueDeclare is Queue.Declare of queue (not passive, durable off, no
// nowait, empty arguments).
func queueDeclare(ch uint16, queue string) []byte {
	args := []byte{0, 0}
	args = append(args, shortstr(queue)...)
	args = append(args, 0, 0, 0, 0, 0) // bits, empty table
	return methodFrame(ch, classQueue, 10, args)
}

// BenchmarkUnanswered sends 50k, then 100k Queue.Declare that are never
// answered: the queue is bounded, so the x2-ratio stays about 2.
func BenchmarkUnanswered(b *testing.B) {
	decodertest.BenchmarkUnanswered(b, contractCase(b), 50_000)
}
