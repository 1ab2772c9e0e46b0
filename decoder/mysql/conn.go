package mysql

import (
	"fmt"
	"slices"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/redact"
	"github.com/flowmap/flowmap/internal/memo"
)

const (
	client = decoder.ClientToServer
	server = decoder.ServerToClient
)

// Limits on what one connection keeps.
const (
	serverKeep   = 2048    // payload bytes kept of OK/ERR/greeting/... packets
	rowKeep      = 32      // of rows and column definitions: enough for an OK
	maxStmts     = 1024    // prepared statements remembered
	maxColumns   = 1 << 16 // more is taken for garbage, not a column count
	maxNotes     = 8       // notes per exchange
	handshakeMin = 8 << 10 // client keep floor, for handshake attributes
	// maxQueue bounds the commands awaiting a response. Clients do not
	// pipeline, so more means the server's replies are not in the capture:
	// past it the oldest is emitted without its response.
	maxQueue = 256
)

// dirMode is how a direction's bytes are read.
type dirMode uint8

const (
	modeAligned dirMode = iota // bytes are read as packets
	modeScan                   // client: looking for a command to resynchronise on
	modeDrop                   // server: bytes dropped until the client's next command
	modeDead                   // nothing more is decoded
)

// stream is one direction of the connection.
type stream struct {
	mode dirMode
	fr   framer
	z    zframer
	comp bool   // compressed protocol is on
	scan []byte // modeScan: bytes not yet judged
	seen int64  // bytes delivered so far
}

type phase uint8

const (
	phaseStart   phase = iota // nothing decoded yet
	phaseLogin                // greeting or handshake response seen
	phaseCommand              // command phase
	phaseDead                 // TLS or a replication stream: not decoded
)

// rstate is what an exchange expects next from the server.
type rstate uint8

const (
	rsFirst         rstate = iota // first packet of a response or of the next result
	rsColDefs                     // column definitions
	rsColEOF                      // EOF after column definitions (absent with DEPRECATE_EOF)
	rsRows                        // rows until EOF/OK/ERR
	rsPrepParams                  // COM_STMT_PREPARE: parameter definitions
	rsPrepParamsEOF               // ... and their EOF
	rsPrepCols                    // ... column definitions
	rsPrepTailEOF                 // ... and their EOF (may be absent: done at the next command)
	rsFieldList                   // COM_FIELD_LIST: column definitions until EOF
	rsAuth                        // login / COM_CHANGE_USER: OK, ERR, auth switch, more data
	rsInfile                      // LOCAL INFILE: waiting for the client's file packets
	rsLost                        // the response's bytes were lost; done at the next command
	rsDone
)

// exch is an exchange being decoded.
type exch struct {
	x       decoder.Exchange
	req     Request
	resp    Response
	cmd     byte
	login   bool
	state   rstate
	done    bool
	nextSeq byte // sequence id of the next packet of this exchange
	hasResp bool // a server packet of this exchange was seen
	cols    int64
	params  int64
	// effects applied when the command succeeds
	newDB      string
	setDB      bool
	newUser    string
	setUser    bool
	infile     int64 // LOCAL INFILE bytes sent
	handshaked bool  // login: handshake response seen
}

type stmt struct {
	query string
	bytes int
}

// conn decodes one connection. It implements decoder.StreamDecoder.
type conn struct {
	c        *decoder.Conn
	emit     decoder.Emit
	maxQuery int
	texts    *memo.Interner // nil: every query its own string
	policy   *redact.Policy
	dirs     [2]stream
	phase    phase

	greeting  *greeting
	caps      uint64
	capsKnown bool
	eofMode   uint8 // 0 unknown, 1 EOF packets, 2 CLIENT_DEPRECATE_EOF
	user      string
	userKnown bool
	db        string
	compress  bool

	queue       []*exch
	awaiting    int     // exchanges in queue not yet done
	lingering   []*exch // exchanges that may be in a state the next command ends
	login       *exch
	stmts       map[uint32]stmt
	stmtOrder   []uint32
	lastPrepare *stmt
	closed      bool
}

// New returns the decoder for one connection. When c.SawSYN is false the
// decoder looks for the first plausible client command and decodes from
// there; the server's bytes before that command's reply are dropped.
func New(c *decoder.Conn, emit decoder.Emit, opts Options) decoder.StreamDecoder {
	d := &conn{c: c, emit: emit, maxQuery: opts.maxQuery(), policy: opts.Redact, texts: opts.texts}
	if c == nil {
		d.c = &decoder.Conn{}
	}
	keep := max(d.maxQuery+16, handshakeMin)
	d.dirs[client].fr.keep = keep
	d.dirs[server].fr.keep = serverKeep
	if !d.c.SawSYN {
		d.dirs[client].mode = modeScan
		d.dirs[server].mode = modeDrop
	}
	return d
}

// Data implements decoder.StreamDecoder.
func (d *conn) Data(dir decoder.Dir, data []byte, t time.Time) {
	if dir > server || d.closed {
		return
	}
	s := &d.dirs[dir]
	if s.seen == 0 && dir == server && s.mode == modeDrop && d.phase == phaseStart &&
		sniffGreeting(data) == decoder.Yes {
		// The SYN was missed but the connection's start was not.
		s.mode = modeAligned
		if d.dirs[client].seen == 0 {
			d.dirs[client].mode = modeAligned
		}
	}
	s.seen += int64(len(data))
	if dir == server && s.mode == modeDrop && d.dirs[client].mode == modeScan && len(d.dirs[client].scan) > 0 {
		// The server answers: whatever the client sent is complete. A
		// command waiting for more bytes was a false start; look again.
		if replay := d.scanBuf(true); replay != nil {
			d.process(client, replay, t)
		}
	}
	if dir == server && s.mode == modeAligned && d.head() == nil && d.phase == phaseCommand {
		d.clientLied(t)
	}
	d.process(dir, data, t)
}

