package amqp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/redact"
)

// frame is one decoded frame, reported to the test hook.
type frame struct {
	dir     decoder.Dir
	typ     byte // 0: protocol header
	channel uint16
	name    string // "basic.publish", "content-header", "content-body", "heartbeat"
	method  *Method
	msg     *Message // content method
	err     error
}

// item is one exchange begun and not yet emitted.
type item struct {
	x       *decoder.Exchange
	done    bool
	waiting bool        // a synchronous request awaiting its response
	reqDir  decoder.Dir // direction of the request
	req     methodID
	msg     *Message // content being reassembled (nil otherwise)
	body    []byte   // its body so far, up to MaxBody, until read
	header  bool     // content header seen
	read    bool     // body read: Oslo and Body set
}

// mark is the capture time of the bytes of a buffer up to end (absolute
// stream offset).
type mark struct {
	end int64
	t   time.Time
}

// side is the state of one direction.
type side struct {
	// buf holds the bytes not decoded yet. During Data it may be the
	// caller's segment itself (borrowed: most segments hold whole
	// frames, decoded where they lie); what is left of it is copied into
	// own before Data returns.
	buf      []byte
	own      []byte
	borrowed bool
	off      int64 // stream offset of buf[0]
	marks    []mark
	began    bool
	sync     bool // looking for a frame boundary
	skipped  int  // bytes skipped while synchronising, reported once found
	content  map[uint16]*item
}

// Decoder decodes one AMQP connection. It implements decoder.StreamDecoder.
type Decoder struct {
	conn    *decoder.Conn
	emit    decoder.Emit
	opts    Options
	policy  *redact.Policy
	sides   [2]side
	queue   []*item // in start order
	onFrame func(frame)
}

// New returns the decoder of connection c, which reports to emit.
func New(c *decoder.Conn, emit decoder.Emit, opts Options) *Decoder {
	d := &Decoder{conn: c, emit: emit, opts: opts, policy: opts.policy()}
	for i := range d.sides {
		d.sides[i].content = map[uint16]*item{}
	}
	return d
}

// timeAt is the capture time of the byte at stream offset o of s.
func (s *side) timeAt(o int64) time.Time {
	for _, m := range s.marks {
		if m.end > o {
			return m.t
		}
	}
	if len(s.marks) > 0 {
		return s.marks[len(s.marks)-1].t
	}
	return time.Time{}
}

// consume drops n bytes from the front of the buffer.
func (s *side) consume(n int) {
	s.buf = s.buf[n:]
	s.off += int64(n)
	i := 0
	for i < len(s.marks) && s.marks[i].end <= s.off {
		i++
	}
	if i > 0 {
		// moved to the front (not resliced): the array is reused
		s.marks = s.marks[:copy(s.marks, s.marks[i:])]
	}
}

// add appends data to the bytes not decoded yet; with none left, data
// itself is decoded (borrowed until keep).
func (s *side) add(data []byte) {
	if len(s.buf) == 0 {
		s.buf, s.borrowed = data, true
		return
	}
	// buf lies within own: its bytes move to the front (unless there
	// already: a large frame building up), the segment goes after
	n := len(s.buf)
	if cap(s.own) == 0 || &s.own[:1][0] != &s.buf[0] {
		n = copy(s.own[:cap(s.own)], s.buf)
	}
	s.own = append(s.own[:n], data...)
	s.buf = s.own
}

// maxIdleBuf is the largest buffer a side keeps while it has no bytes
// waiting (a big frame's buffer is not held for the whole connection).
const maxIdleBuf = 64 << 10

// keep ends a Data call: bytes left of a borrowed segment are copied.
func (s *side) keep() {
	switch {
	case len(s.buf) == 0:
		s.buf = nil
		if cap(s.own) > maxIdleBuf {
			s.own = nil
		}
	case s.borrowed:
		s.own = append(s.own[:0], s.buf...)
		s.buf = s.own
	}
	s.borrowed = false
}

func (s *side) reset() {
	s.off += int64(len(s.buf))
	s.buf, s.marks = nil, nil
	s.sync = true
}

