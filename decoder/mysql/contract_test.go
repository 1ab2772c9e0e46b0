package mysql

import (
	"fmt"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/decodertest"
)

// TestContract runs the decoder contract kit on real connections: a
// keystone pool connection from its login, one whose start was not
// captured, and recordings of errors, prepared statements, LOCAL INFILE
// and the compressed protocol.
func TestContract(t *testing.T) {
	decodertest.Run(t, contractCase(t))
}

// contractCase is the contract kit's view of the decoder.
func contractCase(t testing.TB) decodertest.Case {
	var streams []decodertest.Stream
	for _, rs := range []struct {
		name   string
		sawSYN bool
	}{
		{"seed-image-list-9", true},
		{"keystone-only-3", false},
		{"rec-cli-errors", true},
		{"rec-perl-prepared", true},
		{"rec-cli-infile", true},
		{"rec-cli-compress", true},
	} {
		s := decodertest.Stream{Name: rs.name, Conn: decoder.Conn{ID: 1, SawSYN: rs.sawSYN}}
		for _, ch := range loadStream(t, rs.name) {
			s.Chunks = append(s.Chunks, decodertest.Chunk{Dir: ch.dir, T: ch.t, Data: ch.data})
		}
		streams = append(streams, s)
	}
	return decodertest.Case{
		Proto: "mysql",
		New: func(c *decoder.Conn, emit decoder.Emit) decoder.StreamDecoder {
			return New(c, emit, Options{})
		},
		Streams:  streams,
		MaxQueue: maxQueue,
		Unanswered: func(i int) []byte {
			return queryPacket(fmt.Sprintf("SELECT project.id FROM project WHERE project.id = '%032x'", i))
		},
	}
}

// queryPacket frames a COM_QUERY as the command's first packet.
func queryPacket(q string) []byte {
	n := 1 + len(q)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), 0, comQuery}, q...)
}
