// Package truth reads the tshark ground-truth TSVs of testdata/truth (see
// testdata/README.md) for tests that compare flowmap with Wireshark.
package truth

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Row is one tshark row: field name -> value.
type Row map[string]string

// Time is frame.time_epoch in seconds.
func (r Row) Time() float64 {
	f, _ := strconv.ParseFloat(r["frame.time_epoch"], 64)
	return f
}

// Load reads a TSV written with `tshark -T fields -E header=y`, sorted by
// capture time (frames of merged captures are not in time order).
func Load(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var head []string
	var rows []Row
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if head == nil {
			head = cols
			continue
		}
		r := Row{}
		for i, h := range head {
			if i < len(cols) {
				r[h] = cols[i]
			}
		}
		rows = append(rows, r)
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Time() < rows[j].Time() })
	return rows, sc.Err()
}

// Root is the repository's top directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// minCaptures is how many captures testdata/captures holds; fewer means a
// broken checkout, and tests looping over them would check little.
const minCaptures = 10

// Captures lists the capture names (without .pcapng) in testdata/captures.
// When they are missing, or are Git LFS pointers instead of captures, it
// fails tb (or panics when no tb is given, for older callers): a test that
// loops over no capture must not pass.
func Captures(tb ...testing.TB) []string {
	return captures(filepath.Join(Root(), "testdata", "captures"), tb...)
}

func captures(dir string, tb ...testing.TB) []string {
	fail := func(format string, args ...any) {
		if len(tb) > 0 {
			tb[0].Helper()
			tb[0].Fatalf(format, args...)
		}
		panic(fmt.Sprintf(format, args...))
	}
	m, err := filepath.Glob(filepath.Join(dir, "*.pcapng"))
	if err != nil || len(m) < minCaptures {
		fail("truth: %d captures in %s, want at least %d: the checkout is incomplete and the comparisons with tshark would check nothing", len(m), dir, minCaptures)
	}
	var out []string
	for _, p := range m {
		if err := checkCapture(p); err != nil {
			fail("truth: %v", err)
		}
		out = append(out, strings.TrimSuffix(filepath.Base(p), ".pcapng"))
	}
	return out
}

// checkCapture reports p missing or a Git LFS pointer.
func checkCapture(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("capture missing: %w", err)
	}
	defer f.Close()
	head := make([]byte, 64)
	n, _ := f.Read(head)
	if bytes.HasPrefix(head[:n], []byte("version https://git-lfs")) {
		return fmt.Errorf("%s is a Git LFS pointer, not a capture (git lfs pull)", p)
	}
	return nil
}

// Capture is the path of a testdata capture.
func Capture(name string) string {
	return filepath.Join(Root(), "testdata", "captures", name+".pcapng")
}

// File is the path of a truth file for capture name and protocol.
func File(name, proto string) string {
	return filepath.Join(Root(), "testdata", "truth", name+"."+proto+".tsv")
}

