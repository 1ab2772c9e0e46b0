package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/internal/golden"
	"github.com/flowmap/flowmap/internal/modeltest"
	"github.com/flowmap/flowmap/internal/truth"
)

func straceDir() string { return filepath.Join(truth.Root(), "testdata", "strace") }

// straceArgs are trace's arguments for a case: the capture and its five
// strace files.
func straceArgs(dir, capture, name string) []string {
	args := []string{filepath.Join(dir, capture)}
	for _, h := range []string{"h1", "h2", "h3", "h4", "parent"} {
		args = append(args, "--strace", filepath.Join(dir, name+"."+h))
	}
	return args
}

// TestGoldenStrace: trace with --strace on each case matches
// testdata/golden/strace-<case>.mmd (make golden rewrites; review the
// diff), and the diagram parses (TestMermaidCheck-style checks are in
// mmd-check; here the golden guards it).
func TestGoldenStrace(t *testing.T) {
	for _, c := range modeltest.StraceCases {
		t.Run(c.Name, func(t *testing.T) {
			out, errs, code := run(t, append([]string{"trace"}, straceArgs(straceDir(), c.Capture, c.Name)...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			golden.Check(t, filepath.Join(truth.Root(), "testdata", "golden", "strace-"+c.Name+".mmd"), []byte(out), *update, "run make golden")
		})
	}
}

// jnode is a node of trace --format json, as far as these tests read it.
type jnode struct {
	Proto         string    `json:"proto"`
	Role          string    `json:"role"`
	From          string    `json:"from"`
	To            string    `json:"to"`
	Summary       string    `json:"summary"`
	Op            string    `json:"op"`
	Target        string    `json:"target"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	Conn          int       `json:"conn"`
	PID           int       `json:"pid"`
	Syscalls      int       `json:"syscalls"`
	InCalls       int64     `json:"syscall_time"`
	Routine       bool      `json:"routine"`
	Placed        string    `json:"placed_by"`
	ID            int       `json:"id"`
	Candidates    []int     `json:"candidates"`
	ResponseBytes *int64    `json:"response_bytes"`
	RequestBytes  *int64    `json:"request_bytes"`
	Children      []*jnode  `json:"children"`
}

type jmodel struct {
	Participants []struct {
		Name string `json:"name"`
		Kind string `json:"kind"`
	} `json:"participants"`
	Trees []*jnode `json:"trees"`
}

func traceJSON(t *testing.T, args ...string) *jmodel {
	t.Helper()
	out, errs, code := run(t, append([]string{"trace", "--format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var m jmodel
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

// walkParents calls fn for every node with its parent (nil for roots).
func walkParents(m *jmodel, fn func(n, parent *jnode)) {
	var walk func(n, p *jnode)
	walk = func(n, p *jnode) {
		fn(n, p)
		for _, c := range n.Children {
			walk(c, n)
		}
	}
	for _, r := range m.Trees {
		walk(r, nil)
	}
}

// checkFileParents: over every node of the model, each file node hangs
// under an HTTP request into glance, on the connection it was served on,
// within the request's time (when it was answered), made by the process
// that served it (its pid), and has no children. It returns the file
// nodes by their parent's summary.
func checkFileParents(t *testing.T, m *jmodel) map[string][]*jnode {
	t.Helper()
	under := map[string][]*jnode{}
	files := 0
	walkParents(m, func(n, p *jnode) {
		if n.Proto != "file" {
			return
		}
		files++
		switch {
		case p == nil:
			t.Errorf("file node %q is a root", n.Summary)
			return
		case p.Proto != "http" || p.To != "glance" || n.From != "glance" || n.To != "Local File System":
			t.Errorf("file node %q (%s → %s) under %s %q to %s", n.Summary, n.From, n.To, p.Proto, p.Summary, p.To)
		case n.Conn != p.Conn:
			t.Errorf("file node %q on conn %d under %q on conn %d", n.Summary, n.Conn, p.Summary, p.Conn)
		case n.Start.Before(p.Start) || n.Start.After(p.End):
			t.Errorf("file node %q at %v outside %q (%v .. %v)", n.Summary, n.Start, p.Summary, p.Start, p.End)
		case len(n.Children) != 0:
			t.Errorf("file node %q has children", n.Summary)
		case n.PID == 0 || n.PID != p.PID:
			t.Errorf("file node %q pid %d under %q pid %d", n.Summary, n.PID, p.Summary, p.PID)
		}
		if p != nil {
			under[p.Summary] = append(under[p.Summary], n)
		}
	})
	if files == 0 {
		t.Fatal("no file nodes")
	}
	return under
}

// imageNodes are the file nodes on the image store.
func imageNodes(ns []*jnode) map[string]*jnode {
	out := map[string]*jnode{}
	for _, n := range ns {
		if strings.HasPrefix(n.Target, "/var/lib/glance/images/") {
			out[n.Role] = n
		}
	}
	return out
}

// seedOrder are the seed diagram's participants, in its order.
var seedOrder = []string{"OpenStackClient", "keystone", "keystone DB", "glance", "glance DB", "memcached", "Local File System"}

// TestStraceSavePlain: the seed's method (strace -p PID -o hN, no
// options). Under GET /v2/images/<id>/file: the cache lookup, the open of
// the image by glance, its reads folded into one dashed arrow whose bytes
// are the image's size, then the 200 with the transfer; the seed's seven
// participants in the seed's order. On the cut capture in testdata and,
// when ../shared is there, on the whole one.
func TestStraceSavePlain(t *testing.T) {
	captures := []string{filepath.Join(straceDir(), "save-plain.cut.pcapng")}
	if p := truth.Shared("strace/save-plain.pcapng"); p != "" {
		captures = append(captures, p)
	}
	for _, capture := range captures {
		args := straceArgs(straceDir(), "save-plain.h1", "save-plain")
		args[0] = capture
		out, errs, code := run(t, append([]string{"trace"}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		for _, h := range []string{"h1", "h2", "h4", "parent"} {
			if !strings.Contains(errs, "save-plain."+h+": no socket data syscalls to align with the capture: nothing drawn from it") {
				t.Errorf("save-plain.%s not reported:\n%s", h, errs)
			}
		}
		lines := strings.Split(out, "\n")
		re := regexp.MustCompile(`^  C->>G: GET /v2/images/([0-9a-f-]{36})/file · admin token`)
		at, id := -1, ""
		for i, l := range lines {
			if m := re.FindStringSubmatch(l); m != nil {
				at, id = i, m[1]
			}
		}
		if at < 0 {
			t.Fatalf("%s: no GET …/file:\n%s", capture, out)
		}
		want := []string{
			"  G->>M: get admin token sha256:",
			"  M-->>G: hit",
			"  G->>L: open /var/lib/glance/images/" + id + " (read) · pid 26070",
			"  G-->>L: read 12.98 MB in 199 reads, ≈ ",
			"  G-->>C: 200 OK · 12.98 MB application/octet-stream in ",
		}
		j := 0
		for _, l := range lines[at+1:] {
			if j < len(want) && strings.HasPrefix(l, want[j]) {
				j++
			}
			if strings.HasPrefix(l, "  G-->>C: ") {
				break
			}
		}
		if j != len(want) {
			t.Errorf("%s: under GET …/file, %q not found in order:\n%s", capture, want[j], strings.Join(lines[at:], "\n"))
		}
		checkSeedOrder(t, out)

		m := traceJSON(t, args...)
		under := checkFileParents(t, m)
		img := imageNodes(under["GET /v2/images/"+id+"/file"])
		r := img["file-read"]
		if img["file-open"] == nil || r == nil || r.ResponseBytes == nil || *r.ResponseBytes != 12976128 || r.Syscalls != 199 {
			t.Fatalf("%s: image nodes %+v, read %+v", capture, img, r)
		}
		if r.Placed != "strace bytes" || r.PID != 26070 {
			t.Errorf("read placed by %q, pid %d (want getpid()'s 26070)", r.Placed, r.PID)
		}
	}
}

// checkSeedOrder: the seed's participants are declared first, in its
// order (other lifelines, such as another service's DB heartbeat caught
// on lo, come after them).
func checkSeedOrder(t *testing.T, mmd string) {
	t.Helper()
	var got []string
	for _, l := range strings.Split(mmd, "\n") {
		if _, name, ok := strings.Cut(strings.TrimPrefix(l, "  participant "), " as "); ok && strings.HasPrefix(l, "  participant ") {
			got = append(got, name)
		}
	}
	j := 0
	for _, p := range got {
		if j < len(seedOrder) && p == seedOrder[j] {
			j++
		}
	}
	if j != len(seedOrder) || strings.Join(got[:len(seedOrder)], ",") != strings.Join(seedOrder, ",") {
		t.Errorf("participants %v: want %v first, in that order", got, seedOrder)
	}
}

// TestStraceSaveTTT: -f -ttt -T -yy -s 256: the same story, with the
// worker's pid on the requests and file nodes and the time spent in the
// reads (-T).
func TestStraceSaveTTT(t *testing.T) {
	args := straceArgs(straceDir(), "save-ttt.cut.pcapng", "save-ttt")
	m := traceJSON(t, args...)
	under := checkFileParents(t, m)
	var file string
	for s := range under {
		if strings.HasSuffix(s, "/file") {
			file = s
		}
	}
	img := imageNodes(under[file])
	o, r := img["file-open"], img["file-read"]
	if o == nil || r == nil || r.ResponseBytes == nil || *r.ResponseBytes != 12976128 || r.Syscalls != 199 {
		t.Fatalf("under %q: %+v", file, img)
	}
	if o.PID != 26069 || r.PID != 26069 || r.InCalls <= 0 || r.Placed != "strace clock" || !r.End.After(r.Start) {
		t.Errorf("open %+v read %+v", o, r)
	}
	out, errs, code := run(t, append([]string{"trace"}, args...)...)
	if code != 0 {
		t.Fatal(errs)
	}
	if !regexp.MustCompile(`G->>L: open /var/lib/glance/images/[0-9a-f-]{36} \(read\) · pid 26069\n  G-->>L: read 12\.98 MB in 199 reads, \d+ ms \(\d+ ms in read\)\n  G-->>C: 200 OK · 12\.98 MB`).MatchString(out) {
		t.Errorf("no open, folded reads with times and 200:\n%s", out)
	}
	checkSeedOrder(t, out)
}

// TestStraceUploadTTT: the image written under PUT …/file (worker 4),
// unlinked under DELETE (worker 3).
func TestStraceUploadTTT(t *testing.T) {
	m := traceJSON(t, straceArgs(straceDir(), "upload-ttt.pcapng", "upload-ttt")...)
	under := checkFileParents(t, m)
	var put, del string
	for s := range under {
		switch {
		case strings.HasPrefix(s, "PUT /v2/images/") && strings.HasSuffix(s, "/file"):
			put = s
		case strings.HasPrefix(s, "DELETE /v2/images/"):
			del = s
		}
	}
	w := imageNodes(under[put])["file-write"]
	if w == nil || w.RequestBytes == nil || *w.RequestBytes != 303104 || w.Syscalls != 5 || w.PID != 26071 {
		t.Errorf("write under %q: %+v", put, w)
	}
	if o := imageNodes(under[put])["file-open"]; o == nil || !strings.Contains(o.Summary, "(write, create, truncate)") {
		t.Errorf("open under %q: %+v", put, o)
	}
	u := imageNodes(under[del])["file-remove"]
	if u == nil || u.Op != "unlink" || u.PID != 26070 {
		t.Errorf("unlink under %q: %+v", del, u)
	}
	if !strings.Contains(u.Target, strings.TrimSuffix(strings.TrimPrefix(put, "PUT /v2/images/"), "/file")) {
		t.Errorf("unlinked %s, uploaded %s", u.Target, put)
	}
	// nothing of the image store anywhere else
	walkParents(m, func(n, p *jnode) {
		if n.Proto == "file" && strings.HasPrefix(n.Target, "/var/lib/glance/images/") && p.Summary != put && p.Summary != del {
			t.Errorf("%q under %q", n.Summary, p.Summary)
		}
	})
}

// TestStraceDetail: compact leaves the process's housekeeping out (Python
// modules, /etc/hosts, the log, eventlet's pipe), full shows it.
func TestStraceDetail(t *testing.T) {
	args := append([]string{"trace"}, straceArgs(straceDir(), "upload-ttt.pcapng", "upload-ttt")...)
	compact, _, _ := run(t, args...)
	full, _, code := run(t, append(args, "--detail", "full")...)
	if code != 0 {
		t.Fatal(full)
	}
	for _, noise := range []string{".pyc", "/etc/hosts", "/var/log/glance/", "/proc/"} {
		if strings.Contains(compact, noise) {
			t.Errorf("compact shows %s", noise)
		}
	}
	for _, noise := range []string{"/var/log/glance/glance-api.log", "/etc/hosts"} {
		if !strings.Contains(full, noise) {
			t.Errorf("full does not show %s", noise)
		}
	}
	if strings.Count(full, "->>L:") <= strings.Count(compact, "->>L:") {
		t.Error("full shows no more file arrows than compact")
	}
}

// TestStraceForeign: strace files whose process's bytes are not in the
// capture (another run's glance workers, one the seed's way, without
// endpoints) are reported and nothing is drawn from them: the output is
// the same as without them.
func TestStraceForeign(t *testing.T) {
	dir := straceDir()
	capture := filepath.Join(dir, "upload-ttt.pcapng")
	plain, _, _ := run(t, "trace", capture)
	out, errs, code := run(t, "trace", capture, "--strace", filepath.Join(dir, "save-ttt.h2"), "--strace", filepath.Join(dir, "save-plain.h3"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if out != plain {
		t.Error("foreign strace files changed the diagram")
	}
	for _, f := range []string{"save-ttt.h2", "save-plain.h3"} {
		if !regexp.MustCompile(regexp.QuoteMeta(f) + `: none of .*: nothing drawn from it`).MatchString(errs) {
			t.Errorf("%s not reported:\n%s", f, errs)
		}
	}
}

// TestStraceBadFile: a file that is not strace output is an input error
// naming file and line (exit 1).
func TestStraceBadFile(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "h1")
	if err := os.WriteFile(bad, []byte("Hello, this is not strace\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, code := run(t, "trace", filepath.Join(straceDir(), "upload-ttt.pcapng"), "--strace", bad)
	if code != 1 || !strings.Contains(errs, bad+":1: not a syscall line") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

// straceSecrets are the credentials strace's strings show in the case's
// files: X-Auth-Token and X-Subject-Token header values and the
// passwords of the auth bodies, read with regexps from the raw files.
func straceSecrets(t *testing.T, name string) []string {
	t.Helper()
	seen := map[string]bool{}
	hdr := regexp.MustCompile(`X-(?:Auth|Subject)-Token: ([A-Za-z0-9_=-]{20,})`)
	pw := regexp.MustCompile(`\\"password\\": \\"([^\\"]{4,})\\"`)
	for _, h := range []string{"h1", "h2", "h3", "h4", "parent"} {
		b, err := os.ReadFile(filepath.Join(straceDir(), name+"."+h))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range hdr.FindAllSubmatch(b, -1) {
			seen[string(m[1])] = true
		}
		for _, m := range pw.FindAllSubmatch(b, -1) {
			seen[string(m[1])] = true
		}
	}
	var out []string
	for s := range seen {
		out = append(out, s)
	}
	return out
}

