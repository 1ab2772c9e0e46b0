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

// TestNoPasswordOrHashInAnyOutput: keystone administration recorded in
// the lab sends passwords, an application credential's secret, a TOTP
// seed and EC2 credentials in the requests' and answers' JSON, and bcrypt
// hashes in keystone's SQL; no output mode prints any of them, nor a piece
// of a hash; with --show-secrets they are there (so the search can see
// them).
func TestNoPasswordOrHashInAnyOutput(t *testing.T) {
	bcrypt := regexp.MustCompile(`\$2[aby]\$\d\d\$[./A-Za-z0-9]{8}`)
	ec2 := regexp.MustCompile(`\\"secret\\": \\"([0-9a-f]{32})`) // EC2's, drawn by keystone
	for _, c := range []struct {
		capture string
		secrets []string
		ec2     bool
	}{
		{"user-create", []string{"Tr0ub4dor&3xyzzy", "S3cond-Pass!word"}, false},
		{"keystone-credentials", []string{"Corr3ct-Horse-Battery", "N3w-Horse-Battery-Staple", "AppCr3d-S3cret-Value-9f8e7d", "TOTPSEEDVALUE1234567890"}, true},
	} {
		p := filepath.Join(truth.Root(), "testdata", "secrets", c.capture+".pcapng")
		show, _, _ := run(t, "decode", "-f", "jsonl", "--show-secrets", p)
		for _, s := range c.secrets {
			if !strings.Contains(show, s) && !strings.Contains(show, strings.ReplaceAll(s, "&", `\u0026`)) {
				t.Fatalf("%s: --show-secrets does not show %q: the search sees nothing", c.capture, s)
			}
		}
		if len(bcrypt.FindAllString(show, -1)) < 2 {
			t.Fatalf("%s: --show-secrets shows no password hash: the search sees nothing", c.capture)
		}
		secrets := c.secrets
		if c.ec2 {
			m := ec2.FindStringSubmatch(show)
			if m == nil {
				t.Fatalf("%s: no EC2 secret in --show-secrets", c.capture)
			}
			secrets = append(secrets, m[1])
		}
		for _, args := range [][]string{
			{"decode"}, {"decode", "-f", "jsonl"},
			{"trace"}, {"trace", "--detail", "full"}, {"trace", "-f", "json", "--detail", "full"},
			{"trace", "-f", "plantuml", "--detail", "full"}, {"trace", "-f", "otlp"}, {"summary"},
		} {
			out, errs, code := run(t, append(args, p)...)
			if code != 0 {
				t.Fatalf("%s %v: exit %d: %s", c.capture, args, code, errs)
			}
			all := strings.ReplaceAll(out+errs, `\"`, `"`)
			for _, s := range secrets {
				if strings.Contains(all, s) || strings.Contains(all, strings.ReplaceAll(s, "&", `\u0026`)) {
					t.Errorf("%s %v: the secret %q is printed", c.capture, args, s)
				}
			}
			if h := bcrypt.FindString(all); h != "" {
				t.Errorf("%s %v: a password hash %s… is printed", c.capture, args, h)
			}
		}
	}
}
