package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/tcp"
	"github.com/flowmap/flowmap/internal/truth"
)

// tlsCapture is two HTTPS requests to a server on keystone's port.
var tlsCapture = filepath.Join(truth.Root(), "testdata", "tls", "curl-openssl.pcap")

// payloadBytes sums the TCP payload of a pcap file, read with gopacket's
// own reader: the count the pipeline's must match.
func payloadBytes(t *testing.T, path string) (total int64, conns int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	src := gopacket.NewPacketSource(r, r.LinkType())
	for p := range src.Packets() {
		if tc, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			total += int64(len(tc.Payload))
			if tc.SYN && !tc.ACK {
				conns++
			}
		}
	}
	return total, conns
}

// TestTLSNotDecodedButSaid: TLS connections on an HTTP port are not
// handed to the HTTP decoder (which would find nothing in them): no
// exchange, and a diagnostic that counts every one of their bytes and
// says why.
func TestTLSNotDecodedButSaid(t *testing.T) {
	bytes, conns := payloadBytes(t, tlsCapture)
	if conns != 2 || bytes < 10000 {
		t.Fatalf("the capture has %d connections and %d payload bytes, want 2 and over 10 kB", conns, bytes)
	}
	for _, serial := range []bool{true, false} {
		n := 0
		o := Options{Serial: serial}
		o.HTTP.Ports = []uint16{5000} // keystone's, as the CLI has it
		res, err := Run([]string{tlsCapture}, o, func(*decoder.Exchange) { n++ })
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d exchanges decoded from encrypted bytes", n)
		}
		want := []tcp.Opaque{{Protocol: "tls", Why: res.TCP.Opaque[0].Why, Conns: conns, Bytes: bytes}}
		if len(res.TCP.Opaque) != 1 || res.TCP.Opaque[0] != want[0] {
			t.Errorf("Opaque = %+v, want %+v", res.TCP.Opaque, want)
		}
		said := false
		for _, d := range res.Diagnostics {
			said = said || d.Where == "tls" && strings.Contains(d.What, "2 connections") && strings.Contains(d.What, "encrypted")
		}
		if !said {
			t.Errorf("no diagnostic says the TLS connections were not decoded: %v", res.Diagnostics)
		}
	}
}

// TestUnreadBytesSaid: without TLS among the protocols, the connections go
// to the HTTP decoder by port; the bytes it skips, finding no message
// start in them, are counted and said, not dropped silently, also when
// the decoders are wrapped to record their streams (--strace).
func TestUnreadBytesSaid(t *testing.T) {
	for _, streams := range []*Streams{nil, {}} {
		unreadBytesSaid(t, streams)
	}
}

func unreadBytesSaid(t *testing.T, streams *Streams) {
	bytes, conns := payloadBytes(t, tlsCapture)
	var o Options
	o.HTTP.Ports = []uint16{5000}
	o.Streams = streams
	for _, p := range o.Protocols() {
		if p.Opaque == "" {
			o.TCP.Protocols = append(o.TCP.Protocols, p)
		}
	}
	res, err := Run([]string{tlsCapture}, o, func(*decoder.Exchange) {})
	if err != nil {
		t.Fatal(err)
	}
	if res.TCP.UnreadConns != conns || res.TCP.UnreadBytes != bytes {
		t.Errorf("unread: %d bytes on %d connections, want %d on %d", res.TCP.UnreadBytes, res.TCP.UnreadConns, bytes, conns)
	}
	said := false
	for _, d := range res.Diagnostics {
		said = said || strings.Contains(d.What, "no message start found after them")
	}
	if !said {
		t.Errorf("no diagnostic says bytes were skipped: %v", res.Diagnostics)
	}
}

// TestNoPlaintextTakenForTLS: on every plaintext capture, nothing is
// recognised as TLS.
func TestNoPlaintextTakenForTLS(t *testing.T) {
	paths := []string{}
	for _, name := range truth.Captures(t) {
		paths = append(paths, truth.Capture(name))
	}
	nova, _ := filepath.Glob(filepath.Join(truth.Root(), "testdata", "nova", "*.pcapng"))
	paths = append(paths, nova...)
	for _, p := range paths {
		res, err := Run([]string{p}, Options{}, func(*decoder.Exchange) {})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.TCP.Opaque) > 0 {
			t.Errorf("%s: %+v taken for TLS", filepath.Base(p), res.TCP.Opaque)
		}
	}
}

// TestTLSMidStream: a connection the capture joins after its handshake
// (application-data records only) on keystone's port is recognised as TLS
// too, not handed to the HTTP decoder by port: every payload byte is
// counted as encrypted, none skipped.
func TestTLSMidStream(t *testing.T) {
	p := filepath.Join(truth.Root(), "testdata", "tls", "curl-openssl-midstream.pcap")
	bytes, _ := payloadBytes(t, p)
	for _, serial := range []bool{true, false} {
		o := Options{Serial: serial}
		o.HTTP.Ports = []uint16{5000}
		n := 0
		res, err := Run([]string{p}, o, func(*decoder.Exchange) { n++ })
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 || res.TCP.UnreadBytes != 0 || len(res.TCP.Opaque) != 1 || res.TCP.Opaque[0].Conns != 2 || res.TCP.Opaque[0].Bytes != bytes {
			t.Errorf("%d exchanges, %d bytes skipped, opaque %+v: want 2 TLS connections of %d bytes", n, res.TCP.UnreadBytes, res.TCP.Opaque, bytes)
		}
	}
}
