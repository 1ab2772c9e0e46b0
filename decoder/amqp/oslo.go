package amqp

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Oslo is the envelope of an oslo.messaging message (protocol version
// 2.0): a JSON body {"oslo.version": "2.0", "oslo.message": "<JSON
// string>"} whose inner message is an RPC call or cast (method, args,
// _msg_id and _reply_q for a call, _context_* of the caller) or the reply
// to a call (_msg_id, result or failure, ending). These are facts of the
// oslo.messaging wire format, not of any one service.
//
// Args are summarised (their names and kinds), never kept: they hold whole
// objects and may hold passwords. AuthToken is the caller's keystone token
// ("_context_auth_token"); Redacted replaces it with its fingerprint.
type Oslo struct {
	Version   string `json:"oslo_version"`
	Method    string `json:"method,omitempty"`
	APIVer    string `json:"version,omitempty"` // the RPC API version ("1.17")
	Namespace string `json:"namespace,omitempty"`
	// Args names each argument and its kind: "instance=Instance,
	// host_list=list[1], filter_properties=dict".
	Args     string `json:"args,omitempty"`
	MsgID    string `json:"msg_id,omitempty"`
	ReplyQ   string `json:"reply_q,omitempty"`
	UniqueID string `json:"unique_id,omitempty"`
	Timeout  string `json:"timeout,omitempty"`

	RequestID       string `json:"request_id,omitempty"`
	GlobalRequestID string `json:"global_request_id,omitempty"`
	UserID          string `json:"user_id,omitempty"`
	ProjectID       string `json:"project_id,omitempty"`
	UserName        string `json:"user_name,omitempty"`
	ProjectName     string `json:"project_name,omitempty"`
	AuthToken       string `json:"auth_token,omitempty"`

	// A reply: Result is the kind of the result ("None", "list[2]",
	// "Instance"); a failure is its exception's class and message.
	Reply          bool   `json:"reply,omitempty"`
	Result         string `json:"result,omitempty"`
	FailureClass   string `json:"failure_class,omitempty"`
	FailureModule  string `json:"failure_module,omitempty"`
	FailureMessage string `json:"failure_message,omitempty"`
	Ending         bool   `json:"ending,omitempty"`

	// Error says why the inner message could not be read.
	Error string `json:"error,omitempty"`
}

// Kind is "call" (expects a reply), "cast" (does not), or "reply".
func (o *Oslo) Kind() string {
	switch {
	case o.Reply:
		return "reply"
	case o.MsgID != "":
		return "call"
	}
	return "cast"
}

// maxOsloFailure caps the failure message kept.
const maxOsloFailure = 300

// parseOslo reads the oslo.messaging envelope of a JSON body, or returns
// nil when body is not one. A body cut by MaxBody gives an envelope with
// Error set. The inner message is read where it lies, inside its JSON
// string (see text), and only the values kept are decoded: a body is
// mostly args, which are only summarised.
func parseOslo(body []byte) *Oslo { return parseEnvelope(body, true) }

// looksOslo reports whether body opens like an oslo.messaging envelope.
func looksOslo(body []byte) bool {
	return bytes.Contains(body[:min(len(body), 64)], []byte(`"oslo.`))
}

const errNotString = "oslo.message is not a JSON string"

// parseEnvelope is parseOslo. With inPlace false the inner message's
// string is decoded into a copy first, and the copy is read as plain
// JSON: the straightforward way, which the tests hold the in-place
// reading to.
func parseEnvelope(body []byte, inPlace bool) *Oslo {
	if !looksOslo(body) {
		return nil
	}
	env := text{b: body}
	var version string
	var msg *Oslo // read from the last "oslo.message"
	found, bad := false, false
	end := env.members(0, false, func(k []byte, at int) int {
		switch string(k) {
		case "oslo.version":
			e := env.skipValue(at)
			if e > at {
				version = env.str(at, e)
			}
			return e
		case "oslo.message":
			found = true
			if body[at] != '"' {
				bad = true
				return env.skipValue(at)
			}
			m, e, ok := readString(body, at, inPlace)
			if !ok {
				bad = true // each one must be a string, though only the last counts
			} else {
				msg = m
			}
			return e
		}
		return env.skipValue(at)
	})
	switch {
	case end < 0:
		return &Oslo{Version: version, Error: "oslo.messaging envelope unreadable (body cut?)"}
	case !found:
		return nil
	case bad:
		return &Oslo{Version: version, Error: errNotString}
	}
	msg.Version = version
	return msg
}

// readString reads the inner message from the JSON string at body[at]:
// what it holds, the index past the string (-1: it does not end in body)
// and whether it is a JSON string (all its escapes JSON's).
func readString(body []byte, at int, inPlace bool) (*Oslo, int, bool) {
	o := &Oslo{}
	if !inPlace {
		plain, e := unquoteAt(body, at, nil)
		if e < 0 {
			return o, skipString(body, at), false
		}
		o.readMessage(&text{b: plain})
		return o, e, true
	}
	// The text runs to the end of the body: its first unescaped quote
	// ends it, and with it the string. The message's members are read,
	// then the rest of the string (all of it when they are not an
	// object) is walked to that quote.
	in := text{b: body[at+1:], esc: true}
	end := in.stringEnd(max(o.readMessage(&in), 0))
	if end < 0 {
		return o, -1, false
	}
	return o, at + 1 + end + 1, !in.bad
}

// readMessage reads the members of the inner message into o; it returns
// the index past them (-1: they are not a JSON object).
func (o *Oslo) readMessage(in *text) int {
	var hasResult, hasFailure, hasEnding bool
	var resultAt, resultEnd, failureAt, failureEnd int
	end := in.members(0, false, func(k []byte, at int) int {
		if string(k) == "args" {
			var end int
			o.Args, end = in.summariseArgs(at)
			return end
		}
		end := in.skipValue(at)
		if end < 0 {
			return end
		}
		switch string(k) {
		case "method":
			o.Method = in.str(at, end)
		case "version":
			o.APIVer = in.str(at, end)
		case "namespace":
			o.Namespace = in.str(at, end)
		case "_msg_id":
			o.MsgID = in.str(at, end)
		case "_reply_q":
			o.ReplyQ = in.str(at, end)
		case "_unique_id":
			o.UniqueID = in.str(at, end)
		case "_timeout":
			if v := in.raw(at, end); string(v) != "null" {
				o.Timeout = string(v)
			}
		case "_context_request_id":
			o.RequestID = in.str(at, end)
		case "_context_global_request_id":
			o.GlobalRequestID = in.str(at, end)
		case "_context_user_id":
			o.UserID = in.str(at, end)
		case "_context_user":
			o.UserID = firstNonEmpty(o.UserID, in.str(at, end))
		case "_context_project_id":
			o.ProjectID = in.str(at, end)
		case "_context_tenant":
			o.ProjectID = firstNonEmpty(o.ProjectID, in.str(at, end))
		case "_context_user_name":
			o.UserName = in.str(at, end)
		case "_context_project_name":
			o.ProjectName = in.str(at, end)
		case "_context_auth_token":
			o.AuthToken = in.str(at, end)
		case "result":
			hasResult, resultAt, resultEnd = true, at, end
		case "failure":
			hasFailure, failureAt, failureEnd = true, at, end
		case "ending":
			hasEnding = true
			o.Ending = string(in.raw(at, end)) == "true"
		}
		return end
	})
	if end < 0 {
		o.Error = "oslo.message is not a JSON object"
		return end
	}
	if o.Method == "" && (hasResult || hasFailure || hasEnding) {
		o.Reply = true
		if failure := in.raw(failureAt, failureEnd); hasFailure && string(failure) != "null" {
			o.FailureClass, o.FailureModule, o.FailureMessage = parseFailure(failure)
		} else if hasResult {
			o.Result = in.kindOf(resultAt, resultEnd)
		}
	} else {
		o.Ending = false
	}
	return end
}

// jsonString decodes a JSON string token ("" for anything else).
func jsonString(tok []byte) string {
	if len(tok) < 2 || tok[0] != '"' {
		return ""
	}
	if bytes.IndexByte(tok, '\\') < 0 {
		return validString(tok[1 : len(tok)-1])
	}
	b, ok := unquote(tok)
	if !ok {
		return ""
	}
	return validString(b)
}

// validString is b with each byte that is not part of a UTF-8 sequence
// replaced by U+FFFD, as encoding/json decodes a string.
func validString(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return string(out)
}

// unquoteAt decodes the JSON string at b[at] ('"'), appending to out:
// its bytes and the index past it (-1: not a whole string).
func unquoteAt(b []byte, at int, out []byte) ([]byte, int) {
	if at >= len(b) || b[at] != '"' {
		return nil, -1
	}
	out, end := unescape(b, at+1, out)
	if end < 0 || end >= len(b) {
		return nil, -1
	}
	return out, end + 1
}

// unescape decodes JSON string contents from b[i] in one pass, appending
// to out: their bytes and the index of the quote that ends them (len(b)
// when none does; -1: an escape JSON does not define).
func unescape(b []byte, i int, out []byte) ([]byte, int) {
	if out == nil {
		out = make([]byte, 0, len(b)-i)
	}
	run := i // start of the bytes not copied yet
	for ; i < len(b); i++ {
		if i = quoteOrSlash(b, i); i >= len(b) {
			break
		}
		switch b[i] {
		case '"':
			return append(out, b[run:i]...), i
		case '\\':
			out = append(out, b[run:i]...)
			if i+1 >= len(b) {
				return nil, -1
			}
			i++
			switch c := b[i]; c {
			case '"', '\\', '/':
				out = append(out, c)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(b[i+1:])
				if !ok {
					return nil, -1
				}
				i += 4
				if utf16.IsSurrogate(r) {
					hi := r
					r = utf8.RuneError // alone, as encoding/json has it
					if i+6 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
						if r2, ok := hex4(b[i+3:]); ok {
							if d := utf16.DecodeRune(hi, r2); d != utf8.RuneError {
								r = d
								i += 6
							}
						}
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				return nil, -1
			}
			run = i + 1
		}
	}
	return append(out, b[run:]...), len(b)
}

// unquote decodes a JSON string token (with its quotes) into its bytes.
func unquote(tok []byte) ([]byte, bool) {
	out, end := unquoteAt(tok, 0, nil)
	return out, end == len(tok)
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skipString returns the index past the string token at b[i] ('"'), or -1.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		j = quoteOrSlash(b, j)
		if j >= len(b) {
			break
		}
		if b[j] == '"' {
			return j + 1
		}
		j++ // the escaped byte
	}
	return -1
}

// quoteOrSlash is the index of the first '"' or '\\' in b at or after j, or
// len(b). It tests eight bytes at a time: most of an envelope is string
// contents, and a byte loop over them was most of AMQP's decoding cost.
func quoteOrSlash(b []byte, j int) int {
	const (
		ones   = 0x0101010101010101
		highs  = 0x8080808080808080
		quotes = '"' * ones
		slashs = '\\' * ones
	)
	if j >= len(b) {
		return len(b)
	}
	// (resliced so that each word is read without a bounds check)
	for rest := b[j:]; len(rest) >= 8; rest, j = rest[8:], j+8 {
		w := binary.LittleEndian.Uint64(rest)
		q, s := w^quotes, w^slashs
		// a zero byte of q or s is a quote or a slash; the lowest flag
		// is exact (borrows only reach higher bytes)
		if m := ((q-ones)&^q | (s-ones)&^s) & highs; m != 0 {
			return j + bits.TrailingZeros64(m)/8
		}
	}
	for ; j < len(b); j++ {
		if c := b[j]; c == '"' || c == '\\' {
			return j
		}
	}
	return len(b)
}

// text is JSON text being scanned. Plain text is JSON itself. Escaped
// text is the contents of a JSON string whose value is JSON (the inner
// message of oslo.messaging, every quote of which is written \"): it is
// read where it lies, each escape decoded as the scan meets it, so the
// message is never copied out; str and raw decode the values kept.
// Positions are indices in b, at escape boundaries.
type text struct {
	b   []byte
	esc bool
	bad bool // escaped: an escape JSON does not define was met (sticky)
}

// nonASCII stands for a character beyond ASCII written as an escape: no
// JSON syntax is made of one, as none is of the bytes it decodes to.
const nonASCII = 0x80

// at is the character at b[i] (i < len(b)) and the index past it; 0 and
// -1 for a bad escape and, in escaped text, for the quote that ends the
// string.
func (t *text) at(i int) (byte, int) {
	if c := t.b[i]; !t.special(c) {
		return c, i + 1
	}
	return t.escape(i)
}

// special reports whether c is not a character by itself: in escaped
// text, a backslash begins an escape and a quote ends the text. (The
// loops over every byte outside strings test it themselves before
// calling at: at is too big to be inlined.)
func (t *text) special(c byte) bool {
	return t.esc && (c == '\\' || c == '"')
}

// escape decodes the escape at b[i] ('\\'): the character and the index
// past it; 0 and -1 (and bad set) when JSON defines no such escape, as
// for unescape. (Each half of a surrogate pair is an escape of its own
// here: both stand for characters beyond ASCII.) At the quote that ends
// the text it gives 0 and -1 too, as at does.
func (t *text) escape(i int) (byte, int) {
	b := t.b
	if b[i] == '"' {
		return 0, -1
	}
	if i+1 < len(b) {
		switch c := b[i+1]; c {
		case '"', '\\', '/':
			return c, i + 2
		case 'b':
			return '\b', i + 2
		case 'f':
			return '\f', i + 2
		case 'n':
			return '\n', i + 2
		case 'r':
			return '\r', i + 2
		case 't':
			return '\t', i + 2
		case 'u':
			r, ok := hex4(b[i+2:])
			if !ok {
				break
			}
			if r < utf8.RuneSelf {
				return byte(r), i + 6
			}
			return nonASCII, i + 6
		}
	}
	t.bad = true
	return 0, -1
}

// stringEnd is the index of the quote that ends the escaped text's
// string, from b[i] at an escape boundary on, or -1 when none does. A bad
// escape (bad is set) is passed over as a plain string scan would.
func (t *text) stringEnd(i int) int {
	for {
		if i = quoteOrSlash(t.b, i); i >= len(t.b) {
			return -1
		}
		if t.b[i] == '"' {
			return i
		}
		n := i + 2
		if _, e := t.escape(i); e > 0 {
			n = e
		}
		i = n
	}
}

// ends reports whether the text ends at b[i]: escaped text ends at the
// quote that ends its string.
func (t *text) ends(i int) bool {
	return i >= len(t.b) || t.esc && t.b[i] == '"'
}

// skipWS returns the index of the first character at or after b[i] that
// is no JSON space.
func (t *text) skipWS(i int) int {
	for i < len(t.b) {
		c, n := t.b[i], i+1
		if t.special(c) {
			c, n = t.escape(i)
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			i = n
		default:
			return i
		}
	}
	return i
}

// skipString returns the index past the string at b[i] (its opening
// quote), or -1 when it does not end in b.
func (t *text) skipString(i int) int {
	if !t.esc {
		return skipString(t.b, i)
	}
	if t.escQuote(i) {
		return t.stringRest(i + 2)
	}
	_, j := t.at(i) // \u0022
	return t.stringRest(j)
}

// stringRest returns the index past the escaped string whose contents
// begin at b[j], or -1 when it does not end in b.
func (t *text) stringRest(j int) int {
	for {
		// the contents of a string are mostly not escaped even here: its
		// end is the next escape that decodes to a quote
		k := quoteOrSlash(t.b, j)
		if k >= len(t.b) || t.b[k] == '"' {
			return -1 // the text ends first
		}
		c, n := byte(0), k+2
		if k+1 < len(t.b) {
			c = t.b[k+1]
		}
		if c != '"' && c != '\\' {
			c, n = t.escape(k) // (\" and \\ stand for themselves)
		}
		switch {
		case n < 0:
			return -1
		case c == '"':
			return n
		case c == '\\':
			// an escape of the string itself: the character it escapes
			// does not end it
			if n >= len(t.b) {
				return -1
			}
			if _, n = t.at(n); n < 0 {
				return -1
			}
		}
		j = n
	}
}

// escQuote reports whether b[i] is escaped text's \" (the way it writes
// a quote, but for \u0022).
func (t *text) escQuote(i int) bool {
	return t.esc && i+1 < len(t.b) && t.b[i] == '\\' && t.b[i+1] == '"'
}

// structural marks the bytes the scan of an object or array stops at:
// most bytes between its strings are none of them.
var structural = [256]bool{'{': true, '}': true, '[': true, ']': true, '"': true, '\\': true}

// skipValue returns the index past the JSON value at b[i], or -1 when it
// does not end in b.
func (t *text) skipValue(i int) int {
	if i >= len(t.b) {
		return -1
	}
	switch c, _ := t.at(i); c {
	case '"':
		return t.skipString(i)
	case '{', '[':
		b := t.b // (a local: the loop below is over most bytes of a message)
		depth := 0
		for {
			for i < len(b) && !structural[b[i]] {
				i++
			}
			if i >= len(b) {
				return -1
			}
			if t.escQuote(i) {
				// a string, as most escapes in a container are
				if i = t.stringRest(i + 2); i < 0 {
					return -1
				}
				continue
			}
			c, n := t.b[i], i+1
			if t.special(c) {
				c, n = t.escape(i)
			}
			switch c {
			case '"':
				n = t.skipString(i)
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return n
				}
			}
			if n < 0 {
				return -1
			}
			i = n
		}
	}
	j := i
	for j < len(t.b) {
		c, n := t.b[j], j+1
		if t.special(c) {
			c, n = t.escape(j)
		}
		if n < 0 || c == ',' || c == '}' || c == ']' || c == ' ' || c == '\n' || c == '\t' || c == '\r' {
			break
		}
		j = n
	}
	if j == i {
		return -1
	}
	return j
}

