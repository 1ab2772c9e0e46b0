// Package otlp writes a flow.Model as OpenTelemetry traces in OTLP/JSON (an
// ExportTraceServiceRequest): one trace per client session, one span per node.
package otlp

// Shape of the output, decided once here:
//
//   - Trace: one per client session (Node.Session of the roots); every tree
//     of the session is in it.
//   - Span: one per node, so the span count is the node count. Its parent is
//     the span of Node.Parent.
//   - Resource: the participant that served the exchange (Node.ToP), with
//     service.name = its name. A span describes what the server did for one
//     exchange, so its kind is SERVER everywhere, DB and cache included: the
//     resource is the database or memcached itself, not an instrumented
//     client library. The calling side is on the span as flowmap.caller;
//     participants that only call (the CLI client) serve nothing and get no
//     resource, because OTLP senders should not send empty envelopes.
//   - Times: first byte of the request to last byte of the answer, as
//     captured (Node.Start, Node.End).
//   - Ids: derived from the exchange (see ids.go), so the same capture gives
//     the same ids and the same bytes.

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/render/story"
)

// Options tune the output.
type Options struct {
	// Version is flowmap's version, written as the instrumentation scope's
	// version; "" leaves it out (golden files stay stable).
	Version string
}

// ScopeName names the instrumentation scope of every span.
const ScopeName = "flowmap"

// SchemaURL is the OpenTelemetry semantic conventions version the
// attribute names follow.
const SchemaURL = "https://opentelemetry.io/schemas/1.37.0"

// Write writes m to w as one OTLP/JSON ExportTraceServiceRequest
// ({"resourceSpans": [...]}), following the OTLP JSON encoding: ids in
// lowercase hex, enums as integers, 64-bit integers as strings. Object keys
// are sorted and what fits on a line (an attribute) is on one line: the
// same model gives the same bytes. A model without nodes gives {}.
func Write(w io.Writer, m *flow.Model, opts Options) error {
	v, err := tree(&tracepb.TracesData{ResourceSpans: resourceSpans(m, opts)})
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := pretty(&out, v, 0); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = w.Write(out.Bytes())
	return err
}

// resourceSpans builds one ResourceSpans per serving participant, in the
// model's participant order, each holding its spans in tree order (depth
// first, session by session).
func resourceSpans(m *flow.Model, opts Options) []*tracepb.ResourceSpans {
	bursts := burstsOf(m)
	ids := newIDs(m)
	byPart := map[*flow.Participant][]*tracepb.Span{}
	var order []*flow.Participant // serving participants, first seen first
	session := 0
	m.Walk(func(n *flow.Node, depth int) {
		if depth == 0 {
			session = n.Session
		}
		p := n.ToP()
		if _, ok := byPart[p]; !ok {
			order = append(order, p)
		}
		byPart[p] = append(byPart[p], span(n, session, ids, bursts))
	})
	rank := map[*flow.Participant]int{}
	for i, p := range m.Participants {
		rank[p] = i
	}
	var out []*tracepb.ResourceSpans
	add := func(p *flow.Participant) {
		scope := &commonpb.InstrumentationScope{Name: ScopeName, Version: opts.Version}
		out = append(out, &tracepb.ResourceSpans{
			Resource:   resource(p),
			ScopeSpans: []*tracepb.ScopeSpans{{Scope: scope, Spans: byPart[p], SchemaUrl: SchemaURL}},
			SchemaUrl:  SchemaURL,
		})
	}
	for _, p := range m.Participants {
		if len(byPart[p]) > 0 {
			add(p)
		}
	}
	for _, p := range order { // serving participants the model does not list
		if _, listed := rank[p]; !listed {
			add(p)
		}
	}
	return out
}

