package story_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/flow/registry"
	"github.com/flowmap/flowmap/internal/truth"
	"github.com/flowmap/flowmap/render/story"
)

// TestNovaEveryNodeInOneCall: the same on the nova captures of
// testdata/nova (RPC calls and replies, casts, the broker hops of full
// detail, periodic tasks and polling folded with what is under them).
func TestNovaEveryNodeInOneCall(t *testing.T) {
	for _, name := range []string{"nova-boot", "nova-boot-fail", "nova-reboot"} {
		checkSteps(t, name, novaModel(t, name))
	}
}

// novaModel decodes and correlates testdata/nova/<name>.pcapng.
func novaModel(t *testing.T, name string) *flow.Model {
	t.Helper()
	var o pipeline.Options
	o.HTTP.Ports = registry.HTTPPorts()
	var exs []*decoder.Exchange
	p := filepath.Join(truth.Root(), "testdata", "nova", name+".pcapng")
	if _, err := pipeline.Run([]string{p}, o, func(e *decoder.Exchange) { exs = append(exs, e) }); err != nil {
		t.Fatal(err)
	}
	return flow.Build(exs, flow.Options{})
}

// TestSessionGuessesMarked: on three nova boots at once, every call that
// stands for a root only timing put in its session while other sessions
// were in progress is marked, in both details, and the note explaining
// the mark comes once, before the first.
func TestSessionGuessesMarked(t *testing.T) {
	m := novaModel(t, "nova-concurrent")
	for _, detail := range []string{story.Compact, story.Full} {
		st := story.Tell(m, story.Options{Detail: detail})
		notes, marked := 0, 0
		for _, s := range st.Steps {
			if s.Kind == story.Note && s.Text == story.SessionGuessNote {
				notes++
			}
			if s.Kind != story.Call {
				continue
			}
			for _, n := range s.Nodes {
				if n.SessionGuessed() {
					marked++
					if !s.Guessed {
						t.Errorf("%s: %q stands for root %d, whose session is a guess among %d, unmarked", detail, s.Text, n.ID, n.SessionsInProgress)
					}
					if notes != 1 {
						t.Errorf("%s: %d notes on session guesses before %q, want 1", detail, notes, s.Text)
					}
				}
			}
		}
		if marked == 0 {
			t.Fatalf("%s: no call stands for a root whose session is a guess: the test checks nothing", detail)
		}
		if notes != 1 {
			t.Errorf("%s: %d notes on session guesses, want 1", detail, notes)
		}
	}
}

// TestServiceTokenOnArrow: a request presenting the calling service's own
// token beside the user's shows both on its arrow.
func TestServiceTokenOnArrow(t *testing.T) {
	st := story.Tell(novaModel(t, "nova-boot"), story.Options{Detail: story.Full})
	shown := 0
	for _, s := range st.Steps {
		if s.Kind != story.Call || len(s.Nodes) != 1 {
			continue
		}
		n := s.Nodes[0]
		svc := n.ServiceTokenP()
		if svc == nil {
			continue
		}
		shown++
		want := n.TokenP().Label() + " + " + svc.Label()
		if !strings.Contains(s.Text, want) {
			t.Errorf("%q: want %q on the arrow", s.Text, want)
		}
	}
	if shown == 0 {
		t.Fatal("no arrow for a request with a service token: the test checks nothing")
	}
}
