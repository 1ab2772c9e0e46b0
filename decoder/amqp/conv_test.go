package amqp

import (
	"net/netip"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/decodertest"
)

// conv is one recorded connection (testdata/extract-streams.sh writes
// them; decodertest.ReadConv gives the format).
type conv struct{ decodertest.Stream }

func readConv(t testing.TB, path string) *conv {
	t.Helper()
	return &conv{decodertest.ReadConv(t, path, decoder.Conn{
		ID:     1,
		Iface:  "lo",
		Client: netip.MustParseAddrPort("10.0.20.11:45164"),
		Server: netip.MustParseAddrPort("10.0.20.11:5672"),
	})}
}

// run feeds the conversation to a new decoder, cutting each segment into
// pieces of at most split bytes (0: whole segments), and returns what it
// emitted after Close and the frames it decoded, in order.
func (c *conv) run(opts Options, split int) ([]*decoder.Exchange, []frame) {
	var got []*decoder.Exchange
	var frames []frame
	conn := c.Conn
	d := New(&conn, func(e *decoder.Exchange) { got = append(got, e) }, opts)
	d.onFrame = func(f frame) { frames = append(frames, f) }
	decodertest.Feed(d, c.Stream, split)
	return got, frames
}