// process reads data according to the direction's mode.
func (d *conn) process(dir decoder.Dir, data []byte, t time.Time) {
	s := &d.dirs[dir]
	for len(data) > 0 {
		switch s.mode {
		case modeAligned:
			n := d.feed(dir, data, t)
			if n <= 0 {
				return
			}
			data = data[n:]
		case modeScan:
			data = d.scan(data, t)
		default:
			return
		}
	}
}

// feed reads aligned bytes until a packet (or compressed packet) is done.
func (d *conn) feed(dir decoder.Dir, data []byte, t time.Time) int {
	s := &d.dirs[dir]
	if s.comp {
		n, payload, ok := s.z.feed(data, t)
		if ok {
			ulen := s.z.ulen
			err := s.z.inflate(payload, ulen, func(b []byte) bool {
				for len(b) > 0 && s.mode == modeAligned {
					m, p := s.fr.feed(b, t)
					b = b[m:]
					if p != nil {
						d.deliver(dir, p, t)
					}
				}
				return s.mode == modeAligned
			})
			if err != nil && s.mode == modeAligned {
				d.desync(dir, t, "compressed packet: "+err.Error())
			}
		}
		return n
	}
	n, p := s.fr.feed(data, t)
	if p != nil {
		d.deliver(dir, p, t)
	}
	return n
}

// deliver hands a framed packet to the role layer.
func (d *conn) deliver(dir decoder.Dir, p *packet, t time.Time) {
	s := &d.dirs[dir]
	if s.fr.badSeq {
		s.fr.badSeq = false
		d.lostPacket(dir, p)
		d.desync(dir, t, fmt.Sprintf("continuation packet out of sequence after %d bytes", p.size))
		return
	}
	if dir == client {
		d.clientPacket(p, t)
	} else {
		d.serverPacket(p, t)
	}
	if d.phase != phaseDead {
		d.setServerKeep()
	}
	d.flush()
}

// setServerKeep keeps little of rows and column definitions.
func (d *conn) setServerKeep() {
	keep := serverKeep
	if ex := d.head(); ex != nil {
		switch ex.state {
		case rsColDefs, rsRows, rsPrepParams, rsPrepCols, rsFieldList:
			keep = rowKeep
		}
	}
	d.dirs[server].fr.keep = keep
}

// scan looks for a command packet in the client's bytes. It returns the
// bytes to read aligned from (the candidate onwards) once one is found.
func (d *conn) scan(data []byte, t time.Time) []byte {
	s := &d.dirs[client]
	s.scan = append(s.scan, data...)
	return d.scanBuf(false)
}

// scanBuf judges the buffered client bytes at every offset; final says the
// server has answered, so a command must be complete in them.
func (d *conn) scanBuf(final bool) []byte {
	s := &d.dirs[client]
	buf := s.scan
	for i := 0; i < len(buf); i++ {
		v := candNo
		comp := false
		if !d.capsKnown || !d.compress {
			_, v = commandCandidate(buf[i:], final)
		}
		if v == candNo && (d.compress || !d.capsKnown) {
			if _, cv := compressedCandidate(buf[i:], final); cv != candNo {
				v, comp = cv, true
			}
		}
		switch v {
		case candMore:
			s.scan = append(s.scan[:0], buf[i:]...)
			return nil
		case candYes:
			s.scan = nil
			s.mode = modeAligned
			s.fr.reset()
			s.z.reset()
			if comp && !d.compress {
				d.compress = true
			}
			s.comp = d.compress
			d.alignServer()
			return buf[i:]
		}
	}
	s.scan = s.scan[:0]
	return nil
}

// clientLied handles a server answer that arrives while the client's
// command packet is still incomplete: its declared length was false. The
// command is kept, cut where the next command seems to start, and the
// client stream is searched again.
func (d *conn) clientLied(t time.Time) {
	cs := &d.dirs[client]
	if cs.mode != modeAligned || cs.comp {
		return
	}
	p, ok := cs.fr.partial()
	if !ok || p.seq != 0 || len(p.data) == 0 || int(p.data[0]) >= len(commandNames) {
		return
	}
	cp := *p
	cp.data = slices.Clone(p.data)
	for i := 1; i < len(cp.data); i++ {
		if _, v := commandCandidate(cp.data[i:], false); v != candNo {
			cp.data = cp.data[:i]
			break
		}
	}
	cp.size = int64(len(cp.data))
	cp.end = t
	if ex := d.lostPacket(client, &cp); ex != nil {
		ex.note("declared length longer than the command")
	}
	d.desync(client, t, "declared length longer than the command")
}

// alignServer makes the server's next bytes the start of a response.
func (d *conn) alignServer() {
	s := &d.dirs[server]
	if s.mode == modeDead {
		return
	}
	s.mode = modeAligned
	s.fr.reset()
	s.z.reset()
	s.comp = d.compress
}

