// Package json writes a flow.Model as JSON: participants, tokens (by
// fingerprint, never whole) and request trees. The field names are the
// contract documented in the README.
package json

import (
	"bufio"
	"bytes"
	"errors"
	"io"

	json "github.com/goccy/go-json"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/render/internal/spool"
	"github.com/flowmap/flowmap/render/story"
)

// Write writes m to w, indented, one session at a time (Stream).
func Write(w io.Writer, m *flow.Model) error {
	return story.PrintSessions(NewStream(w), m)
}

// Stream writes the model one client session at a time: each session's
// trees are encoded as they come into a body that stays in memory up to a
// few MB and then moves to a temporary file; Close writes what comes
// before the trees (participants, tokens), the body, and what comes after
// (the number of sessions, notes), exactly as encoding the whole model
// would. It keeps no session's nodes.
type Stream struct {
	w     io.Writer
	body  spool.Spool
	trees int
	buf   bytes.Buffer
	enc   *json.Encoder
	err   error // the first error: Close then writes nothing
}

// NewStream returns a Stream writing the model to w.
func NewStream(w io.Writer) *Stream { return newStream(w, 0) }

// newStream: limit is the body's memory limit (spool.Spool.Limit).
func newStream(w io.Writer, limit int) *Stream {
	s := &Stream{w: w}
	s.body.Limit = limit
	s.enc = newEncoder(&s.buf, treeIndent)
	return s
}

// treeIndent is the indentation of a tree in the trees array of the
// model (the array's elements are two levels deep).
const treeIndent = "    "

func newEncoder(w io.Writer, prefix string) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent(prefix, "  ")
	return enc
}

// Session writes the trees of one client session (roots in the model's
// order). It returns the first error.
func (s *Stream) Session(roots []*flow.Node) error {
	for _, r := range roots {
		if s.err != nil {
			return s.err
		}
		s.buf.Reset()
		if s.err = s.enc.Encode(r); s.err != nil {
			return s.err
		}
		if s.trees > 0 {
			s.body.WriteString(",")
		}
		s.trees++
		s.body.WriteString("\n" + treeIndent)
		s.body.WriteString(string(bytes.TrimSuffix(s.buf.Bytes(), []byte("\n"))))
		s.err = s.body.Err()
	}
	return s.err
}

// treesKey is where the trees go in the encoded tail (with no trees): a
// key, so never inside a string, where a quote is escaped.
var treesKey = []byte(`"trees": []`)

// Close writes the model to w: tail is the model without its trees
// (participants, tokens, sessions, notes). The body's temporary file is
// removed whatever happens.
func (s *Stream) Close(tail *flow.Model) error {
	defer s.body.Close()
	if s.err != nil {
		return s.err
	}
	t := *tail
	t.Roots = []*flow.Node{}
	if t.Tokens == nil {
		t.Tokens = []*flow.Token{}
	}
	if t.Participants == nil {
		t.Participants = []*flow.Participant{}
	}
	var head bytes.Buffer
	if err := newEncoder(&head, "").Encode(&t); err != nil {
		return err
	}
	before, after, ok := bytes.Cut(head.Bytes(), treesKey)
	if !ok {
		return errors.New("json: no trees in the model")
	}
	bw := bufio.NewWriterSize(s.w, 64<<10)
	bw.Write(before)
	bw.WriteString(`"trees": [`)
	err := s.body.Copy(bw, func(*bufio.Writer, byte, uint64, []byte) error {
		return errors.New("json: placeholder in the body")
	})
	if err != nil {
		return err
	}
	if s.trees > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("]")
	bw.Write(after)
	if err := bw.Flush(); err != nil {
		return err
	}
	return s.body.Close()
}
