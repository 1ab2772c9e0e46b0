package mysql

import "strings"

// useStatement recognises "USE db" (db optionally in back quotes, an
// optional ';') and returns db.
func useStatement(q string) (string, bool) {
	q = strings.TrimSpace(q)
	if len(q) < 5 || !strings.EqualFold(q[:3], "use") || !isSpace(q[3]) {
		return "", false
	}
	db := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(q[4:]), ";"))
	if len(db) >= 2 && db[0] == '`' && db[len(db)-1] == '`' {
		db = strings.ReplaceAll(db[1:len(db)-1], "``", "`")
	} else if strings.ContainsAny(db, " \t\r\n`'\";") {
		return "", false
	}
	if db == "" || len(db) > 256 {
		return "", false
	}
	return db, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
