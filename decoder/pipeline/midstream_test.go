package pipeline

import (
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder/mysql"
	"github.com/flowmap/flowmap/internal/truth"
)

// TestMySQLWithoutLogins: a capture that starts after the MySQL logins
// still gives every query, on connections whose user is unknown.
func TestMySQLWithoutLogins(t *testing.T) {
	full := truth.Capture("concurrent")
	exs, _ := decodeAll(t, full)
	var lastLogin time.Time
	for _, e := range exs {
		if r, ok := e.Request.(*mysql.Request); ok && r.Command == "login" && e.End().After(lastLogin) {
			lastLogin = e.End()
		}
	}
	if lastLogin.IsZero() {
		t.Fatal("no login in the full capture")
	}
	cut := lastLogin.Add(time.Microsecond)
	rows, err := truth.Load(truth.File("concurrent", "mysql"))
	if err != nil {
		t.Fatal(err)
	}
	var after []truth.Row
	for _, r := range rows {
		if r.Time() > float64(cut.UnixNano())/1e9 && r["mysql.query"] != "" {
			after = append(after, r)
		}
	}
	want := truth.MySQLRows(after)
	if len(want) < 100 {
		t.Fatalf("only %d queries after the last login", len(want))
	}
	cexs, _ := decodeAll(t, truth.CutBefore(t, full, cut))
	got := mysqlEvents(cexs)
	checkMySQL(t, got, want, false)
	for _, e := range cexs {
		if r, ok := e.Request.(*mysql.Request); ok {
			if r.UserKnown || r.User != "" {
				t.Fatalf("conn %d: user %q known=%v after the login was cut away", e.Conn.ID, r.User, r.UserKnown)
			}
			if e.Conn.SawSYN {
				t.Fatalf("conn %d: SYN seen in a capture cut mid-connection", e.Conn.ID)
			}
		}
	}
}
