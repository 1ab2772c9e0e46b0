package memcache

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/redact"
)

// New returns the decoder for one memcache connection. It calls emit with
// one Exchange per command, in command order: a multi-key get is one
// exchange; noreply commands have a nil Response and no note; a reply
// without a command (the command was sent before the capture started, or
// lost in a gap) has a nil Request and ReqStart = ReqEnd = RespStart so
// that it sorts where it happened.
//
// Pipelined commands pair with replies in order. Quiet commands (binary
// getq/setq/…, meta q flag) may get no reply: binary replies pair by
// opcode and opaque, meta replies by opaque (O flag) or key (k flag), and
// a later reply (a noop/mn at the latest) ends the wait; a quiet
// retrieval without a reply was a miss.
func New(c *decoder.Conn, emit decoder.Emit, opts Options) decoder.StreamDecoder {
	d := &stream{conn: c, emit: emit, maxValue: opts.maxValue(), policy: opts.Redact}
	for i := range d.side {
		s := &d.side[i]
		s.dir = decoder.Dir(i)
		if c == nil || !c.SawSYN {
			s.state = stResync
			s.lineStart = true
			s.midStream = true
		}
	}
	return d
}

// maxValues bounds the values kept of one retrieval reply, maxNotes the
// notes a side collects for its next message (a flood of gaps or bad
// headers must not grow memory with the input).
const (
	maxValues = 4096
	maxNotes  = 16
)

func appendNote(notes []string, n string) []string {
	return decoder.AppendNote(notes, maxNotes-1, n)
}

// maxQueue bounds the commands waiting for replies. A server that never
// answers (its direction not captured) must not make the decoder keep
// every command: past this, the oldest is emitted without a reply.
const maxQueue = 1024

// maxHeld bounds the exchanges kept back, complete, because a message
// that began earlier is still being read (a reply with a huge value while
// the client sends noreply commands). Past it they are emitted anyway.
const maxHeld = 16 * maxQueue

type protoMode uint8

const (
	modeUnknown protoMode = iota
	modeText
	modeBinary
)

type sideState uint8

const (
	stStart    sideState = iota // the first byte decides text or binary
	stLine                      // reading a text line
	stData                      // counting a data block
	stSkipLine                  // discarding the rest of an over-long line
	stResync                    // looking for the start of a message
	stBinary                    // reading a binary header, extras and key
)

// side is the parsing state of one direction.
type side struct {
	dir   decoder.Dir
	state sideState
	pos   int64 // stream offset of the byte being looked at (data[0] in handlers)

	buf    []byte    // partial line, binary header+extras+key, or resync candidate
	bufT   time.Time // capture time of buf[0]
	bufPos int64     // stream offset of buf[0]
	marks  []mark    // arrival times of buf's bytes

	// data block being counted
	remain   int64 // bytes left, trailer included
	trailer  int64 // bytes of the CRLF trailer (text 2, binary 0)
	keep     []byte
	keepMax  int
	keepOff  bool // a gap fell inside the block: keep nothing more
	badTrail bool
	last     byte  // last byte of the block read
	dataPos  int64 // stream offset of the block's first byte
	next     int64 // stream offset after the line or header being handled

	lineStart bool     // resync: the next byte starts a line
	midStream bool     // resyncing because the capture started mid-connection
	skipped   int64    // bytes skipped by the resync in progress
	tailSkip  int64    // bytes skipped before the current message
	notes     []string // for the next message of this side

	cur *pending  // client: command whose data block is being read
	rep *reply    // server: reply in progress
	bh  binHeader // binary header of the packet in progress
}

// mark says that the bytes of side.buf from off on arrived at t.
type mark struct {
	off int
	t   time.Time
}

// pending is one command (or orphan reply) waiting to be emitted.
type pending struct {
	ex       decoder.Exchange
	req      *Request
	resp     *Response
	reqDone  bool
	want     bool // a reply is expected (text noreply and quit: false)
	quiet    bool // a reply may not come (binary quiet opcodes, meta q)
	answered bool
	binary   bool
	opcode   byte
	opaque   uint32
	mopaque  string // meta O flag
	seq      int    // command number on this connection
}

func (p *pending) note(s string) { p.ex.Notes = append(p.ex.Notes, s) }

// reply is a server reply being assembled.
type reply struct {
	resp       *Response
	start, end time.Time
	trunc      bool
	notes      []string

	multi     bool   // VALUE/STAT lines until END
	stats     bool   // any line until END
	skipToEnd bool   // a VALUE line was bad: skip lines until END
	metaValue bool   // VA: complete after its data block
	meta      string // meta reply word ("HD", "EN", "MN", ...)
	opaque    string // meta O flag
	key       string // meta k flag

	binary   bool
	opcode   byte
	binOpq   uint32
	status   uint16
	statPart bool // one packet of a binary stat reply
	dropping bool // maxValues reached: values are counted, not kept
}

// value is the value whose data block is being read, nil when none or
// when it is not kept.
func (r *reply) value() *Value {
	if n := len(r.resp.Values); n > 0 && !r.dropping {
		return &r.resp.Values[n-1]
	}
	return nil
}

