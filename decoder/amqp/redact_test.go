package amqp

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/decoder"
)

// fernet matches a keystone fernet token as oslo.messaging carries it in
// "_context_auth_token" (inside the JSON string "oslo.message").
var fernet = regexp.MustCompile(`gAAAAA[A-Za-z0-9_-]{40,}`)

// TestRedacted: the real streams hold the broker login (AMQPLAIN,
// RABBIT_PASS) and users' tokens in RPC bodies; Redacted hides both and
// keeps the login name.
func TestRedacted(t *testing.T) {
	var logins, tokens int
	for _, name := range realStreams {
		xs, _ := readConv(t, "testdata/streams/"+name+".conv").run(Options{}, 0)
		for _, x := range xs {
			parts := []decoder.Message{x.Request}
			if x.Response != nil {
				parts = append(parts, x.Response)
			}
			for _, m := range parts {
				plain, _ := json.Marshal(m)
				if strings.Contains(string(plain), "RABBIT_PASS") {
					logins++
				}
				tokens += len(fernet.FindAll(plain, -1))
				b, err := json.Marshal(m.Redacted())
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(b), "RABBIT_PASS") || fernet.Match(b) {
					t.Errorf("%s: %s: redacted still holds a secret: %.300s", name, x.Request.Summary(), b)
				}
			}
			if m, ok := x.Request.(*Method); ok && m.Name == "connection.start-ok" {
				if m.Mechanism != "AMQPLAIN" || m.Login != "openstack" {
					t.Errorf("%s: start-ok mechanism %q login %q, want AMQPLAIN openstack", name, m.Mechanism, m.Login)
				}
				if r := m.Redacted().(*Method); r.Login != "openstack" || !strings.HasPrefix(r.Response, "hmac:") {
					t.Errorf("%s: redacted start-ok login %q response %q", name, r.Login, r.Response)
				}
			}
		}
	}
	if logins == 0 || tokens == 0 {
		t.Fatalf("the real streams show %d broker logins and %d tokens: the test checks nothing", logins, tokens)
	}
	t.Logf("%d broker logins and %d tokens hidden", logins, tokens)
}
