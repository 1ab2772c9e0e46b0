package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/render/summary"
)

// traceSegmented runs trace with segments of size exchanges and window
// (0: trace's defaults) and returns stdout and stderr.
func traceSegmented(t *testing.T, o traceOptions, size int, window time.Duration) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	o.IO = &IO{In: strings.NewReader(""), Out: &out, Err: &errb, RedactKey: testKey}
	o.Progress, o.segment, o.window = "never", size, window
	if o.Detail == "" {
		o.Detail = "compact"
	}
	if err := runTrace(&o); err != nil {
		t.Fatalf("%s: %v", o.Files[0], err)
	}
	return out.String(), errb.String(), o.told
}

// TestTraceSegments: trace prints every capture the same, byte for byte
// and note for note, whether it builds the capture in one segment or in
// segments of a few dozen exchanges with a window of seconds (the cuts
// fall between sessions): Mermaid, PlantUML and JSON, both details, and
// with a filter. The shared long capture (30 commands) is cut most.
func TestTraceSegments(t *testing.T) {
	cases := []traceOptions{
		{Format: "mermaid"},
		{Format: "mermaid", Detail: "full"},
		{Format: "plantuml"},
		{Format: "json"},
		{Format: "otlp"},
		{Format: "mermaid", Filter: flow.Filter{Participant: "glance"}},
		{Format: "json", Filter: flow.Filter{Path: "/v2/images", From: time.Second}},
	}
	checkSegments(t, "traces", len(cases), func(p string, i, size int, window time.Duration) (string, string, int, string) {
		c := cases[i]
		c.Files = []string{p}
		out, errs, told := traceSegmented(t, c, size, window)
		return out, errs, told, fmt.Sprintf("%s %s %+v", c.Format, c.Detail, c.Filter)
	})
}

// checkSegments runs each of n cases of a command on every capture of
// testdata (and the shared long capture, when there) built in one
// segment and in segments of 40 exchanges with a window of 5 s, and fails
// t where stdout or stderr differ. run returns stdout, stderr, how many
// segments were handed over and what the case is.
func checkSegments(t *testing.T, what string, n int, run func(path string, i, size int, window time.Duration) (string, string, int, string)) {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "captures", "*.pcapng"))
	nova, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "nova", "*.pcapng"))
	paths = append(paths, nova...)
	long := filepath.Join("..", "..", "..", "shared", "captures", "long-mixed-head.pcapng")
	if _, err := os.Stat(long); err == nil {
		paths = append(paths, long)
	} else {
		t.Logf("%s: %v: not tried", long, err)
	}
	if len(paths) < 10 {
		t.Fatalf("only %d captures", len(paths))
	}
	cut := 0
	for _, p := range paths {
		for i := range n {
			wantOut, wantErr, one, _ := run(p, i, 0, 0)
			gotOut, gotErr, told, c := run(p, i, 40, 5*time.Second)
			if one > 1 {
				t.Errorf("%s: %d segments by default", p, one)
			}
			if told > 1 {
				cut++
			}
			if gotOut != wantOut || gotErr != wantErr {
				t.Errorf("%s %s: segmented output differs (stdout %d/%d bytes, stderr %q/%q)", filepath.Base(p), c, len(gotOut), len(wantOut), gotErr, wantErr)
			}
		}
	}
	if cut == 0 {
		t.Fatalf("no %s were handed over in several segments: nothing was compared", what)
	}
	t.Logf("%d of %d %s handed over in several segments", cut, len(paths)*n, what)
}

// summarySegmented runs summary with segments of size exchanges and
// window (0: the defaults) and returns stdout, stderr and how many
// segments it summed up.
func summarySegmented(t *testing.T, o summaryOptions, size int, window time.Duration) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	o.IO = &IO{In: strings.NewReader(""), Out: &out, Err: &errb, RedactKey: testKey}
	o.Model.Progress, o.segment, o.window = "never", size, window
	sum, _, err := streamSummary(&o)
	if err != nil {
		t.Fatalf("%s: %v", o.Files[0], err)
	}
	f, err := summaryFormats().lookup(o.Format)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.write(&out, sum, &o); err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), o.told
}

// TestSummarySegments: summary says the same of every capture, byte for
// byte and note for note, whether it sums up the capture in one segment
// or in segments of a few dozen exchanges with a window of seconds:
// text and JSON, and with filters. The shared long capture is cut most.
func TestSummarySegments(t *testing.T) {
	cases := []summaryOptions{
		{Format: "text"},
		{Format: "json"},
		{Format: "json", Model: modelFlags{Filter: flow.Filter{Participant: "glance"}}},
		{Format: "text", Model: modelFlags{Filter: flow.Filter{Path: "/v2/images", From: time.Second}}},
	}
	checkSegments(t, "summaries", len(cases), func(p string, i, size int, window time.Duration) (string, string, int, string) {
		c := cases[i]
		c.Files = []string{p}
		out, errs, told := summarySegmented(t, c, size, window)
		what := fmt.Sprintf("%s %+v", c.Format, c.Model.Filter)
		if size == 0 {
			// in one segment: the summary of the model built whole
			wantOut, wantErr := summaryWhole(t, c)
			if out != wantOut || errs != wantErr {
				t.Errorf("%s %s: streamed summary differs from the whole model's (stdout %d/%d bytes, stderr %q/%q)", filepath.Base(p), what, len(out), len(wantOut), errs, wantErr)
			}
		}
		return out, errs, told, what
	})
}

// summaryWhole is summary of the model built whole (modelFlags.build and
// summary.Compute, as report does): stdout and stderr.
func summaryWhole(t *testing.T, o summaryOptions) (string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	o.IO = &IO{In: strings.NewReader(""), Out: &out, Err: &errb, RedactKey: testKey}
	o.Model.Progress = "never"
	m, _, err := o.Model.build(o.IO, o.Files)
	if err != nil {
		t.Fatalf("%s: %v", o.Files[0], err)
	}
	f, err := summaryFormats().lookup(o.Format)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.write(&out, summary.Compute(m, summary.Options{}), &o); err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String()
}
