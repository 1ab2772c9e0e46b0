package spool

import (
	"bufio"
	"io"
	"strings"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/render/story"
)

// A Printer prints a sequence diagram: its steps into a body as they come
// (Step), then the whole diagram (Print): a header that declares
// participants ps, then the body (Diagram.Copy) with the number of
// sessions.
type Printer interface {
	Step(body *Diagram, s story.Step)
	Print(w *bufio.Writer, body *Diagram, ps []*flow.Participant, sessions int) error
}

// Stream prints a diagram one client session at a time: each session is
// told (story.Teller) and printed as it comes, into a body that stays in
// memory up to Limit and then moves to a temporary file; Close writes
// the header, which declares every participant, then the body with what
// only the whole model settles (participant ids, the number of sessions).
// It keeps no session's nodes.
type Stream struct {
	w    io.Writer
	p    Printer
	body Diagram
	tell *story.Teller
}

// NewStream returns a Stream printing with p to w, telling the story in
// detail (story.Options); limit is the body's memory limit (Spool.Limit).
func NewStream(w io.Writer, p Printer, detail string, limit int) *Stream {
	s := &Stream{w: w, p: p}
	s.body.Limit = limit
	s.tell = story.NewTeller(story.Options{Detail: detail}, func(st story.Step) { p.Step(&s.body, st) })
	return s
}

// Session prints the trees of one client session (roots in the model's
// order). It returns the first error writing the body.
func (s *Stream) Session(roots []*flow.Node) error {
	if err := s.body.Err(); err != nil {
		return err
	}
	s.tell.Session(roots)
	return s.body.Err()
}

// Close writes the diagram to w: tail is the model without its trees
// (participants, sessions, notes). The body's temporary file is removed
// whatever happens.
func (s *Stream) Close(tail *flow.Model) error {
	defer s.body.Close()
	ps := s.tell.Finish(tail)
	if err := printTo(s.w, s.p, &s.body, ps, tail.Sessions); err != nil {
		return err
	}
	return s.body.Close()
}

// Spilled is the body's Spilled.
func (s *Stream) Spilled() (string, bool) { return s.body.Spilled() }

// Print returns the diagram of the steps of st, printed in memory.
func Print(p Printer, st *story.Story) string {
	var b strings.Builder
	var body Diagram
	body.Limit = -1 // in memory: cannot fail
	for _, s := range st.Steps {
		p.Step(&body, s)
	}
	_ = printTo(&b, p, &body, st.Participants, 0)
	return b.String()
}

// printTo writes the diagram to w, buffered, unless writing the body failed.
func printTo(w io.Writer, p Printer, body *Diagram, ps []*flow.Participant, sessions int) error {
	if err := body.Err(); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := p.Print(bw, body, ps, sessions); err != nil {
		return err // what is still buffered is dropped: the body failed
	}
	return bw.Flush()
}
