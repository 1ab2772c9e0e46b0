package strace

import (
	"errors"
	"strings"
	"testing"
)

func readString(s, name string) ([]*Call, error) {
	r := NewReader(strings.NewReader(s), name, Options{})
	var calls []*Call
	for r.Next() {
		calls = append(calls, r.Call())
	}
	return calls, r.Err()
}

// TestMalformed names every damaged or foreign input: the calls read
// before it are returned, then one error naming file and line.
func TestMalformed(t *testing.T) {
	good := "close(3) = 0\nclose(4) = 0\n"
	tests := []struct {
		name  string
		in    string
		calls int
		err   string // exact error; "" none
	}{
		{"not-strace", "hello world\n", 0, `strace: h1:1: not a syscall line: "hello world"`},
		{"after-good-lines", good + "bogus line\n", 2, `strace: h1:3: not a syscall line: "bogus line"`},
		{"cut-mid-string", good + `read(3, "abc`, 2, `strace: h1:3: not a syscall line: "read(3, \"…"`},
		{"cut-mid-args", `openat(AT_FDCWD, "/x", O_RDONLY`, 0, `strace: h1:1: not a syscall line: "openat(AT_FDCWD, \"/x\", O_RDONLY"`},
		{"cut-after-paren", "close(3)\n", 0, `strace: h1:1: not a syscall line: "close(3)"`},
		{"cut-after-equals", "close(3) = \n", 0, `strace: h1:1: not a syscall line: "close(3) = "`},
		{"cut-annotation", "read(12<TCP:[1.2.3.4:5->", 0, `strace: h1:1: not a syscall line: "read(12<TCP:[1.2.3.4:5->"`},
		{"bad-escape", `write(1, "\x4", 1) = 1`, 0, `strace: h1:1: not a syscall line: "write(1, \"…\", 1) = 1"`},
		{"escape-at-end", `write(1, "\`, 0, `strace: h1:1: not a syscall line: "write(1, \"…"`},
		{"bad-clock", "12 99:99:99 close(3) = 0\n", 0, `strace: h1:1: not a syscall line: "12 99:99:99 close(3) = 0"`},
		{"bad-pid", "[pid x] close(3) = 0\n", 0, `strace: h1:1: not a syscall line: "[pid x] close(3) = 0"`},
		{"pid-only", "26069 \n", 0, `strace: h1:1: not a syscall line: "26069 "`},
		{"bad-exit-code", "+++ exited with x +++\n", 0, `strace: h1:1: not a syscall line: "+++ exited with x +++"`},
		{"unknown-marks", "+++ something +++\n", 0, `strace: h1:1: not a syscall line: "+++ something +++"`},
		{"bad-name", "open-at(3) = 0\n", 0, `strace: h1:1: not a syscall line: "open-at(3) = 0"`},
		{"resumed-bad-name", "<... a b resumed>) = 0\n", 0, `strace: h1:1: not a syscall line: "<... a b resumed>) = 0"`},
		{"binary", "\x00\x01\x02\n", 0, `strace: h1:1: not a syscall line: "\x00\x01\x02"`},
		{"pcapng", "\x0a\x0d\x0d\x0a\x1c\x00\x00\x00", 0, `strace: h1:3: not a syscall line: "\x1c\x00\x00\x00"`},
		{"long-text-quoted-cut", strings.Repeat("x", 100), 0, `strace: h1:1: not a syscall line: "` + strings.Repeat("x", 60) + `"`},
		{"line-too-long", "write(1, \"" + strings.Repeat("a", MaxLine) + "\", 1) = 1\n", 0, `strace: h1:1: line too long: "write(1, \"…\", 1) = 1"`},
		// strings are left out of the excerpt (they hold headers and
		// bodies), but for paths; so are secret-looking names' values
		{"cut-password", `sendto(5, "{\"auth\": {\"identity\": {\"password\": {\"user\": {\"password\": \"GLANCE_PASS`, 0, `strace: h1:1: not a syscall line: "sendto(5, \"…"`},
		{"cut-header", `sendto(12, "GET / HTTP/1.1\r\nX-Auth-Token: gAAAAABpK`, 0, `strace: h1:1: not a syscall line: "sendto(12, \"…"`},
		{"config-file", "admin_password = GLANCE_PASS\n", 0, `strace: h1:1: not a syscall line: "admin_password = …"`},
		// Not errors: kept and marked.
		{"resumed-without-start", "<... read resumed>\"x\", 3) = 1\n", 1, ""},
		{"unfinished-at-end", "read(3,  <unfinished ...>\n", 1, ""},
		{"detached", "poll([{fd=11, events=POLLIN}], 1, 60000 <detached ...>\n", 1, ""},
		{"no-final-newline", "close(3) = 0", 1, ""},
		{"blank-lines", "\n\nclose(3) = 0\n\n", 1, ""},
		{"strace-info", "strace: Process 25703 attached\nclose(3) = 0\n", 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls, err := readString(tc.in, "h1")
			if len(calls) != tc.calls {
				t.Errorf("%d calls, want %d", len(calls), tc.calls)
			}
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.err != "" && (err == nil || err.Error() != tc.err):
				t.Errorf("error\n got %v\nwant %s", err, tc.err)
			case err != nil && !errors.Is(err, ErrSyntax):
				t.Errorf("%v is not ErrSyntax", err)
			}
		})
	}
}

// TestNoName: without a file name the error names the line.
func TestNoName(t *testing.T) {
	_, err := readString("x\n", "")
	if err == nil || err.Error() != `strace: line 1: not a syscall line: "x"` {
		t.Errorf("%v", err)
	}
}

// TestKinds checks the marks and return values one by one.
func TestKinds(t *testing.T) {
	in := `[pid  7] read(3,  <unfinished ...>
8 write(1, "a\"b\\c\101", 5 <unfinished ...>
[pid 7] <... read resumed>"x\0y"..., 2) = 2
8 <... write resumed>) = -1 EPIPE (Broken pipe)
8 --- SIGPIPE {si_signo=SIGPIPE, si_code=SI_USER, si_pid=8, si_uid=0} ---
7 exit_group(0) = ?
7 +++ exited with 0 +++
9 poll([{fd=3, events=POLLIN}], 1, 5 <unfinished ...>
9 +++ killed by SIGSEGV (core dumped) +++
10 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, -1, 0) = 0x7f9da6947000
10 lseek(3, 0, SEEK_END) = 18446744073709551615
`
	calls, err := readString(in, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range calls {
		got = append(got, c.Summary())
	}
	want := []string{
		`read(3, "x\0y"..., 2) = 2`,
		`write(1, "a\"b\\c\101", 5) = -1 EPIPE (Broken pipe)`,
		`--- SIGPIPE {si_signo=SIGPIPE, si_code=SI_USER, si_pid=8, si_uid=0} ---`,
		`exit_group(0) = ?`,
		`+++ exited with 0 +++`,
		`poll([{fd=3, events=POLLIN}], 1, 5) unfinished`,
		`+++ killed by SIGSEGV (core dumped) +++`,
		`mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, -1, 0) = 0x7f9da6947000`,
		`lseek(3, 0, SEEK_END) = 18446744073709551615`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	r, w := calls[0], calls[1]
	if b, _ := r.Buffer(); b.Value != "x\x00y" || !b.Cut || r.PID != 7 || !r.Resumed || r.Line != 1 || r.ResumeLine != 3 {
		t.Errorf("read %+v", r)
	}
	if w.Strings[0].Value != "a\"b\\cA" || w.Errno != "EPIPE" || w.Value != -1 || w.PID != 8 {
		t.Errorf("write %+v", w)
	}
	if calls[3].HasVal || calls[3].Ret != "?" {
		t.Errorf("exit_group %+v", calls[3])
	}
	if p := calls[5]; !p.Unfinished || p.PID != 9 || p.Line != 8 {
		t.Errorf("poll %+v", p)
	}
	if k := calls[6]; k.Kind != Killed || k.Name != "SIGSEGV" {
		t.Errorf("killed %+v", k)
	}
	if m := calls[7]; m.Value != 0x7f9da6947000 || m.Arg[4].FD != -1 {
		t.Errorf("mmap %+v", m)
	}
	if l := calls[8]; !l.HasVal || l.Value != -1 {
		t.Errorf("lseek %+v", l)
	}
}
