package otlp

import (
	"bytes"
	"io"
	"testing"

	"github.com/flowmap/flowmap/internal/modeltest"
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
