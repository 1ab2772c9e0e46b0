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
		if q[at] != '\'' && q[at] != '"' {
			// 0x2432…, 0b0110…: quoted in its stead
			end := at
			for end < len(q) && isWord(q[end]) {
				end++
			}
			b.WriteString(q[last:at])
			if at > 0 && (q[at-1] == '\'' || q[at-1] == '"') {
				b.WriteByte(' ') // ''0: likewise before it
			}
			b.WriteByte('\'')
			b.WriteString(p.replace(k, q[at:end]))
			b.WriteByte('\'')
			if end < len(q) && (q[end] == '\'' || q[end] == '"') {
				// 0x41'pw9': a quote glued after would double this one's
				// and join the two on a second pass
				b.WriteByte(' ')
			}
			last = end
			return end
		}
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
			if c == '"' {
				// "user_data" = 'x': a name where ANSI_QUOTES is on
				if op, between := sqlOp(q, skip(q, end)); op >= 0 {
					if k := p.column(lit); k != none {
						cols = mergeMarks(cols, operandMarks(q, op, k, between))
						i = end
						continue
					}
				}
			}
			// 'x' = password: the name after the operator
			if k := p.nameAfterOp(q, end); k != none {
				i = replace(i, k)
				continue
			}
			if len(lit) >= 8 {
				if r := p.inString(lit, 0); r != lit {
					b.WriteString(q[last:i])
					b.WriteByte(c)
					b.WriteString(escapeSQL(r, c))
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
			if op, between := sqlOp(q, skip(q, end)); op >= 0 {
				if k := p.column(name); k != none {
					cols = mergeMarks(cols, operandMarks(q, op, k, between))
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
		case n < len(q) && q[n] == ')' && p.column(word) != none:
			// (api_key) = 'x'
			m := n
			for m < len(q) && q[m] == ')' {
				m = skip(q, m+1)
			}
			if op, between := sqlOp(q, m); op >= 0 {
				cols = mergeMarks(cols, operandMarks(q, op, p.column(word), between))
			}
		case (n < len(q) && (q[n] == '(' || q[n] == '\'' || q[n] == '"' || opStart[q[n]]) || setPassword) && p.column(word) != none:
			// (what follows asked first: most names are followed by
			// none of these, and need no look-up)
			k = p.column(word)
			op, between := sqlOp(q, n)
			switch {
			case n < len(q) && q[n] == '(':
				at = literalAfterWords(q, n+1, 0)
			case n < len(q) && (q[n] == '\'' || q[n] == '"'):
				at = n
			case setPassword && strings.EqualFold(word, "password") && !(n < len(q) && q[n] == '='):
				// SET PASSWORD FOR user@host = 'x'
				if e := strings.IndexByte(q[n:], '='); e >= 0 {
					at = literalAfterWords(q, n+e+1, 0)
				}
			case op >= 0:
				// = 'x', LIKE 'x', IN ('x', 'y'), = CONCAT('x', 'y'),
				// = X'…', = 0x…: every literal of the operand (= PASSWORD('x')
				// too, found again by its own word)
				cols = mergeMarks(cols, operandMarks(q, op, k, between))
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
			if r := p.inString(lit, 0); r != lit {
				b.WriteString(q[last:at])
				b.WriteByte(q[at])
				b.WriteString(escapeSQL(r, q[at]))
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
			if n < len(q) && (q[n] == '(' || q[n] == '\'' || q[n] == '"' || opStart[q[n]]) {
				if op, _ := sqlOp(q, n); op >= 0 || q[n] == '(' || q[n] == '\'' || q[n] == '"' {
					return true
				}
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

// assignsSecret reports whether q compares or assigns a credential's
// column (UPDATE … SET user_data = 'x', WHERE password LIKE 'x',
// api_key IN (…)): the name before each operator is looked up (bare,
// `quoted` or "quoted"), so that the many queries without one only pay
// for finding their operators.
func (p *Policy) assignsSecret(q string) bool {
	for i := 0; i < len(q); {
		c := q[i]
		if wordByte[c] {
			j := i + 1
			for j < len(q) && wordByte[q[j]] {
				j++
			}
			if j-i <= 7 && opWord(q[i:j]) {
				name, at := nameBefore(q, i)
				if strings.EqualFold(name, "not") || strings.EqualFold(name, "sounds") {
					name, _ = nameBefore(q, at)
				}
				if name != "" && p.column(name) != none || p.nameAfterOp(q, i) != none {
					return true
				}
			}
			i = j
			continue
		}
		if c == '=' || c == '<' || c == '>' || (c == '!' || c == ':') && i+1 < len(q) && q[i+1] == '=' {
			if name, _ := nameBefore(q, i); name != "" && p.column(name) != none || p.nameAfterOp(q, i) != none {
				return true
			}
			for i++; i < len(q) && (q[i] == '=' || q[i] == '>'); i++ {
			}
			continue
		}
		i++
	}
	return false
}

// wordByte is isWord as a table, for the loops that visit every byte.
var wordByte = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = isWord(byte(c))
	}
	return t
}()

// opWord reports whether w is an operator word a credential's column may
// be compared with: IN, LIKE, RLIKE, REGEXP, BETWEEN (NOT and SOUNDS
// before them are looked past).
func opWord(w string) bool {
	switch len(w) {
	case 2:
		return strings.EqualFold(w, "in")
	case 4:
		return strings.EqualFold(w, "like")
	case 5:
		return strings.EqualFold(w, "rlike")
	case 6:
		return strings.EqualFold(w, "regexp")
	case 7:
		return strings.EqualFold(w, "between")
	}
	return false
}

// nameBefore returns the name that ends before q[i] (white space between),
// bare, `quoted` or "quoted", and where it starts; "" when none does.
func nameBefore(q string, i int) (string, int) {
	j := i
	for {
		for j > 0 && isSpace(q[j-1]) {
			j--
		}
		switch {
		case j > 1 && q[j-1] == '/' && q[j-2] == '*': // api_key /* c */ =
			if o := strings.LastIndex(q[:j-2], "/*"); o >= 0 {
				j = o
				continue
			}
		case j > 0 && q[j-1] == ')': // (api_key) =
			j--
			continue
		}
		break
	}
	if j > 0 && (q[j-1] == '`' || q[j-1] == '"') {
		if o := strings.LastIndexByte(q[:j-1], q[j-1]); o >= 0 {
			return q[o+1 : j-1], o
		}
		return "", j
	}
	ws := j
	for ws > 0 && wordByte[q[ws-1]] {
		ws--
	}
	return q[ws:j], ws
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
	for _, c := range "'\"`(),/#-0123456789" {
		t[c] = true
	}
	return t
}()

// valueEnd returns the offset of the , or ) that ends the value starting
// at q[i] (literals, comments and parentheses inside it skipped), or
// len(q). When k is not none, every string literal (and hex or bit
// number) in the value is appended to marks: the value of a credential's column may be an
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
		case k != none && numberAt(q, i):
			marks = append(marks, sqlMark{i, k}) // 0x2432…, 12345678
			_, i = sqlWord(q, i)
			continue
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

// escapeSQL writes s back into a literal in quote, as literal read it:
// a backslash and the quote escaped (JSON redacted in a literal keeps
// its quotes).
func escapeSQL(s string, quote byte) string {
	if strings.IndexByte(s, quote) < 0 && strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] == quote {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
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

// opStart marks the bytes an operator after a name may start with: the
// comparison and assignment signs, and the first letters of LIKE, IN,
// NOT, REGEXP, RLIKE, BETWEEN and SOUNDS LIKE.
var opStart = func() (t [256]bool) {
	for _, c := range "=<>!:lLiInNrRbBsS" {
		t[c] = true
	}
	return t
}()

// sqlOp returns the offset after the comparison or assignment operator
// at q[i] (=, <>, !=, <=>, <, >=, :=, [NOT] LIKE, [NOT] IN, [NOT]
// REGEXP|RLIKE, SOUNDS LIKE, [NOT] BETWEEN, whose between is set), or -1.
func sqlOp(q string, i int) (end int, between bool) {
	if i >= len(q) {
		return -1, false
	}
	switch c := q[i]; c {
	case '=', '<', '>':
		for end = i + 1; end < len(q) && end < i+3 && (q[end] == '=' || q[end] == '>'); end++ {
		}
		return end, false
	case '!', ':':
		if i+1 < len(q) && q[i+1] == '=' {
			return i + 2, false
		}
		return -1, false
	}
	w, e := sqlWord(q, i)
	switch {
	case strings.EqualFold(w, "not"):
		w, e = sqlWord(q, skip(q, e))
		if strings.EqualFold(w, "sounds") {
			return -1, false
		}
	case strings.EqualFold(w, "sounds"):
		if w, e = sqlWord(q, skip(q, e)); !strings.EqualFold(w, "like") {
			return -1, false
		}
	}
	for _, op := range [...]string{"like", "in", "regexp", "rlike"} {
		if strings.EqualFold(w, op) {
			return e, false
		}
	}
	if strings.EqualFold(w, "between") {
		return e, true
	}
	return -1, false
}

// operandMarks returns the literals of the operand at q[i] (after an
// operator), each to be replaced as k: a string literal with its charset
// introducer or X, B or N prefix, and the literals that follow it (MySQL
// joins adjacent ones); a hex or bit number (0x…, 0b…); a group or list
// ('x', 'y'); a function call (CONCAT('x', 'y'), FROM_BASE64('…')); after
// BINARY. With between, the operand after AND as well.
func operandMarks(q string, i int, k kind, between bool) []sqlMark {
	var marks []sqlMark
	for i = skip(q, i); i < len(q); i = skip(q, i) {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			marks = append(marks, sqlMark{i, k})
			_, i = literal(q, i)
			if n := skip(q, i); n < len(q) && (q[n] == '\'' || q[n] == '"') {
				continue // 'ab' 'cd'
			}
		case c == '(':
			for {
				if marks, i = valueEnd(q, i+1, k, marks); i >= len(q) || q[i] != ',' {
					break
				}
			}
			if i < len(q) {
				i++ // )
			}
		case numberAt(q, i):
			marks = append(marks, sqlMark{i, k}) // 0x2432…, a PIN
			_, i = sqlWord(q, i)
			if n := skip(q, i); n < len(q) && (q[n] == '\'' || q[n] == '"') {
				// 0b"…": replaced by a quoted literal, the number would
				// be joined to it on a second pass (FuzzPolicy)
				continue
			}
		case isWord(c):
			w, e := sqlWord(q, i)
			n := skip(q, e)
			if n < len(q) && (q[n] == '\'' || q[n] == '"' || q[n] == '(') &&
				(w[0] == '_' || len(w) == 1 || strings.EqualFold(w, "binary") || q[n] == '(') {
				i = n // _utf8mb4'x', X'…', N'x', BINARY 'x', CONCAT(…)
				continue
			}
			if strings.EqualFold(w, "binary") {
				i = e
				continue
			}
			if between && strings.EqualFold(w, "and") && len(marks) > 0 {
				between = false
				i = e
				continue
			}
			return marks
		default:
			return marks
		}
		// 'Hunt' || 'er2', 'Hunt' + 'er2': joined, one value
		if n := skip(q, i); strings.HasPrefix(q[n:], "||") {
			i = n + 2
			continue
		} else if n < len(q) && q[n] == '+' {
			i = n + 1
			continue
		}
		if !between {
			return marks
		}
		// BETWEEN 'x' AND 'y': on to AND
		if w, _ := sqlWord(q, skip(q, i)); !strings.EqualFold(w, "and") {
			return marks
		}
	}
	return marks
}

// mergeMarks merges two lists of marks sorted by offset, dropping a mark
// given twice.
func mergeMarks(a, b []sqlMark) []sqlMark {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]sqlMark, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || len(a) > 0 && a[0].at < b[0].at:
			out, a = append(out, a[0]), a[1:]
		case len(a) == 0 || b[0].at < a[0].at:
			out, b = append(out, b[0]), b[1:]
		default:
			out, a, b = append(out, a[0]), a[1:], b[1:]
		}
	}
	return out
}

// numberAt reports whether a number starts at q[i] (not inside a word): a
// decimal one, or a hex or bit one (0x2432…, 0b0110…) with at least one
// digit after its prefix.
func numberAt(q string, i int) bool {
	if i >= len(q) || q[i] < '0' || q[i] > '9' || i > 0 && isWord(q[i-1]) {
		return false
	}
	if q[i] == '0' && i+1 < len(q) && (q[i+1]|0x20 == 'x' || q[i+1]|0x20 == 'b') {
		return i+2 < len(q) && (isHexDigitSQL(q[i+2]) && q[i+1]|0x20 == 'x' || (q[i+2] == '0' || q[i+2] == '1') && q[i+1]|0x20 == 'b')
	}
	return true
}

func isHexDigitSQL(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// nameAfterOp is the kind of the name after the comparison that starts
// at or after q[i] ('x' = password, 'x' <> `api_key`, 'x' LIKE password,
// 'x' IN (password)): none when no operator or no credential's name
// follows.
func (p *Policy) nameAfterOp(q string, i int) kind {
	n := skip(q, i)
	op, _ := sqlOp(q, n) // any: 'x' LIKE password, 'x' NOT REGEXP password
	if op < 0 {
		return none
	}
	m := skip(q, op)
	if m < len(q) && q[m] == '(' { // 'x' IN (password)
		m = skip(q, m+1)
	}
	name, e := sqlName(q, m)
	for e < len(q) && q[e] == '.' { // t.password
		name, e = sqlName(q, e+1)
	}
	if name == "" {
		return none
	}
	return p.column(name)
}
