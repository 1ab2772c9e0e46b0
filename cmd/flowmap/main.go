// Command flowmap turns packet captures of an OpenStack control plane into
// the story of each API call: decoded exchanges, request trees, diagrams.
package main

import (
	"os"

	"github.com/flowmap/flowmap/internal/gcpace"
)

// heapBudget is how far the heap may grow before the collector runs (see
// gcpace): decode's peak RSS on a 1 GB capture went from 47 to 54 MiB
// for 18% less CPU; 32 MiB took it to 69 MiB, over the 64 MiB goal.
// Since capture files are mapped (decoder/capture/mapped.go), the pages
// the stages hold count in RSS beside the heap (and the binary's own 12
// MiB of text): at 24 MiB the peak was 62-65 MiB; at 20, with flowmap's
// own reassembly, 55-60 MiB; at 16, 49 MiB, for 7% more CPU on the long
// capture (0.143 → 0.153 s).
const heapBudget = 16 << 20

// traceHeapBudget is trace's (gcpace.SetBudget): its heap holds the
// segment being built, which every collection marks again. On the long
// capture trace's CPU went from 0.202-0.207 to 0.188 s (a collection
// less) with its peak RSS unchanged (52-53 MiB); on the 1 GB capture the
// peak stayed 111-114 MiB (96 MiB took it to 149).
const traceHeapBudget = 64 << 20

// traceMemLimit caps the memory trace's Go runtime holds when it streams
// (gcpace.SetLimit): past the budget the heap may grow to twice what a
// collection found live, and one that found a segment's build at its
// largest let the 1 GB capture's peak RSS reach 152 MiB once in three
// runs of make bench (110-117 otherwise). With the limit: 107-113 MiB,
// the CPU the same (2.7 s; OTLP 10% more, its RSS 143 → 117 MiB;
// --detail full 5% more, 133 → 113 MiB). It is not set when trace builds
// the whole model (--split, --strace): that heap may need more.
const traceMemLimit = 100 << 20

func main() {
	gcpace.Start(heapBudget)
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