// resource describes participant p; a nil p (a node without one) is an
// unnamed host.
func resource(p *flow.Participant) *resourcepb.Resource {
	if p == nil {
		return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("service.name", "unknown")}}
	}
	a := attrs{}
	a.str("service.name", p.Name)
	a.str("flowmap.participant.kind", string(p.Kind))
	if len(p.Addrs) > 0 {
		a.strs("flowmap.participant.addrs", p.Addrs)
	}
	return &resourcepb.Resource{Attributes: a}
}

// burst is the folded burst of DB work a node belongs to.
type burst struct{ size int }

// burstsOf finds the folded bursts the compact story tells: Call steps
// standing for several nodes.
func burstsOf(m *flow.Model) map[*flow.Node]burst {
	out := map[*flow.Node]burst{}
	for _, s := range story.Tell(m, story.Options{Detail: story.Compact}).Steps {
		if s.Kind != story.Call || s.Burst() < 2 {
			continue
		}
		for _, n := range s.Nodes {
			out[n] = burst{size: s.Burst()}
		}
	}
	return out
}

// family is the attribute set a node gets, chosen by role and by the kind
// of participant that serves it, never by protocol name.
type family uint8

const (
	api   family = iota // requests to a service: HTTP attributes
	db                  // database logins and queries
	cache               // cache lookups and stores
	files               // a service's file syscalls (strace): files.go
)

func familyOf(n *flow.Node) family {
	if n.IsFile() {
		return files
	}
	switch n.Role {
	case flow.RoleQuery, flow.RoleLogin:
		return db
	case flow.RoleCacheGet, flow.RoleCacheSet, flow.RoleCache:
		return cache
	}
	if p := n.ToP(); p != nil {
		switch p.Kind {
		case flow.DB:
			return db
		case flow.Cache:
			return cache
		}
	}
	return api
}

// span is node n of client session session.
func span(n *flow.Node, session int, ids *ids, bursts map[*flow.Node]burst) *tracepb.Span {
	s := &tracepb.Span{
		TraceId:           ids.trace[n],
		SpanId:            ids.span[n],
		Name:              spanName(n),
		Kind:              tracepb.Span_SPAN_KIND_SERVER,
		StartTimeUnixNano: unixNano(n.Start),
		EndTimeUnixNano:   unixNano(n.End),
		Attributes:        attributes(n, session, bursts[n]),
		Events:            events(n),
	}
	if s.EndTimeUnixNano < s.StartTimeUnixNano {
		s.EndTimeUnixNano = s.StartTimeUnixNano
	}
	if familyOf(n) == files {
		s.Kind = tracepb.Span_SPAN_KIND_INTERNAL // work inside the process
	}
	if p := n.Parent(); p != nil {
		s.ParentSpanId = ids.span[p]
	}
	if n.Ambiguous() {
		// the parent is a guess among these requests' spans
		var c []string
		for _, r := range n.CandidatesP() {
			c = append(c, hex.EncodeToString(ids.spanOf(r)))
		}
		a := attrs(s.Attributes)
		a.strs("flowmap.candidates", c)
		s.Attributes = a
	}
	if msg, failed := failure(n); failed {
		s.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: clean(msg)}
	}
	return s
}

// spanName is short and says what was asked: "GET /v2/images", "SELECT
// project" (the query's signature), "get".
func spanName(n *flow.Node) string {
	switch familyOf(n) {
	case db:
		if n.Signature != "" {
			return n.Signature
		}
		return story.Short(clean(n.Summary), 60)
	case cache:
		if n.Op != "" {
			return clean(n.Op)
		}
	case files:
	default:
		if n.Op != "" && n.Target != "" {
			path, _, _ := strings.Cut(n.Target, "?")
			return clean(n.Op + " " + path)
		}
	}
	return story.Short(clean(n.Summary), 80)
}

