package http

import (
	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/redact"
)

// policy is the redaction policy of a stream: Options.Redact, or one made
// from Options.Secrets.
func (o Options) policy() *redact.Policy {
	if o.Redact != nil {
		return o.Redact
	}
	return redact.New(o.Secrets, nil)
}

// WithSecrets returns a copy of m whose Redacted also treats the fields
// named by s as credentials.
func (m *Request) WithSecrets(s *decoder.Secrets) *Request {
	r := *m
	r.policy = redact.New(s, nil)
	return &r
}

// WithSecrets is Request.WithSecrets for a response.
func (m *Response) WithSecrets(s *decoder.Secrets) *Response {
	r := *m
	r.policy = redact.New(s, nil)
	return &r
}

// Redacted returns a copy in which the redaction policy (decoder/redact)
// has replaced every credential: in the target (query parameters, path
// segments, userinfo), header and trailer values (Authorization, Cookie,
// the registry's X-Auth-Token, …, and shaped tokens in any), and the JSON
// or form body. The receiver is returned when it holds no secret; it is
// never modified.
func (m *Request) Redacted() decoder.Message {
	p := m.policy
	if p.Shows() {
		return m
	}
	t := p.Target(m.Target)
	h, hc := p.Headers(m.Headers)
	tr, tc := p.Headers(m.Trailers)
	b := redactBody(p, m.Body, m.Headers, m.bodySecret)
	if t == m.Target && !hc && !tc && b == m.Body {
		return m
	}
	r := *m
	r.Target, r.Headers, r.Trailers, r.Body = t, h, tr, b
	return &r
}

// Redacted returns a copy with credentials replaced, like
// Request.Redacted (X-Subject-Token, Set-Cookie, Location, secrets in
// bodies, interim responses' headers).
func (m *Response) Redacted() decoder.Message {
	p := m.policy
	if p.Shows() {
		return m
	}
	h, hc := p.Headers(m.Headers)
	tr, tc := p.Headers(m.Trailers)
	b := redactBody(p, m.Body, m.Headers, m.bodySecret)
	reason := p.Text(m.Reason)
	var interim []Interim
	for i, in := range m.Interim {
		ih, c := p.Headers(in.Headers)
		if !c {
			continue
		}
		if interim == nil {
			interim = append([]Interim(nil), m.Interim...)
		}
		interim[i].Headers = ih
	}
	if !hc && !tc && b == m.Body && interim == nil && reason == m.Reason {
		return m
	}
	r := *m
	r.Headers, r.Trailers, r.Body, r.Reason = h, tr, b, reason
	if interim != nil {
		r.Interim = interim
	}
	return &r
}

// redactBody redacts a message body: whole when the request's path says
// it is a stored secret (Policy.SecretBody) and it is not JSON, else by
// its fields and shapes.
func redactBody(p *redact.Policy, body string, headers [][2]string, secret bool) string {
	ct := headerValue(headers, "Content-Type")
	if secret {
		if b, ok := p.BodySecret(body, ct); ok {
			return b
		}
	}
	return p.Body(body, ct)
}

// Policy is the redaction policy Redacted applies (nil: the default one),
// for printers that redact text of their own that quotes the message.
func (r *Request) Policy() *redact.Policy { return r.policy }

// Policy: see Request.Policy.
func (r *Response) Policy() *redact.Policy { return r.policy }
