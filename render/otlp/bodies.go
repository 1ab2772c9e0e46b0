package otlp

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/render/internal/spool"
)

// bodies keeps the printed spans of every serving participant in one
// store, in the order they come: in memory up to limit bytes, then in
// one temporary file (unnamed as soon as it is open where the system
// allows, removed by close elsewhere). Each participant's spans are runs
// of the store, which copy hands back in order: one file however many
// participants a capture has.
type bodies struct {
	limit   int
	mem     []byte
	f       *os.File
	fw      *bufio.Writer
	size    int64
	removed bool
	runs    map[*flow.Participant][]run
	err     error
}

type run struct {
	off int64
	n   int
}

// add appends text to p's body.
func (b *bodies) add(p *flow.Participant, text []byte) {
	if b.err != nil {
		return
	}
	if b.f == nil && len(b.mem)+len(text) > b.limit {
		b.spill()
	}
	off := b.size
	if b.f != nil {
		if _, err := b.fw.Write(text); err != nil {
			b.err = fmt.Errorf("otlp: %w", err)
			return
		}
	} else {
		b.mem = append(b.mem, text...)
	}
	b.size += int64(len(text))
	rs := b.runs[p]
	if k := len(rs); k > 0 && rs[k-1].off+int64(rs[k-1].n) == off {
		rs[k-1].n += len(text) // it goes on where p's last text ended
	} else {
		rs = append(rs, run{off, len(text)})
	}
	b.runs[p] = rs
}

func (b *bodies) spill() {
	f, removed, err := spool.OpenTemp("flowmap-otlp-*")
	if err != nil {
		b.err = fmt.Errorf("otlp: %w", err)
		return
	}
	b.removed = removed
	b.f, b.fw = f, bufio.NewWriterSize(f, 64<<10)
	if _, err := b.fw.Write(b.mem); err != nil {
		b.err = fmt.Errorf("otlp: %w", err)
	}
	b.mem = nil
}

// copy writes p's body to w.
func (b *bodies) copy(w *bufio.Writer, p *flow.Participant) error {
	if b.err != nil {
		return b.err
	}
	if b.fw != nil {
		if err := b.fw.Flush(); err != nil {
			return fmt.Errorf("otlp: %w", err)
		}
	}
	for _, r := range b.runs[p] {
		if b.f == nil {
			if _, err := w.Write(b.mem[r.off : r.off+int64(r.n)]); err != nil {
				return err
			}
			continue
		}
		if _, err := io.Copy(w, io.NewSectionReader(b.f, r.off, int64(r.n))); err != nil {
			return fmt.Errorf("otlp: %w", err)
		}
	}
	return nil
}

// spilled names the temporary file, if the store moved to one.
func (b *bodies) spilled() (string, bool) {
	if b.f == nil {
		return "", false
	}
	return b.f.Name(), true
}

// close drops the store and its file.
func (b *bodies) close() error {
	b.mem, b.runs = nil, nil
	if b.f == nil {
		return nil
	}
	err := spool.CloseTemp(b.f, b.removed)
	b.f, b.fw = nil, nil
	return err
}
