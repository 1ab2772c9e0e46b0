package memo

import (
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func TestTableComputesOnce(t *testing.T) {
	var tab Table[int]
	calls := 0
	f := func(s string) int { calls++; return len(s) }
	for range 3 {
		if got := tab.Get("SELECT 1", f); got != 8 {
			t.Fatalf("Get = %d, want 8", got)
		}
	}
	if calls != 1 || tab.Hits != 2 || tab.Misses != 1 {
		t.Fatalf("calls %d hits %d misses %d, want 1 2 1", calls, tab.Hits, tab.Misses)
	}
}

func TestTableIsBounded(t *testing.T) {
	var tab Table[string]
	for i := range 3 * MaxEntries {
		tab.Get(strconv.Itoa(i), strings.ToUpper)
	}
	if n := len(tab.m); n > MaxEntries {
		t.Fatalf("%d entries held, bound %d", n, MaxEntries)
	}
	big := strings.Repeat("x", MaxBytes/8)
	for i := range 64 {
		tab.Get(big+strconv.Itoa(i), strings.ToUpper)
	}
	if tab.bytes > MaxBytes {
		t.Fatalf("%d key bytes held, bound %d", tab.bytes, MaxBytes)
	}
	if got := tab.Get(big+"7", strings.ToLower); got != strings.ToLower(big+"7") {
		t.Fatal("a huge key gave a wrong value")
	}
}

func TestInternerSharesOneCopy(t *testing.T) {
	var in Interner
	a := in.Bytes([]byte("SELECT * FROM images"))
	b := in.Bytes([]byte("SELECT * FROM images"))
	if a != b || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatal("the same bytes gave two copies")
	}
	if c := in.Bytes([]byte("SELECT 1")); c != "SELECT 1" {
		t.Fatalf("got %q", c)
	}
	if allocs := testing.AllocsPerRun(100, func() { in.Bytes([]byte("SELECT * FROM images")) }); allocs != 0 {
		t.Fatalf("a remembered lookup allocates %.0f times", allocs)
	}
}

func TestLookupPut(t *testing.T) {
	var tab Table[[]int]
	q := "INSERT INTO t (a, b) VALUES (1, 2)"
	if _, ok := tab.Lookup(q[14:20]); ok {
		t.Fatal("found in an empty table")
	}
	tab.Put(strings.Clone(q[14:20]), []int{1, 2})
	if v, ok := tab.Lookup("(a, b)"); !ok || len(v) != 2 || tab.Hits != 1 || tab.Misses != 1 {
		t.Fatalf("Lookup = %v, %v; hits %d misses %d", v, ok, tab.Hits, tab.Misses)
	}
	for i := range 2 * MaxEntries {
		tab.Put(strconv.Itoa(i), nil)
	}
	if n := len(tab.m); n > MaxEntries {
		t.Fatalf("%d entries held, bound %d", n, MaxEntries)
	}
}
