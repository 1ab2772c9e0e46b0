package memcache

import (
	"strconv"
	"strings"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/redact"
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

	policy *redact.Policy // what Redacted treats as a credential, and how
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

	policy *redact.Policy // what Redacted treats as a credential, and how
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

// Redacted returns a copy in which the redaction policy (decoder/redact)
// has replaced the credentials in the keys (a cache keyed by the token
// itself; keystonemiddleware's tokens/<sha256 hex> keys are a digest and
// stay) and in the value (keystonemiddleware caches the validation JSON,
// whose "auth_token" is the token itself). The receiver is returned when
// it holds none.
func (r *Request) Redacted() decoder.Message {
	p := r.policy
	if p.Shows() {
		return r
	}
	keys, kc := redactKeys(p, r.Keys)
	v := p.Body(r.Value, "")
	if !kc && v == r.Value {
		return r
	}
	c := *r
	c.Keys, c.Value = keys, v
	return &c
}

// Redacted: see Request.Redacted; also the error or version text.
func (r *Response) Redacted() decoder.Message {
	p := r.policy
	if p.Shows() {
		return r
	}
	hits, hc := redactKeys(p, r.Hits)
	var values []Value
	for i, v := range r.Values {
		k := p.CacheKey(v.Key)
		d := p.Body(v.Data, "")
		if k == v.Key && d == v.Data {
			continue
		}
		if values == nil {
			values = append([]Value(nil), r.Values...)
		}
		values[i].Key, values[i].Data = k, d
	}
	m := p.Text(r.Message)
	if !hc && values == nil && m == r.Message {
		return r
	}
	c := *r
	c.Hits, c.Message = hits, m
	if values != nil {
		c.Values = values
	}
	return &c
}

// redactKeys returns keys with credentials replaced, and whether any was;
// keys itself is never modified.
func redactKeys(p *redact.Policy, keys []string) ([]string, bool) {
	var out []string
	for i, k := range keys {
		r := p.CacheKey(k)
		if r == k {
			continue
		}
		if out == nil {
			out = append([]string(nil), keys...)
		}
		out[i] = r
	}
	if out == nil {
		return keys, false
	}
	return out, true
}

// Policy is the redaction policy Redacted applies (nil: the default one),
// for printers that redact text of their own that quotes the message.
func (r *Request) Policy() *redact.Policy { return r.policy }

// Policy: see Request.Policy.
func (r *Response) Policy() *redact.Policy { return r.policy }
