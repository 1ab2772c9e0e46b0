package tcp

import "testing"

// TestWorkerBatchCopiesBounded: bytes an op brings that are too big for
// the slab are copied for the batch; those copies count towards the
// batch's size, so that workerBatches batches of up to workerOps such ops
// (hundreds of MB) cannot pile up while the decoding side is slow. Kept
// bytes (a packet's own, which the read stage holds anyway) do not.
func TestWorkerBatchCopiesBounded(t *testing.T) {
	w := &worker{full: make(chan *opBatch, 64), free: make(chan *opBatch, 64), cur: &opBatch{}}
	for range 63 {
		w.free <- &opBatch{}
	}
	big := make([]byte, workerSlab/4+1)
	for range 40 {
		w.add(&op{kind: opData, data: big})
	}
	if len(w.full) == 0 {
		t.Fatalf("40 copies of %d bytes (%d in all) held in one batch, none handed over", len(big), 40*len(big))
	}
	for len(w.full) > 0 {
		b := <-w.full
		if b.copied > workerSlab+len(big) {
			t.Errorf("a batch handed over with %d bytes of copies, want at most %d", b.copied, workerSlab+len(big))
		}
	}
	// kept bytes are referenced, not copied: they do not fill a batch
	w = &worker{full: make(chan *opBatch, 64), free: make(chan *opBatch, 64), cur: &opBatch{}}
	for range 40 {
		w.add(&op{kind: opData, data: big, kept: true})
	}
	if len(w.full) != 0 || w.cur.copied != 0 || len(w.cur.big) != 40 {
		t.Errorf("kept bytes: %d batches handed over, %d bytes copied, %d held; want 0, 0, 40", len(w.full), w.cur.copied, len(w.cur.big))
	}
}
