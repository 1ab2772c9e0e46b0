package redact

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Body redacts an HTTP (or cache) body: as JSON when it holds JSON,
// whatever its Content-Type says (curl -d sends JSON as a form); as
// key=value pairs (forms) when it does not start like JSON; and always for
// shaped credentials in the text left, so that a body cut or garbled where
// the scanners lose their way still loses its tokens.
func (p *Policy) Body(body, contentType string) string {
	if p.Shows() || body == "" {
		return body
	}
	// Only whether the type names JSON matters (forms below).
	jsonType := strings.Contains(strings.ToLower(contentType), "json")
	if p == nil || len(body) > maxBodyCached {
		return p.body(body, jsonType)
	}
	return p.bodies.get(body, jsonType, p.body)
}

func (p *Policy) body(body string, jsonType bool) string {
	r := body
	t := strings.TrimLeft(body, " \t\r\n")
	jsonStart := t != "" && (t[0] == '{' || t[0] == '[')
	if jsonStart || strings.IndexByte(body, '"') >= 0 && colonOutsideMarks(body) {
		r = p.JSON(r)
	}
	form := !jsonStart && strings.IndexByte(r, '=') >= 0 && !jsonType
	if form {
		r = p.Form(r)
	}
	out := p.Text(r)
	if form && out != r {
		// as in Value: pairs a token's '=' hid are read once more
		out = p.Form(out)
	}
	return out
}

// colonOutsideMarks reports whether s has a ':' that is not a
// replacement's (hmac:…, sha256:…): a text not read as JSON must not be
// on a second pass because of the ':' the first one put in (FuzzPolicy).
func colonOutsideMarks(s string) bool {
	for i := 0; ; i++ {
		k := strings.IndexByte(s[i:], ':')
		if k < 0 {
			return false
		}
		i += k
		end := min(i+9, len(s))
		if !(i >= 4 && isMark(s[i-4:end]) || i >= 6 && isMark(s[i-6:end])) {
			return true
		}
	}
}

type jsonEdit struct {
	start, end int
	repl       string
}

// jsonScope is one open object or array and the key it is the value of.
type jsonScope struct {
	name  string
	array bool
}

// maxJSONDepth bounds nesting (of objects, and of JSON inside strings).
const maxJSONDepth = 1000

// JSON redacts a JSON text. It is a tolerant scanner rather than a parser,
// so that a body cut by MaxBody or a gap is still redacted: it walks string
// literals, tells keys (followed by ':') from values and tracks under which
// key each object and array sits. A value under a credential name (the
// registry's, words) is replaced, strings or not; any other string is
// checked by shape (Value), and one that holds JSON itself (the EC2
// credential's "blob") is redacted in turn. Everything else stays byte for
// byte.
func (p *Policy) JSON(body string) string {
	return p.json(body, 0)
}

