package mermaid

import (
	"bytes"
	"io"
	"testing"

	"github.com/flowmap/flowmap/internal/modeltest"
	"github.com/flowmap/flowmap/render/story"
)

var models modeltest.Cache

// TestStream: on every capture trace's goldens are drawn from (and on its
// last session alone, and on a model with only notes), in both details,
// with and without a title, the diagram printed one session at a time
// through a body small enough to move to its temporary file is byte for
// byte the one printed from the whole story told in memory, and the
// golden file (compact, no title); the temporary file is gone after
// Close; TextSize counts what was written.
func TestStream(t *testing.T) {
	type variant struct{ detail, title string }
	const title = "T; #1 ≈ 😀"
	variants := []variant{{story.Compact, ""}, {story.Compact, title}, {story.Full, ""}, {story.Full, title}} // the golden file's first
	modeltest.StreamTest(t, models.Goldens(t), "mmd", 20, variants, func(c modeltest.Golden, v variant) modeltest.Streamed {
		want := Print(story.Tell(c.Model, story.Options{Detail: v.detail}), v.title)
		var b bytes.Buffer
		s := newStream(&b, Options{Detail: v.detail, Title: v.title}, 512)
		spill := modeltest.Feed(t, c.Name, c.Model, s, s.Spilled)
		where := c.Name + " " + v.detail + " title " + v.title
		if s.TextSize() != TextSize(want) {
			t.Errorf("%s: TextSize %d, want %d", where, s.TextSize(), TextSize(want))
		}
		return modeltest.Streamed{Where: where, Got: b.String(), Want: want, Spilled: spill, MustSpill: len(want) > 4096}
	})
}

// TestStreamDrops: a Stream keeps no session's nodes once it is told,
// in either detail (compact folds roots: polling, background work).
func TestStreamDrops(t *testing.T) {
	modeltest.StreamDrops(t, []string{story.Compact, story.Full}, func(w io.Writer, detail string) modeltest.SessionPrinter {
		return newStream(w, Options{Detail: detail}, 512)
	}, "autonumber")
}

// BenchmarkStream: the full diagram of the largest nova capture, one
// session at a time, with the body in memory and moved to its file.
func BenchmarkStream(b *testing.B) {
	m := modeltest.NovaModel(b, "nova-stop-start-reboot")
	for _, c := range []struct {
		name  string
		limit int
	}{{"memory", -1}, {"file", 64 << 10}} {
		b.Run(c.name, func(b *testing.B) {
			var n int64
			for b.Loop() {
				var out countWriter
				if err := story.PrintSessions(newStream(&out, Options{Detail: story.Full}, c.limit), m); err != nil {
					b.Fatal(err)
				}
				n = int64(out)
			}
			b.SetBytes(n)
		})
	}
}

type countWriter int

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}