type stream struct {
	conn       *decoder.Conn
	emit       decoder.Emit
	maxValue   int
	policy     *redact.Policy
	mode       protoMode
	side       [2]side
	queue      []*pending
	afterGap   bool // server bytes were lost: realign VALUE replies by key
	sawCommand bool
	seq        int        // commands seen
	waiting    []*pending // commands that may still wait for a reply, oldest first
	closed     bool
}

// Data implements decoder.StreamDecoder.
func (d *stream) Data(dir decoder.Dir, data []byte, t time.Time) {
	if d.closed || dir > decoder.ServerToClient {
		return
	}
	d.feed(&d.side[dir], data, t)
	d.flush()
}

func (d *stream) feed(s *side, data []byte, t time.Time) {
	for len(data) > 0 {
		var n int
		switch s.state {
		case stStart:
			d.start(s, data[0])
			continue
		case stLine:
			n = d.feedLine(s, data, t)
		case stData:
			n = d.feedData(s, data, t)
		case stSkipLine:
			n = len(data)
			if i := bytes.IndexByte(data, '\n'); i >= 0 {
				n = i + 1
				s.state = stLine
			}
		case stResync:
			n = d.feedResync(s, data, t)
		case stBinary:
			n = d.feedBinary(s, data, t)
		}
		s.pos += int64(n)
		data = data[n:]
	}
}

// start picks text or binary framing from a message's first byte.
func (d *stream) start(s *side, b byte) {
	magic := byte(magicRequest)
	if s.dir == decoder.ServerToClient {
		magic = magicResponse
	}
	if d.mode == modeUnknown {
		d.mode = modeText
		if b == magic {
			d.mode = modeBinary
		}
	}
	s.state = stLine
	if d.mode == modeBinary {
		s.state = stBinary
	}
}

func (d *stream) where(s *side, pos int64) string {
	return fmt.Sprintf("at offset %d of the %s stream", pos, streamName(s.dir))
}

func streamName(dir decoder.Dir) string {
	if dir == decoder.ClientToServer {
		return "client"
	}
	return "server"
}

// feedLine collects a text line and hands it on when its LF arrives.
func (d *stream) feedLine(s *side, data []byte, t time.Time) int {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		if len(s.buf) == 0 {
			s.bufT, s.bufPos = t, s.pos
		}
		if len(s.buf)+len(data) > maxLine {
			d.longLine(s, data, t)
			return len(data)
		}
		s.bufAppend(data, t)
		return len(data)
	}
	line, start, pos := data[:i+1], t, s.pos
	if len(s.buf)+i+1 > maxLine {
		if len(s.buf) == 0 {
			s.bufT, s.bufPos = t, s.pos
		}
		d.longLine(s, data[:i+1], t)
		s.state = stLine
		return i + 1
	}
	if len(s.buf) > 0 {
		s.buf = append(s.buf, line...)
		line, start, pos = s.buf, s.bufT, s.bufPos
	}
	s.next = s.pos + int64(i+1)
	d.line(s, trimEOL(line), start, pos, t, "")
	s.buf = s.buf[:0]
	return i + 1
}

// longLine handles a line over maxLine: what was read of it becomes a
// truncated message; the rest of the line is skipped.
func (d *stream) longLine(s *side, data []byte, t time.Time) {
	head := s.buf
	if len(head) < 512 {
		head = append(head, data[:min(len(data), 512-len(head))]...)
	}
	start, pos := s.bufT, s.bufPos
	if len(s.buf) == 0 {
		start, pos = t, s.pos
	}
	s.state = stSkipLine
	d.line(s, trimEOL(head), start, pos, t, fmt.Sprintf("%v (over %d bytes) %s", ErrLineTooLong, maxLine, d.where(s, pos)))
	s.state = stSkipLine
	s.buf = s.buf[:0]
}

// line handles one complete text line (without its CRLF). cut, when not
// empty, says why the line is incomplete; its message is then truncated
// and never followed by a data block.
func (d *stream) line(s *side, line []byte, start time.Time, pos int64, end time.Time, cut string) {
	if s.dir == decoder.ClientToServer {
		d.clientLine(s, line, start, pos, end, cut)
	} else {
		d.serverLine(s, line, start, pos, end, cut)
	}
}

func (d *stream) newPending(s *side, start time.Time) *pending {
	p := &pending{ex: decoder.Exchange{Proto: "memcache", Conn: d.conn, ReqStart: start}}
	p.ex.Notes, s.notes = s.notes, nil
	return p
}

func (d *stream) clientLine(s *side, line []byte, start time.Time, pos int64, end time.Time, cut string) {
	c := parseCommand(line)
	p := d.newPending(s, start)
	p.req, p.want, p.quiet, p.mopaque = c.req, c.want || c.quiet, c.quiet, c.opaque
	if c.err != nil {
		p.note(fmt.Sprintf("%v %s", c.err, d.where(s, pos)))
	}
	if cut != "" {
		p.ex.Truncated = true
		p.note(cut)
	}
	d.enqueue(p)
	if c.data >= 0 && cut == "" {
		s.cur = p
		d.startData(s, c.data, 2, d.maxValue)
		return
	}
	p.reqDone = true
	p.ex.ReqEnd = end
}

