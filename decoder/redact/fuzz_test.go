package redact

import (
	"testing"

	"github.com/flowmap/flowmap/decoder"
)

// FuzzPolicy: no input makes the policy panic, and redacting what it
// printed changes nothing (a fingerprint is never redacted again, and no
// credential survives a first pass to be found by a second).
func FuzzPolicy(f *testing.F) {
	for _, s := range []string{
		"/v2/images?token=" + fernet + "&password=x",
		"http://u:p@h/x?sig=" + random,
		`{"auth":{"password":"p","blob":"{\"secret\":\"s\"}"}}`,
		"username=a&password=b",
		"CREATE USER a IDENTIFIED/**/BY 'pw' -- c",
		"SET PASSWORD FOR u@h = PASSWORD('z')",
		"INSERT INTO instances (uuid, `user_data`) VALUES ('u1', 'echo x'), (_utf8mb4'u2', CONCAT('a', 'b'))",
		"REPLACE INTO t PARTITION (p0) (id, password) VALUE (1, 'pw') ON DUPLICATE KEY UPDATE password = 'pw2'",
		"UPDATE instances SET user_data='echo x' WHERE api_key = 'k'",
		"token:abc/" + jwt,
		"-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----",
	} {
		f.Add(s)
	}
	p := New(&decoder.Secrets{Fields: []string{"password", "secret", "token", "payload", "user_data"}}, key)
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range []struct {
			name string
			f    func(string) string
		}{
			{"Target", p.Target}, {"SQL", p.SQL}, {"CacheKey", p.CacheKey}, {"Text", p.Text},
			{"Header", func(s string) string { return p.Header("X-Thing", s) }},
			{"Body", func(s string) string { return p.Body(s, "") }},
		} {
			once := c.f(s)
			if twice := c.f(once); twice != once {
				t.Errorf("%s not idempotent on %q:\n once  %q\n twice %q", c.name, s, once, twice)
			}
		}
	})
}
