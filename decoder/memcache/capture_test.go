package memcache

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/decodertest"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.jsonl")

// convFiles lists every recorded conversation: the lab captures' memcache
// connections and the live-memcached recordings.
func convFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, pat := range []string{"testdata/streams/*.conv", "testdata/recorded/*.conv"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 20 {
		t.Fatalf("only %d conv files in testdata", len(files))
	}
	return files
}

// goldenExchange is the golden-file form of an exchange: messages are
// redacted (the captures' cached JSON holds real tokens).
type goldenExchange struct {
	ReqStart  string          `json:"req_start,omitempty"`
	ReqEnd    string          `json:"req_end,omitempty"`
	RespStart string          `json:"resp_start,omitempty"`
	RespEnd   string          `json:"resp_end,omitempty"`
	Truncated bool            `json:"truncated,omitempty"`
	Notes     []string        `json:"notes,omitempty"`
	Request   decoder.Message `json:"request,omitempty"`
	Response  decoder.Message `json:"response,omitempty"`
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func render(t testing.TB, exs []*decoder.Exchange) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, e := range exs {
		g := goldenExchange{
			ReqStart: stamp(e.ReqStart), ReqEnd: stamp(e.ReqEnd),
			RespStart: stamp(e.RespStart), RespEnd: stamp(e.RespEnd),
			Truncated: e.Truncated, Notes: e.Notes,
		}
		if e.Request != nil {
			g.Request = e.Request.Redacted()
		}
		if e.Response != nil {
			g.Response = e.Response.Redacted()
		}
		j, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// goldenOpts keeps golden files small; TestTruth checks full values.
var goldenOpts = Options{MaxValue: 160}

// TestGolden compares the exchanges of every conversation with
// testdata/golden/<name>.jsonl (rewrite with -update, review in git diff).
func TestGolden(t *testing.T) {
	for _, f := range convFiles(t) {
		name := strings.TrimSuffix(filepath.Base(f), ".conv")
		if strings.HasPrefix(f, "testdata/recorded/") {
			name = "recorded-" + name
		}
		t.Run(name, func(t *testing.T) {
			got := render(t, readConv(t, f).run(goldenOpts, 0))
			path := filepath.Join("testdata", "golden", name+".jsonl")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if d := firstDiff(want, got); d != "" {
				t.Errorf("%s differs from the golden file (-update rewrites it):\n%s", path, d)
			}
		})
	}
}

// firstDiff reports the first differing line of two outputs.
func firstDiff(want, got []byte) string {
	wl := strings.Split(string(want), "\n")
	gl := strings.Split(string(got), "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\nwant %s\ngot  %s", i+1, w, g)
		}
	}
	return ""
}

// TestSplits feeds every conversation in pieces of many sizes, as TCP
// segments may cut it anywhere: the exchanges must not change.
func TestSplits(t *testing.T) {
	splits := []int{1, 2, 3, 7, 24, 100, 1447}
	if testing.Short() {
		splits = []int{1, 7}
	}
	for _, f := range convFiles(t) {
		c := readConv(t, f)
		want := render(t, c.run(Options{}, 0))
		for _, n := range splits {
			if got := render(t, c.run(Options{}, n)); !bytes.Equal(got, want) {
				t.Errorf("%s split %d:\n%s", f, n, firstDiff(want, got))
			}
		}
	}
}

// truthRow is one row of tshark's memcache decode of a stream.
type truthRow struct {
	frame    string
	t        time.Time
	command  string
	key      string
	flags    string
	exptime  string
	response string
	length   string
}

func readTruth(t *testing.T, path string) []truthRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []truthRow
	sc := bufio.NewScanner(f)
	for n := 0; sc.Scan(); n++ {
		c := strings.Split(sc.Text(), "\t")
		if n == 0 {
			continue
		}
		if len(c) != 14 || strings.Contains(sc.Text(), "|") {
			t.Fatalf("%s: unexpected row %q", path, sc.Text())
		}
		ts, err := decodertest.ParseEpoch(c[1])
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, truthRow{frame: c[0], t: ts, command: c[8], key: c[9], flags: c[10],
			exptime: c[11], response: c[12], length: c[13]})
	}
	return rows
}

