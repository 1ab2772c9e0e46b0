package memo

import (
	"strconv"
	"strings"
	"sync"
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

// held is what t keeps: entries and key bytes of both generations.
func held[V any](t *Table[V]) (entries, bytes int) {
	return len(t.cur) + len(t.old), t.curBytes + t.oldBytes
}

// checkBound fails when t holds more than twice the bounds, or when its
// byte counts are not its keys'.
func checkBound[V any](t *testing.T, tab *Table[V]) {
	t.Helper()
	n, b := held(tab)
	if n > 2*MaxEntries || b > 2*MaxBytes {
		t.Fatalf("%d entries, %d key bytes held; bound 2×%d, 2×%d", n, b, MaxEntries, MaxBytes)
	}
	real := 0
	for k := range tab.cur {
		real += len(k)
	}
	for k := range tab.old {
		if _, ok := tab.cur[k]; ok {
			t.Fatalf("%q in both generations", k)
		}
		real += len(k)
	}
	if real != b {
		t.Fatalf("%d key bytes counted, %d held", b, real)
	}
}

func TestTableIsBounded(t *testing.T) {
	var tab Table[string]
	for i := range 5 * MaxEntries {
		tab.Get(strconv.Itoa(i), strings.ToUpper)
		if i%3 == 0 {
			tab.Get(strconv.Itoa(i/2), strings.ToUpper) // promotions too
		}
		if i%512 == 0 {
			checkBound(t, &tab)
		}
	}
	checkBound(t, &tab)
	if n, _ := held(&tab); n <= MaxEntries {
		t.Fatalf("%d entries held: the old generation was not kept", n)
	}
	big := strings.Repeat("x", MaxBytes/16-8)
	for i := range 64 {
		tab.Get(big+strconv.Itoa(i), strings.ToUpper)
		tab.Get(big+strconv.Itoa(i/2), strings.ToUpper)
		checkBound(t, &tab)
	}
	if _, b := held(&tab); b <= MaxBytes {
		t.Fatalf("%d key bytes held: the old generation was not kept", b)
	}
	if got := tab.Get(big+"7", strings.ToLower); got != strings.ToLower(big+"7") && got != strings.ToUpper(big+"7") {
		t.Fatal("a big key gave a wrong value")
	}
}

// TestTableKeepsHotKeys: texts used again and again (a service's few
// hundred statements) are computed once however many one-shot texts
// (INSERTs with fresh uuids) pass between their uses, as long as fewer
// than MaxEntries do.
func TestTableKeepsHotKeys(t *testing.T) {
	var tab Table[int]
	calls := map[string]int{}
	f := func(s string) int { calls[s]++; return len(s) }
	const hot, uses, oneShot = 200, 50, 10 // one-shot texts after each hot use
	unique := 0
	for range uses {
		for h := range hot {
			k := "SELECT hot " + strconv.Itoa(h)
			if got := tab.Get(k, f); got != len(k) {
				t.Fatalf("Get(%q) = %d", k, got)
			}
			for range oneShot {
				tab.Get("INSERT one-shot "+strconv.Itoa(unique), f)
				unique++
			}
		}
	}
	// 50 × 200 × 11 lookups: the table filled 26 times over
	if tab.Misses != hot+unique || tab.Hits != hot*(uses-1) {
		t.Fatalf("hits %d misses %d, want %d %d", tab.Hits, tab.Misses, hot*(uses-1), hot+unique)
	}
	for h := range hot {
		if n := calls["SELECT hot "+strconv.Itoa(h)]; n != 1 {
			t.Fatalf("hot text %d computed %d times", h, n)
		}
	}
	checkBound(t, &tab)
}

// TestTableHugeKey: a key longer than MaxBytes/16 is computed each time,
// never kept, and does not start a generation.
func TestTableHugeKey(t *testing.T) {
	var tab Table[int]
	for i := range 100 {
		tab.Get(strconv.Itoa(i), func(s string) int { return len(s) })
	}
	huge := strings.Repeat("y", MaxBytes/16+1)
	for range 3 {
		if got := tab.Get(huge, func(s string) int { return len(s) }); got != len(huge) {
			t.Fatalf("huge key: %d", got)
		}
	}
	if tab.Misses != 103 || tab.old != nil || len(tab.cur) != 100 {
		t.Fatalf("misses %d, old %v, %d current entries; want 103, none, 100", tab.Misses, tab.old != nil, len(tab.cur))
	}
	if _, ok := tab.Lookup("7"); !ok {
		t.Fatal("a huge key flushed the table")
	}
}

// TestTableConcurrent: Get, Lookup, Put and promotions from several
// goroutines (go test -race) keep the bound and the values right.
func TestTableConcurrent(t *testing.T) {
	var tab Table[string]
	var in Interner
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3 * MaxEntries {
				k := strconv.Itoa(i % (MaxEntries + MaxEntries/2 + g))
				if v := tab.Get(k, strings.ToUpper); v != k {
					t.Errorf("Get(%q) = %q", k, v)
					return
				}
				if v, ok := tab.Lookup(k); ok && v != k {
					t.Errorf("Lookup(%q) = %q", k, v)
					return
				}
				tab.Put("p"+strconv.Itoa(i), "p")
				if s := in.Bytes([]byte(k)); s != k {
					t.Errorf("Bytes(%q) = %q", k, s)
					return
				}
			}
		}()
	}
	wg.Wait()
	checkBound(t, &tab)
	checkBound(t, &in.t)
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
		if i == MaxEntries+10 {
			// a key of the old generation moves to the current one, a
			// copy of the caller's (cut from a bigger string)
			q := "SELECT 10 FROM x"
			if _, ok := tab.Lookup(q[7:9]); !ok {
				t.Fatal("10 lost at the first change of generation")
			}
			if _, ok := tab.cur["10"]; !ok {
				t.Fatal("10 not moved to the current generation")
			}
			for k := range tab.cur {
				if k == "10" && unsafe.StringData(k) == unsafe.StringData(q[7:9]) {
					t.Fatal("the table keeps the caller's bigger string")
				}
			}
		}
	}
	checkBound(t, &tab)
}

