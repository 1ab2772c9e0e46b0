// Package benchcpu reports what a benchmark cost the whole process: CPU
// time per run (every goroutine and the garbage collector) and wall time
// over CPU time (below 1 when work ran on more than one core at once).
package benchcpu

import (
	"testing"
	"time"
)

// Mark is a point to measure from.
type Mark struct {
	cpu  time.Duration
	wall time.Time
}

// Start marks now.
func Start() Mark { return Mark{CPU(), time.Now()} }

// Report adds cpu-ms/op and wall/cpu since m to b's results.
func (m Mark) Report(b *testing.B) {
	cpu, wall := CPU()-m.cpu, time.Since(m.wall)
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	if cpu > 0 { // (0 where the process's CPU time is not known)
		b.ReportMetric(float64(wall)/float64(cpu), "wall/cpu")
	}
}
