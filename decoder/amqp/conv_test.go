package amqp

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// Copied from decoder/memcache's conv_test.go (test files cannot be shared
// between packages). A conv file holds the two byte streams of one TCP connection, one line
// per segment in capture (or recording) order; see
// testdata/extract-streams.sh for the format.
type convLine struct {
	dir  decoder.Dir
	t    time.Time
	data []byte // payload; nil for gap and fin lines
	gap  int    // > 0: bytes lost before the next line of dir
	fin  bool
}

type conv struct {
	name  string
	syn   bool
	lines []convLine
}

func readConv(t testing.TB, path string) *conv {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseConv(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c.name = path
	return c
}

func parseConv(b []byte) (*conv, error) {
	c := &conv{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<24)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if line == "syn" {
			c.syn = true
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("line %d: %q", n, line)
		}
		var l convLine
		switch f[0] {
		case "c":
			l.dir = decoder.ClientToServer
		case "s":
			l.dir = decoder.ServerToClient
		default:
			return nil, fmt.Errorf("line %d: bad direction %q", n, f[0])
		}
		ts, err := parseEpoch(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		l.t = ts
		switch {
		case f[2] == "fin":
			l.fin = true
		case f[2] == "gap" && len(f) == 4:
			l.gap, err = strconv.Atoi(f[3])
		default:
			l.data, err = hex.DecodeString(f[2])
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		c.lines = append(c.lines, l)
	}
	return c, sc.Err()
}

// parseEpoch reads "seconds.nanoseconds" as tshark prints frame.time_epoch.
func parseEpoch(s string) (time.Time, error) {
	sec, frac, _ := strings.Cut(s, ".")
	secs, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	var ns int64
	if frac != "" {
		frac = (frac + "000000000")[:9]
		if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return time.Time{}, err
		}
	}
	return time.Unix(secs, ns).UTC(), nil
}

func (c *conv) conn() *decoder.Conn {
	return &decoder.Conn{
		ID:     1,
		Iface:  "lo",
		Client: netip.MustParseAddrPort("10.0.20.11:45164"),
		Server: netip.MustParseAddrPort("10.0.20.11:5672"),
		SawSYN: c.syn,
	}
}

// run feeds the conversation to a new decoder, cutting each segment into
// pieces of at most split bytes (0: whole segments), and returns what it
// emitted after Close and the frames it decoded, in order.
func (c *conv) run(opts Options, split int) ([]*decoder.Exchange, []frame) {
	var got []*decoder.Exchange
	var frames []frame
	d := New(c.conn(), func(e *decoder.Exchange) { got = append(got, e) }, opts)
	d.onFrame = func(f frame) { frames = append(frames, f) }
	var last time.Time
	for _, l := range c.lines {
		last = l.t
		switch {
		case l.fin:
			d.End(l.dir, l.t)
		case l.gap > 0:
			d.Gap(l.dir, l.gap, l.t)
		default:
			for data := l.data; len(data) > 0; {
				n := len(data)
				if split > 0 && n > split {
					n = split
				}
				// A scratch copy overwritten after the call: a decoder
				// that keeps data shows up as a difference.
				scratch := append([]byte(nil), data[:n]...)
				d.Data(l.dir, scratch, l.t)
				for i := range scratch {
					scratch[i] = 0xEE
				}
				data = data[n:]
			}
		}
	}
	d.Close(last)
	return got, frames
}
