package main

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/internal/truth"
)

// labPasswords are every password and secret of the lab that recorded
// testdata/attribution (its NOTES.md): admin's, the glance service user's,
// the DB users', the wrong one of the failed login, the memcache secret.
var labPasswords = []string{"password", "GLANCE_PASS", "KEYSTONE_DBPASS", "GLANCE_DBPASS", "wrong", "flowmap-lab8-Qm7rT2vX9kLp4Zs"}

var fernet = regexp.MustCompile(`gAAAAA[A-Za-z0-9_=-]{100,}`)

// TestNoLabPasswordInAnyOutput: on the recorded captures, no output mode
// prints a lab password whole or as the prefix of its unsalted SHA-256 (in
// hex, 6 digits or more), nor a whole keystone token; with --show-secrets
// the tokens are there (so the search can see them).
func TestNoLabPasswordInAnyOutput(t *testing.T) {
	var prefixes []string
	for _, pw := range labPasswords {
		sum := sha256.Sum256([]byte(pw))
		prefixes = append(prefixes, hex.EncodeToString(sum[:])[:6])
	}
	quoted := func(pw string) *regexp.Regexp {
		// the password as a value: after ": " (quoted or not) or "=", and
		// ending there
		// (JSON inside JSON escapes its quotes: they are unescaped first)
		// ("methods": ["password"] names keystone's method, not admin's)
		return regexp.MustCompile(`(:\s*["']|=|:\s*)` + regexp.QuoteMeta(pw) + `(["'&\s,;]|$)`)
	}
	for _, name := range []string{"mac", "concurrent-mixed-small"} {
		p := filepath.Join(truth.Root(), "testdata", "attribution", name+".pcapng")
		for _, args := range [][]string{
			{"decode"}, {"decode", "-f", "jsonl"},
			{"trace"}, {"trace", "--detail", "full"}, {"trace", "-f", "json"},
			{"trace", "-f", "plantuml", "--detail", "full"}, {"trace", "-f", "otlp"},
			{"trace", "-f", "json", "--memcache-secret", labPasswords[5]},
		} {
			out, errs, code := run(t, append(args, p)...)
			if code != 0 {
				t.Fatalf("%s %v: exit %d: %s", name, args, code, errs)
			}
			all := strings.ReplaceAll(out+errs, `\"`, `"`)
			for i, pw := range labPasswords {
				if quoted(pw).MatchString(all) {
					t.Errorf("%s %v: the password %q is printed", name, args, pw)
				}
				if strings.Contains(all, prefixes[i]) {
					t.Errorf("%s %v: the unsalted SHA-256 prefix %s of %q is printed", name, args, prefixes[i], pw)
				}
			}
			if tok := fernet.FindString(all); tok != "" {
				t.Errorf("%s %v: a whole token %.12s… is printed", name, args, tok)
			}
		}
		out, _, _ := run(t, "decode", "-f", "jsonl", "--show-secrets", p)
		out = strings.ReplaceAll(out, `\"`, `"`)
		if !fernet.MatchString(out) || !quoted("password").MatchString(out) {
			t.Errorf("%s: --show-secrets shows no token or no password: the search could not see them", name)
		}
	}
}

// TestNoPasswordOrHashInAnyOutput: creating a user and changing its
// password (recorded in the lab) sends the passwords in the requests'
// JSON and their bcrypt hashes in keystone's SQL; no output mode prints
// either, nor a piece of a hash; with --show-secrets both are there (so
// the search can see them).
func TestNoPasswordOrHashInAnyOutput(t *testing.T) {
	p := filepath.Join(truth.Root(), "testdata", "secrets", "user-create.pcapng")
	passwords := []string{"Tr0ub4dor&3xyzzy", "S3cond-Pass!word"}
	bcrypt := regexp.MustCompile(`\$2[aby]\$\d\d\$[./A-Za-z0-9]{8}`)
	for _, args := range [][]string{
		{"decode"}, {"decode", "-f", "jsonl"},
		{"trace"}, {"trace", "--detail", "full"}, {"trace", "-f", "json", "--detail", "full"},
		{"trace", "-f", "plantuml", "--detail", "full"}, {"trace", "-f", "otlp"}, {"summary"},
	} {
		out, errs, code := run(t, append(args, p)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		all := strings.ReplaceAll(out+errs, `\"`, `"`)
		for _, pw := range passwords {
			if strings.Contains(all, pw) || strings.Contains(all, strings.ReplaceAll(pw, "&", `\u0026`)) {
				t.Errorf("%v: the password %q is printed", args, pw)
			}
		}
		if h := bcrypt.FindString(all); h != "" {
			t.Errorf("%v: a password hash %s… is printed", args, h)
		}
	}
	out, _, _ := run(t, "decode", "-f", "jsonl", "--show-secrets", p)
	if n := len(bcrypt.FindAllString(out, -1)); n < 2 || !strings.Contains(out, passwords[1]) {
		t.Fatalf("--show-secrets shows %d hashes and not the password: the search sees nothing", n)
	}
}