// attributes are n's facts under OpenTelemetry semantic convention names
// where one fits, flowmap.* otherwise.
func attributes(n *flow.Node, session int, b burst) []*commonpb.KeyValue {
	a := attrs{}
	a.str("flowmap.role", string(n.Role))
	a.str("flowmap.outcome", string(n.Outcome))
	if n.Placed != "" {
		a.str("flowmap.placed_by", string(n.Placed))
	}
	// A child's caller is the server of its parent span: said only where
	// the tree does not say it.
	if p := n.Parent(); p == nil {
		a.num("flowmap.session", int64(session))
		if n.SessionPlaced != "" {
			a.str("flowmap.session_placed_by", string(n.SessionPlaced))
			if n.SessionGuessed() {
				a.num("flowmap.sessions_in_progress", int64(n.SessionsInProgress))
			}
		}
		a.str("flowmap.caller", n.From)
	} else if p.To != n.From {
		a.str("flowmap.caller", n.From)
	}
	switch familyOf(n) {
	case api:
		a.str("network.protocol.name", n.Proto)
		if n.Op != "" {
			a.str("http.request.method", n.Op)
		}
		if n.Target != "" {
			path, query, hasQuery := strings.Cut(n.Target, "?")
			a.str("url.path", path)
			if hasQuery && query != "" {
				a.str("url.query", query) // redacted by flow with the shared policy
			}
		}
		if n.Status != 0 {
			a.num("http.response.status_code", int64(n.Status))
		}
		a.size("http.request.body.size", n.RequestBytes)
		a.size("http.response.body.size", n.ResponseBytes)
		if n.RequestType != "" {
			a.strs("http.request.header.content-type", []string{n.RequestType})
		}
		if n.ResponseType != "" {
			a.strs("http.response.header.content-type", []string{n.ResponseType})
		}
		if n.RequestChunked {
			a.flag("flowmap.request.chunked", true)
		}
	case db:
		a.str("db.system.name", n.System)
		a.str("db.operation.name", n.Op)
		if n.Signature != "" {
			a.str("db.query.summary", n.Signature)
		}
		// The SQL as the decoder kept it (redacted); a login or a bare
		// command has none, its summary is the span's name.
		if n.Target != "" {
			a.str("db.query.text", n.Target)
		}
		if n.Rows != nil {
			a.num("db.response.returned_rows", *n.Rows)
		}
		if n.ErrorCode != nil {
			a.str("db.response.status_code", strconv.Itoa(*n.ErrorCode))
		}
		if b.size > 1 {
			a.num("db.operation.batch.size", int64(b.size))
		}
		a.size("flowmap.request.bytes", n.RequestBytes)
		a.size("flowmap.response.bytes", n.ResponseBytes)
	case files:
		fileAttributes(&a, n)
	case cache:
		a.str("db.system.name", n.System)
		a.str("db.operation.name", n.Op)
		if n.Result != "" {
			a.str("flowmap.cache.result", n.Result)
		}
		// A key that is a token's cache key is named by the token's
		// fingerprint (flowmap.subject_token), as the diagram does.
		if n.SubjectToken == "" && n.Target != "" {
			a.str("flowmap.cache.keys", n.Target)
		}
		if n.Expiry != nil {
			a.num("flowmap.cache.expiry", *n.Expiry)
		}
		if n.NoReply {
			a.flag("flowmap.cache.noreply", true)
		}
		a.size("flowmap.request.bytes", n.RequestBytes)
		a.size("flowmap.response.bytes", n.ResponseBytes)
	}
	if n.Message != "" {
		a.str("flowmap.message", n.Message)
	}
	if tk := n.TokenP(); tk != nil {
		a.str("flowmap.token", tk.Fingerprint)
		a.str("flowmap.token.owner", tk.Owner)
	} else if n.Token != "" {
		a.str("flowmap.token", n.Token)
	}
	if tk := n.ServiceTokenP(); tk != nil {
		a.str("flowmap.service_token", tk.Fingerprint)
		a.str("flowmap.service_token.owner", tk.Owner)
	}
	if tk := n.SubjectP(); tk != nil {
		a.str("flowmap.subject_token", tk.Fingerprint)
		a.str("flowmap.subject_token.owner", tk.Owner)
	} else if n.SubjectToken != "" {
		a.str("flowmap.subject_token", n.SubjectToken)
	}
	if n.User != "" {
		a.str("flowmap.auth.user", n.User)
	}
	if n.Project != "" {
		a.str("flowmap.auth.project", n.Project)
	}
	if n.Bulk {
		a.flag("flowmap.bulk", true)
	}
	if n.Truncated {
		a.flag("flowmap.truncated", true)
	}
	if _, failed := failure(n); failed {
		a.str("error.type", errorType(n))
	}
	return a
}

