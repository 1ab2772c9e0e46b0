package capture

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestKeepSurvivesNext: a packet whose buffer was kept is intact however
// many packets are read after it, and buffers given back are reused
// without harm: the kept packets equal a plain read, and a reused buffer
// does not change the packets still kept.
func TestKeepSurvivesNext(t *testing.T) {
	path := capPath("seed-image-list.pcapng")
	want := drain(t, openT(t, Options{}, path))
	r := openT(t, Options{}, path)
	defer r.Close()
	var kept [][]byte
	var data [][]byte
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, p.Data)
		kept = append(kept, r.Keep())
		if k := len(kept) - 9; k >= 0 {
			// 8 packets later, as a pipeline would: check it, give it back
			if k >= len(want) || !bytes.Equal(data[k], want[k].data) {
				t.Fatalf("packet %d changed after Keep", k+1)
			}
			r.Reuse(kept[k])
			kept[k], data[k] = nil, nil
		}
	}
	if len(data) != len(want) {
		t.Fatalf("%d packets, want %d", len(data), len(want))
	}
	for i, d := range data {
		if d != nil && !bytes.Equal(d, want[i].data) {
			t.Fatalf("packet %d changed after Keep", i+1)
		}
	}
}
