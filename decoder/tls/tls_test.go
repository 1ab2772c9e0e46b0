package tls

import (
	"testing"

	"github.com/flowmap/flowmap/decoder"
)

// TestMidStreamOneHeader: joined after the handshake, a sniff buffer that
// ends inside its first record (16 KiB records, a few KiB seen) is TLS
// only when that record is application data of TLS 1.2 or 1.3; any other
// header alone could be another protocol's bytes (a MySQL row starting
// 0x15 0x03 0x00), and two headers in a row are needed.
func TestMidStreamOneHeader(t *testing.T) {
	c := &decoder.Conn{}
	buf := func(h ...byte) []byte {
		b := make([]byte, 4<<10)
		copy(b, h)
		return b
	}
	for _, x := range []struct {
		name string
		b    []byte
		want decoder.Verdict
	}{
		{"application-data-1.3", buf(23, 3, 3, 0x30, 0x00), decoder.Yes},
		{"application-data-1.0", buf(23, 3, 1, 0x30, 0x00), decoder.NeedMore},
		{"alert", buf(21, 3, 3, 0x30, 0x00), decoder.NeedMore},
		{"mysql-row", buf(0x15, 0x03, 0x00, 0x20, 0x00), decoder.NeedMore},
		{"short", buf(23, 3, 3, 0x30, 0x00)[:100], decoder.NeedMore},
	} {
		if got := Sniff(c, decoder.ServerToClient, x.b); got != x.want {
			t.Errorf("%s: %v, want %v", x.name, got, x.want)
		}
	}
}
