package mysql

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/decoder"
)

// recStreams are the recordings of real MariaDB 10.11 traffic made by
// TestRecord (-record).
var recStreams = []string{
	"rec-cli-errors", "rec-cli-compress", "rec-cli-badpass", "rec-cli-ed25519",
	"rec-cli-infile", "rec-admin", "rec-cli-big", "rec-perl-prepared",
}

// step is what one exchange of a recording must be.
type step struct {
	command, query string
	result         string
	rows           int64 // -1: not checked
	errCode        uint16
	sqlState       string
}

func checkSteps(t *testing.T, xs []*decoder.Exchange, want []step) {
	t.Helper()
	if len(xs) != len(want) {
		t.Fatalf("%d exchanges, want %d:\n%s", len(xs), len(want), strings.Join(dump(xs), "\n"))
	}
	for i, w := range want {
		r, p := req(xs[i]), resp(xs[i])
		if r.Command != w.command || w.query != "" && r.Query != w.query {
			t.Errorf("exchange %d: %s %q, want %s %q", i, r.Command, r.Query, w.command, w.query)
		}
		if xs[i].Truncated {
			t.Errorf("exchange %d truncated: %v", i, xs[i].Notes)
		}
		if w.result == "" {
			if p != nil {
				t.Errorf("exchange %d: response %+v, want none", i, p)
			}
			continue
		}
		if p == nil || p.Result != w.result {
			t.Errorf("exchange %d (%s): response %+v, want %s", i, r.Command, p, w.result)
			continue
		}
		if w.rows >= 0 && w.result == "rows" && (p.Rows == nil || *p.Rows != w.rows) {
			t.Errorf("exchange %d: rows %v, want %d", i, p.Rows, w.rows)
		}
		if w.result == "error" && (p.ErrorCode == nil || *p.ErrorCode != w.errCode || p.SQLState != w.sqlState || p.Error == "") {
			t.Errorf("exchange %d: error %v %q %q, want %d %q", i, p.ErrorCode, p.SQLState, p.Error, w.errCode, w.sqlState)
		}
	}
}

// noSecrets fails if any password of the recordings shows in the
// redacted output (the decoder keeps the SQL as sent; Redacted applies
// the policy).
func noSecrets(t *testing.T, xs []*decoder.Exchange) {
	t.Helper()
	for _, x := range xs {
		msgs := []decoder.Message{x.Request, x.Response}
		for i, m := range msgs {
			if m != nil {
				msgs[i] = m.Redacted()
			}
		}
		b, _ := json.Marshal(msgs)
		for _, s := range []string{"flowpass", "edpass", "hunter2", "hunter3", "wrong"} {
			if strings.Contains(string(b), s) {
				t.Errorf("%q in %s", s, b)
			}
		}
	}
}

// TestRecordedErrors: ERR replies (syntax, missing table, duplicate key),
// text-protocol PREPARE/EXECUTE, passwords in SQL redacted, USE.
func TestRecordedErrors(t *testing.T) {
	xs := decode(loadStream(t, "rec-cli-errors"), true, Options{}, nil)
	noSecrets(t, xs)
	checkSteps(t, xs, []step{
		{command: "login", result: "ok"},
		{"COM_QUERY", "SELECT 1", "rows", 1, 0, ""},
		{"COM_QUERY", "SELEC oops", "error", 0, 1064, "42000"},
		{"COM_QUERY", "SELECT * FROM nosuch", "error", 0, 1146, "42S02"},
		{"COM_QUERY", "CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(20))", "ok", 0, 0, ""},
		{"COM_QUERY", "INSERT INTO t (v) VALUES ('a'),('b'),('c')", "ok", 0, 0, ""},
		{"COM_QUERY", "SELECT * FROM t", "rows", 3, 0, ""},
		{"COM_QUERY", "INSERT INTO t VALUES (1,'dup')", "error", 0, 1062, "23000"},
		{"COM_QUERY", "PREPARE s FROM 'SELECT v FROM t WHERE id=?'", "ok", 0, 0, ""},
		{"COM_QUERY", "SET @i=2", "ok", 0, 0, ""},
		{"COM_QUERY", "EXECUTE s USING @i", "rows", 1, 0, ""},
		{"COM_QUERY", "DEALLOCATE PREPARE s", "ok", 0, 0, ""},
		{"COM_QUERY", "CREATE USER 'tmp'@'localhost' IDENTIFIED BY 'hunter2'", "ok", 0, 0, ""},
		{"COM_QUERY", "SET PASSWORD FOR 'tmp'@'localhost' = PASSWORD('hunter3')", "ok", 0, 0, ""},
		{"COM_QUERY", "DROP USER 'tmp'@'localhost'", "ok", 0, 0, ""},
		{"COM_QUERY", "SELECT DATABASE()", "rows", 1, 0, ""},
		{"COM_INIT_DB", "", "ok", 0, 0, ""},
		{"COM_QUERY", "SELECT DATABASE()", "rows", 1, 0, ""},
		{"COM_QUERY", "SELECT COUNT(*) FROM flowdb.t", "rows", 1, 0, ""},
		{command: "COM_QUIT"},
	})
	if len(xs) != 20 {
		return
	}
	if r := req(xs[0]); r.User != "flow" || r.Database != "flowdb" || r.Plugin != "mysql_native_password" ||
		!slices.Contains(r.ClientAttrs, [2]string{"_client_name", "libmariadb"}) {
		t.Errorf("login %+v", r)
	}
	if p := resp(xs[5]); *p.AffectedRows != 3 || *p.InsertID != 1 {
		t.Errorf("INSERT: affected %d insert id %d", *p.AffectedRows, *p.InsertID)
	}
	if r := req(xs[16]); r.Database != "mysql" {
		t.Errorf("COM_INIT_DB database %q", r.Database)
	}
	if r := req(xs[17]); r.Database != "mysql" || r.User != "flow" || !r.UserKnown {
		t.Errorf("after COM_INIT_DB: %+v", r)
	}
	if s := resp(xs[2]).Summary(); s != "error 1064" {
		t.Errorf("summary %q", s)
	}
	if s := resp(xs[6]).Summary(); s != "3 rows" {
		t.Errorf("summary %q", s)
	}
}

