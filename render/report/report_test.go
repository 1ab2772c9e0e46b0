package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/flow/registry"
	"github.com/flowmap/flowmap/internal/modeltest"
	"github.com/flowmap/flowmap/internal/truth"
	"github.com/flowmap/flowmap/render/story"
	"github.com/flowmap/flowmap/render/summary"
)

var models modeltest.Cache

// TestBundle: the embedded Mermaid is the pinned npm release, whole, with
// its licence.
func TestBundle(t *testing.T) {
	js, err := Bundle()
	if err != nil {
		t.Fatal(err)
	}
	if MermaidVersion() != "11.17.2" || len(js) < 1<<20 || !strings.Contains(js, "mermaid") {
		t.Errorf("mermaid %s, %d bytes", MermaidVersion(), len(js))
	}
	if !strings.Contains(mermaidLicense, "MIT License") {
		t.Errorf("licence: %.80s", mermaidLicense)
	}
}

func render(t *testing.T, m *flow.Model) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, m, summary.Compute(m, summary.Options{}), Options{Sources: []string{"x.pcapng"}}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// ours is the page without the embedded Mermaid bundle (whose own code
// holds HTML strings).
func ours(t *testing.T, html string) string {
	t.Helper()
	js, _ := Bundle()
	i := strings.Index(html, js)
	if i < 0 {
		t.Fatal("the page does not hold the Mermaid bundle")
	}
	return html[:i] + html[i+len(js):]
}

// TestPage: on every capture the page lists every session with the
// hooks tests and scripts use, is the same bytes twice, and holds
// everything it needs (no src= or href= to anything but the page).
func TestPage(t *testing.T) {
	for _, name := range truth.Captures(t) {
		m := models.Model(t, name)
		html := render(t, m)
		if html != render(t, m) {
			t.Errorf("%s: two pages differ", name)
		}
		own := ours(t, html)
		for s := range story.Sessions(m.Roots) {
			n := s[0].Session
			if !strings.Contains(own, `<tr data-session="`+strconv.Itoa(n)+`"`) {
				t.Errorf("%s: session %d has no data-session row", name, n)
			}
		}
		// (URLs from the capture are data, shown as text: only what the
		// browser would load counts)
		for _, bad := range []string{"src=", "href=\"http", "href=\"//", "url(", "@import", "<link", "<iframe", "<object", "<embed"} {
			if strings.Contains(strings.ToLower(own), bad) {
				i := strings.Index(strings.ToLower(own), bad)
				t.Errorf("%s: the page refers to something outside it: %q", name, own[max(0, i-60):min(len(own), i+60)])
			}
		}
		if !strings.Contains(own, "data-details") || !strings.Contains(own, `default-src 'none'`) {
			t.Errorf("%s: no details hook or no Content-Security-Policy", name)
		}
	}
}

// crafted is the seed capture with its image id replaced by a script
// element of the same length: it lands in request targets, JSON bodies
// and SQL.
func crafted(t *testing.T) *flow.Model {
	t.Helper()
	b, err := os.ReadFile(truth.Capture("seed-image-save.cut"))
	if err != nil {
		t.Fatal(err)
	}
	id, payload := "59153cd7-096f-4ecd-bab0-d185f54de134", "<script>window.pwned=1</script>abcde"
	if len(id) != len(payload) || !bytes.Contains(b, []byte(id)) {
		t.Fatal("bad crafting")
	}
	p := filepath.Join(t.TempDir(), "crafted.pcapng")
	if err := os.WriteFile(p, bytes.ReplaceAll(b, []byte(id), []byte(payload)), 0o644); err != nil {
		t.Fatal(err)
	}
	var o pipeline.Options
	o.HTTP.Ports = registry.HTTPPorts()
	o.HTTP.Secrets = registry.Secrets()
	var exs []*decoder.Exchange
	if _, err := pipeline.Run([]string{p}, o, func(e *decoder.Exchange) { exs = append(exs, e) }); err != nil {
		t.Fatal(err)
	}
	return flow.Build(exs, flow.Options{})
}

// TestEscaping: a request target and SQL text holding a script element
// never reach the page as markup: HTML-escaped in the tables, \u003c in
// the data (set with textContent by the page's script).
func TestEscaping(t *testing.T) {
	m := crafted(t)
	own := ours(t, render(t, m))
	if strings.Contains(own, "<script>window.pwned") {
		i := strings.Index(own, "<script>window.pwned")
		t.Errorf("unescaped script element in the page: %q", own[max(0, i-80):i+40])
	}
	if !strings.Contains(own, "&lt;script&gt;window.pwned=1&lt;/script&gt;") {
		t.Error("the tables do not show the crafted target as text")
	}
	if !strings.Contains(own, `\u003cscript\u003ewindow.pwned=1\u003c/script\u003e`) {
		t.Error("the data does not carry the crafted target")
	}
	if strings.Count(own, "<script") != 3 {
		t.Errorf("%d script elements, want the page's 3", strings.Count(own, "<script"))
	}
}

// TestEmptyPage: a model with nothing in it still makes a whole page.
func TestEmptyPage(t *testing.T) {
	html := render(t, &flow.Model{})
	if !strings.HasSuffix(html, "</html>\n") || !strings.Contains(html, `"sessions":[]`) && !strings.Contains(html, `"sessions":null`) {
		t.Errorf("empty page: %.200q", html[len(html)-200:])
	}
}