// desync records that direction dir lost its packet boundaries.
func (d *conn) desync(dir decoder.Dir, t time.Time, why string) {
	s := &d.dirs[dir]
	if s.mode == modeDead {
		return
	}
	s.fr.reset()
	s.z.reset()
	if dir == client {
		s.mode = modeScan
		s.scan = s.scan[:0]
		if ex := d.tail(); ex != nil && !ex.done {
			ex.note("client stream lost: " + why)
		}
		return
	}
	s.mode = modeDrop
	for _, ex := range d.queue {
		if !ex.done {
			if ex.hasResp && ex.resp.Result == "" {
				ex.resp.Result = "unknown"
			}
			ex.x.Truncated = true
			ex.note("response lost: " + why)
			d.linger(ex, rsLost)
		}
	}
	if d.phase == phaseLogin {
		d.phase = phaseCommand
	}
	d.flush()
}

// lostPacket handles a packet cut by a gap or a framing error: a client
// command becomes a truncated exchange, a server packet truncates the
// exchange it belongs to.
func (d *conn) lostPacket(dir decoder.Dir, p *packet) *exch {
	if dir == server {
		if ex := d.head(); ex != nil {
			ex.x.Truncated = true
		}
		return nil
	}
	if p.seq != 0 || len(p.data) == 0 || d.phase != phaseCommand && d.phase != phaseStart {
		if ex := d.tail(); ex != nil && !ex.done {
			ex.x.Truncated = true
		}
		return nil
	}
	if int(p.data[0]) >= len(commandNames) {
		return nil
	}
	d.phase = phaseCommand
	ex := d.command(p)
	ex.x.Truncated = true
	ex.note("request cut short")
	return ex
}

// Gap implements decoder.StreamDecoder.
func (d *conn) Gap(dir decoder.Dir, n int, t time.Time) {
	if dir > server || d.closed {
		return
	}
	s := &d.dirs[dir]
	switch s.mode {
	case modeScan:
		s.scan = s.scan[:0]
		return
	case modeAligned:
	default:
		return
	}
	if n == 0 {
		return
	}
	what := "unknown number of bytes"
	if n > 0 {
		what = fmt.Sprintf("%d bytes", n)
	}
	if s.comp {
		// A compressed stream cannot be entered mid-packet.
		if d.dirs[dir].fr.busy() {
			if p, ok := s.fr.partial(); ok {
				cp := *p
				cp.data = append([]byte(nil), p.data...)
				d.lostPacket(dir, &cp)
			}
		}
		d.markGap(dir, what)
		d.desync(dir, t, "gap of "+what)
		return
	}
	aligned, p := s.fr.gap(n, t)
	if aligned {
		d.markGap(dir, what)
		if p != nil {
			d.deliver(dir, p, t)
		}
		return
	}
	if p != nil {
		d.lostPacket(dir, p)
	}
	d.markGap(dir, what)
	d.desync(dir, t, "gap of "+what)
}

// markGap notes a gap on the exchange it hits.
func (d *conn) markGap(dir decoder.Dir, what string) {
	var ex *exch
	if dir == server {
		ex = d.head()
	} else if s := &d.dirs[client]; s.fr.busy() || s.z.busy() {
		return // the command being read is marked when it completes
	} else {
		ex = d.tail()
	}
	if ex == nil || ex.done {
		return
	}
	ex.x.Truncated = true
	if dir == server {
		ex.note("gap of " + what + " in response")
	} else {
		ex.note("gap of " + what + " in request")
	}
}

// End implements decoder.StreamDecoder. Nothing waits on it: Close emits.
func (d *conn) End(dir decoder.Dir, t time.Time) {}

// Close implements decoder.StreamDecoder: pending exchanges are emitted,
// marked truncated when their response is incomplete.
func (d *conn) Close(t time.Time) {
	if d.closed {
		return
	}
	s := &d.dirs[client]
	if s.mode == modeAligned && !s.comp {
		if p, ok := s.fr.partial(); ok {
			cp := *p
			cp.end = t
			if ex := d.lostPacket(client, &cp); ex != nil {
				ex.note("capture ended inside the request")
			}
		}
		s.fr.reset()
	}
	for _, ex := range d.queue {
		if ex.done {
			continue
		}
		switch ex.state {
		case rsPrepTailEOF:
		case rsLost:
		default:
			ex.x.Truncated = true
			if ex.hasResp {
				ex.note("capture ended inside the response")
			} else if ex.login && !ex.handshaked {
				ex.note("capture ended before the handshake response")
			} else {
				ex.note("no response captured")
			}
		}
		d.finish(ex)
	}
	d.closed = true
	d.flush()
	d.queue = nil
}

// Pending implements decoder.StreamDecoder.
func (d *conn) Pending() time.Time {
	if d.closed {
		return time.Time{}
	}
	if len(d.queue) > 0 {
		return d.queue[0].x.ReqStart
	}
	s := &d.dirs[client]
	if s.mode == modeAligned && !s.comp {
		if p, ok := s.fr.partial(); ok && p.seq == 0 {
			return p.start
		}
	}
	return time.Time{}
}

// head is the oldest exchange still waiting for server bytes.
func (d *conn) head() *exch {
	for _, ex := range d.queue {
		if !ex.done {
			return ex
		}
	}
	return nil
}

// tail is the newest exchange not yet emitted.
func (d *conn) tail() *exch {
	if len(d.queue) == 0 {
		return nil
	}
	return d.queue[len(d.queue)-1]
}

