package mysql

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// shortenWhole is shorten as it was: every word of the whole text read
// first.
func shortenWhole(s string, n int) string {
	var b strings.Builder
	count := 0
	for i, f := range strings.Fields(s) {
		if i > 0 {
			if count >= n {
				b.WriteString("...")
				return b.String()
			}
			b.WriteByte(' ')
			count++
		}
		for _, r := range f {
			if count >= n {
				b.WriteString("...")
				return b.String()
			}
			b.WriteRune(r)
			count++
		}
	}
	return b.String()
}

// TestShorten: shorten, which reads a statement only as far as its cut,
// says what reading every word of it said, on 50,000 random statements
// (every kind of space, invalid UTF-8, words longer than the cut), and a
// statement of megabytes is cut as a short one is.
func TestShorten(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	alphabet := []string{"SELECT", "x", "'é'", "💥", " ", "  ", "\t", "\n", "\u00a0", "\u3000", "\xff", "\ufffd", "abcdefghijklmnop"}
	for range 50000 {
		var b strings.Builder
		for range r.IntN(30) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		s, n := b.String(), r.IntN(25)
		if got, want := shorten(s, n), shortenWhole(s, n); got != want {
			t.Fatalf("shorten(%q, %d) = %q, want %q", s, n, got, want)
		}
	}
	long := "INSERT INTO t VALUES ('" + strings.Repeat("\xff", 4<<20) + "')"
	if got, want := shorten(long, 60), shortenWhole(long, 60); got != want {
		t.Errorf("shorten of 4 MB = %q, want %q", got, want)
	}
}
