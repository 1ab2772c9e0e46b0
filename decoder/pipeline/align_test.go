package pipeline

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/decodertest"
	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/decoder/strace"
	"github.com/flowmap/flowmap/internal/truth"
)

// straceDir is testdata/strace: the lab's strace recordings (../shared's
// captures/strace) with their captures, the image transfers cut out of
// the two image saves with editcap (the cut shows as lost bytes).
func straceDir() string { return filepath.Join(truth.Root(), "testdata", "strace") }

type aligned struct {
	exs   []*decoder.Exchange
	files map[string]*StraceFile // by base name
	diags []decoder.Diagnostic
}

func alignCase(t *testing.T, capture string, stracePaths ...string) *aligned {
	t.Helper()
	s := &Streams{}
	a := &aligned{files: map[string]*StraceFile{}}
	if _, err := Run([]string{capture}, Options{Streams: s, Serial: true}, func(e *decoder.Exchange) { a.exs = append(a.exs, e) }); err != nil {
		t.Fatal(err)
	}
	fs, diags := AlignFiles(s, stracePaths, strace.Options{})
	for _, f := range fs {
		a.files[filepath.Base(f.Name)] = f
	}
	a.diags = diags
	return a
}

func caseFiles(dir, name string) []string {
	var out []string
	for _, h := range []string{"parent", "h1", "h2", "h3", "h4"} {
		out = append(out, filepath.Join(dir, name+"."+h))
	}
	return out
}

// httpOn returns the HTTP exchange on conn whose target ends with suffix.
func httpOn(t *testing.T, exs []*decoder.Exchange, conn *decoder.Conn, method, suffix string) *decoder.Exchange {
	t.Helper()
	for _, e := range exs {
		if req, ok := e.Request.(*http.Request); ok && e.Conn == conn && req.Method == method && strings.HasSuffix(req.Target, suffix) {
			return e
		}
	}
	t.Fatalf("no %s …%s on conn %d", method, suffix, conn.ID)
	return nil
}

// acceptedPorts reads the client ports of a file's accept4 lines (an
// independent reading of the file: a regexp, not the strace package).
func acceptedPorts(t *testing.T, path string) map[uint16]bool {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`accept4\(11[^,]*, \{sa_family=AF_INET, sin_port=htons\((\d+)\)`)
	out := map[uint16]bool{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		p, _ := strconv.Atoi(m[1])
		out[uint16(p)] = true
	}
	return out
}

// checkPins: every socket of f found in the capture, every shown byte
// that could be compared matched, and the served connections are the
// accepted ones.
func checkPins(t *testing.T, f *StraceFile, path string) {
	t.Helper()
	if f.Unpinned != 0 {
		t.Errorf("%s: %d sockets not found in the capture", f.Name, f.Unpinned)
	}
	served := map[uint16]bool{}
	for _, p := range f.Pins {
		if p.Checked == 0 || p.Matched != p.Checked {
			t.Errorf("%s: fd %d on conn %d: %d of %d compared syscalls matched (of %d)", f.Name, p.FD, p.Conn.ID, p.Matched, p.Checked, p.Ops)
		}
		if p.Server {
			served[p.Conn.Client.Port()] = true
		}
	}
	want := acceptedPorts(t, path)
	if len(want) == 0 || len(served) != len(want) {
		t.Errorf("%s: served %v, accepted %v", f.Name, served, want)
	}
	for p := range want {
		if !served[p] {
			t.Errorf("%s: accepted port %d not pinned", f.Name, p)
		}
	}
}

// imageOps returns the syscalls on the image store's files.
func imageOps(f *StraceFile) []FileOp {
	var out []FileOp
	for _, o := range f.Ops {
		if strings.HasPrefix(o.Path, "/var/lib/glance/images/") {
			out = append(out, o)
		}
	}
	return out
}

func within(t *testing.T, what string, at, from, to time.Time) {
	t.Helper()
	if at.Before(from) || at.After(to) {
		t.Errorf("%s at %s, outside %s .. %s", what, at.Format("15:04:05.000000"), from.Format("15:04:05.000000"), to.Format("15:04:05.000000"))
	}
}

