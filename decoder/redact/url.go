package redact

import (
	"net/url"
	"strings"
)

// Target redacts a request target or URL: the password of its userinfo
// (http://user:pass@host/), path segments that follow a token name
// (/v2.0/tokens/<token>) or are shaped like a credential, and query
// parameters named as credentials (?token=, ?password=, X-Amz-Signature,
// temp_url_sig) or shaped like one. The rest is kept as sent; s itself is
// returned when nothing changed.
func (p *Policy) Target(s string) string {
	if p.Shows() || len(s) < 8 {
		return s
	}
	var b strings.Builder
	last := 0
	edit := func(from, to int, repl string) {
		if b.Len() == 0 && last == 0 {
			b.Grow(len(s) + 16)
		}
		b.WriteString(s[last:from])
		b.WriteString(repl)
		last = to
	}
	path, query := 0, len(s)
	if q := strings.IndexByte(s, '?'); q >= 0 {
		query = q
	}
	// userinfo of an absolute URL
	if i := strings.Index(s[:query], "://"); i >= 0 {
		auth := i + 3
		end := auth
		for end < query && s[end] != '/' {
			end++
		}
		path = end
		if at := strings.LastIndexByte(s[auth:end], '@'); at >= 0 {
			ui := s[auth : auth+at]
			// (a userinfo replaced whole, a random user name without a
			// password, stays: its ':' is the replacement's; FuzzPolicy)
			if u, pw, ok := strings.Cut(ui, ":"); ok && !isMark(ui) {
				edit(auth+len(u)+1, auth+at, p.Secret(unescape(pw)))
			} else if r := p.Value(unescape(ui)); r != unescape(ui) {
				edit(auth, auth+at, r)
			}
		}
	}
	// path segments
	prev := ""
	for i := path; i < query; {
		for i < query && s[i] == '/' {
			i++
		}
		j := i
		for j < query && s[j] != '/' {
			j++
		}
		if j == i {
			break
		}
		seg := s[i:j]
		switch {
		case (hasSuffixFold(prev, "tokens") || words(prev) == token) && len(seg) >= 16:
			// /v2.0/tokens/<t>, nova's /os-console-auth-tokens/<t>
			edit(i, j, p.Token(unescape(seg)))
		case len(seg) >= 32:
			if r := p.Value(unescape(seg)); r != unescape(seg) {
				edit(i, j, r)
			}
		}
		prev, i = seg, j
	}
	if query < len(s) {
		p.pairs(s, query+1, len(s), edit)
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// Form redacts an application/x-www-form-urlencoded body (or any
// key=value&… text) like the query of a target.
func (p *Policy) Form(s string) string {
	if p.Shows() {
		return s
	}
	var b strings.Builder
	last := 0
	p.pairs(s, 0, len(s), func(from, to int, repl string) {
		b.WriteString(s[last:from])
		b.WriteString(repl)
		last = to
	})
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// pairs calls edit for each value of s[from:to] (name=value pairs joined by
// & or ;) that must be replaced, in order.
func (p *Policy) pairs(s string, from, to int, edit func(from, to int, repl string)) {
	for i := from; i < to; {
		j := i
		for j < to && s[j] != '&' && s[j] != ';' && s[j] != '#' {
			j++
		}
		pair := s[i:j]
		if k, v, ok := strings.Cut(pair, "="); ok {
			if v != "" {
				val := unescape(v)
				if kd := p.field(unescape(k), ""); kd != none {
					edit(i+len(k)+1, j, p.replace(kd, val))
				} else if r := p.value(val); r != val {
					edit(i+len(k)+1, j, pairEscape(r))
				}
			}
		} else if len(pair) >= 32 {
			if r := p.Value(unescape(pair)); r != unescape(pair) {
				edit(i, j, r)
			}
		}
		i = j + 1
	}
}

// pairEscape writes a redacted value back into a query or form, escaping
// only what the pairs would read otherwise (%, +, a space, and & ; # that
// end a pair): the rest stays byte for byte, so that a body read as JSON
// too keeps its quotes and reads the same the next time (FuzzPolicy).
func pairEscape(r string) string {
	if !strings.ContainsAny(r, "%+ &;#") {
		return r
	}
	var b strings.Builder
	for i := 0; i < len(r); i++ {
		switch c := r[i]; c {
		case ' ':
			b.WriteByte('+')
		case '%', '+', '&', ';', '#':
			b.WriteString(url.QueryEscape(string(c)))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// value redacts the value of a pair: by its shape (Value), and as a URL
// or query inside it (noVNC's ?path=%3Ftoken%3D<t>), also when a shape
// was replaced in it: were its pairs read only when nothing was, a second
// pass would read them (FuzzPolicy).
func (p *Policy) value(v string) string {
	r := p.Value(v)
	if strings.IndexByte(r, '=') >= 0 {
		r = p.Target(r)
	}
	return r
}

// unescape decodes %XX and + (as a query does); s when it is not valid.
func unescape(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// Note redacts free text that may quote what was on the wire (a decoder's
// note on a malformed line): shaped credentials anywhere, and in each
// space-separated word, URL credentials and name=value pairs as in a form
// (/x?password=… is the pair "/x?password" = …, named by its last word).
func (p *Policy) Note(s string) string {
	if p.Shows() || len(s) < 8 {
		return s
	}
	s = p.Text(s)
	if strings.IndexByte(s, '=') < 0 && !strings.Contains(s, "://") {
		return s
	}
	fields := strings.Split(s, " ")
	changed := false
	for i, f := range fields {
		r := f
		if strings.Contains(r, "://") {
			r = p.Target(r)
		}
		if strings.IndexByte(r, '=') >= 0 {
			r = p.Form(r)
		}
		if r != f {
			fields[i], changed = r, true
		}
	}
	if !changed {
		return s
	}
	return strings.Join(fields, " ")
}

// Message redacts what a server says about a request it refused (an
// error answer's message), which may quote what it refused: as Note, and
// the text after the first name of a credential is cut, so that "Invalid
// input for field/attribute adminPass. Value: …" keeps the field and never
// its value. A plain lower-case word ("does not pass filtering", "the
// password does not meet the requirements") is prose, not a field, unless
// a value follows it (password: …, password=…, password. Value: …).
func (p *Policy) Message(s string) string {
	if p.Shows() {
		return s
	}
	p = p.or()
	s = p.Note(s)
	for i := 0; i < len(s); {
		if !isWord(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isWord(s[j]) {
			j++
		}
		if w := s[i:j]; p.column(w) != none && (!prose(w) || valueAfter(s[j:])) {
			if rest := strings.TrimSpace(s[j:]); rest == "" || rest == "…" {
				return s
			}
			return s[:j] + " …"
		}
		i = j
	}
	return s
}

// prose reports whether w is a plain word: lower case, or capitalised
// at the start of a sentence ("Token has expired.").
func prose(w string) bool {
	for i := 0; i < len(w); i++ {
		if !isLower(w[i]) && !(i == 0 && isUpper(w[i])) {
			return false
		}
	}
	return true
}

// valueAfter reports whether what follows a name gives it a value: a
// colon or an equals sign (after a closing quote), or the word Value.
func valueAfter(s string) bool {
	s = strings.TrimLeft(s, "'\"`")
	if s != "" && (s[0] == ':' || s[0] == '=') {
		return true
	}
	s = strings.TrimLeft(s, ". ,;")
	return len(s) >= 5 && strings.EqualFold(s[:5], "value")
}
