package capture

import (
	"cmp"
	"hash/maphash"
	"math"
	"slices"
)

// dedupe recognises the same IP packet captured more than once: on two
// interfaces of one capture, or in two overlapping files (x.ens33.pcapng and
// x.any.pcapng). Its key is a hash of the IP packet with the fields that
// change hop by hop (IPv4 TTL and header checksum, IPv6 hop limit) zeroed.
// A packet is a duplicate only when the same key was seen from a different
// source within the window: one source repeating identical bytes is a
// retransmission, not a second copy.
//
// Only the first hashedLen bytes of the IP packet are hashed: the IP header
// (with its total length and ID) and the transport header (ports, sequence
// numbers) already tell packets apart, and hashing whole 64 KB loopback
// frames was a quarter of the reader's time. It also makes a snaplen-cut copy
// match the full one.
//
// Keys expire by capture time (packets arrive in time order), and at most
// maxKeys are kept whatever the timestamps say, so memory stays bounded.
//
// The keys live in an open-addressing table (linear probing) where a key
// older than the window counts as free: no per-key deletion and no expiry
// queue, one probe sequence per packet. (A Go map with a FIFO of keys to
// expire cost three map operations per packet, 13% of trace's CPU on the
// long capture.) The table is rebuilt with only the live keys, twice as big
// when they fill half of it.
//
// While the Reader has a single source (one pcapng interface so far) no
// packet can be a duplicate, and the table is not used: the keys only go to
// recent, a FIFO of the window's keys. (Appending there costs a fraction of
// a probe into the table; deduplicating was 15% of the reader's CPU.) A
// pcapng may describe a second interface later: the keys of recent then go
// through the table in their order, which leaves it as it would be had it
// been used all along.
type dedupe struct {
	window int64 // ns; <= 0 disables
	seed   maphash.Seed
	slots  []slot // a power of two
	used   int    // slots ever written since the last rebuild
	spare  []slot // rebuild's scratch, kept while small

	solo   bool   // one source so far: keys go to recent
	recent []slot // recent[head:] are the keys of the last window, oldest first
	head   int

	// newest is the latest capture time seen: keys expire by it, not by
	// the current packet's time, which may go back (a source lagging past
	// the merge, a hostile file). Expired by a time that went back, a key
	// could be live again, and whether its slot had been overwritten in
	// between hung on where the hash put it: two runs (two seeds) of the
	// same hostile files removed different duplicates (FuzzReader).
	newest int64
}

// slot is one key: 0 is an empty slot (keys have their low bit set).
type slot struct {
	key uint64
	t   int64
	src int32
}

// hashedLen is how much of an IP packet the key covers.
const hashedLen = 128

// maxKeys bounds the keys held at once (the table is then at most
// 4*maxKeys slots of 24 bytes: 48 MiB); 50 ms of 10 million packets a
// second.
const maxKeys = 1 << 19

const minSlots = 1 << 12

// keepSlots is the largest table that is kept when a burst has passed:
// 1.5 MiB. (Shrinking and growing back a 16,384-slot table at each burst
// of the long capture was a third of the time spent deduplicating.)
const keepSlots = 1 << 16

// newDedupe returns a dedupe for a window (<= 0: none), with solo set
// when the Reader has one source so far.
func newDedupe(window int64, solo bool) *dedupe {
	d := &dedupe{window: window, seed: maphash.MakeSeed(), solo: solo, newest: math.MinInt64}
	if window > 0 && !solo {
		d.slots = make([]slot, minSlots)
	}
	return d
}

// addSource tells d the Reader has more than one source from now on.
func (d *dedupe) addSource() {
	if !d.solo {
		return
	}
	d.solo = false
	if d.window > 0 {
		d.slots = make([]slot, minSlots)
	}
	for _, s := range d.recent[d.head:] {
		d.duplicate(s.key, s.t, int(s.src))
	}
	d.recent, d.head = nil, 0
}