// TestTruth checks every lab-capture connection against tshark: same
// commands, keys, flags, expiry, sizes, replies and times; values of the
// 1980-byte token JSON kept whole with the default MaxValue.
func TestTruth(t *testing.T) {
	files, _ := filepath.Glob("testdata/streams/*.conv")
	if len(files) < 15 {
		t.Fatalf("only %d stream files", len(files))
	}
	var gets, hits, misses, sets, stored int
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			exs := readConv(t, f).run(Options{}, 0)
			rows := readTruth(t, strings.TrimSuffix(f, ".conv")+".truth.tsv")
			i := -1
			for _, r := range rows {
				if r.command != "" {
					i++
				}
				if i < 0 || i >= len(exs) {
					t.Fatalf("frame %s: no exchange %d (have %d)", r.frame, i, len(exs))
				}
				e := exs[i]
				req, _ := e.Request.(*Request)
				resp, _ := e.Response.(*Response)
				if req == nil {
					t.Fatalf("frame %s: exchange %d has no request", r.frame, i)
				}
				switch {
				case r.command != "":
					if req.Command != r.command || len(req.Keys) != 1 || req.Keys[0] != r.key {
						t.Errorf("frame %s: request %s, tshark %s %s", r.frame, req.Summary(), r.command, r.key)
					}
					if !e.ReqStart.Equal(r.t) {
						t.Errorf("frame %s: ReqStart %v, frame time %v", r.frame, e.ReqStart, r.t)
					}
					if r.command == "get" {
						gets++
					}
					if r.command == "set" {
						sets++
						if got := fmt.Sprint(*req.Flags, " ", *req.Exptime, " ", *req.Bytes); got != r.flags+" "+r.exptime+" "+r.length {
							t.Errorf("frame %s: set flags/exptime/bytes %s, tshark %s %s %s", r.frame, got, r.flags, r.exptime, r.length)
						}
						if !e.Truncated && len(req.Value) != 1980 {
							t.Errorf("frame %s: set value %d bytes kept, want 1980", r.frame, len(req.Value))
						}
						if !e.Truncated && !json.Valid([]byte(req.Value)) {
							t.Errorf("frame %s: set value is not the JSON sent", r.frame)
						}
					}
					continue
				case resp == nil:
					t.Errorf("frame %s: %s has no response", r.frame, req.Summary())
					continue
				case r.response == "END":
					misses++
					if resp.Result != "miss" {
						t.Errorf("frame %s: result %q, tshark END", r.frame, resp.Result)
					}
				case r.response == "STORED":
					stored++
					if resp.Result != "stored" {
						t.Errorf("frame %s: result %q, tshark STORED", r.frame, resp.Result)
					}
				case r.key != "": // VALUE line
					hits++
					n, _ := strconv.ParseInt(r.length, 10, 64)
					if resp.Result != "hit" || len(resp.Values) != 1 || resp.Values[0].Key != r.key ||
						resp.Values[0].Bytes != n || int64(len(resp.Values[0].Data)) != n ||
						len(resp.Hits) != 1 || resp.Hits[0] != r.key || !json.Valid([]byte(resp.Values[0].Data)) {
						t.Errorf("frame %s: %s, tshark VALUE %s %s", r.frame, resp.Summary(), r.key, r.length)
					}
				default:
					t.Fatalf("frame %s: unhandled truth row %+v", r.frame, r)
				}
				if !e.RespStart.Equal(r.t) {
					t.Errorf("frame %s: RespStart %v, frame time %v", r.frame, e.RespStart, r.t)
				}
				// snaplen 256 cut the set's data block: a gap inside it
				snapped := strings.HasPrefix(f, "testdata/streams/snaplen-truncated") && req.Command == "set"
				if e.Truncated != snapped {
					t.Errorf("frame %s: truncated %v %v", r.frame, e.Truncated, e.Notes)
				}
			}
			if i+1 != len(exs) {
				t.Errorf("%d exchanges, tshark has %d commands", len(exs), i+1)
				for _, e := range exs {
					t.Log(describe(e))
				}
			}
		})
	}
	// Totals over the committed captures (long-mixed-head adds to them).
	t.Logf("gets %d (hits %d, misses %d), sets %d (stored %d)", gets, hits, misses, sets, stored)
	if gets != hits+misses || sets != stored {
		t.Errorf("gets %d != hits %d + misses %d, or sets %d != stored %d", gets, hits, misses, sets, stored)
	}
}

