package capture

import (
	"bytes"
	"path/filepath"
	"testing"
)

// TestKeepSurvivesNext: a packet whose bytes were kept is intact however
// many packets are read after it, and slabs given back are reused without
// harm: the kept packets equal a plain read, and a reused slab does not
// change the packets still kept. Once all are given back, no slab is in
// use. The files: one read into a single slab, one that spans several
// (merged with the first), and a gzipped one.
func TestKeepSurvivesNext(t *testing.T) {
	small, big := capPath("seed-image-list.pcapng"), capPath("concurrent.pcapng")
	gz := writeTemp(t, "concurrent.pcapng.gz", gzipBytes(t, readFile(t, big)))
	for _, paths := range [][]string{{small}, {big, small}, {gz}} {
		t.Run(filepath.Base(paths[0]), func(t *testing.T) {
			want := drain(t, openT(t, Options{}, paths...))
			r := openT(t, Options{}, paths...)
			var kept []Hold
			var data [][]byte
			each(t, r, func(p *Packet) {
				data = append(data, p.Data)
				kept = append(kept, r.Keep())
				if k := len(kept) - 9; k >= 0 {
					// 8 packets later, as a pipeline would: check it, give it back
					if k >= len(want) || !bytes.Equal(data[k], want[k].data) {
						t.Fatalf("packet %d changed after Keep", k+1)
					}
					r.Reuse(kept[k])
					kept[k], data[k] = Hold{}, nil
				}
			})
			if len(data) != len(want) {
				t.Fatalf("%d packets, want %d", len(data), len(want))
			}
			for i, d := range data {
				if d != nil && !bytes.Equal(d, want[i].data) {
					t.Fatalf("packet %d changed after Keep", i+1)
				}
				r.Reuse(kept[i])
			}
			if r.slabs.inUse != 0 {
				t.Fatalf("%d bytes of slabs in use once every packet is given back", r.slabs.inUse)
			}
		})
	}
}
