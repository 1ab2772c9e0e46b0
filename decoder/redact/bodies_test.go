package redact

import (
	"fmt"
	"testing"
)

// TestBodyCache: Body gives what redacting afresh gives, the first time
// and again (from the cache), for more bodies than the cache has entries
// (so they evict each other); a form under a JSON type and the same form
// under a form type are kept apart.
func TestBodyCache(t *testing.T) {
	p := pol()
	form := "grant_type=password&username=admin&password=s3cret"
	cases := []struct{ body, ct string }{
		{form, "application/x-www-form-urlencoded"},
		{form, "application/json"},
		{`{"auth": {"identity": {"password": {"user": {"name": "admin", "password": "s3cret"}}}}}`, "application/json"},
		{"no secret here", "text/plain"},
	}
	for i := range 3 * bodyCacheSize {
		cases = append(cases, struct{ body, ct string }{fmt.Sprintf(`{"user": "u%d", "password": "p%d"}`, i, i), ""})
	}
	if p.Body(cases[0].body, cases[0].ct) == p.Body(cases[1].body, cases[1].ct) {
		t.Fatal("a form redacted the same under a JSON type: the case below proves nothing")
	}
	for round := range 2 {
		for _, c := range cases {
			fresh := New(p.secrets, key).Body(c.body, c.ct)
			if got := p.Body(c.body, c.ct); got != fresh {
				t.Fatalf("round %d: Body(%q, %q) = %q, redacted afresh %q", round, c.body, c.ct, got, fresh)
			}
		}
	}
	for _, c := range cases[:4] { // cached now
		fresh := New(p.secrets, key).Body(c.body, c.ct)
		if got := p.Body(c.body, c.ct); got != fresh {
			t.Fatalf("cached Body(%q, %q) = %q, redacted afresh %q", c.body, c.ct, got, fresh)
		}
	}
}

// TestBodyCacheHits: a body redacted again comes from its entry, not
// from redacting; another body in the same entry replaces it; an empty
// body is "" from an entry never used.
func TestBodyCacheHits(t *testing.T) {
	var c bodyCache
	calls := 0
	f := func(b string, _ bool) string { calls++; return "<" + b + ">" }
	if got := c.get("a", true, f); got != "<a>" || calls != 1 {
		t.Fatalf("first: %q, %d calls", got, calls)
	}
	if got := c.get("a", true, f); got != "<a>" || calls != 1 {
		t.Errorf("again: %q, %d calls: not from the cache", got, calls)
	}
	if got := c.get("a", false, f); got != "<a>" || calls != 2 {
		t.Errorf("another type: %q, %d calls", got, calls)
	}
	if got := c.get("", false, func(string, bool) string { return "" }); got != "" {
		t.Errorf("empty body: %q", got)
	}
}