// startData starts counting a data block of n bytes plus trailer.
func (d *stream) startData(s *side, n, trailer int64, keepMax int) {
	s.state = stData
	s.dataPos = s.next
	s.remain = n + trailer
	s.trailer = trailer
	s.keep = s.keep[:0]
	s.keepMax = int(min(int64(keepMax), n))
	s.keepOff = false
	s.badTrail = false
}

func (d *stream) feedData(s *side, data []byte, t time.Time) int {
	n := int64(len(data))
	if n > s.remain {
		n = s.remain
	}
	chunk := data[:n]
	if valueLeft := s.remain - s.trailer; valueLeft > 0 {
		v := chunk[:min(n, valueLeft)]
		if !s.keepOff && len(s.keep) < s.keepMax {
			s.keep = append(s.keep, v[:min(len(v), s.keepMax-len(s.keep))]...)
		}
	}
	for k := int64(0); k < n; k++ {
		before := s.remain - k // bytes left including this one
		if before <= s.trailer && chunk[k] != "\r\n"[2-before] {
			s.badTrail = true
		}
	}
	s.remain -= n
	if n > 0 {
		s.last = chunk[n-1]
	}
	if s.remain == 0 {
		d.dataDone(s, t)
	}
	return int(n)
}

// dataDone finishes the message whose data block was just read.
func (d *stream) dataDone(s *side, t time.Time) {
	binary := s.trailer == 0
	if binary {
		s.state = stBinary
	} else {
		s.state = stLine
	}
	if s.dir == decoder.ClientToServer {
		p := s.cur
		s.cur = nil
		if p == nil {
			return
		}
		if len(s.keep) > 0 {
			p.req.Value = string(s.keep) // not over a binary delta
		}
		if s.badTrail {
			p.note(fmt.Sprintf("%v in %s (data block %s)", ErrBadDataChunk, p.req.Command, d.where(s, s.dataPos)))
		}
		p.reqDone = true
		p.ex.ReqEnd = t
		return
	}
	r := s.rep
	if r == nil {
		return
	}
	r.end = t
	if r.binary {
		d.binReplyData(r, s.keep)
		s.rep = nil
		d.deliver(r)
		return
	}
	if v := r.value(); v != nil {
		v.Data = string(s.keep)
		v.DataTruncated = v.DataTruncated || int64(len(s.keep)) < v.Bytes
	}
	if s.badTrail {
		r.notes = appendNote(r.notes, fmt.Sprintf("%v in VALUE (data block %s)", ErrBadDataChunk, d.where(s, s.dataPos)))
		if s.last != '\n' {
			// the declared length was wrong: the data line ends later
			s.state = stSkipLine
		}
	}
	if r.metaValue {
		s.rep = nil
		d.deliver(r)
	}
}

// serverLine handles one reply line.
func (d *stream) serverLine(s *side, line []byte, start time.Time, pos int64, end time.Time, cut string) {
	if r := s.rep; r != nil && r.multi {
		word, _, _ := bytes.Cut(line, []byte{' '})
		switch {
		case cut != "":
			r.trunc = true
			r.notes = append(r.notes, cut)
			r.end = end
			s.rep = nil
			d.deliver(r)
			return
		case bytes.Equal(word, resultEnd):
			r.end = end
			s.rep = nil
			d.deliver(r)
			return
		case !r.stats && bytes.Equal(word, resultValue):
			t := parseReply(line)
			d.addValue(s, r, &t, pos)
			return
		case r.stats && !bytes.Equal(word, resultError) && !bytes.Equal(word, resultClientError) &&
			!bytes.Equal(word, resultServerError):
			return
		case r.skipToEnd:
			return
		}
		// The reply ended without END: emit it and read this line afresh.
		r.trunc = true
		r.notes = append(r.notes, fmt.Sprintf("%v: %q before END %s", ErrBadReply, printable(line, 40), d.where(s, pos)))
		s.rep = nil
		d.deliver(r)
	}
	t := parseReply(line)
	r := &reply{resp: t.resp, start: start, end: end, opaque: t.opaque, key: t.key, meta: metaWord(t.word)}
	r.notes, s.notes = s.notes, nil
	head := d.head()
	statsHead := head != nil && head.req != nil && !head.binary && head.req.Command == "stats"
	if cut != "" {
		r.trunc = true
		r.notes = append(r.notes, cut)
		d.deliver(r)
		return
	}
	if t.err != nil && t.kind != replyValue && !(statsHead && t.kind == replySimple && r.resp.Result == "unknown") {
		r.notes = append(r.notes, fmt.Sprintf("%v %s", t.err, d.where(s, pos)))
	}
	if s.tailSkip > 0 && (t.kind == replyEnd || t.kind == replyStats) {
		// An END or STAT right after skipped bytes may end a reply whose
		// start was not captured. With no command waiting it surely does:
		// do not report it as a miss. After a gap it may: say so.
		switch {
		case head == nil:
			r.resp.Result = "unknown"
			r.trunc = true
			r.notes = append(r.notes, "end of a reply whose start was not captured")
		case d.afterGap:
			r.trunc = true
			r.notes = append(r.notes, "may be the end of a reply whose start was lost")
		}
	}
	s.tailSkip = 0
	switch t.kind {
	case replyEnd:
		if statsHead {
			r.resp.Result = "stats"
		}
		d.deliver(r)
	case replyValue:
		r.multi = true
		s.rep = r
		r.resp.Result = "hit"
		d.addValue(s, r, &t, pos)
	case replyMetaValue:
		r.metaValue = true
		r.resp.Values = []Value{t.value}
		if t.key != "" {
			r.resp.Hits = []string{t.key}
		}
		if t.data < 0 {
			d.deliver(r)
			return
		}
		s.rep = r
		d.startData(s, t.data, 2, d.maxValue)
	case replyStats:
		r.multi, r.stats = true, true
		s.rep = r
	default:
		if statsHead && r.resp.Result != "ok" && r.resp.Result != "error" &&
			r.resp.Result != "client_error" && r.resp.Result != "server_error" {
			// stats subcommands reply with lines of their own (ITEM,
			// PREFIX, ...) up to END
			r.resp.Result, r.resp.Message = "stats", ""
			r.multi, r.stats = true, true
			s.rep = r
			return
		}
		d.deliver(r)
	}
}

