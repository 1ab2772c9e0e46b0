package memcache

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

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
		Client: netip.MustParseAddrPort("10.0.20.11:46086"),
		Server: netip.MustParseAddrPort("10.0.20.11:11211"),
	})}
}

func formatEpoch(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// run feeds the conversation to a new decoder, cutting each segment into
// pieces of at most split bytes (0: whole segments), and returns what it
// emitted after Close.
func (c *conv) run(opts Options, split int) []*decoder.Exchange {
	var got []*decoder.Exchange
	decodertest.Feed(New(c.conn(), func(e *decoder.Exchange) { got = append(got, e) }, opts), c.Stream, split)
	return got
}

// conn is a fresh copy of the conversation's connection.
func (c *conv) conn() *decoder.Conn {
	conn := c.Conn
	return &conn
}
