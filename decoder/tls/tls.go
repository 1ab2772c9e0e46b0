// Package tls recognises TLS connections, which flowmap cannot read: the
// bytes are encrypted. Claiming them by their first bytes keeps them from
// a decoder chosen by port (keystone's 5000 is HTTP's) that would find no
// message in them, and lets the run say how many there were and why they
// were not decoded. (OpenStack deployments often terminate TLS in front
// of the APIs: a capture behind the terminator, or of the internal
// endpoints, is plaintext.)
package tls

import "github.com/flowmap/flowmap/decoder"

// Why is what the run's diagnostics say of TLS connections.
const Why = "encrypted: flowmap reads plaintext only (capture behind the TLS terminator, or the internal endpoints)"

// Protocol returns TLS as an opaque protocol.
func Protocol() decoder.Protocol {
	return decoder.Protocol{Name: "tls", Sniff: Sniff, Opaque: Why}
}

// Record header fields (RFC 8446 5.1; the same since SSL 3.0).
const (
	handshake   = 22 // ContentType handshake
	clientHello = 1  // HandshakeType client_hello
	serverHello = 2  // HandshakeType server_hello
	maxRecord   = 1<<14 + 2048
)

// Sniff says Yes to the first bytes of a TLS connection: a handshake
// record (legacy version 3.0 to 3.4) whose first message is a ClientHello
// from the client or a ServerHello from the server. HTTP, memcache, MySQL
// and AMQP never start so (a MySQL greeting of that length would carry
// protocol version 10 where the handshake type is).
func Sniff(_ *decoder.Conn, dir decoder.Dir, b []byte) decoder.Verdict {
	want := [...]byte{handshake, 3}
	for i := 0; i < len(want) && i < len(b); i++ {
		if b[i] != want[i] {
			return decoder.No
		}
	}
	if len(b) > 2 && b[2] > 4 {
		return decoder.No
	}
	if len(b) < 6 {
		return decoder.NeedMore
	}
	if n := int(b[3])<<8 | int(b[4]); n < 4 || n > maxRecord {
		return decoder.No
	}
	hello := byte(clientHello)
	if dir == decoder.ServerToClient {
		hello = serverHello
	}
	if b[5] != hello {
		return decoder.No
	}
	return decoder.Yes
}
