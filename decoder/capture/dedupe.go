package capture

import "hash/maphash"

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
type dedupe struct {
	window int64 // ns; <= 0 disables
	seed   maphash.Seed
	seen   map[uint64]seenKey
	// fifo holds keys in insertion order for expiry; head is its first live
	// element. It is compacted when head passes half its length.
	fifo []fifoEntry
	head int
}

type seenKey struct {
	t   int64
	src int32
}

type fifoEntry struct {
	key uint64
	t   int64
}

// hashedLen is how much of an IP packet the key covers.
const hashedLen = 128

// maxKeys bounds the keys held at once (about 40 MiB with the map overhead).
const maxKeys = 1 << 20

func newDedupe(window int64) *dedupe {
	d := &dedupe{window: window, seed: maphash.MakeSeed()}
	if window > 0 {
		d.seen = make(map[uint64]seenKey, 1024)
	}
	return d
}

// key hashes an IP packet with its hop-by-hop fields neutralised: one
// maphash.Bytes call on a copy of the hashed bytes (Hash.Write piece by
// piece cost twice as much).
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

// duplicate reports whether ip, captured at t (ns) from source src, is a
// second copy of a packet already seen, and remembers it otherwise.
func (d *dedupe) duplicate(ip []byte, t int64, src int) bool {
	if d.window <= 0 {
		return false
	}
	d.expire(t)
	k := d.key(ip)
	if e, ok := d.seen[k]; ok {
		dt := t - e.t
		if dt < 0 {
			dt = -dt
		}
		if int(e.src) != src && dt <= d.window {
			return true
		}
	}
	d.seen[k] = seenKey{t: t, src: int32(src)}
	d.fifo = append(d.fifo, fifoEntry{key: k, t: t})
	return false
}

// expire forgets keys older than the window before t, and the oldest keys
// beyond maxKeys.
func (d *dedupe) expire(t int64) {
	for d.head < len(d.fifo) {
		f := d.fifo[d.head]
		if t-f.t <= d.window && len(d.fifo)-d.head < maxKeys {
			break
		}
		// Only delete if the map entry is this one: a later sighting of
		// the same key refreshed it and has its own fifo entry.
		if e, ok := d.seen[f.key]; ok && e.t == f.t {
			delete(d.seen, f.key)
		}
		d.head++
	}
	if d.head > 0 && d.head >= len(d.fifo)/2 && d.head >= 1024 {
		n := copy(d.fifo, d.fifo[d.head:])
		d.fifo = d.fifo[:n]
		d.head = 0
	}
	if d.head == len(d.fifo) {
		d.fifo = d.fifo[:0]
		d.head = 0
	}
}
