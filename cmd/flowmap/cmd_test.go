package main

import (
	"bytes"
	"compress/gzip"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/internal/truth"
	"github.com/flowmap/flowmap/render/mermaid"
)

func write(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestBadInput: every kind of bad input gives a one-line error naming the
// file, exit status 1, no Go panic or stack trace, and what was decoded up
// to the damage is still printed.
func TestBadInput(t *testing.T) {
	real, err := os.ReadFile(truth.Capture("seed-image-list"))
	if err != nil {
		t.Fatal(err)
	}
	rnd := make([]byte, 4096)
	rand.New(rand.NewSource(1)).Read(rnd)
	cases := []struct {
		name     string
		data     []byte
		errHas   string
		minLines int // JSONL lines still printed
	}{
		{"empty-file", nil, "empty", 0},
		{"not-a-capture", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "not a pcap or pcapng", 0},
		{"random-bytes", rnd, "not a pcap or pcapng", 0},
		{"gzip-of-garbage", gz(rnd), "", 0},
		{"gzip-cut", gz(real)[:5000], "", 0},
		{"cut-mid-block", real[:100000], "truncated", 20},
		{"cut-in-header", real[:20], "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(t, c.name+".pcapng", c.data)
			out, errs, code := run(t, "decode", "--format", "jsonl", p)
			if code != exitInput {
				t.Errorf("exit %d, want %d", code, exitInput)
			}
			lines := strings.Split(strings.TrimSpace(errs), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, p) || !strings.HasPrefix(last, "flowmap: ") {
				t.Errorf("error %q does not name the file", last)
			}
			if c.errHas != "" && !strings.Contains(last, c.errHas) {
				t.Errorf("error %q, want it to say %q", last, c.errHas)
			}
			if strings.Contains(errs, "goroutine") || strings.Contains(errs, "panic") {
				t.Errorf("stack trace: %s", errs)
			}
			if n := strings.Count(out, "\n"); n < c.minLines {
				t.Errorf("%d exchanges printed before the damage, want at least %d", n, c.minLines)
			}
		})
	}
}

