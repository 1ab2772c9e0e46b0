// Package amqp decodes AMQP 0-9-1 (RabbitMQ, the transport of OpenStack's
// oslo.messaging) from the two byte streams of a TCP connection: frames,
// synchronous methods paired as request and response Exchanges, and
// Basic.Publish / Basic.Deliver messages reassembled as one-way Exchanges.
//
// It works on connections that began before the capture (no protocol
// header): it finds a frame boundary by the frame-end octet 0xCE and caps
// every size the input declares.
package amqp

import (
	"bytes"
	"encoding/binary"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/redact"
	"github.com/flowmap/flowmap/internal/memo"
)

// protocolHeader opens every AMQP 0-9-1 connection (client to broker).
var protocolHeader = []byte("AMQP\x00\x00\x09\x01")

// Frame types and the frame-end octet.
const (
	frameMethod    = 1
	frameHeader    = 2
	frameBody      = 3
	frameHeartbeat = 8
	frameEnd       = 0xCE
)

const (
	// maxFrameDefault caps a declared frame size; RabbitMQ negotiates
	// frame_max 131072 by default, OpenStack keeps it.
	maxFrameDefault = 1 << 20
	// maxBodyDefault is how much of a body is kept; the rest is counted.
	// oslo.messaging's envelope is read from the whole body (a reply puts
	// its result before its _msg_id, a call its args before its context),
	// so it is large: a body is kept only while its message arrives, and
	// once the envelope is read only that is kept.
	maxBodyDefault = 1 << 20
	// maxQueue bounds exchanges begun and not yet emitted per connection.
	maxQueue = 256
	// maxNotes bounds the notes of one exchange.
	maxNotes = 8
)

// Options tune the decoder. The zero value is ready to use.
type Options struct {
	// MaxBody is how many bytes of each message body are kept (0: 1 MiB;
	// < 0: none). Larger bodies are counted in BodyBytes.
	MaxBody int
	// MaxFrame caps the frame size a frame header may declare (0: 1 MiB).
	// A larger one is treated as garbage and the decoder resynchronises.
	MaxFrame int
	// Secrets are the registry's credential names, for Redacted.
	Secrets *decoder.Secrets
	// Redact, when set, is the redaction policy of Redacted (its key
	// makes password fingerprints repeatable); else one from Secrets.
	Redact *redact.Policy

	envelopes *envelopes     // shared by NewProtocol's decoders
	names     *memo.Interner // their frames' short strings, one copy each (nil: none kept)
}

func (o Options) maxBody() int {
	switch {
	case o.MaxBody == 0:
		return maxBodyDefault
	case o.MaxBody < 0:
		return 0
	}
	return o.MaxBody
}

func (o Options) maxFrame() int {
	if o.MaxFrame <= 0 {
		return maxFrameDefault
	}
	return o.MaxFrame
}

func (o Options) policy() *redact.Policy {
	if o.Redact != nil {
		return o.Redact
	}
	return redact.New(o.Secrets, nil)
}

// Port is the broker's well-known AMQP port (RabbitMQ, without TLS).
const Port = 5672

// NewProtocol returns AMQP 0-9-1 for the TCP layer's registry.
func NewProtocol(opts Options) decoder.Protocol {
	if opts.envelopes == nil {
		// the decoders of this protocol share what they read: a delivery
		// is its publish's body again
		opts.envelopes = newEnvelopes()
	}
	if opts.names == nil {
		opts.names = &memo.Interner{}
	}
	return decoder.Protocol{
		Name:  "amqp",
		Sniff: Sniff,
		Port:  func(p uint16) bool { return p == Port },
		New: func(c *decoder.Conn, emit decoder.Emit) decoder.StreamDecoder {
			return New(c, emit, opts)
		},
	}
}

// Sniff says Yes to the protocol header and, on a connection whose start
// was not captured, to bytes that begin with a whole well-formed frame.
func Sniff(c *decoder.Conn, dir decoder.Dir, first []byte) decoder.Verdict {
	n := min(len(first), len(protocolHeader))
	if bytes.Equal(first[:n], protocolHeader[:n]) && dir == decoder.ClientToServer {
		if n < 4 {
			return decoder.NeedMore
		}
		return decoder.Yes
	}
	if c != nil && c.SawSYN {
		return decoder.No
	}
	if len(first) < 8 {
		if len(first) == 0 || validType(first[0]) {
			return decoder.NeedMore
		}
		return decoder.No
	}
	size, ok, _ := likely(first, maxFrameDefault)
	if !ok {
		return decoder.No
	}
	if 7+size >= len(first) {
		return decoder.NeedMore
	}
	if first[7+size] == frameEnd {
		return decoder.Yes
	}
	return decoder.No
}

func validType(t byte) bool {
	return t == frameMethod || t == frameHeader || t == frameBody || t == frameHeartbeat
}

// plausible checks a frame header (at least 7 bytes) without its end
// octet: a known type, a size within max and fitting the type.
func plausible(b []byte, max int) (int, bool) {
	if len(b) < 7 || !validType(b[0]) {
		return 0, false
	}
	ch := binary.BigEndian.Uint16(b[1:3])
	size := binary.BigEndian.Uint32(b[3:7])
	if uint64(size) > uint64(max) {
		return 0, false
	}
	switch b[0] {
	case frameHeartbeat:
		return int(size), ch == 0 && size == 0
	case frameMethod:
		return int(size), size >= 4
	case frameHeader:
		return int(size), ch != 0 && size >= 14
	}
	return int(size), ch != 0
}

// likely is plausible made stricter for finding a boundary inside bytes
// that may be anything (a body, a cut frame): a method frame names a
// method AMQP defines, a content header the basic class with weight 0,
// and channels stay below 4096 (RabbitMQ's channel_max is 2047). With
// fewer than 11 bytes the extra checks wait (ok, but unsure).
func likely(b []byte, max int) (size int, ok, sure bool) {
	size, ok = plausible(b, max)
	if !ok {
		return size, false, false
	}
	if binary.BigEndian.Uint16(b[1:3]) >= 4096 {
		return size, false, false
	}
	if b[0] != frameMethod && b[0] != frameHeader {
		return size, true, true
	}
	if len(b) < 11 {
		return size, true, false
	}
	x, y := binary.BigEndian.Uint16(b[7:9]), binary.BigEndian.Uint16(b[9:11])
	if b[0] == frameMethod {
		_, known := methodNames[methodID{x, y}]
		return size, known, true
	}
	return size, x == classBasic && y == 0, true
}
