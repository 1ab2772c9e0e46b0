// Package gcpace paces Go's garbage collector by a heap budget instead of
// the fixed GOGC=100. flowmap's live heap is small while it decodes (a few
// MB of open connections) and grows only while trace holds a model; at
// GOGC=100 it collected every few MB, and the last collection of a trace
// ran on the idle second core for the whole serial model build. With a
// budget, the heap may grow to the budget before a collection; once the
// live heap is more than half the budget, the pace is GOGC=100 again, so
// memory stays at most twice what is live, as before.
//
// It is the "GC tuner" technique: a finalizer re-armed after every
// collection reads the live heap (runtime/metrics) and sets the GC percent
// for the next cycle. GOGC or GOMEMLIMIT in the environment turn it off,
// so a user's own setting always wins.
package gcpace

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

const (
	minPercent = 100
	maxPercent = 10000
)

// Start paces the collector so the heap may grow to budget bytes before a
// collection, until stop is called. It does nothing when the environment
// sets GOGC or GOMEMLIMIT.
func Start(budget uint64) (stop func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" || budget == 0 {
		return func() {}
	}
	p := &pacer{sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	p.budget.Store(budget)
	debug.SetGCPercent(p.percent(p.live()))
	p.arm()
	active.Store(p)
	return func() { p.stopped.Store(true); active.CompareAndSwap(p, nil) }
}

// active is the pacer Start started, if any.
var active atomic.Pointer[pacer]

// SetBudget changes the budget of the pacing Start began, from the next
// collection on (and the current pace at once); without one (GOGC or
// GOMEMLIMIT set, a test) it does nothing. A command whose heap holds a
// growing model (trace) spends less on collections with a larger one.
func SetBudget(budget uint64) {
	p := active.Load()
	if p == nil || budget == 0 {
		return
	}
	p.budget.Store(budget)
	debug.SetGCPercent(p.percent(p.live()))
}

// SetLimit sets a soft limit on the memory the Go runtime holds
// (debug.SetMemoryLimit) beside the pacing Start began: past the budget
// the pace is GOGC=100, whose heap may grow to twice what was live at the
// last collection, so a collection that happened to find a large heap
// live lets the next grow far beyond the budget; the limit makes the
// collector run before that. The limit follows a live heap that outgrows
// it (limitFor): held below what is live, the collector would run again
// and again, finding nothing to free (a trace whose segment cannot be
// cut, 60 MB of capture: 3.5 s of CPU; 2.0 with the limit following,
// 1.4 with GOGC=100 and no limit, for 20 MiB more). Without a pacer
// (GOGC or GOMEMLIMIT set, a test) it does nothing.
func SetLimit(limit int64) {
	p := active.Load()
	if p == nil || limit <= 0 {
		return
	}
	p.limit.Store(limit)
	debug.SetMemoryLimit(p.limitFor(p.live()))
}

// limitFor is the memory limit with live bytes live: the one set, or
// half as much again as what is live when that is more.
func (p *pacer) limitFor(live uint64) int64 {
	return max(p.limit.Load(), int64(live/2*3))
}

type pacer struct {
	budget  atomic.Uint64
	limit   atomic.Int64 // SetLimit's (0: none)
	sample  []metrics.Sample
	stopped atomic.Bool
}

// sentinel is garbage as soon as it is made: its finalizer runs after the
// collection that finds it, and makes the next one.
type sentinel struct{ p *pacer }

func (p *pacer) arm() {
	s := &sentinel{p}
	runtime.SetFinalizer(s, func(s *sentinel) {
		if s.p.stopped.Load() {
			return
		}
		live := s.p.live()
		debug.SetGCPercent(s.p.percent(live))
		if s.p.limit.Load() > 0 {
			debug.SetMemoryLimit(s.p.limitFor(live))
		}
		s.p.arm()
	})
}

func (p *pacer) live() uint64 {
	metrics.Read(p.sample)
	if p.sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return p.sample[0].Value.Uint64()
}

// percent is the GOGC that lets a heap of live bytes grow to the budget:
// at least 100 (never more memory-hungry than by default) and capped.
func (p *pacer) percent(live uint64) int {
	// The runtime's smallest heap goal is 4 MiB times GOGC/100, and before
	// the first collection live reads 0: counting at least 4 MiB live makes
	// the first goal the budget too, not a multiple of it.
	const floor = 4 << 20
	live = max(live, floor)
	budget := p.budget.Load()
	if live*2 >= budget {
		return minPercent
	}
	return int(min(maxPercent, (budget-live)*100/live))
}
