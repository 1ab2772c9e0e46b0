// Package line puts text on one line (its words joined by one space, as
// strings.Fields splits them) and cuts it, reading it only as far as the
// cut: a statement of megabytes costs what its first characters do.
package line

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Cut is s on one line cut to n characters (n > 0), the last an ellipsis
// when s is longer: strings.Join(strings.Fields(s), " ") cut to its first
// n-1 runes and "…" (an invalid byte then becomes U+FFFD, as a []rune
// makes it).
func Cut(s string, n int) string {
	// an ASCII line with single spaces is as it is, as far as the cut
	switch {
	case len(s) <= n && single(s) && (s == "" || s[len(s)-1] != ' '):
		return s
	case len(s) > n && single(s[:n+1]) && s[n] != ' ':
		return s[:n-1] + "…"
	}
	var b strings.Builder
	runes := 0
	over := false
	// n+1 characters take at most 4(n+1) bytes: enough to know
	Words(s, 4*(n+1), func(w string) bool {
		if b.Len() > 0 {
			b.WriteByte(' ')
			runes++
		}
		b.WriteString(w)
		runes += utf8.RuneCountInString(w)
		over = runes > n
		return !over
	})
	if over {
		return string([]rune(b.String())[:n-1]) + "…"
	}
	return b.String()
}

// single reports whether s is ASCII with no space first and single spaces
// between its words.
func single(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf, c == '\t', c == '\n', c == '\v', c == '\f', c == '\r':
			return false
		case c == ' ' && (i == 0 || s[i-1] == ' '):
			return false
		}
	}
	return true
}

// Words calls fn with each word of s in order (the runs strings.Fields
// splits s into), each cut to its first max bytes, until fn returns
// false; a word is read no further than that.
func Words(s string, max int, fn func(w string) bool) {
	for i := 0; i < len(s); {
		i += run(s[i:], true, len(s))
		if i == len(s) {
			return
		}
		k := i + run(s[i:], false, max)
		if !fn(s[i:k]) {
			return
		}
		// the rest of a cut word
		i = k + run(s[k:], false, len(s))
	}
}

// run is the length of the spaces (or the word) s starts with, up to about
// max bytes (a rune is not split).
func run(s string, space bool, max int) int {
	i := 0
	for i < len(s) && i < max {
		c := s[i]
		if c < utf8.RuneSelf {
			if (c == ' ' || c >= '\t' && c <= '\r') != space {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) != space {
			return i
		}
		i += size
	}
	return i
}
