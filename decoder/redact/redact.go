// Package redact is flowmap's one redaction policy: it decides which parts
// of a string a decoder kept are credentials (by the name they are given,
// then by their shape) and what replaces them. The decoders' Redacted
// methods and flow's printable strings all go through it.
//
// What replaces a secret:
//
//   - a token (a value under a token name, a fernet token, a JWT) becomes
//     decoder.Fingerprint, "sha256:" + 8 hex: tokens are long random
//     strings, so the prefix reveals nothing, and it is also the start of
//     keystonemiddleware's memcache key, which links a token's uses;
//   - anything else (passwords, keys, secrets, signatures, and a "token"
//     too short to be random) becomes "hmac:" + 8 hex of HMAC-SHA256 under
//     a key drawn fresh for each run: equal values look equal within one
//     output, and nothing can be guessed from it or compared across runs.
package redact

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"sync"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/internal/memo"
)

// Policy decides what is a credential and how it is replaced. The zero
// value and nil are usable: they know no service's list, only the words
// and shapes, and use the process's key.
type Policy struct {
	secrets *decoder.Secrets
	key     []byte
	show    bool
	// sql remembers SQL's results: services repeat a few hundred
	// statements thousands of times.
	sql memo.Table[string]
	// fields is secrets.Fields in lower case, for SQL's column names
	// (looked up by the hundred in an INSERT's column list); fieldLens
	// and fieldFirst have a bit for the length (up to 63) and for the
	// first byte (mod 64) of each.
	fields                map[string]kind
	fieldLens, fieldFirst uint64
	// cols remembers what the names of INSERTs' column lists say.
	cols memo.Table[[]kind]
	// bodies remembers Body's last results (bodies.go).
	bodies bodyCache
}

// processKey is drawn once per process from crypto/rand and never changes:
// every Policy made without a key of its own shares it, so that a run's
// outputs agree with each other.
var processKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic("redact: no randomness: " + err.Error())
	}
	return k
})

var defaultPolicy = sync.OnceValue(func() *Policy { return New(nil, nil) })

// New returns the policy that treats the fields s names as credentials (the
// service registry's list) besides the words and shapes every policy knows.
// Low-entropy secrets are fingerprinted with key; nil means a key drawn
// once per process (tests pass a fixed one for repeatable output).
func New(s *decoder.Secrets, key []byte) *Policy {
	if key == nil {
		key = processKey()
	}
	p := &Policy{secrets: s, key: key}
	if s != nil && len(s.Fields) > 0 {
		p.fields = make(map[string]kind, len(s.Fields))
		for _, f := range s.Fields {
			f = strings.ToLower(f)
			p.fields[f] = tokenOr(f)
			if f != "" {
				p.fieldLens |= 1 << min(len(f), 63)
				p.fieldFirst |= 1 << (f[0] & 63)
			}
		}
	}
	return p
}

// Show is the policy of --show-secrets: nothing is redacted.
func Show() *Policy { return &Policy{show: true} }

// Shows reports whether p leaves every secret as it is.
func (p *Policy) Shows() bool { return p != nil && p.show }

func (p *Policy) or() *Policy {
	if p == nil {
		return defaultPolicy()
	}
	return p
}

// Token replaces a token: decoder.Fingerprint when v is long enough to be
// random, Secret otherwise (a short "token" may be a guessable word, and
// no unsalted hash of a guessable value is ever printed).
func (p *Policy) Token(v string) string {
	if isMark(v) {
		return v
	}
	if len(v) >= 20 {
		return decoder.Fingerprint(v)
	}
	return p.Secret(v)
}

// Secret replaces a low-entropy secret: "hmac:" + 8 hex digits of
// HMAC-SHA256 under the policy's key.
func (p *Policy) Secret(v string) string {
	if isMark(v) {
		return v
	}
	m := hmac.New(sha256.New, p.or().key)
	m.Write([]byte(v))
	var sum [sha256.Size]byte
	return "hmac:" + hex.EncodeToString(m.Sum(sum[:0])[:4])
}

func (p *Policy) replace(k kind, v string) string {
	if k == token {
		return p.Token(v)
	}
	return p.Secret(v)
}

