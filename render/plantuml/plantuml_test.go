package plantuml

import (
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/flowmap/flowmap/internal/golden"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/internal/modeltest"
	"github.com/flowmap/flowmap/internal/truth"
	"github.com/flowmap/flowmap/render/mermaid"
	"github.com/flowmap/flowmap/render/story"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.puml")

// escapeCases are texts PlantUML would otherwise read as markup, escapes,
// preprocessor calls or line structure. want is the escaped text; every
// case is also rendered by the real PlantUML in TestEscapeRendered.
var escapeCases = []struct{ name, in, want string }{
	{"plain", "GET /v2/images · admin token sha256:67e8e033", "GET /v2/images · admin token sha256:67e8e033"},
	{"hash-kept", "issue #5", "issue #5"},
	{"unicode-kept", "glance → 认证 · … ⚠", "glance → 认证 · … ⚠"},
	{"colon-kept", "key: value : more", "key: value : more"},
	{"single-markup-chars-kept", "a-b a_b a/b a*b \"q\" [x] 59153cd7-096f", "a-b a_b a/b a*b \"q\" [x] 59153cd7-096f"},
	{"strike", "a--b", "a~--b"},
	{"dash-run", "a---b ----", "a~-~--b ~-~-~--"},
	{"bold", "a **bold**", "a ~**bold~**"},
	{"bold-at-start", "**bold**", "&#42;*bold~**"},
	{"italic-url", "http://x//y", "http:~//x~//y"},
	{"mono", `""mono""`, `~""mono~""`},
	{"underline", "__u__", "~__u~__"},
	{"wave-and-tilde", "~~w~~ ~tilde", "&#126;&#126;w&#126;&#126; &#126;tilde"},
	{"tag", "<b>x</b>", "<U+003C>b>x<U+003C>/b>"},
	{"tag-after-lt", "<<s>>", "<U+003C><U+003C>s>>"},
	{"unicode-notation", "<U+2192> <u+2192> &#60;U+2192>", "<U+003C>U+2192> <U+003C>u+2192> &#38;#60;U+2192>"},
	{"icon-sprite-img", "<&home> <$s> <img:/etc/passwd> <:smile:>", "<U+003C>&home> <U+003C>$s> <U+003C>img:/etc/passwd> <U+003C>:smile:>"},
	{"comparators", "a <= b >= c", "a <U+003C>= b >= c"},
	{"link", "[[http://x]]", "~[[http:~//x]]"},
	{"entity-lookalike", "&#59; &#36; &#92; &amp; a&b", "&#38;#59; &#38;#36; &#38;#92; &amp; a&b"},
	{"preprocessor-function", "%date() 50%", "&#37;date() 50&#37;"},
	{"dollar-bang", "$x !define", "$x !define"},
	{"backslash-n", `back\slash\n`, `back\\slash\\n`},
	{"backslash-escapes", `\t \l \r \\ \~ \<`, `\\t \\l \\r \\\\ \\&#126; \\<U+003C>`},
	{"trailing-backslash", `tail\`, `tail\\`},
	{"newline", "a\nb", `a\nb`},
	{"crlf", "a\r\nb", `a \nb`},
	{"unicode-line-separators", "a\u2028b\u2029c", "a b c"},
	{"control-chars", "a\x00b\tc\rd\x7fe\u0085f", "a b c d e f"},
	{"trimmed", " \t x \n", "x"},
	{"line-start-list", "* li", "&#42; li"},
	{"line-start-numbered", "# n", "&#35; n"},
	{"line-start-heading", "= h", "&#61; h"},
	{"line-start-table", "|= a | b |", "&#124;= a | b |"},
	{"line-start-dots", "....", "&#46;..."},
	{"line-start-after-newline", "x\n* li\n= h\n....", `x\n&#42; li\n&#61; h\n&#46;...`},
	{"separator-equals", "a == b ==", "a == b =="},
	{"tilde-before-markup", "~**x", "&#126;~**x"},
	{"tilde-at-start", "~@startuml a~@start ~@enduml ~@x", "&#126;~@startuml a&#126;~@start &#126;@enduml &#126;@x"},
	{"block-comment", "it's /' c '/", "it's /&#39; c '/"},
	{"block-comment-only", "/' a '/", "/&#39; a '/"},
	{"spaces-kept", "a  b   c", "a  b   c"},
	{"directive-lookalikes", "@enduml !include /etc/passwd ' not a comment", "@enduml !include /etc/passwd ' not a comment"},
	{"arrow-and-keywords", "A -> B : end note", "A -> B : end note"},
}

func TestEscape(t *testing.T) {
	for _, c := range escapeCases {
		got := Escape(c.in)
		if got != c.want {
			t.Errorf("%s: Escape(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
		if strings.ContainsAny(got, "\n\r") {
			t.Errorf("%s: Escape(%q) = %q breaks the line", c.name, c.in, got)
		}
		if back := unescape(got); back != shown(c.in) {
			t.Errorf("%s: unescape(%q) = %q, want %q", c.name, got, back, shown(c.in))
		}
	}
}

// shown is s as a reader should see it: control characters and line
// separators as spaces, trimmed, newlines kept.
func shown(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r != '\n' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029') {
			return ' '
		}
		return r
	}, s))
}

