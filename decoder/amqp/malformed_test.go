package amqp

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

func rawFrame(typ byte, ch uint16, payload []byte) []byte {
	b := []byte{typ}
	b = binary.BigEndian.AppendUint16(b, ch)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	b = append(b, payload...)
	return append(b, frameEnd)
}

func publish(ch uint16, exchange, key string) []byte {
	args := append([]byte{0, 0}, shortstr(exchange)...)
	args = append(args, shortstr(key)...)
	return methodFrame(ch, classBasic, 40, append(args, 0))
}

// header is a content header with content-type application/json.
func header(ch uint16, size uint64) []byte {
	p := binary.BigEndian.AppendUint16(nil, classBasic)
	p = append(p, 0, 0)
	p = binary.BigEndian.AppendUint64(p, size)
	p = append(p, 0x80, 0)
	p = append(p, shortstr("application/json")...)
	return rawFrame(frameHeader, ch, p)
}

func body(ch uint16, s string) []byte { return rawFrame(frameBody, ch, []byte(s)) }

var heartbeat = rawFrame(frameHeartbeat, 0, nil)

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// declareWithTable is Queue.Declare whose arguments table declares n bytes.
func declareWithTable(queue string, table []byte) []byte {
	args := append([]byte{0, 0}, shortstr(queue)...)
	return methodFrame(1, classQueue, 10, append(append(args, 0), table...))
}

