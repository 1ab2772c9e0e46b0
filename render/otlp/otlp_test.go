package otlp

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/internal/golden"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/internal/modeltest"
	"github.com/flowmap/flowmap/internal/truth"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.otlp.json")

// models decodes each testdata capture once, the way flowmap does.
var models modeltest.Cache

// capture is a testdata capture's model and the span of its exchanges.
type capture struct {
	m           *flow.Model
	first, last time.Time
}

// load builds the model of a testdata capture the way `flowmap trace`
// does, from the exchanges cache decoded.
func load(t *testing.T, cache *modeltest.Cache, name string) capture {
	t.Helper()
	exs := cache.Exchanges(t, name)
	c := capture{m: flow.Build(exs, flow.Options{})}
	for _, e := range exs {
		if c.first.IsZero() || e.Start().Before(c.first) {
			c.first = e.Start()
		}
		if e.End().After(c.last) {
			c.last = e.End()
		}
	}
	return c
}

func render(t *testing.T, m *flow.Model) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, m, Options{}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func nodes(m *flow.Model) []*flow.Node {
	var out []*flow.Node
	m.Walk(func(n *flow.Node, _ int) { out = append(out, n) })
	return out
}

// decode reads OTLP/JSON the way the OpenTelemetry collector does: hex ids
// turned back into protobuf's base64, then protojson with unknown fields
// refused. It checks on the way that every id is lowercase hex of the
// right length and that every key is lowerCamelCase.
func decode(t *testing.T, out []byte) *collectorpb.ExportTraceServiceRequest {
	t.Helper()
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	checkKeys(t, v)
	sizes := map[string]int{"traceId": 16, "spanId": 8, "parentSpanId": 8}
	for _, rs := range list(v["resourceSpans"]) {
		for _, ss := range list(obj(rs)["scopeSpans"]) {
			for _, sp := range list(obj(ss)["spans"]) {
				o := obj(sp)
				for k, size := range sizes {
					s, ok := o[k].(string)
					if !ok {
						if k != "parentSpanId" {
							t.Fatalf("span without %s: %v", k, o)
						}
						continue
					}
					raw, err := hex.DecodeString(s)
					if err != nil || len(raw) != size || strings.ToLower(s) != s {
						t.Fatalf("%s %q is not %d bytes of lowercase hex", k, s, size)
					}
					o[k] = base64.StdEncoding.EncodeToString(raw)
				}
			}
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	req := &collectorpb.ExportTraceServiceRequest{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(b, req); err != nil {
		t.Fatalf("not an ExportTraceServiceRequest: %v", err)
	}
	return req
}

// checkKeys fails on a snake_case key or an enum written as a name.
func checkKeys(t *testing.T, v any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if strings.Contains(k, "_") {
				t.Fatalf("key %q is not lowerCamelCase", k)
			}
			if s, ok := e.(string); ok && (k == "kind" || k == "code") {
				t.Fatalf("enum %s written as %q, not an integer", k, s)
			}
			checkKeys(t, e)
		}
	case []any:
		for _, e := range x {
			checkKeys(t, e)
		}
	}
}

func attr(kvs []*commonpb.KeyValue, key string) (*commonpb.AnyValue, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

func strAttr(kvs []*commonpb.KeyValue, key string) string {
	v, _ := attr(kvs, key)
	return v.GetStringValue()
}

// TestValid: on every capture the output is an ExportTraceServiceRequest
// the collector accepts, with one span per node, unique ids, parents in
// their own trace, one trace per session, one resource per serving
// participant, and times inside the capture.
func TestValid(t *testing.T) {
	for _, name := range truth.Captures() {
		t.Run(name, func(t *testing.T) {
			c := load(t, &models, name)
			ns := nodes(c.m)
			req := decode(t, render(t, c.m))
			spans := map[string]*tracepb.Span{} // span id -> span
			inTrace := map[string]map[string]bool{}
			services := map[string]bool{}
			errs := 0
			for _, rs := range req.ResourceSpans {
				svc := strAttr(rs.Resource.GetAttributes(), "service.name")
				if svc == "" || services[svc] {
					t.Errorf("resource service.name %q empty or repeated", svc)
				}
				services[svc] = true
				for _, ss := range rs.ScopeSpans {
					if ss.Scope.GetName() != ScopeName {
						t.Errorf("scope %q", ss.Scope.GetName())
					}
					if len(ss.Spans) == 0 {
						t.Errorf("%s: empty scope", svc)
					}
					for _, sp := range ss.Spans {
						id := string(sp.SpanId)
						if spans[id] != nil {
							t.Errorf("span id %x twice", sp.SpanId)
						}
						spans[id] = sp
						tr := string(sp.TraceId)
						if inTrace[tr] == nil {
							inTrace[tr] = map[string]bool{}
						}
						inTrace[tr][id] = true
						if sp.Kind != tracepb.Span_SPAN_KIND_SERVER {
							t.Errorf("span %q kind %v", sp.Name, sp.Kind)
						}
						if sp.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR {
							errs++
							if sp.Status.Message == "" {
								t.Errorf("span %q: error without a message", sp.Name)
							}
						}
						start, end := sp.StartTimeUnixNano, sp.EndTimeUnixNano
						if start > end || start < uint64(c.first.UnixNano()) || end > uint64(c.last.UnixNano()) {
							t.Errorf("span %q: %d..%d outside the capture %d..%d", sp.Name, start, end, c.first.UnixNano(), c.last.UnixNano())
						}
					}
				}
			}
			if len(spans) != len(ns) {
				t.Errorf("%d spans for %d nodes", len(spans), len(ns))
			}
			for _, sp := range spans {
				if len(sp.ParentSpanId) > 0 && !inTrace[string(sp.TraceId)][string(sp.ParentSpanId)] {
					t.Errorf("span %q: parent %x not in trace %x", sp.Name, sp.ParentSpanId, sp.TraceId)
				}
			}
			if len(ns) > 0 && len(inTrace) != c.m.Sessions {
				t.Errorf("%d traces for %d sessions", len(inTrace), c.m.Sessions)
			}
			failed := 0
			serving := map[string]bool{}
			for _, n := range ns {
				if n.Outcome == flow.Failed || n.Outcome == flow.Lost {
					failed++
				}
				serving[n.ToP().Name] = true
			}
			if errs != failed {
				t.Errorf("%d error spans for %d failed nodes", errs, failed)
			}
			if len(serving) != len(services) {
				t.Errorf("services %v, serving participants %v", services, serving)
			}
			for s := range serving {
				if !services[s] {
					t.Errorf("serving participant %q has no resource", s)
				}
			}
		})
	}
}

// TestMapping: each node's span carries its facts: ids and parent from
// the tree, trace from its session, the attribute set of its family.
func TestMapping(t *testing.T) {
	for _, name := range truth.Captures() {
		t.Run(name, func(t *testing.T) {
			c := load(t, &models, name)
			ids := newIDs(c.m)
			bursts := burstsOf(c.m)
			byID := map[string]*tracepb.Span{}
			resourceOf := map[string]string{}
			for _, rs := range decode(t, render(t, c.m)).ResourceSpans {
				for _, ss := range rs.ScopeSpans {
					for _, sp := range ss.Spans {
						byID[string(sp.SpanId)] = sp
						resourceOf[string(sp.SpanId)] = strAttr(rs.Resource.GetAttributes(), "service.name")
					}
				}
			}
			families := map[family]int{}
			var root *flow.Node
			c.m.Walk(func(n *flow.Node, depth int) {
				if depth == 0 {
					root = n
				}
				sp := byID[string(ids.span[n])]
				if sp == nil {
					t.Fatalf("no span for %s", n.Summary)
				}
				if got := resourceOf[string(sp.SpanId)]; got != n.To {
					t.Errorf("%s: under %q, want the server %q", n.Summary, got, n.To)
				}
				if !bytes.Equal(sp.TraceId, ids.trace[root]) {
					t.Errorf("%s: not in its root's trace", n.Summary)
				}
				if p := n.Parent(); p != nil && !bytes.Equal(sp.ParentSpanId, ids.span[p]) || p == nil && len(sp.ParentSpanId) != 0 {
					t.Errorf("%s: parent span %x", n.Summary, sp.ParentSpanId)
				}
				if sp.StartTimeUnixNano != uint64(n.Start.UnixNano()) || sp.EndTimeUnixNano != uint64(n.End.UnixNano()) {
					t.Errorf("%s: times %d..%d, want %v..%v", n.Summary, sp.StartTimeUnixNano, sp.EndTimeUnixNano, n.Start, n.End)
				}
				a := sp.Attributes
				if strAttr(a, "flowmap.role") != string(n.Role) || strAttr(a, "flowmap.outcome") != string(n.Outcome) {
					t.Errorf("%s: role/outcome %q/%q", n.Summary, strAttr(a, "flowmap.role"), strAttr(a, "flowmap.outcome"))
				}
				if strAttr(a, "flowmap.token") != n.Token || strAttr(a, "flowmap.subject_token") != n.SubjectToken {
					t.Errorf("%s: token attributes %q %q", n.Summary, strAttr(a, "flowmap.token"), strAttr(a, "flowmap.subject_token"))
				}
				v, ok := attr(a, "db.operation.batch.size")
				if b := bursts[n]; b.size > 1 != ok || ok && v.GetIntValue() != int64(b.size) {
					t.Errorf("%s: batch size %v, burst %d", n.Summary, v, b.size)
				}
				f := familyOf(n)
				families[f]++
				switch f {
				case api:
					if n.Op != "" && strAttr(a, "http.request.method") != n.Op {
						t.Errorf("%s: method %q", n.Summary, strAttr(a, "http.request.method"))
					}
					path, _, _ := strings.Cut(n.Target, "?")
					if strAttr(a, "url.path") != path {
						t.Errorf("%s: url.path %q", n.Summary, strAttr(a, "url.path"))
					}
					if v, _ := attr(a, "http.response.status_code"); v.GetIntValue() != int64(n.Status) {
						t.Errorf("%s: status %v, want %d", n.Summary, v, n.Status)
					}
				case db:
					if strAttr(a, "db.system.name") != n.Proto || strAttr(a, "db.query.text") != n.Target || strAttr(a, "db.operation.name") != n.Op {
						t.Errorf("%s: db attributes %v", n.Summary, a)
					}
				case cache:
					if strAttr(a, "db.operation.name") != n.Op || strAttr(a, "flowmap.cache.result") != n.Result {
						t.Errorf("%s: cache attributes %v", n.Summary, a)
					}
				}
			})
			if name == "seed-image-save.cut" && (families[api] == 0 || families[db] == 0 || families[cache] == 0) {
				t.Errorf("the seed capture should have API, DB and cache nodes: %v", families)
			}
		})
	}
}

// TestDeterministic: the same capture, decoded and correlated twice, gives
// the same bytes, and so does writing one model twice.
func TestDeterministic(t *testing.T) {
	for _, name := range []string{"seed-image-save.cut", "concurrent"} {
		var again modeltest.Cache // decode afresh
		a := render(t, load(t, &models, name).m)
		b := render(t, load(t, &again, name).m)
		if !bytes.Equal(a, b) {
			line, x, y := golden.FirstDiff(string(a), string(b))
			t.Errorf("%s: two runs differ at line %d:\n%s\n%s", name, line, x, y)
		}
		m := load(t, &models, name).m
		if !bytes.Equal(render(t, m), render(t, m)) {
			t.Errorf("%s: two writes of one model differ", name)
		}
	}
}

// TestEmpty: a model without nodes is an empty request.
func TestEmpty(t *testing.T) {
	out := render(t, &flow.Model{})
	if strings.TrimSpace(string(out)) != "{}" {
		t.Errorf("got %s", out)
	}
	decode(t, out)
}

// goldenOTLP are the captures whose OTLP output is kept whole under
// testdata/golden (a person reads a golden file once): one session of HTTP
// only, and a failed login with its DB, cache and error spans. Every
// capture is checked by TestValid and TestMapping.
var goldenOTLP = []string{"seed-image-list.ens33", "auth-fail"}

// TestGoldenOTLP: the OTLP output of goldenOTLP matches
// testdata/golden/<capture>.otlp.json, rewritten with -update.
func TestGoldenOTLP(t *testing.T) {
	for _, name := range goldenOTLP {
		t.Run(name, func(t *testing.T) {
			out := render(t, load(t, &models, name).m)
			golden.Check(t, filepath.Join(truth.Root(), "testdata", "golden", name+".otlp.json"), out, *update, "run make golden")
		})
	}
}

// TestDuplicateExchanges: two nodes that look the same (same participants,
// start, operation and summary) still get two spans with their own ids, in
// the trace of their session; a node without participants is served by
// "unknown".
func TestDuplicateExchanges(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	node := func() *flow.Node {
		return &flow.Node{Proto: "x", Role: flow.RoleCall, Summary: "PING", Start: at, End: at.Add(time.Millisecond), Session: 1, Outcome: flow.OK}
	}
	m := &flow.Model{Roots: []*flow.Node{node(), node()}, Sessions: 1}
	req := decode(t, render(t, m))
	if len(req.ResourceSpans) != 1 || strAttr(req.ResourceSpans[0].Resource.GetAttributes(), "service.name") != "unknown" {
		t.Fatalf("resources: %v", req.ResourceSpans)
	}
	spans := req.ResourceSpans[0].ScopeSpans[0].Spans
	if len(spans) != 2 || bytes.Equal(spans[0].SpanId, spans[1].SpanId) || !bytes.Equal(spans[0].TraceId, spans[1].TraceId) {
		t.Fatalf("want two spans with their own ids in one trace: %v", spans)
	}
}

// TestUniqueClash: an id already taken is hashed again, and the result is
// still the same on every run.
func TestUniqueClash(t *testing.T) {
	ids := newIDState()
	first := unique(ids.takeSpan, "span", "a", 8)
	again := unique(ids.takeSpan, "span", "a", 8)
	if len(again) != 8 || bytes.Equal(first, again) {
		t.Fatalf("clash not resolved: %x %x", first, again)
	}
	ids = newIDState()
	ids.takeSpan(first)
	if b := unique(ids.takeSpan, "span", "a", 8); !bytes.Equal(b, again) {
		t.Errorf("resolution not deterministic: %x, then %x", again, b)
	}
}

// TestWriteString: writeString quotes as encoding/json's Encoder with
// SetEscapeHTML(false) does, on tricky strings and on 20,000 random ones
// (bytes of every kind: controls, quotes, HTML, invalid UTF-8, U+2028).
func TestWriteString(t *testing.T) {
	want := func(s string) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSuffix(b.String(), "\n")
	}
	cases := []string{"", "plain", `a"b\c`, "<a href='x'>&amp;</a>", "\b\f\n\r\t\x00\x1f\x7f", "é漢🙂", "\u2028\u2029", "\xff\xfe", "a\xc3", "\xed\xa0\x80"}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", `"`, `\`, "<", "&", "\x01", "\n", "\x7f", "é", "\u2028", "\u2029", "\xff", "\xc3", "🙂", "\ufffd"}
	for range 20000 {
		var sb strings.Builder
		for range r.IntN(12) {
			sb.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		cases = append(cases, sb.String())
	}
	for _, s := range cases {
		var b bytes.Buffer
		writeString(&b, s)
		if got, w := b.String(), want(s); got != w {
			t.Fatalf("writeString(%q) = %s, encoding/json %s", s, got, w)
		}
	}
}
