package strace

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReader reads arbitrary text and checks that the reader neither
// panics nor breaks its caps: every call has a line within the input,
// at most MaxArgs arguments and MaxStrings strings, a Redacted copy and a
// Summary; the only error is a *SyntaxError. Seeds: 40-line pieces of
// every testdata file (real strace output).
func FuzzReader(f *testing.F) {
	files, _ := filepath.Glob("testdata/*")
	for _, p := range files {
		if strings.HasSuffix(p, ".tsv") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		lines := strings.SplitAfter(string(b), "\n")
		for i := 0; i < len(lines); i += 200 {
			f.Add(strings.Join(lines[i:min(i+40, len(lines))], ""))
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := NewReader(strings.NewReader(in), "fuzz", Options{})
		n := strings.Count(in, "\n") + 1
		for r.Next() {
			c := r.Call()
			if c.Line < 1 || c.Line > n || c.ResumeLine > n || len(c.Arg) > MaxArgs || len(c.Strings) > MaxStrings {
				t.Fatalf("call %+v", c)
			}
			for _, s := range c.Strings {
				if len(s.Value) > MaxString || s.off < 0 || s.end > len(c.Args) || s.off > s.end {
					t.Fatalf("string %+v of %q", s, c.Args)
				}
			}
			_ = c.Summary()
			_ = c.Redacted().Summary()
			for _, a := range c.Arg {
				Endpoints(a.Ann)
			}
		}
		var se *SyntaxError
		if err := r.Err(); err != nil && !errors.As(err, &se) {
			t.Fatalf("error %v", err)
		}
		if r.Next() {
			t.Fatal("Next after the end")
		}
	})
}
