package spool

import (
	"bufio"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/render/story"
)

// Diagram is the body of a sequence diagram printed one session at a
// time. A participant is written as a placeholder: ids are given over the
// whole participant list (story.IDs), known at the end. A pending session
// header (story.Pending) is kept whole: its text names the number of
// sessions, and it is not drawn at all for one session.
type Diagram struct {
	Spool
	index map[*flow.Participant]uint64
	ps    []*flow.Participant
}

const (
	kindID      = 'p'
	kindSession = 's'
)

// ID writes p's id.
func (d *Diagram) ID(p *flow.Participant) {
	d.Placeholder(kindID, d.number(p), "")
}

func (d *Diagram) number(p *flow.Participant) uint64 {
	n, ok := d.index[p]
	if !ok {
		if d.index == nil {
			d.index = map[*flow.Participant]uint64{}
		}
		n = uint64(len(d.ps))
		d.index[p] = n
		d.ps = append(d.ps, p)
	}
	return n
}

// Session writes a pending session header.
func (d *Diagram) Session(s story.Step) {
	d.Placeholder(kindSession, d.number(s.From), s.Text)
}

// Copy writes the body to w with the participants' ids, and each session
// header that is told with header(w, id of the participant it stands
// over, its text).
func (d *Diagram) Copy(w *bufio.Writer, ids map[*flow.Participant]string, sessions int, header func(w *bufio.Writer, id, text string)) error {
	return d.Spool.Copy(w, func(w *bufio.Writer, kind byte, n uint64, data []byte) error {
		id := ""
		if n < uint64(len(d.ps)) {
			id = ids[d.ps[n]]
		}
		switch kind {
		case kindID:
			_, err := w.WriteString(id)
			return err
		case kindSession:
			if text, told := story.SessionHeader(string(data), sessions); told {
				header(w, id, text)
			}
			return nil
		}
		return errUnknown
	})
}
