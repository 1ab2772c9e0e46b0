package otlp

import (
	"crypto/sha256"
	"strconv"
	"time"

	"github.com/flowmap/flowmap/flow"
)

// ids are the trace and span ids of every node of a model.
//
// A node's identity is what tells its exchange apart in the capture: the
// protocol, its connection's number, the calling and serving participants,
// the start time in nanoseconds and the operation, plus how many nodes
// with the same identity came before it in tree order. (Not its summary:
// a redacted password in it is keyed afresh on every run.) Its span id
// is the first 8 bytes of SHA-256 over that identity; the trace id of a
// session is the first 16 bytes of SHA-256 over the identity of the
// session's first root and the session number. Printers read only the
// model's neutral facts, so connection addresses are not part of it: they
// appear through the participants (a host without a name is its address).
//
// Ids are unique within a model: a clash (or an all-zero id, which OTLP
// forbids) is resolved by hashing again with a counter, in tree order, so
// the result is still deterministic.
type ids struct {
	trace map[*flow.Node][]byte
	span  map[*flow.Node][]byte
}

// idVersion separates this derivation from any later one.
const idVersion = "flowmap-otlp-1"

// newIDs gives every node of m its span id and its session's trace id.
func newIDs(m *flow.Model) *ids {
	out := &ids{trace: map[*flow.Node][]byte{}, span: map[*flow.Node][]byte{}}
	seen := map[string]int{}      // identity -> nodes with it so far
	spans := map[string]bool{}    // span ids taken
	traceIDs := map[string]bool{} // trace ids taken
	traces := map[int][]byte{}    // session -> trace id
	session := 0
	m.Walk(func(n *flow.Node, depth int) {
		id := identity(n)
		k := seen[id]
		seen[id]++
		id += "\x00" + strconv.Itoa(k)
		out.span[n] = unique(spans, "span", id, 8)
		if depth == 0 {
			session = n.Session
			if _, ok := traces[session]; !ok {
				traces[session] = unique(traceIDs, "trace", id+"\x00session "+strconv.Itoa(session), 16)
			}
		}
		out.trace[n] = traces[session]
	})
	return out
}

// identity is n's exchange, in words that do not change between runs.
func identity(n *flow.Node) string {
	return n.Proto + "\x00" + strconv.Itoa(n.Conn) + "\x00" + n.From + "\x00" + n.To + "\x00" +
		strconv.FormatInt(n.Start.UnixNano(), 10) + "\x00" + n.Op
}

// unique is the first size bytes of SHA-256 over kind and id, hashed again
// with a counter until it is neither taken nor all zero; it marks the
// result taken.
func unique(taken map[string]bool, kind, id string, size int) []byte {
	for salt := 0; ; salt++ {
		in := idVersion + "\x00" + kind + "\x00" + id
		if salt > 0 {
			in += "\x00salt " + strconv.Itoa(salt)
		}
		sum := sha256.Sum256([]byte(in))
		b := sum[:size]
		if !taken[string(b)] && !zero(b) {
			taken[string(b)] = true
			return b
		}
	}
}

func zero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// unixNano is t in OTLP's nanoseconds since the epoch; 0 for the zero
// time (OTLP's "unknown").
func unixNano(t time.Time) uint64 {
	if t.IsZero() || t.UnixNano() < 0 {
		return 0
	}
	return uint64(t.UnixNano())
}
