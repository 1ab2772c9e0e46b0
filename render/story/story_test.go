package story_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/decoder/memcache"
	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/internal/modeltest"
	"github.com/flowmap/flowmap/internal/truth"
	"github.com/flowmap/flowmap/render/mermaid"
	"github.com/flowmap/flowmap/render/otlp"
	"github.com/flowmap/flowmap/render/plantuml"
	"github.com/flowmap/flowmap/render/story"
)

var models modeltest.Cache

// TestEveryNodeInOneCall: on every capture, in both details, each node of
// the model stands in exactly one call, a reply (when there is one) stands
// for the same nodes, and every arrow has both ends.
func TestEveryNodeInOneCall(t *testing.T) {
	for _, name := range truth.Captures() {
		checkSteps(t, name, models.Model(t, name))
	}
}

// checkSteps checks the story of m in both details: each node in exactly
// one call, replies answering the innermost open call, arrows with both
// ends. A broker hop (Hop) stands for no node; a reply delivered by the
// broker comes from it.
func checkSteps(t *testing.T, name string, m *flow.Model) {
	t.Helper()
	nodes := 0
	m.Walk(func(*flow.Node, int) { nodes++ })
	for _, detail := range []string{story.Compact, story.Full} {
		st := story.Tell(m, story.Options{Detail: detail})
		seen := map[*flow.Node]int{}
		var open [][]*flow.Node // calls waiting for their reply
		for i, s := range st.Steps {
			if s.Hop {
				if s.From == nil || s.To == nil || len(s.Nodes) != 0 || s.Text == "" {
					t.Fatalf("%s %s step %d: bad hop %+v", name, detail, i, s)
				}
				continue
			}
			switch s.Kind {
			case story.Call:
				if s.From == nil || s.To == nil || len(s.Nodes) == 0 || s.Text == "" {
					t.Fatalf("%s %s step %d: incomplete call %+v", name, detail, i, s)
				}
				for _, n := range s.Nodes {
					seen[n]++
				}
				if !s.Folded {
					open = append(open, s.Nodes)
				}
			case story.Reply:
				if len(open) == 0 || !same(open[len(open)-1], s.Nodes) {
					t.Fatalf("%s %s step %d: reply %q does not answer the innermost open call", name, detail, i, s.Text)
				}
				open = open[:len(open)-1]
				n := s.Nodes[0]
				if s.From != n.ToP() && (n.BrokerP() == nil || s.From != n.BrokerP()) || s.To != n.FromP() {
					t.Errorf("%s %s step %d: reply goes %s → %s", name, detail, i, s.From.Name, s.To.Name)
				}
			case story.Note, story.Session:
				if s.From == nil || s.Text == "" || len(s.Nodes) != 0 {
					t.Errorf("%s %s step %d: bad note %+v", name, detail, i, s)
				}
			default:
				t.Errorf("%s %s step %d: kind %v", name, detail, i, s.Kind)
			}
		}
		if len(open) != 0 {
			t.Errorf("%s %s: %d calls never answered", name, detail, len(open))
		}
		if len(seen) != nodes {
			t.Errorf("%s %s: %d of %d nodes told", name, detail, len(seen), nodes)
		}
		for n, c := range seen {
			if c != 1 {
				t.Errorf("%s %s: %s told %d times", name, detail, n.Summary, c)
			}
		}
	}
}

func same(a, b []*flow.Node) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestFoldsByRoleAndKind: in compact detail a DB run is one call, whatever
// its size, and full detail has one call per node.
func TestFoldsByRoleAndKind(t *testing.T) {
	m := models.Model(t, "seed-image-save.cut")
	compact := story.Tell(m, story.Options{})
	full := story.Tell(m, story.Options{Detail: story.Full})
	folded := 0
	for _, s := range compact.Steps {
		if s.Kind == story.Call && s.Burst() > 1 {
			folded++
			for _, n := range s.Nodes {
				if n.ToP().Kind != flow.DB {
					t.Errorf("burst holds %s to %s", n.Summary, n.To)
				}
			}
		}
	}
	if folded < 5 {
		t.Errorf("%d folded bursts, want the seed's DB bursts folded", folded)
	}
	for _, s := range full.Steps {
		if s.Kind == story.Call && (s.Burst() != 1 || s.Folded) {
			t.Errorf("full detail folds: %q (%d nodes)", s.Text, s.Burst())
		}
	}
}

