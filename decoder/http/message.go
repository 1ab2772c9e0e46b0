package http

import (
	"strconv"
	"strings"

	"github.com/flowmap/flowmap/decoder/redact"
)

// Request is one HTTP/1.x request as seen on the wire.
type Request struct {
	Method  string      `json:"method"`
	Target  string      `json:"target"`
	Version string      `json:"version"`
	Headers [][2]string `json:"headers"` // in order, as sent (name case kept)
	// BodyBytes is the body's length after de-chunking, including bytes
	// lost in capture gaps inside a body of known length.
	BodyBytes int64 `json:"body_bytes"`
	// Body holds text, JSON and form bodies up to Options.MaxBody bytes;
	// binary bodies (application/octet-stream, compressed, ...) are only
	// counted.
	Body string `json:"body,omitempty"`
	// BodyTruncated: the kept body is shorter than BodyBytes, or part of
	// the body was lost in a gap or at the end of the capture.
	BodyTruncated bool        `json:"body_truncated,omitempty"`
	Chunked       bool        `json:"chunked,omitempty"`
	Trailers      [][2]string `json:"trailers,omitempty"`

	policy     *redact.Policy // what Redacted treats as a credential, and how
	bodySecret bool           // the path says a non-JSON body is a credential
}

// Interim is a 1xx response (100 Continue, 103 Early Hints) that preceded
// the final response of an exchange.
type Interim struct {
	Status  int         `json:"status"`
	Reason  string      `json:"reason"`
	Headers [][2]string `json:"headers,omitempty"`
}

// Response is the final HTTP/1.x response of an exchange (101 Switching
// Protocols counts as final: decoding stops after it).
type Response struct {
	Version       string      `json:"version"`
	Status        int         `json:"status"`
	Reason        string      `json:"reason"`
	Headers       [][2]string `json:"headers"`
	BodyBytes     int64       `json:"body_bytes"`
	Body          string      `json:"body,omitempty"`
	BodyTruncated bool        `json:"body_truncated,omitempty"`
	Chunked       bool        `json:"chunked,omitempty"`
	Trailers      [][2]string `json:"trailers,omitempty"`
	Interim       []Interim   `json:"interim,omitempty"`

	policy     *redact.Policy // what Redacted treats as a credential, and how
	bodySecret bool           // the request's path says a non-JSON body is a credential
}

// Header returns the first value of the named header, compared without
// regard to case, or "".
func (m *Request) Header(name string) string { return headerValue(m.Headers, name) }

// Header returns the first value of the named header, compared without
// regard to case, or "".
func (m *Response) Header(name string) string { return headerValue(m.Headers, name) }

func headerValue(h [][2]string, name string) string {
	for _, kv := range h {
		if strings.EqualFold(kv[0], name) {
			return kv[1]
		}
	}
	return ""
}

// Summary is "METHOD target", e.g. "GET /v2/images".
func (m *Request) Summary() string { return m.Method + " " + m.Target }

// Summary is "status reason", e.g. "201 CREATED".
func (m *Response) Summary() string {
	if m.Reason == "" {
		return strconv.Itoa(m.Status)
	}
	return strconv.Itoa(m.Status) + " " + m.Reason
}