// TestMalformed: each bad input is named; the decoder returns what it
// could decode, marks what it could not, and goes on.
func TestMalformed(t *testing.T) {
	c2s, s2c := decoder.ClientToServer, decoder.ServerToClient
	deep := binary.BigEndian.AppendUint32(nil, 0)
	for range 40 { // "x" => table => table ...
		inner := append(shortstr("x"), 'F')
		inner = append(inner, deep...)
		deep = binary.BigEndian.AppendUint32(nil, uint32(len(inner)))
		deep = append(deep, inner...)
	}
	type in struct {
		dir  decoder.Dir
		data []byte
	}
	for _, tc := range []struct {
		name    string
		midconn bool // capture began mid-connection
		opts    Options
		input   []in
		want    []string // Summary, " truncated" when so, then " !" + a note fragment
	}{
		{name: "frame-size-huge", input: []in{{c2s, cat([]byte{1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 50}, heartbeat, publish(1, "nova", "conductor"), header(1, 2), body(1, "{}"))}},
			want: []string{"publish nova/conductor 2 B !skipped 9 bytes"}},
		{name: "frame-end-missing", input: []in{{c2s, cat(publish(1, "nova", "a")[:20], []byte{0}, heartbeat, publish(1, "nova", "b"), header(1, 0))}},
			want: []string{"publish nova/b 0 B"}},
		{name: "frame-end-missing-mid-content", input: []in{{c2s, cat(publish(1, "nova", "a"), header(1, 4), body(1, "ab")[:8], []byte{0}, publish(1, "nova", "b"), header(1, 0))}},
			want: []string{"publish nova/a 4 B truncated !frame-end octet missing", "publish nova/b 0 B"}},
		{name: "unknown-frame-type", input: []in{{c2s, cat(rawFrame(9, 0, []byte("xx")), publish(1, "", "reply_1"), header(1, 0))}},
			want: []string{"publish /reply_1 0 B"}},
		{name: "method-frame-too-short", input: []in{{c2s, cat(rawFrame(frameMethod, 1, []byte{0, 60}), publish(1, "x", "y"), header(1, 0))}},
			want: []string{"publish x/y 0 B"}},
		{name: "header-truncated", input: []in{{c2s, cat(publish(1, "nova", "c"), rawFrame(frameHeader, 1, []byte{0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 30, 'a'}))}},
			want: []string{"publish nova/c 0 B !bad content header"}},
		{name: "table-length-overflow", input: []in{{c2s, declareWithTable("q", []byte{0x7f, 0xff, 0xff, 0xff})}},
			want: []string{"queue.declare q truncated !field table length overflows"}},
		{name: "table-nested-too-deep", input: []in{{c2s, declareWithTable("q", deep)}},
			want: []string{"queue.declare q truncated !nested too deep"}},
		{name: "table-unknown-field-type", input: []in{{c2s, declareWithTable("q", []byte{0, 0, 0, 3, 1, 'k', '?'})}},
			want: []string{"queue.declare q truncated !unknown field value type"}},
		{name: "longstr-overflow", input: []in{{c2s, methodFrame(0, classConnection, 11, []byte{0, 0, 0, 0, 5, 'P', 'L', 'A', 'I', 'N', 0xff, 0xff, 0xff, 0xf0})}},
			want: []string{"connection.start-ok truncated !runs past the end"}},
		{name: "content-without-method", midconn: true, input: []in{{c2s, cat(header(1, 3), body(1, "abc"), publish(1, "x", "y"), header(1, 1), body(1, "z"))}},
			want: []string{"publish x/y 1 B"}},
		{name: "body-longer-than-declared", input: []in{{c2s, cat(publish(1, "x", "y"), header(1, 2), body(1, "abcd"))}},
			want: []string{"publish x/y 2 B !body of 4 bytes, header said 2"}},
		{name: "body-over-cap", opts: Options{MaxBody: 3}, input: []in{{c2s, cat(publish(1, "x", "y"), header(1, 6), body(1, "abcd"), body(1, "ef"))}},
			want: []string{"publish x/y 6 B"}},
		{name: "content-cut-by-next-method", input: []in{{c2s, cat(publish(1, "x", "a"), header(1, 9), body(1, "abc"), publish(1, "x", "b"), header(1, 0))}},
			want: []string{"publish x/a 9 B truncated !cut short by the next method", "publish x/b 0 B"}},
		{name: "content-never-ends", input: []in{{c2s, cat(publish(1, "x", "a"), header(1, 1<<62), body(1, "abc"))}},
			want: []string{"publish x/a 4611686018427387904 B truncated !capture ended"}},
		{name: "unknown-method", input: []in{{c2s, methodFrame(3, 99, 5, []byte{1, 2})}},
			want: []string{"class 99 method 5"}},
		{name: "response-without-request", midconn: true, input: []in{{s2c, methodFrame(1, classQueue, 11, cat(shortstr("q"), make([]byte, 8)))}},
			want: []string{"queue.declare-ok q truncated !response without request"}},
		{name: "declare-answered", input: []in{{c2s, queueDeclare(1, "q")}, {s2c, methodFrame(1, classQueue, 11, cat(shortstr("q"), make([]byte, 8)))}},
			want: []string{"queue.declare q"}},
		{name: "protocol-header-split", input: []in{{c2s, []byte("AM")}, {c2s, []byte("QP\x00\x00\x09\x01")}, {c2s, queueDeclare(1, "q")}},
			want: []string{"queue.declare q truncated !no response captured"}},
		{name: "midstream-starts-inside-frame", midconn: true, input: []in{{c2s, cat(publish(1, "x", "a")[5:], heartbeat, publish(1, "x", "b"), header(1, 0))}},
			want: []string{"publish x/b 0 B !skipped"}},
		{name: "midstream-garbage-only", midconn: true, input: []in{{c2s, []byte(strings.Repeat("\x01\x00\x01\x00\x00\x10\x00garbage", 100))}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := &decoder.Conn{ID: 1, SawSYN: !tc.midconn}
			var got []*decoder.Exchange
			d := New(conn, func(x *decoder.Exchange) { got = append(got, x) }, tc.opts)
			t0 := time.Unix(1796006910, 0)
			for i, c := range tc.input {
				d.Data(c.dir, c.data, t0.Add(time.Duration(i)*time.Millisecond))
			}
			d.Close(t0.Add(time.Second))
			if len(got) != len(tc.want) {
				var s []string
				for _, x := range got {
					s = append(s, x.Request.Summary()+" "+strings.Join(x.Notes, "; "))
				}
				t.Fatalf("%d exchanges, want %d: %q", len(got), len(tc.want), s)
			}
			for i, x := range got {
				want, note, _ := strings.Cut(tc.want[i], " !")
				s := x.Request.Summary()
				if x.Truncated {
					s += " truncated"
				}
				if s != want || !strings.Contains(strings.Join(x.Notes, "; "), note) {
					t.Errorf("exchange %d: %q notes %q, want %q with a note %q", i, s, x.Notes, want, note)
				}
			}
			if tc.name == "body-over-cap" {
				if m := got[0].Request.(*Message); m.Body != "abc" || m.BodyBytes != 6 {
					t.Errorf("body %q of %d bytes, want the first 3 of 6", m.Body, m.BodyBytes)
				}
			}
		})
	}
}