// TestAlignSavePlain: the seed's way (no timestamps, bare fds, 32-byte
// strings). The idle workers and the parent have no socket bytes and are
// reported; worker 3's sockets are all found by their bytes, and the
// image file's open and reads fall inside GET …/file, before its answer
// began (open) and before it ended (reads), with no clock at all.
func TestAlignSavePlain(t *testing.T) {
	dir := straceDir()
	for _, capture := range []string{filepath.Join(dir, "save-plain.cut.pcapng"), truth.Shared("strace/save-plain.pcapng")} {
		if capture == "" {
			continue // ../shared absent
		}
		a := alignCase(t, capture, caseFiles(dir, "save-plain")...)
		if len(a.files) != 1 || a.files["save-plain.h3"] == nil {
			t.Fatalf("%s: aligned %v", capture, a.files)
		}
		for _, h := range []string{"parent", "h1", "h2", "h4"} {
			found := false
			for _, d := range a.diags {
				found = found || strings.HasSuffix(d.Where, "save-plain."+h) && strings.Contains(d.What, "nothing drawn") && !d.Fatal
			}
			if !found {
				t.Errorf("save-plain.%s not reported: %v", h, a.diags)
			}
		}
		f := a.files["save-plain.h3"]
		checkPins(t, f, filepath.Join(dir, "save-plain.h3"))
		if len(f.PIDs) != 1 || f.PIDs[0] != 26070 { // save-plain.pids.txt: h3 is worker 26070
			t.Errorf("pids %v, want its getpid()'s 26070", f.PIDs)
		}
		ops := imageOps(f)
		if len(ops) == 0 || ops[0].Kind != OpStat {
			t.Fatalf("image ops %+v", ops)
		}
		var open *FileOp
		reads, bytes := 0, int64(0)
		for i := range ops {
			o := &ops[i]
			if o.By != ByBytes {
				t.Errorf("%s placed by %q", o.String(), o.By)
			}
			switch o.Kind {
			case OpOpen:
				open = o
			case OpRead:
				reads++
				bytes += o.Bytes
			}
		}
		if open == nil || open.Serving == nil {
			t.Fatalf("no open of the image, or not serving: %+v", open)
		}
		get := httpOn(t, a.exs, open.Serving, "GET", "/file")
		within(t, "open", open.Time, get.ReqEnd, get.RespStart)
		for _, o := range ops {
			if o.Serving != open.Serving {
				t.Errorf("%s serving conn %v", o.String(), o.Serving)
			}
			within(t, o.String(), o.Time, get.ReqEnd, get.End())
		}
		if reads != 199 || bytes != 12976128 {
			t.Errorf("%d reads of %d bytes, want 199 of 12976128", reads, bytes)
		}
	}
}

// TestAlignSaveTTT: -f -ttt -T -yy -s 256: the endpoints name the
// connections, the bytes confirm them, the clocks agree within 10 ms and
// the file syscalls are placed by the strace clock, under the request.
func TestAlignSaveTTT(t *testing.T) {
	dir := straceDir()
	a := alignCase(t, filepath.Join(dir, "save-ttt.cut.pcapng"), caseFiles(dir, "save-ttt")...)
	for name, pid := range map[string]int{"save-ttt.h1": 26068, "save-ttt.h2": 26069} {
		f := a.files[name]
		if f == nil {
			t.Fatalf("%s not aligned: %v", name, a.diags)
		}
		checkPins(t, f, filepath.Join(dir, name))
		if len(f.PIDs) != 1 || f.PIDs[0] != pid {
			t.Errorf("%s: pids %v", name, f.PIDs)
		}
		if f.Skew > 10*time.Millisecond || f.Skew < -10*time.Millisecond {
			t.Errorf("%s: clocks %v apart", name, f.Skew)
		}
	}
	if len(a.files) != 2 {
		t.Errorf("aligned %d files, want h1 and h2", len(a.files))
	}
	ops := imageOps(a.files["save-ttt.h2"])
	if len(ops) == 0 {
		t.Fatal("no image syscalls in h2")
	}
	get := httpOn(t, a.exs, ops[0].Serving, "GET", "/file")
	var bytes int64
	for _, o := range ops {
		if o.By != ByClock || o.PID != 26069 || o.Serving != get.Conn {
			t.Errorf("%s: by %q pid %d serving %v", o.String(), o.By, o.PID, o.Serving)
		}
		if o.Kind == OpRead && o.Dur == 0 {
			t.Errorf("%s: no -T duration", o.String())
		}
		within(t, o.String(), o.Time, get.ReqEnd, get.End())
		bytes += o.Bytes
	}
	if bytes != 12976128 {
		t.Errorf("read %d bytes", bytes)
	}
}

