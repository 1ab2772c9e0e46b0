//go:build !unix

package benchcpu

import "time"

// CPU is 0 where getrusage is not available: the benchmarks then report
// no CPU figures.
func CPU() time.Duration { return 0 }
