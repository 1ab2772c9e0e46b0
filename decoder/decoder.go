// Package decoder holds the vocabulary shared by every stage of flowmap's
// pipeline: connections, exchanges, messages and diagnostics. It is the leaf
// of the import graph and depends on the standard library only.
//
// Data flows one way: decoder/capture yields packets, decoder/tcp turns them
// into per-connection byte streams and feeds each to a StreamDecoder
// (decoder/http, decoder/memcache, decoder/mysql, decoder/amqp), which
// reports Exchanges.
package decoder

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"time"
)

// Dir is the direction of bytes on a connection.
type Dir uint8

const (
	// ClientToServer carries requests.
	ClientToServer Dir = iota
	// ServerToClient carries responses.
	ServerToClient
)

func (d Dir) String() string {
	if d == ClientToServer {
		return "c>s"
	}
	return "s>c"
}

// Conn is one TCP connection as seen in the capture. The client is the side
// that sent the SYN or, when the handshake was not captured, the side that is
// not on a well-known port.
type Conn struct {
	ID     int            // 1-based, in order of first packet
	Iface  string         // interface of the first packet ("ens33", "lo", "any")
	Client netip.AddrPort // initiator
	Server netip.AddrPort // listener
	// SawSYN is false when the connection was already open when the capture
	// started: the decoder must find message boundaries without the start.
	SawSYN bool
	First  time.Time // first packet
}

// Message is a decoded request or response. Each protocol package defines its
// own types with JSON tags; the JSONL output embeds them as they are.
type Message interface {
	// Summary is a short one-line description for tables ("GET /v2/images").
	Summary() string
	// Redacted returns a copy in which credentials (tokens, passwords) are
	// replaced by their Fingerprint. It may return the receiver when the
	// message holds no secret.
	Redacted() Message
}

// Exchange is one request and its response (Response is nil when none was
// captured), or one one-way message (OneWay: an AMQP publish or delivery,
// which no response answers). Times are capture times of the first and
// last byte of each part.
type Exchange struct {
	Proto     string // "http", "memcache", "mysql"
	Conn      *Conn
	Request   Message
	Response  Message
	ReqStart  time.Time
	ReqEnd    time.Time
	RespStart time.Time // zero when Response is nil
	RespEnd   time.Time
	// OneWay marks a message that expects no response (AMQP Basic.Publish,
	// Basic.Deliver): Response is nil by design, not because it was lost.
	OneWay bool
	// Truncated is set when bytes of this exchange were lost (capture gap,
	// snaplen, end of capture) or the exchange was otherwise incomplete.
	Truncated bool
	// Notes explain what was odd about this exchange ("gap of 1448 bytes in
	// response body", "response without request").
	Notes []string
}

// Start is the first byte of the exchange.
func (e *Exchange) Start() time.Time { return e.ReqStart }

// End is the last byte of the exchange.
func (e *Exchange) End() time.Time {
	if !e.RespEnd.IsZero() {
		return e.RespEnd
	}
	return e.ReqEnd
}

// Emit receives exchanges as decoders complete them. Exchanges of one
// connection arrive in order; across connections they arrive in completion
// order, not start order.
type Emit func(*Exchange)

// StreamDecoder decodes the two byte streams of one TCP connection. The TCP
// layer calls it with in-order, de-duplicated bytes and their capture times.
// Decoders do no I/O, start no goroutines and never panic on any input.
type StreamDecoder interface {
	// Data delivers the next bytes of direction dir, captured at t. data is
	// reused after the call returns: copy anything you keep.
	Data(dir Dir, data []byte, t time.Time)
	// Gap reports that n bytes of direction dir were lost before the next
	// Data (n < 0: unknown amount). The decoder marks the exchange in
	// progress Truncated and resynchronises at the next message it finds.
	Gap(dir Dir, n int, t time.Time)
	// End reports that direction dir was closed (FIN or RST) at t.
	End(dir Dir, t time.Time)
	// Close is called once when the connection is gone or the capture ended.
	// The decoder emits everything still pending, marked Truncated where it
	// is incomplete.
	Close(t time.Time)
	// Pending reports the start time of the oldest exchange begun but not yet
	// emitted, or the zero Time. The pipeline uses it to emit in start order
	// with bounded buffering.
	Pending() time.Time
	// Expire gives up waiting for the peer on exchanges begun before
	// before: one whose request is complete but whose response has not
	// begun is emitted as it is, marked Truncated, with the note
	// "emitted in progress: " + why. A message still arriving is not cut.
	// The TCP layer calls it when Pending is older than its hold-back
	// limit, so that one silent connection does not hold back the output.
	Expire(before time.Time, why string)
}