// TestAlignUploadTTT: the image written under PUT …/file by worker 4,
// unlinked under DELETE by worker 3.
func TestAlignUploadTTT(t *testing.T) {
	dir := straceDir()
	a := alignCase(t, filepath.Join(dir, "upload-ttt.pcapng"), caseFiles(dir, "upload-ttt")...)
	h3, h4 := a.files["upload-ttt.h3"], a.files["upload-ttt.h4"]
	if h3 == nil || h4 == nil || len(a.files) != 2 {
		t.Fatalf("aligned %v: %v", a.files, a.diags)
	}
	var written int64
	var put *decoder.Exchange
	for _, o := range imageOps(h4) {
		if put == nil {
			put = httpOn(t, a.exs, o.Serving, "PUT", "/file")
		}
		if o.Serving != put.Conn {
			t.Errorf("%s serving %v", o.String(), o.Serving)
		}
		within(t, o.String(), o.Time, put.Start(), put.End())
		if o.Kind == OpWrite {
			written += o.Bytes
		}
	}
	if written != 303104 {
		t.Errorf("wrote %d bytes, want 303104", written)
	}
	unlinks := 0
	for _, o := range imageOps(h3) {
		if o.Kind != OpRemove {
			continue
		}
		unlinks++
		del := httpOn(t, a.exs, o.Serving, "DELETE", "")
		within(t, o.String(), o.Time, del.ReqEnd, del.RespStart)
	}
	if unlinks != 1 {
		t.Errorf("%d unlinks", unlinks)
	}
}

// TestAlignForeign: strace files of processes whose bytes are not in the
// capture (recorded at another time) are reported and left out, not
// pinned to look-alike connections (the plain file has no endpoints: its
// bytes alone are searched for).
func TestAlignForeign(t *testing.T) {
	dir := straceDir()
	a := alignCase(t, filepath.Join(dir, "upload-ttt.pcapng"),
		filepath.Join(dir, "save-ttt.h2"), filepath.Join(dir, "save-plain.h3"), filepath.Join(dir, "save-ttt.h1"))
	if len(a.files) != 0 {
		t.Fatalf("aligned %v", a.files)
	}
	if len(a.diags) != 3 {
		t.Fatalf("diagnostics %v", a.diags)
	}
	for _, d := range a.diags {
		if d.Fatal || !strings.Contains(d.What, "nothing drawn") {
			t.Errorf("%v", d)
		}
		plain := strings.HasSuffix(d.Where, "save-plain.h3")
		if plain != strings.Contains(d.What, "none of the connections it served is in the capture") {
			t.Errorf("%v", d)
		}
	}
}

