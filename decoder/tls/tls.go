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

	changeCipherSpec = 20 // the first ContentType
	applicationData  = 23 // the last one TLS 1.3 sends
)

// midStream says Yes to bytes a capture begun inside a TLS connection
// starts with (it starts at a segment, which most often starts a record):
// a record header, and the next record's header where its length says (two
// in a row: one alone could be chance).
func midStream(b []byte) decoder.Verdict {
	at := 0
	for n := 0; n < 2; n++ {
		if len(b) < at+5 {
			if n == 1 && len(b) >= 4<<10 && b[0] == applicationData && b[2] == 3 {
				// a whole first record's worth seen and the sniff buffer
				// ends before the next: only the record TLS 1.2 and 1.3
				// send data in (23, version 3.3), whose header other
				// protocols' bytes match by chance far less often than
				// any record's (a MySQL packet would have to be 197,399
				// bytes long)
				return decoder.Yes
			}
			return decoder.NeedMore
		}
		h := b[at:]
		if h[0] < changeCipherSpec || h[0] > applicationData || h[1] != 3 || h[2] > 4 {
			return decoder.No
		}
		l := int(h[3])<<8 | int(h[4])
		if l == 0 || l > maxRecord {
			return decoder.No
		}
		at += 5 + l
	}
	return decoder.Yes
}

// Sniff says Yes to the first bytes of a TLS connection: a handshake
// record (legacy version 3.0 to 3.4) whose first message is a ClientHello
// from the client or a ServerHello from the server. HTTP, memcache, MySQL
// and AMQP never start so (a MySQL greeting of that length would carry
// protocol version 10 where the handshake type is).
func Sniff(c *decoder.Conn, dir decoder.Dir, b []byte) decoder.Verdict {
	if c != nil && !c.SawSYN && len(b) > 0 && b[0] >= changeCipherSpec && b[0] <= applicationData {
		return midStream(b)
	}
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
