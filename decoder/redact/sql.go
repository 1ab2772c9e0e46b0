package redact

import "strings"

// SQL redacts SQL text. Comments count as white space (IDENTIFIED/**/BY),
// and the string literal is replaced that follows:
//
//   - IDENTIFIED [WITH|VIA plugin] BY|USING|AS (CREATE/ALTER USER, GRANT);
//   - PASSWORD( (PASSWORD('x'), OLD_PASSWORD), and PASSWORD 'x' (CREATE
//     SERVER … OPTIONS (PASSWORD 'x'));
//   - SET PASSWORD [FOR user] = 'x';
//   - a name that says it is a credential (by its words, or one of the
//     registry's fields: nova's user_data, …), then = (MASTER_PASSWORD='x',
//     UPDATE … SET user_data = 'x', WHERE secret = 'x');
//   - the value an INSERT or REPLACE with a column list gives a column so
//     named (INSERT INTO instances (…, user_data, …) VALUES (…, 'x', …)).
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
	cols := p.insertSecrets(q)
	if !sqlNames(q) && !p.assignsSecret(q) {
		if r, ok := p.sqlLiterals(q, cols); ok {
			return r
		}
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
		for len(cols) > 0 && cols[0].at < i {
			cols = cols[1:]
		}
		if len(cols) > 0 && cols[0].at == i {
			i = replace(i, cols[0].k)
			cols = cols[1:]
			continue
		}
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
			// a quoted name: `user_data` = 'x'
			name, end := literal(q, i)
			i = end
			if n := skip(q, end); n < len(q) && q[n] == '=' {
				if k := p.column(name); k != none {
					if at := literalAfterWords(q, n+1, 1); at >= 0 {
						i = replace(at, k)
					}
				}
			}
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
		n := skip(q, j)
		switch {
		case strings.EqualFold(word, "identified"):
			at = literalAfterWords(q, j, 4)
		case (n < len(q) && (q[n] == '(' || q[n] == '=' || q[n] == '\'' || q[n] == '"') || setPassword) && p.column(word) != none:
			// (what follows asked first: most names are followed by
			// none of these, and need no look-up)
			k = p.column(word)
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

// sqlLiterals is SQL for the many queries that set no credential but by
// the literals cols gives (an INSERT's values): other string literals can
// hold one only by shape (a fernet token, a JWT, a PEM key, a
// random-looking key; all longer than 24 characters). It finds literals
// by their quotes alone, so a quote in a comment or a quoted name can put
// it out of step with cols: then ok is false, for the full scan.
func (p *Policy) sqlLiterals(q string, cols []sqlMark) (r string, ok bool) {
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
		if len(cols) > 0 && cols[0].at <= at {
			if cols[0].at < at {
				return "", false
			}
			b.WriteString(q[last:at])
			b.WriteByte(q[at])
			b.WriteString(p.replace(cols[0].k, lit))
			if end > at+1 && q[end-1] == q[at] {
				b.WriteByte(q[at])
			}
			last = end
			cols = cols[1:]
		} else if len(lit) >= 24 {
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
	if len(cols) > 0 {
		return "", false
	}
	if last == 0 {
		return q, true
	}
	b.WriteString(q[last:])
	return b.String(), true
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

// column classifies an SQL name: one the words say is a credential
// (PASSWORD, the function and CREATE SERVER's option, among them), or one
// of the registry's fields (the JSON keys whose value is one: nova's
// user_data, barbican's payload, …).
func (p *Policy) column(name string) kind {
	if k := words(name); k != none {
		return k
	}
	// the registry's fields (as Policy.field finds them), by a look-up of
	// the name in lower case rather than a comparison with each, and
	// only for a name of a length and first letter one of them has
	var buf [32]byte
	if len(p.fields) == 0 || len(name) > len(buf) || len(name) == 0 {
		return p.field(name, "") // (none when there is no list)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 0x80 {
			return p.field(name, "") // EqualFold's Unicode cases
		}
		buf[i] = lower(c)
	}
	if p.fieldLens&(1<<len(name)) == 0 || p.fieldFirst&(1<<(buf[0]&63)) == 0 {
		return none
	}
	return p.fields[string(buf[:len(name)])]
}

// assignsSecret reports whether q gives a literal to a credential's
// column with = (UPDATE … SET user_data = 'x', WHERE password = 'x'): the
// name before each = followed by a literal is looked up, so that the many
// queries without one only pay for finding their = signs.
func (p *Policy) assignsSecret(q string) bool {
	for i := 0; i < len(q); i++ {
		e := strings.IndexByte(q[i:], '=')
		if e < 0 {
			return false
		}
		i += e
		if k := skip(q, i+1); k >= len(q) || !(q[k] == '\'' || q[k] == '"' || q[k] == '_' || q[k]|0x20 == 'n') {
			continue // no literal (_utf8mb4'x', N'x') after it: nothing to replace
		}
		j := i
		for j > 0 && isSpace(q[j-1]) {
			j--
		}
		if j > 0 && q[j-1] == '`' { // `user_data` = …
			j--
		}
		ws := j
		for ws > 0 && isWord(q[ws-1]) {
			ws--
		}
		if ws < j && p.column(q[ws:j]) != none {
			return true
		}
	}
	return false
}

// sqlMark is a literal to replace: the offset of its opening quote, and
// what its column says it is.
type sqlMark struct {
	at int
	k  kind
}

// insertSecrets returns the string literals an INSERT or REPLACE with a
// column list gives to columns named as credentials (INSERT INTO
// instances (…, user_data, …) VALUES (…, 'x', …), (…)), in order; nil for
// any other statement, and when no such column is given a literal.
func (p *Policy) insertSecrets(q string) []sqlMark {
	if !hasPrefixWords(q, "insert") && !hasPrefixWords(q, "replace") {
		return nil
	}
	i := skip(q, 0)
	_, i = sqlWord(q, i) // INSERT, REPLACE
	for {
		w, j := sqlWord(q, skip(q, i))
		if !(strings.EqualFold(w, "into") || strings.EqualFold(w, "ignore") || strings.EqualFold(w, "low_priority") ||
			strings.EqualFold(w, "delayed") || strings.EqualFold(w, "high_priority")) {
			break
		}
		i = j
	}
	// the table: db.t, `db`.`t`
	for {
		i = skip(q, i)
		name, j := sqlName(q, i)
		if name == "" {
			return nil
		}
		if i = skip(q, j); i >= len(q) || q[i] != '.' {
			break
		}
		i++
	}
	if w, j := sqlWord(q, i); strings.EqualFold(w, "partition") {
		if i = skip(q, j); i < len(q) && q[i] == '(' {
			for { // (p0, p1)
				if _, i = valueEnd(q, i+1, none, nil); i >= len(q) || q[i] != ',' {
					break
				}
			}
			i++
		}
		i = skip(q, i)
	}
	if i >= len(q) || q[i] != '(' {
		return nil // INSERT … VALUES without names, INSERT … SET (found by =), INSERT … SELECT
	}
	// The column list: services send the same one with every row they
	// add (nova's 52 names for each server), so its reading is remembered.
	// It ends at the first ) unless a quoted name or a comment holds one.
	start := i
	e := strings.IndexByte(q[i:], ')')
	if e < 0 {
		return nil
	}
	names := q[i : i+e+1]
	kinds, ok := p.cols.Lookup(names)
	if !ok {
		if kinds, ok = p.columnKinds(names); !ok {
			for {
				if _, i = valueEnd(q, i+1, none, nil); i >= len(q) || q[i] != ',' {
					break
				}
			}
			if i >= len(q) {
				return nil
			}
			names = q[start : i+1]
			kinds, _ = p.columnKinds(names)
		}
		p.cols.Put(strings.Clone(names), kinds)
	}
	if kinds == nil {
		return nil
	}
	i = start + len(names) - 1
	w, i := sqlWord(q, skip(q, i+1))
	if !strings.EqualFold(w, "values") && !strings.EqualFold(w, "value") {
		return nil
	}
	var marks []sqlMark
	for {
		i = skip(q, i)
		if w, j := sqlWord(q, i); strings.EqualFold(w, "row") { // VALUES ROW(…), ROW(…)
			i = skip(q, j)
		}
		if i >= len(q) || q[i] != '(' {
			return marks
		}
		for col := 0; ; col++ {
			k := none
			if col < len(kinds) {
				k = kinds[col]
			}
			if marks, i = valueEnd(q, i+1, k, marks); i >= len(q) {
				return marks
			}
			if q[i] == ')' {
				break
			}
		}
		if i = skip(q, i+1); i >= len(q) || q[i] != ',' {
			return marks
		}
		i++
	}
}

// columnKinds reads a column list, "(a, `b`, t.c)": what each name says
// its value is, nil when none is a credential; ok is false when list is
// not a list of names (cut at a ")" inside a quoted name or a comment).
func (p *Policy) columnKinds(list string) (kinds []kind, ok bool) {
	secret := false
	for i := 1; ; i++ {
		name, j := sqlName(list, skip(list, i))
		for i = skip(list, j); i < len(list) && list[i] == '.'; i = skip(list, j) { // t.user_data
			name, j = sqlName(list, skip(list, i+1))
		}
		if name == "" {
			return nil, false
		}
		k := p.column(name)
		kinds = append(kinds, k)
		secret = secret || k != none
		if i >= len(list) || list[i] != ',' {
			if i != len(list)-1 {
				return nil, false
			}
			if !secret {
				return nil, true
			}
			return kinds, true
		}
	}
}

// sqlWord returns the bare word at q[i] (none: "") and the offset after
// it.
func sqlWord(q string, i int) (string, int) {
	j := i
	for j < len(q) && isWord(q[j]) {
		j++
	}
	return q[i:j], j
}

// sqlName returns the name at q[i], bare or quoted (`user_data`, and
// "user_data" where a name must be), and the offset after it.
func sqlName(q string, i int) (string, int) {
	if i < len(q) && (q[i] == '`' || q[i] == '"') {
		return literal(q, i)
	}
	return sqlWord(q, i)
}

// valueStop marks the bytes valueEnd looks at.
var valueStop = func() (t [256]bool) {
	for _, c := range "'\"`(),/#-" {
		t[c] = true
	}
	return t
}()

// valueEnd returns the offset of the , or ) that ends the value starting
// at q[i] (literals, comments and parentheses inside it skipped), or
// len(q). When k is not none, every string literal in the value is
// appended to marks: the value of a credential's column may be an
// expression (_utf8mb4'x', FROM_BASE64('x'), CONCAT('x', 'y')).
func valueEnd(q string, i int, k kind, marks []sqlMark) ([]sqlMark, int) {
	depth := 0
	for i < len(q) {
		c := q[i]
		if !valueStop[c] {
			i++
			continue
		}
		switch {
		case c == '\'' || c == '"' || c == '`':
			if k != none && c != '`' {
				marks = append(marks, sqlMark{i, k})
			}
			_, i = literal(q, i)
			continue
		case c == '(':
			depth++
		case c == ')':
			if depth == 0 {
				return marks, i
			}
			depth--
		case c == ',' && depth == 0:
			return marks, i
		case c == '/' || c == '#' || c == '-':
			if n := comment(q, i); n > i {
				i = n
				continue
			}
		}
		i++
	}
	return marks, len(q)
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