// TestAlignNotStrace: save-ttt.h2 with a line that is not strace output
// after its first 1000 lines (which align well by themselves) is an
// error naming file and line, and nothing is drawn from it; no other
// diagnostic about it comes first. Cut mid-line at 100 kB (strace
// killed) it is read up to the cut, aligned, and marked cut.
func TestAlignNotStrace(t *testing.T) {
	dir := straceDir()
	b, err := os.ReadFile(filepath.Join(dir, "save-ttt.h2"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	bad := filepath.Join(t.TempDir(), "h2")
	if err := os.WriteFile(bad, []byte(strings.Join(lines[:1000], "")+"this is not strace\n"+strings.Join(lines[1000:], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	capture := filepath.Join(dir, "save-ttt.cut.pcapng")
	a := alignCase(t, capture, bad)
	if len(a.files) != 0 || len(a.diags) != 1 || !a.diags[0].Fatal || a.diags[0].Where != bad+":1001" || !strings.Contains(a.diags[0].What, "nothing drawn") {
		t.Fatalf("files %v diags %v", a.files, a.diags)
	}

	cut := filepath.Join(t.TempDir(), "h2")
	if err := os.WriteFile(cut, b[:100_000], 0o644); err != nil {
		t.Fatal(err)
	}
	if b[99_999] == '\n' {
		t.Fatal("cut at a line's end")
	}
	a = alignCase(t, capture, cut)
	f := a.files["h2"]
	want := strings.Count(string(b[:100_000]), "\n") + 1
	if f == nil || f.Cut != want {
		t.Fatalf("aligned %v, diags %v", f, a.diags)
	}
	for _, d := range a.diags {
		if d.Fatal {
			t.Errorf("cut file: %v", d)
		}
	}
}

// TestAlignClockTT: the same recording with -tt times of day (made from
// -ttt's epoch times here) aligns the same: the date comes from the
// capture, the clocks agree, the image is read under GET …/file.
func TestAlignClockTT(t *testing.T) {
	dir := straceDir()
	b, err := os.ReadFile(filepath.Join(dir, "save-ttt.h2"))
	if err != nil {
		t.Fatal(err)
	}
	epoch := regexp.MustCompile(`(?m)^(\d+) (\d+)\.(\d{6}) `)
	tt := epoch.ReplaceAllStringFunc(string(b), func(m string) string {
		p := epoch.FindStringSubmatch(m)
		sec, _ := strconv.ParseInt(p[2], 10, 64)
		return p[1] + " " + time.Unix(sec, 0).UTC().Format("15:04:05") + "." + p[3] + " "
	})
	if tt == string(b) {
		t.Fatal("no epoch times replaced")
	}
	p := filepath.Join(t.TempDir(), "save-tt.h2")
	if err := os.WriteFile(p, []byte(tt), 0o644); err != nil {
		t.Fatal(err)
	}
	a := alignCase(t, filepath.Join(dir, "save-ttt.cut.pcapng"), p)
	f := a.files["save-tt.h2"]
	if f == nil {
		t.Fatalf("not aligned: %v", a.diags)
	}
	if f.TimeKind != strace.Clock || f.Skew > 10*time.Millisecond || f.Skew < -10*time.Millisecond {
		t.Errorf("time kind %v, skew %v", f.TimeKind, f.Skew)
	}
	ops := imageOps(f)
	if len(ops) == 0 {
		t.Fatal("no image syscalls")
	}
	get := httpOn(t, a.exs, ops[0].Serving, "GET", "/file")
	for _, o := range ops {
		if o.By != ByClock {
			t.Errorf("%s placed by %q", o.String(), o.By)
		}
		within(t, o.String(), o.Time, get.ReqEnd, get.End())
	}
}

// FuzzAlign: any strace text read and aligned with a real capture's
// streams ends without a panic, and whatever it aligns has its file
// syscalls' serving connections among its pins.
func FuzzAlign(f *testing.F) {
	dir := straceDir()
	for _, name := range []string{"upload-ttt.h4", "save-plain.h3"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		if len(b) > 8<<10 {
			b = b[:8<<10]
		}
		f.Add(b)
	}
	f.Add([]byte("accept4(11, {sa_family=AF_INET, sin_port=htons(38132), sin_addr=inet_addr(\"10.0.20.100\")}, [16], SOCK_CLOEXEC) = 12\nrecvfrom(12, \"GET / HTTP/1.1\\r\\nHost: controller\"..., 8192, 0, NULL, NULL) = 250\nopenat(AT_FDCWD, \"/var/lib/glance/images/x\", O_RDONLY) = 15\nread(15, \"x\", 1) = 1\nclose(15) = 0\n"))
	s := &Streams{}
	if _, err := Run([]string{filepath.Join(dir, "upload-ttt.pcapng")}, Options{Streams: s, Serial: true}, func(*decoder.Exchange) {}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := strace.NewReader(strings.NewReader(string(b)), "fuzz", strace.Options{})
		var calls []*strace.Call
		for r.Next() {
			calls = append(calls, r.Call())
		}
		sf, _ := Align(s, "fuzz", calls)
		if sf == nil {
			return
		}
		pinned := map[*decoder.Conn]bool{}
		for _, p := range sf.Pins {
			pinned[p.Conn] = true
		}
		for _, o := range sf.Ops {
			if o.Serving != nil && !pinned[o.Serving] {
				t.Fatalf("%s serving an unpinned connection", o.String())
			}
		}
	})
}

// BenchmarkAlign: the seed's way (no endpoints, no clock: every socket
// found by its bytes) on save-plain's busy worker, per strace byte.
func BenchmarkAlign(b *testing.B) {
	dir := straceDir()
	s := &Streams{}
	if _, err := Run([]string{filepath.Join(dir, "save-plain.cut.pcapng")}, Options{Streams: s, Serial: true}, func(*decoder.Exchange) {}); err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "save-plain.h3"))
	if err != nil {
		b.Fatal(err)
	}
	r := strace.NewReader(strings.NewReader(string(raw)), "save-plain.h3", strace.Options{})
	var calls []*strace.Call
	for r.Next() {
		calls = append(calls, r.Call())
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if f, _ := Align(s, "save-plain.h3", calls); f == nil {
			b.Fatal("not aligned")
		}
	}
}

// shifted writes save-ttt.h2 with its epoch times moved by d (every line,
// or every other line when alternate) and returns its path.
func shifted(t *testing.T, d time.Duration, alternate bool) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(straceDir(), "save-ttt.h2"))
	if err != nil {
		t.Fatal(err)
	}
	epoch := regexp.MustCompile(`(?m)^(\d+) (\d+\.\d{6}) `)
	n := 0
	out := epoch.ReplaceAllStringFunc(string(b), func(m string) string {
		n++
		if alternate && n%2 == 0 {
			return m
		}
		p := epoch.FindStringSubmatch(m)
		v, _ := strconv.ParseFloat(p[2], 64)
		return p[1] + " " + strconv.FormatFloat(v+d.Seconds(), 'f', 6, 64) + " "
	})
	p := filepath.Join(t.TempDir(), "save-ttt.h2")
	if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAlignSkew: a strace clock 3.5 s ahead of the capture's is found by
// the bytes, reported and corrected: the image is still read under GET
// …/file. A clock that disagrees with itself (half the lines moved by 5
// s) is reported and the bytes place the file syscalls instead.
func TestAlignSkew(t *testing.T) {
	capture := filepath.Join(straceDir(), "save-ttt.cut.pcapng")
	a := alignCase(t, capture, shifted(t, 3500*time.Millisecond, false))
	f := a.files["save-ttt.h2"]
	if f == nil || f.Skew > -3490*time.Millisecond || f.Skew < -3510*time.Millisecond {
		t.Fatalf("aligned %+v, diags %v", f, a.diags)
	}
	if len(a.diags) != 1 || !strings.Contains(a.diags[0].What, "its clock is 3.5s ahead of the capture's") {
		t.Errorf("diags %v", a.diags)
	}
	checkPins(t, f, filepath.Join(straceDir(), "save-ttt.h2"))
	ops := imageOps(f)
	get := httpOn(t, a.exs, ops[0].Serving, "GET", "/file")
	for _, o := range ops {
		if o.By != ByClock {
			t.Errorf("%s placed by %q", o.String(), o.By)
		}
		within(t, o.String(), o.Time, get.ReqEnd, get.End())
	}

	a = alignCase(t, capture, shifted(t, 5*time.Second, true))
	f = a.files["save-ttt.h2"]
	if f == nil || len(a.diags) != 1 || !strings.Contains(a.diags[0].What, "disagree") {
		t.Fatalf("aligned %v, diags %v", f != nil, a.diags)
	}
	ops = imageOps(f)
	get = httpOn(t, a.exs, ops[0].Serving, "GET", "/file")
	for _, o := range ops {
		if o.By != ByBytes {
			t.Errorf("%s placed by %q", o.String(), o.By)
		}
		within(t, o.String(), o.Time, get.ReqEnd, get.End())
	}
}

// TestAlignOtherNetns: strace -yy run outside the service's network
// namespace shows sockets as socket:[inode], without endpoints: they are
// found by their bytes, as without -yy, and the image still falls under
// GET …/file.
func TestAlignOtherNetns(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(straceDir(), "save-ttt.h2"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	out := regexp.MustCompile(`<TCP:\[[^\]]*\]>`).ReplaceAllStringFunc(string(b), func(string) string {
		n++
		return "<socket:[4242]>"
	})
	if n < 100 {
		t.Fatalf("%d annotations replaced", n)
	}
	p := filepath.Join(t.TempDir(), "save-ttt.h2")
	if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	a := alignCase(t, filepath.Join(straceDir(), "save-ttt.cut.pcapng"), p)
	f := a.files["save-ttt.h2"]
	if f == nil {
		t.Fatalf("not aligned: %v", a.diags)
	}
	checkPins(t, f, filepath.Join(straceDir(), "save-ttt.h2"))
	ops := imageOps(f)
	get := httpOn(t, a.exs, ops[0].Serving, "GET", "/file")
	for _, o := range ops {
		within(t, o.String(), o.Time, get.ReqEnd, get.End())
	}
}

// TestAlignTwice: two files claiming the same end of the same
// connections (a copy of save-ttt.h2) are one process traced twice: the
// first is aligned, the second reported and left out, not drawn twice.
func TestAlignTwice(t *testing.T) {
	dir := straceDir()
	b, err := os.ReadFile(filepath.Join(dir, "save-ttt.h2"))
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "h2copy")
	if err := os.WriteFile(cp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	a := alignCase(t, filepath.Join(dir, "save-ttt.cut.pcapng"), filepath.Join(dir, "save-ttt.h2"), cp)
	if len(a.files) != 1 || a.files["save-ttt.h2"] == nil {
		t.Fatalf("aligned %v", a.files)
	}
	found := false
	for _, d := range a.diags {
		found = found || d.Where == cp && strings.Contains(d.What, "nothing drawn") && strings.Contains(d.What, "save-ttt.h2")
	}
	if !found {
		t.Errorf("the copy not reported: %v", a.diags)
	}
}

// TestAlignOverlap: one worker serving two requests at once. overlap.h2
// is save-ttt.h2 with the image list connection of save-ttt.h1 (:54582,
// its fd renumbered 40) moved 4.4434 s later, into the image download,
// and overlap.pcapng save-ttt.cut.pcapng with that connection's packets
// moved as much (see testdata/strace/README.md): GET /v2/images arrives
// while the image is read. The image's syscalls stay with the request
// that opened it (GET …/file), not the one whose bytes came last.
func TestAlignOverlap(t *testing.T) {
	dir := straceDir()
	a := alignCase(t, filepath.Join(dir, "overlap.pcapng"), filepath.Join(dir, "overlap.h2"))
	f := a.files["overlap.h2"]
	if f == nil {
		t.Fatalf("not aligned: %v", a.diags)
	}
	if len(f.Served()) != 2 {
		t.Fatalf("served %v", f.Served())
	}
	ops := imageOps(f)
	var open *FileOp
	for i := range ops {
		if ops[i].Kind == OpOpen {
			open = &ops[i]
		}
	}
	if open == nil || open.Serving == nil {
		t.Fatal("no open of the image under a request")
	}
	get := httpOn(t, a.exs, open.Serving, "GET", "/file")
	var list *decoder.Exchange
	for _, c := range f.Served() {
		if c != get.Conn {
			list = httpOn(t, a.exs, c, "GET", "/v2/images")
		}
	}
	within(t, "GET /v2/images", list.ReqEnd, get.ReqEnd, get.End()) // they overlap
	after := 0
	for _, o := range ops {
		if o.Serving != get.Conn {
			t.Errorf("%s at %s serving conn %d", o.String(), o.Time.Format("05.000000"), o.Serving.ID)
		}
		if o.Time.After(list.ReqEnd) {
			after++
		}
	}
	if after < 10 {
		t.Errorf("%d image syscalls after GET /v2/images arrived", after)
	}
}

// TestAlignCaps: a strace file with more file syscalls than Align keeps
// (save-ttt.h2 and then maxFileOps stat calls) is read up to the cap and
// marked Capped; what came before is aligned as without them. 300,000
// closes of fds never seen keep nothing.
func TestAlignCaps(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(straceDir(), "save-ttt.h2"))
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	sb.Write(b)
	for range maxFileOps {
		sb.WriteString("26069 1796007476.651800 close(3</var/log/glance/glance-api.log>) = 0 <0.000003>\n")
	}
	p := filepath.Join(t.TempDir(), "save-ttt.h2")
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	a := alignCase(t, filepath.Join(straceDir(), "save-ttt.cut.pcapng"), p)
	f := a.files["save-ttt.h2"]
	if f == nil {
		t.Fatalf("not aligned: %v", a.diags)
	}
	lines := strings.Count(string(b), "\n")
	if f.Capped <= lines || f.Capped > lines+maxFileOps || len(f.Ops) != maxFileOps {
		t.Errorf("capped at call %d (file's own %d lines), %d ops kept", f.Capped, lines, len(f.Ops))
	}
	checkPins(t, f, filepath.Join(straceDir(), "save-ttt.h2"))

	sb.Reset()
	sb.Write(b)
	for range 300_000 {
		sb.WriteString("26069 1796007476.651800 close(77) = 0 <0.000003>\n")
	}
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	a = alignCase(t, filepath.Join(straceDir(), "save-ttt.cut.pcapng"), p)
	g := a.files["save-ttt.h2"]
	if g == nil || g.Capped != 0 || len(g.Ops) > len(f.Ops) || len(g.Ops) > 2*lines {
		t.Errorf("closes of unknown fds kept: %v", g)
	}
}

// TestAlignBlindCap: sockets with no address (sendto on fds opened before
// strace attached, no -yy) are each searched for in every captured
// stream: past maxBlind of them the rest are not searched, and that is
// reported. save-plain.h3 after 100 such sockets (sending an image's
// first bytes) still aligns: its sockets have accept or connect addresses.
func TestAlignBlindCap(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(straceDir(), "save-plain.h3"))
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for fd := 200; fd < 300; fd++ {
		fmt.Fprintf(&sb, "sendto(%d, \"QFI\\373\\0\\0\\0\\3\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\20\\0\\0\\0\\0\\3\\0\\0\\0\"..., 65536, 0, NULL, 0) = 65536\n", fd)
		fmt.Fprintf(&sb, "close(%d) = 0\n", fd)
	}
	sb.Write(b)
	p := filepath.Join(t.TempDir(), "save-plain.h3")
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	a := alignCase(t, filepath.Join(straceDir(), "save-plain.cut.pcapng"), p)
	if a.files["save-plain.h3"] == nil {
		t.Fatalf("not aligned: %v", a.diags)
	}
	want := fmt.Sprintf("%d of its sockets without an address (no -yy, accept or connect address) were not searched", 100-maxBlind)
	found := false
	for _, d := range a.diags {
		found = found || strings.Contains(d.What, want)
	}
	if !found {
		t.Errorf("want %q in %v", want, a.diags)
	}
}

