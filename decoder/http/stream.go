package http

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/redact"
)

// Options tune the decoder.
type Options struct {
	// MaxBody is how many bytes of a text, JSON or form body are kept per
	// message: 0 means 256 KiB, a negative value keeps no body at all.
	// Longer bodies are counted, never held.
	MaxBody int
	// Ports are the server ports, besides 80 and 8080, whose connections
	// are HTTP when sniffing cannot tell (a capture that starts
	// mid-connection): flow's service registry lists OpenStack's.
	Ports []uint16
	// Secrets names the headers and body fields that hold credentials,
	// besides HTTP's own (flow's service registry lists OpenStack's).
	Secrets *decoder.Secrets
	// Redact is the redaction policy messages' Redacted applies; nil
	// means one made from Secrets.
	Redact *redact.Policy
}

func (o Options) maxBody() int {
	switch {
	case o.MaxBody == 0:
		return defaultMaxBody
	case o.MaxBody < 0:
		return 0
	}
	return o.MaxBody
}

// maxQueue caps the exchanges waiting for a response on one connection (a
// client pipelining without end, or a server that never answers): beyond
// it the oldest is emitted without its response.
const maxQueue = 64

// maxSideNotes caps the notes held for the next message of one side.
const maxSideNotes = 8

// state is where a side is in its byte stream.
type state uint8

const (
	stStart        state = iota // before a start line (empty lines are skipped)
	stResync                    // looking for a plausible start line
	stHeaders                   // header lines
	stBody                      // s.remaining bytes of a Content-Length body
	stChunkSize                 // chunk-size line
	stChunkData                 // s.remaining bytes of chunk data
	stChunkDataEnd              // CRLF after chunk data
	stTrailers                  // trailer lines after the last chunk
	stBodyClose                 // response body delimited by the server's close
	stStopped                   // after Upgrade, CONNECT or HTTP/2: bytes ignored
)

// exchange is one request/response pair being assembled.
type exchange struct {
	x         decoder.Exchange
	method    string // of the request, for the response's framing
	target    string // of the request, for an answer that comes before its end
	reqDone   bool   // request finished (or there is none)
	respBegun bool   // a status line (maybe 1xx) was seen
	respDone  bool   // final response finished
	interim   []Interim
	iversion  string // version of the last interim response
}

func (e *exchange) note(format string, args ...any) {
	e.x.Notes = append(e.x.Notes, fmt.Sprintf(format, args...))
}

// message is the request or response a side is parsing.
type message struct {
	ex   *exchange
	resp bool
	// unsure: a response that followed lost bytes while later requests
	// waited too: which one it answers is not certain (finish)
	unsure   bool
	method   string // request method (of the paired request for a response)
	target   string
	version  string
	status   int
	reason   string
	headers  [][2]string
	trailers [][2]string
	hdrBytes int
	badLines int
	bareLF   bool
	folded   bool
	inBody   bool
	chunked  bool
	keep     int8 // 0: decide on the first body bytes; 1: keep text; -1: count only
	body     []byte
	bodyLen  int64
	bodyLost bool
	// Gaps inside the body, summed into one note (a snaplen capture has
	// one per segment).
	gaps        int
	gapBytes    int64
	gapsUnknown bool
}

// gapNote records a gap of n bytes (n < 0: unknown) inside m's body.
func (m *message) gapNote(n int) {
	m.bodyLost = true
	m.ex.x.Truncated = true
	m.gaps++
	if n < 0 {
		m.gapsUnknown = true
	} else {
		m.gapBytes += int64(n)
	}
}

func (m *message) kind() string {
	if m.resp {
		return "response"
	}
	return "request"
}

// side is one direction of the connection.
type side struct {
	dir         decoder.Dir
	st          state
	buf         []byte    // an incomplete line (never more than a line cap)
	bufT        time.Time // capture time of buf's first byte
	atLineStart bool      // stResync: the next byte begins a line
	remaining   int64     // stBody, stChunkData
	m           *message  // message in progress, nil between messages
	last        time.Time // capture time of the last byte of m
	skipped     int64     // bytes skipped while resynchronising
	// bad counts the bytes of start lines that failed (told by their note
	// on the next message), and of a connection no longer decoded with
	// nothing to say so: with skipped, what Unread reports when no
	// message follows.
	bad   int64
	notes []string // for the next message of this side
	ended bool
	lost  bool      // bytes were lost since this side's last message began
	next  *exchange // response side: exchange whose 1xx was just seen
}

