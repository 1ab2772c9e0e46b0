// Package http decodes HTTP/1.0 and HTTP/1.1 from the two byte streams of a
// TCP connection into request/response Exchanges for flowmap's pipeline
// (decoder/tcp feeds it, flow reads what it emits).
//
// The decoder is incremental and passive: it is fed TCP segment payloads
// in order, buffers at most one incomplete line per direction, keeps start
// lines, headers and text bodies (up to Options.MaxBody), skips other
// bodies by length, and survives capture gaps, snaplen cuts, captures that
// start or stop mid-connection and hostile input (every declared length
// and count is capped). Every oddity becomes a note on the exchange rather
// than an error.
package http

import (
	"bytes"
	"slices"

	"github.com/flowmap/flowmap/decoder"
)

// ports are HTTP's own well-known ports; Options.Ports adds the
// application's (OpenStack's come from flow's service registry). 443 is
// TLS: not here.
var ports = [...]uint16{80, 8080}

// NewProtocol describes HTTP/1.x to the TCP layer. Sniff says Yes for a
// client stream starting with a request method and a space and for a
// server stream starting with "HTTP/1."; when the connection's start was
// not captured it also looks for such a line after a line break.
func NewProtocol(opts Options) decoder.Protocol {
	return decoder.Protocol{
		Name:  "http",
		Sniff: Sniff,
		Port: func(port uint16) bool {
			return Port(port) || slices.Contains(opts.Ports, port)
		},
		New: func(c *decoder.Conn, emit decoder.Emit) decoder.StreamDecoder {
			return New(c, emit, opts)
		},
	}
}

// Port reports whether port is one of HTTP's own well-known ports.
func Port(port uint16) bool {
	for _, p := range ports {
		if p == port {
			return true
		}
	}
	return false
}

// sniffWindow is how many bytes of a mid-stream start are searched for a
// message start before giving up.
const sniffWindow = 4096

// Sniff is the decoder.Protocol Sniff function of HTTP/1.x.
func Sniff(c *decoder.Conn, dir decoder.Dir, first []byte) decoder.Verdict {
	resp := dir == decoder.ServerToClient
	v := sniffStart(resp, first)
	if v != decoder.No || c == nil || c.SawSYN {
		return v
	}
	// Mid-stream: a message may start after any line break.
	b := first
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		b = b[i+1:]
		if ok, _ := plausibleStart(resp, b); ok {
			return decoder.Yes
		}
	}
	if len(first) < sniffWindow {
		return decoder.NeedMore
	}
	return decoder.No
}

// sniffStart judges a stream's first bytes: a known method and a space
// (requests) or "HTTP/1." (responses).
func sniffStart(resp bool, b []byte) decoder.Verdict {
	if resp {
		n := min(len(b), len(http1Dot))
		switch {
		case !bytes.Equal(b[:n], http1Dot[:n]):
			return decoder.No
		case n < len(http1Dot):
			return decoder.NeedMore
		}
		return decoder.Yes
	}
	yes, more := knownMethodPrefix(b)
	switch {
	case yes:
		return decoder.Yes
	case more:
		return decoder.NeedMore
	}
	return decoder.No
}