// TestSnaplenCapture: a capture cut at 256 bytes per frame still lists
// every request, marked truncated, and exits 0 with a note on stderr.
func TestSnaplenCapture(t *testing.T) {
	out, errs, code := run(t, "decode", "--format", "jsonl", truth.Capture("snaplen-truncated"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, `"truncated":true`) {
		t.Error("no exchange marked truncated")
	}
	if !strings.Contains(errs, "bytes not captured") {
		t.Errorf("stderr does not say bytes were lost: %q", errs)
	}
}

func TestStdinAndGzip(t *testing.T) {
	real, err := os.ReadFile(truth.Capture("seed-image-list"))
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := run(t, "decode", "--format", "jsonl", truth.Capture("seed-image-list"))
	var out bytes.Buffer
	if code := execute(&IO{In: bytes.NewReader(real), Out: &out, Err: &bytes.Buffer{}, RedactKey: testKey}, []string{"decode", "--format", "jsonl", "-"}); code != 0 || out.String() != want {
		t.Errorf("stdin: exit %d, same output %v", code, out.String() == want)
	}
	got, _, code := run(t, "decode", "--format", "jsonl", write(t, "x.pcapng.gz", gz(real)))
	if code != 0 || got != want {
		t.Errorf("gzip: exit %d, same output %v", code, got == want)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"decode"},
		{"decode", "--format", "xml", "x.pcapng"},
		{"trace", "--detail", "some", "x.pcapng"},
		{"trace", "--format", "svg", "x.pcapng"},
		{"trace", "--format", "plantuml", "--split", "dir", "x.pcapng"},
		{"trace", "--name", "novalue", truth.Capture("auth-fail")},
		{"nosuchcommand"},
	} {
		_, errs, code := run(t, args...)
		if code != exitUsage || errs == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
}

// TestEveryTraceFormat: each format of the table runs from the command
// line, writes what it says it writes, and is offered by completion.
func TestEveryTraceFormat(t *testing.T) {
	p := truth.Capture("seed-image-list")
	start := map[string]string{"mermaid": "sequenceDiagram\n", "plantuml": "@startuml\n", "otlp": "{", "json": "{"}
	for _, f := range traceFormats() {
		out, errs, code := run(t, "trace", "--format", f.name, p)
		want, ok := start[f.name]
		if !ok {
			t.Errorf("format %s has no test here", f.name)
		}
		if code != 0 || !strings.HasPrefix(out, want) || !strings.Contains(out, "glance") {
			t.Errorf("--format %s: exit %d, stderr %q, output starts %.40q", f.name, code, errs, out)
		}
	}
	comp, _, _ := run(t, "__complete", "trace", "--format", "")
	for _, f := range traceFormats() {
		if !strings.Contains(comp, f.name+"\t") {
			t.Errorf("completion does not offer %s:\n%s", f.name, comp)
		}
	}
}

// TestFlagsReachOptions checks flag wiring without running the pipeline.
func TestFlagsReachOptions(t *testing.T) {
	var got *traceOptions
	cmd := newTraceCmd(&IO{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}, func(o *traceOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--format", "json", "--detail", "full", "--name", "10.0.20.11:9292=glance-api",
		"--token", "sha256:67e8e033", "--participant", "glance", "--path", "/v2/images", "--from", "1.5s", "--show-secrets", "a.pcapng", "b.pcapng"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Format != "json" || got.Detail != "full" || len(got.Names) != 1 || got.Filter.Token != "sha256:67e8e033" ||
		got.Filter.Participant != "glance" || got.Filter.Path != "/v2/images" || got.Filter.From.Seconds() != 1.5 || len(got.Files) != 2 || !got.ShowSecrets {
		t.Errorf("options: %+v", got)
	}
	var dec *decodeOptions
	dcmd := newDecodeCmd(&IO{}, func(o *decodeOptions) error { dec = o; return nil })
	dcmd.SetArgs([]string{"-f", "jsonl", "--show-secrets", "--max-body", "1024", "x"})
	if err := dcmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if dec.Format != "jsonl" || !dec.ShowSecrets || dec.MaxBody != 1024 {
		t.Errorf("decode options: %+v", dec)
	}
}

// TestTraceFilters: each filter keeps the client sessions it matches,
// whole, and drops the others.
func TestTraceFilters(t *testing.T) {
	p := truth.Capture("seed-image-save.cut")
	byPath, _, _ := run(t, "trace", "--path", "/file", p)
	// session 2 (image save) has the download; session 1 (image list) not
	if !strings.Contains(byPath, "/file") || !strings.Contains(byPath, "session 2 of 2") || strings.Contains(byPath, "sha256:67e8e033") {
		t.Errorf("--path /file kept the wrong sessions:\n%s", byPath)
	}
	byToken, _, _ := run(t, "trace", "--token", "67e8e033", p)
	if !strings.Contains(byToken, "session 1 of 2") || strings.Contains(byToken, "/file") {
		t.Errorf("--token kept the wrong sessions:\n%s", byToken)
	}
	af := truth.Capture("auth-fail")
	byPart, _, _ := run(t, "trace", "--participant", "memcached", af)
	if strings.Contains(byPart, "authentication failed") || !strings.Contains(byPart, "curl") {
		t.Errorf("--participant memcached kept the failed login or lost curl's request:\n%s", byPart)
	}
	late, _, _ := run(t, "trace", "--from", "400ms", af)
	if strings.Contains(late, "POST /v3/auth/tokens") || !strings.Contains(late, "GET /v2/images") {
		t.Errorf("--from 400ms:\n%s", late)
	}
	named, _, _ := run(t, "trace", "--name", "10.0.20.11:9292=image-api", p)
	if !strings.Contains(named, "as image-api") {
		t.Errorf("--name did not rename glance")
	}
}

func TestSplitDiagrams(t *testing.T) {
	dir := t.TempDir()
	out, errs, code := run(t, "trace", "--detail", "full", "--split", dir, truth.Capture("concurrent"))
	if code != 0 {
		t.Fatal(errs)
	}
	files := strings.Fields(out)
	if len(files) < 2 {
		t.Fatalf("--split wrote %d files", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Mermaid measures a JavaScript string: UTF-16 code units, not bytes
		if n := mermaid.TextSize(string(b)); n > mermaid.MaxText || !strings.HasPrefix(string(b), "sequenceDiagram\n") {
			t.Errorf("%s: %d characters", f, n)
		}
	}
	_, errs, _ = run(t, "trace", "--detail", "full", truth.Capture("concurrent"))
	if !strings.Contains(errs, "over Mermaid's default limit") {
		t.Errorf("no warning for a diagram over 50,000 characters: %q", errs)
	}
}

// TestNamesFile: names come from --names, and from the user's config
// directory when --names is not given; --name wins over both.
func TestNamesFile(t *testing.T) {
	p := truth.Capture("seed-image-list")
	file := write(t, "names", []byte("# lab controller\n10.0.20.11:9292 = image-api\n10.0.20.11:11211=token-cache\n"))
	out, errs, code := run(t, "trace", "--names", file, p)
	if code != 0 || !strings.Contains(out, "as image-api") || !strings.Contains(out, "as token-cache") {
		t.Fatalf("--names: exit %d %s\n%s", code, errs, out)
	}
	cfg := t.TempDir()
	if err := os.MkdirAll(filepath.Join(cfg, "flowmap"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "flowmap", "names"), []byte("10.0.20.11:9292=images\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CONFIG_HOME", cfg)
	out, _, _ = run(t, "trace", p)
	if !strings.Contains(out, "as images") {
		t.Errorf("config-dir names file not read")
	}
	out, _, _ = run(t, "trace", "--name", "10.0.20.11:9292=glance-api", p)
	if !strings.Contains(out, "as glance-api") {
		t.Errorf("--name does not win over the names file")
	}
	bad := write(t, "bad", []byte("10.0.20.11:9292\n"))
	if _, errs, code := run(t, "trace", "--names", bad, p); code != exitUsage || !strings.Contains(errs, bad+":1") {
		t.Errorf("bad names file: exit %d, %q", code, errs)
	}
}

// TestMain keeps the user's own names file out of the tests.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flowmap-config")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CONFIG_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