// addValue adds the VALUE line t to the retrieval reply r and starts its
// data block.
func (d *stream) addValue(s *side, r *reply, t *textReply, pos int64) {
	if len(r.resp.Values) < maxValues {
		r.resp.Values = append(r.resp.Values, t.value)
		r.resp.Hits = append(r.resp.Hits, t.value.Key)
	} else if !r.dropping {
		r.dropping = true // count the data blocks, keep nothing
		r.notes = append(r.notes, fmt.Sprintf("more than %d values: the rest not kept", maxValues))
	}
	if t.err != nil {
		r.notes = appendNote(r.notes, fmt.Sprintf("%v %s", t.err, d.where(s, pos)))
	}
	if t.data < 0 {
		// Without a length the data block cannot be skipped: skip lines
		// up to END instead.
		r.skipToEnd = true
		if v := r.value(); v != nil {
			v.DataTruncated = true
		}
		return
	}
	d.startData(s, t.data, 2, d.maxValue)
}

func metaWord(w []byte) string {
	for _, m := range [...]string{"VA", "HD", "EN", "NS", "EX", "NF", "MN", "ME"} {
		if string(w) == m {
			return m
		}
	}
	return ""
}

// bufAppend adds bytes that arrived at t to s.buf, remembering when each
// arrived in case they must be read again (refeed).
func (s *side) bufAppend(b []byte, t time.Time) {
	if len(s.buf) == 0 {
		s.bufT = t
		s.marks = s.marks[:0]
	}
	if n := len(s.marks); n == 0 || !s.marks[n-1].t.Equal(t) {
		s.marks = append(s.marks, mark{off: len(s.buf), t: t})
	}
	s.buf = append(s.buf, b...)
}

// refeed empties s.buf and reads its bytes [from, to) again in the
// current state, each with the time it arrived. They are the bytes just
// before the data of the call in progress.
func (d *stream) refeed(s *side, from, to int) {
	old := append([]byte(nil), s.buf[from:to]...)
	marks := append([]mark(nil), s.marks...)
	s.buf, s.marks = s.buf[:0], s.marks[:0]
	s.pos -= int64(len(old))
	for i, m := range marks {
		end := to
		if i+1 < len(marks) {
			end = min(marks[i+1].off, to)
		}
		if start := max(m.off, from); start < end {
			d.feed(s, old[start-from:end-from], m.t)
		}
	}
}

// feedResync looks for the start of a message: a command (client) or
// reply (server) word at a line start, or a plausible binary header. The
// bytes before it are skipped. s.buf, when not empty, holds a candidate
// start that needed more bytes.
func (d *stream) feedResync(s *side, data []byte, t time.Time) int {
	if len(s.buf) > 0 {
		all := append(append([]byte(nil), s.buf...), data[:min(len(data), 64)]...)
		switch d.candidate(s, all, s.lineStart) {
		case decoder.Yes:
			d.resynced(s, all[0])
			d.refeed(s, 0, len(s.buf))
			return 0
		case decoder.NeedMore:
			if len(s.buf)+len(data) <= 64 {
				s.bufAppend(data, t)
				return len(data)
			}
		}
		// not a message start after all: rescan what followed it
		s.lineStart = s.buf[0] == '\n'
		s.skipped++
		d.refeed(s, 1, len(s.buf))
		return 0
	}
	for p := 0; p < len(data); p++ {
		lineStart := (p == 0 && s.lineStart) || (p > 0 && data[p-1] == '\n')
		switch d.candidate(s, data[p:], lineStart) {
		case decoder.Yes:
			s.skipped += int64(p)
			d.resynced(s, data[p])
			return p
		case decoder.NeedMore:
			s.skipped += int64(p)
			s.lineStart = lineStart
			s.buf = s.buf[:0]
			s.bufAppend(data[p:], t)
			s.bufPos = s.pos + int64(p)
			return len(data)
		}
	}
	s.skipped += int64(len(data))
	s.lineStart = data[len(data)-1] == '\n'
	return len(data)
}

