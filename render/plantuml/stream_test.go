package plantuml

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/internal/modeltest"
	"github.com/flowmap/flowmap/internal/truth"
	"github.com/flowmap/flowmap/render/story"
)

// TestStream: on every capture trace's goldens are drawn from (and on its
// last session alone, and on a model with only notes), in both details,
// with and without a title, the diagram printed one session at a time
// through a body small enough to move to its temporary file is byte for
// byte the one printed from the whole story told in memory, and the
// golden file (compact, no title); the temporary file is gone after
// Close.
func TestStream(t *testing.T) {
	spilled, goldens := 0, 0
	for _, g := range models.Goldens(t) {
		for _, c := range modeltest.Parts(g) {
			for _, detail := range []string{story.Compact, story.Full} {
				for _, title := range []string{"", "{T} ~~1~~ ≈ 😀 {"} {
					want := Print(story.Tell(c.Model, story.Options{Detail: detail}), title)
					var b bytes.Buffer
					s := newStream(&b, Options{Detail: detail, Title: title}, 512)
					for trees := range story.Sessions(c.Model.Roots) {
						if err := s.Session(trees); err != nil {
							t.Fatalf("%s: %v", c.Name, err)
						}
					}
					path, spill := s.Spilled()
					if err := s.Close(story.Tail(c.Model)); err != nil {
						t.Fatalf("%s: %v", c.Name, err)
					}
					if spill {
						spilled++
						if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
							t.Errorf("%s: body file %s left after Close: %v", c.Name, path, err)
						}
					}
					if len(want) > 4096 && !spill {
						t.Errorf("%s: a %d-byte diagram did not move to its file", c.Name, len(want))
					}
					where := c.Name + " " + detail + " title " + title
					same(t, where, b.String(), want)
					if c.Name == g.Name && detail == story.Compact && title == "" {
						golden, err := os.ReadFile(filepath.Join(truth.Root(), "testdata", "golden", g.Name+".puml"))
						if errors.Is(err, fs.ErrNotExist) {
							continue // the strace cases' goldens are Mermaid only
						}
						if err != nil {
							t.Fatal(err)
						}
						goldens++
						same(t, where+" (golden)", b.String(), string(golden))
					}
				}
			}
		}
	}
	if spilled == 0 || goldens < 20 {
		t.Errorf("%d bodies moved to their file, %d goldens compared", spilled, goldens)
	}
}

// same reports the first line where got and want differ.
func same(t *testing.T, where, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			t.Errorf("%s: line %d:\n got %q\nwant %q", where, i+1, g[i], w[i])
			return
		}
	}
	t.Errorf("%s: %d lines, want %d", where, len(g), len(w))
}

// TestStreamDrops: a Stream keeps no session's nodes once it is told,
// in either detail (compact folds roots: polling, background work).
func TestStreamDrops(t *testing.T) {
	for _, detail := range []string{story.Compact, story.Full} {
		for _, name := range modeltest.NovaCaptures {
			var b bytes.Buffer
			s := newStream(&b, Options{Detail: detail}, 512)
			tail := modeltest.FeedAndForget(t, modeltest.NovaModel(t, name), s.Session)
			if err := s.Close(tail); err != nil || !strings.Contains(b.String(), "@enduml") {
				t.Errorf("%s %s: %v", name, detail, err)
			}
		}
	}
}