func (s *side) kind() string {
	if s.dir == decoder.ClientToServer {
		return "request"
	}
	return "response"
}

func (s *side) addNote(format string, args ...any) {
	if len(s.notes) < maxSideNotes {
		s.notes = append(s.notes, fmt.Sprintf(format, args...))
	}
}

func (s *side) lineCap() int {
	switch s.st {
	case stChunkSize, stChunkDataEnd:
		return maxChunkLineLength
	}
	return maxLineLength
}

// stream decodes one TCP connection. It implements decoder.StreamDecoder.
type stream struct {
	conn         *decoder.Conn
	emit         decoder.Emit
	maxBody      int
	policy       *redact.Policy
	sides        [2]side
	queue        []*exchange // begun, not yet emitted, in request order
	serverClosed bool
	closed       bool
	// untold: decoding stopped with no exchange to say so (HTTP/2's
	// preface): the bytes after it are counted as unread (Unread).
	untold bool
}

// New returns the HTTP decoder of one connection (c may be nil in tests).
//
// Exchanges are passed to emit in request order, each as soon as its
// request and final response are complete, and are not touched again. The
// Nth response pairs with the Nth request (pipelining); a response with no
// request left to answer becomes an exchange with a nil Request, whose
// ReqStart is the response's start so that Start() still orders it. A
// request left unanswered is emitted with a nil Response when the server
// closes or at Close. Bodies that end with the connection (no
// Content-Length, no chunked: keystone under uWSGI) are complete at End or
// Close, not truncated. Gaps inside a body of known length are skipped by
// length; any other gap, and any framing error, marks the message in
// progress Truncated and makes the decoder look for the next request line
// or "HTTP/1." at a line start. After a 101 or a CONNECT tunnel the
// connection is no longer decoded.
func New(c *decoder.Conn, emit decoder.Emit, opts Options) decoder.StreamDecoder {
	d := &stream{conn: c, emit: emit, maxBody: opts.maxBody(), policy: opts.policy()}
	for i := range d.sides {
		s := &d.sides[i]
		s.dir = decoder.Dir(i)
		if c != nil && !c.SawSYN {
			// The capture began mid-connection: the first byte may be
			// anywhere inside a message.
			s.st, s.atLineStart = stResync, true
		}
	}
	return d
}

// Data implements decoder.StreamDecoder.
func (d *stream) Data(dir decoder.Dir, data []byte, t time.Time) {
	if d.closed || dir > decoder.ServerToClient {
		return
	}
	s := &d.sides[dir]
	if s.st == stStopped && d.untold {
		s.bad += int64(len(data))
	}
	for len(data) > 0 && s.st != stStopped {
		if len(s.buf) == 0 {
			n := d.process(s, data, t, t)
			if n < len(data) && s.st != stStopped {
				s.buf = append(s.buf[:0], data[n:]...)
				s.bufT = t
			}
			break
		}
		// Complete the buffered line with the bytes up to the next LF
		// only, so that a body that follows is not copied.
		take := len(data)
		nl := bytes.IndexByte(data, '\n')
		if nl >= 0 {
			take = nl + 1
		}
		s.buf = append(s.buf, data[:take]...)
		data = data[take:]
		if nl < 0 && len(s.buf) <= s.lineCap() {
			break
		}
		n := d.process(s, s.buf, s.bufT, t)
		n = min(n, len(s.buf))
		rest := copy(s.buf, s.buf[n:])
		s.buf = s.buf[:rest]
		if n > 0 {
			s.bufT = t
		}
	}
	if s.st == stStopped {
		s.buf = nil
	}
}