// candidate judges b as a message start.
func (d *stream) candidate(s *side, b []byte, lineStart bool) decoder.Verdict {
	magic := byte(magicRequest)
	if s.dir == decoder.ServerToClient {
		magic = magicResponse
	}
	if b[0] == magic && d.mode != modeText {
		h, ok := parseBinHeader(b)
		if !ok {
			return decoder.NeedMore
		}
		if h.plausible(s.dir) {
			return decoder.Yes
		}
	}
	if lineStart && d.mode != modeBinary {
		return textStart(s.dir, b, false)
	}
	return decoder.No
}

// resynced switches a side from resync to normal framing at a message
// starting with byte b.
func (d *stream) resynced(s *side, b byte) {
	if s.skipped > 0 {
		what := "skipped %d bytes to find a message start"
		if s.midStream {
			what = "capture started mid-connection: skipped %d bytes"
		}
		s.notes = appendNote(s.notes, fmt.Sprintf(what, s.skipped))
	}
	s.midStream = false
	s.tailSkip, s.skipped = s.skipped, 0
	d.start(s, b)
}

// feedBinary collects a binary header, extras and key.
func (d *stream) feedBinary(s *side, data []byte, t time.Time) int {
	if len(s.buf) == 0 {
		s.bufPos = s.pos
	}
	need := binHeaderLen
	if len(s.buf) >= binHeaderLen {
		need += s.bh.extLen + s.bh.keyLen
	}
	prev := len(s.buf)
	take := min(need-len(s.buf), len(data))
	s.bufAppend(data[:take], t)
	if prev < binHeaderLen && len(s.buf) == binHeaderLen {
		h, _ := parseBinHeader(s.buf)
		magic := byte(magicRequest)
		if s.dir == decoder.ServerToClient {
			magic = magicResponse
		}
		if h.magic != magic || !h.consistent() {
			note := fmt.Sprintf("%v (magic 0x%02x, body %d, extras %d, key %d) %s",
				ErrBadHeader, h.magic, h.bodyLen, h.extLen, h.keyLen, d.where(s, s.bufPos))
			s.notes = appendNote(s.notes, note)
			// Look for a header from the byte after this one's start:
			// re-feed the bytes of earlier calls, leave this call's to
			// the loop.
			s.state = stResync
			s.lineStart = false
			s.skipped++
			if prev == 0 {
				s.buf = s.buf[:0]
				return 1
			}
			d.refeed(s, 1, prev)
			return 0
		}
		s.bh = h
		need += h.extLen + h.keyLen
	}
	if len(s.buf) < need {
		return take
	}
	h := s.bh
	extras := s.buf[binHeaderLen : binHeaderLen+h.extLen]
	key := s.buf[binHeaderLen+h.extLen : need]
	s.next = s.pos + int64(take)
	d.binPacket(s, &h, extras, key, s.bufT, t)
	s.buf = s.buf[:0]
	vlen := h.valueLen()
	keepMax := d.maxValue
	if s.dir == decoder.ServerToClient && (!binOpcodes[h.opcode].retrieval || h.status != 0) {
		keepMax = max(keepMax, 256) // messages, counters, versions
	}
	d.startData(s, vlen, 0, keepMax)
	if vlen == 0 {
		s.state = stBinary
		d.dataDone(s, t)
	}
	return take
}

// binPacket handles a binary packet's header, extras and key.
func (d *stream) binPacket(s *side, h *binHeader, extras, key []byte, start, end time.Time) {
	if s.dir == decoder.ClientToServer {
		op := binOpcodes[h.opcode]
		p := d.newPending(s, start)
		p.req = binRequest(h, extras, key)
		p.binary, p.want, p.quiet = true, true, op.quiet
		p.opcode, p.opaque = h.opcode, h.opaque
		p.ex.ReqEnd = end
		d.enqueue(p)
		s.cur = p
		return
	}
	r := &reply{resp: binResponse(h, extras, key), start: start, end: end,
		binary: true, opcode: h.opcode, binOpq: h.opaque, status: h.status}
	r.notes, s.notes = s.notes, nil
	r.statPart = binOpcodes[h.opcode].name == "stat" && h.status == 0 && len(key) > 0
	s.rep = r
}

// binReplyData stores the value of a binary reply.
func (d *stream) binReplyData(r *reply, data []byte) {
	resp := r.resp
	switch {
	case len(resp.Values) == 1:
		v := &resp.Values[0]
		v.Data = string(data[:min(len(data), d.maxValue)])
		v.DataTruncated = int64(len(v.Data)) < v.Bytes
	case r.status == 0 && resp.Result == "value" && len(data) == 8:
		resp.Message = strconv.FormatUint(binary.BigEndian.Uint64(data), 10)
	case r.status == 0 && resp.Result == "version", r.status != 0:
		resp.Message = printable(data, 256)
	}
}