// TestStraceNoSecrets: the tokens and passwords strace printed (-s 256
// shows headers and auth bodies) are in no output: every trace format,
// both details, summary, the HTML report, and the notes on stderr.
func TestStraceNoSecrets(t *testing.T) {
	for _, c := range modeltest.StraceCases {
		secrets := straceSecrets(t, c.Name)
		if c.Name == "save-plain" {
			// strace's default 32-byte strings hold no whole secret
			// (checked: none found); nothing to look for in its output
			if len(secrets) != 0 {
				t.Fatalf("save-plain: %d secrets in 32-byte strings: check them too", len(secrets))
			}
			continue
		}
		if len(secrets) < 3 {
			t.Fatalf("%s: only %d secrets found in the strace files", c.Name, len(secrets))
		}
		args := straceArgs(straceDir(), c.Capture, c.Name)
		runs := [][]string{{"summary"}, {"trace", "--detail", "full"}}
		for _, f := range []string{"mermaid", "json", "plantuml", "otlp"} {
			runs = append(runs, []string{"trace", "--format", f})
		}
		html := filepath.Join(t.TempDir(), "report.html")
		runs = append(runs, []string{"report", "-o", html})
		for _, r := range runs {
			out, errs, code := run(t, append(r, args...)...)
			if r[0] == "report" {
				b, err := os.ReadFile(html)
				if err != nil || code != 0 || len(b) < 1000 {
					t.Fatalf("report: exit %d, %v, %d bytes: %s", code, err, len(b), errs)
				}
				out += string(b)
			}
			for _, s := range secrets {
				if strings.Contains(out, s) || strings.Contains(errs, s) {
					t.Errorf("%s %v prints a secret from strace (%d chars)", c.Name, r, len(s))
				}
			}
		}
	}
}

