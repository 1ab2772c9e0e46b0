package pipeline

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// TestExHeapOrder: pushes and pops interleaved at random give every item
// in (start, seq) order among those present, like a sorted list would.
func TestExHeapOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h exHeap
	var ref []item // kept sorted
	base := time.Unix(1700000000, 0)
	seq := 0
	for range 20000 {
		if len(h) == 0 || r.IntN(3) > 0 {
			seq++
			// few distinct times, so that seq breaks many ties, across
			// whole seconds (the heap compares seconds, then nanoseconds)
			it := newItem(&decoder.Exchange{ReqStart: base.Add(time.Duration(r.IntN(50)) * 47 * time.Millisecond)}, seq)
			h.push(it)
			i := 0
			for i < len(ref) && !(it.e.Start().Before(ref[i].e.Start()) || it.e.Start().Equal(ref[i].e.Start()) && it.seq < ref[i].seq) {
				i++
			}
			ref = append(ref[:i], append([]item{it}, ref[i:]...)...)
			continue
		}
		got := h.pop()
		if got != ref[0] {
			t.Fatalf("pop: seq %d at %v, want seq %d at %v", got.seq, got.e.Start(), ref[0].seq, ref[0].e.Start())
		}
		ref = ref[1:]
	}
	if len(h) != len(ref) {
		t.Fatalf("%d left, want %d", len(h), len(ref))
	}
}
