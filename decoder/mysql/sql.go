package mysql

import (
	"strings"

	"github.com/flowmap/flowmap/decoder"
)

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

func isWord(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c >= 0x80
}

// redactSQL replaces the string literal that follows IDENTIFIED BY,
// IDENTIFIED WITH/VIA ... BY/USING/AS, PASSWORD( and SET PASSWORD ... = by
// its decoder.Fingerprint, so that no password set through SQL is kept.
// Other text is returned unchanged (and without allocating).
func redactSQL(q string) string {
	if !containsFold(q, "identified") && !containsFold(q, "password") {
		return q
	}
	var b strings.Builder
	last := 0
	setPassword := hasPrefixWordsFold(q, "set", "password")
	for i := 0; i < len(q); {
		c := q[i]
		if c == '\'' || c == '"' || c == '`' {
			_, end := literal(q, i)
			i = end
			continue
		}
		if !isWord(c) || i > 0 && isWord(q[i-1]) {
			i++
			continue
		}
		j := i
		for j < len(q) && isWord(q[j]) {
			j++
		}
		word := q[i:j]
		var at int = -1
		switch {
		case strings.EqualFold(word, "identified"):
			at = literalAfterWords(q, j, 4)
		case strings.EqualFold(word, "password"):
			k := skipSpace(q, j)
			switch {
			case k < len(q) && q[k] == '(':
				at = literalAfterWords(q, k+1, 0)
			case setPassword && k < len(q) && q[k] == '=':
				at = literalAfterWords(q, k+1, 1) // = PASSWORD('x') is found by its own word
			case setPassword:
				// SET PASSWORD FOR user@host = 'x'
				if e := strings.IndexByte(q[k:], '='); e >= 0 {
					at = literalAfterWords(q, k+e+1, 0)
				}
			}
		}
		if at >= 0 {
			lit, end := literal(q, at)
			b.WriteString(q[last:at])
			b.WriteByte(q[at])
			b.WriteString(decoder.Fingerprint(lit))
			b.WriteByte(q[at])
			last = end
			i = end
			continue
		}
		i = j
	}
	if last == 0 {
		return q
	}
	b.WriteString(q[last:])
	return b.String()
}

// literalAfterWords skips white space and up to n words (BY, VIA, plugin
// names, USING, PASSWORD, AS) from i and returns the offset of a quote that
// starts a string literal there, or -1.
func literalAfterWords(q string, i, n int) int {
	for w := 0; ; w++ {
		i = skipSpace(q, i)
		if i >= len(q) {
			return -1
		}
		if q[i] == '\'' || q[i] == '"' {
			return i
		}
		if w >= n || !isWord(q[i]) {
			return -1
		}
		j := i
		for j < len(q) && isWord(q[j]) {
			j++
		}
		if strings.EqualFold(q[i:j], "password") && skipSpace(q, j) < len(q) && q[skipSpace(q, j)] == '(' {
			return -1 // PASSWORD('x'): redacted when the scan reaches it
		}
		i = j
	}
}

// literal returns the contents of the quoted literal starting at q[i] and
// the offset after its closing quote (backslash escapes and doubled quotes
// honoured; an unterminated literal runs to the end).
func literal(q string, i int) (string, int) {
	quote := q[i]
	var b strings.Builder
	for j := i + 1; j < len(q); j++ {
		c := q[j]
		switch {
		case c == '\\' && quote != '`' && j+1 < len(q):
			j++
			b.WriteByte(q[j])
		case c == quote && j+1 < len(q) && q[j+1] == quote:
			j++
			b.WriteByte(c)
		case c == quote:
			return b.String(), j + 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), len(q)
}

func skipSpace(q string, i int) int {
	for i < len(q) && isSpace(q[i]) {
		i++
	}
	return i
}

// containsFold reports whether s contains the lower-case ASCII word w,
// ignoring case.
func containsFold(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i]|0x20 == w[0] && strings.EqualFold(s[i:i+len(w)], w) {
			return true
		}
	}
	return false
}

// hasPrefixWordsFold reports whether s starts with the given words.
func hasPrefixWordsFold(s string, words ...string) bool {
	i := 0
	for _, w := range words {
		i = skipSpace(s, i)
		if len(s)-i < len(w) || !strings.EqualFold(s[i:i+len(w)], w) {
			return false
		}
		i += len(w)
		if i < len(s) && isWord(s[i]) {
			return false
		}
	}
	return true
}
