package flow

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// randomTimeline is n items started in order over a minute, most short,
// some never ending before the capture does (they last to its end), with
// ties of start.
func randomTimeline(r *rand.Rand, n int) (*timeline[int], time.Time) {
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	tl := &timeline[int]{}
	at := t0
	for i := range n {
		if r.IntN(4) > 0 {
			at = at.Add(time.Duration(r.IntN(int(time.Minute) / n * 2)))
		}
		end := at.Add(time.Duration(r.IntN(int(50 * time.Millisecond))))
		switch r.IntN(20) {
		case 0:
			end = t0.Add(2 * time.Minute) // never answered
		case 1:
			end = at // no time at all
		}
		tl.add(i, at, end)
	}
	return tl, t0
}

// TestTimelineAround: around reports exactly the items started at or
// before t and not ended before t, latest start first, as a walk over
// every item does, with long-lived items among short ones.
func TestTimelineAround(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	found := 0
	for _, n := range []int{1, 2, 3, 7, 64, 65, 1000} {
		tl, t0 := randomTimeline(r, n)
		queries := []time.Time{t0.Add(-time.Second), tl.start[0], tl.start[n-1], tl.end[n-1], t0.Add(3 * time.Minute)}
		for range 200 {
			queries = append(queries, t0.Add(time.Duration(r.IntN(int(70*time.Second)))))
		}
		for _, q := range queries {
			var want []int
			for j := n - 1; j >= 0; j-- {
				if !tl.start[j].After(q) && !tl.end[j].Before(q) {
					want = append(want, j)
				}
			}
			var got []int
			tl.around(q, func(i int) { got = append(got, i) })
			if !slices.Equal(got, want) {
				t.Fatalf("n=%d, t=%v: around gives %v, want %v", n, q.Sub(t0), got, want)
			}
			found += len(got)
		}
	}
	if found == 0 {
		t.Fatal("no query found any item: the test checks nothing")
	}
	var nilTL *timeline[int]
	nilTL.around(time.Now(), func(int) { t.Fatal("a nil timeline has no items") })
}

// BenchmarkTimelineAround queries a timeline with one request never
// answered (it lasts to the end of the capture) at every item's start, at
// two sizes: twice the items should cost about twice as much, not four
// times (a walk back bounded by the longest duration was quadratic).
func BenchmarkTimelineAround(b *testing.B) {
	for _, n := range []int{10_000, 20_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
			tl := &timeline[int]{}
			for i := range n {
				at := t0.Add(time.Duration(i) * time.Millisecond)
				end := at.Add(2 * time.Millisecond)
				if i == 0 {
					end = t0.Add(time.Hour)
				}
				tl.add(i, at, end)
			}
			for b.Loop() {
				k := 0
				for _, s := range tl.start {
					tl.around(s, func(int) { k++ })
				}
				if k < 2*n {
					b.Fatalf("%d items found, want at least %d", k, 2*n)
				}
			}
		})
	}
}