// failure says whether n failed (an error answer, or no answer though the
// connection went on) and in which words. A miss is not a failure.
func failure(n *flow.Node) (string, bool) {
	switch n.Outcome {
	case flow.Lost:
		return "no response captured", true
	case flow.Failed: // in the server's words, below
	default:
		return "", false
	}
	var msg string
	switch {
	case n.Status != 0:
		msg = strconv.Itoa(n.Status)
		if n.Result != "" {
			msg += " " + n.Result
		}
	case n.ErrorCode != nil:
		msg = "error " + strconv.Itoa(*n.ErrorCode)
	case n.Result != "":
		msg = n.Result
	default:
		msg = "error"
	}
	if n.Message != "" {
		msg += ": " + n.Message
	}
	return msg, true
}

// errorType is the low-cardinality class of n's failure: the HTTP status
// or DB error code, as the semantic conventions ask.
func errorType(n *flow.Node) string {
	switch {
	case n.Outcome == flow.Lost:
		return "no_response"
	case n.Status != 0:
		return strconv.Itoa(n.Status)
	case n.ErrorCode != nil:
		return strconv.Itoa(*n.ErrorCode)
	}
	return "_OTHER"
}

// events are n's notes, at the start of the span for a note told before
// the call and at its end otherwise.
func events(n *flow.Node) []*tracepb.Span_Event {
	var out []*tracepb.Span_Event
	for _, nt := range n.Notes {
		t := n.End
		if nt.Before {
			t = n.Start
		}
		a := attrs{}
		a.str("flowmap.note.over", nt.Over)
		out = append(out, &tracepb.Span_Event{TimeUnixNano: unixNano(t), Name: clean(nt.Text), Attributes: a})
	}
	return out
}

// attrs builds a span's attribute list in a fixed order.
type attrs []*commonpb.KeyValue

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: clean(v)}}}
}

func (a *attrs) str(k, v string) { *a = append(*a, str(k, v)) }

func (a *attrs) num(k string, v int64) {
	*a = append(*a, &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}})
}

func (a *attrs) flag(k string, v bool) {
	*a = append(*a, &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: v}}})
}

// size adds *v when the node has that size.
func (a *attrs) size(k string, v *int64) {
	if v != nil {
		a.num(k, *v)
	}
}

func (a *attrs) strs(k string, vs []string) {
	arr := &commonpb.ArrayValue{}
	for _, v := range vs {
		arr.Values = append(arr.Values, &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: clean(v)}})
	}
	*a = append(*a, &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: arr}}})
}

