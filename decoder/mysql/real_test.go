package mysql

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// realStreams are TCP streams of the committed captures (testdata/extract.sh).
var realStreams = []struct {
	name    string
	capture string
	stream  int
	login   bool // the capture holds the connection's start
}{
	{"seed-image-list-2", "seed-image-list", 2, true},
	{"seed-image-list-7", "seed-image-list", 7, true},
	{"seed-image-list-9", "seed-image-list", 9, true},
	{"concurrent-43", "concurrent", 43, true},
	{"concurrent-44", "concurrent", 44, false},
	{"keystone-only-1", "keystone-only", 1, false},
	{"keystone-only-3", "keystone-only", 3, false},
}

// TestRealStreamsMatchTruth decodes real connections and checks logins,
// commands and query texts against tshark's truth, row by row.
func TestRealStreamsMatchTruth(t *testing.T) {
	for _, rs := range realStreams {
		t.Run(rs.name, func(t *testing.T) {
			chunks := loadStream(t, rs.name)
			truth, greetings := loadTruth(t, rs.capture, rs.stream)
			xs := decode(chunks, rs.login, Options{}, nil)
			if len(xs) != len(truth) {
				t.Fatalf("%d exchanges, truth has %d client rows\n%s", len(xs), len(truth), strings.Join(dump(xs), "\n"))
			}
			for i, x := range xs {
				r, tr := req(x), truth[i]
				if tr.command == "login" {
					if r.Command != "login" || r.User != tr.user || !r.UserKnown || r.Database != tr.schema || r.Plugin != tr.plugin {
						t.Errorf("exchange %d: got %+v, truth %+v", i, r, tr)
					}
					if r.ServerVersion != "5.5.5-10.11.19-MariaDB-0+deb12u1" || r.ConnectionID == 0 {
						t.Errorf("login: server version %q, connection id %d", r.ServerVersion, r.ConnectionID)
					}
					if !slices.Contains(r.ClientAttrs, [2]string{"_client_name", "pymysql"}) {
						t.Errorf("login: attrs %v", r.ClientAttrs)
					}
					if p := resp(x); p == nil || p.Result != "ok" {
						t.Errorf("login: response %+v", p)
					}
					continue
				}
				if cmdNumber(r.Command) != tr.command || r.Query != tr.query {
					t.Errorf("exchange %d: got %s %q, truth %s %q", i, r.Command, cut(r.Query), tr.command, cut(tr.query))
				}
				if r.UserKnown != rs.login {
					t.Errorf("exchange %d: UserKnown %v", i, r.UserKnown)
				}
				if rs.login && (r.User != truth[0].user || r.Database != truth[0].schema) {
					t.Errorf("exchange %d: user %q db %q", i, r.User, r.Database)
				}
				p := resp(x)
				switch {
				case r.Command == "COM_QUIT":
					if p != nil || x.Truncated {
						t.Errorf("exchange %d: COM_QUIT with response %+v truncated %v", i, p, x.Truncated)
					}
				case p == nil || x.Truncated:
					// only the last exchange may be cut by the end of the capture
					if i != len(xs)-1 {
						t.Errorf("exchange %d truncated or without response: %s", i, dump(xs[i:i+1]))
					}
				case p.Result == "error":
					t.Errorf("exchange %d: error %+v (no errors in the captures)", i, p)
				}
			}
			if rs.login && greetings != 1 {
				t.Errorf("truth has %d greetings", greetings)
			}
		})
	}
}

// TestRealStreamsAnySplit feeds the same bytes cut at random places and one
// byte at a time: the exchanges must not change.
func TestRealStreamsAnySplit(t *testing.T) {
	for _, rs := range realStreams {
		t.Run(rs.name, func(t *testing.T) {
			chunks := loadStream(t, rs.name)
			want := dump(decode(chunks, rs.login, Options{}, nil))
			rng := rand.New(rand.NewPCG(1, uint64(len(chunks))))
			random := func(n int) []int {
				var out []int
				for n > 0 {
					k := min(n, 1+rng.IntN(40))
					out = append(out, k)
					n -= k
				}
				return out
			}
			ones := func(n int) []int {
				out := make([]int, n)
				for i := range out {
					out[i] = 1
				}
				return out
			}
			for name, split := range map[string]func(int) []int{"random": random, "bytes": ones} {
				got := dump(decode(chunks, rs.login, Options{}, split))
				if d := firstDiff(got, want); d != "" {
					t.Errorf("%s split: %s", name, d)
				}
			}
		})
	}
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return "exchange " + itoa(i) + ":\n got  " + got[i] + "\n want " + want[i]
		}
	}
	if len(got) != len(want) {
		return "got " + itoa(len(got)) + " exchanges, want " + itoa(len(want))
	}
	return ""
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestRealStreamsMidStream starts decoding at every 7th segment of a real
// connection, as if the capture began there: every exchange decoded must
// be one of the truth's commands, in order, with at most the commands
// whose bytes were cut missing at the start.
func TestRealStreamsMidStream(t *testing.T) {
	for _, rs := range realStreams {
		t.Run(rs.name, func(t *testing.T) {
			chunks := loadStream(t, rs.name)
			truth, _ := loadTruth(t, rs.capture, rs.stream)
			for start := 1; start < len(chunks); start += 7 {
				xs := decode(chunks[start:], false, Options{}, nil)
				// commands fully after start
				var rest []truthRow
				for _, tr := range truth {
					if tr.command != "login" {
						rest = append(rest, tr)
					}
				}
				if len(xs) > len(rest) {
					t.Fatalf("start %d: %d exchanges, more than the %d commands", start, len(xs), len(rest))
				}
				off := len(rest) - len(xs)
				for i, x := range xs {
					r, tr := req(x), rest[off+i]
					if r.Command == "login" || r.UserKnown {
						t.Errorf("start %d: exchange %d: %+v", start, i, r)
					}
					if cmdNumber(r.Command) != tr.command || r.Query != tr.query {
						t.Errorf("start %d: exchange %d: got %s %q, truth %s %q", start, i, r.Command, cut(r.Query), tr.command, cut(tr.query))
						break
					}
				}
				// Nothing but the commands cut by the start may be lost.
				if start < len(chunks)-1 {
					lost := 0
					for _, ch := range chunks[:start] {
						if ch.dir == client {
							lost++
						}
					}
					if off > lost+1 {
						t.Errorf("start %d: %d commands lost, %d client segments skipped", start, off, lost)
					}
				}
			}
		})
	}
}