// flush emits finished exchanges in order.
func (d *conn) flush() {
	// A command still arriving that began before an exchange must be
	// emitted first (it may yet become one, at the latest at Close).
	var partial time.Time
	if s := &d.dirs[client]; !d.closed && s.mode == modeAligned && !s.comp {
		if p, ok := s.fr.partial(); ok && p.seq == 0 {
			partial = p.start
		}
	}
	i := 0
	for i < len(d.queue) && d.queue[i].done {
		ex := d.queue[i]
		if !partial.IsZero() && partial.Before(ex.x.ReqStart) {
			break
		}
		d.queue[i] = nil
		// The exchange is handed out in place, pointing to ex's own
		// request and response (copying the three out was a third of the
		// decoder's allocations): ex is done, and nothing changes a done
		// exchange, so it is not touched again once emitted.
		x := &ex.x
		ex.req.policy = d.policy
		x.Request = &ex.req
		if ex.hasResp {
			ex.resp.policy = d.policy
			x.Response = &ex.resp
		}
		if d.emit != nil {
			d.emit(x)
		}
		i++
	}
	switch {
	case i == len(d.queue):
		// All out (the usual case: one command at a time): the queue
		// starts again at the front of its array, instead of a new one
		// for the next command.
		d.queue = d.queue[:0]
	case i > 0:
		// Reslice, not copy: with many commands waiting, copying the
		// rest on every emission would make the queue quadratic.
		d.queue = d.queue[i:]
	}
}

func (ex *exch) note(s string) {
	ex.x.Notes = decoder.AppendNote(ex.x.Notes, maxNotes, s)
}

// finish ends an exchange and applies what it changed on the connection.
func (d *conn) finish(ex *exch) {
	if ex.done {
		return
	}
	ex.done = true
	ex.state = rsDone
	d.awaiting--
	if ex.infile > 0 {
		ex.note(fmt.Sprintf("%d bytes of LOCAL INFILE data sent", ex.infile))
	}
	if ex.resp.Result == "ok" || ex.resp.Result == "eof" || ex.resp.Result == "rows" {
		if ex.setUser {
			d.user, d.userKnown = ex.newUser, true
		}
		if ex.setDB {
			d.db = ex.newDB
		}
	}
}

// newExch starts an exchange with the connection's identity.
func (d *conn) newExch(p *packet, cmd byte) *exch {
	// One literal, built in place: assigning x and req after allocating
	// copied each in through a typed move with write barriers.
	ex := &exch{
		cmd:     cmd,
		nextSeq: p.last + 1,
		x:       decoder.Exchange{Proto: "mysql", Conn: d.c, ReqStart: p.start, ReqEnd: p.end},
		req: Request{
			Command:    commandName(cmd),
			User:       d.user,
			UserKnown:  d.userKnown,
			Database:   d.db,
			Compressed: d.compress,
		},
	}
	if p.lost > 0 {
		ex.x.Truncated = true
		ex.note(fmt.Sprintf("%d bytes of the request lost", p.lost))
	}
	// Keep start order: a command rebuilt from a cut packet can start
	// before an exchange begun after it (a greeting, a server error).
	i := len(d.queue)
	for i > 0 && d.queue[i-1].x.ReqStart.After(ex.x.ReqStart) {
		i--
	}
	d.queue = slices.Insert(d.queue, i, ex)
	if d.awaiting++; d.awaiting > maxQueue {
		if old := d.head(); old != nil && old != ex {
			d.giveUp(old, fmt.Sprintf("emitted without its response: more than %d commands awaiting replies", maxQueue))
		}
	}
	return ex
}

// giveUp ends ex without (the rest of) its response. Server bytes that
// arrive for it later are read as the next exchange's, or dropped.
func (d *conn) giveUp(ex *exch, note string) {
	if ex.hasResp && ex.resp.Result == "" {
		ex.resp.Result = "unknown"
	}
	ex.x.Truncated = true
	ex.note(note)
	d.finish(ex)
}

// Expire implements decoder.StreamDecoder: commands sent before t whose
// response has not begun are emitted without it. A response still
// arriving is not cut.
func (d *conn) Expire(before time.Time, why string) {
	if d.closed {
		return
	}
	for _, ex := range d.queue {
		if !ex.x.ReqStart.Before(before) {
			break
		}
		if ex.done || ex.hasResp {
			continue
		}
		d.giveUp(ex, "emitted in progress: "+why)
	}
	d.flush()
}

// checkSeq reports whether p continues ex. The compressed protocol numbers
// inner packets loosely, so it is not checked there.
func (d *conn) checkSeq(ex *exch, p *packet) bool {
	return d.compress || p.seq == ex.nextSeq
}

// clientPacket dispatches a client packet.
func (d *conn) clientPacket(p *packet, t time.Time) {
	switch d.phase {
	case phaseDead:
		return
	case phaseStart:
		if p.seq == 1 {
			d.phase = phaseLogin
			d.login = d.newLogin(p)
			d.handshake(d.login, p)
			return
		}
		if p.seq != 0 {
			d.desync(client, t, fmt.Sprintf("unexpected sequence id %d", p.seq))
			return
		}
		d.phase = phaseCommand
	case phaseLogin:
		ex := d.login
		switch {
		case ex != nil && !ex.done && !ex.handshaked && p.seq == 1:
			d.handshake(ex, p)
			return
		case ex != nil && !ex.done && p.seq != 0:
			// auth data (scramble, password, public key request): skipped
			ex.x.ReqEnd = p.end
			ex.nextSeq = p.last + 1
			return
		}
		if ex != nil && !ex.done {
			ex.x.Truncated = true
			ex.note("login not completed before the first command")
			d.finish(ex)
		}
		d.phase = phaseCommand
	}
	if p.seq != 0 {
		d.clientData(p, t)
		return
	}
	if len(p.data) == 0 || int(p.data[0]) >= len(commandNames) && p.data[0] != 0xfe {
		d.desync(client, t, "packet is not a command")
		return
	}
	d.command(p)
}