// clean makes s valid UTF-8, which protobuf strings must be: captured SQL
// and keys may hold any bytes.
func clean(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// lineWidth is the width up to which a JSON object or array is printed on
// one line: one attribute per line keeps the files short and their diffs
// readable.
const lineWidth = 120

// pretty prints v, indented by indent spaces, with object keys sorted: an
// object or array that fits in lineWidth on one line, otherwise one member
// per line.
func pretty(b *bytes.Buffer, v any, indent int) error {
	var one bytes.Buffer
	fits, err := compact(&one, v, lineWidth-indent)
	if err != nil {
		return err
	}
	if fits {
		b.Write(one.Bytes())
		return nil
	}
	pad := strings.Repeat(" ", indent+2)
	switch x := v.(type) {
	case object:
		b.WriteString("{\n")
		for i, m := range x {
			b.WriteString(pad)
			writeString(b, m.key)
			b.WriteString(": ")
			if err := pretty(b, m.val, indent+2); err != nil {
				return err
			}
			if i < len(x)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(pad[:indent] + "}")
	case []any:
		b.WriteString("[\n")
		for i, e := range x {
			b.WriteString(pad)
			if err := pretty(b, e, indent+2); err != nil {
				return err
			}
			if i < len(x)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(pad[:indent] + "]")
	default:
		_, err := compact(b, x, -1) // a long string
		return err
	}
	return nil
}

// compact prints v on one line, ", " and ": " between members. With limit
// >= 0 it stops as soon as the line is longer than limit and reports that
// it did not fit; the buffer then holds a cut line.
func compact(b *bytes.Buffer, v any, limit int) (bool, error) {
	start := b.Len()
	over := func() bool { return limit >= 0 && b.Len()-start > limit }
	switch x := v.(type) {
	case object:
		b.WriteByte('{')
		for i, m := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writeString(b, m.key)
			b.WriteString(": ")
			if over() {
				return false, nil
			}
			if ok, err := compact(b, m.val, remaining(limit, b.Len()-start)); !ok || err != nil {
				return false, err
			}
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			if over() {
				return false, nil
			}
			if ok, err := compact(b, e, remaining(limit, b.Len()-start)); !ok || err != nil {
				return false, err
			}
		}
		b.WriteByte(']')
	default:
		if err := scalar(b, x); err != nil {
			return false, err
		}
	}
	return !over(), nil
}

// remaining is what is left of limit once used bytes are written (-1: no
// limit).
func remaining(limit, used int) int {
	if limit < 0 {
		return -1
	}
	return max(limit-used, 0)
}

// scalar prints a string, number, bool or null as encoding/json does,
// without escaping <, > and & (SQL and paths read better).
func scalar(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case string:
		writeString(b, x)
		return nil
	case json.Number:
		b.WriteString(string(x))
		return nil
	case bool:
		b.WriteString(strconv.FormatBool(x))
		return nil
	case nil:
		b.WriteString("null")
		return nil
	}
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("otlp: %w", err)
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}

// writeString writes s quoted as encoding/json's Encoder does with
// SetEscapeHTML(false): a new Encoder for every key and value was a
// fifth of OTLP's CPU (TestWriteString holds it to encoding/json).
func writeString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(s[start:i])
			b.WriteString(`\ufffd`)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b.WriteString(s[start:i])
			b.WriteString(`\u202`)
			b.WriteByte(hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

// isIDField reports whether k is a bytes field of spans and links that
// OTLP/JSON writes in hex.
func isIDField(k string) bool { return k == "traceId" || k == "spanId" || k == "parentSpanId" }

// hexIDs rewrites the ids of every span and span link in v.
func hexIDs(v map[string]any) error {
	for _, rs := range list(v["resourceSpans"]) {
		for _, ss := range list(obj(rs)["scopeSpans"]) {
			for _, sp := range list(obj(ss)["spans"]) {
				if err := hexSpan(obj(sp)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// hexSpan rewrites the ids of span v and its links.
func hexSpan(v map[string]any) error {
	if err := hexFields(v); err != nil {
		return err
	}
	for _, l := range list(v["links"]) {
		if err := hexFields(obj(l)); err != nil {
			return err
		}
	}
	return nil
}

func hexFields(o map[string]any) error {
	for k, x := range o {
		s, ok := x.(string)
		if !ok || !isIDField(k) {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return fmt.Errorf("otlp: %s %q is not base64: %w", k, s, err)
		}
		o[k] = hex.EncodeToString(raw)
	}
	return nil
}

func list(x any) []any {
	l, _ := x.([]any)
	return l
}

func obj(x any) map[string]any {
	o, _ := x.(map[string]any)
	return o
}