// TestRecordedPrepared: binary-protocol COM_STMT_PREPARE/EXECUTE/RESET/CLOSE
// from DBD::MariaDB (libmariadb 3.3, MariaDB extended metadata and metadata
// caching negotiated), ERR replies to both, several result sets from CALL.
func TestRecordedPrepared(t *testing.T) {
	xs := decode(loadStream(t, "rec-perl-prepared"), true, Options{}, nil)
	noSecrets(t, xs)
	const sel = "SELECT id, v FROM t WHERE id > ? ORDER BY id"
	const ins = "INSERT INTO t (v) VALUES (?)"
	const dup = "INSERT INTO t (id, v) VALUES (?, ?)"
	checkSteps(t, xs, []step{
		{command: "login", result: "ok"},
		{"COM_QUERY", "SET NAMES 'utf8mb4'", "ok", 0, 0, ""},
		{"COM_QUERY", "SET character_set_server = 'utf8mb4'", "ok", 0, 0, ""},
		{"COM_QUERY", "SET collation_connection = 'utf8mb4_unicode_ci'", "ok", 0, 0, ""},
		{"COM_QUERY", "SET collation_server = 'utf8mb4_unicode_ci'", "ok", 0, 0, ""},
		{"COM_STMT_PREPARE", sel, "ok", 0, 0, ""},
		{"COM_STMT_EXECUTE", sel, "rows", 7, 0, ""},
		{"COM_STMT_EXECUTE", sel, "rows", 5, 0, ""},
		{"COM_STMT_CLOSE", sel, "", 0, 0, ""},
		{"COM_STMT_PREPARE", ins, "ok", 0, 0, ""},
		{"COM_STMT_EXECUTE", ins, "ok", 0, 0, ""},
		{"COM_STMT_EXECUTE", ins, "ok", 0, 0, ""},
		{"COM_STMT_CLOSE", ins, "", 0, 0, ""},
		{"COM_STMT_PREPARE", dup, "ok", 0, 0, ""},
		{"COM_STMT_EXECUTE", dup, "error", 0, 1062, "23000"},
		{"COM_STMT_RESET", dup, "ok", 0, 0, ""},
		{"COM_STMT_CLOSE", dup, "", 0, 0, ""},
		{"COM_STMT_PREPARE", "SELEC nope FROM t WHERE id = ?", "error", 0, 1064, "42000"},
		{"COM_QUERY", "DROP PROCEDURE IF EXISTS p", "ok", 0, 0, ""},
		{"COM_QUERY", "CREATE PROCEDURE p() BEGIN SELECT 1 AS a; SELECT 2 AS b, 3 AS c; END", "ok", 0, 0, ""},
		{"COM_STMT_PREPARE", "CALL p()", "ok", 0, 0, ""},
		{"COM_STMT_EXECUTE", "CALL p()", "rows", 2, 0, ""},
		{"COM_STMT_CLOSE", "CALL p()", "", 0, 0, ""},
		{"COM_PING", "", "ok", 0, 0, ""},
		{command: "COM_QUIT"},
	})
	if len(xs) != 25 {
		return
	}
	for _, i := range []int{5, 6, 7, 8} {
		if id := req(xs[i]).StatementID; id == nil || *id != *req(xs[5]).StatementID {
			t.Errorf("exchange %d: statement id %v", i, id)
		}
	}
	if c := resp(xs[5]).Columns; c == nil || *c != 2 {
		t.Errorf("prepare columns %v", c)
	}
	if req(xs[17]).StatementID != nil {
		t.Errorf("failed prepare has a statement id")
	}
	if p := resp(xs[21]); *p.Columns != 1 || !slices.Contains(xs[21].Notes, "another result set") {
		t.Errorf("CALL: %+v %v", p, xs[21].Notes)
	}
	if s := req(xs[6]).Summary(); s != "COM_STMT_EXECUTE "+sel {
		t.Errorf("summary %q", s)
	}
}