// Data implements decoder.StreamDecoder.
func (d *Decoder) Data(dir decoder.Dir, data []byte, t time.Time) {
	if len(data) == 0 {
		return
	}
	s := &d.sides[dir]
	if !s.began {
		s.began = true
		s.sync = !d.conn.SawSYN
	}
	s.add(data)
	end := s.off + int64(len(s.buf))
	switch n := len(s.marks); {
	case n > 0 && s.marks[n-1].t.Equal(t):
		s.marks[n-1].end = end // same capture time: one mark
	case n >= 1024:
		// A flood of tiny segments of one frame: keep the time of its
		// first byte, merge the next ones into later times.
		s.marks = append(s.marks[:1], s.marks[n/2:]...)
		fallthrough
	default:
		s.marks = append(s.marks, mark{end, t})
	}
	d.frames(dir, t)
	s.keep()
	d.flush()
}

// frames decodes every whole frame in the buffer of dir.
func (d *Decoder) frames(dir decoder.Dir, t time.Time) {
	s := &d.sides[dir]
	max := d.opts.maxFrame()
	for len(s.buf) > 0 {
		// 'A' is no frame type: the protocol header (any version) opens
		// the client's side, and a broker answers a bad one with its own.
		if s.buf[0] == 'A' {
			if n := min(len(s.buf), 4); bytes.Equal(s.buf[:n], protocolHeader[:n]) {
				if len(s.buf) < len(protocolHeader) {
					return
				}
				s.consume(len(protocolHeader))
				s.sync = false
				d.hook(frame{dir: dir, name: "protocol-header"})
				continue
			}
		}
		if s.sync {
			if !d.resync(dir, max) {
				return
			}
			continue // at a frame or the protocol header
		}
		if len(s.buf) < 7 {
			return
		}
		size, ok := plausible(s.buf, max)
		if !ok {
			d.broken(dir, fmt.Sprintf("bad frame header (type %d, size %d) at offset %d", s.buf[0], binary.BigEndian.Uint32(s.buf[3:7]), s.off))
			continue
		}
		if len(s.buf) < size+8 {
			return
		}
		if s.buf[7+size] != frameEnd {
			d.broken(dir, fmt.Sprintf("frame-end octet missing at offset %d", s.off+int64(7+size)))
			continue
		}
		start := s.timeAt(s.off)
		typ, ch := s.buf[0], binary.BigEndian.Uint16(s.buf[1:3])
		payload := s.buf[7 : 7+size]
		d.frame(dir, typ, ch, payload, start, t)
		s.consume(size + 8)
	}
}

// resync looks for the next frame boundary: the first position with a
// likely frame header whose frame-end octet is where its size says. It
// reports whether one was found. A candidate that cannot be checked yet
// is waited for (at most one frame of MaxFrame bytes), not passed over
// for a later one: what is found must not depend on how the bytes were
// cut into segments.
func (d *Decoder) resync(dir decoder.Dir, maxSize int) bool {
	s := &d.sides[dir]
	for p := range len(s.buf) {
		if s.buf[p] == 'A' {
			if n := min(len(s.buf)-p, 4); bytes.Equal(s.buf[p:p+n], protocolHeader[:n]) {
				d.skip(dir, p)
				return n == 4 && len(s.buf) >= len(protocolHeader)
			}
		}
		if p+7 > len(s.buf) {
			d.skip(dir, p) // the tail may still begin a frame
			return false
		}
		size, ok, sure := likely(s.buf[p:], maxSize)
		switch {
		case !ok:
			continue
		case !sure || p+7+size >= len(s.buf):
			d.skip(dir, p)
			return false
		case s.buf[p+7+size] == frameEnd:
			d.skip(dir, p)
			s.sync = false
			return true
		}
	}
	return false
}

// skip drops n bytes found between frames; the next exchange of dir
// begun gets a note saying so.
func (d *Decoder) skip(dir decoder.Dir, n int) {
	s := &d.sides[dir]
	s.skipped += n
	s.consume(n)
}

// broken handles a frame that cannot be a frame: content in progress in
// dir is cut, and the decoder looks for the next boundary.
func (d *Decoder) broken(dir decoder.Dir, why string) {
	s := &d.sides[dir]
	d.cutContent(dir, "amqp: "+why)
	d.skip(dir, 1)
	s.sync = true
}