// process consumes p, whose first byte was captured at t0 and the rest at
// t. It returns how many bytes it consumed; the rest is an incomplete line
// the caller keeps. process never retains p.
func (d *stream) process(s *side, p []byte, t0, t time.Time) int {
	i := 0
	for i < len(p) {
		lt := t
		if i == 0 {
			lt = t0
		}
		switch s.st {
		case stStopped:
			if d.untold {
				s.bad += int64(len(p) - i)
			}
			return len(p)
		case stBody, stChunkData:
			n := len(p) - i
			if int64(n) > s.remaining {
				n = int(s.remaining)
			}
			d.body(s, p[i:i+n], t)
			i += n
			s.remaining -= int64(n)
			if s.remaining == 0 {
				if s.st == stBody {
					d.finish(s)
				} else {
					s.st = stChunkDataEnd
				}
			}
		case stBodyClose:
			d.body(s, p[i:], t)
			return len(p)
		case stResync:
			i += d.resync(s, p[i:])
			if s.st == stResync {
				return i
			}
		default:
			rest := p[i:]
			j := bytes.IndexByte(rest, '\n')
			if j < 0 {
				switch {
				case len(rest) > s.lineCap():
					if s.m == nil {
						s.bad += int64(len(rest))
					}
					d.fail(s, lt, false, "%v: %s line longer than %d bytes", ErrLineTooLong, s.lineKind(), s.lineCap())
					return len(p)
				case s.st == stStart && rest[0] != '\r' && !isTokenChar(rest[0]):
					s.addNote("%v: %s line %s", ErrBadStartLine, s.kind(), quote(rest))
					d.fail(s, lt, false, "")
					s.bad++
					i++
					continue
				}
				return i
			}
			line := rest[:j]
			i += j + 1
			if len(line) > s.lineCap() {
				if s.m == nil {
					s.bad += int64(j + 1)
				}
				d.fail(s, lt, true, "%v: %s line longer than %d bytes", ErrLineTooLong, s.lineKind(), s.lineCap())
				continue
			}
			bare := true
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line, bare = line[:len(line)-1], false
			}
			d.line(s, line, bare, lt, t)
		}
	}
	return i
}

func (s *side) lineKind() string {
	switch s.st {
	case stStart:
		return s.kind() + " start"
	case stChunkSize:
		return "chunk-size"
	case stChunkDataEnd:
		return "chunk end"
	case stTrailers:
		return "trailer"
	}
	return s.kind() + " header"
}

// resync skips bytes until a plausible message start and returns how many
// it consumed. On finding one it sets stStart and stops there; when p ends
// with something that may become a start it stops before it, staying in
// stResync, and the caller keeps the rest.
func (d *stream) resync(s *side, p []byte) int {
	resp := s.dir == decoder.ServerToClient
	pos := 0
	defer func() { s.skipped += int64(pos) }()
	for pos < len(p) {
		if s.atLineStart {
			ok, more := plausibleStart(resp, p[pos:])
			if ok {
				s.st = stStart
				return pos
			}
			if more {
				return pos
			}
		}
		if resp {
			// Responses start with "HTTP/1." after a LF: jump there
			// instead of visiting every line of a binary body.
			if k := bytes.Index(p[pos:], nlHTTP1); k >= 0 {
				pos += k + 1
				s.atLineStart = true
				continue
			}
			l := bytes.LastIndexByte(p[pos:], '\n')
			if l < 0 {
				s.atLineStart = false
				pos = len(p)
				break
			}
			pos += l + 1
			s.atLineStart = true
			continue
		}
		j := bytes.IndexByte(p[pos:], '\n')
		if j < 0 {
			s.atLineStart = false
			pos = len(p)
			break
		}
		pos += j + 1
		s.atLineStart = true
	}
	return pos
}

var nlHTTP1 = []byte("\nHTTP/1.")

// line handles one line (LF and CR removed) of a line state.
func (d *stream) line(s *side, line []byte, bare bool, lt, t time.Time) {
	switch s.st {
	case stStart:
		d.startLine(s, line, bare, lt)
	case stHeaders, stTrailers:
		d.headerLine(s, line, bare, t)
	case stChunkSize:
		s.last = t
		n, err := parseChunkSize(line)
		if err != nil {
			d.fail(s, t, true, "%v", err)
			return
		}
		if bare {
			s.m.bareLF = true
		}
		if n == 0 {
			s.st = stTrailers
			return
		}
		s.st, s.remaining = stChunkData, n
	case stChunkDataEnd:
		s.last = t
		if len(line) != 0 {
			d.fail(s, t, true, "%v: %s after chunk data instead of CRLF", ErrBadChunk, quote(line))
			return
		}
		if bare {
			s.m.bareLF = true
		}
		s.st = stChunkSize
	}
}