// TestRecordedCompressed: the mariadb client with --compress (CLIENT_COMPRESS,
// zlib), big rows spanning compressed packets, an error.
func TestRecordedCompressed(t *testing.T) {
	xs := decode(loadStream(t, "rec-cli-compress"), true, Options{}, nil)
	noSecrets(t, xs)
	checkSteps(t, xs, []step{
		{command: "login", result: "ok"},
		{"COM_QUERY", "SELECT 1", "rows", 1, 0, ""},
		{"COM_QUERY", "SELECT REPEAT('x', 70000) AS big", "rows", 1, 0, ""},
		{"COM_QUERY", "SELECT seq, REPEAT('z', seq % 50) FROM seq_1_to_3000", "rows", 3000, 0, ""},
		{"COM_QUERY", "SELEC bad", "error", 0, 1064, "42000"},
		{"COM_QUERY", "SELECT * FROM t", "rows", 3, 0, ""},
		{"COM_QUERY", "INSERT INTO t (v) VALUES ('zip')", "ok", 0, 0, ""},
		{command: "COM_QUIT"},
	})
	for i, x := range xs {
		if !req(x).Compressed {
			t.Errorf("exchange %d not marked compressed", i)
		}
	}
	if len(xs) == 8 && resp(xs[2]).Bytes != 70042 {
		t.Errorf("REPEAT bytes %d", resp(xs[2]).Bytes)
	}
}

// TestRecordedLogins: a refused login (ERR 1045) and an ed25519 account,
// which makes the server send an AuthSwitchRequest.
func TestRecordedLogins(t *testing.T) {
	xs := decode(loadStream(t, "rec-cli-badpass"), true, Options{}, nil)
	noSecrets(t, xs)
	checkSteps(t, xs, []step{{"login", "", "error", 0, 1045, "28000"}})
	if len(xs) == 1 {
		if r := req(xs[0]); r.User != "flow" || r.ConnectionID == 0 || r.ServerVersion == "" {
			t.Errorf("login %+v", r)
		}
		if s := req(xs[0]).Summary(); s != "login flow@flowdb" {
			t.Errorf("summary %q", s)
		}
	}
	xs = decode(loadStream(t, "rec-cli-ed25519"), true, Options{}, nil)
	noSecrets(t, xs)
	checkSteps(t, xs, []step{
		{command: "login", result: "ok"},
		{"COM_QUERY", "SELECT CURRENT_USER()", "rows", 1, 0, ""},
		{"COM_QUERY", "SELECT * FROM t", "rows", 4, 0, ""},
		{command: "COM_QUIT"},
	})
	if len(xs) > 0 {
		if r := req(xs[0]); r.Plugin != "client_ed25519" || !slices.Contains(xs[0].Notes, "auth switch to client_ed25519") {
			t.Errorf("login %+v notes %v", r, xs[0].Notes)
		}
	}
}

