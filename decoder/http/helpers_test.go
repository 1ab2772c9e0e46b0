package http

import (
	"bufio"
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// segment is one TCP segment of a fixture (testdata/extract.sh).
type segment struct {
	dir     decoder.Dir
	t       time.Time
	wireLen int    // payload length on the wire
	data    []byte // captured payload (shorter than wireLen when cut)
	syn     bool
	fin     bool // FIN or RST
}

// fixture is one real connection of a lab capture.
type fixture struct {
	name string
	conn decoder.Conn
	segs []segment
}

// loadFixture reads testdata/conn/NAME.seg or NAME.seg.gz.
func loadFixture(tb testing.TB, name string) *fixture {
	tb.Helper()
	path := filepath.Join("testdata", "conn", name+".seg")
	var r io.Reader
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		f, err = os.Open(path + ".gz")
		if err == nil {
			zr, zerr := gzip.NewReader(f)
			if zerr != nil {
				tb.Fatal(zerr)
			}
			r = zr
		}
	} else {
		r = f
	}
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	fx := &fixture{name: name}
	var base time.Time
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if fields[0] == "#" {
			switch {
			case len(fields) >= 6 && fields[2] == "tcp.stream" && fields[4] == "epoch":
				sec, frac, _ := strings.Cut(fields[5], ".")
				s, _ := strconv.ParseInt(sec, 10, 64)
				ns, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
				base = time.Unix(s, ns).UTC()
			case len(fields) >= 7 && fields[1] == "client":
				fx.conn.Client = netip.MustParseAddrPort(fields[2])
				fx.conn.Server = netip.MustParseAddrPort(fields[4])
				fx.conn.SawSYN = fields[6] == "true"
			}
			continue
		}
		if len(fields) != 6 {
			tb.Fatalf("%s:%d: %d fields", path, line, len(fields))
		}
		var sg segment
		if fields[0] == "s" {
			sg.dir = decoder.ServerToClient
		}
		ns, err1 := strconv.ParseInt(fields[1], 10, 64)
		n, err2 := strconv.Atoi(fields[3])
		if err1 != nil || err2 != nil {
			tb.Fatalf("%s:%d: bad numbers", path, line)
		}
		sg.t, sg.wireLen = base.Add(time.Duration(ns)), n
		sg.syn = strings.Contains(fields[4], "S")
		sg.fin = strings.ContainsAny(fields[4], "FR")
		if fields[5] != "-" {
			if sg.data, err = hex.DecodeString(fields[5]); err != nil {
				tb.Fatalf("%s:%d: %v", path, line, err)
			}
		}
		fx.segs = append(fx.segs, sg)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	fx.conn.ID = 1
	fx.conn.First = base
	return fx
}

// bytes returns the concatenated captured payload of one direction.
func (fx *fixture) bytes(dir decoder.Dir) []byte {
	var b []byte
	for _, s := range fx.segs {
		if s.dir == dir {
			b = append(b, s.data...)
		}
	}
	return b
}

// feed plays the fixture into a decoder the way decoder/tcp does: each
// segment's captured payload as one Data, the bytes the snaplen cut off
// as a Gap, FIN/RST as End, then Close.
func (fx *fixture) feed(d decoder.StreamDecoder) {
	var last time.Time
	for _, s := range fx.segs {
		if len(s.data) > 0 {
			d.Data(s.dir, s.data, s.t)
		}
		if s.wireLen > len(s.data) {
			d.Gap(s.dir, s.wireLen-len(s.data), s.t)
		}
		if s.fin {
			d.End(s.dir, s.t)
		}
		last = s.t
	}
	d.Close(last)
}

// decode runs the whole fixture and returns the exchanges emitted.
func decode(tb testing.TB, name string, opts Options) ([]*decoder.Exchange, *fixture) {
	tb.Helper()
	fx := loadFixture(tb, name)
	var out []*decoder.Exchange
	d := New(&fx.conn, func(e *decoder.Exchange) { out = append(out, e) }, opts)
	fx.feed(d)
	if p := d.Pending(); !p.IsZero() {
		tb.Errorf("%s: Pending() = %v after Close, want zero", name, p)
	}
	return out, fx
}

func req(tb testing.TB, e *decoder.Exchange) *Request {
	tb.Helper()
	r, ok := e.Request.(*Request)
	if !ok {
		tb.Fatalf("request is %T, want *Request", e.Request)
	}
	return r
}

func resp(tb testing.TB, e *decoder.Exchange) *Response {
	tb.Helper()
	r, ok := e.Response.(*Response)
	if !ok {
		tb.Fatalf("response is %T, want *Response", e.Response)
	}
	return r
}

// collector gathers what a decoder emits.
type collector struct{ out []*decoder.Exchange }

func (c *collector) emit(e *decoder.Exchange) { c.out = append(c.out, e) }