// BenchmarkTableHit is the hot path: a key the current generation holds.
func BenchmarkTableHit(b *testing.B) {
	var tab Table[int]
	keys := make([]string, 200)
	for i := range keys {
		keys[i] = "SELECT hot text " + strconv.Itoa(i)
		tab.Get(keys[i], func(s string) int { return len(s) })
	}
	i := 0
	for b.Loop() {
		tab.Get(keys[i%len(keys)], func(s string) int { return len(s) })
		i++
	}
}

// BenchmarkTableMix: 200 hot keys, each use followed by 4 keys seen once
// (cycled from more than the table holds), f as cheap as it gets: the
// table's own cost, and the share of the hot keys' uses after their first
// that missed (hot-lost-%).
func BenchmarkTableMix(b *testing.B) {
	var tab Table[int]
	hot := make([]string, 200)
	for i := range hot {
		hot[i] = "SELECT hot text " + strconv.Itoa(i)
	}
	once := make([]string, 4*MaxEntries)
	for i := range once {
		once[i] = "INSERT one-shot text " + strconv.Itoa(i)
	}
	f := func(s string) int { return len(s) }
	i, hotUses, onceUses := 0, 0, 0
	for b.Loop() {
		if i%5 == 0 {
			tab.Get(hot[hotUses%len(hot)], f)
			hotUses++
		} else {
			tab.Get(once[onceUses%len(once)], f)
			onceUses++
		}
		i++
	}
	if again := hotUses - min(hotUses, len(hot)); again > 0 {
		b.ReportMetric(100*float64(tab.Misses-onceUses-min(hotUses, len(hot)))/float64(again), "hot-lost-%")
	}
}
