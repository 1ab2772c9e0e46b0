package pipeline

import (
	"testing"

	"github.com/flowmap/flowmap/internal/truth"
)

// TestIPv6: the same traffic over IPv6 gives the same exchanges.
func TestIPv6(t *testing.T) {
	src := truth.Capture("seed-image-list")
	v4, _ := decodeAll(t, src)
	v6, res := decodeAll(t, truth.IPv6Copy(t, src))
	diffCalls(t, httpCalls(v6), httpCalls(v4))
	if a, b := len(memcacheCalls(v6)), len(memcacheCalls(v4)); a != b || a == 0 {
		t.Errorf("memcache: %d over IPv6, %d over IPv4", a, b)
	}
	checkMySQL(t, mysqlEvents(v6), mysqlEvents(v4), false)
	if len(v6) == 0 || !v6[0].Conn.Client.Addr().Is6() {
		t.Fatalf("not decoded as IPv6: %+v", res.Capture)
	}
}
