package redact

import "strings"

// CacheKey redacts a cache key. Keys are names, not values, so only what
// is certainly a credential is replaced: shaped tokens anywhere (a cache
// keyed by the token itself), a random-looking part (split at / : |), and
// what follows a part named as a token (token:<t>), unless it is a hex
// digest: keystonemiddleware's tokens/<sha256 hex> keys are a hash of the
// token, not the token, and stay whole so that they can be matched with the
// token's fingerprint.
func (p *Policy) CacheKey(k string) string {
	if p.Shows() || len(k) < 8 {
		return k
	}
	k = p.Text(k)
	var b strings.Builder
	last := 0
	prev := ""
	for i := 0; i < len(k); {
		if n := markAt(k, i); n > 0 {
			prev = k[i : i+n]
			i += n + 1
			continue
		}
		j := i
		for j < len(k) && !isKeySep(k[j]) {
			j++
		}
		part := k[i:j]
		repl := part
		switch {
		case part != "" && !isHexDigest(part) && words(prev) == token:
			repl = p.Token(part)
		case highEntropy(part):
			repl = p.Token(part)
		}
		if repl != part {
			b.WriteString(k[last:i])
			b.WriteString(repl)
			last = j
		}
		prev = part
		i = j + 1
	}
	if last == 0 {
		return k
	}
	b.WriteString(k[last:])
	return b.String()
}

func isKeySep(c byte) bool { return c == '/' || c == ':' || c == '|' }

// isHexDigest reports whether s is lower-case hex of a SHA-1, SHA-256,
// SHA-384 or SHA-512 size.
func isHexDigest(s string) bool {
	switch len(s) {
	case 40, 64, 96, 128:
		return isHex(s)
	}
	return false
}

// markAt returns the length of the replacement (sha256:… or hmac:…)
// starting at s[i], or 0.
func markAt(s string, i int) int {
	for _, n := range [...]int{15, 13} {
		if i+n <= len(s) && isMark(s[i:i+n]) && (i+n == len(s) || isKeySep(s[i+n])) {
			return n
		}
	}
	return 0
}
