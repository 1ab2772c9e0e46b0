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
	mu   sync.Mutex
	seed maphash.Seed
	by   map[uint64]int // body hash -> index in ring
	ring []envelope
	next int
}

// envelope is one body's envelope. The body is known by its length, its
// first bytes and a 64-bit hash with a seed drawn for the run, not kept
// (bodies go up to MaxBody): a body mistaken for one of the 512 remembered
// is a chance of about 2^-55 per message, and no input can aim at the seed.
type envelope struct {
	hash uint64
	n    int
	head [32]byte
	oslo *Oslo
}

func headOf(b []byte) (h [32]byte) {
	copy(h[:], b)
	return h
}

// envelopeCap is how many envelopes are remembered: more than the
// messages in flight between a publish and its deliveries.
const envelopeCap = 512

func newEnvelopes() *envelopes {
	return &envelopes{seed: maphash.MakeSeed(), by: map[uint64]int{}}
}

// read returns the envelope of the body raw, reading it when it was not
// seen lately.
func (e *envelopes) read(raw []byte) *Oslo {
	if e == nil || !looksOslo(raw) {
		return parseOslo(raw) // nil for what is not an envelope: not remembered
	}
	h := maphash.Bytes(e.seed, raw)
	e.mu.Lock()
	if i, ok := e.by[h]; ok && e.ring[i].n == len(raw) && e.ring[i].head == headOf(raw) {
		o := e.ring[i].oslo
		e.mu.Unlock()
		return o
	}
	e.mu.Unlock()
	o := parseOslo(raw)
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
	e.ring[i] = envelope{h, len(raw), headOf(raw), o}
	e.by[h] = i
	e.next = (i + 1) % envelopeCap
	return o
}