// Unread is implemented by decoders that skip bytes they cannot read as
// their protocol (resynchronising at the next message start). After
// Close, Unread is how many bytes were skipped that no exchange's note
// mentions (no message followed them), for the run's diagnostics: bytes
// are never dropped silently.
type Unread interface {
	Unread() int64
}

// NotesDropped is the last note of a list that was capped.
const NotesDropped = "more notes dropped"

// AppendNote appends note to notes while they hold fewer than limit; the
// first note past the limit becomes NotesDropped, later ones are dropped.
// Decoders cap every list the input can grow (a flood of gaps or bad
// headers must not grow memory with the input).
func AppendNote(notes []string, limit int, note string) []string {
	switch {
	case len(notes) < limit:
		return append(notes, note)
	case len(notes) == limit:
		return append(notes, NotesDropped)
	}
	return notes
}

// Diagnostic is a problem found in the input, reported to the user.
type Diagnostic struct {
	Where string // "seed.pcapng", "conn 7", "seed.pcapng packet 812"
	What  string
	// Fatal diagnostics mean input could not be read (exit status 1).
	Fatal bool
}

func (d Diagnostic) String() string { return d.Where + ": " + d.What }

// Fingerprint names a secret without revealing it: "sha256:" and the first 8
// hex digits of its SHA-256. For a keystone token this is also the prefix of
// keystonemiddleware's memcache key ("tokens/" + hex sha256).
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:4])
}

// Verdict is a protocol's opinion of a connection's first bytes.
type Verdict uint8

const (
	// NeedMore: not enough bytes yet to tell.
	NeedMore Verdict = iota
	// No: these bytes are not this protocol.
	No
	// Yes: these bytes are this protocol.
	Yes
)

// Protocol is one application protocol the TCP layer can hand streams to.
type Protocol struct {
	Name string
	// Sniff looks at the first bytes seen in direction dir of connection c
	// (all bytes so far, at most a few KiB) and says whether they are this
	// protocol. It must not keep first. Sniff is asked in the order the
	// protocols are registered; the first Yes wins. When the connection's
	// start was not captured (c.SawSYN false) first may begin mid-message.
	Sniff func(c *Conn, dir Dir, first []byte) Verdict
	// Port reports whether port is this protocol's well-known server port;
	// used when sniffing cannot decide (mid-stream, too few bytes).
	Port func(port uint16) bool
	// New makes the decoder for one connection.
	New func(c *Conn, emit Emit) StreamDecoder
	// Opaque, when set, marks a protocol flowmap recognises but cannot
	// read (TLS: the bytes are encrypted), and says why: Sniff claims its
	// connections before any port decides, New is not called, and the
	// TCP layer counts their connections and bytes for the run's
	// diagnostics.
	Opaque string
}

// Secrets names the fields that carry credentials. flow's service
// registry holds the list for OpenStack, cmd hands it to decoder/redact,
// the one redaction policy, which tries these exact names before its own
// words and shapes. The zero value and nil are usable.
type Secrets struct {
	// Headers are header names whose whole value is a credential.
	Headers []string
	// Fields are body keys (JSON, form) whose string value is a credential.
	Fields []string
	// Nested are {parent, key} pairs: key is a credential inside an object
	// under parent ({"token": {"id": "…"}}).
	Nested [][2]string
	// Bodies are paths whose request and response bodies, when not JSON,
	// are a credential whole (a stored secret sent or fetched as text):
	// segments, "*" for any one, matched at the end of the path.
	Bodies []string
}
