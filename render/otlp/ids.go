package otlp

import (
	"crypto/sha256"
	"encoding/binary"
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
	// what a stream (Stream) keeps from one call to the next:
	seen map[string]seenAt // identity -> nodes with it so far
	// spans: the span ids taken, kept for the whole document so that ids
	// are unique in it, as Write makes them: 8 bytes and a map entry a
	// span, against the span's own few hundred bytes of output
	spans    map[uint64]bool
	traceIDs map[[16]byte]bool
	traces   map[int][]byte // session -> trace id
}

type seenAt struct {
	n     int
	start time.Time // (an identity holds its start: forget)
}

// idVersion separates this derivation from any later one.
const idVersion = "flowmap-otlp-1"

func newIDState() *ids {
	return &ids{trace: map[*flow.Node][]byte{}, span: map[*flow.Node][]byte{}, seen: map[string]seenAt{},
		spans: map[uint64]bool{}, traceIDs: map[[16]byte]bool{}, traces: map[int][]byte{}}
}

// newIDs gives every node of m its span id and its session's trace id.
func newIDs(m *flow.Model) *ids {
	out := newIDState()
	out.add(m.Roots)
	return out
}

// add gives the nodes under roots, which come after every tree given
// before in the model's order, their ids.
func (out *ids) add(roots []*flow.Node) {
	session := 0
	for _, r := range roots {
		walkTree(r, func(n *flow.Node) {
			id := identity(n)
			k := out.seen[id].n
			out.seen[id] = seenAt{k + 1, n.Start}
			id += "\x00" + strconv.Itoa(k)
			out.span[n] = unique(out.takeSpan, "span", id, 8)
			if n == r {
				session = n.Session
				if _, ok := out.traces[session]; !ok {
					out.traces[session] = unique(out.takeTrace, "trace", id+"\x00session "+strconv.Itoa(session), 16)
				}
			}
			out.trace[n] = out.traces[session]
		})
	}
}

// drop forgets the nodes' ids (a Stream, once it printed them).
func (out *ids) drop() {
	clear(out.trace)
	clear(out.span)
	clear(out.traces) // the sessions told (the ids taken stay taken)
}

// forget drops the identities of nodes that began before t, which no tree
// from t on can have (an identity holds its start). The ids taken stay
// taken.
func (out *ids) forget(t time.Time) {
	for id, at := range out.seen {
		if at.start.Before(t) {
			delete(out.seen, id)
		}
	}
}

// spanOf is n's span id; for a node not given (a Stream handed one
// session of several that timing chose among), the id it gets when its
// identity is its own and its hash free, as nearly always.
func (out *ids) spanOf(n *flow.Node) []byte {
	if b, ok := out.span[n]; ok {
		return b
	}
	sum := sha256.Sum256([]byte(idVersion + "\x00span\x00" + identity(n) + "\x000"))
	return sum[:8]
}

func walkTree(n *flow.Node, fn func(*flow.Node)) {
	fn(n)
	for _, c := range n.Children {
		walkTree(c, fn)
	}
}

// identity is n's exchange, in words that do not change between runs.
func identity(n *flow.Node) string {
	return n.Proto + "\x00" + strconv.Itoa(n.Conn) + "\x00" + n.From + "\x00" + n.To + "\x00" +
		strconv.FormatInt(n.Start.UnixNano(), 10) + "\x00" + n.Op
}

// unique is the first size bytes of SHA-256 over kind and id, hashed
// again with a counter until it is neither taken nor all zero; take
// reports whether it was free and marks it taken.
func unique(take func([]byte) bool, kind, id string, size int) []byte {
	for salt := 0; ; salt++ {
		in := idVersion + "\x00" + kind + "\x00" + id
		if salt > 0 {
			in += "\x00salt " + strconv.Itoa(salt)
		}
		sum := sha256.Sum256([]byte(in))
		b := sum[:size]
		if !zero(b) && take(b) {
			return b
		}
	}
}

func (out *ids) takeSpan(b []byte) bool {
	k := binary.BigEndian.Uint64(b)
	if out.spans[k] {
		return false
	}
	out.spans[k] = true
	return true
}

func (out *ids) takeTrace(b []byte) bool {
	k := [16]byte(b)
	if out.traceIDs[k] {
		return false
	}
	out.traceIDs[k] = true
	return true
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
