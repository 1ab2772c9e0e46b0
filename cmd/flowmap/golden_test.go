package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/internal/golden"
	"github.com/flowmap/flowmap/internal/truth"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

// testKey keys the password fingerprints in the tests, so that golden
// files are repeatable (a run draws its own key).
var testKey = []byte("flowmap golden test key")

// run runs flowmap with args and returns stdout, stderr and the exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := execute(&IO{In: strings.NewReader(""), Out: &out, Err: &errb, RedactKey: testKey}, args)
	return out.String(), errb.String(), code
}

// TestGoldenTrace: `flowmap trace` (Mermaid), `--format json` and
// `--format plantuml` on every capture in testdata match
// testdata/golden/<capture>.{mmd,json,puml}, rewritten with -update and
// reviewed in git diff.
func TestGoldenTrace(t *testing.T) {
	for _, name := range truth.Captures() {
		t.Run(name, func(t *testing.T) {
			// the .puml goldens are render/plantuml's too: the command
			// must print exactly what that package's tests reviewed
			for _, f := range []struct{ ext, format string }{{"mmd", "mermaid"}, {"json", "json"}, {"puml", "plantuml"}} {
				out, errs, code := run(t, "trace", "--format", f.format, truth.Capture(name))
				if code != 0 {
					t.Fatalf("trace %s: exit %d: %s", f.format, code, errs)
				}
				golden.Check(t, filepath.Join(truth.Root(), "testdata", "golden", name+"."+f.ext), []byte(out), *update, "run make golden")
			}
		})
	}
}

// TestGoldenDecode: the JSONL contract and the table, on a small capture.
func TestGoldenDecode(t *testing.T) {
	p := truth.Capture("seed-image-list.ens33")
	for _, f := range []struct{ name, format string }{{"decode.jsonl", "jsonl"}, {"decode.txt", "table"}} {
		out, errs, code := run(t, "decode", "--format", f.format, p)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		golden.Check(t, filepath.Join(truth.Root(), "testdata", "golden", "seed-image-list.ens33."+f.name), []byte(out), *update, "run make golden")
	}
}

// secrets lists every token and password in the testdata captures: the
// X-Auth-Token and X-Subject-Token values tshark saw, and the lab's
// passwords (NOTES.md).
func secrets(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, name := range truth.Captures() {
		rows, err := truth.Load(truth.File(strings.TrimSuffix(name, ".cut"), "http"))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			for _, col := range []string{"http.header.X-Auth-Token", "http.header.X-Subject-Token"} {
				for _, v := range strings.Split(r[col], "|") {
					// snaplen-truncated rows hold cut tokens; whole ones are 100+ chars
					if len(v) >= 40 {
						seen[v] = true
					}
				}
			}
		}
	}
	var out []string
	for v := range seen {
		out = append(out, v)
	}
	if len(out) < 10 {
		t.Fatalf("only %d tokens found in the truth files", len(out))
	}
	return append(out, "GLANCE_PASS", "wrongpassword", "KEYSTONE_DBPASS", "GLANCE_DBPASS")
}

// adminPassword is the admin password, "password": a word that also names
// JSON keys, so it is looked for as a value.
var adminPassword = regexp.MustCompile(`\\?"password\\?"\s*:\s*\\?"password\\?"`)

// TestNoSecretsInOutput: no output of any command holds a whole token or
// password from the captures unless --show-secrets asks for it.
func TestNoSecretsInOutput(t *testing.T) {
	secs := secrets(t)
	check := func(what, out string) {
		t.Helper()
		for _, s := range secs {
			if strings.Contains(out, s) {
				t.Errorf("%s contains the secret %.12s…", what, s)
			}
		}
		if adminPassword.MatchString(out) {
			t.Errorf("%s contains the admin password", what)
		}
	}
	for _, name := range truth.Captures() {
		p := truth.Capture(name)
		for _, args := range [][]string{
			{"decode", p},
			{"decode", "--format", "jsonl", p},
			{"trace", p},
			{"trace", "--detail", "full", p},
			{"trace", "--format", "json", p},
			{"summary", p},
			{"summary", "--format", "json", p},
			{"report", "-o", "-", p},
		} {
			out, errs, _ := run(t, args...)
			check(name+" "+strings.Join(args[:len(args)-1], " "), out+errs)
		}
	}
	golden, _ := filepath.Glob(filepath.Join(truth.Root(), "testdata", "golden", "*"))
	for _, g := range golden {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		check(g, string(b))
	}
	// --show-secrets does show them: the scan above can see a token.
	out, _, _ := run(t, "decode", "--format", "jsonl", "--show-secrets", truth.Capture("seed-image-list"))
	found := 0
	for _, s := range secs {
		if strings.Contains(out, s) {
			found++
		}
	}
	if found == 0 || !adminPassword.MatchString(out) {
		t.Errorf("--show-secrets: %d tokens, admin password shown: %v", found, adminPassword.MatchString(out))
	}
}