// unescape inverts Escape (and escapeName).
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '~' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case strings.HasPrefix(s[i:], `\\`):
			b.WriteByte('\\')
			i++
		case strings.HasPrefix(s[i:], `\n`):
			b.WriteByte('\n')
			i++
		case strings.HasPrefix(s[i:], "<U+") && i+8 <= len(s) && s[i+7] == '>':
			n, err := strconv.ParseUint(s[i+3:i+7], 16, 32)
			if err != nil {
				b.WriteByte(s[i])
				continue
			}
			b.WriteRune(rune(n))
			i += 7
		case strings.HasPrefix(s[i:], "&#"):
			end := strings.IndexByte(s[i:], ';')
			n, err := strconv.Atoi(s[i+2 : i+max(end, 2)])
			if end < 0 || err != nil {
				b.WriteByte(s[i])
				continue
			}
			b.WriteRune(rune(n))
			i += end
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

var plainID = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// TestParticipants: ids are short, plain, unique and never a keyword;
// names are quoted as they are; shapes follow the kind.
func TestParticipants(t *testing.T) {
	var ps []*flow.Participant
	for _, p := range []struct {
		name string
		kind flow.Kind
	}{
		{"OpenStackClient", flow.Client}, {"keystone", flow.Service}, {"keystone DB", flow.DB},
		{"memcached", flow.Cache}, {"end", flow.Service}, {"as", flow.Service}, {"Note", flow.Service},
		{"10.0.20.5", flow.Host}, {`say "hi"`, flow.Service},
	} {
		ps = append(ps, &flow.Participant{Name: p.name, Kind: p.kind})
	}
	ids := story.IDs(ps, keywords())
	seen := map[string]bool{}
	for _, p := range ps {
		id := ids[p]
		if !plainID.MatchString(id) || keywords()[strings.ToLower(id)] || seen[id] || len(id) > 4 {
			t.Errorf("%q got id %q", p.Name, id)
		}
		seen[id] = true
	}
	out := Print(&story.Story{Participants: ps}, "")
	for _, want := range []string{
		`actor "OpenStackClient" as C`, `participant "keystone" as K`, `database "keystone DB" as KD`,
		`collections "memcached" as M`, `participant "end" as E`, `participant "say &#34;hi&#34;" as S`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("no line %q in\n%s", want, out)
		}
	}
}

// synthetic is a story with every kind of step, failed and bulk arrows,
// empty texts and markup in names and the title.
func synthetic() (*story.Story, string) {
	c := &flow.Participant{Name: "curl **x**", Kind: flow.Client}
	g := &flow.Participant{Name: `glance "api"`, Kind: flow.Service}
	d := &flow.Participant{Name: "glance DB", Kind: flow.DB}
	m := &flow.Participant{Name: "memcached", Kind: flow.Cache}
	return &story.Story{
		Participants: []*flow.Participant{c, g, d, m},
		Steps: []story.Step{
			{Kind: story.Session, From: c, Text: "session 1 of 2 · user admin"},
			{Kind: story.Call, From: c, To: g, Text: "GET / (version discovery) → 503", Failed: true, Folded: true},
			{Kind: story.Call, From: c, To: g, Text: "GET /v2/images/x/file"},
			{Kind: story.Call, From: g, To: m, Text: "get"},
			{Kind: story.Reply, From: m, To: g, Text: "", Failed: true},
			{Kind: story.Note, From: g, Text: ""},
			{Kind: story.Note, From: g, Text: "a note\non two lines"},
			{Kind: story.Call, From: g, To: d, Text: "3 queries"},
			{Kind: story.Reply, From: d, To: g, Text: "error 1146: Table 'glance.images' doesn't exist", Failed: true},
			{Kind: story.Reply, From: g, To: c, Text: "200 OK · 12.98 MB", Bulk: true},
		},
	}, "flowmap -- **trace** 100%"
}