// enqueue adds a command (or orphan reply) in start order.
func (d *stream) enqueue(p *pending) {
	d.sawCommand = true
	d.seq++
	p.seq = d.seq
	d.insert(p)
	if p.want {
		d.waiting = append(d.waiting, p)
	}
	// Give up on replies more than maxQueue commands old. Counting
	// commands, not queue length, keeps this independent of when the
	// queue is flushed (and so of how the bytes were split).
	for len(d.waiting) > 0 {
		w := d.waiting[0]
		if !w.answered && (w.seq > d.seq-maxQueue || !w.reqDone) {
			break
		}
		if !w.answered {
			w.answered = true
			w.ex.Truncated = true
			w.note(fmt.Sprintf("no reply seen within %d later commands", maxQueue))
		}
		d.waiting[0] = nil
		d.waiting = d.waiting[1:]
	}
}

// insert queues p in start order: a reply without a command may have
// begun before a command still being read, and the other way round.
func (d *stream) insert(p *pending) {
	i := len(d.queue)
	for i > 0 && d.queue[i-1].ex.ReqStart.After(p.ex.ReqStart) {
		i--
	}
	d.queue = slices.Insert(d.queue, i, p)
}

// head is the oldest command still waiting for a reply.
func (d *stream) head() *pending {
	for _, p := range d.queue {
		if p.want && !p.answered {
			return p
		}
	}
	return nil
}

// deliver pairs a complete reply with its command.
func (d *stream) deliver(r *reply) {
	var p *pending
	if r.binary {
		p = d.matchBinary(r)
	} else {
		p = d.matchText(r)
	}
	if p == nil {
		p = &pending{ex: decoder.Exchange{Proto: "memcache", Conn: d.conn,
			ReqStart: r.start, ReqEnd: r.start, Truncated: true}, reqDone: true}
		if d.sawNoCommand() {
			p.note("reply to a command sent before the capture started")
		} else {
			p.note("reply without a command")
		}
		d.insert(p)
	}
	if r.statPart {
		if p.resp == nil {
			p.resp = r.resp
			p.resp.Values, p.resp.Hits = nil, nil
			p.ex.RespStart = r.start
		}
		p.ex.RespEnd = r.end
		p.ex.Notes = append(p.ex.Notes, r.notes...)
		p.ex.Truncated = p.ex.Truncated || r.trunc
		return
	}
	if p.resp == nil || p.ex.RespStart.IsZero() {
		p.ex.RespStart = r.start
	}
	p.resp = r.resp
	p.ex.RespEnd = r.end
	p.ex.Notes = append(p.ex.Notes, r.notes...)
	p.ex.Truncated = p.ex.Truncated || r.trunc
	p.answered = true
	refine(p)
	d.afterGap = false
}

// sawNoCommand reports whether the capture started mid-connection and
// no client command has been seen yet.
func (d *stream) sawNoCommand() bool {
	return !d.sawCommand && (d.conn == nil || !d.conn.SawSYN)
}

func (d *stream) matchText(r *reply) *pending {
	for i, p := range d.queue {
		if p.answered || !p.want || p.binary || p.req == nil {
			continue
		}
		if p.quiet && !quietOwns(p, r) {
			p.answered = true // its reply was suppressed
			continue
		}
		if d.afterGap && len(r.resp.Hits) > 0 && !hasKey(p.req, r.resp.Hits[0]) {
			for j := i + 1; j < len(d.queue); j++ {
				q := d.queue[j]
				if q.answered || !q.want || q.binary || q.req == nil || !hasKey(q.req, r.resp.Hits[0]) {
					continue
				}
				for _, lost := range d.queue[i:j] {
					if lost.want && !lost.answered {
						lost.answered = true
						lost.ex.Truncated = true
						lost.note("reply lost in a capture gap")
					}
				}
				return q
			}
		}
		return p
	}
	return nil
}

// quietOwns reports whether reply r can be the reply of the quiet meta
// command p; if not, p's reply was suppressed.
func quietOwns(p *pending, r *reply) bool {
	if r.meta == "MN" {
		return p.req.Command == "mn"
	}
	if r.opaque != "" && p.mopaque != "" {
		return r.opaque == p.mopaque
	}
	if r.key != "" && len(p.req.Keys) == 1 {
		return r.key == p.req.Keys[0]
	}
	switch p.req.Command {
	case "mg":
		return r.meta != "EN" // q hides misses
	case "ms", "md":
		return r.meta != "HD" // q hides success
	}
	return true
}

func hasKey(r *Request, k string) bool {
	for _, x := range r.Keys {
		if x == k {
			return true
		}
	}
	return false
}

