// Package golden compares a test's whole output with a reviewed file under
// testdata (as go/printer's tests do): a difference is reported at its first
// line, and a test run with its package's -update flag rewrites the file.
package golden

import (
	"os"
	"strings"
	"testing"
)

// Check compares got with the file at path or, when update is set, writes
// got there. hint says how to rewrite the file when it is missing.
func Check(t testing.TB, path string, got []byte, update bool, hint string) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (%s)", err, hint)
	}
	if string(got) != string(want) {
		line, g, w := FirstDiff(string(got), string(want))
		t.Errorf("differs from %s at line %d:\n got: %s\nwant: %s", path, line, g, w)
	}
}

// FirstDiff returns the first line (1-based) where a and b differ, and
// both versions of it; 0 when they are equal.
func FirstDiff(a, b string) (int, string, string) {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return i + 1, x, y
		}
	}
	return 0, "", ""
}