// TestAlignBudget: with only 64 KiB of the capture's bytes kept, -yy still
// names save-ttt.h2's connections (they began in the capture): it is
// aligned, the image read under GET …/file, and the budget's end is
// reported. Without -yy nothing names them past the budget.
func TestAlignBudget(t *testing.T) {
	dir := straceDir()
	s := &Streams{MaxBytes: 64 << 10}
	var exs []*decoder.Exchange
	if _, err := Run([]string{filepath.Join(dir, "save-ttt.cut.pcapng")}, Options{Streams: s, Serial: true}, func(e *decoder.Exchange) { exs = append(exs, e) }); err != nil {
		t.Fatal(err)
	}
	fs, diags := AlignFiles(s, []string{filepath.Join(dir, "save-ttt.h2")}, strace.Options{})
	if len(fs) != 1 {
		t.Fatalf("not aligned: %v", diags)
	}
	found := false
	for _, d := range diags {
		found = found || strings.Contains(d.What, "past the first 64 KiB") && strings.Contains(d.What, "not kept")
	}
	if !found {
		t.Errorf("budget not reported: %v", diags)
	}
	ops := imageOps(fs[0])
	if len(ops) == 0 {
		t.Fatal("no image syscalls")
	}
	get := httpOn(t, exs, ops[0].Serving, "GET", "/file")
	for _, o := range ops {
		if o.Serving != get.Conn {
			t.Errorf("%s serving conn %v", o, o.Serving)
		}
		within(t, o.String(), o.Time, get.ReqEnd, get.End())
	}
}

