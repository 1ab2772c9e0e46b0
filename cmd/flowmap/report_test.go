package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/internal/truth"
	htmlreport "github.com/flowmap/flowmap/render/report"
)

// TestReportFile: -o writes the page (atomically, readable), and is
// required.
func TestReportFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.html")
	if _, errs, code := run(t, "report", truth.Capture("seed-image-list"), "-o", p); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "<!DOCTYPE html>") || !strings.HasSuffix(string(b), "</html>\n") || !strings.Contains(string(b), `data-session="1"`) {
		t.Errorf("not a whole page: %d bytes", len(b))
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".flowmap-report-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if _, errs, code := run(t, "report", truth.Capture("seed-image-list")); code != exitUsage || !strings.Contains(errs, "-o") {
		t.Errorf("without -o: exit %d, %q", code, errs)
	}
	// the filters work on the report: one session of two
	out, _, _ := run(t, "report", "--path", "name=cirros", truth.Capture("seed-image-save.cut"), "-o", "-")
	if !strings.Contains(out, `data-session="2"`) || strings.Contains(out, `data-session="1"`) {
		t.Error("--path did not keep only session 2")
	}
}

// TestReportSizeLong: on the 81 MB shared capture the page is under 5 MB
// plus the Mermaid bundle.
func TestReportSizeLong(t *testing.T) {
	p := truth.NeedShared(t, "long-mixed-head.pcapng")
	out, errs, code := run(t, "report", p, "-o", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	js, _ := htmlreport.Bundle()
	if rest := len(out) - len(js); rest >= 5_000_000 {
		t.Errorf("page %d bytes, %d without Mermaid: want under 5 MB", len(out), rest)
	} else {
		t.Logf("page %d bytes: Mermaid %d + %d", len(out), len(js), rest)
	}
}

// BenchmarkCommandsLong: trace, summary and report on the 81 MB shared
// capture, output discarded; summary and report should cost well under a
// second more than trace.
func BenchmarkCommandsLong(b *testing.B) {
	p := truth.NeedShared(b, "long-mixed-head.pcapng")
	st, _ := os.Stat(p)
	for _, args := range [][]string{{"trace"}, {"summary"}, {"summary", "--format", "json"}, {"report", "-o", "-"}} {
		b.Run(strings.Join(args, "_"), func(b *testing.B) {
			b.SetBytes(st.Size())
			for b.Loop() {
				if code := Main(append(append([]string{}, args...), p), strings.NewReader(""), io.Discard, io.Discard); code != 0 {
					b.Fatalf("exit %d", code)
				}
			}
		})
	}
}
