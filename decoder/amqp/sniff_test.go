package amqp

import (
	"testing"

	"github.com/flowmap/flowmap/decoder"
)

func TestSniff(t *testing.T) {
	firstOf := func(name string, dir decoder.Dir) []byte {
		for _, l := range readConv(t, "testdata/streams/"+name+".conv").Chunks {
			if l.Dir == dir && l.Data != nil {
				return l.Data
			}
		}
		t.Fatalf("%s: no data in %v", name, dir)
		return nil
	}
	c2s, s2c := decoder.ClientToServer, decoder.ServerToClient
	for _, tc := range []struct {
		name  string
		syn   bool
		dir   decoder.Dir
		first []byte
		want  decoder.Verdict
	}{
		{"protocol-header", true, c2s, firstOf("nova-boot.s38", c2s), decoder.Yes},
		{"protocol-header-partial", true, c2s, []byte("AM"), decoder.NeedMore},
		{"midstream-client", false, c2s, firstOf("nova-boot.s42", c2s), decoder.Yes},
		{"midstream-broker", false, s2c, firstOf("nova-boot.s39", s2c), decoder.Yes},
		{"midstream-heartbeat", false, s2c, heartbeat, decoder.Yes},
		{"midstream-frame-partial", false, c2s, publish(1, "nova", "conductor")[:9], decoder.NeedMore},
		{"frames-after-syn", true, c2s, heartbeat, decoder.No},
		{"http", false, c2s, []byte("GET /v2.1/servers HTTP/1.1\r\n"), decoder.No},
		{"memcache", false, c2s, []byte("get tokens/abc\r\n"), decoder.No},
		{"mysql-greeting", false, s2c, []byte("\x5b\x00\x00\x00\x0a5.5.5-10.11.19-MariaDB"), decoder.No},
		{"frame-end-wrong", false, c2s, append(heartbeat[:7:7], 0), decoder.No},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Sniff(&decoder.Conn{SawSYN: tc.syn}, tc.dir, tc.first); got != tc.want {
				t.Errorf("Sniff = %v, want %v", got, tc.want)
			}
		})
	}
}

// BenchmarkDecode decodes the real streams, whole segments.
func BenchmarkDecode(b *testing.B) {
	var convs []*conv
	n := 0
	for _, name := range realStreams {
		c := readConv(b, "testdata/streams/"+name+".conv")
		convs = append(convs, c)
		for _, l := range c.Chunks {
			n += len(l.Data)
		}
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range convs {
			c.run(Options{}, 0)
		}
	}
}