// lineBytes is how many bytes a line took: its own, the LF, and the CR
// unless bare.
func lineBytes(line []byte, bare bool) int64 {
	if bare {
		return int64(len(line)) + 1
	}
	return int64(len(line)) + 2
}

func (d *stream) startLine(s *side, line []byte, bare bool, lt time.Time) {
	if len(line) == 0 {
		return // RFC 9112 2.2: empty lines before a request are ignored
	}
	m := &message{resp: s.dir == decoder.ServerToClient, bareLF: bare}
	var e *exchange
	if !m.resp {
		method, target, version, err := parseRequestLine(line)
		if err != nil {
			s.bad += lineBytes(line, bare)
			if string(line) == "PRI * HTTP/2.0" {
				d.untold = true
				d.stop()
				return
			}
			s.addNote("%v", err)
			d.fail(s, lt, true, "")
			return
		}
		if len(d.queue) >= maxQueue {
			d.forceEmit()
		}
		m.method, m.target, m.version = string(method), string(target), string(version)
		e = &exchange{method: m.method, target: m.target}
		e.x.ReqStart = lt
		d.queue = append(d.queue, e)
	} else {
		version, status, reason, err := parseStatusLine(line)
		if err != nil {
			s.bad += lineBytes(line, bare)
			s.addNote("%v", err)
			d.fail(s, lt, true, "")
			return
		}
		m.version, m.status, m.reason = string(version), status, string(reason)
		e = s.next
		s.next = nil
		if e == nil {
			for _, q := range d.queue {
				if !q.respBegun {
					e = q
					break
				}
			}
		}
		if e == nil {
			if len(d.queue) >= maxQueue {
				d.forceEmit()
			}
			// Capture began after the request, or its bytes were lost.
			// Its start is the response's, or that of a request line
			// still incomplete (exchanges leave in start order).
			e = &exchange{reqDone: true}
			e.x.ReqStart = lt
			if p := d.sides[decoder.ClientToServer].partialStart(); !p.IsZero() && p.Before(lt) {
				e.x.ReqStart = p
			}
			e.note("response without request")
			d.queue = append(d.queue, e)
		}
		if s.lost {
			// Lost bytes may have held whole responses: when later
			// requests wait too, this one may answer one of them.
			for _, q := range d.queue {
				if q != e && !q.respBegun && q.x.ReqStart.After(e.x.ReqStart) {
					m.unsure = true
					e.note("this response followed lost bytes while later requests waited: it may answer one of them")
					break
				}
			}
		}
		if !e.respBegun {
			e.x.RespStart = lt
		}
		e.respBegun = true
		m.method = e.method
	}
	s.lost = false
	m.ex = e
	if s.skipped > 0 {
		e.note("skipped %d bytes before this %s (not at a message start)", s.skipped, s.kind())
		s.skipped = 0
	}
	s.bad = 0 // told by the notes of the lines that failed
	e.x.Notes = append(e.x.Notes, s.notes...)
	s.notes = s.notes[:0]
	s.m, s.st, s.last = m, stHeaders, lt
}

func (d *stream) headerLine(s *side, line []byte, bare bool, t time.Time) {
	m := s.m
	s.last = t
	if bare {
		m.bareLF = true
	}
	if len(line) == 0 {
		if s.st == stTrailers {
			d.finish(s)
		} else {
			d.headersDone(s, t)
		}
		return
	}
	m.hdrBytes += len(line)
	if m.hdrBytes > maxHeaderBytes {
		d.fail(s, t, true, "%v: more than %d bytes", ErrHeaderTooLarge, maxHeaderBytes)
		return
	}
	list := &m.headers
	if s.st == stTrailers {
		list = &m.trailers
	}
	if line[0] == ' ' || line[0] == '\t' {
		// obs-fold (RFC 9112 5.2): continue the previous field value.
		if len(*list) == 0 {
			m.badLines++
			return
		}
		if v := bytes.Trim(line, " \t"); len(v) > 0 {
			last := &(*list)[len(*list)-1]
			last[1] += " " + string(v)
		}
		m.folded = true
		return
	}
	name, value, ok := bytes.Cut(line, []byte{':'})
	if !ok || !isToken(name) {
		m.badLines++
		return
	}
	if len(*list) >= maxHeaders {
		d.fail(s, t, true, "%v: more than %d", ErrTooManyHeaders, maxHeaders)
		return
	}
	if *list == nil {
		*list = make([][2]string, 0, 16)
	}
	*list = append(*list, [2]string{headerName(name), string(bytes.Trim(value, " \t"))})
}