// TestStreamsFor: recording only the connections the strace files name
// (-yy: save-ttt's workers) aligns them exactly as recording all does;
// an empty file names none and nothing is recorded; the seed's plain
// strace has a socket nothing names (its log's fd, opened before strace
// attached, could be one) and every connection is recorded.
func TestStreamsFor(t *testing.T) {
	dir := straceDir()
	capture := filepath.Join(dir, "save-ttt.cut.pcapng")
	files := []string{filepath.Join(dir, "save-ttt.h1"), filepath.Join(dir, "save-ttt.h2")}
	record := func(s *Streams) {
		t.Helper()
		if _, err := Run([]string{capture}, Options{Streams: s, Serial: true}, func(*decoder.Exchange) {}); err != nil {
			t.Fatal(err)
		}
	}
	all, some := &Streams{}, StreamsFor(files, strace.Options{})
	record(all)
	record(some)
	if some.Keep == nil || len(some.Conns()) == 0 || len(some.Conns()) >= len(all.Conns())/2 {
		t.Fatalf("recorded %d of %d connections", len(some.Conns()), len(all.Conns()))
	}
	fa, _ := AlignFiles(all, files, strace.Options{})
	fs, _ := AlignFiles(some, files, strace.Options{})
	if len(fa) != 2 || len(fs) != 2 {
		t.Fatalf("aligned %d and %d files", len(fa), len(fs))
	}
	for i := range fa {
		a, b := fa[i], fs[i]
		if len(a.Pins) != len(b.Pins) || len(a.Ops) != len(b.Ops) || a.Skew != b.Skew {
			t.Errorf("%s: %d pins %d ops skew %v, recording only named ones %d %d %v", a.Name, len(a.Pins), len(a.Ops), a.Skew, len(b.Pins), len(b.Ops), b.Skew)
			continue
		}
		for j := range a.Ops {
			if x, y := a.Ops[j], b.Ops[j]; x.Time != y.Time || x.Serving.ID != y.Serving.ID && (x.Serving == nil) == (y.Serving == nil) {
				t.Errorf("%s: %s at %v, %v", a.Name, x, x.Time, y.Time)
				break
			}
		}
	}

	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	none := StreamsFor([]string{empty}, strace.Options{})
	record(none)
	if len(none.Conns()) != 0 {
		t.Errorf("empty file: %d connections recorded", len(none.Conns()))
	}
	if s := StreamsFor([]string{filepath.Join(dir, "save-plain.h3")}, strace.Options{}); s.Keep != nil {
		t.Error("plain strace: not every connection recorded")
	}
}

