// Command flowmap turns packet captures of an OpenStack control plane into
// the story of each API call: decoded exchanges, request trees, diagrams.
package main

import (
	"os"

	"github.com/flowmap/flowmap/internal/gcpace"
)

// heapBudget is how far the heap may grow before the collector runs (see
// gcpace); peak RSS stays within the 64 MiB decode budget of the README.
const heapBudget = 32 << 20

func main() {
	gcpace.Start(heapBudget)
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
