package mysql

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Capability flags (the low 32 bits are MySQL's; MariaDB's extended
// capabilities are shifted up by 32, as MariaDB's own client does).
const (
	clientMySQL              = 1 << 0 // CLIENT_LONG_PASSWORD; MariaDB: "not MariaDB ext caps"
	clientConnectWithDB      = 1 << 3
	clientCompress           = 1 << 5
	clientLocalFiles         = 1 << 7
	clientProtocol41         = 1 << 9
	clientSSL                = 1 << 11
	clientSecureConnection   = 1 << 15
	clientMultiResults       = 1 << 17
	clientPluginAuth         = 1 << 19
	clientConnectAttrs       = 1 << 20
	clientPluginAuthLenenc   = 1 << 21
	clientSessionTrack       = 1 << 23
	clientDeprecateEOF       = 1 << 24
	clientOptionalMetadata   = 1 << 25
	clientQueryAttributes    = 1 << 27
	mariadbClientProgress    = 1 << 32
	mariadbExtendedTypeInfo  = 1 << 35
	mariadbClientCacheMetada = 1 << 36
)

// Server status flags.
const (
	serverMoreResultsExist  = 0x0008
	serverStatusCursorExist = 0x0040
	serverSessionStateChg   = 0x4000
)

// Command bytes.
const (
	comSleep            = 0x00
	comQuit             = 0x01
	comInitDB           = 0x02
	comQuery            = 0x03
	comFieldList        = 0x04
	comCreateDB         = 0x05
	comDropDB           = 0x06
	comRefresh          = 0x07
	comShutdown         = 0x08
	comStatistics       = 0x09
	comProcessInfo      = 0x0a
	comConnect          = 0x0b
	comProcessKill      = 0x0c
	comDebug            = 0x0d
	comPing             = 0x0e
	comTime             = 0x0f
	comDelayedInsert    = 0x10
	comChangeUser       = 0x11
	comBinlogDump       = 0x12
	comTableDump        = 0x13
	comConnectOut       = 0x14
	comRegisterSlave    = 0x15
	comStmtPrepare      = 0x16
	comStmtExecute      = 0x17
	comStmtSendLongData = 0x18
	comStmtClose        = 0x19
	comStmtReset        = 0x1a
	comSetOption        = 0x1b
	comStmtFetch        = 0x1c
	comDaemon           = 0x1d
	comBinlogDumpGTID   = 0x1e
	comResetConnection  = 0x1f
)

var commandNames = [...]string{
	comSleep:            "COM_SLEEP",
	comQuit:             "COM_QUIT",
	comInitDB:           "COM_INIT_DB",
	comQuery:            "COM_QUERY",
	comFieldList:        "COM_FIELD_LIST",
	comCreateDB:         "COM_CREATE_DB",
	comDropDB:           "COM_DROP_DB",
	comRefresh:          "COM_REFRESH",
	comShutdown:         "COM_SHUTDOWN",
	comStatistics:       "COM_STATISTICS",
	comProcessInfo:      "COM_PROCESS_INFO",
	comConnect:          "COM_CONNECT",
	comProcessKill:      "COM_PROCESS_KILL",
	comDebug:            "COM_DEBUG",
	comPing:             "COM_PING",
	comTime:             "COM_TIME",
	comDelayedInsert:    "COM_DELAYED_INSERT",
	comChangeUser:       "COM_CHANGE_USER",
	comBinlogDump:       "COM_BINLOG_DUMP",
	comTableDump:        "COM_TABLE_DUMP",
	comConnectOut:       "COM_CONNECT_OUT",
	comRegisterSlave:    "COM_REGISTER_SLAVE",
	comStmtPrepare:      "COM_STMT_PREPARE",
	comStmtExecute:      "COM_STMT_EXECUTE",
	comStmtSendLongData: "COM_STMT_SEND_LONG_DATA",
	comStmtClose:        "COM_STMT_CLOSE",
	comStmtReset:        "COM_STMT_RESET",
	comSetOption:        "COM_SET_OPTION",
	comStmtFetch:        "COM_STMT_FETCH",
	comDaemon:           "COM_DAEMON",
	comBinlogDumpGTID:   "COM_BINLOG_DUMP_GTID",
	comResetConnection:  "COM_RESET_CONNECTION",
}

func commandName(c byte) string {
	if int(c) < len(commandNames) {
		return commandNames[c]
	}
	if c == 0xfe {
		return "COM_MULTI" // MariaDB 10.2+ bundles several commands
	}
	return fmt.Sprintf("COM_0x%02X", c)
}

// Response packet headers.
const (
	hdrOK          = 0x00
	hdrAuthMore    = 0x01
	hdrLocalInfile = 0xfb
	hdrEOF         = 0xfe
	hdrERR         = 0xff
)

var errShort = errors.New("mysql: packet too short")

// greeting is the server's HandshakeV10.
type greeting struct {
	version string
	connID  uint32
	caps    uint64
	plugin  string
}

// parseGreeting reads a HandshakeV10 payload (first byte 10). It returns
// what it read before any error.
func parseGreeting(b []byte) (greeting, error) {
	var g greeting
	c := cursor{b: b}
	if c.int(1) != 10 {
		return g, errors.New("mysql: greeting is not protocol 10")
	}
	g.version = text(c.nulBytes(), 256)
	g.connID = uint32(c.int(4))
	c.skip(8 + 1) // auth-plugin-data part 1, filler
	g.caps = c.int(2)
	if !c.ok() {
		return g, errShort
	}
	if c.left() == 0 {
		return g, nil // pre-4.1 servers stop here
	}
	c.skip(1 + 2) // charset, status
	g.caps |= c.int(2) << 16
	authLen := int(c.int(1))
	c.skip(6)
	ext := c.int(4)
	if g.caps&clientMySQL == 0 {
		g.caps |= ext << 32
	}
	if g.caps&clientSecureConnection != 0 {
		c.skip(min(c.left(), max(13, authLen-8)))
	}
	if !c.ok() {
		return g, errShort
	}
	if g.caps&clientPluginAuth != 0 {
		if name, n, ok := nulBytes(c.rest()); ok {
			g.plugin = text(name, 64)
			c.skip(n)
		} else {
			g.plugin = text(c.rest(), 64) // some servers omit the NUL
		}
	}
	return g, nil
}

// handshake is what flowmap keeps of a HandshakeResponse: never the auth
// data.
type handshake struct {
	caps   uint64
	ssl    bool // an SSLRequest: TLS follows
	user   string
	db     string
	plugin string
	attrs  [][2]string
}

// parseHandshakeResponse reads a HandshakeResponse41 (or 320, or an
// SSLRequest). The auth response is skipped, not kept.
func parseHandshakeResponse(b []byte) (handshake, error) {
	var h handshake
	if len(b) < 4 {
		return h, errShort
	}
	c := cursor{b: b}
	if le16(b)&clientProtocol41 == 0 {
		// HandshakeResponse320: caps 2, max packet 3, user, auth[, db].
		h.caps = c.int(2)
		c.skip(3)
		h.user = text(c.nulBytes(), 256)
		if !c.ok() {
			return h, errShort
		}
		if h.caps&clientConnectWithDB != 0 {
			if _, n, ok := nulBytes(c.rest()); ok {
				c.skip(n)
				h.db = text(c.nulBytes(), 256)
			}
		}
		return h, nil
	}
	h.caps = c.int(4)
	c.skip(4 + 1 + 19) // max packet, charset, filler
	ext := c.int(4)
	if !c.ok() {
		return h, errShort
	}
	if h.caps&clientMySQL == 0 {
		h.caps |= ext << 32
	}
	if c.left() == 0 && h.caps&clientSSL != 0 {
		h.ssl = true
		return h, nil
	}
	h.user = text(c.nulBytes(), 256)
	switch {
	case h.caps&clientPluginAuthLenenc != 0:
		c.lenencBytes()
	case h.caps&clientSecureConnection != 0:
		c.skip(int(c.int(1)))
	default:
		c.nulBytes()
	}
	if !c.ok() {
		return h, errShort
	}
	if h.caps&clientConnectWithDB != 0 && c.left() > 0 {
		h.db = text(c.nulBytes(), 256)
	}
	if h.caps&clientPluginAuth != 0 && c.left() > 0 {
		h.plugin = text(c.nulBytes(), 64)
	}
	if h.caps&clientConnectAttrs != 0 && c.left() > 0 {
		h.attrs = parseAttrs(c.lenencBytes())
	}
	if !c.ok() {
		return h, errShort
	}
	return h, nil
}

// maxAttrs caps how many connect attributes are kept.
const maxAttrs = 64

// parseAttrs reads connect attributes: lenenc key, lenenc value pairs.
func parseAttrs(b []byte) [][2]string {
	var out [][2]string
	c := cursor{b: b}
	for c.left() > 0 && len(out) < maxAttrs {
		k := c.lenencBytes()
		v := c.lenencBytes()
		if !c.ok() {
			break
		}
		out = append(out, [2]string{text(k, 256), text(v, 1024)})
	}
	return out
}

// changeUser is a COM_CHANGE_USER payload without the command byte.
type changeUser struct {
	user, db, plugin string
	attrs            [][2]string
}

// parseChangeUser reads COM_CHANGE_USER; caps are the connection's (0 when
// unknown: then a 4.1+ client is assumed). The auth data is skipped.
func parseChangeUser(b []byte, caps uint64, capsKnown bool) (changeUser, error) {
	var u changeUser
	c := cursor{b: b}
	u.user = text(c.nulBytes(), 256)
	if !capsKnown || caps&clientSecureConnection != 0 {
		c.skip(int(c.int(1)))
	} else {
		c.nulBytes()
	}
	u.db = text(c.nulBytes(), 256)
	if !c.ok() {
		return u, errShort
	}
	if c.left() >= 2 {
		c.skip(2) // charset
		if (!capsKnown || caps&clientPluginAuth != 0) && c.left() > 0 {
			u.plugin = text(c.nulBytes(), 64)
		}
		if (!capsKnown || caps&clientConnectAttrs != 0) && c.left() > 0 {
			u.attrs = parseAttrs(c.lenencBytes())
		}
	}
	return u, nil
}

// okPacket is an OK packet (header 0x00, or 0xFE ending a result set when
// CLIENT_DEPRECATE_EOF is on).
type okPacket struct {
	affected, insertID uint64
	status, warnings   uint16
	schema             string // from session-state tracking, if any
}

// parseOK reads an OK packet including its header byte.
func parseOK(b []byte, caps uint64) (okPacket, error) {
	var o okPacket
	c := cursor{b: b}
	c.skip(1)
	o.affected = c.lenenc()
	o.insertID = c.lenenc()
	o.status = uint16(c.int(2))
	o.warnings = uint16(c.int(2))
	if !c.ok() {
		return o, errShort
	}
	if caps&clientSessionTrack != 0 && c.left() > 0 {
		c.lenencBytes() // info
		if o.status&serverSessionStateChg != 0 && c.ok() {
			st := cursor{b: c.lenencBytes()}
			for st.ok() && st.left() > 0 {
				typ := st.int(1)
				data := st.lenencBytes()
				if typ == 1 && st.ok() { // SESSION_TRACK_SCHEMA
					if s, _, ok := lenencBytes(data); ok {
						o.schema = text(s, 256)
					}
				}
			}
		}
	}
	return o, nil
}

// errPacket is an ERR packet.
type errPacket struct {
	code    uint16
	state   string
	message string
}

// parseERR reads an ERR packet including its header byte.
func parseERR(b []byte) (errPacket, error) {
	var e errPacket
	c := cursor{b: b}
	c.skip(1)
	e.code = uint16(c.int(2))
	if !c.ok() {
		return e, errShort
	}
	rest := c.rest()
	if len(rest) >= 6 && rest[0] == '#' {
		e.state = text(rest[1:6], 5)
		rest = rest[6:]
	}
	e.message = text(rest, 512)
	return e, nil
}

// eofPacket is an EOF packet of protocol 4.1 (5 bytes).
type eofPacket struct{ warnings, status uint16 }

func parseEOF(b []byte) eofPacket {
	if len(b) < 5 {
		return eofPacket{}
	}
	return eofPacket{warnings: le16(b[1:]), status: le16(b[3:])}
}

// isEOF reports whether p is an EOF packet: 0xFE and at most 5 bytes. (An
// OK packet with header 0xFE is at least 7 bytes; a row starting with 0xFE
// is at least 9.)
func isEOF(p *packet) bool {
	return len(p.data) > 0 && p.data[0] == hdrEOF && p.size <= 5
}

// isTerminator reports whether p ends a run of rows: EOF, or an OK with
// header 0xFE (CLIENT_DEPRECATE_EOF), which unlike a row starting with 0xFE
// (a string of 2^24 bytes or more) is shorter than one physical packet.
func isTerminator(p *packet) bool {
	return len(p.data) > 0 && p.data[0] == hdrEOF && !p.multi
}

// text turns protocol bytes into a string of at most n bytes, cut on a rune
// boundary.
func text(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
		j := len(b) - 1
		for j > 0 && len(b)-j < utf8.UTFMax && !utf8.RuneStart(b[j]) {
			j--
		}
		if j >= 0 && !utf8.FullRune(b[j:]) {
			b = b[:j]
		}
	}
	return string(b)
}
