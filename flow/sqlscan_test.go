package flow

import (
	"regexp"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/mysql"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/flow/registry"
	"github.com/flowmap/flowmap/internal/truth"
)

// The regular expressions the scanner replaced: the reference it must
// agree with.
var (
	oldTableRE = regexp.MustCompile("(?i)\\b(?:from|join|into|update)\\s+`?([a-z_][a-z0-9_]*)`?")
	oldVerbRE  = regexp.MustCompile(`^\s*(?i:(select|insert|update|delete|replace))\b`)
)

func oldQueryService(q string) string {
	for _, m := range oldTableRE.FindAllStringSubmatch(q, 4) {
		if s := registry.ByTable(strings.ToLower(m[1])); s != "" {
			return s
		}
	}
	return ""
}

func oldQuerySignature(q string) string {
	m := oldVerbRE.FindStringSubmatch(q)
	if m == nil {
		return ""
	}
	verb := strings.ToUpper(m[1])
	t := oldTableRE.FindStringSubmatch(q)
	if t == nil {
		if verb == "SELECT" {
			return ""
		}
		return verb
	}
	return verb + " " + t[1]
}

// checkScanner compares the scanner with the regexps on q: every table
// reference (all of them, not only the first four), the signature and the
// service.
func checkScanner(t *testing.T, q string) {
	t.Helper()
	var got []string
	for at := 0; ; {
		tab, end, ok := nextTable(q, at)
		if !ok {
			break
		}
		got = append(got, tab)
		at = end
	}
	var want []string
	for _, m := range oldTableRE.FindAllStringSubmatch(q, -1) {
		want = append(want, m[1])
	}
	if strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
		t.Fatalf("tables of %q: scanner %q, regexp %q", q, got, want)
	}
	if g, w := QuerySignature(q), oldQuerySignature(q); g != w {
		t.Fatalf("QuerySignature(%q) = %q, regexp %q", q, g, w)
	}
	if g, w := queryService(q), oldQueryService(q); g != w {
		t.Fatalf("queryService(%q) = %q, regexp %q", q, g, w)
	}
}

// captureQueries is every SQL text of the test captures and, when
// present, of the long shared capture.
func captureQueries(t testing.TB) []string {
	paths := []string{}
	for _, name := range truth.Captures(t) {
		paths = append(paths, truth.Capture(name))
	}
	if p := truth.Shared("long-mixed-head.pcapng"); p != "" {
		paths = append(paths, p)
	}
	seen := map[string]bool{}
	var qs []string
	for _, p := range paths {
		_, err := pipeline.Run([]string{p}, pipeline.Options{}, func(e *decoder.Exchange) {
			if r, ok := e.Request.(*mysql.Request); ok && r.Query != "" && !seen[r.Query] {
				seen[r.Query] = true
				qs = append(qs, r.Query)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return qs
}

// TestScannerMatchesRegexp: on every query of the captures the scanner
// finds what the regexps found.
func TestScannerMatchesRegexp(t *testing.T) {
	qs := captureQueries(t)
	if len(qs) < 50 {
		t.Fatalf("only %d distinct queries in the captures", len(qs))
	}
	for _, q := range qs {
		checkScanner(t, q)
	}
	for _, q := range scannerCases {
		checkScanner(t, q)
	}
}

// scannerCases are the corners: boundaries, back quotes, folding, \s.
var scannerCases = []string{
	"", " ", "SELECT", "select 1", "  \n\tSELECT x FROM t", "SELECTED x FROM t", "selectx from t",
	"\vSELECT a FROM b", "SELECT a FROM\vb", "SELECT a FROM\fb", "select a from`b`", "select a from `` b",
	"select a from `b", "select a from b`", "select a from 1b", "select a from _1", "xfrom a", "_from a",
	"1from a", "é from a", "éfrom a", "ſelect a from b", "inſert into ſ", "SELECT a FROM \u212aelvin",
	"SELECT a FROM a\u212a\u017fb", "update", "update ", "update x", "UPDATE `x` SET y", "DELETE FROM t",
	"REPLACE INTO t VALUES", "delete", "deletefrom t", "from a join b into c update d from e",
	"SELECT a FROMfrom b", "SELECT a FROM FROM b", "SELECT a FROM `from` b", "fromfrom from x",
	"select a from \xffb", "select a from b\xff from c", "\xffSELECT", "SELECT\xff", "SELECT(1)",
	"SELECT a FROM b-c JOIN d", "INSERT INTO\r\n`tab_1`(x)", "joinjoin join j", "SeLeCt A fRoM B",
	"ſ", "\u212a", "from \u212a", "INTO \u017f1x",
}

// FuzzScanner: the scanner agrees with the regexps on any input.
func FuzzScanner(f *testing.F) {
	for _, q := range scannerCases {
		f.Add(q)
	}
	f.Add("SELECT project.id AS project_id \nFROM project \nWHERE project.id = 'x'")
	f.Add("INSERT INTO images (id) VALUES ('x')")
	f.Fuzz(func(t *testing.T, q string) { checkScanner(t, q) })
}

func BenchmarkQuerySignature(b *testing.B) {
	qs := captureQueries(b)
	n := 0
	for _, q := range qs {
		n += len(q)
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		for _, q := range qs {
			QuerySignature(q)
			queryService(q)
		}
	}
}
