package truth

import (
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Rewrite writes a classic Ethernet pcap made from the frames of a real
// pcapng: fn returns each frame as it should be written, or nil to drop it.
func Rewrite(tb testing.TB, src string, fn func(frame []byte, t time.Time) []byte) string {
	tb.Helper()
	in, err := os.Open(src)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	r, err := pcapgo.NewNgReader(in, pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		tb.Fatal(err)
	}
	dst := filepath.Join(tb.TempDir(), "rewritten.pcap")
	out, err := os.Create(dst)
	if err != nil {
		tb.Fatal(err)
	}
	defer out.Close()
	w := pcapgo.NewWriterNanos(out)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		tb.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		frame := fn(data, ci.Timestamp)
		if frame == nil {
			continue
		}
		ci.CaptureLength, ci.Length, ci.AncillaryData = len(frame), len(frame), nil
		if err := w.WritePacket(ci, frame); err != nil {
			tb.Fatal(err)
		}
	}
	return dst
}

// IPv6Copy rewrites a real Ethernet/IPv4 pcapng as Ethernet/IPv6: the same
// TCP segments between fd00::<IPv4 address>es.
func IPv6Copy(tb testing.TB, src string) string {
	return Rewrite(tb, src, func(data []byte, _ time.Time) []byte {
		if len(data) < 34 || data[12] != 0x08 || data[13] != 0x00 {
			return nil
		}
		ip := data[14:]
		ihl := int(ip[0]&0x0f) * 4
		total := min(int(binary.BigEndian.Uint16(ip[2:4])), len(ip))
		payload := ip[ihl:total]
		v6 := make([]byte, 14+40+len(payload))
		copy(v6, data[:12])
		v6[12], v6[13] = 0x86, 0xdd
		h := v6[14:]
		h[0] = 0x60
		binary.BigEndian.PutUint16(h[4:6], uint16(len(payload)))
		h[6], h[7] = 6, 64
		h[8], h[9] = 0xfd, 0x00
		copy(h[20:24], ip[12:16])
		h[24], h[25] = 0xfd, 0x00
		copy(h[36:40], ip[16:20])
		copy(h[40:], payload)
		return v6
	})
}

// CutBefore keeps the frames captured after t, as if the capture had
// started then.
func CutBefore(tb testing.TB, src string, t time.Time) string {
	return Rewrite(tb, src, func(data []byte, ts time.Time) []byte {
		if ts.After(t) {
			return data
		}
		return nil
	})
}