// isMark reports whether v is already a replacement, so that redacting
// twice changes nothing.
func isMark(v string) bool {
	switch {
	case len(v) == 15 && strings.HasPrefix(v, "sha256:"):
		return isHex(v[7:])
	case len(v) == 13 && strings.HasPrefix(v, "hmac:"):
		return isHex(v[5:])
	}
	return false
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// kind is what a name says about the value it names.
type kind uint8

const (
	none   kind = iota
	secret      // password, key, secret, signature: keyed fingerprint
	token       // a bearer token: sha256 fingerprint
)

// header classifies a header name: the registry's exact list, then words
// (asked first: cheaper, and they agree on every name both know).
func (p *Policy) header(name string) kind {
	if k := words(name); k != none {
		return k
	}
	if s := p.or().secrets; s != nil {
		for _, h := range s.Headers {
			if strings.EqualFold(h, name) {
				return tokenOr(name)
			}
		}
	}
	return none
}

// field classifies a body key or query parameter under parent (the key
// of the enclosing object, "" for none): the registry's exact lists, then
// words (asked first, as for headers).
func (p *Policy) field(key, parent string) kind {
	if k := words(key); k != none {
		return k
	}
	if parent != "" && (strings.EqualFold(key, "default") || strings.EqualFold(key, "value")) {
		// heat's "db_password": {"type": "string", "default": "x"},
		// {"password": {"value": "x"}}: the value of the credential named
		// above
		if k := p.field(parent, ""); k != none {
			return k
		}
	}
	if s := p.or().secrets; s != nil {
		for _, f := range s.Fields {
			if strings.EqualFold(f, key) {
				return tokenOr(key)
			}
		}
		for _, n := range s.Nested {
			if strings.EqualFold(n[1], key) && strings.EqualFold(n[0], parent) {
				return tokenOr(parent)
			}
		}
	}
	return none
}

// tokenOr is the kind of a name the registry lists: a token when the name
// says so, a secret otherwise.
func tokenOr(name string) kind {
	if containsFold(name, "token") {
		return token
	}
	return secret
}

// notSecretKeys are words that, before "key", make it a name or a public
// value rather than a secret: key_name has its last word "name" already;
// these are public_key, sort_key (a list parameter), primary_key, …
var notSecretKeys = [...]string{"", "public", "sort", "primary", "foreign", "partition", "cache", "idempotency",
	"routing", "ssh", "host", "unique", "index", "shard", "meta", "metadata", "object", "item", "lookup", "group", "name"}

// words classifies a name by its last word (names split at punctuation and
// lower-to-upper case changes, compared without case): token, …token →
// token, and token_id; …password, …passwd, …passphrase, …passcode,
// …secret, …signature, pass, pwd, sig, auth, authorization, credential(s)
// → secret; key after a
// word that does not make it public or a name (X-Auth-Key, secret_key,
// Temp-URL-Key; not public_key, sort_key, a bare key). Only the last word
// counts, so password_expires_at, auth_url and token_type are not secrets;
// keystone, keypair and key_name are one word or end in another.
//
// A number at the end does not hide the word before it: Swift's second
// key X-Account-Meta-Temp-URL-Key-2, password2, db_password_2.
func words(name string) kind {
	last, rest := lastWord(name)
	if d := trailingDigits(last); d == len(last) && d > 0 {
		last, rest = lastWord(rest)
	} else {
		last = last[:len(last)-d]
	}
	if last == "" {
		return none
	}
	switch lower(last[len(last)-1]) {
	case 'n':
		switch {
		case hasSuffixFold(last, "token"):
			return token
		case strings.EqualFold(last, "authorization"):
			return secret
		}
	case 'd':
		switch {
		case strings.EqualFold(last, "id"):
			if prev, _ := lastWord(rest); hasSuffixFold(prev, "token") {
				return token
			}
			if len(name) == 14 && strings.EqualFold(name, "AWSAccessKeyId") {
				return secret
			}
		case hasSuffixFold(last, "password"), hasSuffixFold(last, "passwd"), strings.EqualFold(last, "pwd"):
			return secret
		}
	case 'e':
		if hasSuffixFold(last, "passphrase") || hasSuffixFold(last, "passcode") || hasSuffixFold(last, "signature") {
			return secret
		}
	case 't':
		if hasSuffixFold(last, "secret") {
			return secret
		}
	case 's':
		if strings.EqualFold(last, "pass") || strings.EqualFold(last, "credentials") {
			return secret
		}
	case 'g':
		if strings.EqualFold(last, "sig") {
			return secret
		}
	case 'h':
		if strings.EqualFold(last, "auth") {
			return secret
		}
		// a password's hash (keystone's password.password_hash, bcrypt):
		// whole, it can be cracked offline
		if strings.EqualFold(last, "hash") {
			if prev, _ := lastWord(rest); words(prev) == secret {
				return secret
			}
		}
	case 'l':
		if strings.EqualFold(last, "credential") {
			return secret
		}
	case 'y':
		if strings.EqualFold(last, "key") {
			prev, _ := lastWord(rest)
			for _, w := range notSecretKeys {
				if strings.EqualFold(prev, w) {
					return none
				}
			}
			return secret
		}
		for _, e := range [...]string{"apikey", "accesskey", "secretkey", "privatekey"} {
			if strings.EqualFold(last, e) {
				return secret
			}
		}
	}
	return none
}

// trailingDigits counts the decimal digits at the end of w.
func trailingDigits(w string) int {
	n := 0
	for n < len(w) && '0' <= w[len(w)-1-n] && w[len(w)-1-n] <= '9' {
		n++
	}
	return n
}

// lastWord returns the last word of name (split at punctuation and
// lower-to-upper case changes) and what comes before it.
func lastWord(name string) (word, rest string) {
	j := len(name)
	for j > 0 && !isAlnum(name[j-1]) {
		j--
	}
	i := j
	for i > 0 && isAlnum(name[i-1]) {
		if i < j && isUpper(name[i]) && isLower(name[i-1]) {
			break
		}
		i--
	}
	return name[i:j], name[:i]
}

func lower(c byte) byte {
	if isUpper(c) {
		return c + 'a' - 'A'
	}
	return c
}

func isAlnum(c byte) bool { return isLower(c) || isUpper(c) || '0' <= c && c <= '9' }
func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

// containsFold reports whether s contains the lower-case ASCII w, ignoring
// case, without allocating.
func containsFold(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i]|0x20 == w[0] && strings.EqualFold(s[i:i+len(w)], w) {
			return true
		}
	}
	return false
}