// members walks the JSON object at b[at]: fn gets each key and the index
// of its value and returns the index past the value (-1: malformed). It
// returns the index past the object, or -1 when the object is not
// well-formed as far as it read. A comma before the closing brace is let
// pass only when not strict (the envelope and the inner message are read
// so; the objects in args are not).
func (t *text) members(at int, strict bool, fn func(key []byte, at int) int) int {
	i := t.skipWS(at)
	if i >= len(t.b) {
		return -1
	}
	c, i := t.at(i)
	if c != '{' {
		return -1
	}
	for first := true; ; first = false {
		if i = t.skipWS(i); i >= len(t.b) {
			return -1
		}
		c, n := t.at(i)
		if c == '}' && (first || !strict) {
			return n
		}
		if c != '"' {
			return -1
		}
		j := t.skipString(i)
		if j < 0 {
			return -1
		}
		key := t.key(i, j)
		if i = t.skipWS(j); i >= len(t.b) {
			return -1
		}
		if c, n = t.at(i); c != ':' {
			return -1
		}
		if i = t.skipWS(n); t.ends(i) {
			return -1
		}
		k := fn(key, i)
		if k < 0 {
			return -1
		}
		if i = t.skipWS(k); i >= len(t.b) {
			return -1
		}
		switch c, n = t.at(i); c {
		case ',':
			i = n
		case '}':
			return n
		default:
			return -1
		}
	}
}

