package amqp

import (
	"hash/maphash"
	"sync"
)

// envelopes remembers the oslo.messaging envelopes read lately, by body:
// a message delivered is the one published (a fanout, once per consumer),
// byte for byte, so its envelope is read once. Bounded: the oldest entry
// gives way. Safe for the decoders of one run on any goroutines.
type envelopes struct {
	mu          sync.Mutex
	seed, seed2 maphash.Seed
	by          map[uint64]int // body hash -> index in ring
	ring        []envelope
	next        int
}

// envelope is one body's envelope; the body is known by two independent
// 64-bit hashes and its length, not kept (bodies go up to MaxBody).
type envelope struct {
	hash, hash2 uint64
	n           int
	oslo        *Oslo
}

// envelopeCap is how many envelopes are remembered: more than the
// messages in flight between a publish and its deliveries.
const envelopeCap = 512

func newEnvelopes() *envelopes {
	return &envelopes{seed: maphash.MakeSeed(), seed2: maphash.MakeSeed(), by: map[uint64]int{}}
}

// read returns the envelope of the body raw, reading it with scratch when
// it was not seen lately.
func (e *envelopes) read(raw []byte, scratch *[]byte) *Oslo {
	if e == nil {
		return parseOsloBuf(raw, scratch)
	}
	h, h2 := maphash.Bytes(e.seed, raw), maphash.Bytes(e.seed2, raw)
	e.mu.Lock()
	if i, ok := e.by[h]; ok && e.ring[i].hash2 == h2 && e.ring[i].n == len(raw) {
		o := e.ring[i].oslo
		e.mu.Unlock()
		return o
	}
	e.mu.Unlock()
	o := parseOsloBuf(raw, scratch)
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.ring) < envelopeCap {
		e.ring = append(e.ring, envelope{})
	}
	i := e.next
	if old := e.ring[i]; old.oslo != nil || old.n != 0 {
		if e.by[old.hash] == i {
			delete(e.by, old.hash)
		}
	}
	e.ring[i] = envelope{h, h2, len(raw), o}
	e.by[h] = i
	e.next = (i + 1) % envelopeCap
	return o
}
