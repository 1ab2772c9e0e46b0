package pipeline

import (
	"strings"
	"testing"
	"time"

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

// TestMalformedHeadersAreReported: packets whose TCP header cannot be
// decoded are skipped and said so, never dropped silently.
func TestMalformedHeadersAreReported(t *testing.T) {
	n := 0
	p := truth.Rewrite(t, truth.Capture("seed-image-list.ens33"), func(f []byte, _ time.Time) []byte {
		n++
		if n%10 == 0 && len(f) > 14+20+13 {
			f = append([]byte(nil), f...)
			ihl := int(f[14]&0x0f) * 4
			f[14+ihl+12] = 0x10 // data offset 1 word: shorter than a TCP header
		}
		return f
	})
	_, res := decodeAll(t, p)
	if res.TCP.Malformed != 3 {
		t.Errorf("%d malformed packets counted, want 3", res.TCP.Malformed)
	}
	found := false
	for _, d := range res.Diagnostics {
		found = found || strings.Contains(d.What, "could not be decoded")
	}
	if !found {
		t.Errorf("no diagnostic for malformed headers: %v", res.Diagnostics)
	}
}
