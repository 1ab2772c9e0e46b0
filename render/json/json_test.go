package json

import (
	"bytes"
	stdjson "encoding/json"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/internal/modeltest"
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
	modeltest.StreamTest(t, models.Goldens(t), "json", 10, []string{""}, func(c modeltest.Golden, _ string) modeltest.Streamed {
		want := whole(t, c.Model)
		var b bytes.Buffer
		s := newStream(&b, 512)
		spill := modeltest.Feed(t, c.Name, c.Model, s, s.body.Spilled)
		var w bytes.Buffer
		if err := Write(&w, c.Model); err != nil || w.String() != want {
			t.Errorf("%s: Write differs from the model encoded whole (%v)", c.Name, err)
		}
		return modeltest.Streamed{Where: c.Name, Got: b.String(), Want: want, Spilled: spill, MustSpill: len(c.Model.Roots) > 0}
	})
}

// TestStreamDrops: a Stream keeps no session's nodes once it has written
// them.
func TestStreamDrops(t *testing.T) {
	modeltest.StreamDrops(t, []string{""}, func(w io.Writer, _ string) modeltest.SessionPrinter {
		return newStream(w, 512)
	}, `"trees": [`)
}

// TestHostileStrings: strings as a capture may carry them (invalid UTF-8,
// control characters, U+2028, quotes, backslashes, <>&), in a node, a
// participant, a token and a note, are written as
// encoding/json writes them: the model's encoder is go-json, held to the
// standard library's bytes.
func TestHostileStrings(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "\"", "\\", "<", ">", "&", "\u2028", "\u2029", "\x00", "\x1f", "\x7f", "\xff", "\xc3", "é", "💥", "\n", "\t", "/", " "}
	str := func() string {
		var b bytes.Buffer
		for range r.IntN(12) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	for i := range 2000 {
		p := &flow.Participant{Name: str(), Kind: flow.Service, Addrs: []string{str()}}
		n := &flow.Node{ID: i + 1, Session: 1, From: str(), To: p.Name, Summary: str(), Target: str(), Message: str(), Result: str(), Op: str(), User: str()}
		tk := &flow.Token{Fingerprint: str(), User: str(), Domain: str(), Project: str(), Owner: str()}
		m := &flow.Model{Participants: []*flow.Participant{p}, Tokens: []*flow.Token{tk}, Roots: []*flow.Node{n}, Notes: []string{str()}, Sessions: 1}
		want := whole(t, m)
		var got bytes.Buffer
		if err := Write(&got, m); err != nil {
			t.Fatal(err)
		}
		if got.String() != want {
			t.Fatalf("%q:\ngo-json:\n%s\nencoding/json:\n%s", n.Summary, got.String(), want)
		}
	}
}