// key is the name the string b[i:j] stands for.
func (t *text) key(i, j int) []byte {
	if t.esc {
		if k, ok := t.plainContents(i, j); ok {
			return k
		}
	}
	tok := t.raw(i, j)
	key := tok[1 : len(tok)-1]
	if bytes.IndexByte(key, '\\') >= 0 {
		key, _ = unquote(tok)
	}
	return key
}

// plainContents is the contents of the escaped string b[i:j] when it is
// written \"…\" with no other escape (the common case: it stands for
// itself).
func (t *text) plainContents(i, j int) ([]byte, bool) {
	tok := t.b[i:j]
	n := len(tok)
	if n < 4 || tok[0] != '\\' || tok[1] != '"' || tok[n-2] != '\\' || tok[n-1] != '"' {
		return nil, false
	}
	in := tok[2 : n-2]
	return in, bytes.IndexByte(in, '\\') < 0
}

// raw is the JSON text of the value b[i:j]: decoded when escaped.
func (t *text) raw(i, j int) []byte {
	tok := t.b[i:j]
	if !t.esc || bytes.IndexByte(tok, '\\') < 0 {
		return tok
	}
	out, _ := unescape(tok, 0, nil)
	return out
}

// str decodes the string b[i:j] ("" for another value).
func (t *text) str(i, j int) string {
	if t.esc {
		if s, ok := t.plainContents(i, j); ok {
			return validString(s)
		}
	}
	return jsonString(t.raw(i, j))
}