// TestAlignThreads: under -f the lines show thread ids. save-ttt.h2 with
// the image's open, reads and close made by a thread 26099 of worker
// 26069 that calls getpid() (= 26069): its syscalls are the process's.
func TestAlignThreads(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(straceDir(), "save-ttt.h2"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	n := 0
	for i, l := range lines {
		if strings.Contains(l, "/var/lib/glance/images/") {
			lines[i] = strings.Replace(l, "26069 ", "26099 ", 1)
			n++
			if n == 1 {
				ts := strings.Fields(l)[1]
				lines[i] = "26099 " + ts + " getpid() = 26069 <0.000002>\n" + lines[i]
			}
		}
	}
	p := filepath.Join(t.TempDir(), "save-ttt.h2")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	a := alignCase(t, filepath.Join(straceDir(), "save-ttt.cut.pcapng"), p)
	f := a.files["save-ttt.h2"]
	if f == nil || n < 100 {
		t.Fatalf("not aligned (%d lines moved): %v", n, a.diags)
	}
	for _, o := range imageOps(f) {
		if o.PID != 26069 {
			t.Errorf("%s: pid %d", o, o.PID)
			break
		}
	}
}

// TestAlignMarkBudget: past the cap on capture-time marks, later stream
// bytes have no time (not the last mark's), AlignFiles says so, and what
// was timed before is still aligned.
func TestAlignMarkBudget(t *testing.T) {
	dir := straceDir()
	s := &Streams{MaxMarks: 40}
	if _, err := Run([]string{filepath.Join(dir, "save-ttt.cut.pcapng")}, Options{Streams: s, Serial: true}, func(*decoder.Exchange) {}); err != nil {
		t.Fatal(err)
	}
	marks, untimed := 0, 0
	for _, st := range s.Conns() {
		for d := range st.Half {
			h := &st.Half[d]
			marks += len(h.marks)
			if h.untimed {
				untimed++
				if _, ok := h.TimeAt(h.Len() - 1); ok {
					t.Errorf("conn %d: the last byte has a time past the cap", st.Conn.ID)
				}
				if h.untimedFrom > 0 {
					if _, ok := h.TimeAt(h.untimedFrom - 1); !ok {
						t.Errorf("conn %d: a byte before the cap has no time", st.Conn.ID)
					}
				}
			}
		}
	}
	if marks != 40 || untimed == 0 {
		t.Fatalf("%d marks kept, %d directions untimed: the cap was not reached", marks, untimed)
	}
	_, diags := AlignFiles(s, []string{filepath.Join(dir, "save-ttt.h2")}, strace.Options{})
	found := false
	for _, d := range diags {
		found = found || strings.Contains(d.What, "past the first 40 segments were not kept")
	}
	if !found {
		t.Errorf("the mark cap is not reported: %v", diags)
	}
}

// TestPrevTimes: the tree answers as the slow way does (the latest time
// of the anchors before call i), with anchors added in any order.
func TestPrevTimes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const calls = 500
	p := newPrevTimes(calls)
	added := map[int]time.Time{}
	base := time.Unix(1796000000, 0).UTC()
	for step := range 2000 {
		if c := r.IntN(calls); step%3 == 0 && added[c].IsZero() {
			tm := base.Add(time.Duration(r.Int64N(int64(time.Hour))))
			added[c] = tm
			p.add(c, tm)
		}
		i := r.IntN(calls + 2)
		var want time.Time
		for c, tm := range added {
			if c < i && tm.After(want) {
				want = tm
			}
		}
		if got := p.before(i); !got.Equal(want) {
			t.Fatalf("step %d: before(%d) = %v, want %v", step, i, got, want)
		}
	}
}

