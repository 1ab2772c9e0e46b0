package mysql

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// TestSniff: real first bytes of each side are recognised; other protocols
// and short prefixes are not claimed.
func TestSniff(t *testing.T) {
	login := loadStream(t, "seed-image-list-9")
	pooled := loadStream(t, "keystone-only-1")
	var firstClient []byte
	for _, ch := range pooled {
		if ch.dir == client {
			firstClient = ch.data
			break
		}
	}
	syn := &decoder.Conn{SawSYN: true}
	mid := &decoder.Conn{}
	tests := []struct {
		name  string
		c     *decoder.Conn
		dir   decoder.Dir
		first []byte
		want  decoder.Verdict
	}{
		{"greeting", syn, server, login[0].data, decoder.Yes},
		{"greeting-prefix", syn, server, login[0].data[:12], decoder.NeedMore},
		{"greeting-version", syn, server, login[0].data[:40], decoder.Yes},
		{"greeting-4-bytes", syn, server, login[0].data[:4], decoder.NeedMore},
		{"handshake-response", syn, client, login[1].data, decoder.Yes},
		{"handshake-response-prefix", syn, client, login[1].data[:10], decoder.NeedMore},
		{"pooled-query", mid, client, firstClient, decoder.Yes},
		{"pooled-query-cut", mid, client, firstClient[:len(firstClient)-1], decoder.NeedMore},
		{"http-request", mid, client, []byte("GET / HTTP/1.1\r\nHost: controller\r\n\r\n"), decoder.No},
		{"http-response", syn, server, []byte("HTTP/1.1 200 OK\r\n\r\n"), decoder.No},
		{"memcache-get", mid, client, []byte("get tokens/abc\r\n"), decoder.No},
		{"memcache-end", syn, server, []byte("END\r\n"), decoder.No},
		{"query-on-syn-conn", syn, client, firstClient, decoder.No},
	}
	for _, tc := range tests {
		if got := Sniff(tc.c, tc.dir, tc.first); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	p := NewProtocol(Options{})
	if p.Name != "mysql" || !p.Port(3306) || p.Port(5000) || p.New(mid, func(*decoder.Exchange) {}) == nil {
		t.Errorf("protocol %+v", p)
	}
}

func TestSummary(t *testing.T) {
	rows := int64(42)
	code := uint16(1045)
	id := uint32(3)
	tests := []struct {
		m    decoder.Message
		want string
	}{
		{&Request{Command: "COM_QUERY", Query: "SELECT project.id AS project_id,\n  project.name AS project_name, project.domain_id FROM project"},
			"SELECT project.id AS project_id, project.name AS project_nam..."},
		{&Request{Command: "COM_QUERY", Query: "SELECT 1"}, "SELECT 1"},
		{&Request{Command: "login", User: "keystone", UserKnown: true, Database: "keystone"}, "login keystone@keystone"},
		{&Request{Command: "COM_INIT_DB", Database: "glance"}, "COM_INIT_DB glance"},
		{&Request{Command: "COM_STMT_CLOSE", StatementID: &id}, "COM_STMT_CLOSE #3"},
		{&Request{Command: "COM_QUIT"}, "COM_QUIT"},
		{&Response{Result: "ok"}, "ok"},
		{&Response{Result: "rows", Rows: &rows}, "42 rows"},
		{&Response{Result: "error", ErrorCode: &code}, "error 1045"},
		{&Response{Result: "local_infile"}, "local_infile"},
	}
	for _, tc := range tests {
		if got := tc.m.Summary(); got != tc.want {
			t.Errorf("%#v: %q, want %q", tc.m, got, tc.want)
		}
		if tc.m.Redacted() != tc.m {
			t.Errorf("Redacted is not the receiver")
		}
	}
}

func TestUseStatement(t *testing.T) {
	if db, ok := useStatement(" use `my``db` ;"); !ok || db != "my`db" {
		t.Errorf("useStatement: %q %v", db, ok)
	}
	if _, ok := useStatement("user_id = 1"); ok {
		t.Errorf("useStatement matched a non-USE")
	}
}

// TestCursor: every reader refuses lengths beyond its input.
func TestCursor(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		v    uint64
		n    int
		ok   bool
	}{
		{"one-byte", []byte{250}, 250, 1, true},
		{"null", []byte{0xfb}, 0, 0, false},
		{"undefined", []byte{0xff}, 0, 0, false},
		{"two-bytes", []byte{0xfc, 1, 2}, 0x0201, 3, true},
		{"two-bytes-short", []byte{0xfc, 1}, 0, 0, false},
		{"three-bytes", []byte{0xfd, 1, 2, 3}, 0x030201, 4, true},
		{"eight-bytes-2^64-1", []byte{0xfe, 255, 255, 255, 255, 255, 255, 255, 255}, 1<<64 - 1, 9, true},
		{"eight-bytes-short", []byte{0xfe, 255, 255}, 0, 0, false},
		{"empty", nil, 0, 0, false},
	}
	for _, tc := range tests {
		v, n, ok := lenencInt(tc.b)
		if v != tc.v || ok != tc.ok || ok && n != tc.n {
			t.Errorf("%s: %d %d %v", tc.name, v, n, ok)
		}
	}
	if _, _, ok := lenencBytes([]byte{0xfe, 255, 255, 255, 255, 255, 255, 255, 255, 'x'}); ok {
		t.Errorf("lenencBytes accepted a 2^64-byte string")
	}
	if _, _, ok := lenencBytes([]byte{5, 'a', 'b'}); ok {
		t.Errorf("lenencBytes accepted a string longer than its input")
	}
	c := cursor{b: []byte{1, 2, 3}}
	c.int(2)
	c.int(4)
	if c.ok() || c.lenencBytes() != nil || c.nulBytes() != nil || c.int(1) != 0 {
		t.Errorf("cursor error is not sticky")
	}
	if got := text([]byte("añb"), 2); got != "a" {
		t.Errorf("text cut inside a rune: %q", got)
	}
}