// remember adds a key to recent, forgetting those older than the window
// before t, and the oldest beyond maxKeys.
func (d *dedupe) remember(k uint64, t int64, src int) {
	for d.head < len(d.recent) && (t-d.recent[d.head].t > d.window || len(d.recent)-d.head >= maxKeys) {
		d.head++
	}
	if d.head > 0 && d.head >= len(d.recent)/2 {
		// Move the live keys to the front rather than let append grow
		// the array.
		d.recent = d.recent[:copy(d.recent, d.recent[d.head:])]
		d.head = 0
	}
	d.recent = append(d.recent, slot{key: k, t: t, src: int32(src)})
}

// key hashes an IP packet with its hop-by-hop fields neutralised: one
// maphash.Bytes call on a copy of the hashed bytes (Hash.Write piece by
// piece cost twice as much). The Reader takes the key as it reads the
// packet, while its headers are in the CPU cache: taken when the merge
// releases it, long after, the copy was mostly cache misses (a sixth of
// the reader's CPU on the long capture).
func (d *dedupe) key(ip []byte) uint64 {
	var buf [hashedLen]byte
	n := copy(buf[:], ip)
	switch {
	case n >= 20 && ip[0]>>4 == 4:
		buf[8] = 0  // TTL
		buf[10] = 0 // header checksum
		buf[11] = 0
	case n >= 40 && ip[0]>>4 == 6:
		buf[7] = 0 // hop limit
	}
	return maphash.Bytes(d.seed, buf[:n])
}

// on reports whether duplicates are removed at all.
func (d *dedupe) on() bool { return d.window > 0 }

// duplicate reports whether the packet of key k (from key), captured at t
// (ns) from source src, is a second copy of a packet already seen, and
// remembers it otherwise.
func (d *dedupe) duplicate(k uint64, t int64, src int) bool {
	if d.window <= 0 {
		return false
	}
	if d.solo {
		d.remember(k, t, src)
		return false
	}
	k |= 1
	d.newest = max(d.newest, t)
	now := d.newest
	mask := len(d.slots) - 1
	free := -1 // the first slot whose key has expired
	for i := int(k>>32) & mask; ; i = (i + 1) & mask {
		s := &d.slots[i]
		switch {
		case s.key == 0:
			if free < 0 {
				free = i
				d.used++
			}
			d.slots[free] = slot{key: k, t: t, src: int32(src)}
			if d.used > len(d.slots)/2 || d.used > maxKeys {
				d.rebuild(now)
			}
			return false
		case now-s.t > d.window:
			if free < 0 {
				free = i
			}
		case s.key == k:
			if int(s.src) != src {
				return true // within the window: it has not expired
			}
			s.t = t // the same source again: a retransmission
			return false
		}
	}
}

// rebuild keeps the keys of the window before t in a table where they fill
// at most a quarter: twice as big when more than a quarter of the old one
// is live, smaller only when it is larger than keepSlots and they would
// fill less than a sixteenth. Beyond maxKeys live keys (timestamps that do
// not move), only the newest half of maxKeys is kept.
//
// A table that keeps its size is cleared and reused (the live keys wait in
// a scratch slice, reused too): a new 96 KiB table every 2,000 packets was
// most of the reader's allocation.
func (d *dedupe) rebuild(t int64) {
	live := d.spare[:0]
	for _, s := range d.slots {
		if s.key != 0 && t-s.t <= d.window {
			live = append(live, s)
		}
	}
	if len(live) > maxKeys {
		slices.SortFunc(live, func(a, b slot) int { return cmp.Compare(b.t, a.t) })
		live = live[:maxKeys/2]
	}
	n := minSlots
	for n < 4*len(live) {
		n *= 2
	}
	if n < len(d.slots) && (len(d.slots) <= keepSlots || 4*n > len(d.slots)) {
		n = len(d.slots) // not worth shrinking: bursts come back
	}
	if n == len(d.slots) {
		clear(d.slots)
	} else {
		d.slots = make([]slot, n)
	}
	d.spare = nil
	if cap(live) <= n/2 {
		d.spare = live
	}
	d.used = len(live)
	mask := n - 1
	for _, s := range live {
		i := int(s.key>>32) & mask
		for d.slots[i].key != 0 {
			i = (i + 1) & mask
		}
		d.slots[i] = s
	}
}
