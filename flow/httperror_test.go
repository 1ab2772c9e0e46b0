package flow

import (
	"strings"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/http"
)

// TestErrorMessage reads the reason out of the error bodies OpenStack's
// services write.
func TestErrorMessage(t *testing.T) {
	for _, c := range []struct{ name, ct, body, want string }{
		{"keystone", "application/json", `{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}`, "The request you have made requires authentication."},
		{"nova", "application/json", `{"itemNotFound": {"code": 404, "message": "Instance vmr could not be found."}}`, "Instance vmr could not be found."},
		{"neutron", "application/json", `{"NeutronError": {"type": "PortNotFound", "message": "Port 1 could not be found.", "detail": ""}}`, "Port 1 could not be found."},
		{"placement", "application/json", `{"errors": [{"status": 409, "title": "Conflict", "detail": "There was a conflict when trying to complete your request.\n\n Unable to allocate inventory", "code": "placement.undefined_code"}]}`, "There was a conflict when trying to complete your request. Unable to allocate inventory"},
		{"ironic", "application/json", `{"error_message": "{\"faultstring\": \"Node abc could not be found.\", \"debuginfo\": null}"}`, "Node abc could not be found."},
		{"falcon", "application/json", `{"title": "Bad request", "description": "Queue name too long"}`, "Queue name too long"},
		{"glance-webob", "text/html; charset=UTF-8", "<html>\n <head>\n  <title>400 Bad Request</title>\n </head>\n <body>\n  <h1>400 Bad Request</h1>\n  URI for web-download does not pass filtering: http://client:8000/img2.raw<br /><br />\n\n\n\n </body>\n</html>", "URI for web-download does not pass filtering: http://client:8000/img2.raw"},
		{"html-entities", "text/html", "<h1>409 Conflict</h1>Image &#39;x&#39; is in use<br />", "Image 'x' is in use"},
		{"plain", "text/plain", "Service Unavailable\nretry later", "Service Unavailable"},
		{"empty", "application/json", "", ""},
		{"broken-json", "application/json", `{"error": {"mess`, ""},
		{"no-message", "application/json", `{"a": 1, "b": 2}`, ""},
	} {
		if got := errorMessage(c.ct, c.body); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if got := printedMessage(nil, "text/plain", strings.Repeat("x ", 500)); len([]rune(got)) != maxMessage {
		t.Errorf("a long message is %d runes, want %d", len([]rune(got)), maxMessage)
	}
}

// TestErrorMessageRedacted: an error answer that quotes what it refused
// (nova's "Value: …") never prints the credential: the message stops at
// the field's name.
func TestErrorMessageRedacted(t *testing.T) {
	const secret = "Hunter2hunter2hunter2"
	req := exchange(1, "10.0.0.1:40000", "10.0.0.2:8774", 0, 1,
		&http.Request{Method: "POST", Target: "/v2.1/servers"},
		&http.Response{Status: 400, Reason: "Bad Request", Headers: [][2]string{{"Content-Type", "application/json"}},
			Body: `{"badRequest": {"code": 400, "message": "Invalid input for field/attribute adminPass. Value: ` + secret + `. '` + secret + `' is too long"}}`})
	m := Build([]*decoder.Exchange{req}, Options{})
	n := nodeOf(m, req)
	if n == nil || !strings.HasPrefix(n.Message, "Invalid input for field/attribute adminPass") || strings.Contains(n.Message, secret) {
		t.Errorf("message %q", n.Message)
	}
}

// TestErrorMessageCutAfterRedacted: a token across the 300th rune of a
// message is redacted whole before the message is cut, whatever falls
// on the cut.
func TestErrorMessageCutAfterRedacted(t *testing.T) {
	const token = "gAAAAABXy3kQ9abXy3kQ9abXy3kQ9abXy3kQ9abXy3kQ9abXy3kQ9abXy3kQ9abXy3kQ9abXy3kQ9abXy3kQ9abXy3kQ9abXy3kQ9abXy3kQ9abXy3kQ9abXy3kQ9abXy3kQ9abXy3kQ9abXy3kQ9abXy3kQ9a"
	for pad := 0; pad < 320; pad += 10 {
		body := `{"error": {"message": "` + strings.Repeat("a ", pad/2) + `bad value ` + token + ` given"}}`
		m := printedMessage(nil, "application/json", body)
		if strings.Contains(m, token[:24]) {
			t.Fatalf("padding %d: the token printed in part: %q", pad, m)
		}
	}
}

// FuzzErrorMessage: any body, any content type: no panic, a message of at
// most maxMessage runes on one line; and every id idsIn finds in it is
// shaped like one.
func FuzzErrorMessage(f *testing.F) {
	f.Add("application/json", `{"error": {"code": 401, "message": "The request you have made requires authentication."}}`)
	f.Add("application/json", `{"errors": [{"detail": "x"}]}`)
	f.Add("application/json", `{"error_message": "{\"faultstring\": \"Node abc could not be found.\"}"}`)
	f.Add("text/html", "<html><body><h1>400 Bad Request</h1>URI &amp; 8d054e43-d7fe-4d56-b110-d1c11f5c4192<br /></body></html>")
	f.Add("text/plain", "Service Unavailable\nretry")
	f.Fuzz(func(t *testing.T, ct, body string) {
		m := printedMessage(nil, ct, body)
		if n := len([]rune(m)); n > maxMessage {
			t.Fatalf("%d runes", n)
		}
		if strings.ContainsAny(m, "\n\r\t") {
			t.Fatalf("message on several lines: %q", m)
		}
		ids := map[string]bool{}
		idsIn(ids, body)
		for id := range ids {
			if !isID(id) || !strings.Contains(body, id) {
				t.Fatalf("id %q", id)
			}
		}
	})
}