func (p *Policy) json(body string, depth int) string {
	if p.Shows() || !strings.Contains(body, `"`) && !strings.Contains(body, ":") {
		return body
	}
	var (
		edits   []jsonEdit
		stack   []jsonScope
		pending string // last key read, waiting for its value
		hasKey  bool
		// what pending names, once asked
		pendingKind kind
		kindKnown   bool
	)
	parent := func() jsonScope {
		if len(stack) == 0 {
			return jsonScope{}
		}
		return stack[len(stack)-1]
	}
	grand := func() string {
		if len(stack) < 2 {
			return ""
		}
		return stack[len(stack)-2].name
	}
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == '"':
			end := scanString(body, i)
			j := end
			for j < len(body) && isJSONSpace(body[j]) {
				j++
			}
			// a key, unless a key waits for its value: then, followed by
			// ':' or not, it is that value ({"password":"s3cret":1} is
			// not JSON, and its password is still one)
			if j < len(body) && body[j] == ':' && !hasKey {
				lit := body[i:end]
				pending, hasKey, kindKnown = unquote(lit), true, false
				if r := p.Text(pending); r != pending {
					edits = append(edits, jsonEdit{i, end, quote(r)})
				}
				i = j + 1
				continue
			}
			raw := body[i:end]
			val := unquote(raw)
			k := none
			if hasKey {
				k = p.field(pending, parent().name)
			} else if sc := parent(); sc.array {
				k = p.field(sc.name, grand())
			}
			var r string
			if k != none {
				r = p.replace(k, val)
			} else {
				// checked as it would be read once written back (quote
				// makes each byte that is not UTF-8 a U+FFFD: a value
				// longer by 2 bytes for each may pass a length a shape
				// needs; FuzzPolicy)
				val = validUTF8(val)
				r = p.inString(val, depth)
			}
			if r != val {
				edits = append(edits, jsonEdit{i, end, quote(r)})
			}
			hasKey = false
			i = end
			continue
		case c == '{' || c == '[':
			name := ""
			if hasKey {
				name = pending
			} else if sc := parent(); sc.array {
				name = sc.name
			}
			if len(stack) < maxJSONDepth {
				stack = append(stack, jsonScope{name: name, array: c == '['})
			}
			hasKey = false
		case c == '}' || c == ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			hasKey = false
		case c == ',':
			hasKey = false
		case hasKey && !isJSONSpace(c):
			if !kindKnown { // once, not for each byte of junk
				pendingKind, kindKnown = p.field(pending, parent().name), true
			}
			k := pendingKind
			if k == none {
				if c == '-' || '0' <= c && c <= '9' || isLower(c) {
					// a number (or a bare word) as the value: skipped
					j := i
					for j < len(body) && !isJSONSpace(body[j]) && body[j] != ',' && body[j] != '}' && body[j] != ']' {
						j++
					}
					hasKey = false
					i = j
					continue
				}
				break // not JSON: the value may still come
			}
			// A credential's value that is not a string, an object or an
			// array: a number, a bare word, or what is not JSON, all of it
			// to the next ',', '}' or ']' outside strings and brackets.
			// Not JSON, it is replaced from its first byte: were the value
			// looked for further on, a pass over the text left (Form's)
			// could put a replacement in between, and the next pass would
			// take that for the value (FuzzPolicy).
			j := bareEnd(body, i)
			for j > i && isJSONSpace(body[j-1]) {
				j--
			}
			lit := body[i:j]
			// (a replacement already there stays as it is: quoting it
			// would make the next pass take it for a value)
			if lit != "null" && lit != "true" && lit != "false" && !isMark(lit) {
				edits = append(edits, jsonEdit{i, j, quote(p.replace(k, lit))})
			}
			hasKey = false
			i = j
			continue
		}
		i++
	}
	if len(edits) == 0 {
		return body
	}
	var b strings.Builder
	b.Grow(len(body))
	last := 0
	for _, e := range edits {
		b.WriteString(body[last:e.start])
		b.WriteString(e.repl)
		last = e.end
	}
	b.WriteString(body[last:])
	return b.String()
}

// inString redacts a string value: JSON held in it (the EC2 credential's
// "blob", a DB column of JSON such as nova's connection_info) by its
// fields, in turn, up to maxJSONDepth; any other by its shape (Value).
func (p *Policy) inString(val string, depth int) string {
	if depth < maxJSONDepth && looksJSON(val) {
		if r := p.json(val, depth+1); r != val {
			return p.Text(r)
		}
	}
	return p.Value(val)
}

// looksJSON reports whether a string value holds a JSON object or array.
func looksJSON(s string) bool {
	i := 0
	for i < len(s) && isJSONSpace(s[i]) {
		i++
	}
	return len(s)-i > 1 && (s[i] == '{' || s[i] == '[') && strings.IndexByte(s[i:], '"') > 0
}

// bareEnd returns the index of the first ',', '}' or ']' from body[i] on
// that is outside string literals and the brackets opened after i, or
// len(body).
func bareEnd(body string, i int) int {
	depth := 0
	for j := i; j < len(body); j++ {
		switch body[j] {
		case '"':
			j = scanString(body, j) - 1
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return j
			}
			depth--
		case ',':
			if depth == 0 {
				return j
			}
		}
	}
	return len(body)
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// scanString returns the index just past the string literal starting at
// body[i] == '"', or len(body) when it is not terminated.
func scanString(body string, i int) int {
	for j := i + 1; j < len(body); j++ {
		switch body[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(body)
}

// unquote decodes a string literal (quotes included); an unterminated or
// invalid one is returned without its quotes, undecoded. A literal without
// escapes is sliced, not copied.
func unquote(lit string) string {
	if len(lit) >= 2 && lit[len(lit)-1] == '"' && strings.IndexByte(lit, '\\') < 0 {
		return lit[1 : len(lit)-1]
	}
	var s string
	if err := json.Unmarshal([]byte(lit), &s); err == nil {
		return s
	}
	lit = strings.TrimPrefix(lit, `"`)
	return strings.TrimSuffix(lit, `"`)
}

// validUTF8 is s with each byte that is not UTF-8 replaced by U+FFFD, as
// quote (encoding/json) writes it.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// quote writes s as a JSON string literal.
func quote(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}
