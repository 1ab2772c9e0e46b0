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

// TestWorkerUpdateRidesOnOp: an update right after an op of the same
// stream is carried by that op, not queued as one of its own; after
// another stream's op, or a Sync, it is queued.
func TestWorkerUpdateRidesOnOp(t *testing.T) {
	w := &worker{full: make(chan *opBatch, 4), free: make(chan *opBatch, 4), cur: &opBatch{}}
	s1, s2 := &decStream{}, &decStream{}
	w.add(&op{kind: opData, s: s1, data: []byte("GET")})
	w.add(&op{kind: opUpdate, s: s1})
	w.add(&op{kind: opGap, s: s1, n: 3})
	w.add(&op{kind: opUpdate, s: s2})
	w.add(&op{kind: opEnd, s: s2})
	w.add(&op{kind: opUpdate, s: s2})
	w.add(&op{kind: opExpire})
	w.add(&op{kind: opUpdate, s: s2})
	type got struct {
		kind opKind
		s    *decStream
		upd  bool
	}
	want := []got{{opData, s1, true}, {opGap, s1, false}, {opUpdate, s2, false}, {opEnd, s2, true}, {opExpire, nil, false}, {opUpdate, s2, false}}
	if len(w.cur.ops) != len(want) {
		t.Fatalf("%d ops queued, want %d", len(w.cur.ops), len(want))
	}
	for i, x := range w.cur.ops {
		if g := (got{x.kind, x.s, x.upd}); g != want[i] {
			t.Errorf("op %d: got %+v, want %+v", i, g, want[i])
		}
	}
}
