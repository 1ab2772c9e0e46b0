package gcpace

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	p := &pacer{}
	p.budget.Store(64 << 20)
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 1500},         // nothing measured yet: the first goal is 4 MiB x 16 = 64 MiB
		{4 << 20, 1500},   // 4 MiB live: next collection at 64 MiB
		{16 << 20, 300},   // 16 MiB: at 64 MiB
		{32 << 20, 100},   // half the budget: the default pace
		{200 << 20, 100},  // over the budget: never below the default
		{100 << 10, 1500}, // below 4 MiB counts as 4 MiB
	} {
		if got := p.percent(c.live); got != c.want {
			t.Errorf("percent(%d) = %d, want %d", c.live, got, c.want)
		}
	}
	tiny := &pacer{}
	tiny.budget.Store(1 << 40)
	if got := tiny.percent(4 << 20); got != maxPercent {
		t.Errorf("percent capped at %d, got %d", maxPercent, got)
	}
}

func TestStartSetsThePace(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	debug.SetGCPercent(100)
	stop := Start(1 << 30)
	got := debug.SetGCPercent(100)
	stop() // no later collection sets the pace again
	if got <= minPercent {
		t.Fatalf("GC percent after Start = %d, want above %d", got, minPercent)
	}
	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50)
	Start(1 << 30)()
	if got := debug.SetGCPercent(100); got != 50 {
		t.Fatalf("with GOGC set, Start changed the GC percent to %d", got)
	}
}

// TestSetBudget: a command changes the budget of the pacing started: the
// pace follows at once; once stopped, or never started, nothing changes.
func TestSetBudget(t *testing.T) {
	stop := started(t, 1<<30)
	p := active.Load()
	SetBudget(16 << 20)
	got := debug.SetGCPercent(100)
	if want := p.percent(p.live()); got != want || got >= maxPercent {
		t.Errorf("GC percent after SetBudget(16 MiB) = %d, want %d (below %d)", got, want, maxPercent)
	}
	stop()
	debug.SetGCPercent(77)
	SetBudget(1 << 30)
	if got := debug.SetGCPercent(100); got != 77 {
		t.Errorf("SetBudget after stop changed the GC percent to %d", got)
	}
}

// TestSetLimit: the limit is set with a pacer running, and left alone
// without one (GOGC or GOMEMLIMIT set: the user's setting wins).
func TestSetLimit(t *testing.T) {
	stop := started(t, 1<<30)
	SetLimit(100 << 20)
	got := debug.SetMemoryLimit(-1)
	stop()
	if got != 100<<20 {
		t.Errorf("limit %d with a pacer, want %d", got, 100<<20)
	}
	before := debug.SetMemoryLimit(-1)
	SetLimit(50 << 20)
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit %d without a pacer, want it left at %d", got, before)
	}
}

// TestLimitFollowsLive: the limit set holds while what is live is well
// under it, and is half as much again as what is live past that, so
// that a collection is never due at once after the last.
func TestLimitFollowsLive(t *testing.T) {
	p := &pacer{}
	p.limit.Store(100 << 20)
	for _, c := range []struct {
		live uint64
		want int64
	}{
		{0, 100 << 20},
		{40 << 20, 100 << 20},
		{66 << 20, 100 << 20},
		{80 << 20, 120 << 20},
		{200 << 20, 300 << 20},
	} {
		if got := p.limitFor(c.live); got != c.want {
			t.Errorf("limitFor(%d MiB) = %d MiB, want %d", c.live>>20, got>>20, c.want>>20)
		}
	}
}

// started starts a pacer of budget with neither GOGC nor GOMEMLIMIT set;
// the test's end puts the GC percent and the memory limit back.
func started(t *testing.T, budget uint64) (stop func()) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
	return Start(budget)
}

// TestLimitFollowsAfterCollection: after a collection finds more live
// than the limit allows for, the limit set is raised to half as much
// again as what is live (the pacer's finalizer does it), not left below.
func TestLimitFollowsAfterCollection(t *testing.T) {
	stop := started(t, 1<<20)
	defer stop()
	SetLimit(4 << 20)
	keep := make([]byte, 32<<20)
	for i := range keep {
		keep[i] = byte(i)
	}
	var got int64
	for range 200 {
		runtime.GC()
		if got = debug.SetMemoryLimit(-1); got >= 48<<20 {
			break
		}
		time.Sleep(5 * time.Millisecond) // the finalizer runs after the collection
	}
	runtime.KeepAlive(keep)
	if got < 48<<20 {
		t.Fatalf("limit %d MiB with 32 MiB live, want at least 48", got>>20)
	}
}