// matchBinary pairs a binary reply by opcode and opaque. Commands before
// it that got no reply were quiet (no reply on success) or lost theirs.
func (d *stream) matchBinary(r *reply) *pending {
	for i, p := range d.queue {
		if p.answered || !p.want || !p.binary || p.opcode != r.opcode || p.opaque != r.binOpq {
			continue
		}
		for _, q := range d.queue[:i] {
			if q.answered || !q.want || !q.binary || !q.reqDone {
				continue
			}
			q.answered = true
			if !q.quiet {
				q.ex.Truncated = true
				q.note("no reply seen (a later command was answered)")
			}
		}
		return p
	}
	return nil
}

// refine sets results that depend on the command: hit/miss/partial for
// multi-key gets, what meta HD means for each meta command, the key of
// binary get replies.
func refine(p *pending) {
	req, resp := p.req, p.resp
	if req == nil || resp == nil {
		return
	}
	if p.binary {
		if len(resp.Values) == 1 && resp.Values[0].Key == "" && len(req.Keys) > 0 {
			resp.Values[0].Key = req.Keys[0]
			resp.Hits = []string{req.Keys[0]}
		}
		return
	}
	switch req.Command {
	case "get", "gets", "gat", "gats":
		if resp.Result != "hit" && resp.Result != "miss" {
			return
		}
		want := map[string]bool{}
		for _, k := range req.Keys {
			want[k] = true
		}
		got := map[string]bool{}
		for _, k := range resp.Hits {
			if want[k] {
				got[k] = true
			}
		}
		switch {
		case len(want) == 0:
		case len(got) == 0 && len(resp.Hits) == 0:
			resp.Result = "miss"
		case len(got) == len(want):
			resp.Result = "hit"
		default:
			resp.Result = "partial"
		}
	case "mg":
		if resp.Result == "ok" || resp.Result == "hit" {
			resp.Result = "hit"
			if len(resp.Values) == 1 && resp.Values[0].Key == "" && len(req.Keys) == 1 {
				resp.Values[0].Key = req.Keys[0]
			}
			if len(resp.Hits) == 0 && len(req.Keys) == 1 {
				resp.Hits = []string{req.Keys[0]}
			}
		}
	case "ms":
		if resp.Result == "ok" {
			resp.Result = "stored"
		}
	case "md":
		if resp.Result == "ok" {
			resp.Result = "deleted"
		}
	case "ma":
		if resp.Result == "hit" && len(resp.Values) == 1 {
			resp.Result, resp.Message = "value", resp.Values[0].Data
			resp.Values, resp.Hits = nil, nil
		}
	case "stats":
		if resp.Result == "miss" {
			resp.Result = "stats"
		}
	}
}

// flush emits the commands at the front of the queue that are complete,
// but none that began after a message still being read: that one may
// become an exchange of its own, and exchanges leave in start order.
func (d *stream) flush() {
	hold := d.reading()
	if len(d.queue) > maxHeld {
		hold = time.Time{} // memory first: start order may suffer
	}
	n := 0
	for _, p := range d.queue {
		if !p.reqDone || (p.want && !p.answered) || (!hold.IsZero() && p.ex.ReqStart.After(hold)) {
			break
		}
		d.emitPending(p)
		n++
	}
	if n > 0 {
		clear(d.queue[:n])
		d.queue = d.queue[n:]
		if len(d.queue) == 0 {
			d.queue = d.queue[:0:0]
		}
	}
}

func (d *stream) emitPending(p *pending) {
	e := p.ex
	if p.req != nil {
		p.req.policy = d.policy
		e.Request = p.req
	}
	if p.resp != nil {
		p.resp.policy = d.policy
		e.Response = p.resp
	} else {
		e.RespStart, e.RespEnd = time.Time{}, time.Time{}
	}
	if d.emit != nil {
		d.emit(&e)
	}
}

// Gap implements decoder.StreamDecoder. A gap inside a data block is
// counted as part of it (the value is then incomplete); anywhere else the
// message in progress ends there and the side resynchronises.
func (d *stream) Gap(dir decoder.Dir, n int, t time.Time) {
	if d.closed || dir > decoder.ServerToClient {
		return
	}
	s := &d.side[dir]
	what := fmt.Sprintf("gap of %d bytes in the %s stream", n, streamName(dir))
	if n < 0 {
		what = fmt.Sprintf("gap of unknown size in the %s stream", streamName(dir))
	}
	if s.state == stData && n >= 0 && int64(n) <= s.remain {
		s.keepOff = true
		s.remain -= int64(n)
		s.pos += int64(n)
		if s.dir == decoder.ClientToServer && s.cur != nil {
			s.cur.ex.Truncated = true
			s.cur.note(what + " inside the data block")
		} else if r := s.rep; r != nil {
			r.trunc = true
			r.notes = appendNote(r.notes, what+" inside a value")
			if v := r.value(); v != nil {
				v.DataTruncated = true
			}
		}
		if s.remain == 0 {
			d.dataDone(s, t)
		}
		d.flush()
		return
	}
	d.cut(s, t, what)
	if n > 0 {
		s.pos += int64(n)
	}
	s.state = stResync
	s.lineStart = true
	s.skipped = 0
	s.notes = appendNote(s.notes, "after a "+what)
	if dir == decoder.ServerToClient {
		d.afterGap = true
	}
	d.flush()
}

