package otlp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/internal/modeltest"
	"github.com/flowmap/flowmap/render/story"
)

// TestStream: on every capture trace's goldens are drawn from (and on its
// last session alone, and on a model with only notes), the model written
// one session at a time, through bodies small enough to move to their
// temporary files, is byte for byte what Write writes whole, and the
// golden file where there is one; the files are gone after Close. (One
// session at a time is the hard case: trace hands a whole segment, in
// which the requests timing chose among all are.)
func TestStream(t *testing.T) {
	modeltest.StreamTest(t, models.Goldens(t), "otlp.json", 2, []string{"", "1.2.3"}, func(c modeltest.Golden, version string) modeltest.Streamed {
		var want bytes.Buffer
		if err := Write(&want, c.Model, Options{Version: version}); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		s := NewStream(&b, Options{Version: version})
		s.body.limit = 2048
		spill := modeltest.Feed(t, c.Name, c.Model, s, s.spilled)
		return modeltest.Streamed{Where: c.Name + " " + version, Got: b.String(), Want: want.String(), Spilled: spill, MustSpill: want.Len() > 64<<10}
	})
}

// TestStreamDrops: a Stream keeps no session's nodes once it has written
// them.
func TestStreamDrops(t *testing.T) {
	modeltest.StreamDrops(t, []string{""}, func(w io.Writer, v string) modeltest.SessionPrinter {
		return NewStream(w, Options{Version: v})
	}, `"resourceSpans"`)
}

// TestBodiesClose: the spans' store spills to one temporary file, hands
// each participant's runs back in order, and Close closes that file (on
// Linux its name is gone as soon as it is open).
func TestBodiesClose(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	a, b := &flow.Participant{Name: "a"}, &flow.Participant{Name: "b"}
	s := bodies{limit: 8, runs: map[*flow.Participant][]run{}}
	for _, x := range []struct {
		p    *flow.Participant
		text string
	}{{a, "a1-"}, {a, "a2-"}, {b, "b1-"}, {a, "a3-"}, {b, "b2-"}} {
		s.add(x.p, []byte(x.text))
	}
	f := s.f
	if f == nil {
		t.Fatal("not spilled past its limit")
	}
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	if err := s.copy(w, a); err != nil {
		t.Fatal(err)
	}
	if err := s.copy(w, b); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if out.String() != "a1-a2-a3-b1-b2-" {
		t.Errorf("runs back as %q", out.String())
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("store file still open after close: %v", err)
	}
}

// TestStreamForgets: a Stream keeps the identities (for ids that repeat)
// of the nodes that can still come, not of every node it printed: after
// each session none that began before that session's first tree, on
// every capture. On nova-stop-start-reboot (six sessions one after the
// other) that is 686 of its 3,178 nodes at most.
func TestStreamForgets(t *testing.T) {
	for _, g := range models.Goldens(t) {
		nodes := 0
		for _, r := range g.Model.Roots {
			walkTree(r, func(*flow.Node) { nodes++ })
		}
		s := NewStream(io.Discard, Options{})
		most := 0
		for roots := range story.Sessions(g.Model.Roots) {
			if err := s.Session(roots); err != nil {
				t.Fatal(err)
			}
			for id, at := range s.ids.seen {
				if at.start.Before(roots[0].Start) {
					t.Fatalf("%s: identity %q began before the session just printed", g.Name, id)
				}
			}
			most = max(most, len(s.ids.seen))
		}
		if g.Name == "nova-stop-start-reboot" && (g.Model.Sessions < 6 || most*3 > nodes) {
			t.Errorf("%s: %d sessions, at most %d identities kept of %d nodes", g.Name, g.Model.Sessions, most, nodes)
		}
	}
}
