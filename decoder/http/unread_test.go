package http

import (
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// TestUnread: bytes the decoder cannot read as HTTP are either told on
// the next message (a note) or, when no message follows them, counted by
// Unread, byte for byte, whatever way they failed (no start line at all,
// a bad start line, a line too long, HTTP/2's preface).
func TestUnread(t *testing.T) {
	get := "GET /v3 HTTP/1.1\r\nHost: k\r\n\r\n"
	ok := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
	tls := "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + rep("\x8f\x00\x11", 40) + "\nGET\r\n" + rep("\x17", 30)
	for _, c := range []struct {
		name     string
		ops      []op
		unread   int64
		exchange int
	}{
		{"no HTTP at all", []op{c(tls), s(tls + tls)}, int64(3 * len(tls)), 0},
		{"bad start lines", []op{c("HELLO there\r\nxx yy\r\n")}, 20, 0},
		{"junk after a message", []op{c(get), s(ok), c("\x00\x01\x02 nonsense\n\x03")}, 14, 1},
		{"junk before a message is told by it", []op{c("\x00junk\r\n" + get), s(ok)}, 0, 1},
		{"HTTP/2 preface", []op{c("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + "\x00\x00\x12\x04"), s("\x00\x00\x06\x04\x00")}, 16 + 8 + 4 + 5, 0},
		{"line too long", []op{c(rep("A", maxLineLength+10))}, int64(maxLineLength + 10), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var col collector
			d := New(&decoder.Conn{SawSYN: true}, col.emit, Options{})
			at := time.Unix(1, 0)
			for _, o := range c.ops {
				for _, b := range []byte(o.data) { // byte by byte: buffering must not lose count
					d.Data(o.dir, []byte{b}, at)
				}
			}
			d.Close(at)
			if got := d.(decoder.Unread).Unread(); got != c.unread {
				t.Errorf("Unread = %d, want %d", got, c.unread)
			}
			if len(col.out) != c.exchange {
				t.Errorf("%d exchanges, want %d", len(col.out), c.exchange)
			}
			if c.unread == 0 && c.exchange > 0 && !strings.Contains(strings.Join(col.out[0].Notes, " "), "skipped") {
				t.Errorf("the junk before the message is not told: %v", col.out[0].Notes)
			}
		})
	}
}

// TestEarlyAnswerHasItsRequest: a server answering before the request's
// body has all arrived (413, 401 on an upload) answers a request the
// capture has: its body is not taken for one whose request was missed.
func TestEarlyAnswerHasItsRequest(t *testing.T) {
	var col collector
	d := New(&decoder.Conn{SawSYN: true}, col.emit, Options{})
	at := time.Unix(1, 0)
	d.Data(decoder.ClientToServer, []byte("PUT /v2/images/x/file HTTP/1.1\r\nHost: g\r\nContent-Length: 100\r\n\r\npart"), at)
	d.Data(decoder.ServerToClient, []byte("HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"), at)
	d.Close(at)
	if len(col.out) != 1 {
		t.Fatalf("%d exchanges, want 1", len(col.out))
	}
	for _, n := range col.out[0].Notes {
		if strings.Contains(n, "without its request") {
			t.Errorf("note %q on an exchange whose request was captured", n)
		}
	}
	if r, ok := col.out[0].Response.(*Response); !ok || r.Redacted().(*Response).Body != "hello" {
		t.Errorf("answer %+v, want its text kept", col.out[0].Response)
	}
}