// cut ends the message in progress on side s: it is emitted truncated
// with the note why.
func (d *stream) cut(s *side, t time.Time, why string) {
	valueCut := false
	switch s.state {
	case stLine:
		if len(s.buf) > 0 {
			line := append([]byte(nil), s.buf...)
			s.buf = s.buf[:0]
			d.line(s, trimEOL(line), s.bufT, s.bufPos, t, fmt.Sprintf("%s: line incomplete (%d bytes)", why, len(line)))
		}
	case stData:
		if p := s.cur; p != nil {
			s.cur = nil
			if len(s.keep) > 0 {
				p.req.Value = string(s.keep)
			}
			p.reqDone = true
			p.ex.ReqEnd = t
			p.ex.Truncated = true
			p.note(fmt.Sprintf("%s: data block incomplete (%d bytes missing)", why, max(s.remain-s.trailer, 0)))
		} else if r := s.rep; r != nil {
			if v := r.value(); v != nil {
				v.Data = string(s.keep)
				v.DataTruncated = true
			}
			r.notes = append(r.notes, why+": value incomplete")
			valueCut = true
		}
		s.state = stLine
		if s.trailer == 0 {
			s.state = stBinary
		}
	case stBinary:
		if len(s.buf) > 0 {
			s.notes = appendNote(s.notes, fmt.Sprintf("%s: binary header incomplete (%d bytes) %s", why, len(s.buf), d.where(s, s.bufPos)))
			s.buf = s.buf[:0]
		}
	case stSkipLine:
		s.state = stLine
	case stResync:
		s.buf = s.buf[:0]
	}
	if r := s.rep; r != nil {
		// a multi-line reply (VALUE ... END) or a value cut above
		s.rep = nil
		if !valueCut {
			r.notes = append(r.notes, why+": reply incomplete")
		}
		r.trunc = true
		r.end = t
		d.deliver(r)
	}
	if p := s.cur; p != nil { // cannot happen outside stData; be safe
		s.cur = nil
		p.reqDone = true
		p.ex.ReqEnd = t
		p.ex.Truncated = true
	}
}

// End implements decoder.StreamDecoder: the message in progress in dir is
// incomplete; after the server closes, no command gets a reply.
func (d *stream) End(dir decoder.Dir, t time.Time) {
	if d.closed || dir > decoder.ServerToClient {
		return
	}
	d.cut(&d.side[dir], t, "connection closed")
	if dir == decoder.ServerToClient {
		d.noMoreReplies("server closed the connection before replying")
	}
	d.flush()
}

// noMoreReplies gives up on every reply still awaited.
func (d *stream) noMoreReplies(why string) {
	for _, p := range d.queue {
		if p.want && !p.answered && p.reqDone {
			p.answered = true
			if !p.quiet {
				p.ex.Truncated = true
				p.note(why)
			}
		}
	}
}

// Close implements decoder.StreamDecoder.
func (d *stream) Close(t time.Time) {
	if d.closed {
		return
	}
	d.cut(&d.side[decoder.ClientToServer], t, "end of capture")
	d.cut(&d.side[decoder.ServerToClient], t, "end of capture")
	for _, p := range d.queue {
		if !p.reqDone {
			p.reqDone = true
			p.ex.Truncated = true
			if p.ex.ReqEnd.IsZero() {
				p.ex.ReqEnd = t
			}
		}
	}
	d.noMoreReplies("no reply before the end of the capture")
	d.flush()
	d.closed = true
}

// Expire implements decoder.StreamDecoder: commands sent before t whose
// reply has not begun are emitted without it.
func (d *stream) Expire(before time.Time, why string) {
	if d.closed {
		return
	}
	srv := &d.side[decoder.ServerToClient]
	busy := srv.rep != nil || len(srv.buf) > 0 // a reply, likely the oldest's, is arriving
	for _, w := range d.waiting {
		if !w.ex.ReqStart.Before(before) {
			break
		}
		if w.answered || !w.reqDone {
			continue
		}
		if busy {
			busy = false
			continue
		}
		w.answered = true
		if !w.quiet {
			w.ex.Truncated = true
			w.note("emitted in progress: " + why)
		}
	}
	d.flush()
}

// Pending implements decoder.StreamDecoder: the earlier of the oldest
// queued command and the oldest message still being read.
func (d *stream) Pending() time.Time {
	p := d.reading()
	if len(d.queue) > 0 && (p.IsZero() || d.queue[0].ex.ReqStart.Before(p)) {
		p = d.queue[0].ex.ReqStart
	}
	return p
}

// reading is the start of the oldest message being read that is not yet
// in the queue: a command line or header, a resync candidate, a reply
// (which may turn out to have no command). Zero when there is none.
func (d *stream) reading() time.Time {
	var p time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (p.IsZero() || t.Before(p)) {
			p = t
		}
	}
	for i := range d.side {
		s := &d.side[i]
		if len(s.buf) > 0 && s.state != stData && s.state != stSkipLine {
			earliest(s.bufT)
		}
		if s.rep != nil {
			earliest(s.rep.start)
		}
	}
	return p
}