// cutContent marks every message still arriving in dir truncated and done.
func (d *Decoder) cutContent(dir decoder.Dir, why string) {
	s := &d.sides[dir]
	for _, it := range d.queue {
		if it.msg != nil && !it.done && it.reqDir == dir {
			it.x.Truncated = true
			it.x.Notes = decoder.AppendNote(it.x.Notes, maxNotes, why)
			it.done = true
		}
	}
	clear(s.content)
}

func (d *Decoder) hook(f frame) {
	if d.onFrame != nil {
		d.onFrame(f)
	}
}

func from(dir decoder.Dir) string {
	if dir == decoder.ClientToServer {
		return "client"
	}
	return "broker"
}

// frame handles one whole frame of dir, begun at start and ended at end.
func (d *Decoder) frame(dir decoder.Dir, typ byte, ch uint16, p []byte, start, end time.Time) {
	s := &d.sides[dir]
	switch typ {
	case frameHeartbeat:
		d.hook(frame{dir: dir, typ: typ, name: "heartbeat"})
	case frameHeader:
		it := s.content[ch]
		var err error
		if it != nil && !it.header {
			err = parseHeader(it.msg, p, d.opts.names)
			it.header = true
			it.x.ReqEnd = end
			if err != nil {
				it.x.Notes = decoder.AppendNote(it.x.Notes, maxNotes, "bad content header: "+err.Error())
			}
			if it.msg.BodySize == 0 {
				d.complete(dir, ch, it)
			}
		}
		f := frame{dir: dir, typ: typ, channel: ch, name: "content-header", err: err}
		if it != nil {
			f.msg = it.msg
		}
		d.hook(f)
	case frameBody:
		if it := s.content[ch]; it != nil && it.header {
			m := it.msg
			first := m.BodyBytes == 0
			m.BodyBytes += uint64(len(p))
			it.x.ReqEnd = end
			maxBody := d.opts.maxBody()
			switch keep := maxBody - len(it.body); {
			case first && m.BodyBytes >= m.BodySize:
				// the whole body in one frame: read where it lies
				d.readBody(it, p[:min(maxBody, len(p))])
			case keep > 0:
				it.body = append(it.body, p[:min(keep, len(p))]...)
			}
			if m.BodyBytes >= m.BodySize {
				if m.BodyBytes > m.BodySize {
					it.x.Notes = decoder.AppendNote(it.x.Notes, maxNotes, fmt.Sprintf("body of %d bytes, header said %d", m.BodyBytes, m.BodySize))
				}
				d.complete(dir, ch, it)
			}
		}
		d.hook(frame{dir: dir, typ: typ, channel: ch, name: "content-body"})
	case frameMethod:
		d.method(dir, ch, p, start, end)
	}
}

// complete ends a message whose body has all arrived.
func (d *Decoder) complete(dir decoder.Dir, ch uint16, it *item) {
	it.done = true
	delete(d.sides[dir].content, ch)
	if !it.read {
		d.readBody(it, it.body)
	}
}

// readBody reads the envelope of a message's body, all of it there is
// (or its first MaxBody bytes). The envelope tells what the body holds
// (Redacted shows no body beside it): the body is kept only when it is
// all there is, or for --show-secrets.
func (d *Decoder) readBody(it *item, body []byte) {
	m := it.msg
	if m.BodyBytes > 0 && (m.ContentType == "" || strings.Contains(m.ContentType, "json")) {
		m.Oslo = d.opts.envelopes.read(body)
	}
	if m.Oslo == nil || m.Oslo.Error != "" || d.policy.Shows() {
		m.Body = string(body)
	}
	it.body, it.read = nil, true
}