// bodyKind is how a message's body is delimited.
type bodyKind uint8

const (
	bodyNone bodyKind = iota
	bodyLength
	bodyChunked
	bodyClose
)

// framing decides how the body of m is delimited (RFC 9112 6.3).
func framing(m *message) (bodyKind, int64, error) {
	if m.resp && (m.method == "HEAD" || m.status/100 == 1 || m.status == 204 || m.status == 304 ||
		m.method == "CONNECT" && m.status/100 == 2) {
		return bodyNone, 0, nil
	}
	var te, cl []string
	for _, h := range m.headers {
		switch {
		case strings.EqualFold(h[0], "Transfer-Encoding"):
			te = append(te, h[1])
		case strings.EqualFold(h[0], "Content-Length"):
			cl = append(cl, h[1])
		}
	}
	if len(te) > 0 {
		codings := strings.Join(te, ",")
		if len(cl) > 0 {
			m.ex.note("Transfer-Encoding and Content-Length both present: Content-Length ignored")
		}
		if finalChunked(codings) {
			return bodyChunked, 0, nil
		}
		if m.resp {
			m.ex.note("Transfer-Encoding %s does not end in chunked: body delimited by close", quote([]byte(codings)))
			return bodyClose, 0, nil
		}
		return bodyNone, 0, fmt.Errorf("%w %s in a request", ErrTransferEncoding, quote([]byte(codings)))
	}
	if len(cl) > 0 {
		n, err := parseContentLength(cl)
		if err != nil {
			return bodyNone, 0, err
		}
		return bodyLength, n, nil
	}
	if m.resp {
		return bodyClose, 0, nil
	}
	return bodyNone, 0, nil
}

func (d *stream) headersDone(s *side, t time.Time) {
	m := s.m
	e := m.ex
	if m.resp && m.status/100 == 1 && m.status != 101 {
		// Interim response: the final one follows for the same request.
		if len(e.interim) < maxInterim {
			e.interim = append(e.interim, Interim{Status: m.status, Reason: m.reason, Headers: m.headers})
		}
		e.iversion = m.version
		d.messageNotes(m)
		s.m, s.st, s.next = nil, stStart, e
		return
	}
	kind, n, err := framing(m)
	if err != nil {
		// RFC 9112 6.3: invalid framing is unrecoverable; look for the
		// next message instead of guessing where this one ends.
		d.fail(s, t, true, "%v", err)
		return
	}
	switch {
	case m.resp && m.status == 101:
		up := headerValue(m.headers, "Upgrade")
		e.note("switched protocols (Upgrade %s): rest of the connection not decoded", quote([]byte(up)))
		d.finish(s)
		d.stop()
		return
	case m.resp && m.method == "CONNECT" && m.status/100 == 2:
		e.note("CONNECT tunnel established: tunnelled bytes not decoded")
		d.finish(s)
		d.stop()
		return
	}
	if d.maxBody <= 0 {
		m.keep = -1
	} else if ce := headerValue(m.headers, "Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") || transferCoded(m.headers) {
		m.keep = -1 // compressed: not text
	} else if ct := headerValue(m.headers, "Content-Type"); ct != "" {
		if textual(ct) {
			m.keep = 1
		} else {
			m.keep = -1
		}
	}
	switch kind {
	case bodyNone:
		d.finish(s)
	case bodyLength:
		if n == 0 {
			d.finish(s)
			return
		}
		m.inBody = true
		s.st, s.remaining = stBody, n
	case bodyChunked:
		m.inBody, m.chunked = true, true
		s.st = stChunkSize
	case bodyClose:
		m.inBody = true
		s.st = stBodyClose
	}
}

