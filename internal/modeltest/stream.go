package modeltest

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/internal/golden"
	"github.com/flowmap/flowmap/internal/truth"
)

// SessionPrinter is a printer that prints a model one client session at
// a time, then closes with the model's tail (render/story's
// SessionPrinter).
type SessionPrinter interface {
	Session(roots []*flow.Node) error
	Close(tail *flow.Model) error
}

// Streamed is what a printer's Stream wrote in one case of StreamTest.
type Streamed struct {
	Where     string // the case, in messages
	Got       string // what the Stream wrote
	Want      string // what it must write: the model printed whole
	Spilled   bool   // the body moved to its temporary file (Feed)
	MustSpill bool   // the body was large enough that it must have moved
}

// StreamTest checks a printer's Stream on every model of gs and each of
// its Parts, in each of the printer's variants (details, titles):
// stream(c, v) prints c.Model in variant v one session at a time (Feed)
// and returns what it wrote and what it must write, compared line by
// line (Same). What the first variant wrote for the golden model itself
// must also be its golden file, testdata/golden/<name>.<ext>, where
// there is one. t fails unless some body moved to its file and at least
// minGoldens golden files were compared.
func StreamTest[V any](t *testing.T, gs []Golden, ext string, minGoldens int, variants []V, stream func(c Golden, v V) Streamed) {
	t.Helper()
	spilled, goldens := 0, 0
	for _, g := range gs {
		for _, c := range Parts(g) {
			for i, v := range variants {
				out := stream(c, v)
				if out.Spilled {
					spilled++
				} else if out.MustSpill {
					t.Errorf("%s: the body did not move to its file (%d bytes out)", out.Where, len(out.Want))
				}
				Same(t, out.Where, out.Got, out.Want)
				if c.Name != g.Name || i > 0 {
					continue
				}
				golden, err := os.ReadFile(filepath.Join(truth.Root(), "testdata", "golden", g.Name+"."+ext))
				if errors.Is(err, fs.ErrNotExist) {
					continue // the strace cases' goldens are Mermaid only, some captures' diagrams only
				}
				if err != nil {
					t.Fatal(err)
				}
				goldens++
				Same(t, out.Where+" (golden)", out.Got, string(golden))
			}
		}
	}
	if spilled == 0 || goldens < minGoldens {
		t.Errorf("%d bodies moved to their file, %d goldens compared", spilled, goldens)
	}
}

// StreamDrops checks that a printer's Stream keeps no session's nodes
// once it is fed (FeedAndForget), on every nova capture, in each of the
// printer's variants: open returns a Stream in variant v writing to w.
// What it wrote after Close must contain mark.
func StreamDrops[V any](t *testing.T, variants []V, open func(w io.Writer, v V) SessionPrinter, mark string) {
	t.Helper()
	for _, v := range variants {
		for _, name := range NovaCaptures {
			var b bytes.Buffer
			s := open(&b, v)
			tail := FeedAndForget(t, NovaModel(t, name), s.Session)
			if err := s.Close(tail); err != nil || !strings.Contains(b.String(), mark) {
				t.Errorf("%s %v: %v", name, v, err)
			}
		}
	}
}

// Feed hands p the sessions of m (runs of roots with the same Session
// number) one at a time, in order, then closes it with m's tail (m
// without its trees), as trace does. It fails t on an error, and if the
// body's temporary file, as spilled names it before Close, is still
// there after Close. It returns whether the body moved to its file.
func Feed(t testing.TB, name string, m *flow.Model, p SessionPrinter, spilled func() (string, bool)) bool {
	t.Helper()
	for _, roots := range sessionsOf(m.Roots) {
		if err := p.Session(roots); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	path, spill := spilled()
	tail := *m
	tail.Roots = nil
	if err := p.Close(&tail); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if spill {
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: body file %s left after Close: %v", name, path, err)
		}
	}
	return spill
}

// sessionsOf cuts roots into the runs of roots with the same Session
// number: a model's client sessions, in order.
func sessionsOf(roots []*flow.Node) [][]*flow.Node {
	var out [][]*flow.Node
	for i := 0; i < len(roots); {
		j := i + 1
		for j < len(roots) && roots[j].Session == roots[i].Session {
			j++
		}
		out = append(out, roots[i:j:j])
		i = j
	}
	return out
}

// Same reports the first line where got and want differ (golden.FirstDiff).
func Same(t testing.TB, where, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	if line, g, w := golden.FirstDiff(got, want); line > 0 {
		t.Errorf("%s: line %d:\n got %q\nwant %q", where, line, g, w)
		return
	}
	// FirstDiff reads a missing last line as an empty one
	t.Errorf("%s: %d lines, want %d", where, strings.Count(got, "\n")+1, strings.Count(want, "\n")+1)
}
