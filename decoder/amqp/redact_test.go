package amqp

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

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

// TestFailureMessageRedacted: an RPC failure's message is the exception's
// text, which may quote what the call carried; a token in it becomes its
// fingerprint and a password an hmac, as everywhere else.
func TestFailureMessageRedacted(t *testing.T) {
	tok := "gAAAAABpU1x8" + strings.Repeat("Zq4_", 40)
	failure, _ := json.Marshal(map[string]any{"class": "Unauthorized", "module": "keystoneauth1.exceptions.http",
		"message": "token " + tok + " rejected; password=hunter2hunter2", "tb": []string{}})
	b := osloBody(t, map[string]any{"_msg_id": "m-1", "failure": string(failure), "ending": true})
	in := cat(publish(1, "", "reply_1"), header(1, uint64(len(b))), body(1, string(b)))
	var got []*decoder.Exchange
	d := New(&decoder.Conn{SawSYN: true}, func(x *decoder.Exchange) { got = append(got, x) }, Options{})
	d.Data(decoder.ClientToServer, protocolHeader, time.Unix(1, 0))
	d.Data(decoder.ClientToServer, in, time.Unix(1, 0))
	d.Close(time.Unix(2, 0))
	for _, x := range got {
		m, ok := x.Request.(*Message)
		if !ok {
			continue
		}
		if m.Oslo == nil || !strings.Contains(m.Oslo.FailureMessage, tok) {
			t.Fatalf("the failure was not read: %+v", m.Oslo)
		}
		out, _ := json.Marshal(m.Redacted())
		if strings.Contains(string(out), tok) || strings.Contains(string(out), "hunter2hunter2") {
			t.Fatalf("a secret of the failure message is printed: %s", out)
		}
		if !strings.Contains(string(out), "sha256:") || !strings.Contains(string(out), "rejected") {
			t.Fatalf("the failure message lost more than its secrets: %s", out)
		}
		return
	}
	t.Fatal("no message")
}
