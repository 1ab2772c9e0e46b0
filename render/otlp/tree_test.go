package otlp

import (
	"bytes"
	"strings"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// printedBoth prints m as Write does (tree) and through protojson, the
// official mapping (roundTrip), each at indent.
func printedBoth(t *testing.T, m proto.Message, indent int) (direct, official string) {
	t.Helper()
	var a, b bytes.Buffer
	if err := printed(&a, m, indent); err != nil {
		t.Fatal(err)
	}
	v, err := roundTrip(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := pretty(&b, v, indent); err != nil {
		t.Fatal(err)
	}
	return a.String(), b.String()
}

// TestTreeIsProtojson: every span, resource and scope of every golden
// capture prints the same read through reflection (tree) as marshalled
// by protojson and read back, with ids in hex: the mapping flowmap wrote
// by hand is the official one.
func TestTreeIsProtojson(t *testing.T) {
	spans := 0
	for _, c := range models.Goldens(t) {
		rs := resourceSpans(c.Model, Options{Version: "1.2.3"})
		for _, r := range rs {
			if d, o := printedBoth(t, r.Resource, 6); d != o {
				t.Fatalf("%s: resource:\n%s\nprotojson:\n%s", c.Name, d, o)
			}
			for _, ss := range r.ScopeSpans {
				if d, o := printedBoth(t, ss.Scope, 10); d != o {
					t.Fatalf("%s: scope:\n%s\nprotojson:\n%s", c.Name, d, o)
				}
				for _, sp := range ss.Spans {
					spans++
					if _, ok := message(sp.ProtoReflect()); !ok {
						t.Fatalf("%s: span %q took protojson's round trip: the comparison would be with itself", c.Name, sp.Name)
					}
					if d, o := printedBoth(t, sp, spanIndent); d != o {
						t.Fatalf("%s: span %q:\n%s\nprotojson:\n%s", c.Name, sp.Name, d, o)
					}
				}
			}
		}
		if d, o := printedBoth(t, &tracepb.TracesData{ResourceSpans: rs}, 0); d != o {
			t.Fatalf("%s: the whole document differs from protojson's", c.Name)
		}
	}
	if spans < 1000 {
		t.Fatalf("only %d spans compared", spans)
	}
}

// TestTreeRareValues: what flowmap's spans do not hold is mapped as
// protojson maps it: a link's ids in hex, bytes in base64, every integer
// kind, empty strings and lists, and a double, which takes protojson's
// own formatting (the round trip).
func TestTreeRareValues(t *testing.T) {
	kv := func(k string, v *commonpb.AnyValue) *commonpb.KeyValue { return &commonpb.KeyValue{Key: k, Value: v} }
	sp := &tracepb.Span{
		TraceId: []byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, SpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8},
		Name: "", Kind: tracepb.Span_SPAN_KIND_CONSUMER, StartTimeUnixNano: 1<<63 + 5, Flags: 1<<32 - 1,
		DroppedAttributesCount: 7,
		Attributes: []*commonpb.KeyValue{
			kv("bytes", &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte("\x00\xff<&>")}}),
			kv("int", &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: -1 << 63}}),
			kv("empty", &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: ""}}),
			kv("array", &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{}}}),
			kv("kv", &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{kv("b", nil), kv("a", &commonpb.AnyValue{})}}}}),
		},
		Links: []*tracepb.Span_Link{{TraceId: []byte{0xab, 0xcd}, SpanId: []byte{0xef}, TraceState: "x=1"}},
	}
	d, o := printedBoth(t, sp, 0)
	if d != o {
		t.Fatalf("tree:\n%s\nprotojson:\n%s", d, o)
	}
	for _, want := range []string{`"traceId": "abcd"`, `"bytesValue": "AP88Jj4="`, `"startTimeUnixNano": "9223372036854775813"`, `"flags": 4294967295`} {
		if !strings.Contains(d, want) {
			t.Errorf("no %s in\n%s", want, d)
		}
	}
	if _, ok := message(sp.ProtoReflect()); !ok {
		t.Error("a span without a double was not mapped directly")
	}
	sp.Attributes = append(sp.Attributes, kv("double", &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 1e21}}))
	if _, ok := message(sp.ProtoReflect()); ok {
		t.Fatal("a double was mapped directly, not by protojson")
	}
	if d, o := printedBoth(t, sp, 0); d != o || !strings.Contains(d, `"doubleValue": 1e+21`) {
		t.Fatalf("tree:\n%s\nprotojson:\n%s", d, o)
	}
}
