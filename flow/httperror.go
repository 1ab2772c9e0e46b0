package flow

import (
	"encoding/json"
	"html"
	"strings"

	"github.com/flowmap/flowmap/decoder/redact"
)

// maxMessage bounds the message read from an error answer.
const maxMessage = 300

// errorMessage is what an OpenStack service says in the body of an error
// answer, the reason a person reads first:
//
//   - JSON, as the services write it: keystone's {"error": {"message"}},
//     nova's and cinder's {"badRequest": {"message"}} (one key, the fault's
//     name), neutron's {"NeutronError": {"message"}}, the API working
//     group's {"errors": [{"detail", "title"}]} (placement), ironic's
//     {"error_message": "{\"faultstring\": …}"}, {"title", "description"};
//   - webob's HTML page (glance): the text after its <h1> heading;
//   - plain text: its first line.
//
// "" when the body says nothing more than the status line.
func errorMessage(contentType, body string) string {
	body = strings.TrimSpace(body)
	if body == "" {
		return ""
	}
	var m string
	switch ct := strings.ToLower(contentType); {
	case strings.Contains(ct, "json") || strings.HasPrefix(body, "{"):
		m = jsonMessage(body)
	case strings.Contains(ct, "html") || strings.HasPrefix(body, "<"):
		m = htmlMessage(body)
	default:
		m, _, _ = strings.Cut(body, "\n")
	}
	return strings.Join(strings.Fields(m), " ")
}

// printedMessage is the message of an error answer as it is printed:
// redacted by p whole, then cut to maxMessage runes (cut first, a token
// across the cut would no longer look like one).
func printedMessage(p *redact.Policy, contentType, body string) string {
	m := p.Message(errorMessage(contentType, body))
	if r := []rune(m); len(r) > maxMessage {
		m = string(r[:maxMessage-1]) + "…"
	}
	return m
}

func jsonMessage(body string) string {
	var doc map[string]json.RawMessage
	if json.Unmarshal([]byte(body), &doc) != nil {
		return ""
	}
	type fault struct {
		Message     string `json:"message"`
		Detail      string `json:"detail"`
		Title       string `json:"title"`
		Description string `json:"description"`
		Faultstring string `json:"faultstring"`
	}
	text := func(raw json.RawMessage) string {
		var f fault
		if json.Unmarshal(raw, &f) != nil {
			return ""
		}
		return firstOf(f.Message, f.Detail, f.Description, f.Faultstring, f.Title)
	}
	if s := text(json.RawMessage(body)); s != "" {
		return s // {"message": …}, {"title", "description"}
	}
	if raw, ok := doc["errors"]; ok { // [{"title", "detail"}]
		var errs []json.RawMessage
		if json.Unmarshal(raw, &errs) == nil && len(errs) > 0 {
			return text(errs[0])
		}
	}
	if raw, ok := doc["error_message"]; ok { // ironic: JSON in a string
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if inner := text(json.RawMessage(s)); inner != "" {
				return inner
			}
			return s
		}
	}
	if len(doc) == 1 { // {"error": {…}}, {"itemNotFound": {…}}
		for _, raw := range doc {
			return text(raw)
		}
	}
	return ""
}

// htmlMessage reads webob's error page: "<h1>400 Bad Request</h1> the
// reason<br />": the text after the heading, tags dropped.
func htmlMessage(body string) string {
	lower := strings.ToLower(body)
	if i := strings.Index(lower, "</h1>"); i >= 0 {
		body, lower = body[i+5:], lower[i+5:]
	} else if i := strings.Index(lower, "<body"); i >= 0 {
		body, lower = body[i:], lower[i:]
	}
	if i := strings.Index(lower, "</body"); i >= 0 {
		body = body[:i]
	}
	var b strings.Builder
	in := false
	for _, r := range body {
		switch {
		case r == '<':
			in = true
			b.WriteByte(' ')
		case r == '>':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return html.UnescapeString(b.String())
}