// TestWarmCache is NOTES.md's warm-cache scenario: four gets of one token
// key on two glance workers' connections, 1 miss then 3 hits, 1 set; the
// hits return exactly the JSON that was stored.
func TestWarmCache(t *testing.T) {
	var all []*decoder.Exchange
	for _, f := range []string{"testdata/streams/warm-cache.s5.conv", "testdata/streams/warm-cache.s11.conv"} {
		all = append(all, readConv(t, f).run(Options{}, 0)...)
	}
	var got []string
	var stored string
	for _, e := range all {
		got = append(got, describe(e))
		req := e.Request.(*Request)
		resp := e.Response.(*Response)
		if req.Command == "set" {
			stored = req.Value
		}
		if resp.Result == "hit" && resp.Values[0].Data != stored {
			t.Errorf("hit data differs from the stored value")
		}
		if e.RespStart.Before(e.ReqEnd) || e.ReqEnd.Before(e.ReqStart) || e.RespEnd.Before(e.RespStart) {
			t.Errorf("times out of order: %v %v %v %v", e.ReqStart, e.ReqEnd, e.RespStart, e.RespEnd)
		}
	}
	want := []string{
		"get tokens/3351… => miss",
		"set tokens/3351… 1980B => STORED",
		"get tokens/3351… => hit 1980B",
		"get tokens/3351… => hit 1980B",
		"get tokens/3351… => hit 1980B",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(stored) != 1980 || !json.Valid([]byte(stored)) {
		t.Errorf("stored value: %d bytes, valid JSON %v", len(stored), json.Valid([]byte(stored)))
	}
}

// TestRedactedRealToken: keystonemiddleware caches the validation JSON
// whose auth_token is the token itself (the key is tokens/ + its
// SHA-256). Redacted must replace it by its fingerprint and leave the
// original alone.
func TestRedactedRealToken(t *testing.T) {
	exs := readConv(t, "testdata/streams/warm-cache.s5.conv").run(Options{}, 0)
	for _, e := range exs[1:3] { // the set and the hit
		var data string
		var redacted string
		key := ""
		switch m := e.Request.(*Request); m.Command {
		case "set":
			data, key = m.Value, m.Keys[0]
			redacted = e.Request.Redacted().(*Request).Value
		case "get":
			resp := e.Response.(*Response)
			data, key = resp.Values[0].Data, resp.Values[0].Key
			red := e.Response.Redacted().(*Response)
			redacted = red.Values[0].Data
			if red == resp {
				t.Fatal("Response.Redacted returned the receiver for a value holding a token")
			}
		}
		var v struct {
			Token struct {
				AuthToken string `json:"auth_token"`
			} `json:"token"`
		}
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			t.Fatal(err)
		}
		tok := v.Token.AuthToken
		if len(tok) != 183 || !strings.HasPrefix(tok, "gAAAAA") {
			t.Fatalf("auth_token is %d bytes", len(tok))
		}
		fp := decoder.Fingerprint(tok)
		if "tokens/"+strings.TrimPrefix(fp, "sha256:") != key[:len("tokens/")+8] {
			t.Errorf("fingerprint %s does not prefix key %s", fp, key)
		}
		if strings.Contains(redacted, tok[:40]) || !strings.Contains(redacted, `"auth_token": "`+fp+`"`) {
			t.Errorf("token not replaced by %s", fp)
		}
		if !json.Valid([]byte(redacted)) {
			t.Error("redacted JSON is not valid")
		}
		if !strings.Contains(data, tok) {
			t.Error("Redacted changed the original")
		}
	}
	// A get has no value: Redacted returns the receiver.
	if exs[0].Request.Redacted() != exs[0].Request || exs[0].Response.Redacted() != exs[0].Response {
		t.Error("Redacted copied a message without secrets")
	}
	// A token cut by MaxValue is not shown in part either.
	cut := readConv(t, "testdata/streams/warm-cache.s5.conv").run(Options{MaxValue: 1900}, 0)
	v := cut[1].Request.Redacted().(*Request).Value
	if !strings.Contains(v[len(v)-30:], `"sha256:`) || strings.Contains(v, "gAAAAAB") {
		t.Errorf("cut token: value ends %q", v[len(v)-40:])
	}
}
