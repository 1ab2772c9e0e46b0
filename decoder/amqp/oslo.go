package amqp

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"sort"
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
// Error set. It walks the JSON with a scanner that only decodes the
// values it keeps (a body is mostly args, which are only summarised).
func parseOslo(body []byte) *Oslo { return parseOsloBuf(body, nil) }

// looksOslo reports whether body opens like an oslo.messaging envelope.
func looksOslo(body []byte) bool {
	return bytes.Contains(body[:min(len(body), 64)], []byte(`"oslo.`))
}

// parseOsloBuf is parseOslo with a scratch buffer for the inner message
// (kept for the next call; the envelope holds no reference to it).
func parseOsloBuf(body []byte, scratch *[]byte) *Oslo {
	if !looksOslo(body) {
		return nil
	}
	o := &Oslo{}
	var in []byte
	found, bad := false, false
	ok := membersScan(body, func(k []byte, b []byte, at int) int {
		switch string(k) {
		case "oslo.version":
			end := skipValue(b, at)
			if end > at {
				o.Version = jsonString(b[at:end])
			}
			return end
		case "oslo.message":
			found = true
			var buf []byte
			if scratch != nil {
				buf = (*scratch)[:0]
			}
			s, end := unquoteAt(b, at, buf)
			if scratch != nil && cap(s) <= 1<<20 {
				*scratch = s
			}
			if end < 0 {
				bad = true
				return skipValue(b, at)
			}
			in = s
			return end
		}
		return skipValue(b, at)
	})
	switch {
	case !ok:
		o.Error = "oslo.messaging envelope unreadable (body cut?)"
		return o
	case !found:
		return nil
	case bad:
		o.Error = "oslo.message is not a JSON string"
		return o
	}
	var hasResult, hasFailure, hasEnding bool
	var result, failure []byte
	ok = membersScan(in, func(k []byte, b []byte, at int) int {
		if string(k) == "args" {
			var end int
			o.Args, end = summariseArgsAt(b, at)
			return end
		}
		end := skipValue(b, at)
		if end < 0 {
			return end
		}
		v := b[at:end]
		switch string(k) {
		case "method":
			o.Method = jsonString(v)
		case "version":
			o.APIVer = jsonString(v)
		case "namespace":
			o.Namespace = jsonString(v)
		case "_msg_id":
			o.MsgID = jsonString(v)
		case "_reply_q":
			o.ReplyQ = jsonString(v)
		case "_unique_id":
			o.UniqueID = jsonString(v)
		case "_timeout":
			if string(v) != "null" {
				o.Timeout = string(v)
			}
		case "_context_request_id":
			o.RequestID = jsonString(v)
		case "_context_global_request_id":
			o.GlobalRequestID = jsonString(v)
		case "_context_user_id":
			o.UserID = jsonString(v)
		case "_context_user":
			o.UserID = firstNonEmpty(o.UserID, jsonString(v))
		case "_context_project_id":
			o.ProjectID = jsonString(v)
		case "_context_tenant":
			o.ProjectID = firstNonEmpty(o.ProjectID, jsonString(v))
		case "_context_user_name":
			o.UserName = jsonString(v)
		case "_context_project_name":
			o.ProjectName = jsonString(v)
		case "_context_auth_token":
			o.AuthToken = jsonString(v)
		case "result":
			hasResult, result = true, v
		case "failure":
			hasFailure, failure = true, v
		case "ending":
			hasEnding = true
			o.Ending = string(v) == "true"
		}
		return end
	})
	if !ok {
		o.Error = "oslo.message is not a JSON object"
		return o
	}
	if o.Method == "" && (hasResult || hasFailure || hasEnding) {
		o.Reply = true
		if len(failure) > 0 && string(failure) != "null" {
			o.FailureClass, o.FailureModule, o.FailureMessage = parseFailure(failure)
		} else if hasResult {
			o.Result = kindOf(result)
		}
	} else {
		o.Ending = false
	}
	return o
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

// unquoteAt decodes the JSON string at b[at] ('"') in one pass, appending
// to out: its bytes and the index past it (-1: not a whole string). (oslo.messaging
// bodies escape every quote of the inner message: escapes are a few bytes
// apart, so a plain loop beats searching for them.)
func unquoteAt(b []byte, at int, out []byte) ([]byte, int) {
	if at >= len(b) || b[at] != '"' {
		return nil, -1
	}
	if out == nil {
		out = make([]byte, 0, len(b)-at)
	}
	run := at + 1 // start of the bytes not copied yet
	for i := at + 1; i < len(b); i++ {
		if i = quoteOrSlash(b, i); i >= len(b) {
			break
		}
		switch b[i] {
		case '"':
			return append(out, b[run:i]...), i + 1
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
					r = utf8.RuneError
					if i+6 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
						if r2, ok := hex4(b[i+3:]); ok {
							if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
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
	return nil, -1
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

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
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
	for ; j+8 <= len(b); j += 8 {
		w := binary.LittleEndian.Uint64(b[j:])
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

// skipValue returns the index past the JSON value starting at b[i], or
// -1 when it does not end in b.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				j := skipString(b, i)
				if j < 0 {
					return -1
				}
				i = j - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// membersScan walks the JSON object at the start of b: fn gets each key
// and the index of its value in b and returns the index past the value
// (-1: malformed; past len(b): stop). It reports whether b is a
// well-formed object as far as it read.
func membersScan(b []byte, fn func(key []byte, b []byte, at int) int) bool {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i++
	for {
		i = skipWS(b, i)
		if i < len(b) && b[i] == '}' {
			return true
		}
		if i >= len(b) || b[i] != '"' {
			return false
		}
		j := skipString(b, i)
		if j < 0 {
			return false
		}
		key := b[i+1 : j-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			key, _ = unquote(b[i:j])
		}
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return false
		}
		k := fn(key, b, i)
		if k < 0 {
			return false
		}
		if k > len(b) {
			return true
		}
		i = skipWS(b, k)
		switch {
		case i < len(b) && b[i] == ',':
			i++
		case i < len(b) && b[i] == '}':
			return true
		default:
			return false
		}
	}
}

// summariseArgsAt names the arguments of the object at b[at] and their
// kinds, sorted by name, reading it once; it returns the index past it.
func summariseArgsAt(b []byte, at int) (string, int) {
	if b[at] != '{' {
		return kindAt(b, at)
	}
	var parts []string
	sub := b[at:]
	last := 0
	ok := membersScan(sub, func(k []byte, sb []byte, i int) int {
		kind, e := kindAt(sb, i)
		parts = append(parts, string(k)+"="+kind)
		last = e
		return e
	})
	if !ok {
		return "", -1
	}
	end := objectEnd(sub, last)
	if end < 0 {
		return "", -1
	}
	end += at
	sort.Strings(parts)
	return strings.Join(parts, ", "), end
}

// kindOf names a JSON value's kind without its content: "None" (JSON
// null, as Python prints it), "str", "num", "bool", "list[3]", "dict", or
// a versioned object's name ({"<ns>_object.name": "Instance", ...}).
func kindOf(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	k, _ := kindAt(raw, 0)
	return k
}

// objectName ends the key of a versioned object's name
// ("nova_object.name").
var objectName = []byte("_object.name")

// objectEnd is the index past the object at the start of b whose last
// member's value ended at last (0: no member).
func objectEnd(b []byte, last int) int {
	i := last
	if last == 0 {
		i = skipWS(b, 1)
	} else {
		i = skipWS(b, i)
	}
	if i < len(b) && b[i] == '}' {
		return i + 1
	}
	return -1
}

// kindAt is kindOf of the value at b[at] and the index past it, read once.
func kindAt(b []byte, at int) (string, int) {
	switch b[at] {
	case 'n':
		return "None", skipValue(b, at)
	case 't', 'f':
		return "bool", skipValue(b, at)
	case '"':
		return "str", skipString(b, at)
	case '[':
		i := skipWS(b, at+1)
		if i < len(b) && b[i] == ']' {
			return "list[0]", i + 1
		}
		n := 0
		for {
			k := skipValue(b, skipWS(b, i))
			if k < 0 {
				return "list", -1
			}
			n++
			i = skipWS(b, k)
			switch {
			case i < len(b) && b[i] == ',':
				i++
			case i < len(b) && b[i] == ']':
				return "list[" + strconv.Itoa(n) + "]", i + 1
			default:
				return "list", -1
			}
		}
	case '{':
		name := ""
		end := -1
		sub := b[at:]
		var last int
		ok := membersScan(sub, func(k []byte, sb []byte, i int) int {
			e := skipValue(sb, i)
			if e > 0 && name == "" && bytes.HasSuffix(k, objectName) {
				name = jsonString(sb[i:e])
			}
			last = e
			return e
		})
		if ok {
			if e := objectEnd(sub, last); e >= 0 {
				end = at + e
			}
		}
		if name != "" {
			return name, end
		}
		return "dict", end
	}
	return "num", skipValue(b, at)
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
