package decodertest

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// ReadConv reads a conv file into a Stream on conn. A conv file holds the
// two byte streams of one TCP connection, one line per segment in capture
// (or recording) order: "c|s EPOCH HEX", "c|s EPOCH gap N", "c|s EPOCH fin",
// a line "syn" when the connection's start was captured (it sets
// conn.SawSYN), "#" comments.
func ReadConv(t testing.TB, path string, conn decoder.Conn) Stream {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	chunks, syn, err := ParseConv(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	conn.SawSYN = syn
	return Stream{Name: filepath.Base(path), Conn: conn, Chunks: chunks}
}

// ParseConv reads the lines of a conv file (see ReadConv).
func ParseConv(b []byte) (chunks []Chunk, syn bool, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<24)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if line == "syn" {
			syn = true
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, false, fmt.Errorf("line %d: %q", n, line)
		}
		var c Chunk
		switch f[0] {
		case "c":
			c.Dir = decoder.ClientToServer
		case "s":
			c.Dir = decoder.ServerToClient
		default:
			return nil, false, fmt.Errorf("line %d: bad direction %q", n, f[0])
		}
		if c.T, err = ParseEpoch(f[1]); err != nil {
			return nil, false, fmt.Errorf("line %d: %v", n, err)
		}
		switch {
		case f[2] == "fin":
			c.End = true
		case f[2] == "gap" && len(f) == 4:
			c.Gap, err = strconv.Atoi(f[3])
		default:
			c.Data, err = hex.DecodeString(f[2])
		}
		if err != nil {
			return nil, false, fmt.Errorf("line %d: %v", n, err)
		}
		chunks = append(chunks, c)
	}
	return chunks, syn, sc.Err()
}

// ParseEpoch reads "seconds.nanoseconds" as tshark prints frame.time_epoch.
func ParseEpoch(s string) (time.Time, error) {
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

// Feed feeds s to d, cutting each Data into pieces of at most split bytes
// (0: whole segments), and closes d at the time of the last chunk. Each
// piece is a scratch copy overwritten after the call, so a decoder that
// keeps data without copying it shows up as a difference.
func Feed(d decoder.StreamDecoder, s Stream, split int) {
	var last time.Time
	for _, c := range s.Chunks {
		last = c.T
		switch {
		case c.End:
			d.End(c.Dir, c.T)
		case c.Gap != 0:
			d.Gap(c.Dir, c.Gap, c.T)
		default:
			for data := c.Data; len(data) > 0; {
				n := len(data)
				if split > 0 && n > split {
					n = split
				}
				scratch := append([]byte(nil), data[:n]...)
				d.Data(c.Dir, scratch, c.T)
				for i := range scratch {
					scratch[i] = 0xEE
				}
				data = data[n:]
			}
		}
	}
	d.Close(last)
}

// EncodeFuzz writes s in the fuzz encoding the decoders' Fuzz tests share:
//
//	flags byte (bit 0: the start was not captured; bits 1-2: an options
//	variant the test picks), then records of
//	kind (bit 0: direction; bits 1-2: 0 data, 1 gap, 2 fin), length uint16, data
//
// where a gap's length is its size (0xFFFF: unknown). Seeds are real
// conversations encoded so.
func EncodeFuzz(s Stream) []byte {
	b := []byte{0}
	if !s.Conn.SawSYN {
		b[0] = 1
	}
	rec := func(kind byte, n int, data []byte) {
		b = append(b, kind, byte(n>>8), byte(n))
		b = append(b, data...)
	}
	for _, c := range s.Chunks {
		switch {
		case c.End:
			rec(byte(c.Dir)|4, 0, nil)
		case c.Gap > 0:
			rec(byte(c.Dir)|2, min(c.Gap, 0xFFFE), nil)
		default:
			for d := c.Data; len(d) > 0; {
				n := min(len(d), 0xFFFF)
				rec(byte(c.Dir), n, d[:n])
				d = d[n:]
			}
		}
	}
	return b
}

// DecodeFuzz reads the fuzz encoding (see EncodeFuzz): whether the start
// was captured, the options variant (0-3), and the chunks, without times.
// A gap is at least 1 byte; 0xFFFF is an unknown amount (-1).
func DecodeFuzz(b []byte) (midStream bool, variant int, chunks []Chunk) {
	if len(b) == 0 {
		return false, 0, nil
	}
	midStream, variant = b[0]&1 != 0, int(b[0]>>1&3)
	b = b[1:]
	for len(b) >= 3 {
		kind, n := b[0], int(b[1])<<8|int(b[2])
		b = b[3:]
		dir := decoder.Dir(kind & 1)
		switch kind >> 1 & 3 {
		case 1:
			if n == 0xFFFF {
				n = -1
			}
			if n == 0 {
				n = 1
			}
			chunks = append(chunks, Chunk{Dir: dir, Gap: n})
		case 2:
			chunks = append(chunks, Chunk{Dir: dir, End: true})
		default:
			n = min(n, len(b))
			chunks = append(chunks, Chunk{Dir: dir, Data: b[:n]})
			b = b[n:]
		}
	}
	return midStream, variant, chunks
}