// body accounts for body bytes b of the current message, keeping text.
func (d *stream) body(s *side, b []byte, t time.Time) {
	if len(b) == 0 {
		return
	}
	m := s.m
	s.last = t
	m.bodyLen += int64(len(b))
	if m.keep == 0 {
		m.keep = -1
		if looksText(b) {
			m.keep = 1
		}
	}
	if m.keep > 0 && !m.bodyLost {
		if room := d.maxBody - len(m.body); room > 0 {
			m.body = append(m.body, b[:min(room, len(b))]...)
		}
	}
}

// messageNotes records the oddities of m's syntax on its exchange.
func (d *stream) messageNotes(m *message) {
	e := m.ex
	if m.bareLF {
		e.note("bare LF line endings in %s", m.kind())
	}
	if m.folded {
		e.note("obsolete line folding in %s headers", m.kind())
	}
	if m.badLines > 0 {
		e.note("ignored %d malformed %s header lines", m.badLines, m.kind())
	}
	if m.gaps > 0 {
		lost := fmt.Sprintf("%d bytes", m.gapBytes)
		if m.gapsUnknown {
			lost = fmt.Sprintf("at least %d bytes", m.gapBytes)
			if m.gapBytes == 0 {
				lost = "an unknown number of bytes"
			}
		}
		if m.gaps == 1 {
			e.note("lost %s in %s body", lost, m.kind())
		} else {
			e.note("lost %s in %s body (%d gaps)", lost, m.kind(), m.gaps)
		}
	}
	m.bareLF, m.folded, m.badLines, m.gaps = false, false, 0, 0
}

// finish ends the current message of s, complete or not, and emits what
// can be emitted.
func (d *stream) finish(s *side) {
	m := s.m
	if m == nil {
		return
	}
	e := m.ex
	d.messageNotes(m)
	truncated := m.bodyLost || m.keep > 0 && int64(len(m.body)) < m.bodyLen
	if !m.resp {
		e.x.Request = &Request{
			Method: m.method, Target: m.target, Version: m.version, Headers: m.headers,
			BodyBytes: m.bodyLen, Body: string(m.body), BodyTruncated: truncated,
			Chunked: m.chunked, Trailers: m.trailers, policy: d.policy,
			bodySecret: len(m.body) > 0 && d.policy.SecretBody(m.target),
		}
		e.x.ReqEnd = s.last
		e.reqDone = true
	} else {
		resp := &Response{
			Version: m.version, Status: m.status, Reason: m.reason, Headers: m.headers,
			BodyBytes: m.bodyLen, Body: string(m.body), BodyTruncated: truncated,
			Chunked: m.chunked, Trailers: m.trailers, Interim: e.interim, policy: d.policy,
		}
		req, _ := e.x.Request.(*Request)
		switch {
		case len(m.body) == 0:
		case req != nil:
			resp.bodySecret = d.policy.SecretBody(req.Target)
		case e.method != "":
			// answered before its request's body ended: the target is
			// known from the request line
			resp.bodySecret = d.policy.SecretBody(e.target)
		default:
			// The capture began after the request (or lost it): nothing
			// tells this body from a stored secret (barbican's GET
			// …/payload), so it is redacted as one, and the note says why.
			resp.bodySecret = true
			if redact.WholeSecret(resp.Body, headerValue(m.headers, "Content-Type")) {
				e.note("response body (%d bytes) printed as its fingerprint unless --show-secrets: without its request it cannot be told from a stored secret", m.bodyLen)
			}
		}
		if m.unsure && len(m.body) > 0 {
			// the request it answers may be a later one: a stored
			// secret's path among them hides it
			for _, q := range d.queue {
				if q == e || !q.respBegun {
					resp.bodySecret = resp.bodySecret || q.target != "" && d.policy.SecretBody(q.target)
				}
			}
		}
		e.x.Response = resp
		e.x.RespEnd = s.last
		e.respDone = true
	}
	s.m, s.st, s.remaining = nil, stStart, 0
	d.flush()
}

