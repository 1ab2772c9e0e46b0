// Package spool holds the body of an output written before its header:
// a streaming printer writes each session as it comes, with placeholders
// where a fact of the whole model goes (a participant's id, the number of
// sessions), and at the end writes its header, then copies the body,
// putting the facts in. The body stays in memory up to a limit, then
// moves to a temporary file: unnamed as soon as it is open where the
// system allows, removed by Close elsewhere. Stream is the sequence
// diagrams' printer (mermaid, plantuml) built on such a body.
package spool

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Limit is how much of a body stays in memory before it moves to a
// temporary file.
const Limit = 4 << 20

// mark starts a placeholder in a body; a mark in the text itself is
// written twice.
const mark = 0

// Spool is a body with placeholders. The zero value is ready, with the
// default Limit.
type Spool struct {
	// Limit overrides the package's Limit when above 0; below 0 the body
	// stays in memory whatever its size (and writing it cannot fail).
	Limit int
	mem   bytes.Buffer
	f     *os.File
	fw    *bufio.Writer
	err   error
	done  bool
	// removed: the file's name is already gone (spill)
	removed bool
	num     [2 + 2*binary.MaxVarintLen64]byte
}

// WriteString writes text; a byte 0 in it is kept as text.
func (s *Spool) WriteString(text string) {
	for s.err == nil {
		i := strings.IndexByte(text, mark)
		if i < 0 {
			s.write(text)
			return
		}
		s.write(text[:i+1])
		s.write("\x00") // the mark, doubled: text
		text = text[i+1:]
	}
}

// Placeholder writes a placeholder of kind (not 0) with a number and
// data; Copy hands them back.
func (s *Spool) Placeholder(kind byte, n uint64, data string) {
	if kind == mark && s.err == nil {
		s.err = errors.New("spool: placeholder of kind 0")
	}
	b := append(s.num[:0], mark, kind)
	b = binary.AppendUvarint(b, n)
	b = binary.AppendUvarint(b, uint64(len(data)))
	s.writeBytes(b)
	s.write(data)
}

func (s *Spool) write(p string) {
	if s.toMem(len(p)) {
		s.mem.WriteString(p)
	} else if s.err == nil {
		if _, err := s.fw.WriteString(p); err != nil {
			s.err = fmt.Errorf("spool: %w", err)
		}
	}
}

func (s *Spool) writeBytes(p []byte) {
	if s.toMem(len(p)) {
		s.mem.Write(p)
	} else if s.err == nil {
		if _, err := s.fw.Write(p); err != nil {
			s.err = fmt.Errorf("spool: %w", err)
		}
	}
}

// toMem reports whether n more bytes go to memory; past the limit it
// moves the body to its file first.
func (s *Spool) toMem(n int) bool {
	if s.err != nil {
		return false
	}
	if s.done {
		s.err = errors.New("spool: written after Copy")
		return false
	}
	if s.fw != nil {
		return false
	}
	limit := s.Limit
	if limit == 0 {
		limit = Limit
	}
	if limit < 0 || s.mem.Len()+n <= limit {
		return true
	}
	s.spill()
	return false
}

// spill moves the body to a temporary file. The file is removed at once
// where the system allows it (the open file lives on), so that a run
// killed before Close leaves nothing behind; elsewhere Close removes it.
func (s *Spool) spill() {
	f, removed, err := OpenTemp("flowmap-body-*")
	if err != nil {
		s.err = fmt.Errorf("spool: %w", err)
		return
	}
	s.removed = removed
	s.f, s.fw = f, bufio.NewWriterSize(f, 64<<10)
	if _, err := s.fw.Write(s.mem.Bytes()); err != nil {
		s.err = fmt.Errorf("spool: %w", err)
	}
	s.mem = bytes.Buffer{}
}

// Err is the first error writing the body.
func (s *Spool) Err() error { return s.err }

// Spilled reports whether the body is in a temporary file, and its path.
func (s *Spool) Spilled() (string, bool) {
	if s.f == nil {
		return "", false
	}
	return s.f.Name(), true
}

// Copy writes the body to w, writing each placeholder with fill(w, kind,
// n, data) instead; data is valid only during the call. The spool is not
// written to afterwards.
func (s *Spool) Copy(w *bufio.Writer, fill func(w *bufio.Writer, kind byte, n uint64, data []byte) error) error {
	if s.err != nil {
		return s.err
	}
	s.done = true
	var r *bufio.Reader
	if s.fw != nil {
		if err := s.fw.Flush(); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		if _, err := s.f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		r = bufio.NewReaderSize(s.f, 64<<10)
	} else {
		r = bufio.NewReader(bytes.NewReader(s.mem.Bytes()))
	}
	var data []byte
	for {
		text, err := r.ReadSlice(mark)
		if err == bufio.ErrBufferFull {
			if _, err := w.Write(text); err != nil {
				return err
			}
			continue
		}
		if err == io.EOF {
			_, err = w.Write(text)
			return err
		}
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		if _, err := w.Write(text[:len(text)-1]); err != nil {
			return err
		}
		kind, err := r.ReadByte()
		if err != nil {
			return fmt.Errorf("spool: placeholder cut: %w", err)
		}
		if kind == mark {
			if err := w.WriteByte(mark); err != nil {
				return err
			}
			continue
		}
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return fmt.Errorf("spool: placeholder cut: %w", err)
		}
		size, err := binary.ReadUvarint(r)
		if err != nil {
			return fmt.Errorf("spool: placeholder cut: %w", err)
		}
		if uint64(cap(data)) < size {
			data = make([]byte, size)
		}
		data = data[:size]
		if _, err := io.ReadFull(r, data); err != nil {
			return fmt.Errorf("spool: placeholder cut: %w", err)
		}
		if err := fill(w, kind, n, data); err != nil {
			return err
		}
	}
}

// Close closes the temporary file, if any, removes it if it still has a
// name, and drops the body.
func (s *Spool) Close() error {
	s.mem = bytes.Buffer{}
	if s.f == nil {
		return nil
	}
	err := CloseTemp(s.f, s.removed)
	s.f, s.fw = nil, nil
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// OpenTemp opens a new temporary file named after pattern (os.CreateTemp)
// and removes its name at once where the system allows it (the open file
// lives on), so that a run killed before CloseTemp leaves nothing behind.
// removed says whether it did.
func OpenTemp(pattern string) (f *os.File, removed bool, err error) {
	f, err = os.CreateTemp("", pattern)
	if err != nil {
		return nil, false, err
	}
	return f, os.Remove(f.Name()) == nil, nil
}

// CloseTemp closes a file of OpenTemp and removes it if it still has its
// name.
func CloseTemp(f *os.File, removed bool) error {
	name := f.Name()
	err := f.Close()
	if !removed {
		if rerr := os.Remove(name); err == nil {
			err = rerr
		}
	}
	return err
}

var errUnknown = errors.New("spool: unknown placeholder")