// clientData handles client packets inside an exchange: LOCAL INFILE data
// and auth continuations.
func (d *conn) clientData(p *packet, t time.Time) {
	ex := d.tail()
	if ex == nil || ex.done {
		d.desync(client, t, fmt.Sprintf("packet with sequence id %d outside any command", p.seq))
		return
	}
	switch ex.state {
	case rsInfile:
		ex.x.ReqEnd = p.end
		ex.nextSeq = p.last + 1
		ex.infile += p.size
		if p.size == 0 {
			ex.state = rsFirst
		}
	case rsAuth:
		ex.x.ReqEnd = p.end
		ex.nextSeq = p.last + 1
	default:
		d.desync(client, t, fmt.Sprintf("packet with sequence id %d inside %s", p.seq, ex.req.Command))
	}
}

// command starts the exchange of a command packet (sequence 0).
func (d *conn) command(p *packet) *exch {
	// Exchanges whose end could only be told by the next command end here.
	for _, ex := range d.lingering {
		if !ex.done && ex.state == rsInfile {
			ex.x.Truncated = true
			ex.note("LOCAL INFILE not completed")
			ex.state = rsLost
		}
		if !ex.done && (ex.state == rsPrepTailEOF || ex.state == rsLost) {
			d.finish(ex)
		}
	}
	clear(d.lingering)
	d.lingering = d.lingering[:0]
	if d.dirs[server].mode == modeDrop {
		d.alignServer()
	}
	b := p.data
	cmd := b[0]
	ex := d.newExch(p, cmd)
	body := b[1:]
	switch cmd {
	case comQuery, comStmtPrepare:
		q := body
		if cmd == comQuery && d.capsKnown && d.caps&clientQueryAttributes != 0 {
			c := cursor{b: body}
			if n := c.lenenc(); n == 0 && c.ok() {
				c.lenenc()
				q = c.rest()
			} else {
				q = nil
				ex.note("query attributes not decoded")
			}
		}
		d.setQuery(ex, q, p.size-int64(len(body)-len(q))-1)
		if cmd == comQuery {
			if db, ok := useStatement(ex.req.Query); ok {
				ex.newDB, ex.setDB = db, true
			}
		} else {
			d.lastPrepare = &stmt{query: ex.req.Query, bytes: ex.req.QueryBytes}
		}
	case comInitDB:
		ex.req.Database = text(body, 256)
		ex.newDB, ex.setDB = ex.req.Database, true
	case comFieldList:
		table := body
		if t, _, ok := nulBytes(body); ok {
			table = t
		}
		ex.req.Query = text(table, min(256, d.maxQuery))
		ex.state = rsFieldList
		ex.resp.Columns = new(int)
	case comStmtExecute, comStmtSendLongData, comStmtClose, comStmtReset, comStmtFetch:
		if len(body) >= 4 {
			id := le32(body)
			ex.req.StatementID = &id
			st, ok := d.stmts[id]
			if !ok && id == 0xffffffff && d.lastPrepare != nil {
				st, ok = *d.lastPrepare, true // MariaDB: the statement just prepared
			}
			if ok {
				ex.req.Query, ex.req.QueryBytes = st.query, st.bytes
			} else {
				ex.note(fmt.Sprintf("statement %d was prepared before the capture", id))
			}
		}
		switch cmd {
		case comStmtClose:
			if ex.req.StatementID != nil {
				delete(d.stmts, *ex.req.StatementID)
			}
			d.finish(ex)
		case comStmtSendLongData:
			d.finish(ex)
		case comStmtFetch:
			ex.resp.Result = "rows"
			ex.resp.Rows = new(int64)
			ex.state = rsRows
		}
	case comChangeUser:
		u, err := parseChangeUser(body, d.caps, d.capsKnown)
		ex.req.User, ex.req.UserKnown = u.user, true
		ex.req.Database, ex.req.Plugin, ex.req.ClientAttrs = u.db, u.plugin, u.attrs
		ex.newUser, ex.setUser = u.user, true
		ex.newDB, ex.setDB = u.db, true
		if err != nil {
			ex.note("COM_CHANGE_USER: " + err.Error())
		}
		ex.state = rsAuth
	case comSetOption:
		if len(body) >= 2 {
			switch le16(body) {
			case 0:
				ex.note("MYSQL_OPTION_MULTI_STATEMENTS_ON")
			case 1:
				ex.note("MYSQL_OPTION_MULTI_STATEMENTS_OFF")
			}
		}
	case comProcessKill:
		if len(body) >= 4 {
			ex.note(fmt.Sprintf("kill connection %d", le32(body)))
		}
	case comQuit:
		d.finish(ex)
	case comBinlogDump, comBinlogDumpGTID, comTableDump, comConnectOut, comRegisterSlave, comDaemon, 0xfe:
		ex.note("not decoded further: " + ex.req.Command)
		d.finish(ex)
		d.dead()
	}
	return ex
}