// fail ends the message in progress as truncated with the note (if any)
// and makes s look for the next message start. atLineStart tells whether
// the next byte begins a line. It does not touch s.buf (process may be
// reading it).
func (d *stream) fail(s *side, t time.Time, atLineStart bool, format string, args ...any) {
	if m := s.m; m != nil {
		if format != "" {
			m.ex.note(format, args...)
		}
		m.ex.x.Truncated = true
		if m.inBody {
			m.bodyLost = true
		}
		if s.last.IsZero() {
			s.last = t
		}
		d.finish(s)
	} else if format != "" {
		s.addNote(format, args...)
	}
	d.abandonInterim(s)
	s.st, s.atLineStart, s.remaining = stResync, atLineStart, 0
}

// abandonInterim gives an exchange whose 1xx was seen, but whose final
// response was lost, a Response holding only the interim ones.
func (d *stream) abandonInterim(s *side) {
	e := s.next
	if e == nil {
		return
	}
	s.next = nil
	e.x.Response = &Response{Version: e.iversion, Interim: e.interim, policy: d.policy}
	e.x.RespEnd = e.x.RespStart
	e.x.Truncated = true
	e.respDone = true
	e.note("final response not captured (only 1xx)")
	d.flush()
}

// stop ends decoding of both directions (Upgrade, CONNECT, HTTP/2).
func (d *stream) stop() {
	for i := range d.sides {
		s := &d.sides[i]
		if s.m != nil {
			s.m.ex.x.Truncated = true
			d.finish(s)
		}
		d.abandonInterim(s)
		s.st = stStopped
	}
	d.flush()
}

// Gap implements decoder.StreamDecoder.
func (d *stream) Gap(dir decoder.Dir, n int, t time.Time) {
	if d.closed || dir > decoder.ServerToClient || n == 0 {
		return
	}
	s := &d.sides[dir]
	lost := "an unknown number of bytes"
	if n > 0 {
		lost = fmt.Sprintf("%d bytes", n)
	}
	switch s.st {
	case stStopped:
		return
	case stBody, stChunkData:
		m := s.m
		if n > 0 && int64(n) <= s.remaining {
			m.bodyLen += int64(n)
			m.gapNote(n)
			s.remaining -= int64(n)
			if s.remaining == 0 {
				if s.st == stBody {
					d.finish(s)
				} else {
					s.st = stChunkDataEnd
				}
			}
			return
		}
		d.fail(s, t, true, "lost %s in %s body, past its end", lost, m.kind())
	case stBodyClose:
		m := s.m
		if n > 0 {
			m.bodyLen += int64(n)
		}
		m.gapNote(n)
		return
	case stStart:
		if s.next != nil {
			d.abandonInterim(s)
		}
		s.addNote("lost %s before this %s", lost, s.kind())
		s.st = stResync
	case stResync:
		s.addNote("lost %s before this %s", lost, s.kind())
	case stChunkSize, stChunkDataEnd:
		d.fail(s, t, true, "lost %s in chunked %s body", lost, s.m.kind())
	case stTrailers:
		d.fail(s, t, true, "lost %s in %s trailers", lost, s.m.kind())
	default:
		d.fail(s, t, true, "lost %s in %s headers", lost, s.m.kind())
	}
	s.buf = s.buf[:0]
	s.st, s.atLineStart = stResync, true
	s.lost = true
}

// End implements decoder.StreamDecoder.
func (d *stream) End(dir decoder.Dir, t time.Time) {
	if d.closed || dir > decoder.ServerToClient {
		return
	}
	d.end(&d.sides[dir], t)
	if dir == decoder.ServerToClient {
		d.serverClosed = true
	}
	d.flush()
}

func (d *stream) end(s *side, t time.Time) {
	if s.ended {
		return
	}
	s.ended = true
	switch s.st {
	case stBodyClose:
		d.finish(s) // the close is what ends such a body: complete
	case stBody, stChunkData:
		d.fail(s, t, false, "connection closed %d bytes before the end of the %s body", s.remaining, s.m.kind())
	case stHeaders, stChunkSize, stChunkDataEnd, stTrailers:
		d.fail(s, t, false, "connection closed in the middle of the %s", s.m.kind())
	case stStart:
		d.abandonInterim(s)
	}
	if s.st == stStart || s.st == stResync {
		s.bad += int64(len(s.buf)) // a line no message start completed
	}
	s.buf = s.buf[:0]
}

