package mysql

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// Hand-made packets for the malformed and corner cases, in addition to the
// real bytes of the other tests.

func cat(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		case byte:
			b = append(b, v)
		case int:
			b = append(b, byte(v))
		default:
			panic("cat: bad part")
		}
	}
	return b
}

// pk frames a payload: 3-byte length, sequence id.
func pk(seq byte, payload ...any) []byte {
	b := cat(payload...)
	return cat([]byte{byte(len(b)), byte(len(b) >> 8), byte(len(b) >> 16), seq}, b)
}

func u16(v uint16) []byte { return []byte{byte(v), byte(v >> 8)} }
func u32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
func lstr(s string) []byte {
	return cat(byte(len(s)), s)
}

const testCaps = clientMySQL | clientConnectWithDB | clientProtocol41 | clientSecureConnection |
	clientMultiResults | clientPluginAuth | clientConnectAttrs | clientPluginAuthLenenc

func greetingPkt(caps uint32) []byte {
	return pk(0, 10, "5.5.5-10.11.19-MariaDB\x00", u32(77), "abcdefgh", 0, u16(uint16(caps)),
		0x21, u16(2), u16(uint16(caps>>16)), 21, make([]byte, 10), "ijklmnopqrst\x00",
		"mysql_native_password\x00")
}

func handshakePkt(caps uint32, user, db string) []byte {
	return pk(1, u32(caps), u32(1<<24), 0x21, make([]byte, 23), user, 0,
		20, bytes.Repeat([]byte{0xAA}, 20), db, 0, "mysql_native_password\x00",
		byte(len(lstr("_client_name"))+len(lstr("test"))), lstr("_client_name"), lstr("test"))
}

func okPkt(seq byte, affected byte, status uint16) []byte {
	return pk(seq, 0, affected, 0, u16(status), u16(0))
}

func colDef(seq byte, name string) []byte {
	return pk(seq, lstr("def"), lstr("db"), lstr("t"), lstr("t"), lstr(name), lstr(name),
		0x0c, u16(0x21), u32(80), 0xfd, u16(0), 0, u16(0))
}

func eofPkt(seq byte, status uint16) []byte { return pk(seq, 0xfe, u16(0), u16(status)) }

func query(q string) []byte { return pk(0, comQuery, q) }

// resultSet is a text result set with EOF packets: n rows of one column.
func resultSet(n int, status uint16) []byte {
	b := cat(pk(1, 1), colDef(2, "a"), eofPkt(3, 0))
	seq := byte(4)
	for i := range n {
		b = append(b, pk(seq, lstr(strings.Repeat("r", i+1)))...)
		seq++
	}
	return append(b, eofPkt(seq, status)...)
}

// ev is one call on the decoder: data, or a gap when gap != 0.
type ev struct {
	dir  decoder.Dir
	data []byte
	gap  int
}

func c(b ...[]byte) ev            { return ev{dir: client, data: cat(anys(b)...)} }
func s(b ...[]byte) ev            { return ev{dir: server, data: cat(anys(b)...)} }
func gap(d decoder.Dir, n int) ev { return ev{dir: d, gap: n} }

func anys(b [][]byte) []any {
	out := make([]any, len(b))
	for i := range b {
		out[i] = b[i]
	}
	return out
}

func run(sawSYN bool, evs []ev) []*decoder.Exchange {
	var got []*decoder.Exchange
	d := New(&decoder.Conn{ID: 9, SawSYN: sawSYN}, func(x *decoder.Exchange) { got = append(got, x) }, Options{})
	t0 := time.Unix(1000, 0)
	for i, e := range evs {
		t := t0.Add(time.Duration(i) * time.Millisecond)
		if e.gap != 0 {
			d.Gap(e.dir, e.gap, t)
			continue
		}
		d.Data(e.dir, e.data, t)
	}
	d.Close(t0.Add(time.Second))
	return got
}

func login() []ev {
	return []ev{s(greetingPkt(testCaps)), c(handshakePkt(testCaps, "alice", "app")), s(okPkt(2, 0, 2))}
}