// TestPrint: the lines of every kind of step.
func TestPrint(t *testing.T) {
	st, title := synthetic()
	want := `@startuml
title flowmap ~-- ~**trace~** 100&#37;
autonumber
actor "curl ~**x~**" as C
participant "glance &#34;api&#34;" as G
database "glance DB" as GD
collections "memcached" as M
== session 1 of 2 · user admin ==
C ->x G : GET / (version discovery) → 503
C -> G : GET /v2/images/x/file
G -> M : get
M -->x G
note over G :
note over G : a note\non two lines
G -> GD : 3 queries
GD -->x G : error 1146: Table 'glance.images' doesn't exist
G -->> C : 200 OK · 12.98 MB
@enduml
`
	if got := Print(st, title); got != want {
		line, g, w := golden.FirstDiff(got, want)
		t.Errorf("line %d:\n got: %s\nwant: %s", line, g, w)
	}
}

// models decodes each testdata capture once, as `flowmap trace` does.
var models modeltest.Cache

func model(t *testing.T, name string) *flow.Model { return models.Model(t, name) }

func goldenPath(name string) string {
	return filepath.Join(truth.Root(), "testdata", "golden", name+".puml")
}

// TestGolden: the diagram of every capture in testdata matches
// testdata/golden/<capture>.puml, rewritten with -update and reviewed in
// git diff.
func TestGolden(t *testing.T) {
	for _, name := range truth.Captures() {
		t.Run(name, func(t *testing.T) {
			out := Render(model(t, name), Options{})
			golden.Check(t, goldenPath(name), []byte(out), *update, "run make golden")
		})
	}
}

// item is an arrow or a note as a reader sees it, from either printer.
type item struct {
	note            bool
	from, to        string // participant names; from is "" for a separator
	text            string
	dashed, crossed bool
}

func (it item) String() string {
	if it.note {
		return fmt.Sprintf("note over %q: %q", it.from, it.text)
	}
	return fmt.Sprintf("%q -> %q dashed=%v crossed=%v: %q", it.from, it.to, it.dashed, it.crossed, it.text)
}

var (
	pumlParticipant = regexp.MustCompile(`^\w+ "(.*)" as (\w+)$`)
	pumlArrow       = regexp.MustCompile(`^(\w+) (->|->x|-->|-->x|-->>) (\w+)(?: : (.*))?$`)
	pumlNote        = regexp.MustCompile(`^note over (\w+) :(?: (.*))?$`)
	pumlSeparator   = regexp.MustCompile(`^== (.*) ==$`)
	mmdParticipant  = regexp.MustCompile(`^  participant (\w+) as (.*)$`)
	mmdArrow        = regexp.MustCompile(`^  (\w+)(->>|-->>|--x)(\w+): (.*)$`)
	mmdNote         = regexp.MustCompile(`^  Note over (\w+): (.*)$`)
)

