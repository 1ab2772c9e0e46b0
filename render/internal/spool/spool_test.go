package spool

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"testing"
)

// fill writes a placeholder as "<kind n data>".
func fill(w *bufio.Writer, kind byte, n uint64, data []byte) error {
	_, err := fmt.Fprintf(w, "<%c %d %q>", kind, n, data)
	return err
}

// write writes the same body, with text holding byte 0, long runs with no
// placeholder and placeholders whose data holds byte 0, to s; it returns
// what Copy must give.
func write(s *Spool) string {
	var want strings.Builder
	long := strings.Repeat("x", 70000) // past both readers' buffers
	for i := range 50 {
		text := fmt.Sprintf("line %d \x00 nul\x00\x00", i)
		s.WriteString(text)
		want.WriteString(text)
		s.Placeholder('p', uint64(i*1000), "")
		fmt.Fprintf(&want, "<p %d \"\">", i*1000)
		data := fmt.Sprintf("d\x00%d", i)
		s.Placeholder('s', 7, data)
		fmt.Fprintf(&want, "<s 7 %q>", data)
		if i%10 == 0 {
			s.WriteString(long)
			want.WriteString(long)
		}
	}
	s.WriteString("end\x00")
	want.WriteString("end\x00")
	return want.String()
}

// TestSpill: a body past its limit moves to a temporary file and comes
// out the same as one kept in memory; the file is gone after Close (on
// Linux, already once open).
func TestSpill(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	for limit, spill := range map[int]bool{-1: false, 0: false, 1: true, 100: true, 100_000: true, 1 << 20: false} {
		s := &Spool{Limit: limit}
		want := write(s)
		path, spilled := s.Spilled()
		if spilled != spill {
			t.Errorf("limit %d: spilled %v", limit, spilled)
		}
		if _, err := os.Stat(path); spilled && runtime.GOOS == "linux" && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("limit %d: body file %s still named while open: %v", limit, path, err)
		}
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		if err := s.Copy(w, fill); err != nil {
			t.Fatalf("limit %d: %v", limit, err)
		}
		w.Flush()
		if b.String() != want {
			t.Errorf("limit %d: body differs (%d bytes, want %d)", limit, b.Len(), len(want))
		}
		f := s.f
		if err := s.Close(); err != nil {
			t.Errorf("limit %d: Close: %v", limit, err)
		}
		// (its name is gone while open on Linux: the file itself must be
		// closed)
		if _, err := f.Stat(); f != nil && !errors.Is(err, os.ErrClosed) {
			t.Errorf("limit %d: body file still open after Close: %v", limit, err)
		}
		if spilled && !strings.HasPrefix(path, tmp) {
			t.Errorf("limit %d: body file %s not in TMPDIR", limit, path)
		}
		if left, err := os.ReadDir(tmp); err != nil || len(left) > 0 {
			t.Errorf("limit %d: left after Close: %v %v", limit, left, err)
		}
		s.WriteString("late")
		if s.Err() == nil {
			t.Errorf("limit %d: written after Copy without error", limit)
		}
	}
}

// TestErrors: an error creating the file is the spool's error, returned
// by Copy; a fill error stops Copy.
func TestErrors(t *testing.T) {
	t.Setenv("TMPDIR", "/nonexistent/flowmap-spool-test")
	s := &Spool{Limit: 4}
	s.WriteString("more than four bytes")
	if s.Err() == nil {
		t.Fatal("no error without a temporary directory")
	}
	if err := s.Copy(bufio.NewWriter(&bytes.Buffer{}), fill); err == nil {
		t.Error("Copy after a write error returned nil")
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	s = &Spool{}
	s.WriteString("a")
	s.Placeholder('p', 1, "")
	stop := errors.New("stop")
	err := s.Copy(bufio.NewWriter(&bytes.Buffer{}), func(*bufio.Writer, byte, uint64, []byte) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("Copy: %v, want the fill's error", err)
	}
}