func TestMalformed(t *testing.T) {
	huge := cat(0xfe, bytes.Repeat([]byte{0xff}, 8))
	tests := []struct {
		name   string
		sawSYN bool
		evs    []ev
		check  func(t *testing.T, xs []*decoder.Exchange)
	}{
		{"truncated-packet", false, []ev{
			c(query("SELECT 1"), []byte{100, 0, 0, 0, comQuery}, []byte("SELECT a FROM b")),
		}, func(t *testing.T, xs []*decoder.Exchange) {
			want(t, xs, "COM_QUERY SELECT 1 ! TRUNCATED", "COM_QUERY SELECT a FROM b ! TRUNCATED")
			if r := req(xs[1]); r.QueryBytes != 99 {
				t.Errorf("query bytes %d", r.QueryBytes)
			}
		}},
		{"lenenc-2^64", true, append(login(),
			c(query("DELETE FROM t")), s(pk(1, 0, huge, huge, u16(0), u16(3)))),
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login alice ok", "COM_QUERY DELETE FROM t ok")
				if p := resp(xs[1]); *p.AffectedRows != 1<<64-1 || *p.InsertID != 1<<64-1 || *p.Warnings != 3 {
					t.Errorf("%+v", p)
				}
			}},
		{"column-count-huge", true, append(login(),
			c(query("SELECT 1")), s(pk(1, huge), colDef(2, "a")),
			c(query("SELECT 2")), s(resultSet(1, 0))),
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login alice ok", "COM_QUERY SELECT 1 unknown TRUNCATED", "COM_QUERY SELECT 2 1 row")
				if !slices.Contains(xs[1].Notes, "response lost: implausible column count") {
					t.Errorf("notes %v", xs[1].Notes)
				}
			}},
		{"column-count-zero", true, append(login(),
			c(query("SELECT 1")), s(pk(1, 0xfc, 0, 0)), c(query("SELECT 2")), s(resultSet(2, 0))),
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login alice ok", "COM_QUERY SELECT 1 unknown TRUNCATED", "COM_QUERY SELECT 2 2 rows")
			}},
		{"local-infile-abandoned", true, append(login(),
			c(query("SELECT 1")), s(pk(1, 0xfb, "f")), c(query("SELECT 2")), s(resultSet(2, 0))),
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login alice ok", "COM_QUERY SELECT 1 local_infile TRUNCATED", "COM_QUERY SELECT 2 2 rows")
			}},
		{"packet-length-lies", true, append(login(),
			// declares 0xFFFFFF: the next command becomes its continuation
			c([]byte{0xff, 0xff, 0xff, 0, comQuery}, []byte("SELECT")), c(query("SELECT 2")),
			s(resultSet(1, 0))),
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login alice ok", "COM_QUERY SELECT 1 row TRUNCATED")
			}},
		{"ok-shorter-than-its-fields", true, append(login(),
			c(query("SET a=1")), s(pk(1, 0, 0)), c(query("SET b=2")), s(okPkt(1, 0, 0))),
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login alice ok", "COM_QUERY SET a=1 unknown TRUNCATED", "COM_QUERY SET b=2 ok")
			}},
		{"half-packet-at-end", true, append(login(),
			c(query("SELECT 1")), s(resultSet(1, 0)), c(query("SELECT 2")), s([]byte{5, 0})),
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login alice ok", "COM_QUERY SELECT 1 1 row", "COM_QUERY SELECT 2 ! TRUNCATED")
			}},
		{"half-response-at-end", true, append(login(),
			c(query("SELECT 1")), s(resultSet(3, 0)[:40])),
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login alice ok", "COM_QUERY SELECT 1 0 rows TRUNCATED")
				if !slices.Contains(xs[1].Notes, "capture ended inside the response") {
					t.Errorf("notes %v", xs[1].Notes)
				}
			}},
		{"gap-in-resultset", true, append(login(),
			c(query("SELECT 1")), s(resultSet(3, 0)[:50]), gap(server, -1), s(resultSet(3, 0)[60:]),
			c(query("SELECT 2")), s(resultSet(2, 0))),
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login alice ok", "COM_QUERY SELECT 1 0 rows TRUNCATED", "COM_QUERY SELECT 2 2 rows")
				if !slices.Contains(xs[1].Notes, "gap of unknown number of bytes in response") {
					t.Errorf("notes %v", xs[1].Notes)
				}
			}},
		{"gap-inside-row", true, append(login(),
			// 50 = the middle of the second row: a known size keeps alignment
			c(query("SELECT 1")), s(resultSet(3, 0)[:50]), gap(server, 1), s(resultSet(3, 0)[51:]),
			c(query("SELECT 2")), s(resultSet(2, 0))),
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login alice ok", "COM_QUERY SELECT 1 3 rows TRUNCATED", "COM_QUERY SELECT 2 2 rows")
			}},
		{"gap-in-query", true, append(login(),
			c(query("SELECT 123456789")[:10]), gap(client, 4), c(query("SELECT 123456789")[14:]),
			s(resultSet(1, 0)), c(query("SELECT 2")), s(resultSet(1, 0))),
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login alice ok", "COM_QUERY SELEC 1 row TRUNCATED", "COM_QUERY SELECT 2 1 row")
				if r := req(xs[1]); r.QueryBytes != 16 {
					t.Errorf("query bytes %d", r.QueryBytes)
				}
			}},
		{"gap-lost-commands", true, append(login(),
			c(query("SELECT 1")), s(resultSet(1, 0)), gap(client, 30), s(resultSet(1, 0)),
			c(query("SELECT 3")), s(resultSet(2, 0))),
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login alice ok", "COM_QUERY SELECT 1 1 row", "COM_QUERY SELECT 3 2 rows")
			}},
		{"handshake-truncated", true, []ev{
			s(greetingPkt(testCaps)), c(pk(1, u32(testCaps), u32(0), 0x21, make([]byte, 23), "bo")),
			s(okPkt(2, 0, 2)), c(query("SELECT 1")), s(resultSet(1, 0))},
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login ? ok TRUNCATED", "COM_QUERY SELECT 1 1 row")
			}},
		{"greeting-truncated", true, []ev{s(greetingPkt(testCaps)[:20])},
			func(t *testing.T, xs []*decoder.Exchange) { want(t, xs) }},
		{"greeting-short-payload", true, []ev{
			s(pk(0, 10, "5.5\x00", 1, 2)), c(handshakePkt(testCaps, "alice", "app")), s(okPkt(2, 0, 0))},
			func(t *testing.T, xs []*decoder.Exchange) { want(t, xs, "login alice ok TRUNCATED") }},
		{"not-mysql", true, []ev{
			c([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")), s([]byte("HTTP/1.1 200 OK\r\n\r\n"))},
			func(t *testing.T, xs []*decoder.Exchange) { want(t, xs) }},
		{"garbage-mid-stream", false, []ev{
			c(bytes.Repeat([]byte{0, 1, 0x03, 0xff, 0x00, 0x03}, 50)), s(bytes.Repeat([]byte{0xfe}, 99)),
			c(query("SELECT 1")), s(resultSet(1, 0))},
			func(t *testing.T, xs []*decoder.Exchange) { want(t, xs, "COM_QUERY SELECT 1 1 row") }},
		{"sequence-mismatch", true, append(login(),
			c(query("SELECT 1")), s(okPkt(5, 0, 0)), c(query("SELECT 2")), s(okPkt(1, 0, 0))),
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login alice ok", "COM_QUERY SELECT 1 ! TRUNCATED", "COM_QUERY SELECT 2 ok")
			}},
		{"unknown-command-byte", true, append(login(),
			c(pk(0, 0x77, "zz")), s(okPkt(1, 0, 0)), c(query("SELECT 2")), s(okPkt(1, 0, 0))),
			func(t *testing.T, xs []*decoder.Exchange) { want(t, xs, "login alice ok", "COM_QUERY SELECT 2 ok") }},
		{"unsolicited-error", true, append(login(),
			s(pk(0, 0xff, u16(4031), "#HY000", "idle too long"))),
			func(t *testing.T, xs []*decoder.Exchange) { want(t, xs, "login alice ok", "none error 4031") }},
		{"refused-at-greeting", true, []ev{s(pk(0, 0xff, u16(1040), "Too many connections"))},
			func(t *testing.T, xs []*decoder.Exchange) { want(t, xs, "login ? error 1040") }},
		{"ssl-request", true, []ev{
			s(greetingPkt(testCaps | clientSSL)), c(pk(1, u32(testCaps|clientSSL), u32(0), 0x21, make([]byte, 23))),
			c([]byte{0x16, 3, 1, 0, 200, 1}), s([]byte{0x16, 3, 3, 0, 90, 2}), c(query("SELECT 1"))},
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login ? (TLS) !")
				if !req(xs[0]).TLS || len(xs[0].Notes) == 0 {
					t.Errorf("%+v", xs[0])
				}
			}},
		{"multi-results", true, append(login(),
			c(query("INSERT INTO t VALUES (1); SELECT 1")), s(okPkt(1, 1, serverMoreResultsExist)),
			s(resultSet(2, 0)[:0], renumber(resultSet(2, 0), 2))),
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login alice ok", "COM_QUERY INSERT INTO t VALUES (1); SELECT 1 2 rows")
			}},
		{"error-inside-rows", true, append(login(),
			c(query("SELECT 1")), s(cat(pk(1, 1), colDef(2, "a"), eofPkt(3, 0), pk(4, lstr("x")),
				pk(5, 0xff, u16(1317), "#70100", "Query execution was interrupted")))),
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login alice ok", "COM_QUERY SELECT 1 error 1317")
				if p := resp(xs[1]); *p.Rows != 1 || p.SQLState != "70100" {
					t.Errorf("%+v", p)
				}
			}},
		{"progress-report", false, []ev{
			c(query("ALTER TABLE t ENGINE=InnoDB")), s(pk(1, 0xff, u16(0xffff), 1, 1, 1, u16(500), u32(0), lstr("copy"))),
			s(okPkt(2, 0, 0))},
			func(t *testing.T, xs []*decoder.Exchange) { want(t, xs, "COM_QUERY ALTER TABLE t ENGINE=InnoDB ok") }},
		{"deprecate-eof", true, []ev{
			s(greetingPkt(testCaps | clientDeprecateEOF)), c(handshakePkt(testCaps|clientDeprecateEOF, "al", "db")),
			s(okPkt(2, 0, 2)),
			c(query("SELECT 1")), s(pk(1, 1), colDef(2, "a"), pk(3, lstr("1")), pk(4, lstr("2")), pk(5, 0xfe, 0, 0, u16(2), u16(0))),
			c(query("SELECT 2")), s(pk(1, 1), colDef(2, "a"), pk(3, 0xfe, 0, 0, u16(2), u16(0))),
			c(pk(0, comStmtPrepare, "SELECT ?")), s(pk(1, 0, u32(7), u16(1), u16(1), 0, u16(0)), colDef(2, "?"), colDef(3, "a")),
			c(pk(0, comStmtExecute, u32(7), 0, u32(1), 0, 1, 0xfd, 0, lstr("v"))),
			s(pk(1, 1), colDef(2, "a"), pk(3, 0, 0, lstr("v")), pk(4, 0xfe, 0, 0, u16(2), u16(0)))},
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login al ok", "COM_QUERY SELECT 1 2 rows", "COM_QUERY SELECT 2 0 rows",
					"COM_STMT_PREPARE SELECT ? ok", "COM_STMT_EXECUTE SELECT ? 1 row")
			}},
		{"deprecate-eof-unknown-caps", false, []ev{
			c(query("SELECT 1")), s(pk(1, 1), colDef(2, "a"), pk(3, lstr("1")), pk(4, 0xfe, 0, 0, u16(2), u16(0))),
			c(pk(0, comStmtPrepare, "SELECT ?")), s(pk(1, 0, u32(7), u16(1), u16(1), 0, u16(0)), colDef(2, "?"), colDef(3, "a")),
			c(pk(0, comStmtClose, u32(7)))},
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "COM_QUERY SELECT 1 1 row", "COM_STMT_PREPARE SELECT ? ok", "COM_STMT_CLOSE SELECT ? !")
			}},
		{"eof-prepare-unknown-caps", false, []ev{
			c(pk(0, comStmtPrepare, "SELECT ?")),
			s(pk(1, 0, u32(7), u16(1), u16(1), 0, u16(0)), colDef(2, "?"), eofPkt(3, 0), colDef(4, "a"), eofPkt(5, 0)),
			c(pk(0, comStmtExecute, u32(7), 0, u32(1), 0, 1, 0xfd, 0, lstr("v"))),
			s(pk(1, 1), colDef(2, "a"), eofPkt(3, 0), pk(4, 0, 0, lstr("v")), eofPkt(5, 0)),
			c(pk(0, comStmtExecute, u32(9), 0, u32(1), 0)), s(okPkt(1, 1, 0))},
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "COM_STMT_PREPARE SELECT ? ok", "COM_STMT_EXECUTE SELECT ? 1 row", "COM_STMT_EXECUTE ok")
				if !slices.Contains(xs[2].Notes, "statement 9 was prepared before the capture") {
					t.Errorf("notes %v", xs[2].Notes)
				}
			}},
		{"change-user-and-init-db", true, append(login(),
			c(pk(0, comInitDB, "other")), s(okPkt(1, 0, 0)),
			c(pk(0, comChangeUser, "bob\x00", 20, bytes.Repeat([]byte{0xBB}, 20), "bobdb\x00", u16(0x21), "mysql_native_password\x00")),
			s(pk(1, 0xfe, "mysql_native_password\x00", "0123456789abcdefghij\x00")), c(pk(2, bytes.Repeat([]byte{0xCC}, 20))),
			s(okPkt(3, 0, 0)),
			c(pk(0, comResetConnection)), s(okPkt(1, 0, 0)),
			c(query("USE `third`")), s(okPkt(1, 0, 0)),
			c(query("SELECT 1")), s(resultSet(1, 0))),
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login alice ok", "COM_INIT_DB ok", "COM_CHANGE_USER ok", "COM_RESET_CONNECTION ok",
					"COM_QUERY USE `third` ok", "COM_QUERY SELECT 1 1 row")
				if r := req(xs[2]); r.User != "bob" || r.Database != "bobdb" {
					t.Errorf("change user %+v", r)
				}
				if r := req(xs[3]); r.User != "bob" || r.Database != "bobdb" {
					t.Errorf("after change user %+v", r)
				}
				if r := req(xs[5]); r.User != "bob" || r.Database != "third" {
					t.Errorf("after USE %+v", r)
				}
			}},
		{"field-list-and-set-option", true, append(login(),
			c(pk(0, comFieldList, "t\x00")), s(colDef(1, "a"), colDef(2, "b"), eofPkt(3, 0)),
			c(pk(0, comSetOption, u16(0))), s(eofPkt(1, 0)),
			c(pk(0, comProcessKill, u32(12))), s(pk(1, 0xff, u16(1094), "#HY000", "Unknown thread id: 12"))),
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login alice ok", "COM_FIELD_LIST t ok", "COM_SET_OPTION eof", "COM_PROCESS_KILL error 1094")
				if p := resp(xs[1]); *p.Columns != 2 {
					t.Errorf("field list columns %d", *p.Columns)
				}
			}},
		{"local-infile-refused", true, append(login(),
			c(query("LOAD DATA LOCAL INFILE 'x' INTO TABLE t")), s(pk(1, 0xfb, "x")), c(pk(2, "1,a\n"), pk(3)),
			s(pk(4, 0xff, u16(1148), "#42000", "not allowed"))),
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login alice ok", "COM_QUERY LOAD DATA LOCAL INFILE 'x' INTO TABLE t error 1148")
			}},
		{"compressed-garbage", true, []ev{
			s(greetingPkt(testCaps | clientCompress)), c(handshakePkt(testCaps|clientCompress, "z", "d")), s(okPkt(2, 0, 2)),
			c([]byte{10, 0, 0, 0, 20, 0, 0}, []byte{0x78, 0x9c, 1, 2, 3, 4, 5, 6, 7, 8}),
			c([]byte{13, 0, 0, 0, 0, 0, 0}, query("SELECT 1"))},
			func(t *testing.T, xs []*decoder.Exchange) {
				want(t, xs, "login z ok", "COM_QUERY SELECT 1 ! TRUNCATED")
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			xs := run(tc.sawSYN, tc.evs)
			tc.check(t, xs)
			// The same bytes one at a time give the same exchanges.
			var ones []ev
			for _, e := range tc.evs {
				if e.gap != 0 {
					ones = append(ones, e)
					continue
				}
				for i := range e.data {
					ones = append(ones, ev{dir: e.dir, data: e.data[i : i+1]})
				}
			}
			got := brief(run(tc.sawSYN, ones))
			if !slices.Equal(got, brief(xs)) {
				t.Errorf("byte by byte:\n got %q\nwant %q", got, brief(xs))
			}
		})
	}
}