// SecretBody reports whether the bodies of a request to target (and of
// its response) are a credential whole when they are not JSON: target's
// path ends with one of the registry's Bodies patterns ("*" matches any
// one segment).
func (p *Policy) SecretBody(target string) bool {
	s := p.or().secrets
	if s == nil || len(s.Bodies) == 0 {
		return false
	}
	path, _, _ := strings.Cut(target, "?")
	if i := strings.Index(path, "://"); i >= 0 { // absolute form
		path = path[i+3:]
		if j := strings.IndexByte(path, '/'); j >= 0 {
			path = path[j:]
		}
	}
	if strings.ContainsAny(path, "%;") || strings.Contains(path, "//") || strings.Contains(path, "/.") {
		path = cleanPath(path)
	} else {
		path = strings.TrimRight(path, "/") // already as routed: no allocation
	}
	for _, pat := range s.Bodies {
		if pathEndsWith(path, strings.TrimRight(pat, "/")) {
			return true
		}
	}
	return false
}

// cleanPath is path as a server routes it: percent-escapes decoded,
// ;parameters dropped, empty and "." segments gone, ".." applied, no
// trailing slash.
func cleanPath(path string) string {
	if u, err := url.PathUnescape(path); err == nil {
		path = u
	}
	var segs []string
	for _, seg := range strings.Split(path, "/") {
		seg, _, _ = strings.Cut(seg, ";")
		switch seg {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, seg)
		}
	}
	return "/" + strings.Join(segs, "/")
}

// pathEndsWith matches pat's segments against the last ones of path.
func pathEndsWith(path, pat string) bool {
	for pat != "" {
		pi := strings.LastIndexByte(pat, '/')
		ps := strings.LastIndexByte(path, '/')
		if ps < 0 {
			return false
		}
		want, got := pat[pi+1:], path[ps+1:]
		if want != "*" && want != got || got == "" {
			return false
		}
		pat, path = pat[:max(pi, 0)], path[:ps]
	}
	return true
}

// BodySecret replaces a body that SecretBody names, unless it is JSON
// (barbican's metadata: its fields are redacted as in any body); a
// Content-Type saying JSON is not enough.
func (p *Policy) BodySecret(body, contentType string) (string, bool) {
	if p.Shows() || !WholeSecret(body, contentType) {
		return body, false
	}
	return p.Secret(body), true
}

// WholeSecret reports whether BodySecret replaces body whole under a
// policy that redacts: it is not empty, and not JSON both by its
// Content-Type and by its first character.
func WholeSecret(body, contentType string) bool {
	t := strings.TrimLeft(body, " \t\r\n")
	return body != "" && !(strings.Contains(strings.ToLower(contentType), "json") && t != "" && (t[0] == '{' || t[0] == '['))
}
