package tcp

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestDecodeTCPAsGopacket: decodeTCP (the fixed header only) accepts the
// same segments as gopacket's whole decoding and reads the same fields and
// payload, on every segment of a real capture and on damaged headers.
func TestDecodeTCPAsGopacket(t *testing.T) {
	type seg struct {
		name string
		b    []byte
	}
	var segs []seg
	for i, p := range load(t, filepath.Join("..", "..", "testdata", "captures", "seed-image-list.pcapng")) {
		if ihl := int(p.data[0]&0x0f) * 4; p.data[9] == 6 && len(p.data) > ihl {
			segs = append(segs, seg{fmt.Sprintf("packet %d", i+1), p.data[ihl:]})
		}
	}
	if len(segs) < 100 {
		t.Fatalf("only %d TCP segments read", len(segs))
	}
	real := segs[0].b
	// withOpts is the first segment's fixed header with these options,
	// its data offset set to match, the flags byte set to flags, and
	// 3 bytes of payload.
	withOpts := func(flags byte, opts ...byte) []byte {
		h := append(append([]byte(nil), real[:20]...), opts...)
		h[12], h[13] = byte(len(h)/4)<<4, flags
		return append(h, 'a', 'b', 'c')
	}
	below5 := withOpts(0x18)
	below5[12] = 4 << 4
	ns := withOpts(0x18, 1, 1, 1, 1)
	ns[12] |= 1
	segs = append(segs,
		seg{"empty", nil},
		seg{"header-19-bytes", real[:19]},
		seg{"offset-below-5", below5},
		seg{"offset-past-segment", withOpts(0x18, 1, 1, 1, 1)[:22]},
		seg{"option-length-0", withOpts(0x18, 8, 0, 1, 1)},
		seg{"option-length-past-options", withOpts(0x18, 8, 40, 1, 1)},
		seg{"option-kind-alone-at-end", withOpts(0x18, 1, 1, 1, 30)},
		seg{"mptcp-truncated", withOpts(0x18, 30, 2, 0, 0)},
		seg{"end-of-options-then-junk", withOpts(0x18, 0, 9, 9, 9)},
		seg{"ns-flag", ns},
		seg{"syn-fin-rst", withOpts(0x07, 2, 4, 5, 0xb4)},
	)
	var a Assembler
	for _, s := range segs {
		var want layers.TCP
		werr := want.DecodeFromBytes(s.b, gopacket.NilDecodeFeedback)
		payload, ok := a.decodeTCP(s.b)
		if ok != (werr == nil) {
			t.Fatalf("%s: decodeTCP %v, gopacket's error %v", s.name, ok, werr)
		}
		if !ok {
			continue
		}
		g := &a.tcp
		if g.src != uint16(want.SrcPort) || g.dst != uint16(want.DstPort) || g.seq != want.Seq ||
			g.off != want.DataOffset ||
			(g.flags&flagFIN != 0) != want.FIN || (g.flags&flagSYN != 0) != want.SYN || (g.flags&flagRST != 0) != want.RST ||
			(g.flags&flagACK != 0) != want.ACK ||
			!bytes.Equal(payload, want.Payload) {
			t.Fatalf("%s: decoded differently from gopacket", s.name)
		}
	}
}