// pumlItems reads the arrows and notes of a PlantUML diagram of Print.
func pumlItems(t *testing.T, d string) []item {
	t.Helper()
	names := map[string]string{}
	var out []item
	for _, l := range strings.Split(strings.TrimSuffix(d, "\n"), "\n") {
		if m := pumlParticipant.FindStringSubmatch(l); m != nil {
			names[m[2]] = unescape(m[1])
		} else if m := pumlArrow.FindStringSubmatch(l); m != nil {
			out = append(out, item{from: names[m[1]], to: names[m[3]], text: unescape(m[4]),
				dashed: strings.HasPrefix(m[2], "--"), crossed: strings.HasSuffix(m[2], "x")})
		} else if m := pumlNote.FindStringSubmatch(l); m != nil {
			out = append(out, item{note: true, from: names[m[1]], text: unescape(m[2])})
		} else if m := pumlSeparator.FindStringSubmatch(l); m != nil {
			out = append(out, item{note: true, text: unescape(m[1])})
		} else if l != "@startuml" && l != "@enduml" && l != "autonumber" && !strings.HasPrefix(l, "title ") {
			t.Errorf("unexpected PlantUML line %q", l)
		}
	}
	return out
}

// mmdItems reads the arrows and notes of a Mermaid diagram of mermaid.Print.
func mmdItems(t *testing.T, d string) []item {
	t.Helper()
	un := strings.NewReplacer("#35;", "#", "#59;", ";", "<br/>", "\n").Replace
	names := map[string]string{}
	var out []item
	for _, l := range strings.Split(strings.TrimSuffix(d, "\n"), "\n") {
		if m := mmdParticipant.FindStringSubmatch(l); m != nil {
			names[m[1]] = un(m[2])
		} else if m := mmdArrow.FindStringSubmatch(l); m != nil {
			out = append(out, item{from: names[m[1]], to: names[m[3]], text: un(m[4]),
				dashed: strings.HasPrefix(m[2], "--"), crossed: m[2] == "--x"})
		} else if m := mmdNote.FindStringSubmatch(l); m != nil {
			out = append(out, item{note: true, from: names[m[1]], text: un(m[2])})
		} else if l != "sequenceDiagram" && l != "  autonumber" && !strings.HasPrefix(l, "  title ") {
			t.Errorf("unexpected Mermaid line %q", l)
		}
	}
	return out
}

// TestSameStoryAsMermaid: on every capture, in both details, the PlantUML
// and the Mermaid diagram of one story have the same arrows and notes in
// the same order, between the same participants, crossed alike, with the
// same texts once unescaped. PlantUML dashes replies only (Mermaid also
// failed calls); its session headers are separators over no participant.
func TestSameStoryAsMermaid(t *testing.T) {
	for _, name := range truth.Captures() {
		m := model(t, name)
		for _, detail := range []string{story.Compact, story.Full} {
			st := story.Tell(m, story.Options{Detail: detail})
			p, mm := pumlItems(t, Print(st, "t")), mmdItems(t, mermaid.Print(st, "t"))
			if len(p) != len(st.Steps) || len(mm) != len(st.Steps) {
				t.Errorf("%s %s: %d steps, %d PlantUML items, %d Mermaid items", name, detail, len(st.Steps), len(p), len(mm))
				continue
			}
			for i := range p {
				a, b := p[i], mm[i]
				s := st.Steps[i]
				if s.Kind == story.Session {
					b.from = "" // a separator
				}
				if s.Kind == story.Call && s.Failed {
					b.dashed = false // Mermaid dashes every crossed arrow
				}
				if a != b || !a.note && a.dashed != (s.Kind == story.Reply) {
					t.Errorf("%s %s item %d:\nPlantUML %v\n Mermaid %v", name, detail, i+1, a, b)
					break
				}
				want := s.Text
				if s.Guessed {
					want = "≈ " + want
				}
				if a.text != shown(want) {
					t.Errorf("%s %s item %d: text %q, step says %q", name, detail, i+1, a.text, want)
				}
			}
		}
	}
}

// plantumlOnPath skips the test when PlantUML is not installed, or with
// -short (a JVM run takes seconds).
func plantumlOnPath(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not running PlantUML")
	}
	if _, err := exec.LookPath("plantuml"); err != nil {
		t.Skip("plantuml is not on PATH")
	}
}