// dead stops decoding the connection.
func (d *conn) dead() {
	d.phase = phaseDead
	d.dirs[client].mode = modeDead
	d.dirs[server].mode = modeDead
	d.dirs[client].scan = nil
}

// setQuery keeps at most maxQuery bytes of query text; n is its full length.
func (d *conn) setQuery(ex *exch, q []byte, n int64) {
	var kept string
	if d.texts != nil && len(q) <= d.maxQuery {
		kept = d.texts.Bytes(q)
	} else {
		kept = text(q, d.maxQuery)
	}
	ex.req.Query = kept // raw: Redacted applies the policy when it is printed
	if n > int64(len(kept)) {
		ex.req.QueryBytes = int(min(n, 1<<40))
	}
}

// newLogin starts the login exchange at p (the greeting, or the handshake
// response when the greeting was not captured).
func (d *conn) newLogin(p *packet) *exch {
	ex := d.newExch(p, 0)
	ex.login = true
	ex.req.Command = "login"
	ex.req.User, ex.req.UserKnown, ex.req.Database = "", false, ""
	if g := d.greeting; g != nil {
		ex.req.ServerVersion = g.version
		ex.req.ConnectionID = g.connID
		ex.req.Plugin = g.plugin
	} else {
		ex.note("server greeting not captured")
	}
	return ex
}

// handshake reads the HandshakeResponse of the login exchange.
func (d *conn) handshake(ex *exch, p *packet) {
	ex.handshaked = true
	ex.x.ReqEnd = p.end
	ex.nextSeq = p.last + 1
	ex.state = rsAuth
	h, err := parseHandshakeResponse(p.data)
	ex.req.User, ex.req.UserKnown = h.user, err == nil || h.user != ""
	ex.req.Database = h.db
	if h.plugin != "" {
		ex.req.Plugin = h.plugin
	}
	ex.req.ClientAttrs = h.attrs
	if err != nil {
		ex.x.Truncated = true
		ex.note("handshake response: " + err.Error())
	}
	d.caps, d.capsKnown = h.caps, err == nil || h.caps != 0
	if g := d.greeting; g != nil {
		d.caps &= g.caps
	}
	if d.capsKnown {
		d.eofMode = 1
		if d.caps&clientDeprecateEOF != 0 {
			d.eofMode = 2
		}
	}
	ex.newUser, ex.setUser = h.user, true
	ex.newDB, ex.setDB = h.db, true
	if h.ssl {
		ex.req.UserKnown = false
		ex.req.TLS = true
		ex.note("SSLRequest: the connection switches to TLS and is not decoded further")
		d.finish(ex)
		d.dead()
	}
}

// serverPacket dispatches a server packet.
func (d *conn) serverPacket(p *packet, t time.Time) {
	switch d.phase {
	case phaseDead:
		return
	case phaseStart:
		if p.seq == 0 && len(p.data) > 0 && p.data[0] == 10 {
			g, err := parseGreeting(p.data)
			d.greeting = &g
			d.phase = phaseLogin
			d.login = d.newLogin(p)
			if err != nil {
				d.login.x.Truncated = true
				d.login.note("greeting: " + err.Error())
			}
			return
		}
		if p.seq == 0 && len(p.data) > 0 && p.data[0] == hdrERR {
			// refused before the handshake ("Too many connections")
			ex := d.newLogin(p)
			ex.x.Notes = nil
			ex.hasResp = true
			ex.x.RespStart, ex.x.RespEnd = p.start, p.end
			ex.resp.Bytes = p.size
			d.setErr(ex, p.data)
			d.finish(ex)
			d.phase = phaseCommand
			return
		}
	}
	ex := d.head()
	if ex == nil {
		d.unsolicited(p, t)
		return
	}
	if ex.login && !ex.handshaked {
		d.desync(server, t, "server packet before the handshake response")
		return
	}
	if !d.checkSeq(ex, p) {
		d.desync(server, t, fmt.Sprintf("sequence id %d, expected %d", p.seq, ex.nextSeq))
		return
	}
	ex.nextSeq = p.last + 1
	if !ex.hasResp {
		ex.hasResp = true
		ex.x.RespStart = p.start
	}
	ex.x.RespEnd = p.end
	ex.resp.Bytes += p.size
	if p.lost > 0 {
		ex.x.Truncated = true
	}
	d.response(ex, p, t)
}

// unsolicited handles a server packet no command asked for: an ERR (the
// server closing an idle connection) is an exchange of its own; anything
// else means the server stream is not where it was thought to be.
func (d *conn) unsolicited(p *packet, t time.Time) {
	if len(p.data) > 0 && p.data[0] == hdrERR && p.size < serverKeep {
		ex := d.newExch(p, 0)
		ex.req.Command = "none"
		ex.note("server packet without a request")
		ex.hasResp = true
		ex.x.RespStart, ex.x.RespEnd = p.start, p.end
		ex.resp.Bytes = p.size
		d.setErr(ex, p.data)
		d.finish(ex)
		return
	}
	d.desync(server, t, "server packet without a request")
}

