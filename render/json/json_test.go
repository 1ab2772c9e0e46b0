package json

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/internal/modeltest"
	"github.com/flowmap/flowmap/internal/truth"
	"github.com/flowmap/flowmap/render/story"
)

var models modeltest.Cache

// whole is the model encoded whole, as Write did before it streamed.
func whole(t *testing.T, m *flow.Model) string {
	t.Helper()
	c := *m
	if c.Roots == nil {
		c.Roots = []*flow.Node{}
	}
	if c.Tokens == nil {
		c.Tokens = []*flow.Token{}
	}
	if c.Participants == nil {
		c.Participants = []*flow.Participant{}
	}
	var b bytes.Buffer
	enc := stdjson.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&c); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestStream: on every capture trace's goldens are drawn from (and on its
// last session alone, and on a model with only notes), the model written
// one session at a time through a body small enough to move to its
// temporary file is byte for byte the model encoded whole, and the golden
// file where there is one; the temporary file is gone after Close.
func TestStream(t *testing.T) {
	spilled, goldens := 0, 0
	for _, g := range models.Goldens(t) {
		for _, c := range modeltest.Parts(g) {
			want := whole(t, c.Model)
			var b bytes.Buffer
			s := newStream(&b, 512)
			for trees := range story.Sessions(c.Model.Roots) {
				if err := s.Session(trees); err != nil {
					t.Fatalf("%s: %v", c.Name, err)
				}
			}
			path, spill := s.body.Spilled()
			if err := s.Close(story.Tail(c.Model)); err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			if spill {
				spilled++
				if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s: body file %s left after Close: %v", c.Name, path, err)
				}
			}
			if len(c.Model.Roots) > 0 && !spill {
				t.Errorf("%s: the body did not move to its file", c.Name)
			}
			same(t, c.Name, b.String(), want)
			var w bytes.Buffer
			if err := Write(&w, c.Model); err != nil || w.String() != want {
				t.Errorf("%s: Write differs from the model encoded whole (%v)", c.Name, err)
			}
			if c.Name != g.Name {
				continue
			}
			golden, err := os.ReadFile(filepath.Join(truth.Root(), "testdata", "golden", g.Name+".json"))
			if errors.Is(err, fs.ErrNotExist) {
				continue // trace's goldens of some captures are diagrams only
			}
			if err != nil {
				t.Fatal(err)
			}
			goldens++
			same(t, g.Name+" (golden)", b.String(), string(golden))
		}
	}
	if spilled == 0 || goldens < 10 {
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

// TestStreamDrops: a Stream keeps no session's nodes once it has written
// them.
func TestStreamDrops(t *testing.T) {
	for _, name := range modeltest.NovaCaptures {
		var b bytes.Buffer
		s := newStream(&b, 512)
		tail := modeltest.FeedAndForget(t, modeltest.NovaModel(t, name), s.Session)
		if err := s.Close(tail); err != nil || !strings.Contains(b.String(), `"trees": [`) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
