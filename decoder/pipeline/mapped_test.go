package pipeline

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/capture"
	"github.com/flowmap/flowmap/internal/truth"
)

// TestExchangesOutliveTheMapping: the exchanges of every capture, decoded
// from mapped files, hold none of the files' bytes: once Run has returned
// (and unmapped them) every exchange still reads whole. One that pointed
// into a file would fault here.
func TestExchangesOutliveTheMapping(t *testing.T) {
	for _, serial := range []bool{true, false} {
		for _, name := range truth.Captures(t) {
			var exs []*decoder.Exchange
			if _, err := Run([]string{truth.Capture(name)}, Options{Serial: serial}, func(e *decoder.Exchange) { exs = append(exs, e) }); err != nil {
				t.Fatal(err)
			}
			if len(exs) == 0 {
				t.Fatalf("%s: no exchanges", name)
			}
			if err := readAll(exs); err != nil {
				t.Errorf("%s (serial %v): %v", name, serial, err)
			}
		}
	}
}

// readAll encodes every exchange, turning a fault into an error.
func readAll(exs []*decoder.Exchange) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if x := recover(); x != nil {
			err = x.(error)
		}
	}()
	for _, e := range exs {
		if _, err := json.Marshal(e); err != nil {
			return err
		}
	}
	return nil
}

// TestRunFileShrinks: a capture file cut short by another program while
// the pipeline reads it ends that file with a fatal diagnostic naming it,
// wherever the vanished bytes are touched (reading, reassembly, a
// decoder), and nothing crashes. Cut behind the reader (to nothing) the
// packets it already handed on fault in the later stages; cut ahead of
// it, the reader stops at the new end.
func TestRunFileShrinks(t *testing.T) {
	pcap := copies(t, "seed-image-list.lo", 90, 2*time.Second)
	whole := filepath.Join(t.TempDir(), "whole.pcap")
	if err := os.WriteFile(whole, pcap, 0o644); err != nil {
		t.Fatal(err)
	}
	full := 0
	if _, err := Run([]string{whole}, Options{}, func(*decoder.Exchange) { full++ }); err != nil {
		t.Fatal(err)
	}
	for _, serial := range []bool{true, false} {
		for _, cut := range []int64{0, int64(len(pcap) / 3)} {
			p := filepath.Join(t.TempDir(), "shrinks.pcap")
			if err := os.WriteFile(p, pcap, 0o644); err != nil {
				t.Fatal(err)
			}
			n := 0
			res, err := Run([]string{p}, Options{Serial: serial}, func(e *decoder.Exchange) {
				if n++; n == 1 {
					if err := os.Truncate(p, cut); err != nil {
						t.Error(err)
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			var changed []decoder.Diagnostic
			for _, d := range res.Diagnostics {
				if strings.Contains(d.What, capture.Changed) {
					changed = append(changed, d)
					if !d.Fatal || d.Where != p {
						t.Errorf("serial %v, cut at %d: %+v", serial, cut, d)
					}
				}
			}
			if len(changed) == 0 || n == 0 {
				t.Errorf("serial %v, cut at %d: %d exchanges, diagnostics %+v", serial, cut, n, res.Diagnostics)
			}
			if n >= full {
				t.Errorf("serial %v, cut at %d: %d exchanges, as many as the whole file's %d", serial, cut, n, full)
			}
			t.Logf("serial %v, cut at %d: %d of %d exchanges; %v", serial, cut, n, full, changed)
		}
	}
}