// BenchmarkAlignSockets: a strace file of n sockets (-yy, accepted, one
// request read each), 2,500 then 5,000, each found in its own recorded
// connection: pinning must cost about twice for twice the sockets.
func BenchmarkAlignSockets(b *testing.B) {
	decodertest.Doubling(b, 2500, func(n int) func() {
		s := &Streams{}
		proto := s.wrap(decoder.Protocol{Name: "rec", New: func(*decoder.Conn, decoder.Emit) decoder.StreamDecoder { return nopDecoder{} }})
		t0 := time.Unix(1796000000, 0).UTC()
		var text strings.Builder
		for i := range n {
			at := t0.Add(time.Duration(i) * time.Millisecond)
			srv := netip.MustParseAddrPort("10.0.20.11:9292")
			cli := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(40000+i%20000))
			req := fmt.Sprintf("GET /v2/images/%d HTTP/1.1\r\n\r\n", i)
			d := proto.New(&decoder.Conn{ID: i + 1, Client: cli, Server: srv, First: at}, nil)
			d.Data(decoder.ClientToServer, []byte(req), at)
			fd := 12 + i%1000
			us := float64(at.UnixMicro()) / 1e6
			fmt.Fprintf(&text, "100 %.6f accept4(11<TCP:[0.0.0.0:9292]>, NULL, NULL, SOCK_CLOEXEC) = %d<TCP:[%s->%s]>\n", us, fd, srv, cli)
			fmt.Fprintf(&text, "100 %.6f recvfrom(%d<TCP:[%s->%s]>, %q, 8192, 0, NULL, NULL) = %d\n", us+0.0001, fd, srv, cli, req, len(req))
			fmt.Fprintf(&text, "100 %.6f close(%d<TCP:[%s->%s]>) = 0\n", us+0.0002, fd, srv, cli)
		}
		r := strace.NewReader(strings.NewReader(text.String()), "many", strace.Options{})
		var calls []*strace.Call
		for r.Next() {
			calls = append(calls, r.Call())
		}
		return func() {
			f, _ := Align(s, "many", calls)
			if f == nil || len(f.Pins) < n {
				b.Fatalf("aligned %v of %d sockets", f, n)
			}
		}
	})
}

type nopDecoder struct{}

func (nopDecoder) Data(decoder.Dir, []byte, time.Time) {}
func (nopDecoder) Gap(decoder.Dir, int, time.Time)     {}
func (nopDecoder) End(decoder.Dir, time.Time)          {}
func (nopDecoder) Close(time.Time)                     {}
func (nopDecoder) Pending() time.Time                  { return time.Time{} }
func (nopDecoder) Expire(time.Time, string)            {}
