package redact

import "strings"

// SQL redacts SQL text. Comments count as white space (IDENTIFIED/**/BY),
// and the string literal is replaced that follows:
//
//   - IDENTIFIED [WITH|VIA plugin] BY|USING|AS (CREATE/ALTER USER, GRANT);
//   - PASSWORD( (PASSWORD('x'), OLD_PASSWORD), and PASSWORD 'x' (CREATE
//     SERVER … OPTIONS (PASSWORD 'x'));
//   - SET PASSWORD [FOR user] = 'x';
//   - a name that says it is a credential, then = (MASTER_PASSWORD='x',
//     password = 'x', secret='x').
//
// Any other literal is checked by shape (a fernet token, a JWT, a random
// key). Passwords and keys get the keyed fingerprint; q itself is returned
// (without allocating) when nothing changed.
func (p *Policy) SQL(q string) string {
	if p.Shows() || len(q) < 8 {
		return q
	}
	p = p.or()
	return p.sql.Get(q, p.redactSQL)
}

func (p *Policy) redactSQL(q string) string {
	var b strings.Builder
	last := 0
	if !sqlNames(q) {
		return p.sqlLiterals(q)
	}
	setPassword := hasPrefixWords(q, "set", "password")
	replace := func(at int, k kind) int {
		lit, end := literal(q, at)
		b.WriteString(q[last:at])
		b.WriteByte(q[at])
		b.WriteString(p.replace(k, lit))
		if end <= len(q) && end > at+1 && q[end-1] == q[at] {
			b.WriteByte(q[at])
		}
		last = end
		return end
	}
	for i := 0; i < len(q); {
		c := q[i]
		if c == '\'' || c == '"' {
			lit, end := literal(q, i)
			if len(lit) >= 8 {
				if r := p.Value(lit); r != lit {
					b.WriteString(q[last:i])
					b.WriteByte(c)
					b.WriteString(r)
					if q[end-1] == c && end > i+1 {
						b.WriteByte(c)
					}
					last = end
				}
			}
			i = end
			continue
		}
		if c == '`' {
			_, i = literal(q, i)
			continue
		}
		if n := comment(q, i); n > i {
			i = n
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
		at, k := -1, secret
		switch {
		case strings.EqualFold(word, "identified"):
			at = literalAfterWords(q, j, 4)
		case strings.EqualFold(word, "password") || words(word) != none:
			k = words(word)
			if k == none {
				k = secret
			}
			n := skip(q, j)
			switch {
			case n < len(q) && q[n] == '(':
				at = literalAfterWords(q, n+1, 0)
			case n < len(q) && (q[n] == '\'' || q[n] == '"'):
				at = n
			case n < len(q) && q[n] == '=':
				at = literalAfterWords(q, n+1, 1) // = PASSWORD('x') is found by its own word
			case setPassword && strings.EqualFold(word, "password"):
				// SET PASSWORD FOR user@host = 'x'
				if e := strings.IndexByte(q[n:], '='); e >= 0 {
					at = literalAfterWords(q, n+e+1, 0)
				}
			}
		}
		if at >= 0 {
			i = replace(at, k)
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

// sqlLiterals is SQL for the many queries that set no credential: only
// their string literals can hold one, by shape (a fernet token, a JWT, a
// PEM key, a random-looking key; all longer than 24 characters).
func (p *Policy) sqlLiterals(q string) string {
	var b strings.Builder
	last := 0
	sq, dq := -1, -1 // next ' and " at or after i
	for i := 0; i < len(q); {
		if sq < i && sq != len(q) {
			if sq = strings.IndexByte(q[i:], '\''); sq < 0 {
				sq = len(q)
			} else {
				sq += i
			}
		}
		if dq < i && dq != len(q) {
			if dq = strings.IndexByte(q[i:], '"'); dq < 0 {
				dq = len(q)
			} else {
				dq += i
			}
		}
		at := min(sq, dq)
		if at >= len(q) {
			break
		}
		lit, end := literal(q, at)
		if len(lit) >= 24 {
			if r := p.Value(lit); r != lit {
				b.WriteString(q[last:at])
				b.WriteByte(q[at])
				b.WriteString(r)
				if end > at+1 && q[end-1] == q[at] {
					b.WriteByte(q[at])
				}
				last = end
			}
		}
		i = end
	}
	if last == 0 {
		return q
	}
	b.WriteString(q[last:])
	return b.String()
}

// sqlAnchor marks the bytes sqlNames stops at: the rarer letter of each
// word that may set a credential (passWord, pWd, identiFied, toKen,
// seCret).
var sqlAnchor = func() (t [256]bool) {
	for _, c := range "wfkcWFKC" {
		t[c] = true
	}
	return t
}()

// sqlNames reports whether q may set a credential: IDENTIFIED, SET
// PASSWORD, or a word that names a password, secret or token (PASSWORD,
// MASTER_PASSWORD, db_passwd, secret, token) followed by (, = or a
// literal. One pass that stops only at a few letters, so that the many
// queries that do not (keystone's password and assignment tables
// included) are only checked for shaped literals.
func sqlNames(q string) bool {
	for i := 0; i < len(q); i++ {
		if !sqlAnchor[q[i]] {
			continue
		}
		var hit bool
		switch q[i] | 0x20 {
		case 'w':
			hit = i >= 4 && atFold(q, i-4, "passw") || i >= 1 && atFold(q, i-1, "pwd")
		case 'f':
			hit = i >= 6 && atFold(q, i-6, "identified")
		case 'k':
			hit = i >= 2 && atFold(q, i-2, "token")
		case 'c':
			hit = i >= 2 && atFold(q, i-2, "secret")
		}
		if !hit {
			continue
		}
		ws, we := i, i
		for ws > 0 && isWord(q[ws-1]) {
			ws--
		}
		for we < len(q) && isWord(q[we]) {
			we++
		}
		w := q[ws:we]
		if strings.EqualFold(w, "identified") {
			return true
		}
		if strings.EqualFold(w, "password") || words(w) != none {
			n := skip(q, we)
			if n < len(q) && (q[n] == '(' || q[n] == '=' || q[n] == '\'' || q[n] == '"') {
				return true
			}
			if strings.EqualFold(w, "password") && hasPrefixWords(q, "set", "password") {
				return true
			}
		}
		i = we
	}
	return false
}

// atFold reports whether q[i:] starts with the lower-case ASCII word w,
// ignoring case.
func atFold(q string, i int, w string) bool {
	if len(q)-i < len(w) {
		return false
	}
	for k := 0; k < len(w); k++ {
		if q[i+k]|0x20 != w[k] {
			return false
		}
	}
	return true
}

// literalAfterWords skips white space, comments, charset introducers
// (_utf8mb4) and up to n words (BY, VIA, plugin names, USING, AS) from i
// and returns the offset of a quote that starts a string literal there, or
// -1.
func literalAfterWords(q string, i, n int) int {
	for w := 0; ; w++ {
		i = skip(q, i)
		if i >= len(q) {
			return -1
		}
		if q[i] == '\'' || q[i] == '"' {
			return i
		}
		if !isWord(q[i]) {
			return -1
		}
		j := i
		for j < len(q) && isWord(q[j]) {
			j++
		}
		if q[i] == '_' || (q[i] == 'N' || q[i] == 'n') && j == i+1 {
			i = j // _utf8mb4'x', N'x'
			w--
			continue
		}
		if w >= n {
			return -1
		}
		if strings.EqualFold(q[i:j], "password") {
			if k := skip(q, j); k < len(q) && q[k] == '(' {
				return -1 // PASSWORD('x'): redacted when the scan reaches it
			}
		}
		i = j
	}
}

// literal returns the contents of the quoted literal starting at q[i] and
// the offset after its closing quote (backslash escapes and doubled quotes
// honoured; an unterminated literal runs to the end).
func literal(q string, i int) (string, int) {
	quote := q[i]
	start := i + 1
	simple := true
	for j := start; j < len(q); j++ {
		c := q[j]
		switch {
		case c == '\\' && quote != '`' && j+1 < len(q):
			simple = false
			j++
		case c == quote && j+1 < len(q) && q[j+1] == quote:
			simple = false
			j++
		case c == quote:
			if simple {
				return q[start:j], j + 1
			}
			return unescapeSQL(q[start:j], quote), j + 1
		}
	}
	if simple {
		return q[start:], len(q)
	}
	return unescapeSQL(q[start:], quote), len(q)
}

func unescapeSQL(s string, quote byte) string {
	var b strings.Builder
	for j := 0; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '\\' && quote != '`' && j+1 < len(s):
			j++
			b.WriteByte(s[j])
		case c == quote && j+1 < len(s) && s[j+1] == quote:
			j++
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// comment returns the offset after the comment starting at q[i] (/* */,
// "-- ", #), or i when none starts there.
func comment(q string, i int) int {
	switch {
	case q[i] == '/' && i+1 < len(q) && q[i+1] == '*':
		if e := strings.Index(q[i+2:], "*/"); e >= 0 {
			return i + 2 + e + 2
		}
		return len(q)
	case q[i] == '#', q[i] == '-' && i+2 < len(q) && q[i+1] == '-' && (q[i+2] == ' ' || q[i+2] == '\t' || q[i+2] == '\n'):
		if e := strings.IndexByte(q[i:], '\n'); e >= 0 {
			return i + e + 1
		}
		return len(q)
	}
	return i
}

// skip skips white space and comments.
func skip(q string, i int) int {
	for i < len(q) {
		if isSpace(q[i]) {
			i++
			continue
		}
		if n := comment(q, i); n > i {
			i = n
			continue
		}
		break
	}
	return i
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isWord(c byte) bool {
	return isAlnum(c) || c == '_' || c == '$' || c >= 0x80
}

// hasPrefixWords reports whether s starts with the given words (any case,
// white space and comments between).
func hasPrefixWords(s string, words ...string) bool {
	i := 0
	for _, w := range words {
		i = skip(s, i)
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
