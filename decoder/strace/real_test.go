package strace

import (
	"bufio"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sharedDir is ../shared/captures/strace (the lab's whole recordings), or
// "" when absent: tests that need it skip.
func sharedDir() string {
	for _, d := range []string{"../../../shared/captures/strace", "/work/shared/captures/strace"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	return ""
}

// readAll reads every call of one file and fails the test on an error.
func readAll(t testing.TB, path string) []*Call {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewReader(f, filepath.Base(path), Options{})
	var calls []*Call
	for r.Next() {
		calls = append(calls, r.Call())
	}
	if err := r.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return calls
}

// loadCounts reads a file\tsyscall\tcount table written by an awk one-liner
// independent of this package (counts every line with a field "name(";
// "<... name resumed>", signal and exit lines have none):
//
//	awk -v F=$f '{ for (i=1;i<=NF;i++) if ($i ~ /^[a-z_0-9]+\(/) {
//	  split($i,a,"("); c[a[1]]++; break } } END { for (k in c) print F "\t" k "\t" c[k] }' $f
func loadCounts(t *testing.T, path string) map[string]map[string]int {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(sc.Text(), "\t")
		if len(p) != 3 {
			t.Fatalf("%s: bad line %q", path, sc.Text())
		}
		n, err := strconv.Atoi(p[2])
		if err != nil {
			t.Fatal(err)
		}
		if out[p[0]] == nil {
			out[p[0]] = map[string]int{}
		}
		out[p[0]][p[1]] = n
	}
	return out
}

func checkCounts(t *testing.T, dir string, want map[string]map[string]int) (files, lines, calls int) {
	for file, w := range want {
		got := map[string]int{}
		cs := readAll(t, filepath.Join(dir, file))
		for _, c := range cs {
			if c.Kind == Syscall {
				got[c.Name]++
				calls++
			}
		}
		for name, n := range w {
			if got[name] != n {
				t.Errorf("%s: %d %s calls, awk counts %d", file, got[name], name, n)
			}
		}
		for name, n := range got {
			if _, ok := w[name]; !ok {
				t.Errorf("%s: %d %s calls, awk counts none", file, n, name)
			}
		}
		b, _ := os.ReadFile(filepath.Join(dir, file))
		lines += strings.Count(string(b), "\n")
		files++
	}
	return files, lines, calls
}

// TestCountsLocal compares the calls per syscall name in every file of
// testdata with the independent awk count.
func TestCountsLocal(t *testing.T) {
	want := loadCounts(t, "testdata/local-counts.tsv")
	if len(want) < 10 {
		t.Fatalf("only %d files counted", len(want))
	}
	f, l, c := checkCounts(t, "testdata", want)
	t.Logf("%d files, %d lines, %d syscalls as counted by awk", f, l, c)
}

// TestCountsShared does the same on the lab's whole strace files.
func TestCountsShared(t *testing.T) {
	dir := sharedDir()
	if dir == "" {
		t.Skip("../shared/captures/strace absent")
	}
	want := loadCounts(t, "testdata/shared-counts.tsv")
	if len(want) != 15 {
		t.Fatalf("%d files counted, want 15", len(want))
	}
	f, l, c := checkCounts(t, dir, want)
	t.Logf("%d files, %d lines, %d syscalls as counted by awk", f, l, c)
}

func find(t *testing.T, calls []*Call, pred func(*Call) bool) *Call {
	t.Helper()
	for _, c := range calls {
		if pred(c) {
			return c
		}
	}
	t.Fatal("no such call")
	return nil
}

const image = "/var/lib/glance/images/e7bb5e5f-e12f-4838-ace9-aaed16a465c7"

// TestSavePlain checks the seed's way (no options): the image file's
// openat and a recvfrom on the client socket with its 32-byte prefix.
func TestSavePlain(t *testing.T) {
	calls := readAll(t, "testdata/save-plain.h3.cut")
	o := find(t, calls, func(c *Call) bool {
		return c.Name == "openat" && len(c.Strings) > 0 && c.Strings[0].Value == image
	})
	if o.Line != 1488-1379 || o.PID != 0 || o.TimeKind != NoTime || !o.HasVal || o.Value != 15 || o.Errno != "" || o.HasDur {
		t.Errorf("openat: %+v", o)
	}
	if a := o.Arg; len(a) != 3 || !a[0].HasFD || a[0].FD != atFDCWD || a[1].Str != 0 || a[2].Raw != "O_RDONLY|O_CLOEXEC" || o.Strings[0].Cut {
		t.Errorf("openat args: %+v", o.Arg)
	}
	r := find(t, calls, func(c *Call) bool { return c.Name == "recvfrom" && c.Value == 452 })
	fd, ok := r.FD()
	b, bok := r.Buffer()
	if !ok || fd.FD != 12 || fd.Ann != "" || !bok || b.Value != "GET /v2/images/e7bb5e5f-e12f-483" || len(b.Value) != 32 || !b.Cut {
		t.Errorf("recvfrom: fd %+v buffer %+v", fd, b)
	}
	rd := find(t, calls, func(c *Call) bool { return c.Name == "read" && c.Value == 65536 })
	if b, _ := rd.Buffer(); b.Value != "QFI\xfb\x00\x00\x00\x03"+strings.Repeat("\x00", 15)+"\x10\x00\x00\x00\x00\x03\x00\x00\x00" {
		t.Errorf("read buffer %q", b.Value)
	}
	e := find(t, calls, func(c *Call) bool { return c.Name == "ioctl" && c.Errno != "" })
	if e.Value != -1 || e.Errno != "ENOTTY" {
		t.Errorf("ioctl: %+v", e)
	}
}

// TestSaveTTT checks -f -ttt -T -yy -s 256: pid, epoch time, duration and
// the socket's endpoints.
func TestSaveTTT(t *testing.T) {
	calls := readAll(t, "testdata/save-ttt.h2.cut")
	r := find(t, calls, func(c *Call) bool { return c.Name == "recvfrom" && c.Value == 452 })
	if r.PID != 26069 || r.TimeKind != Epoch || !r.Time.Equal(time.Unix(1796007476, 267796000)) || !r.HasDur || r.Dur != 6*time.Microsecond {
		t.Errorf("recvfrom: pid %d time %v %v dur %v", r.PID, r.TimeKind, r.Time, r.Dur)
	}
	fd, _ := r.FD()
	proto, local, peer, ok := Endpoints(fd.Ann)
	if fd.FD != 12 || !ok || proto != "TCP" || local != netip.MustParseAddrPort("10.0.20.11:9292") || peer != netip.MustParseAddrPort("10.0.20.100:54584") {
		t.Errorf("endpoints of %+v: %s %v %v %v", fd, proto, local, peer, ok)
	}
	if b, _ := r.Buffer(); len(b.Value) != 256 || !b.Cut || !strings.HasPrefix(b.Value, "GET /v2/images/e7bb5e5f-e12f-4838-ace9-aaed16a465c7/file HTTP/1.1\r\nHost: controller:9292\r\n") {
		t.Errorf("buffer %d %q", len(b.Value), b.Value)
	}
	o := find(t, calls, func(c *Call) bool { return c.Name == "openat" && len(c.Strings) > 0 && c.Strings[0].Value == image })
	if o.Value != 15 || o.RetAnn != image || o.Arg[0].Ann != "/" || o.Arg[0].FD != atFDCWD || o.Dur != 10*time.Microsecond {
		t.Errorf("openat: %+v", o)
	}
	rd := find(t, calls, func(c *Call) bool { return c.Name == "read" && c.Value == 65536 })
	if fd, _ := rd.FD(); fd.FD != 15 || fd.Ann != image {
		t.Errorf("read fd %+v", fd)
	}
	if _, _, _, ok := Endpoints(image); ok {
		t.Error("a path has endpoints")
	}
}

// TestUnlink checks the delete in upload-ttt.
func TestUnlink(t *testing.T) {
	calls := readAll(t, "testdata/upload-ttt.h3.cut")
	u := find(t, calls, func(c *Call) bool { return c.Name == "unlink" })
	if u.Strings[0].Value != "/var/lib/glance/images/f163d750-0178-4fff-958b-9d43d4e88970" || u.Value != 0 || u.PID != 26070 {
		t.Errorf("unlink: %+v", u)
	}
}

// TestResumed checks a real strace -f -tt -T -yy recording of two threads
// (a thread's accept4 runs while the other connects): every
// <unfinished ...> is joined with its <... resumed>, the signal and the
// kill are read, and the TCP endpoints of both ends agree.
func TestResumed(t *testing.T) {
	calls := readAll(t, "testdata/lab-f-tt")
	var joined, signals, exits, killed int
	for _, c := range calls {
		switch c.Kind {
		case Signal:
			signals++
		case Exit:
			exits++
		case Killed:
			killed++
		}
		if c.Resumed {
			joined++
			if c.ResumeLine <= c.Line || c.ResumeTime.Before(c.Time) || c.Unfinished {
				t.Errorf("joined call %+v", c)
			}
		}
	}
	b, _ := os.ReadFile("testdata/lab-f-tt")
	if n := strings.Count(string(b), " resumed>"); joined != n || n < 10 {
		t.Errorf("%d joined, file has %d resumed lines", joined, n)
	}
	if signals != 1 || exits != 2 || killed != 1 {
		t.Errorf("signals %d exits %d killed %d", signals, exits, killed)
	}
	a := find(t, calls, func(c *Call) bool { return c.Name == "accept4" })
	fd, _ := a.FD()
	_, local, _, _ := Endpoints(fd.Ann)
	_, rl, rp, ok := Endpoints(a.RetAnn)
	if !a.Resumed || a.Time.Format("15:04:05.000000") != "05:13:34.795331" || a.ResumeTime.Format("15:04:05.000000") != "05:13:34.817950" ||
		a.Dur != 22577*time.Microsecond || !ok || rl != local || rp.Port() != 47482 || len(a.Arg) != 4 || a.Arg[3].Raw != "SOCK_CLOEXEC" {
		t.Errorf("accept4: %+v", a)
	}
	r := find(t, calls, func(c *Call) bool { return c.Name == "recvfrom" && c.PID == 11282 })
	if b, _ := r.Buffer(); !r.Resumed || b.Value != "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" || b.Cut || r.Value != 40 {
		t.Errorf("recvfrom %+v", r)
	}
}

// TestFF checks -ff: the pid comes from the file name.
func TestFF(t *testing.T) {
	for _, name := range []string{"lab-ff.11293", "lab-ff.11294"} {
		want, _ := strconv.Atoi(strings.TrimPrefix(name, "lab-ff."))
		for _, c := range readAll(t, "testdata/"+name) {
			if c.PID != want || c.TimeKind != Epoch || c.Time.Year() != 2026 {
				t.Fatalf("%s line %d: pid %d time %v", name, c.Line, c.PID, c.Time)
			}
		}
	}
}

// TestTimes checks -r and -t.
func TestTimes(t *testing.T) {
	for _, c := range readAll(t, "testdata/lab-f-r") {
		if c.TimeKind != Relative || c.Rel > time.Second || c.PID == 0 {
			t.Fatalf("line %d: %v %v pid %d", c.Line, c.TimeKind, c.Rel, c.PID)
		}
	}
	calls := readAll(t, "testdata/lab-t")
	last := calls[len(calls)-1]
	if last.Kind != Exit || last.ExitCode != 3 || last.TimeKind != Clock || last.Time.Year() != 0 || last.Time.Nanosecond() != 0 {
		t.Errorf("last: %+v", last)
	}
	if c := calls[0]; c.Name != "execve" || !c.HasDur || c.Time.Hour() != 5 {
		t.Errorf("first: %+v", c)
	}
}

// TestEscapes checks strace -xx and the default escapes.
func TestEscapes(t *testing.T) {
	c := readAll(t, "testdata/lab-xx")[0]
	if b, _ := c.Buffer(); b.Value != "a\tb\r\n\x01\xff" || c.PID != 11310 || c.Value != 7 {
		t.Errorf("%q", b.Value)
	}
}
