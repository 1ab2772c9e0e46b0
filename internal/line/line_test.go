package line

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// cutWhole is Cut as flowmap first wrote it: the whole line joined, then
// cut.
func cutWhole(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// randomLines are lines of words, every kind of space (U+0085 and U+00A0
// too), invalid UTF-8 and U+FFFD; every other one mostly ASCII words with
// single spaces, Cut's fast path.
func randomLines(seed uint64, count int, fn func(s string, r *rand.Rand)) {
	r := rand.New(rand.NewPCG(seed, 4))
	alphabet := []string{"a", "bc", "é", "💥", " ", "  ", "\t", "\n", "\r\n", "\v", "\f", "\u0085", "\u00a0", "\u2028", "\u3000", "\xff", "\xc3", "\ufffd", "…", "'", "x"}
	ascii := []string{"a", "bc", " ", "x", "'", "  "}
	for i := range count {
		letters := alphabet
		if i%2 == 1 {
			letters = ascii
		}
		var b strings.Builder
		for range r.IntN(40) {
			b.WriteString(letters[r.IntN(len(letters))])
		}
		fn(b.String(), r)
	}
}

// TestCut: Cut, which reads only as far as its cut, says what joining the
// whole line and cutting it says, on 50,000 random lines.
func TestCut(t *testing.T) {
	randomLines(3, 50000, func(s string, r *rand.Rand) {
		n := 1 + r.IntN(20)
		if got, want := Cut(s, n), cutWhole(s, n); got != want {
			t.Fatalf("Cut(%q, %d) = %q, want %q", s, n, got, want)
		}
	})
	long := strings.Repeat("SELECT  x\n", 100000)
	if got := Cut(long, 20); got != cutWhole(long, 20) || got != "SELECT x SELECT x S…" {
		t.Errorf("Cut of a long statement = %q", got)
	}
	word := strings.Repeat("é", 1<<20)
	if got := Cut(word, 5); got != "éééé…" {
		t.Errorf("Cut of a long word = %q", got)
	}
}

// TestWords: Words gives the words strings.Fields gives, each cut to max
// bytes at a rune's end, and stops when told to.
func TestWords(t *testing.T) {
	randomLines(5, 50000, func(s string, r *rand.Rand) {
		max := 1 + r.IntN(12)
		var want []string
		for _, f := range strings.Fields(s) {
			k := 0
			for k < len(f) && k < max {
				_, size := utf8.DecodeRuneInString(f[k:])
				k += size
			}
			want = append(want, f[:k])
		}
		var got []string
		Words(s, max, func(w string) bool { got = append(got, w); return true })
		if !slices.Equal(got, want) {
			t.Fatalf("Words(%q, %d) = %q, want %q", s, max, got, want)
		}
		if len(want) > 1 {
			got = got[:0]
			Words(s, max, func(w string) bool { got = append(got, w); return false })
			if len(got) != 1 {
				t.Fatalf("Words(%q) went on after false: %q", s, got)
			}
		}
	})
}

// BenchmarkCutLong is Cut on a statement of a megabyte, on many lines: it
// costs what its first 100 characters do.
func BenchmarkCutLong(b *testing.B) {
	long := strings.Repeat("INSERT INTO images (id, value) VALUES ('x', 'y');\n", 20000)
	for b.Loop() {
		Cut(long, 100)
	}
}

// BenchmarkCutLongLine is Cut on a one-line statement of a megabyte.
func BenchmarkCutLongLine(b *testing.B) {
	long := strings.Repeat("INSERT INTO images (id, value) VALUES ('x', 'y'); ", 20000)
	for b.Loop() {
		Cut(long, 100)
	}
}
