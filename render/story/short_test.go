package story

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// shortWhole is Short as it was: the whole line joined, then cut.
func shortWhole(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// TestShort: Short, which reads only as far as its cut, says what joining
// the whole line and cutting it says, on 50,000 random lines of words,
// every kind of space (U+0085 and U+00A0 too), invalid UTF-8 and U+FFFD,
// at lengths around the cut.
func TestShort(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "bc", "é", "💥", " ", "  ", "\t", "\n", "\r\n", "\v", "\f", "\u0085", "\u00a0", "\u2028", "\u3000", "\xff", "\xc3", "\ufffd", "…", "'", "x"}
	ascii := []string{"a", "bc", " ", "x", "'", "  "} // mostly one line as it is
	for i := range 50000 {
		letters := alphabet
		if i%2 == 1 {
			letters = ascii
		}
		var b strings.Builder
		for range r.IntN(40) {
			b.WriteString(letters[r.IntN(len(letters))])
		}
		s, n := b.String(), 1+r.IntN(20)
		if got, want := Short(s, n), shortWhole(s, n); got != want {
			t.Fatalf("Short(%q, %d) = %q, want %q", s, n, got, want)
		}
	}
	long := strings.Repeat("SELECT  x\n", 100000)
	if got := Short(long, 20); got != shortWhole(long, 20) || got != "SELECT x SELECT x S…" {
		t.Errorf("Short of a long statement = %q", got)
	}
}

// BenchmarkShortLong is Short on a statement of a megabyte: it costs what
// its first 100 characters do.
func BenchmarkShortLong(b *testing.B) {
	long := strings.Repeat("INSERT INTO images (id, value) VALUES ('x', 'y');\n", 20000)
	for b.Loop() {
		Short(long, 100)
	}
}

// BenchmarkShortLongLine is Short on a one-line statement of a megabyte.
func BenchmarkShortLongLine(b *testing.B) {
	long := strings.Repeat("INSERT INTO images (id, value) VALUES ('x', 'y'); ", 20000)
	for b.Loop() {
		Short(long, 100)
	}
}
