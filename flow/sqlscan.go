package flow

import "strings"

// A hand scanner for the two SQL facts flow reads from a query: its verb
// and the tables it names after FROM, JOIN, INTO and UPDATE. It replaced
// the regular expressions
//
//	tableRE = (?i)\b(?:from|join|into|update)\s+`?([a-z_][a-z0-9_]*)`?
//	verbRE  = ^\s*(?i:(select|insert|update|delete|replace))\b
//
// whose backtracking was most of trace's CPU, and gives exactly their
// results (sqlscan_test.go compares the two on every query of the test
// captures, and fuzzes them), Unicode case folding included: under (?i)
// an 's' also matches 'ſ' (U+017F) and a 'k' the Kelvin sign (U+212A).
// \b and \s are ASCII, as in Go's regexp: \s is [\t\n\f\r ].

const (
	longS  = "\u017f" // folds to s
	kelvin = "\u212a" // folds to k
)

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

func isWordByte(c byte) bool { return wordBytes[c] }

// wordBytes is \w: [0-9A-Za-z_], as a table (the scanner asks of every
// byte of every query).
var wordBytes = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c == '_' || '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'z'
	}
	return t
}()

// foldAt reports whether s at i starts with word (lower-case ASCII) under
// (?i) folding, and how many bytes of s it took.
func foldAt(s string, i int, word string) (int, bool) {
	j := i
	for k := 0; k < len(word); k++ {
		if j < len(s) && s[j]|0x20 == word[k] && s[j] >= 'A' {
			j++
			continue
		}
		if word[k] == 's' && strings.HasPrefix(s[j:], longS) {
			j += len(longS)
			continue
		}
		if word[k] == 'k' && strings.HasPrefix(s[j:], kelvin) {
			j += len(kelvin)
			continue
		}
		return 0, false
	}
	return j - i, true
}

// identAt is the length of [a-z_][a-z0-9_]* (under (?i)) at s[i:], 0 when
// none starts there.
func identAt(s string, i int) int {
	j := i
	for j < len(s) {
		c := s[j]
		switch {
		case c == '_' || 'a' <= c|0x20 && c|0x20 <= 'z' && c >= 'A':
			j++
		case '0' <= c && c <= '9':
			if j == i {
				return 0
			}
			j++
		case strings.HasPrefix(s[j:], longS):
			j += len(longS)
		case strings.HasPrefix(s[j:], kelvin):
			j += len(kelvin)
		default:
			return j - i
		}
	}
	return j - i
}

var tableWords = [...]string{"from", "join", "into", "update"}

// nextTable finds the first table reference in q at or after offset from:
// the table name and the offset just past the reference (the regexp's
// match end), ok false when there is none.
func nextTable(q string, from int) (table string, end int, ok bool) {
	for i := from; i < len(q); {
		if !isWordByte(q[i]) {
			i++
			continue
		}
		// A word: only its first byte can follow \b, so only there can
		// a keyword begin; the rest of the word is skipped.
		if c := q[i] | 0x20; (i == 0 || !isWordByte(q[i-1])) && (c == 'f' || c == 'j' || c == 'i' || c == 'u') {
			if t, e, ok := tableAt(q, i, c); ok {
				return t, e, true
			}
		}
		for i++; i < len(q) && isWordByte(q[i]); i++ {
		}
	}
	return "", len(q), false
}

// tableAt matches a keyword (beginning with c), white space, an optional
// back quote and a table name at q[i:].
func tableAt(q string, i int, c byte) (table string, end int, ok bool) {
	for _, w := range tableWords {
		if w[0] != c {
			continue
		}
		n, ok := foldAt(q, i, w)
		if !ok {
			return "", 0, false
		}
		j := i + n
		if j >= len(q) || !isSpace(q[j]) {
			return "", 0, false
		}
		for j < len(q) && isSpace(q[j]) {
			j++
		}
		if j < len(q) && q[j] == '`' {
			j++
		}
		m := identAt(q, j)
		if m == 0 {
			return "", 0, false
		}
		end = j + m
		if end < len(q) && q[end] == '`' {
			end++
		}
		return q[j : j+m], end, true
	}
	return "", 0, false
}

var verbWords = [...]string{"select", "insert", "update", "delete", "replace"}

// queryVerb is the query's leading verb as written ("select", "SELECT"),
// or "" when it begins with none of them.
func queryVerb(q string) string {
	i := 0
	for i < len(q) && isSpace(q[i]) {
		i++
	}
	for _, w := range verbWords {
		n, ok := foldAt(q, i, w)
		if !ok {
			continue
		}
		if e := i + n; e < len(q) && isWordByte(q[e]) {
			return "" // \b: no other verb can match here either
		}
		return q[i : i+n]
	}
	return ""
}