// response advances ex's state machine with one server packet.
func (d *conn) response(ex *exch, p *packet, t time.Time) {
	b := p.data
	if len(b) == 0 && ex.state != rsRows && ex.state != rsColDefs && ex.state != rsPrepCols &&
		ex.state != rsPrepParams && ex.state != rsFieldList {
		d.desync(server, t, "empty packet")
		return
	}
	switch ex.state {
	case rsFirst, rsInfile:
		d.first(ex, p, t)
	case rsColDefs:
		if !isColumnDef(b) {
			// Metadata skipped (MariaDB metadata caching, MySQL optional
			// metadata) on a connection whose capabilities are unknown.
			ex.note("column definitions not sent")
			ex.cols = 0
			ex.state = rsColEOF
			d.response(ex, p, t)
			return
		}
		ex.cols--
		if ex.cols <= 0 {
			ex.state = rsColEOF
		}
	case rsColEOF:
		if isEOF(p) {
			d.learnEOF(1)
			e := parseEOF(b)
			ex.state = rsRows
			if e.status&serverStatusCursorExist != 0 && ex.cmd == comStmtExecute {
				ex.note("cursor opened: rows follow COM_STMT_FETCH")
				d.finish(ex)
			}
			return
		}
		d.learnEOF(2)
		ex.state = rsRows
		d.row(ex, p)
	case rsRows:
		d.row(ex, p)
	case rsPrepParams:
		ex.params--
		if ex.params <= 0 {
			ex.state = rsPrepParamsEOF
			if d.eofMode == 2 {
				d.prepCols(ex)
			}
		}
	case rsPrepParamsEOF:
		if isEOF(p) {
			d.learnEOF(1)
			d.prepCols(ex)
			return
		}
		d.learnEOF(2)
		d.prepCols(ex)
		if ex.state == rsPrepCols {
			d.response(ex, p, t)
		} else {
			d.desync(server, t, "unexpected packet after parameter definitions")
		}
	case rsPrepCols:
		ex.cols--
		if ex.cols <= 0 {
			d.prepTail(ex)
		}
	case rsPrepTailEOF:
		if isEOF(p) {
			d.learnEOF(1)
			d.finish(ex)
			return
		}
		d.desync(server, t, "unexpected packet after column definitions")
	case rsFieldList:
		switch {
		case isTerminator(p):
			ex.resp.Result = "ok"
			d.finish(ex)
		case len(b) > 0 && b[0] == hdrERR:
			d.setErr(ex, b)
			d.finish(ex)
		default:
			*ex.resp.Columns++
		}
	case rsAuth:
		d.auth(ex, p, t)
	}
}

func (d *conn) learnEOF(mode uint8) {
	if !d.capsKnown {
		d.eofMode = mode
	}
}

// prepCols moves a prepare response on to its column definitions.
func (d *conn) prepCols(ex *exch) {
	if ex.cols > 0 {
		ex.state = rsPrepCols
		return
	}
	d.prepTail(ex)
}

// prepTail ends a prepare response after its last definitions: an EOF
// follows unless CLIENT_DEPRECATE_EOF is on.
func (d *conn) prepTail(ex *exch) {
	if d.eofMode == 2 {
		d.finish(ex)
		return
	}
	d.linger(ex, rsPrepTailEOF)
}

// linger puts ex in a state that only the next command ends (LOCAL
// INFILE, a prepare's optional EOF, a lost response) and remembers it,
// so that command need not walk the whole queue.
func (d *conn) linger(ex *exch, st rstate) {
	ex.state = st
	d.lingering = append(d.lingering, ex)
}

// first reads the first packet of a response or of a further result.
func (d *conn) first(ex *exch, p *packet, t time.Time) {
	b := p.data
	switch {
	case b[0] == hdrOK && ex.cmd == comStmtPrepare:
		c := cursor{b: b}
		c.skip(1)
		id := uint32(c.int(4))
		cols := int(c.int(2))
		params := int(c.int(2))
		if !c.ok() {
			d.desync(server, t, "short COM_STMT_PREPARE OK")
			return
		}
		c.skip(1)
		if w := uint16(c.int(2)); c.ok() {
			ex.resp.Warnings = &w
		}
		ex.resp.Result = "ok"
		ex.resp.Columns = &cols
		ex.req.StatementID = &id
		d.remember(id, stmt{query: ex.req.Query, bytes: ex.req.QueryBytes})
		if params > 0 {
			ex.note(fmt.Sprintf("%d parameters", params))
		}
		if d.capsKnown && d.caps&clientOptionalMetadata != 0 && c.left() > 0 && c.int(1) == 0 {
			d.finish(ex)
			return
		}
		ex.params, ex.cols = int64(params), int64(cols)
		switch {
		case params > 0:
			ex.state = rsPrepParams
		case cols > 0:
			ex.state = rsPrepCols
		default:
			d.finish(ex)
		}
	case b[0] == hdrOK:
		o, err := parseOK(b, d.caps)
		if err != nil {
			d.desync(server, t, "short OK packet")
			return
		}
		if ex.resp.Result != "rows" {
			ex.resp.Result = "ok"
		}
		ex.resp.AffectedRows = &o.affected
		ex.resp.InsertID = &o.insertID
		ex.resp.Warnings = &o.warnings
		if o.schema != "" {
			ex.newDB, ex.setDB = o.schema, true
		}
		if o.status&serverMoreResultsExist == 0 {
			d.finish(ex)
		}
	case b[0] == hdrERR:
		if d.progress(p) {
			return
		}
		d.setErr(ex, b)
		d.finish(ex)
	case b[0] == hdrEOF && p.size < 9:
		e := parseEOF(b)
		if ex.resp.Result != "rows" {
			ex.resp.Result = "eof"
		}
		ex.resp.Warnings = &e.warnings
		if e.status&serverMoreResultsExist == 0 {
			d.finish(ex)
		}
	case b[0] == hdrLocalInfile && ex.cmd == comQuery && ex.state == rsFirst:
		ex.resp.Result = "local_infile"
		ex.note("LOCAL INFILE " + quote(text(b[1:], 256)))
		d.linger(ex, rsInfile)
	case ex.cmd == comStatistics:
		ex.resp.Result = "statistics"
		d.finish(ex)
	default:
		n, used, ok := lenencInt(b)
		if !ok || n == 0 || n > maxColumns {
			d.desync(server, t, "implausible column count")
			return
		}
		if ex.resp.Rows == nil {
			ex.resp.Rows = new(int64)
			cols := int(n)
			ex.resp.Columns = &cols
		} else {
			ex.note("another result set")
		}
		ex.resp.Result = "rows"
		ex.cols = int64(n)
		ex.state = rsColDefs
		if d.capsKnown && d.caps&(clientOptionalMetadata|mariadbClientCacheMetada) != 0 && len(b) > used && b[used] == 0 {
			ex.cols = 0 // metadata not sent again
			ex.state = rsColEOF
		}
	}
}