// TestStraceFlag: --strace is in trace's, summary's and report's help.
func TestStraceFlag(t *testing.T) {
	for _, cmd := range []string{"trace", "summary", "report"} {
		out, _, _ := run(t, cmd, "--help")
		if !strings.Contains(out, "--strace stringArray") {
			t.Errorf("%s --help has no --strace", cmd)
		}
	}
}

// TestStraceSummary: summary --strace counts the same exchanges, trees
// and sessions as without (file syscalls are not exchanges on the wire),
// and lists the Local File System with the bytes the service wrote.
func TestStraceSummary(t *testing.T) {
	type sum struct {
		Capture struct {
			Exchanges, Trees, Sessions int
		} `json:"capture"`
		Participants []struct {
			Name         string `json:"name"`
			RequestBytes int64  `json:"request_bytes"`
		} `json:"participants"`
	}
	get := func(args ...string) sum {
		out, errs, code := run(t, append([]string{"summary", "--format", "json"}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var s sum
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	args := straceArgs(straceDir(), "upload-ttt.pcapng", "upload-ttt")
	with, without := get(args...), get(args[0])
	if with.Capture != without.Capture || with.Capture.Exchanges == 0 {
		t.Errorf("with strace %+v, without %+v", with.Capture, without.Capture)
	}
	found := false
	for _, p := range with.Participants {
		if p.Name == "Local File System" {
			found = true
			// the image (303,104 B) and glance's log lines
			if p.RequestBytes < 303104 {
				t.Errorf("Local File System written %d bytes", p.RequestBytes)
			}
		}
	}
	if !found {
		t.Error("no Local File System in the summary")
	}
}

// TestStraceOTLP: file nodes are internal spans with file.path and the
// process's pid, not HTTP spans.
func TestStraceOTLP(t *testing.T) {
	out, errs, code := run(t, append([]string{"trace", "--format", "otlp"}, straceArgs(straceDir(), "upload-ttt.pcapng", "upload-ttt")...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var d struct {
		ResourceSpans []struct {
			ScopeSpans []struct {
				Spans []struct {
					Name       string `json:"name"`
					Kind       int    `json:"kind"`
					Attributes []struct {
						Key string `json:"key"`
					} `json:"attributes"`
				} `json:"spans"`
			} `json:"scopeSpans"`
		} `json:"resourceSpans"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, rs := range d.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				keys := map[string]bool{}
				for _, a := range sp.Attributes {
					keys[a.Key] = true
				}
				if !keys["file.path"] {
					continue
				}
				files++
				if sp.Kind != 1 || !keys["process.pid"] || keys["http.request.method"] || keys["url.path"] {
					t.Errorf("file span %q: kind %d, attributes %v", sp.Name, sp.Kind, keys)
				}
			}
		}
	}
	if files == 0 {
		t.Error("no file spans")
	}
}

// TestStraceBytesAlone: save-plain.h3 with its accept4 addresses taken
// out (accept4(11, NULL, NULL, …), or connections accepted before strace
// attached) run against save-ttt's capture, another run of the same
// commands: its 32-byte prefixes and lengths fit that run's connections
// too. Nothing tells the requests but those bytes: every file node is
// drawn as a guess (≈, placed_by "strace bytes alone"), no request gets
// its pid, and a note says why.
func TestStraceBytesAlone(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(straceDir(), "save-plain.h3"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`accept4\(11, \{sa_family=AF_INET[^}]*\}, \[16\]`)
	if len(re.FindAll(b, -1)) != 2 {
		t.Fatal("save-plain.h3: not 2 accept4 with addresses")
	}
	h3 := filepath.Join(t.TempDir(), "h3")
	if err := os.WriteFile(h3, re.ReplaceAll(b, []byte("accept4(11, NULL, NULL")), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{filepath.Join(straceDir(), "save-ttt.cut.pcapng"), "--strace", h3}
	m := traceJSON(t, args...)
	files := 0
	walkParents(m, func(n, p *jnode) {
		if n.Proto == "http" && n.PID != 0 {
			t.Errorf("%q given pid %d", n.Summary, n.PID)
		}
		if n.Proto == "file" {
			files++
			if n.Placed != "strace bytes alone" {
				t.Errorf("file node %q placed by %q", n.Summary, n.Placed)
			}
		}
	})
	if files == 0 {
		t.Fatal("no file nodes")
	}
	out, errs, code := run(t, append([]string{"trace"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	arrows := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "->>L:") || strings.Contains(l, "-->>L:") || strings.Contains(l, "--xL:") {
			arrows++
			if !strings.Contains(l, ": ≈ ") {
				t.Errorf("not marked a guess: %s", l)
			}
		}
	}
	if arrows == 0 || !strings.Contains(out, "found by strace's bytes alone") || !strings.Contains(errs, "h3: the connections it served were found in the capture by the bytes strace showed alone") {
		t.Errorf("%d file arrows; notes:\n%s", arrows, errs)
	}
}

// TestStraceOverlap: overlap.h2 and overlap.pcapng (see
// testdata/strace/README.md): worker 26069 receives GET /v2/images while
// it reads the image for GET …/file. The image's open and reads are all
// under GET …/file; a syscall decided while both were in progress (its
// access log write, on an fd opened before strace attached) is a timing
// guess with both requests as candidates.
func TestStraceOverlap(t *testing.T) {
	m := traceJSON(t, filepath.Join(straceDir(), "overlap.pcapng"), "--strace", filepath.Join(straceDir(), "overlap.h2"))
	var get, list *jnode
	walkParents(m, func(n, p *jnode) {
		switch {
		case n.Proto == "http" && strings.HasSuffix(n.Summary, "/file") && strings.HasPrefix(n.Summary, "GET"):
			get = n
		case n.Proto == "http" && n.Summary == "GET /v2/images":
			list = n
		}
	})
	if get == nil || list == nil {
		t.Fatal("no GET …/file or GET /v2/images")
	}
	images, guessed := 0, 0
	walkParents(m, func(n, p *jnode) {
		if n.Proto != "file" {
			return
		}
		if strings.HasPrefix(n.Target, "/var/lib/glance/images/") {
			images++
			if p != get || n.Placed != "strace clock" {
				t.Errorf("%q under %q placed by %q", n.Summary, p.Summary, n.Placed)
			}
		}
		if len(n.Candidates) > 0 {
			guessed++
			if n.Placed != "timing" || len(n.Candidates) != 2 || !slices.Contains(n.Candidates, get.ID) || !slices.Contains(n.Candidates, list.ID) {
				t.Errorf("%q placed by %q, candidates %v (GET …/file %d, GET /v2/images %d)", n.Summary, n.Placed, n.Candidates, get.ID, list.ID)
			}
		}
	})
	if images < 3 || guessed == 0 {
		t.Errorf("%d image nodes, %d timing guesses", images, guessed)
	}
}

// TestStraceStatFolds: stat, lseek, close… are folded only when they
// follow each other: the same path stat'ed at the start and at the end of
// a request is not one node that lasted the request (save-ttt's
// /etc/nsswitch.conf "lasted" 997 ms, and summary counted it a slow
// file call).
func TestStraceStatFolds(t *testing.T) {
	m := traceJSON(t, straceArgs(straceDir(), "save-ttt.cut.pcapng", "save-ttt")...)
	others := 0
	walkParents(m, func(n, p *jnode) {
		if n.Role != "file-other" {
			return
		}
		others++
		if d := n.End.Sub(n.Start); d > 50*time.Millisecond {
			t.Errorf("%q (%d syscalls) lasts %v", n.Summary, n.Syscalls, d)
		}
	})
	if others == 0 {
		t.Fatal("no stat nodes")
	}
}
