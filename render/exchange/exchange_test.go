package exchange

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// TestStampsAsFormat: the cached formatter writes what time.Format's
// RFC3339Nano writes, for times in order and out of order, whole seconds,
// trailing zeros, and years it does not cache.
func TestStampsAsFormat(t *testing.T) {
	var s stamps
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 11, 30, 23, 59, 58, 0, time.UTC)
	times := []time.Time{
		{}, base, base.Add(time.Nanosecond), base.Add(100 * time.Millisecond), base.Add(120 * time.Microsecond),
		base.Add(2 * time.Second), time.Date(10000, 1, 1, 0, 0, 0, 5, time.UTC), time.Unix(0, 0),
		base.In(time.FixedZone("x", 3600)), time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	}
	for range 20000 {
		times = append(times, base.Add(time.Duration(r.Int64N(int64(5*time.Second)))-time.Second))
	}
	for _, tm := range times {
		if got, want := s.format(tm), stamp(tm); got != want {
			t.Fatalf("format(%v) = %q, want %q", tm, got, want)
		}
	}
	// formatAll, four at a time (the zero time among them).
	for i := 0; i+4 <= len(times); i += 3 {
		ts := [4]time.Time(times[i : i+4])
		got := s.formatAll(&ts)
		for k, tm := range ts {
			if want := stamp(tm); got[k] != want {
				t.Fatalf("formatAll(%v)[%d] = %q, want %q", ts, k, got[k], want)
			}
		}
	}
}

// TestConnNames: cached address strings are the connection's own, also
// when two connections share a slot.
func TestConnNames(t *testing.T) {
	var n connNames
	a := &decoder.Conn{ID: 1, Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:5000")}
	b := &decoder.Conn{ID: 1 + len(n), Client: netip.MustParseAddrPort("[fe80::1]:40001"), Server: netip.MustParseAddrPort("10.0.0.3:3306")}
	for _, c := range []*decoder.Conn{a, b, a, a, b} {
		cl, sv := n.of(c)
		if cl != c.Client.String() || sv != c.Server.String() {
			t.Fatalf("conn %d: %s %s, want %s %s", c.ID, cl, sv, c.Client, c.Server)
		}
	}
}