// TestRecordedInfileAndAdmin: LOCAL INFILE (0xFB, file packets, empty
// packet, OK) and mariadb-admin's COM_PING, COM_STATISTICS.
func TestRecordedInfileAndAdmin(t *testing.T) {
	xs := decode(loadStream(t, "rec-cli-infile"), true, Options{}, nil)
	checkSteps(t, xs, []step{
		{command: "login", result: "ok"},
		{"COM_QUERY", "", "ok", 0, 0, ""},
		{"COM_QUERY", "LOAD DATA LOCAL INFILE '/nonexistent/flowmap.csv' INTO TABLE t", "ok", 0, 0, ""},
		{"COM_QUERY", "SELECT COUNT(*) FROM t", "rows", 1, 0, ""},
		{command: "COM_QUIT"},
	})
	if len(xs) == 5 {
		if !slices.Contains(xs[1].Notes, "27 bytes of LOCAL INFILE data sent") || *resp(xs[1]).AffectedRows != 3 {
			t.Errorf("LOAD DATA: %v %+v", xs[1].Notes, resp(xs[1]))
		}
	}
	xs = decode(loadStream(t, "rec-admin"), true, Options{}, nil)
	checkSteps(t, xs, []step{
		{command: "login", result: "ok"},
		{"COM_PING", "", "ok", 0, 0, ""},
		{"COM_STATISTICS", "", "statistics", 0, 0, ""},
		{"COM_QUERY", "show processlist", "rows", 1, 0, ""},
		{command: "COM_QUIT"},
	})
}

// TestRecordedBigPackets: a 17 MiB query and a 17 MB row, each split over
// two physical packets (0xFFFFFF + rest): the query is cut at MaxQuery and
// counted, the row counted, not kept.
func TestRecordedBigPackets(t *testing.T) {
	chunks := loadStream(t, "rec-cli-big")
	xs := decode(chunks, true, Options{MaxQuery: 100}, nil)
	checkSteps(t, xs, []step{
		{command: "login", result: "ok"},
		{"COM_QUERY", "", "rows", 1, 0, ""},
		{"COM_QUERY", "SELECT REPEAT('y', 17000000) AS big", "rows", 1, 0, ""},
		{"COM_QUERY", "SELECT 2", "rows", 1, 0, ""},
		{command: "COM_QUIT"},
	})
	if len(xs) != 5 {
		return
	}
	if r := req(xs[1]); len(r.Query) != 100 || r.QueryBytes != 17825814 || !strings.HasPrefix(r.Query, "SELECT LENGTH('qqq") {
		t.Errorf("big query: %d bytes kept, %d declared", len(r.Query), r.QueryBytes)
	}
	if p := resp(xs[2]); p.Bytes != 17000047 {
		t.Errorf("big row: %d bytes", p.Bytes)
	}
	if s := req(xs[1]).Summary(); len(s) > 70 || !strings.HasSuffix(s, "...") {
		t.Errorf("summary %q", s)
	}
}

// TestRecordedStreamsAnySplit: recordings cut at random places decode the
// same.
func TestRecordedStreamsAnySplit(t *testing.T) {
	for _, name := range recStreams {
		chunks := loadStream(t, name)
		want := dump(decode(chunks, true, Options{}, nil))
		for seed := range uint64(3) {
			if seed == 0 && name == "rec-cli-big" {
				continue // 17 MB one byte at a time is slow, not harder
			}
			got := dump(decode(chunks, true, Options{}, randomSplit(seed, 1+int(seed)*700)))
			if d := firstDiff(got, want); d != "" {
				t.Errorf("%s seed %d: %s", name, seed, d)
			}
		}
	}
}

// TestRecordedStreamsMidStream starts each recording at every segment: the
// decoder must find its way in (compressed ones too) and decode a suffix of
// the full decode's commands, never anything else.
func TestRecordedStreamsMidStream(t *testing.T) {
	for _, name := range recStreams {
		chunks := loadStream(t, name)
		full := decode(chunks, true, Options{}, nil)
		var want []string
		for _, x := range full {
			if r := req(x); r.Command != "login" {
				want = append(want, r.Command+" "+r.Query)
			}
		}
		// A statement prepared before the start shows without its SQL.
		same := func(got, want string) bool {
			return got == want || strings.HasPrefix(got, "COM_STMT_") && got[len(got)-1] == ' ' &&
				strings.HasPrefix(want, got)
		}
		for start := 1; start < len(chunks); start++ {
			if name == "rec-cli-big" && start%50 != 1 {
				continue
			}
			xs := decode(chunks[start:], false, Options{}, nil)
			var got []string
			for _, x := range xs {
				got = append(got, req(x).Command+" "+req(x).Query)
			}
			if len(got) > len(want) || !slices.EqualFunc(got, want[len(want)-len(got):], same) {
				t.Errorf("%s from segment %d:\n%s", name, start, strings.Join(dump(xs), "\n"))
				break
			}
			// every command after the first fully captured one is found
			var first int
			for first = start; first < len(chunks) && chunks[first].dir != client; first++ {
			}
			if first < len(chunks) && len(got) == 0 && name != "rec-cli-badpass" && !strings.HasPrefix(want[len(want)-1], "COM_QUIT") {
				t.Errorf("%s from segment %d: nothing decoded", name, start)
			}
		}
	}
}
