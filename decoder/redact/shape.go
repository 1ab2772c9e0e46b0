package redact

import "strings"

// Shapes that are credentials wherever they appear: keystone fernet tokens,
// JWTs (keystone's JWS tokens, OAuth bearer tokens) and PEM private keys.
const (
	fernetPrefix = "gAAAAA" // version byte 0x80 and a timestamp, base64url
	jwtPrefix    = "eyJ"    // base64url of `{"`
	pemBegin     = "-----BEGIN "
	pemEnd       = "-----END "
)

// minFernet is the shortest run of base64url after "gAAAAA" taken for a
// fernet token: a whole token is 100+ characters, a cut one (MaxValue, a
// gap) keeps enough to be recognised.
const minFernet = 40

// minGluedFernet is the shortest such run taken when it is glued to other
// base64 characters before it: a whole token (keystone's are 180 or more).
const minGluedFernet = 100

// Text replaces the shaped credentials inside free text (fernet tokens and
// JWTs by their token fingerprint, PEM private keys by a keyed one) and
// returns s itself when it holds none.
func (p *Policy) Text(s string) string {
	if p.Shows() || len(s) < len(jwtPrefix) {
		return s
	}
	if !strings.Contains(s, fernetPrefix) && !strings.Contains(s, jwtPrefix) && !strings.Contains(s, pemBegin) {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		end, k := shapeAt(s, i)
		if end <= i {
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:i])
		b.WriteString(p.replace(k, s[i:end]))
		last, i = end, end-1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// shapeAt returns the end of the shaped credential starting at s[i] and
// its kind, or -1.
func shapeAt(s string, i int) (int, kind) {
	switch s[i] {
	case 'g':
		return fernetAt(s, i), token
	case 'e':
		return jwtAt(s, i), token
	case '-':
		return pemAt(s, i), secret
	}
	return -1, none
}

// fernetAt returns the end of a fernet token starting at s[i], or -1.
func fernetAt(s string, i int) int {
	if !strings.HasPrefix(s[i:], fernetPrefix) {
		return -1
	}
	glued := i > 0 && isB64URL(s[i-1])
	j := i + len(fernetPrefix)
	for j < len(s) && isB64URL(s[j]) {
		j++
	}
	// The "hmac" or "sha256" of a replacement glued after it (after a
	// name's '=', which base64 pads with) is not part of it: the value
	// it replaced may have been too short to make the run a token, and
	// then redacting again would (FuzzPolicy).
	j -= markGlued(s, i, j)
	j = beforePEM(s, i, j)
	// Glued to what comes before (a damaged capture, a binary length
	// byte), a run counts only as long as a whole token: inside other
	// base64 a short one is likelier a coincidence.
	if j-i < minFernet || glued && j-i < minGluedFernet {
		return -1
	}
	return j
}

// markGlued returns the length of the start of a replacement (hmac:… or
// sha256:…) that ends the run s[i:j] of base64, or 0.
func markGlued(s string, i, j int) int {
	for _, n := range [...]int{4, 6} { // hmac, sha256
		if j-n > i && isMark(s[j-n:min(j+9, len(s))]) { // (the run stopped at its ':')
			return n
		}
	}
	return 0
}

// beforePEM returns the end of the run of base64 s[i:j] before a PEM
// BEGIN line glued to it (its dashes are base64url, and its BEGIN), or j:
// the block is not the token's, and is replaced on its own.
func beforePEM(s string, i, j int) int {
	if k := strings.Index(s[i:min(j+1, len(s))], pemBegin); k >= 0 {
		return i + k
	}
	return j
}

// jwtAt returns the end of a JWT (header.payload.signature, base64url,
// header starting `{"`) starting at s[i], or -1.
func jwtAt(s string, i int) int {
	if !strings.HasPrefix(s[i:], jwtPrefix) || i > 0 && isB64URL(s[i-1]) {
		return -1
	}
	j := i
	for part := 0; part < 3; part++ {
		k := j
		for k < len(s) && isB64URL(s[k]) && s[k] != '=' {
			k++
		}
		if part < 2 && k-j < 10 {
			return -1
		}
		j = beforePEM(s, j, k)
		if part < 2 {
			if j >= len(s) || s[j] != '.' {
				return -1
			}
			j++
		}
	}
	return j
}

// pemAt returns the end of a PEM private-key block starting at s[i] (to
// the end of s when its BEGIN line is cut short, or its END line was not
// kept), or -1. Certificates and public keys are not secrets and stay.
func pemAt(s string, i int) int {
	if !strings.HasPrefix(s[i:], pemBegin) {
		return -1
	}
	label := i + len(pemBegin)
	t := strings.Index(s[label:], "-----")
	if t < 0 || !lineEnd(s, label, label+t) {
		// cut short: what it begins is unknown, and may be a key
		return len(s)
	}
	line := s[i : label+t]
	if !strings.Contains(line, "PRIVATE KEY") && !strings.Contains(line, "ENCRYPTED") {
		return -1
	}
	rest := i + len(line) + 5
	e := strings.Index(s[rest:], pemEnd)
	if e < 0 {
		return len(s)
	}
	end := rest + e + len(pemEnd)
	if f := strings.Index(s[end:], "-----"); f >= 0 && f < 64 {
		return end + f + 5
	}
	return len(s)
}

// lineEnd reports whether the dashes at s[t] (the first after the label
// starting at s[a]) end a BEGIN line. They do not when they start another
// BEGIN line, or when a token that starts in the label runs on through
// them: then the line was cut short. Its block is replaced to the end of
// s, so that a later replacement never takes the dashes a kept line
// (a certificate's) ended with: read again, that line would run on to
// other dashes or to the end of s, and be another block (FuzzPolicy).
func lineEnd(s string, a, t int) bool {
	d := t
	for d < len(s) && s[d] == '-' {
		d++
	}
	if strings.HasPrefix(s[d:], pemBegin[5:]) {
		return false
	}
	for j := a; j < t; j++ {
		// as Text reads the label (no BEGIN line starts inside it: the
		// dashes at t are the first)
		end, _ := shapeAt(s, j)
		if end > t {
			return false
		}
		if end > j {
			j = end - 1
		}
	}
	return true
}

func isB64URL(c byte) bool {
	return isAlnum(c) || c == '-' || c == '_' || c == '='
}

func isB64(c byte) bool {
	return isAlnum(c) || c == '-' || c == '_' || c == '=' || c == '+' || c == '/' || c == '.' || c == '~'
}

// highEntropy reports whether a whole value looks like a random key:
// at least 32 characters of a base64 alphabet mixing upper case, lower
// case and digits. Hex digests, UUIDs and ids (lower case) and words do
// not.
func highEntropy(v string) bool {
	if len(v) < 32 || len(v) > 4096 {
		return false
	}
	var up, low, dig bool
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case isUpper(c):
			up = true
		case isLower(c):
			low = true
		case '0' <= c && c <= '9':
			dig = true
		case !isB64(c):
			return false
		}
	}
	if !up || !low || !dig {
		return false
	}
	// a path or dotted name is not a key: few separators in a random run
	seps := strings.Count(v, "/") + strings.Count(v, ".")
	return seps <= len(v)/16
}

// Value replaces a value found where a credential would sit (a JSON
// string, a query or form value, a header value, an SQL literal) when its
// shape says it is one: a whole random-looking value (keyed fingerprint), a
// URL carrying credentials, or shaped tokens inside it.
func (p *Policy) Value(v string) string {
	if p.Shows() || len(v) < 8 || isMark(v) {
		return v
	}
	if highEntropy(v) {
		if strings.HasPrefix(v, fernetPrefix) || strings.HasPrefix(v, jwtPrefix) {
			return p.Token(v)
		}
		return p.Secret(v)
	}
	url := strings.Contains(v, "://") || v[0] == '/' && strings.IndexByte(v, '?') > 0
	if url {
		v = p.Target(v)
	}
	t := p.Text(v)
	if url && t != v {
		// A token inside a name (its '=' cut the pairs there) is replaced
		// only by its shape: the pairs it hid are read once more, as a
		// second redaction would (FuzzPolicy).
		t = p.Target(t)
	}
	return t
}
