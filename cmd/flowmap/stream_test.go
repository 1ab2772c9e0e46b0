package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/flow"
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
	paths, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "captures", "*.pcapng"))
	long := filepath.Join("..", "..", "..", "shared", "captures", "long-mixed-head.pcapng")
	if _, err := os.Stat(long); err == nil {
		paths = append(paths, long)
	} else {
		t.Logf("%s: %v: not tried", long, err)
	}
	if len(paths) < 10 {
		t.Fatalf("only %d captures", len(paths))
	}
	cases := []traceOptions{
		{Format: "mermaid"},
		{Format: "mermaid", Detail: "full"},
		{Format: "plantuml"},
		{Format: "json"},
		{Format: "otlp"},
		{Format: "mermaid", Filter: flow.Filter{Participant: "glance"}},
		{Format: "json", Filter: flow.Filter{Path: "/v2/images", From: time.Second}},
	}
	cut := 0
	for _, p := range paths {
		for _, c := range cases {
			c.Files = []string{p}
			wantOut, wantErr, one := traceSegmented(t, c, 0, 0)
			gotOut, gotErr, told := traceSegmented(t, c, 40, 5*time.Second)
			if one > 1 {
				t.Errorf("%s: %d segments by default", p, one)
			}
			if told > 1 {
				cut++
			}
			if gotOut != wantOut || gotErr != wantErr {
				t.Errorf("%s %s %s %+v: segmented output differs (stdout %d/%d bytes, stderr %q/%q)", filepath.Base(p), c.Format, c.Detail, c.Filter, len(gotOut), len(wantOut), gotErr, wantErr)
			}
		}
	}
	if cut == 0 {
		t.Fatal("no trace printed more than one segment: nothing was compared")
	}
	t.Logf("%d of %d traces printed in several segments", cut, len(paths)*len(cases))
}