func (d *Decoder) method(dir decoder.Dir, ch uint16, p []byte, start, end time.Time) {
	class, id := binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:])
	if bookkeeping(class, id) && d.onFrame == nil {
		return // see below; known before anything is made for it (a consumer acks every message)
	}
	x := &decoder.Exchange{Proto: "amqp", Conn: d.conn, ReqStart: start, ReqEnd: end}
	if isContent(class, id) {
		msg, err := parseMessage(ch, p, d.opts.names)
		msg.policy = d.policy
		d.hook(frame{dir: dir, typ: frameMethod, channel: ch, name: methodName(class, id), msg: msg, err: err})
		s := &d.sides[dir]
		if old := s.content[ch]; old != nil {
			old.x.Truncated = true
			old.x.Notes = decoder.AppendNote(old.x.Notes, maxNotes, "content cut short by the next method on its channel")
			old.done = true
		}
		x.Request, x.OneWay = msg, true
		if err != nil {
			x.Notes = decoder.AppendNote(x.Notes, maxNotes, err.Error())
		}
		it := &item{x: x, reqDir: dir, msg: msg}
		s.content[ch] = it
		d.push(it)
		return
	}
	m, err := parseMethod(ch, p)
	m.From, m.policy = from(dir), d.policy
	d.hook(frame{dir: dir, typ: frameMethod, channel: ch, name: m.Name, method: m, err: err})
	if err != nil {
		x.Notes = decoder.AppendNote(x.Notes, maxNotes, err.Error())
	}
	// A response to the oldest request waiting on this channel?
	for _, it := range d.queue {
		if !it.waiting || it.reqDir == dir || it.msg != nil || it.x.Request.(*Method).Channel != ch || it.req.class != class {
			continue
		}
		for _, r := range responses[it.req] {
			if r == id {
				it.x.Response, it.x.RespStart, it.x.RespEnd = m, start, end
				it.x.Notes = append(it.x.Notes, x.Notes...)
				it.waiting, it.done = false, true
				return
			}
		}
	}
	x.Request = m
	if _, sync := responses[methodID{class, id}]; sync && !m.NoWait {
		d.push(&item{x: x, waiting: true, reqDir: dir, req: methodID{class, id}})
		return
	}
	switch {
	case bookkeeping(class, id):
		return
	case isResponse(class, id):
		x.Truncated = true
		x.Notes = decoder.AppendNote(x.Notes, maxNotes, "response without request (sent before the capture began?)")
	}
	x.OneWay = true
	d.push(&item{x: x, done: true, reqDir: dir})
}

// bookkeeping reports whether a method is an ack, reject or nack
// (publisher confirms and consumer acks): bookkeeping, not a message.
func bookkeeping(class, id uint16) bool {
	return class == classBasic && (id == 80 || id == 90 || id == 120)
}

func isResponse(class, id uint16) bool {
	for req, rs := range responses {
		if req.class != class {
			continue
		}
		for _, r := range rs {
			if r == id && req.id != id {
				return true
			}
		}
	}
	return false
}

// push adds it to the queue in start order and keeps the queue bounded.
func (d *Decoder) push(it *item) {
	i := len(d.queue)
	for i > 0 && d.queue[i-1].x.ReqStart.After(it.x.ReqStart) {
		i--
	}
	d.queue = append(d.queue, nil)
	copy(d.queue[i+1:], d.queue[i:])
	d.queue[i] = it
	if s := &d.sides[it.reqDir]; s.skipped > 0 && !s.sync {
		it.x.Notes = decoder.AppendNote(it.x.Notes, maxNotes, fmt.Sprintf("skipped %d bytes to find a frame boundary", s.skipped))
		s.skipped = 0
	}
	for len(d.queue) > maxQueue {
		d.giveUp(d.queue[0], fmt.Sprintf("emitted in progress: more than %d exchanges waiting on this connection", maxQueue))
		d.pop()
	}
}

func (d *Decoder) giveUp(it *item, note string) {
	if it.done {
		return
	}
	it.x.Truncated = true
	it.x.Notes = decoder.AppendNote(it.x.Notes, maxNotes, note)
	it.done, it.waiting = true, false
	if it.msg != nil {
		s := &d.sides[it.reqDir]
		if s.content[it.msg.Channel] == it {
			delete(s.content, it.msg.Channel)
		}
	}
}

func (d *Decoder) pop() {
	it := d.queue[0]
	// the rest moves to the front (not resliced): the array is reused
	n := copy(d.queue, d.queue[1:])
	d.queue[n] = nil
	d.queue = d.queue[:n]
	if it.msg != nil && !it.read {
		d.readBody(it, it.body) // cut short: what arrived
	}
	d.emit(it.x)
}