// Close implements decoder.StreamDecoder.
func (d *stream) Close(t time.Time) {
	if d.closed {
		return
	}
	for i := range d.sides {
		d.end(&d.sides[i], t)
	}
	d.serverClosed = true
	d.flush()
	for _, e := range d.queue { // not expected: flush empties the queue
		e.x.Truncated = true
		d.send(e)
	}
	d.queue = nil
	d.closed = true
}

// Unread implements decoder.Unread: bytes skipped looking for a message
// start that no message followed (a note on the next message tells the
// others).
func (d *stream) Unread() int64 {
	return d.sides[0].skipped + d.sides[0].bad + d.sides[1].skipped + d.sides[1].bad
}

// Pending implements decoder.StreamDecoder.
func (d *stream) Pending() time.Time {
	var p time.Time
	if len(d.queue) > 0 {
		p = d.queue[0].x.ReqStart
	}
	for i := range d.sides {
		if b := d.sides[i].partialStart(); !b.IsZero() && (p.IsZero() || b.Before(p)) {
			p = b
		}
	}
	return p
}

// Expire implements decoder.StreamDecoder.
func (d *stream) Expire(before time.Time, why string) {
	if d.closed {
		return
	}
	for len(d.queue) > 0 {
		e := d.queue[0]
		if !e.x.ReqStart.Before(before) || !e.reqDone || e.respBegun {
			break
		}
		d.queue[0] = nil
		d.queue = d.queue[1:]
		e.x.Truncated = true
		e.note("emitted in progress: %s", why)
		d.send(e)
	}
	d.flush()
}

// partialStart is the capture time of a start line (or a candidate for
// one) begun but not complete, or zero.
func (s *side) partialStart() time.Time {
	if len(s.buf) > 0 && (s.st == stStart || s.st == stResync) {
		return s.bufT
	}
	return time.Time{}
}

// flush emits the exchanges at the head of the queue that are complete,
// or can no longer be completed.
func (d *stream) flush() {
	for len(d.queue) > 0 {
		e := d.queue[0]
		if !e.reqDone {
			return
		}
		if !e.respDone && (e.respBegun || !d.serverClosed && d.sides[1].st != stStopped) {
			return
		}
		d.queue[0] = nil
		d.queue = d.queue[1:]
		d.send(e)
	}
}

// forceEmit emits the oldest exchange, without its response, to keep the
// queue bounded. A response still being parsed for it is followed to its
// end (for framing) but no longer recorded: nothing emitted is modified
// afterwards, and exchanges stay in order.
func (d *stream) forceEmit() {
	e := d.queue[0]
	d.queue[0] = nil
	d.queue = d.queue[1:]
	e.x.Truncated = true
	e.note("emitted before its response: more than %d exchanges pending", maxQueue)
	rs := &d.sides[decoder.ServerToClient]
	if rs.m != nil && rs.m.ex == e || rs.next == e {
		if e.x.Request == nil && e.x.Response == nil {
			// An exchange only its response began (its request was not
			// captured): what was read of the response is all it has.
			if rs.m != nil && rs.m.ex == e {
				e.x.Response = &Response{Version: rs.m.version, Status: rs.m.status, Reason: rs.m.reason, Interim: e.interim, policy: d.policy}
			} else {
				e.x.Response = &Response{Version: e.iversion, Interim: e.interim, policy: d.policy}
			}
			e.x.RespEnd = e.x.RespStart
			e.note("response in progress: only its status line recorded")
		} else {
			e.note("response in progress not recorded")
		}
		detached := &exchange{method: e.method, reqDone: true, respBegun: true}
		if rs.m != nil && rs.m.ex == e {
			rs.m.ex = detached
		} else {
			rs.next = detached
		}
	}
	d.send(e)
}

func (d *stream) send(e *exchange) {
	e.x.Proto = "http"
	e.x.Conn = d.conn
	if e.x.Response == nil && e.x.Request != nil {
		e.x.Truncated = true
		e.note("no response captured")
	}
	if d.emit != nil {
		d.emit(&e.x)
	}
}