// summariseArgs names the arguments of the object at b[at] and their
// kinds, sorted by name, reading it once; it returns the index past it.
func (t *text) summariseArgs(at int) (string, int) {
	if c, _ := t.at(at); c != '{' {
		return t.kindAt(at)
	}
	// "key=kind" for each argument, in the order of those strings, built
	// once (a string per argument, then their join, was a tenth of
	// reading an envelope)
	var parts []argKind
	size := 0
	end := t.members(at, true, func(k []byte, i int) int {
		kind, e := t.kindAt(i)
		parts = append(parts, argKind{k, kind})
		size += len(k) + 1 + len(kind) + 2
		return e
	})
	if end < 0 {
		return "", -1
	}
	slices.SortFunc(parts, cmpArgKind)
	var b strings.Builder
	b.Grow(size)
	for i, p := range parts {
		if i > 0 {
			b.WriteString(", ")
		}
		b.Write(p.key)
		b.WriteByte('=')
		b.WriteString(p.kind)
	}
	return b.String(), end
}

// argKind is an argument's key (in the text) and the kind of its value.
type argKind struct {
	key  []byte
	kind string
}

// at is byte i of the argument's "key=kind".
func (a argKind) at(i int) byte {
	switch {
	case i < len(a.key):
		return a.key[i]
	case i == len(a.key):
		return '='
	}
	return a.kind[i-len(a.key)-1]
}

