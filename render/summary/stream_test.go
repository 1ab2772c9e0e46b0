package summary

import (
	"testing"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/internal/modeltest"
	"github.com/flowmap/flowmap/render/story"
)

// TestStreamReadsTokensAtFinish: what a token was learned to be after
// its session was summed up (a later segment's login or validation names
// its user) is what the summary says, as the whole model would: a
// session's token and user, and the costliest validation's token, are
// read at Finish.
func TestStreamReadsTokensAtFinish(t *testing.T) {
	m := models.Model(t, "seed-image-list")
	s := NewStream(Options{})
	var tok *flow.Token
	for trees := range story.Sessions(m.Roots) {
		s.Session(trees)
		for _, r := range trees {
			if tok == nil && r.TokenP() != nil {
				tok = r.TokenP()
			}
		}
	}
	if tok == nil {
		t.Fatal("no session used a token")
	}
	tok.Owner, tok.User = "later token", "later"
	sum := s.Finish(story.Tail(m))
	found := false
	for _, ss := range sum.Sessions {
		if ss.Token == tok.Label() {
			found = true
		}
	}
	if !found || tok.Label() != "later token "+tok.Fingerprint {
		t.Errorf("no session says %q: %+v", tok.Label(), sum.Sessions)
	}
}

// TestStreamDrops: a Stream keeps no session's nodes once it has summed
// them up, on every nova capture.
func TestStreamDrops(t *testing.T) {
	for _, name := range modeltest.NovaCaptures {
		s := NewStream(Options{})
		tail := modeltest.FeedAndForget(t, modeltest.NovaModel(t, name), func(roots []*flow.Node) error {
			s.Session(roots)
			return nil
		})
		if sum := s.Finish(tail); sum.Capture.Trees == 0 || len(sum.Participants) == 0 {
			t.Errorf("%s: %+v", name, sum.Capture)
		}
	}
}
