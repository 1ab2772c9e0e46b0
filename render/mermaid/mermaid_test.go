package mermaid

import (
	"regexp"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/render/story"
)

func TestEscape(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"semicolon-separates-statements", "a; b", "a#59; b"},
		{"hash-starts-comment", "issue #5", "issue #35;5"},
		{"entity-lookalike", "#59;", "#35;59#59;"},
		{"newline", "a\nb", "a<br/>b"},
		{"control-chars", "a\x00b\tc\rd", "a b c d"},
		{"colon-kept", "key: value", "key: value"},
		{"percent-directive", "GET /x%%{init: {'theme':'forest'}}%%", "GET /x#37;#37;{init: {'theme':'forest'}}#37;#37;"},
		{"percent-encoded", "/v2/images?name=a%20b", "/v2/images?name=a#37;20b"},
		{"unicode-kept", "glance → 认证", "glance → 认证"},
	} {
		if got := Escape(c.in); got != c.want {
			t.Errorf("%s: Escape(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
}

var plainID = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// TestParticipantIDs: ids are short, plain, unique and never a keyword,
// whatever the names.
func TestParticipantIDs(t *testing.T) {
	var ps []*flow.Participant
	for _, p := range []struct {
		name string
		kind flow.Kind
	}{
		{"OpenStackClient", flow.Client}, {"curl", flow.Client}, {"keystone", flow.Service},
		{"keystone DB", flow.DB}, {"kafka", flow.Service}, {"end", flow.Service}, {"Note", flow.Service},
		{"10.0.20.5", flow.Host}, {"10.0.20.6", flow.Host}, {"认证", flow.Service}, {"memcached", flow.Cache},
	} {
		ps = append(ps, &flow.Participant{Name: p.name, Kind: p.kind})
	}
	ids := story.IDs(ps, keywords)
	seen := map[string]bool{}
	for _, p := range ps {
		id := ids[p]
		if !plainID.MatchString(id) || keywords[strings.ToLower(id)] || seen[id] || len(id) > 4 {
			t.Errorf("%q got id %q", p.Name, id)
		}
		seen[id] = true
	}
	if ids[ps[2]] != "K" || ids[ps[3]] != "KD" || ids[ps[0]] != "C" || ids[ps[10]] != "M" {
		t.Errorf("ids not like a person's: %v", ids)
	}
	out := Print(&story.Story{Participants: ps}, "")
	if !strings.Contains(out, "participant E as end") {
		t.Errorf("keyword name not aliased:\n%s", out)
	}
}

func TestTextSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{{"abc", 3}, {"a · b → c", 9}, {"≈", 1}, {"😀", 2}, {"", 0}} {
		if got := TextSize(c.in); got != c.want {
			t.Errorf("TextSize(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

// TestTitleBlank: a title of white space is left out ("title" alone does
// not parse); .ci/run checks the others with the real parser.
func TestTitleBlank(t *testing.T) {
	for title, want := range map[string]bool{"   ": false, "": false, " x ": true} {
		out := Print(&story.Story{}, title)
		if got := strings.Contains(out, "title"); got != want {
			t.Errorf("title %q: %q", title, out)
		}
		if want && !strings.Contains(out, "  title x\n") {
			t.Errorf("title %q not trimmed: %q", title, out)
		}
	}
}
