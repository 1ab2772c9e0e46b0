package http

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Limits on what the input may make the decoder hold. Every length the
// input declares is checked against one of these before it is used.
const (
	defaultMaxBody     = 256 << 10 // Options.MaxBody when zero
	maxLineLength      = 64 << 10  // start line or one header line
	maxHeaderBytes     = 1 << 20   // all header lines of one message
	maxHeaders         = 256       // header fields of one message (and trailer fields)
	maxChunkLineLength = 4096      // chunk-size line with extensions (as net/http)
	maxInterim         = 16        // 1xx responses kept per exchange
	maxQuote           = 40        // bytes of bad input quoted in a note
)

// Sentinel errors; notes on exchanges carry their text with the details.
var (
	ErrLineTooLong      = errors.New("http: line too long")
	ErrTooManyHeaders   = errors.New("http: too many header fields")
	ErrHeaderTooLarge   = errors.New("http: header too large")
	ErrBadStartLine     = errors.New("http: malformed start line")
	ErrBadContentLength = errors.New("http: invalid Content-Length")
	ErrBadChunk         = errors.New("http: malformed chunked encoding")
	ErrChunkTooLarge    = errors.New("http: chunk length too large")
	ErrTransferEncoding = errors.New("http: unsupported Transfer-Encoding")
)

// http1Dot begins every HTTP/1.x status line.
var http1Dot = []byte("HTTP/1.")

// methods are the request methods accepted where a message start has to be
// guessed (sniffing, resynchronisation). A synchronised stream accepts any
// token as a method.
var methods = [...]string{
	"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT",
	"SEARCH", "PURGE", "LINK", "UNLINK", "MKACTIVITY", "CHECKOUT", "MERGE",
}

const maxMethodLen = len("MKACTIVITY")

// quote shortens bad input for a note.
func quote(b []byte) string {
	if len(b) > maxQuote {
		return strconv.Quote(string(b[:maxQuote])) + "..."
	}
	return strconv.Quote(string(b))
}

// isTokenChar reports whether c is a tchar of RFC 9110 5.6.2.
func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isTokenChar(c) {
			return false
		}
	}
	return true
}

// parseVersion accepts "HTTP/1.0" and "HTTP/1.1" (and other HTTP/1.x).
func parseVersion(b []byte) bool {
	return len(b) == 8 && bytes.HasPrefix(b, http1Dot) && b[7] >= '0' && b[7] <= '9'
}

// parseRequestLine splits "METHOD target HTTP/1.1" like net/http does.
func parseRequestLine(line []byte) (method, target, version []byte, err error) {
	method, rest, ok1 := bytes.Cut(line, []byte{' '})
	target, version, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || !isToken(method) || len(target) == 0 || !parseVersion(version) {
		return nil, nil, nil, fmt.Errorf("%w: request line %s", ErrBadStartLine, quote(line))
	}
	for _, c := range target {
		if c <= ' ' || c == 0x7f {
			return nil, nil, nil, fmt.Errorf("%w: request line %s", ErrBadStartLine, quote(line))
		}
	}
	return method, target, version, nil
}

// parseStatusLine splits "HTTP/1.1 200 OK"; the reason may be empty.
func parseStatusLine(line []byte) (version []byte, status int, reason []byte, err error) {
	version, rest, ok := bytes.Cut(line, []byte{' '})
	code, reason, _ := bytes.Cut(rest, []byte{' '})
	if !ok || !parseVersion(version) || len(code) != 3 ||
		code[0] < '1' || code[0] > '9' || code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9' {
		return nil, 0, nil, fmt.Errorf("%w: status line %s", ErrBadStartLine, quote(line))
	}
	status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	return version, status, reason, nil
}

// knownMethodPrefix reports whether b starts with a known method and a
// space (yes), could still become one (more), or cannot (neither).
func knownMethodPrefix(b []byte) (yes, more bool) {
	for _, m := range methods {
		n := len(m)
		switch {
		case len(b) > n:
			if b[n] == ' ' && string(b[:n]) == m {
				return true, false
			}
		case string(b) == m[:len(b)]:
			more = true
		}
	}
	return false, more
}

// plausibleStart tells whether b begins a message start line of the given
// side: a known method and a space for requests, "HTTP/1." for responses.
// When the line is complete it must parse as a start line. It returns
// (true, false) for a start, (false, true) when b is too short to tell.
func plausibleStart(resp bool, b []byte) (ok, more bool) {
	// The cheap prefix test comes first: resynchronisation calls this at
	// every line start of what may be a binary body.
	if resp {
		n := min(len(b), len(http1Dot))
		if !bytes.Equal(b[:n], http1Dot[:n]) {
			return false, false
		}
	} else if yes, more := knownMethodPrefix(b[:min(len(b), maxMethodLen+1)]); !yes {
		return false, more && bytes.IndexByte(b, '\n') < 0
	}
	i := bytes.IndexByte(b[:min(len(b), maxLineLength+2)], '\n')
	if i < 0 {
		return false, len(b) <= maxLineLength
	}
	line := bytes.TrimSuffix(b[:i], []byte{'\r'})
	var err error
	if resp {
		_, _, _, err = parseStatusLine(line)
	} else {
		_, _, _, err = parseRequestLine(line)
	}
	return err == nil, false
}