// kafka is a protocol flow has no story for.
type kafka struct{ what string }

func (k kafka) Summary() string           { return k.what }
func (k kafka) Redacted() decoder.Message { return k }

// madeUp is a model of two calls in a protocol flowmap does not know: one
// answered, one not.
func madeUp() *flow.Model {
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	c := &decoder.Conn{ID: 1, Client: netip.MustParseAddrPort("10.0.0.5:40000"), Server: netip.MustParseAddrPort("10.0.0.9:9092"), SawSYN: true}
	d := &decoder.Conn{ID: 2, Client: netip.MustParseAddrPort("10.0.0.5:40001"), Server: netip.MustParseAddrPort("10.0.0.9:9092"), SawSYN: true}
	return flow.Build([]*decoder.Exchange{
		{Proto: "kafka", Conn: c, Request: kafka{"Produce orders/0"}, Response: kafka{"offset 42"},
			ReqStart: t0, ReqEnd: t0.Add(time.Millisecond), RespStart: t0.Add(2 * time.Millisecond), RespEnd: t0.Add(3 * time.Millisecond)},
		{Proto: "kafka", Conn: d, Request: kafka{"Fetch orders/0"},
			ReqStart: t0.Add(time.Second), ReqEnd: t0.Add(time.Second + time.Millisecond)},
	}, flow.Options{})
}

// TestMadeUpProtocol: a protocol flowmap has no story for is drawn as a
// call and a reply with its outcome, by the story and by every printer;
// not as a DB burst, and not as "no response captured" when it was
// answered.
func TestMadeUpProtocol(t *testing.T) {
	m := madeUp()
	st := story.Tell(m, story.Options{})
	var got []string
	for _, s := range st.Steps {
		got = append(got, s.Kind.String()+" "+s.Text+map[bool]string{true: " (failed)"}[s.Failed])
	}
	want := []string{
		"call Produce orders/0", "reply offset 42 · 3 ms",
		"call Fetch orders/0", "reply no response captured (failed)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var ins, outs int
	m.Walk(func(n *flow.Node, _ int) {
		if n.Outcome == flow.OK {
			ins++
		}
		if n.Outcome == flow.InProgress {
			outs++
		}
	})
	if ins != 1 || outs != 1 {
		t.Errorf("outcomes: %d ok, %d in progress", ins, outs)
	}
	for _, p := range printers() {
		out := p.print(m)
		for _, bad := range []string{"queries", "rows", "login", "db.system", "db.query"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s draws the made-up protocol as DB work (%q):\n%s", p.name, bad, out)
			}
		}
		for _, w := range p.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: no %q in\n%s", p.name, w, out)
			}
		}
		if strings.Count(out, "no response captured") > p.unanswered {
			t.Errorf("%s: the answered call is drawn unanswered:\n%s", p.name, out)
		}
	}
}

type printer struct {
	name       string
	print      func(*flow.Model) string
	want       []string // what the output must contain
	unanswered int      // how often "no response captured" may appear
}

func printers() []printer {
	return []printer{
		{"mermaid", func(m *flow.Model) string { return mermaid.Render(m, mermaid.Options{}) },
			[]string{"H->>H2: Produce orders/0", "H2-->>H: offset 42", "H->>H2: Fetch orders/0", "H2--xH: no response captured"}, 1},
		{"plantuml", func(m *flow.Model) string { return plantuml.Render(m, plantuml.Options{}) },
			[]string{"H -> H2 : Produce orders/0", "H2 --> H : offset 42", "H -> H2 : Fetch orders/0", "H2 -->x H : no response captured"}, 1},
		{"otlp", func(m *flow.Model) string {
			var b strings.Builder
			if err := otlp.Write(&b, m, otlp.Options{}); err != nil {
				return err.Error()
			}
			return b.String()
		}, []string{`"name": "Produce orders/0"`, `"name": "Fetch orders/0"`,
			`{"key": "flowmap.role", "value": {"stringValue": "call"}}`,
			`{"key": "flowmap.outcome", "value": {"stringValue": "ok"}}`,
			`{"key": "flowmap.outcome", "value": {"stringValue": "in-progress"}}`}, 0},
	}
}