// Shared is the path of a file in ../shared/captures, or "" when absent.
func Shared(name string) string {
	p := filepath.Join(Root(), "..", "shared", "captures", name)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// NeedShared is the path of a file in ../shared/captures for a test that
// needs it: the test is skipped when ../shared is not there at all (a
// checkout without the lab's shared folder), and fails when ../shared is
// there but the capture is not.
func NeedShared(tb testing.TB, name string) string {
	tb.Helper()
	return needShared(tb, filepath.Join(Root(), "..", "shared"), name)
}

func needShared(tb testing.TB, shared, name string) string {
	tb.Helper()
	if _, err := os.Stat(shared); err != nil {
		tb.Skipf("%s absent: %s not checked", shared, name)
	}
	p := filepath.Join(shared, "captures", name)
	if err := checkCapture(p); err != nil {
		tb.Fatalf("truth: %s is there but: %v", shared, err)
	}
	return p
}

// SharedTruth is the path of a truth file in ../shared/captures/truth.
func SharedTruth(name, proto string) string {
	return filepath.Join(Root(), "..", "shared", "captures", "truth", name+"."+proto+".tsv")
}

// HTTPCall is a request line with the status of its response ("" when none).
type HTTPCall struct {
	Method, Target, Status string
}

// HTTP returns the requests of an http truth file in the order they
// completed, each with the status of the response paired by TCP stream and
// order (tshark often leaves http.response_in empty for close-delimited
// responses).
func HTTP(path string) ([]HTTPCall, error) {
	rows, err := Load(path)
	if err != nil {
		return nil, err
	}
	var calls []HTTPCall
	pending := map[string][]int{} // tcp.stream -> indexes of unanswered requests
	for _, r := range rows {
		st := r["tcp.stream"]
		if m := r["http.request.method"]; m != "" {
			calls = append(calls, HTTPCall{Method: m, Target: r["http.request.uri"]})
			pending[st] = append(pending[st], len(calls)-1)
		}
		if c := r["http.response.code"]; c != "" && len(pending[st]) > 0 {
			calls[pending[st][0]].Status = c
			pending[st] = pending[st][1:]
		}
	}
	return calls, nil
}

// MemcacheCall is a memcache command with its key and what came back:
// "hit", "miss", or the reply word in lower case ("stored").
type MemcacheCall struct {
	Command, Key, Result string
}

// Memcache returns the commands of a memcache truth file in time order,
// each with its result paired by TCP stream and order: a get is a hit when
// a VALUE row (key, no command) answers it, a miss when a bare END does.
func Memcache(path string) ([]MemcacheCall, error) {
	rows, err := Load(path)
	if err != nil {
		return nil, err
	}
	var calls []MemcacheCall
	pending := map[string][]int{}
	for _, r := range rows {
		st := r["tcp.stream"]
		if c := r["memcache.command"]; c != "" {
			calls = append(calls, MemcacheCall{Command: c, Key: r["memcache.key"]})
			pending[st] = append(pending[st], len(calls)-1)
			continue
		}
		if len(pending[st]) == 0 {
			continue
		}
		i := pending[st][0]
		switch resp := r["memcache.response"]; {
		case r["memcache.key"] != "":
			calls[i].Result = "hit"
		case resp == "END":
			calls[i].Result = "miss"
		case resp != "":
			calls[i].Result = strings.ToLower(resp)
		default:
			continue
		}
		pending[st] = pending[st][1:]
	}
	return calls, nil
}

// MySQLEvent is a login ("login user@schema") or a query's text.
type MySQLEvent struct {
	Login string
	Query string
}

// MySQL returns the logins and COM_QUERY texts of a mysql truth file in
// time order. Several PDUs in one frame are joined by '|' in the TSV.
func MySQL(path string) ([]MySQLEvent, error) {
	rows, err := Load(path)
	if err != nil {
		return nil, err
	}
	return MySQLRows(rows), nil
}

// MySQLRows is MySQL on rows already loaded.
func MySQLRows(rows []Row) []MySQLEvent {
	var evs []MySQLEvent
	for _, r := range rows {
		if u := r["mysql.user"]; u != "" {
			for i, user := range strings.Split(u, "|") {
				schema := ""
				if s := strings.Split(r["mysql.schema"], "|"); i < len(s) {
					schema = s[i]
				}
				evs = append(evs, MySQLEvent{Login: user + "@" + schema})
			}
		}
		if q := r["mysql.query"]; q != "" {
			for _, one := range strings.Split(q, "|") {
				evs = append(evs, MySQLEvent{Query: unescape(one)})
			}
		}
	}
	return evs
}

// unescape undoes tshark's escaping of control characters in -T fields
// output (\n, \r, \t). Any other backslash is the query's own: tshark
// writes PyMySQL's escaped quote in '{\"image_id\": …}' as it is.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// Unescape undoes the escapes tshark writes in a TSV field (\t, \n, \r,
// and a backslash before any other byte).
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 't':
				b.WriteByte('\t')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
