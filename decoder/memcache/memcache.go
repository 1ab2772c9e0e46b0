// Package memcache decodes memcached traffic (text, meta and binary
// protocols) from the two byte streams of one TCP connection into
// decoder.Exchanges, one per command with its reply. It sits between
// decoder/tcp, which feeds it bytes, and flow, which reads the exchanges.
//
// The decoder is incremental: bytes may arrive in any split. Data blocks
// are counted, never allocated at their declared size; only the first
// Options.MaxValue bytes of each are kept. Lost bytes (Gap), a capture
// that starts mid-connection and malformed input are survived by
// resynchronising at the next line that starts with a command or reply
// word (text) or at the next plausible packet header (binary); the
// exchanges concerned are marked Truncated and carry Notes.
package memcache

import (
	"bytes"
	"errors"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/redact"
)

// Port is memcached's well-known port.
const Port = 11211

// DefaultMaxValue is the number of data-block bytes kept per value when
// Options.MaxValue is 0: enough for keystonemiddleware's cached
// token-validation JSON (about 2 KB) to be shown whole by decode.
const DefaultMaxValue = 4096

// Options tune the decoder.
type Options struct {
	// MaxValue is how many bytes of each data block are kept (Request.Value,
	// Value.Data). 0 means DefaultMaxValue; negative keeps nothing.
	MaxValue int
	// Redact is the redaction policy messages' Redacted applies; nil
	// means the default one (words and shapes, no service's list).
	Redact *redact.Policy
}

func (o Options) maxValue() int {
	switch {
	case o.MaxValue == 0:
		return DefaultMaxValue
	case o.MaxValue < 0:
		return 0
	}
	return o.MaxValue
}

// Errors found in the input. They are reported as exchange Notes (the
// decoder never stops on them); the parsing helpers return them wrapped
// with detail, so tests can use errors.Is.
var (
	ErrBadCommand   = errors.New("memcache: bad command line")
	ErrBadLength    = errors.New("memcache: bad data length")
	ErrBadReply     = errors.New("memcache: unexpected reply line")
	ErrLineTooLong  = errors.New("memcache: line too long")
	ErrBadDataChunk = errors.New("memcache: data block not followed by CRLF")
	ErrBadHeader    = errors.New("memcache: bad binary header")
)

// NewProtocol returns the memcache protocol for the TCP layer's registry.
func NewProtocol(opts Options) decoder.Protocol {
	return decoder.Protocol{
		Name:  "memcache",
		Sniff: Sniff,
		Port:  func(p uint16) bool { return p == Port },
		New: func(c *decoder.Conn, emit decoder.Emit) decoder.StreamDecoder {
			return New(c, emit, opts)
		},
	}
}

// sniffWindow is how far Sniff looks for a line start when the capture
// began mid-connection.
const sniffWindow = 4096

// Sniff recognises memcache by its first bytes: a text or meta command
// word followed by a space or CRLF from the client, a reply word from the
// server, or a plausible binary header (magic 0x80 from the client, 0x81
// from the server). When the connection's start was not captured, it also
// tries every line start in the first few KiB.
func Sniff(c *decoder.Conn, dir decoder.Dir, first []byte) decoder.Verdict {
	v := sniffAt(dir, first)
	if v != decoder.No || c == nil || c.SawSYN {
		return v
	}
	window := first[:min(len(first), sniffWindow)]
	more := false
	for {
		i := bytes.IndexByte(window, '\n')
		if i < 0 {
			break
		}
		window = window[i+1:]
		switch sniffAt(dir, window) {
		case decoder.Yes:
			return decoder.Yes
		case decoder.NeedMore:
			more = true
		}
	}
	if more || len(first) < sniffWindow {
		// mid-stream: may be inside a data block; let more bytes decide
		return decoder.NeedMore
	}
	return decoder.No
}

// sniffAt judges b as the start of a message.
func sniffAt(dir decoder.Dir, b []byte) decoder.Verdict {
	if len(b) == 0 {
		return decoder.NeedMore
	}
	magic := byte(magicRequest)
	if dir == decoder.ServerToClient {
		magic = magicResponse
	}
	if b[0] == magic {
		h, ok := parseBinHeader(b)
		if !ok {
			return decoder.NeedMore
		}
		if h.plausible(dir) {
			return decoder.Yes
		}
		return decoder.No
	}
	return textStart(dir, b, true)
}

// textStart judges whether b starts with a text command (client) or reply
// (server) line. strict (sniffing) refuses the short, common reply words
// OK and ERROR, and wants a complete line for replies without arguments.
func textStart(dir decoder.Dir, b []byte, strict bool) decoder.Verdict {
	const maxWord = 13 // len("CLIENT_ERROR ")
	i := bytes.IndexAny(b[:min(len(b), maxWord)], " \r\n")
	if i < 0 {
		if len(b) >= maxWord || !isWordPrefix(dir, b) {
			return decoder.No
		}
		return decoder.NeedMore
	}
	w := b[:i]
	delim := b[i]
	if dir == decoder.ClientToServer {
		if !isCommandWord(w) {
			return decoder.No
		}
		if delim == '\r' {
			if len(b) == i+1 {
				return decoder.NeedMore
			}
			if b[i+1] != '\n' {
				return decoder.No
			}
		}
		return decoder.Yes
	}
	if !isReplyWord(w) {
		return decoder.No
	}
	if strict && (bytes.Equal(w, resultOK) || bytes.Equal(w, resultError)) {
		return decoder.No
	}
	if delim == '\r' {
		if len(b) == i+1 {
			return decoder.NeedMore
		}
		if b[i+1] != '\n' {
			return decoder.No
		}
	}
	return decoder.Yes
}

// isWordPrefix reports whether b could still become a command (client) or
// reply (server) word.
func isWordPrefix(dir decoder.Dir, b []byte) bool {
	if dir == decoder.ClientToServer {
		for _, w := range [...]string{"get", "gets", "gat", "gats", "set", "add", "replace", "append",
			"prepend", "cas", "delete", "incr", "decr", "touch", "flush_all", "version", "stats",
			"verbosity", "quit", "mg", "ms", "md", "ma", "mn", "me"} {
			if len(b) <= len(w) && w[:len(b)] == string(b) {
				return true
			}
		}
		return false
	}
	for _, w := range [...][]byte{resultValue, resultEnd, resultStat, resultStored, resultNotStored,
		resultExists, resultNotFound, resultDeleted, resultTouched, resultOK, resultError,
		resultClientError, resultServerError, resultVersion, metaValue, metaHead, metaMiss,
		metaNotStore, metaExists, metaNotFound, metaNoop, metaDebug} {
		if bytes.HasPrefix(w, b) {
			return true
		}
	}
	return false
}
