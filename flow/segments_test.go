package flow

import (
	"encoding/json"
	"os"

	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/flow/registry"
)

func decodeAll(t *testing.T, path string) []*decoder.Exchange {
	t.Helper()
	var o pipeline.Options
	o.HTTP.Ports = registry.HTTPPorts()
	var exs []*decoder.Exchange
	if _, err := pipeline.Run([]string{path}, o, func(e *decoder.Exchange) { exs = append(exs, e) }); err != nil {
		t.Fatal(err)
	}
	return exs
}

// segmented builds exs in segments of size exchanges and window, and
// returns the model the segments make and how many segments there were.
func segmented(exs []*decoder.Exchange, size int, window time.Duration, f Filter) (*Model, int) {
	var roots []*Node
	parts := 0
	s := NewSegments(Options{}, func(rs []*Node) { roots = append(roots, rs...); parts++ })
	s.Size, s.Window, s.Filter = size, window, f
	for _, e := range exs {
		s.Add(e)
	}
	m := s.Close()
	m.Roots = roots
	return m, parts
}

func dump(t *testing.T, m *Model) string {
	t.Helper()
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// firstDiff shows where two dumps part.
func firstDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			lo := max(0, i-8)
			return "line " + itoa(i+1) + ":\nwhole:\n" + strings.Join(la[lo:min(len(la), i+4)], "\n") + "\nsegmented:\n" + strings.Join(lb[lo:min(len(lb), i+4)], "\n")
		}
	}
	return "lengths differ"
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestSegmentsAsWhole builds every capture in testdata in segments as
// small as a few exchanges, cut at the latest safe place a few seconds
// behind, and wants the model of the whole build, node for node: the
// same trees, sessions, numbers, participants in the same order, tokens
// and notes.
func TestSegmentsAsWhole(t *testing.T) {
	var paths []string
	for _, dir := range []string{"captures", "nova", "attribution"} {
		ps, _ := filepath.Glob(filepath.Join("..", "testdata", dir, "*.pcapng"))
		paths = append(paths, ps...)
	}
	if len(paths) < 20 {
		t.Fatalf("only %d captures in testdata", len(paths))
	}
	cut := 0
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			exs := decodeAll(t, p)
			whole := Build(exs, Options{})
			want := dump(t, whole)
			for _, size := range []int{5, 50} {
				for _, window := range []time.Duration{2 * time.Second, 5 * time.Second} {
					m, parts := segmented(exs, size, window, Filter{})
					if got := dump(t, m); got != want {
						t.Fatalf("size %d, window %s, %d segments: %s", size, window, parts, firstDiff(want, got))
					}
					if parts > 1 {
						cut++
					}
				}
			}
		})
	}
	if cut == 0 {
		t.Fatal("no capture was cut in segments: the test tested nothing")
	}
	t.Logf("%d of %d builds were cut", cut, 4*len(paths))
}

// TestSegmentsAsWholeLong does the same on the shared long capture (55 s,
// 10,864 exchanges, 30 CLI commands) and on the nova captures with
// RabbitMQ, in segments of a few hundred exchanges and the windows a few
// seconds long: the cuts fall between CLI commands.
func TestSegmentsAsWholeLong(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "shared", "captures", "nova", "*.pcapng"))
	paths = append([]string{filepath.Join("..", "..", "shared", "captures", "long-mixed-head.pcapng")}, paths...)
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s: %v (../shared is not here)", p, err)
		}
		t.Run(filepath.Base(p), func(t *testing.T) {
			exs := decodeAll(t, p)
			want := dump(t, Build(exs, Options{}))
			for _, size := range []int{40, 300} {
				for _, window := range []time.Duration{5 * time.Second, 10 * time.Second} {
					m, parts := segmented(exs, size, window, Filter{})
					if got := dump(t, m); got != want {
						t.Fatalf("size %d, window %s, %d segments: %s", size, window, parts, firstDiff(want, got))
					}
					t.Logf("size %d, window %s: %d segments", size, window, parts)
				}
			}
		})
	}
}

// TestSegmentsLate: an exchange that comes after the cut its start falls
// before (a merged capture whose clock jumped back) is drawn with the
// segment it came with, never lost nor drawn twice, and a note says so.
func TestSegmentsLate(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("..", "testdata", "captures", "*.pcapng"))
	tried := 0
	for _, p := range paths {
		exs := decodeAll(t, p)
		if _, parts := segmented(exs, 5, 2*time.Second, Filter{}); parts < 2 || len(exs) < 10 {
			continue
		}
		tried++
		nodes := func(m *Model) int {
			n := 0
			m.Walk(func(*Node, int) { n++ })
			return n
		}
		want := nodes(Build(exs, Options{}))
		// one exchange comes a third of the capture later: every node
		// drawn once, wherever it came; the note when it came after its
		// part was drawn
		noted := false
		for k := 1; k < len(exs)-1; k += max(len(exs)/20, 1) {
			to := min(len(exs)-1, k+len(exs)/3)
			late := append([]*decoder.Exchange(nil), exs[:k]...)
			late = append(late, exs[k+1:to+1]...)
			late = append(late, exs[k])
			late = append(late, exs[to+1:]...)
			m, parts := segmented(late, 5, 2*time.Second, Filter{})
			if got := nodes(m); got != want {
				t.Errorf("%s: exchange %d moved to %d: %d nodes in %d segments, want %d", p, k, to, got, parts, want)
			}
			noted = noted || strings.Contains(strings.Join(m.Notes, "\n"), "1 exchanges came after the part of the capture their start times fall in was drawn")
		}
		if !noted {
			t.Errorf("%s: no exchange moved last was noted as late", p)
		}
	}
	if tried == 0 {
		t.Fatal("no capture was cut in segments")
	}
}
