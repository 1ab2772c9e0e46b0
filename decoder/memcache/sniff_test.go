package memcache

import (
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

func TestSniff(t *testing.T) {
	const (
		c = decoder.ClientToServer
		s = decoder.ServerToClient
	)
	y, n, m := decoder.Yes, decoder.No, decoder.NeedMore
	badBin := bin(0x00, "k", "", "", 1, 0)
	badBin[5] = 7 // data type
	mysqlGreeting := "\x56\x00\x00\x00\x0a5.5.5-10.11.19-MariaDB-0+deb12u1\x00"
	for _, tc := range []struct {
		name      string
		dir       decoder.Dir
		midStream bool
		first     string
		want      decoder.Verdict
	}{
		{"get", c, false, "get tokens/3f2a\r\n", y},
		{"set", c, false, "set tokens/3f2a 0 300 1980 \r\n{", y},
		{"version-crlf", c, false, "version\r\n", y},
		{"stats-space", c, false, "stats slabs\r\n", y},
		{"meta-mg", c, false, "mg k v\r\n", y},
		{"meta-mn", c, false, "mn\r\n", y},
		{"word-prefix", c, false, "ge", m},
		{"word-needs-delimiter", c, false, "get", m},
		{"cr-needs-lf", c, false, "quit\r", m},
		{"cr-without-lf", c, false, "quit\rx", n},
		{"http-request", c, false, "GET /v2/images HTTP/1.1\r\n", n},
		{"not-a-word", c, false, "getter k\r\n", n},
		{"empty", c, false, "", m},
		{"binary-request", c, false, string(bin(0x00, "k", "", "", 1, 0)), y},
		{"binary-request-short", c, false, "\x80\x00\x00", m},
		{"binary-bad-datatype", c, false, string(badBin), n},
		{"binary-response", s, false, string(binResp(0x00, 1, "", "", "Not found", 1)), y},
		{"binary-response-from-client", c, false, string(binResp(0x00, 1, "", "", "", 1)), n},
		{"reply-value", s, false, "VALUE k 0 3\r\nabc\r\nEND\r\n", y},
		{"reply-end", s, false, "END\r\n", y},
		{"reply-stored", s, false, "STORED\r\n", y},
		{"reply-meta", s, false, "HD\r\n", y},
		{"reply-ok-too-common", s, false, "OK\r\n", n},
		{"reply-error-too-common", s, false, "ERROR\r\n", n},
		{"http-response", s, false, "HTTP/1.1 200 OK\r\n", n},
		{"mysql-greeting", s, false, mysqlGreeting, n},
		{"mid-stream-tail-then-get", c, true, "456\"}}\r\nget k\r\n", y},
		{"mid-stream-tail-only", c, true, "456\"}}", m},
		{"syn-tail-then-get", c, false, "456\"}}\r\nget k\r\n", n},
		{"mid-stream-http", c, true, "ab\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n" + string(make([]byte, sniffWindow)), n},
		{"mid-stream-reply", s, true, "\"}}\r\nEND\r\n", y},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := &decoder.Conn{SawSYN: !tc.midStream}
			if got := Sniff(conn, tc.dir, []byte(tc.first)); got != tc.want {
				t.Errorf("Sniff(%q) = %v, want %v", tc.first, got, tc.want)
			}
		})
	}
}

// TestSniffReal: the first bytes of every recorded connection, in each
// direction, are recognised (as the TCP layer would ask).
func TestSniffReal(t *testing.T) {
	for _, f := range convFiles(t) {
		cv := readConv(t, f)
		for _, dir := range []decoder.Dir{decoder.ClientToServer, decoder.ServerToClient} {
			var first []byte
			for _, l := range cv.Chunks {
				if l.Dir == dir && l.Data != nil {
					first = l.Data[:min(len(l.Data), 2048)]
					break
				}
			}
			if first == nil {
				continue
			}
			if got := Sniff(cv.conn(), dir, first); got != decoder.Yes {
				t.Errorf("%s %v: Sniff = %v on %q", f, dir, got, first[:min(len(first), 40)])
			}
		}
	}
}

func TestProtocol(t *testing.T) {
	p := NewProtocol(Options{})
	if p.Name != "memcache" || !p.Port(11211) || p.Port(11212) || p.Sniff == nil {
		t.Fatalf("protocol %+v", p)
	}
	var got []*decoder.Exchange
	d := p.New(&decoder.Conn{SawSYN: true}, func(e *decoder.Exchange) { got = append(got, e) })
	d.Data(decoder.ClientToServer, []byte("get k\r\n"), t0)
	d.Data(decoder.ServerToClient, []byte("END\r\n"), t0.Add(time.Millisecond))
	if len(got) != 1 || describe(got[0]) != "get k => miss" || got[0].Proto != "memcache" {
		t.Fatalf("got %v", got)
	}
}

// TestPending: the start of the oldest command not yet emitted, partial
// lines included; zero when nothing is waiting.
func TestPending(t *testing.T) {
	d := New(&decoder.Conn{SawSYN: true}, func(*decoder.Exchange) {}, Options{})
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	check := func(step string, want time.Time) {
		t.Helper()
		if got := d.Pending(); !got.Equal(want) {
			t.Errorf("%s: Pending %v, want %v", step, got, want)
		}
	}
	check("new", time.Time{})
	d.Data(decoder.ClientToServer, []byte("ge"), at(1))
	check("half a command", at(1))
	d.Data(decoder.ClientToServer, []byte("t a\r\nset b 0 0 3\r\na"), at(2))
	check("get waiting, set in its data block", at(1))
	d.Data(decoder.ServerToClient, []byte("END\r\n"), at(3))
	check("get answered, set incomplete", at(2))
	d.Data(decoder.ClientToServer, []byte("bc\r\n"), at(4))
	check("set waiting", at(2))
	d.Data(decoder.ServerToClient, []byte("STO"), at(5))
	check("set's reply half read", at(2))
	d.Data(decoder.ServerToClient, []byte("RED\r\n"), at(6))
	check("all answered", time.Time{})
	d.Data(decoder.ServerToClient, []byte("VALUE x 0 1\r\n"), at(7))
	check("orphan reply in progress", at(7))
	d.Data(decoder.ServerToClient, []byte("x\r\nEND\r\n"), at(8))
	check("orphan emitted", time.Time{})
	d.Data(decoder.ClientToServer, []byte("set n 0 0 1 noreply\r\n1\r\n"), at(9))
	check("noreply emitted at once", time.Time{})
	d.Close(at(10))
	check("closed", time.Time{})
}

// TestAfterClose: calls after Close do nothing.
func TestAfterClose(t *testing.T) {
	n := 0
	d := New(&decoder.Conn{SawSYN: true}, func(*decoder.Exchange) { n++ }, Options{})
	d.Data(decoder.ClientToServer, []byte("get k\r\n"), t0)
	d.Close(t0)
	d.Close(t0)
	d.Data(decoder.ServerToClient, []byte("END\r\n"), t0)
	d.Gap(decoder.ClientToServer, 5, t0)
	d.End(decoder.ClientToServer, t0)
	d.Data(decoder.Dir(9), []byte("get k\r\n"), t0)
	if n != 1 || !d.Pending().IsZero() {
		t.Errorf("%d exchanges, pending %v", n, d.Pending())
	}
}