// cmpArgKind orders arguments as their "key=kind" strings sort.
func cmpArgKind(a, b argKind) int {
	na, nb := len(a.key)+1+len(a.kind), len(b.key)+1+len(b.kind)
	for i := 0; i < na && i < nb; i++ {
		if x, y := a.at(i), b.at(i); x != y {
			return int(x) - int(y)
		}
	}
	return na - nb
}

// kindOf names the kind of the value b[i:j] without its content: "None"
// (JSON null, as Python prints it), "str", "num", "bool", "list[3]",
// "dict", or a versioned object's name ({"<ns>_object.name": "Instance",
// ...}).
func (t *text) kindOf(i, j int) string {
	if c, _ := t.at(i); c >= utf8.RuneSelf {
		// a value may begin with a space beyond ASCII, which is no JSON
		// space: the kind is the rest's
		raw := bytes.TrimSpace(t.raw(i, j))
		if len(raw) == 0 {
			return ""
		}
		k, _ := (&text{b: raw}).kindAt(0)
		return k
	}
	k, _ := (&text{b: t.b[:j], esc: t.esc}).kindAt(i)
	return k
}

// objectName ends the key of a versioned object's name
// ("nova_object.name").
var objectName = []byte("_object.name")

// kindAt is the kind of the value at b[at] and the index past it, read
// once.
func (t *text) kindAt(at int) (string, int) {
	switch c, next := t.at(at); c {
	case 'n':
		return "None", t.skipValue(at)
	case 't', 'f':
		return "bool", t.skipValue(at)
	case '"':
		return "str", t.skipString(at)
	case '[':
		i := t.skipWS(next)
		if i < len(t.b) {
			if c, n := t.at(i); c == ']' {
				return "list[0]", n
			}
		}
		n := 0
		for {
			k := t.skipValue(t.skipWS(i))
			if k < 0 {
				return "list", -1
			}
			n++
			if i = t.skipWS(k); i >= len(t.b) {
				return "list", -1
			}
			switch c, next := t.at(i); c {
			case ',':
				i = next
			case ']':
				return "list[" + strconv.Itoa(n) + "]", next
			default:
				return "list", -1
			}
		}
	case '{':
		name := ""
		end := t.members(at, true, func(k []byte, i int) int {
			e := t.skipValue(i)
			if e > 0 && name == "" && bytes.HasSuffix(k, objectName) {
				name = t.str(i, e)
			}
			return e
		})
		if name != "" {
			return name, end
		}
		return "dict", end
	}
	return "num", t.skipValue(at)
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// parseFailure reads a serialized exception: a JSON string (or object)
// with class, module and message.
func parseFailure(raw json.RawMessage) (class, module, msg string) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	var f struct {
		Class   string `json:"class"`
		Module  string `json:"module"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &f) != nil {
		return "unreadable failure", "", ""
	}
	m := strings.Join(strings.Fields(f.Message), " ")
	if r := []rune(m); len(r) > maxOsloFailure {
		m = string(r[:maxOsloFailure-1]) + "…"
	}
	return f.Class, f.Module, m
}
