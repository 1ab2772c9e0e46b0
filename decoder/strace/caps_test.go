package strace

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestCaps: what one line or one file can make the reader keep is capped.
func TestCaps(t *testing.T) {
	long := strings.Repeat("a", MaxString+10)
	calls, err := readString(`write(1, "`+long+`", 9) = 9`+"\n", "")
	if err != nil || len(calls) != 1 {
		t.Fatal(err)
	}
	if b, _ := calls[0].Buffer(); len(b.Value) != MaxString || !b.Cut {
		t.Errorf("string of %d bytes, cut %v", len(b.Value), b.Cut)
	}
	many := strings.Repeat(`"x", `, MaxStrings+5) + "1"
	calls, err = readString("f("+many+") = 0\n", "")
	if err != nil || len(calls[0].Strings) != MaxStrings || len(calls[0].Arg) != MaxArgs {
		t.Errorf("%d strings, %d args, err %v", len(calls[0].Strings), len(calls[0].Arg), err)
	}
	var b strings.Builder
	for pid := 1; pid <= MaxPending+3; pid++ {
		b.WriteString(strconv.Itoa(pid) + " read(3,  <unfinished ...>\n")
	}
	calls, err = readString(b.String(), "")
	if err != nil || len(calls) != MaxPending+3 {
		t.Fatalf("%d calls, err %v", len(calls), err)
	}
	for _, c := range calls {
		if !c.Unfinished {
			t.Fatalf("%+v", c)
		}
	}
}

// BenchmarkReader reads the largest real strace file (save-ttt.h2, -s 256)
// when ../shared is present, else the testdata cut of it.
func BenchmarkReader(b *testing.B) {
	path := "testdata/save-ttt.h2.cut"
	if d := sharedDir(); d != "" {
		path = d + "/save-ttt.h2"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(strings.NewReader(string(data)), "", Options{})
		for r.Next() {
		}
		if r.Err() != nil {
			b.Fatal(r.Err())
		}
	}
}
