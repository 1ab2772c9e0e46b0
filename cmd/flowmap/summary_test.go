package main

import (
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/internal/golden"
	"github.com/flowmap/flowmap/internal/truth"
)

// summaryGoldens are the captures whose summary text is reviewed.
var summaryGoldens = []string{"seed-image-save.cut", "auth-fail", "concurrent"}

// TestGoldenSummary: `flowmap summary` (plain: not a terminal) on a few
// captures matches testdata/golden/<capture>.summary.txt.
func TestGoldenSummary(t *testing.T) {
	for _, name := range summaryGoldens {
		t.Run(name, func(t *testing.T) {
			out, errs, code := run(t, "summary", truth.Capture(name))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if strings.Contains(out, "\x1b[") {
				t.Errorf("colour escapes in output that is not a terminal")
			}
			golden.Check(t, filepath.Join(truth.Root(), "testdata", "golden", name+".summary.txt"), []byte(out), *update, "run make golden")
		})
	}
}

// TestSummaryColour: colour on a terminal, none with NO_COLOR (--no-color).
func TestSummaryColour(t *testing.T) {
	for _, c := range []struct {
		tty, noColour bool
		want          bool
	}{{true, false, true}, {true, true, false}, {false, false, false}} {
		var out, errb strings.Builder
		ios := &IO{In: strings.NewReader(""), Out: &out, Err: &errb, OutTTY: c.tty, NoColour: c.noColour}
		root := newRootCmd(ios)
		root.SetArgs([]string{"summary", truth.Capture("auth-fail")})
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(out.String(), "\x1b["); got != c.want {
			t.Errorf("tty %v, no colour %v: colour %v, want %v", c.tty, c.noColour, got, c.want)
		}
	}
}

// summaryContract is every field of `summary --format json` the README
// documents, by object. Fields are only ever added: a field removed or
// renamed fails here.
var summaryContract = map[string][]string{
	"":             {"capture", "participants", "databases", "caches", "sessions", "slowest", "errors", "names_looked_up", "findings"},
	"capture":      {"start", "duration_ms", "exchanges", "trees", "sessions"},
	"participants": {"name", "kind", "served", "errors", "unanswered", "timed", "p50_ms", "p95_ms", "max_ms", "request_bytes", "response_bytes", "calls"},
	"databases":    {"name", "queries", "logins", "time_ms", "rows", "errors"},
	"caches":       {"name", "gets", "hits", "misses", "hit_ratio", "sets", "other"},
	"sessions":     {"session", "command", "client", "user", "token", "start_ms", "duration_ms", "requests", "exchanges", "errors", "trees"},
	"slowest":      {"session", "from", "to", "request", "answer", "start_ms", "duration_ms", "exchanges", "db_queries", "db_time_ms"},
	"errors":       {"session", "call", "depth", "cause"},
	"errors.call":  {"from", "to", "request", "answer", "at_ms"},
	"findings":     {"kind", "text", "numbers"},
}

// TestSummaryJSONContract: the documented fields are there, with the
// same numbers as the text.
func TestSummaryJSONContract(t *testing.T) {
	out, errs, code := run(t, "summary", "--format", "json", truth.Capture("auth-fail"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	// first merges the keys of every element of a list (optional fields
	// are on some), or is the object itself
	first := func(v any) map[string]any {
		l, ok := v.([]any)
		if !ok {
			o, _ := v.(map[string]any)
			return o
		}
		var all map[string]any
		for _, e := range l {
			for k, x := range e.(map[string]any) {
				if all == nil {
					all = map[string]any{}
				}
				all[k] = x
			}
		}
		return all
	}
	objs := map[string]map[string]any{"": doc}
	for k := range summaryContract {
		if k == "" || strings.Contains(k, ".") {
			continue
		}
		objs[k] = first(doc[k])
	}
	objs["errors.call"] = first(doc["errors"].([]any)[0].(map[string]any)["call"])
	keys := make([]string, 0, len(summaryContract))
	for k := range summaryContract {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o := objs[k]
		if o == nil {
			t.Errorf("%q: no object to check (the capture must have one)", k)
			continue
		}
		for _, f := range summaryContract[k] {
			if _, ok := o[f]; !ok {
				t.Errorf("%q lacks the documented field %q", k, f)
			}
		}
	}
	sessions := doc["sessions"].([]any)
	if len(sessions) != 2 || sessions[1].(map[string]any)["command"] != "image list" {
		t.Errorf("sessions %v", sessions)
	}
}