// TestRoutineCacheFolded: a service's own cache traffic about no token
// (keystone's oslo.cache, SHA-1 keys) is one call and one reply in compact
// detail, every operation in full.
func TestRoutineCacheFolded(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	c := &decoder.Conn{ID: 1, Client: netip.MustParseAddrPort("10.0.0.5:40000"), Server: netip.MustParseAddrPort("10.0.0.9:11211"), SawSYN: true}
	var exs []*decoder.Exchange
	for i, op := range []struct{ cmd, result string }{{"get", "miss"}, {"set", "stored"}, {"get", "miss"}, {"set", "stored"}, {"get", "hit"}} {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		req := &memcache.Request{Command: op.cmd, Keys: []string{"3f786850e387550fdab836ed7e6dc881de23001b"}}
		if op.cmd == "set" {
			n, zero := int64(120), int64(0)
			req.Bytes, req.Exptime = &n, &zero
		}
		exs = append(exs, &decoder.Exchange{Proto: "memcache", Conn: c, Request: req, Response: &memcache.Response{Result: op.result},
			ReqStart: at, ReqEnd: at.Add(100 * time.Microsecond), RespStart: at.Add(200 * time.Microsecond), RespEnd: at.Add(300 * time.Microsecond)})
	}
	m := flow.Build(exs, flow.Options{})
	compact := story.Tell(m, story.Options{})
	if len(compact.Steps) != 2 || compact.Steps[0].Text != "5 cache ops: 3 get, 2 set (4 ms)" || compact.Steps[1].Text != "2 miss, 2 stored, 1 hit" || compact.Steps[1].Failed {
		t.Errorf("compact: %+v", compact.Steps)
	}
	full := story.Tell(m, story.Options{Detail: story.Full})
	if len(full.Steps) != 10 || !strings.Contains(full.Steps[2].Text, "no expiry") || full.Steps[1].Failed {
		t.Errorf("full: %d steps, %q, miss failed %v", len(full.Steps), full.Steps[2].Text, full.Steps[1].Failed)
	}
}

// TestRevocationArrow: a token revocation names the token revoked and the
// one the caller presented, as a validation does.
func TestRevocationArrow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ex := func(id int, at float64, req *http.Request, resp *http.Response) *decoder.Exchange {
		start := t0.Add(time.Duration(at * float64(time.Second)))
		return &decoder.Exchange{Proto: "http", Request: req, Response: resp,
			Conn:     &decoder.Conn{ID: id, Client: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.100"), uint16(40000+id)), Server: netip.MustParseAddrPort("10.0.0.11:5000")},
			ReqStart: start, ReqEnd: start, RespStart: start.Add(time.Millisecond), RespEnd: start.Add(time.Millisecond)}
	}
	ua := [2]string{"User-Agent", "openstacksdk/1.0"}
	const revoked, caller = "gAAAAABrevoked0000000000000000000000000000000000000000000000", "gAAAAABcaller00000000000000000000000000000000000000000000000"
	login := func(id int, at float64, tok string) *decoder.Exchange {
		return ex(id, at, &http.Request{Method: "POST", Target: "/v3/auth/tokens", Headers: [][2]string{ua}},
			&http.Response{Status: 201, Headers: [][2]string{{"X-Subject-Token", tok}}})
	}
	m := flow.Build([]*decoder.Exchange{login(1, 0, revoked), login(2, 1, caller),
		ex(3, 2, &http.Request{Method: "DELETE", Target: "/v3/auth/tokens", Headers: [][2]string{ua, {"X-Auth-Token", caller}, {"X-Subject-Token", revoked}}}, &http.Response{Status: 204})}, flow.Options{})
	want := "DELETE /v3/auth/tokens · revoke token " + decoder.Fingerprint(revoked) + " (as token " + decoder.Fingerprint(caller) + ")"
	for _, s := range story.Tell(m, story.Options{}).Steps {
		if s.Kind == story.Call && strings.HasPrefix(s.Text, "DELETE") {
			if s.Text != want {
				t.Errorf("arrow %q, want %q", s.Text, want)
			}
			return
		}
	}
	t.Fatal("no arrow for the revocation")
}