// renumber rewrites the sequence ids of consecutive packets from seq on.
func renumber(b []byte, seq byte) []byte {
	out := slices.Clone(b)
	for i := 0; i+4 <= len(out); {
		n := int(le24(out[i:]))
		out[i+3] = seq
		seq++
		i += 4 + n
	}
	return out
}

// brief is "COMMAND QUERY RESULT[ TRUNCATED]" per exchange; "!" marks a
// missing response, "login USER" a login.
func brief(xs []*decoder.Exchange) []string {
	var out []string
	for _, x := range xs {
		r := req(x)
		var parts []string
		if r.Command == "login" {
			parts = append(parts, strings.TrimSuffix(r.Summary(), "@"+r.Database))
		} else {
			parts = append(parts, r.Command)
			if r.Query != "" {
				parts = append(parts, r.Query)
			}
		}
		if p := resp(x); p != nil {
			parts = append(parts, p.Summary())
		} else {
			parts = append(parts, "!")
		}
		if x.Truncated {
			parts = append(parts, "TRUNCATED")
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

func want(t *testing.T, xs []*decoder.Exchange, lines ...string) {
	t.Helper()
	got := brief(xs)
	if !slices.Equal(got, lines) && !(len(got) == 0 && len(lines) == 0) {
		b, _ := json.MarshalIndent(dump(xs), "", " ")
		t.Fatalf("got  %q\nwant %q\n%s", got, lines, b)
	}
}
