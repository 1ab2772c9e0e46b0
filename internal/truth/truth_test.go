package truth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTB records how a helper ended a test.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

type stop struct{}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = format
	panic(stop{})
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skip = format
	panic(stop{})
}

func catch(f func()) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(stop); !ok {
				panic(r)
			}
		}
	}()
	f()
}

func TestCapturesPresent(t *testing.T) {
	if n := len(Captures(t)); n < minCaptures {
		t.Fatalf("%d captures", n)
	}
}

// TestMissingCapturesFailLoudly: an empty or LFS-pointer capture folder
// fails the test; an absent ../shared skips it, a shared folder without
// the capture fails it.
func TestMissingCapturesFailLoudly(t *testing.T) {
	empty := t.TempDir()
	lfs := t.TempDir()
	for i := range minCaptures {
		body := "version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1\n"
		if err := os.WriteFile(filepath.Join(lfs, "c"+string(rune('a'+i))+".pcapng"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shared := t.TempDir()
	for _, tc := range []struct {
		name  string
		run   func(tb testing.TB)
		fatal string
		skip  string
	}{
		{name: "empty-folder", run: func(tb testing.TB) { captures(empty, tb) }, fatal: "checkout is incomplete"},
		{name: "lfs-pointers", run: func(tb testing.TB) { captures(lfs, tb) }, fatal: "truth: %v"},
		{name: "no-shared", run: func(tb testing.TB) { needShared(tb, filepath.Join(empty, "shared"), "x.pcapng") }, skip: "absent"},
		{name: "shared-without-capture", run: func(tb testing.TB) { needShared(tb, shared, "x.pcapng") }, fatal: "is there but"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeTB{TB: t}
			catch(func() { tc.run(f) })
			if tc.fatal != "" && !strings.Contains(f.fatal, tc.fatal) || tc.skip != "" && !strings.Contains(f.skip, tc.skip) {
				t.Fatalf("fatal %q skip %q; want fatal containing %q, skip containing %q", f.fatal, f.skip, tc.fatal, tc.skip)
			}
		})
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "checkout is incomplete") {
			t.Fatalf("captures without a TB: recovered %v, want a panic naming the problem", r)
		}
	}()
	captures(empty)
}