// row reads one packet of a run of rows.
func (d *conn) row(ex *exch, p *packet) {
	b := p.data
	if isTerminator(p) && len(b) > 0 {
		var status uint16
		if p.size <= 5 {
			e := parseEOF(b)
			status = e.status
			ex.resp.Warnings = &e.warnings
		} else {
			d.learnEOF(2)
			o, _ := parseOK(b, d.caps)
			status = o.status
			ex.resp.Warnings = &o.warnings
		}
		if status&serverMoreResultsExist != 0 {
			ex.state = rsFirst
			return
		}
		d.finish(ex)
		return
	}
	if len(b) > 0 && b[0] == hdrERR && !p.multi {
		if d.progress(p) {
			return
		}
		d.setErr(ex, b)
		d.finish(ex)
		return
	}
	if ex.resp.Rows == nil {
		ex.resp.Rows = new(int64)
	}
	*ex.resp.Rows++
}

// isColumnDef reports whether b starts like a ColumnDefinition41: catalog
// "def". A packet cut to nothing by a gap is given the benefit of the doubt.
func isColumnDef(b []byte) bool {
	return len(b) == 0 || len(b) >= 4 && b[0] == 3 && b[1] == 'd' && b[2] == 'e' && b[3] == 'f'
}

// progress reports whether p is a MariaDB progress report (an ERR with code
// 0xFFFF), which does not end the command.
func (d *conn) progress(p *packet) bool {
	if len(p.data) < 3 || le16(p.data[1:]) != 0xffff {
		return false
	}
	return !d.capsKnown || d.caps&mariadbClientProgress != 0
}

// auth reads the server's side of a login or COM_CHANGE_USER.
func (d *conn) auth(ex *exch, p *packet, t time.Time) {
	b := p.data
	switch b[0] {
	case hdrOK:
		o, _ := parseOK(b, d.caps)
		ex.resp.Result = "ok"
		ex.resp.Warnings = &o.warnings
		if o.schema != "" {
			ex.newDB = o.schema
		}
		d.finish(ex)
		if ex.login {
			d.phase = phaseCommand
			if d.capsKnown && d.caps&clientCompress != 0 {
				d.compress = true
				ex.req.Compressed = true
				for i := range d.dirs {
					d.dirs[i].comp = true
					d.dirs[i].fr.reset()
					d.dirs[i].z.reset()
				}
			}
		}
	case hdrERR:
		d.setErr(ex, b)
		d.finish(ex)
		if ex.login {
			d.phase = phaseCommand
		}
	case hdrEOF:
		ex.resp.Result = "auth_switch"
		if len(b) == 1 {
			ex.note("server asked for the old (pre-4.1) password hash")
			return
		}
		name, _, ok := nulBytes(b[1:])
		if !ok {
			name = b[1:]
		}
		ex.req.Plugin = text(name, 64)
		ex.note("auth switch to " + ex.req.Plugin)
	case hdrAuthMore:
		if ex.resp.Result != "auth_more_data" {
			ex.note("auth more data")
		}
		ex.resp.Result = "auth_more_data"
	default:
		d.desync(server, t, "unexpected packet during authentication")
	}
}

// setErr fills the response from an ERR packet.
func (d *conn) setErr(ex *exch, b []byte) {
	e, _ := parseERR(b)
	ex.resp.Result = "error"
	ex.resp.ErrorCode = &e.code
	ex.resp.SQLState = e.state
	ex.resp.Error = e.message
}

// remember maps a statement id to its SQL, forgetting the oldest beyond
// maxStmts.
func (d *conn) remember(id uint32, s stmt) {
	if d.stmts == nil {
		d.stmts = make(map[uint32]stmt)
	}
	if _, ok := d.stmts[id]; !ok {
		d.stmtOrder = append(d.stmtOrder, id)
	}
	d.stmts[id] = s
	for len(d.stmts) > maxStmts && len(d.stmtOrder) > 0 {
		delete(d.stmts, d.stmtOrder[0])
		d.stmtOrder = d.stmtOrder[1:]
	}
	if len(d.stmtOrder) > 2*maxStmts {
		kept := d.stmtOrder[:0]
		for _, id := range d.stmtOrder {
			if _, ok := d.stmts[id]; ok {
				kept = append(kept, id)
			}
		}
		d.stmtOrder = kept
	}
}

func quote(s string) string { return fmt.Sprintf("%q", s) }
