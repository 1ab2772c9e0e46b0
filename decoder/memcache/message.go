package memcache

import (
	"strconv"
	"strings"

	"github.com/flowmap/flowmap/decoder"
)

// Request is one memcache command as the client sent it.
type Request struct {
	// Command is the command word ("get", "set", "mg", ...) or, for the
	// binary protocol, the opcode name ("get", "getkq", "increment", ...).
	Command string   `json:"command"`
	Keys    []string `json:"keys"`
	Flags   *uint32  `json:"flags,omitempty"`
	Exptime *int64   `json:"exptime,omitempty"`
	// Bytes is the declared size of the data block of storage commands.
	Bytes   *int64  `json:"bytes,omitempty"`
	Cas     *uint64 `json:"cas,omitempty"`
	Noreply bool    `json:"noreply,omitempty"` // noreply, meta q flag, binary quiet opcodes
	// Value holds the first Options.MaxValue bytes of the data block; for
	// incr/decr (text, meta D flag, binary delta) the delta, for verbosity
	// the level, for stats its arguments.
	Value     string   `json:"value,omitempty"`
	Binary    bool     `json:"binary,omitempty"`
	MetaFlags []string `json:"meta_flags,omitempty"`
}

// Response is the server's reply to one command.
type Response struct {
	// Result is the outcome in lower case: hit, miss, partial (retrievals),
	// stored, not_stored, exists, not_found, deleted, touched, value
	// (incr/decr), ok, error, client_error, server_error, version, stats,
	// unknown.
	Result string `json:"result"`
	// Hits lists the keys that returned a value, in reply order.
	Hits   []string `json:"hits,omitempty"`
	Values []Value  `json:"values,omitempty"`
	// Message is the text of ERROR/CLIENT_ERROR/SERVER_ERROR, the version
	// string, or the number an incr/decr returned.
	Message string `json:"message,omitempty"`
	// Status is the binary protocol status name ("NO_ERROR", "KEY_ENOENT").
	Status string `json:"status,omitempty"`
}

// Value is one item of a retrieval reply. Data holds at most
// Options.MaxValue bytes of it; DataTruncated says some were not kept.
type Value struct {
	Key           string  `json:"key"`
	Flags         uint32  `json:"flags"`
	Bytes         int64   `json:"bytes"`
	Cas           *uint64 `json:"cas,omitempty"`
	Data          string  `json:"data,omitempty"`
	DataTruncated bool    `json:"data_truncated,omitempty"`
}

// Summary is the command and its (shortened) keys: "get tokens/3f2a…".
func (r *Request) Summary() string {
	if r.Command == "" && len(r.Keys) == 0 {
		return "(empty line)"
	}
	var b strings.Builder
	b.WriteString(r.Command)
	for i, k := range r.Keys {
		if i == 3 {
			b.WriteString(" +" + strconv.Itoa(len(r.Keys)-3))
			break
		}
		b.WriteByte(' ')
		b.WriteString(shortKey(k))
	}
	if r.Bytes != nil {
		b.WriteString(" " + strconv.FormatInt(*r.Bytes, 10) + "B")
	}
	if r.Noreply {
		b.WriteString(" noreply")
	}
	return b.String()
}

// shortKey keeps keys readable in tables: the "tokens/<sha256>" keys of
// keystonemiddleware become "tokens/3f2a…".
func shortKey(k string) string {
	const keep = 11
	if len(k) <= keep+4 {
		return k
	}
	// do not cut inside a UTF-8 sequence
	i := keep
	for i > 0 && k[i]&0xC0 == 0x80 {
		i--
	}
	return k[:i] + "…"
}

// Summary is the outcome: "miss", "hit 1980B", "STORED", "CLIENT_ERROR
// bad data chunk", "value 15", "VERSION 1.6.18".
func (r *Response) Summary() string {
	switch r.Result {
	case "hit", "partial":
		var n int64
		for _, v := range r.Values {
			n += v.Bytes
		}
		s := r.Result
		if len(r.Values) > 1 {
			s += " " + strconv.Itoa(len(r.Values)) + " values"
		}
		if len(r.Values) > 0 {
			s += " " + strconv.FormatInt(n, 10) + "B"
		}
		return s
	case "miss", "stats":
		return r.Result
	case "value":
		return "value " + r.Message
	}
	s := strings.ToUpper(r.Result)
	if r.Message != "" {
		s += " " + r.Message
	}
	return s
}

// Redacted returns the receiver unless a keystone fernet token
// ("gAAAAA…", 100+ characters) appears in the value: keystonemiddleware
// caches the token-validation JSON, whose "auth_token" field is the token
// itself. Tokens are replaced by decoder.Fingerprint; a token cut short by
// Options.MaxValue is replaced by "gAAAAA…(cut)". Only fernet tokens are
// recognised (keystone's default; JWS tokens are not).
func (r *Request) Redacted() decoder.Message {
	cut := r.Bytes != nil && int64(len(r.Value)) < *r.Bytes
	v, ok := redactTokens(r.Value, cut)
	if !ok {
		return r
	}
	c := *r
	c.Value = v
	return &c
}

// Redacted: see Request.Redacted. Keys are left alone: keystonemiddleware's
// keys are SHA-256 digests of tokens, not tokens.
func (r *Response) Redacted() decoder.Message {
	var c *Response
	for i, v := range r.Values {
		d, ok := redactTokens(v.Data, v.DataTruncated)
		if !ok {
			continue
		}
		if c == nil {
			c = new(Response)
			*c = *r
			c.Values = append([]Value(nil), r.Values...)
		}
		c.Values[i].Data = d
	}
	if m, ok := redactTokens(r.Message, false); ok {
		if c == nil {
			c = new(Response)
			*c = *r
		}
		c.Message = m
	}
	if c == nil {
		return r
	}
	return c
}

// fernetPrefix starts every keystone fernet token (version byte 0x80 and
// the high bytes of a timestamp, base64url-encoded).
const fernetPrefix = "gAAAAA"

// minFernet is the shortest complete fernet token: 73 bytes, 100 base64
// characters with padding.
const minFernet = 100

// redactTokens replaces fernet tokens in s. When s was cut short (cut), a
// token-like run that reaches its end is a token cut in two.
func redactTokens(s string, cut bool) (string, bool) {
	if !strings.Contains(s, fernetPrefix) {
		return s, false
	}
	var b strings.Builder
	changed := false
	for {
		i := strings.Index(s, fernetPrefix)
		if i < 0 {
			break
		}
		j := i + len(fernetPrefix)
		for j < len(s) && isBase64URL(s[j]) {
			j++
		}
		switch {
		case cut && j == len(s):
			b.WriteString(s[:i])
			b.WriteString(fernetPrefix + "…(cut)")
			changed = true
		case j-i >= minFernet:
			b.WriteString(s[:i])
			b.WriteString(decoder.Fingerprint(s[i:j]))
			changed = true
		default:
			b.WriteString(s[:j])
		}
		s = s[j:]
	}
	b.WriteString(s)
	return b.String(), changed
}

func isBase64URL(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '='
}