// bound is the earliest start of a frame still arriving in either
// direction: no exchange begun after it may leave before it.
func (d *Decoder) bound() time.Time {
	var b time.Time
	for i := range d.sides {
		s := &d.sides[i]
		if len(s.buf) == 0 {
			continue // bytes kept while synchronising may begin a frame too
		}
		if t := s.timeAt(s.off); b.IsZero() || t.Before(b) {
			b = t
		}
	}
	return b
}

// flush emits the done exchanges at the front of the queue.
func (d *Decoder) flush() {
	b := d.bound()
	for len(d.queue) > 0 && d.queue[0].done && (b.IsZero() || !d.queue[0].x.ReqStart.After(b)) {
		d.pop()
	}
}

// Gap implements decoder.StreamDecoder: the frame and the content in
// progress in dir are cut, requests waiting for dir's response are marked
// (it may have been lost), and the decoder resynchronises.
func (d *Decoder) Gap(dir decoder.Dir, n int, t time.Time) {
	s := &d.sides[dir]
	what := "gap of unknown size"
	if n >= 0 {
		what = fmt.Sprintf("gap of %d bytes", n)
	}
	d.cutPartial(dir, what)
	d.cutContent(dir, what+" in the content")
	for _, it := range d.queue {
		if it.waiting && it.reqDir != dir {
			it.x.Truncated = true
			it.x.Notes = decoder.AppendNote(it.x.Notes, maxNotes, what+" where its response may have been")
		}
	}
	s.reset()
	s.began = true
	d.flush()
}

// cutPartial turns a method frame cut in dir into a truncated exchange.
func (d *Decoder) cutPartial(dir decoder.Dir, why string) {
	s := &d.sides[dir]
	if s.sync || len(s.buf) < 11 || s.buf[0] != frameMethod {
		return
	}
	m, _ := parseMethod(binary.BigEndian.Uint16(s.buf[1:3]), s.buf[7:])
	m.From, m.policy = from(dir), d.policy
	m.Error = ""
	start := s.timeAt(s.off)
	x := &decoder.Exchange{Proto: "amqp", Conn: d.conn, Request: m, ReqStart: start, ReqEnd: s.timeAt(s.off + int64(len(s.buf)) - 1), Truncated: true}
	x.OneWay = isContent(m.Class, m.ID)
	x.Notes = decoder.AppendNote(nil, maxNotes, "frame cut by "+why)
	d.push(&item{x: x, done: true, reqDir: dir})
	s.reset()
}

// End implements decoder.StreamDecoder.
func (d *Decoder) End(dir decoder.Dir, t time.Time) {
	d.cutPartial(dir, "the end of the connection")
	d.cutContent(dir, "connection closed in the middle of the content")
	for _, it := range d.queue {
		if it.waiting && it.reqDir != dir {
			d.giveUp(it, "connection closed before the response")
		}
	}
	d.sides[dir].reset()
	d.flush()
}

// Close implements decoder.StreamDecoder.
func (d *Decoder) Close(t time.Time) {
	for dir := range d.sides {
		d.cutPartial(decoder.Dir(dir), "the end of the capture")
		d.sides[dir].reset()
	}
	for _, it := range d.queue {
		switch {
		case it.msg != nil:
			d.giveUp(it, "capture ended in the middle of the content")
		default:
			d.giveUp(it, "no response captured")
		}
	}
	for len(d.queue) > 0 {
		d.pop()
	}
}

// Pending implements decoder.StreamDecoder.
func (d *Decoder) Pending() time.Time {
	var p time.Time
	if len(d.queue) > 0 {
		p = d.queue[0].x.ReqStart
	}
	if b := d.bound(); !b.IsZero() && (p.IsZero() || b.Before(p)) {
		p = b
	}
	return p
}

// Expire implements decoder.StreamDecoder: requests begun before before
// that still wait for their response are emitted truncated. A message
// still arriving is not cut, and nothing behind it leaves.
func (d *Decoder) Expire(before time.Time, why string) {
	for _, it := range d.queue {
		if !it.x.ReqStart.Before(before) || it.msg != nil && !it.done {
			break
		}
		if it.waiting {
			d.giveUp(it, "emitted in progress: "+why)
		}
	}
	d.flush()
}
