package strace

import (
	"os"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/decoder/redact"
)

const (
	labToken    = "gAAAAABnZ3x1Q2VydGFpbmx5X25vdF9hX3JlYWxfdG9rZW5fYnV0X2xvbmdfZW5vdWdoXzEyMzQ1Ng"
	labPassword = "s3cr3t-Pa55"
)

// TestRedacted: the recording's sendto and recvfrom carry an X-Auth-Token
// header and a password in a JSON body; their Redacted copies keep
// neither, in Strings, Arg or Args, and calls without secrets come back
// as they are.
func TestRedacted(t *testing.T) {
	b, err := os.ReadFile("testdata/lab-f-tt")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), labToken) || !strings.Contains(string(b), labPassword) {
		t.Fatal("test data lost its secrets")
	}
	r := NewReader(strings.NewReader(string(b)), "lab-f-tt", Options{Policy: redact.New(nil, []byte("k"))})
	changed := 0
	for r.Next() {
		c := r.Call()
		red := c.Redacted().(*Call)
		var all strings.Builder
		all.WriteString(red.Args + red.Summary())
		for _, s := range red.Strings {
			all.WriteString(s.Value)
		}
		for _, a := range red.Arg {
			all.WriteString(a.Raw)
		}
		if s := all.String(); strings.Contains(s, labToken) || strings.Contains(s, labPassword) || strings.Contains(s, labToken[:40]) {
			t.Errorf("line %d keeps a secret: %s", c.Line, red.Args)
		}
		if red != c {
			changed++
			if !strings.Contains(red.Args, "X-Auth-Token: sha256:") || !strings.Contains(red.Args, `\"password\": \"hmac:`) {
				t.Errorf("line %d: %s", c.Line, red.Args)
			}
			if !strings.Contains(c.Args, labToken) {
				t.Errorf("line %d: the original changed", c.Line)
			}
		}
	}
	if r.Err() != nil || changed != 2 {
		t.Errorf("%d calls redacted, want 2 (sendto, recvfrom); err %v", changed, r.Err())
	}
	// --show-secrets keeps everything.
	r = NewReader(strings.NewReader(string(b)), "", Options{Policy: redact.Show()})
	for r.Next() {
		if c := r.Call(); c.Redacted() != c {
			t.Fatalf("line %d redacted under Show", c.Line)
		}
	}
}

// TestQuoteRoundTrip: a string printed by quote reads back the same.
func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{"", "a\tb\r\n", "\x00\x01\xff\"\\", "QFI\xfb\x00\x00\x00\x03", "7\x007"} {
		q := quote(s)
		v, e, cut, ok := decodeString(q, 0, true)
		if !ok || v != s || e != len(q) || cut {
			t.Errorf("%q -> %s -> %q", s, q, v)
		}
	}
}
