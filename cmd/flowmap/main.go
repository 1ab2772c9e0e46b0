// Command flowmap turns packet captures of an OpenStack control plane into
// the story of each API call: decoded exchanges, request trees, diagrams.
package main

import "os"

func main() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