// parseContentLength parses the values of all Content-Length fields. As
// RFC 9112 6.3 allows, a list or repetition of one same value is accepted;
// anything else (sign, spaces inside, non-digits, more than int64, values
// that differ) is an error.
func parseContentLength(values []string) (int64, error) {
	n := int64(-1)
	for _, v := range values {
		for _, f := range strings.Split(v, ",") {
			f = strings.Trim(f, " \t")
			x, err := parseDecimal(f)
			if err != nil {
				return -1, fmt.Errorf("%w %s", ErrBadContentLength, quote([]byte(v)))
			}
			if n >= 0 && x != n {
				return -1, fmt.Errorf("%w: differing values %d and %d", ErrBadContentLength, n, x)
			}
			n = x
		}
	}
	if n < 0 {
		return -1, fmt.Errorf("%w: empty", ErrBadContentLength)
	}
	return n, nil
}

// parseDecimal parses 1*DIGIT into an int64, rejecting overflow.
func parseDecimal(s string) (int64, error) {
	if s == "" {
		return 0, ErrBadContentLength
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, ErrBadContentLength
		}
		if n > (math.MaxInt64-int64(c-'0'))/10 {
			return 0, ErrBadContentLength
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// parseChunkSize parses a chunk-size line (CRLF already removed) the way
// net/http/internal/chunked.go does: trailing whitespace and extensions
// are dropped, at most 16 hex digits, and the value must fit an int64.
func parseChunkSize(line []byte) (int64, error) {
	line = bytes.TrimRight(line, " \t")
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = bytes.TrimRight(line[:i], " \t")
	}
	if len(line) == 0 {
		return 0, fmt.Errorf("%w: empty chunk size", ErrBadChunk)
	}
	var n uint64
	for i, b := range line {
		switch {
		case '0' <= b && b <= '9':
			b -= '0'
		case 'a' <= b && b <= 'f':
			b = b - 'a' + 10
		case 'A' <= b && b <= 'F':
			b = b - 'A' + 10
		default:
			return 0, fmt.Errorf("%w: chunk size %s", ErrBadChunk, quote(line))
		}
		if i == 16 {
			return 0, fmt.Errorf("%w: %s", ErrChunkTooLarge, quote(line))
		}
		n = n<<4 | uint64(b)
	}
	if n > math.MaxInt64 {
		return 0, fmt.Errorf("%w: %s", ErrChunkTooLarge, quote(line))
	}
	return int64(n), nil
}

// textual reports whether a body of this Content-Type is kept as text.
func textual(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	if strings.HasPrefix(mt, "text/") {
		return true
	}
	_, sub, ok := strings.Cut(mt, "/")
	if !ok {
		return false
	}
	for _, s := range [...]string{"json", "xml", "yaml", "x-www-form-urlencoded", "javascript"} {
		if strings.Contains(sub, s) {
			return true
		}
	}
	return false
}

// looksText reports whether the first bytes of a body without Content-Type
// look like text (no control bytes but tab, CR, LF).
func looksText(b []byte) bool {
	if len(b) > 512 {
		b = b[:512]
	}
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\r' && c != '\n' || c == 0x7f {
			return false
		}
	}
	return true
}

// finalChunked reports whether the last transfer coding is "chunked".
func finalChunked(te string) bool {
	i := strings.LastIndexByte(te, ',')
	last := strings.Trim(te[i+1:], " \t")
	if j := strings.IndexByte(last, ';'); j >= 0 {
		last = strings.TrimRight(last[:j], " \t")
	}
	return strings.EqualFold(last, "chunked")
}

// transferCoded reports whether a transfer coding other than chunked (gzip,
// deflate, ...) applies to the body: its bytes are then not text.
func transferCoded(headers [][2]string) bool {
	for _, h := range headers {
		if !strings.EqualFold(h[0], "Transfer-Encoding") {
			continue
		}
		for _, c := range strings.Split(h[1], ",") {
			c, _, _ = strings.Cut(c, ";")
			c = strings.Trim(c, " \t")
			if c != "" && !strings.EqualFold(c, "chunked") && !strings.EqualFold(c, "identity") {
				return true
			}
		}
	}
	return false
}

// headerName returns name as a string, without allocating for the names
// the lab traffic uses on every message (spelled exactly as sent).
func headerName(name []byte) string {
	switch string(name) {
	case "Host":
		return "Host"
	case "User-Agent":
		return "User-Agent"
	case "Accept":
		return "Accept"
	case "Accept-Encoding":
		return "Accept-Encoding"
	case "Connection":
		return "Connection"
	case "Content-Type":
		return "Content-Type"
	case "Content-Length":
		return "Content-Length"
	case "Transfer-Encoding":
		return "Transfer-Encoding"
	case "Date":
		return "Date"
	case "Vary":
		return "Vary"
	case "Location":
		return "Location"
	case "X-Auth-Token":
		return "X-Auth-Token"
	case "X-Subject-Token":
		return "X-Subject-Token"
	case "x-openstack-request-id":
		return "x-openstack-request-id"
	case "X-Openstack-Request-Id":
		return "X-Openstack-Request-Id"
	case "OpenStack-Identity-Access-Rules":
		return "OpenStack-Identity-Access-Rules"
	}
	return string(name)
}