// TestPending: the oldest command without a complete reply, also while its
// packet is still arriving; nothing after Close.
func TestPending(t *testing.T) {
	var got []*decoder.Exchange
	d := New(&decoder.Conn{SawSYN: true}, func(x *decoder.Exchange) { got = append(got, x) }, Options{})
	t0 := time.Unix(100, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	d.Data(server, greetingPkt(testCaps), at(0))
	if !d.Pending().Equal(at(0)) {
		t.Errorf("pending during login: %v", d.Pending())
	}
	d.Data(client, handshakePkt(testCaps, "a", "b"), at(1))
	d.Data(server, okPkt(2, 0, 0), at(2))
	if !d.Pending().IsZero() || len(got) != 1 {
		t.Errorf("after login: %v, %d emitted", d.Pending(), len(got))
	}
	q := query("SELECT 1")
	d.Data(client, q[:6], at(3))
	if !d.Pending().Equal(at(3)) {
		t.Errorf("pending while the command arrives: %v", d.Pending())
	}
	d.Data(client, q[6:], at(4))
	d.Data(server, resultSet(1, 0)[:20], at(5))
	if !d.Pending().Equal(at(3)) {
		t.Errorf("pending during the reply: %v", d.Pending())
	}
	d.Data(server, resultSet(1, 0)[20:], at(6))
	if !d.Pending().IsZero() || len(got) != 2 {
		t.Errorf("after the reply: %v", d.Pending())
	}
	if x := got[1]; !x.ReqStart.Equal(at(3)) || !x.ReqEnd.Equal(at(4)) || !x.RespStart.Equal(at(5)) || !x.RespEnd.Equal(at(6)) {
		t.Errorf("times %v %v %v %v", x.ReqStart, x.ReqEnd, x.RespStart, x.RespEnd)
	}
	d.Data(client, q[:6], at(7))
	d.Close(at(8))
	if !d.Pending().IsZero() || len(got) != 3 || !got[2].Truncated {
		t.Errorf("after Close: %v, %d emitted", d.Pending(), len(got))
	}
	d.Data(client, q, at(9))
	if len(got) != 3 {
		t.Errorf("data after Close decoded")
	}
}

// TestRealStreamGaps cuts a real connection with gaps of unknown size at
// several places: the exchange hit is marked truncated, every other one is
// decoded exactly as without the gap.
func TestRealStreamGaps(t *testing.T) {
	chunks := loadStream(t, "seed-image-list-2")
	full := brief(decode(chunks, true, Options{}, nil))
	for _, at := range []int{40, 41, 100, 101, 257, 300} {
		var got []*decoder.Exchange
		d := New(&decoder.Conn{SawSYN: true}, func(x *decoder.Exchange) { got = append(got, x) }, Options{})
		for i, ch := range chunks {
			if i == at {
				d.Gap(ch.dir, -1, ch.t)
				continue // the segment is lost
			}
			d.Data(ch.dir, ch.data, ch.t)
		}
		d.Close(chunks[len(chunks)-1].t)
		b := brief(got)
		// Exchanges before and after the damage are unchanged.
		truncated := 0
		for _, x := range got {
			if x.Truncated {
				truncated++
			}
		}
		// A segment that held whole packets leaves nothing to mark.
		if truncated > 2 {
			t.Errorf("gap at %d: %d truncated exchanges", at, truncated)
		}
		missing := 0
		for _, line := range full {
			if !slices.Contains(b, line) {
				missing++
			}
		}
		if missing > 2 {
			t.Errorf("gap at %d: %d exchanges differ", at, missing)
		}
		for _, line := range b {
			if !slices.Contains(full, line) && !strings.HasSuffix(line, "TRUNCATED") {
				t.Errorf("gap at %d: new exchange %q", at, line)
			}
		}
	}
}