// TestGoldensPassPlantUML: the real PlantUML renders every golden and the
// synthetic story without error (one JVM, through
// scripts/plantuml-check.sh), and the script does catch a syntax error and
// a renderer crash.
func TestGoldensPassPlantUML(t *testing.T) {
	plantumlOnPath(t)
	var files []string
	for _, name := range truth.Captures() {
		files = append(files, goldenPath(name))
	}
	dir := t.TempDir()
	st, title := synthetic()
	files = append(files, filepath.Join(dir, "synthetic.puml"))
	if err := os.WriteFile(files[len(files)-1], []byte(Print(st, title)), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{
		"syntax.puml": "@startuml\nA -> B : ok\nA -x-> B oops\n@enduml\n",
		"crash.puml":  "@startuml\nA -> B : a&#36;b\n@enduml\n",
	}
	for f, src := range bad {
		p := filepath.Join(dir, f)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	cmd := exec.Command(filepath.Join(truth.Root(), "scripts", "plantuml-check.sh"), files...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("plantuml-check.sh: %v, want exit status 1\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i, f := range files {
		want := "OK " + f
		if i >= len(files)-len(bad) {
			want = "FAIL " + f + ": "
		}
		if i >= len(lines) || !strings.HasPrefix(lines[i], want) {
			t.Errorf("want a line %q…, got:\n%s", want, out)
			return
		}
	}
	if want := fmt.Sprintf("plantuml: %d passed, %d failed", len(files)-len(bad), len(bad)); lines[len(lines)-1] != want {
		t.Errorf("last line %q, want %q", lines[len(lines)-1], want)
	}
}

// TestEscapeRendered: the real PlantUML shows every escape case as it is,
// each line one plain text, as a title, a participant name, a message, a
// note and a separator (one diagram per case, one JVM for all).
func TestEscapeRendered(t *testing.T) {
	plantumlOnPath(t)
	dir := t.TempDir()
	var src strings.Builder
	wants := make([][]string, len(escapeCases))
	for i, c := range escapeCases {
		var lines []string // PlantUML trims each line
		for _, l := range strings.Split(shown(c.in), "\n") {
			lines = append(lines, strings.TrimSpace(l))
		}
		e, title, sep := Escape(c.in), Escape(c.in), Escape(c.in)
		tlines, slines := lines, lines
		if len(lines) > 1 { // titles and separators are one line
			title, sep, tlines, slines = "T", "S", []string{"T"}, []string{"S"}
		}
		fmt.Fprintf(&src, "@startuml\nhide footbox\ntitle %s\nparticipant \"%s\" as P\nP -> P : %s\nnote over P : %s\n== %s ==\n@enduml\n",
			title, escapeName(c.in), e, e, sep)
		for _, part := range [][]string{tlines, lines, lines, lines, slines} {
			wants[i] = append(wants[i], part...)
		}
	}
	in := filepath.Join(dir, "cases.puml")
	if err := os.WriteFile(in, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("plantuml", "-charset", "UTF-8", "-tsvg", in).CombinedOutput(); err != nil {
		t.Fatalf("plantuml: %v\n%s", err, out)
	}
	for i, c := range escapeCases {
		svg := filepath.Join(dir, "cases.svg")
		if i > 0 {
			svg = filepath.Join(dir, fmt.Sprintf("cases_%03d.svg", i))
		}
		texts, err := svgTexts(svg)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if strings.Join(texts, "\x00") != strings.Join(wants[i], "\x00") {
			t.Errorf("%s: PlantUML shows %q,\nwant %q (title, name, message, note, separator)", c.name, texts, wants[i])
		}
	}
}

// svgTexts returns the contents of the text elements of an SVG file.
func svgTexts(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	var out []string
	in := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if tok.Name.Local == "text" {
				in = true
				out = append(out, "")
			}
		case xml.EndElement:
			in = in && tok.Name.Local != "text"
		case xml.CharData:
			if in {
				out[len(out)-1] += string(tok)
			}
		}
	}
}

// TestTitle: a title of white space is left out, and braces at its ends
// (which open or close PlantUML's multi-line title block) are entities.
// .ci/run renders these titles with the real PlantUML.
func TestTitle(t *testing.T) {
	for title, want := range map[string]string{
		"   ": "", "": "", "{": "title &#123;", "}": "title &#125;", "x{": "title x&#123;",
		"{x}": "title &#123;x}", "a {b} c": "title a {b} c", " image save ": "title image save",
	} {
		out := Print(&story.Story{}, title)
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "title") {
				line = l
			}
		}
		if line != want {
			t.Errorf("title %q: line %q, want %q", title, line, want)
		}
	}
}
