package summary

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/flow"
)

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// TestColourKeepsColumns: coloured text is the plain text with escapes
// added, so the columns stay aligned on a terminal.
func TestColourKeepsColumns(t *testing.T) {
	for _, name := range []string{"auth-fail", "seed-image-save.cut"} {
		s := Compute(models.Model(t, name), Options{})
		var plain, coloured bytes.Buffer
		if err := WriteText(&plain, s, TextOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := WriteText(&coloured, s, TextOptions{Colour: true}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(coloured.String(), "\x1b[") {
			t.Errorf("%s: no colour", name)
		}
		if got := ansi.ReplaceAllString(coloured.String(), ""); got != plain.String() {
			t.Errorf("%s: coloured text without its escapes differs from the plain text", name)
		}
	}
}

// TestEmpty: a capture with nothing flowmap understands gives an empty
// summary, not a crash, and JSON lists rather than nulls.
func TestEmpty(t *testing.T) {
	s := Compute(&flow.Model{}, Options{})
	if s.Capture.Exchanges != 0 || s.Participants == nil || s.Sessions == nil || s.Findings == nil {
		t.Errorf("%+v", s)
	}
	var b bytes.Buffer
	if err := WriteText(&b, s, TextOptions{}); err != nil || !strings.Contains(b.String(), "0 client sessions") {
		t.Errorf("%q %v", b.String(), err)
	}
}
