package otlp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/render/internal/spool"
)

// Stream writes a model as Write does, handed a run of sessions at a time
// (story.SessionPrinter): trace hands it each segment of the capture as
// it is built (flow.Segments), whose requests timing chose among are all
// in the segment. Each span is printed as it comes into the body of the
// participant that serves it (in memory up to partLimit, then a temporary
// file), and Close writes the resources in the model's participant order
// around those bodies: the same bytes as Write. Between calls it keeps
// the ids taken and the identities of nodes that may still recur (those
// that began at or after the earliest tree given last), never a node.
type Stream struct {
	w     io.Writer
	opts  Options
	ids   *ids
	parts map[*flow.Participant]*spool.Spool
	order []*flow.Participant // serving participants, first seen first
	err   error
	buf   bytes.Buffer
	limit int // of a body in memory (tests: small)
}

// partLimit is how much of one participant's spans stays in memory.
const partLimit = 32 << 10

// spanIndent is where a span starts in the document: resourceSpans,
// a resource, scopeSpans, a scope, spans.
const spanIndent = 12

// NewStream returns a Stream writing to w.
func NewStream(w io.Writer, opts Options) *Stream {
	return &Stream{w: w, opts: opts, ids: newIDState(), parts: map[*flow.Participant]*spool.Spool{}, limit: partLimit}
}

// Session prints the trees under roots (in the model's order, after every
// tree given before), one span per node.
func (s *Stream) Session(roots []*flow.Node) error {
	if s.err != nil || len(roots) == 0 {
		return s.err
	}
	s.ids.forget(roots[0].Start)
	s.ids.add(roots)
	defer s.ids.drop()
	bursts := burstsOf(&flow.Model{Roots: roots})
	for _, r := range roots {
		walkTree(r, func(n *flow.Node) {
			if s.err != nil {
				return
			}
			p := n.ToP()
			body := s.parts[p]
			if body == nil {
				body = &spool.Spool{Limit: s.limit}
				s.parts[p] = body
				s.order = append(s.order, p)
			} else {
				body.WriteString(",\n" + strings.Repeat(" ", spanIndent))
			}
			s.buf.Reset()
			if s.err = printed(&s.buf, span(n, r.Session, s.ids, bursts), spanIndent, true); s.err == nil {
				body.WriteString(s.buf.String())
				s.err = body.Err()
			}
		})
	}
	return s.err
}

// printed prints message m as normalise does at indent (ids in hex when
// span).
func printed(b *bytes.Buffer, m proto.Message, indent int, span bool) error {
	raw, err := protojson.MarshalOptions{UseEnumNumbers: true}.Marshal(m)
	if err != nil {
		return fmt.Errorf("otlp: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("otlp: re-reading protojson output: %w", err)
	}
	if span {
		if err := hexFields(v); err != nil {
			return err
		}
		for _, l := range list(v["links"]) {
			if err := hexFields(obj(l)); err != nil {
				return err
			}
		}
	}
	return pretty(b, v, indent)
}

// spilled names a body that moved to its temporary file, if one did.
func (s *Stream) spilled() (string, bool) {
	for _, p := range s.order {
		if name, ok := s.parts[p].Spilled(); ok {
			return name, true
		}
	}
	return "", false
}

// Close writes the document: tail is the model without its trees (its
// participants in their final order). The temporary files are removed
// whatever happens.
func (s *Stream) Close(tail *flow.Model) error {
	defer func() {
		for _, b := range s.parts {
			b.Close()
		}
	}()
	if s.err != nil {
		return s.err
	}
	var ps []*flow.Participant
	listed := map[*flow.Participant]bool{}
	for _, p := range tail.Participants {
		listed[p] = true
		if s.parts[p] != nil {
			ps = append(ps, p)
		}
	}
	for _, p := range s.order { // serving participants the model does not list
		if !listed[p] {
			ps = append(ps, p)
		}
	}
	bw := bufio.NewWriterSize(s.w, 64<<10)
	if len(ps) == 0 {
		bw.WriteString("{}\n")
		return bw.Flush()
	}
	var scope bytes.Buffer
	if err := printed(&scope, &commonpb.InstrumentationScope{Name: ScopeName, Version: s.opts.Version}, 10, false); err != nil {
		return err
	}
	bw.WriteString("{\n  \"resourceSpans\": [\n")
	for i, p := range ps {
		var res bytes.Buffer
		if err := printed(&res, resource(p), 6, false); err != nil {
			return err
		}
		url := fmt.Sprintf("%q", SchemaURL)
		bw.WriteString("    {\n      \"resource\": ")
		bw.Write(res.Bytes())
		bw.WriteString(",\n      \"schemaUrl\": " + url + ",\n      \"scopeSpans\": [\n        {\n          \"schemaUrl\": " + url + ",\n          \"scope\": ")
		bw.Write(scope.Bytes())
		bw.WriteString(",\n          \"spans\": [\n" + strings.Repeat(" ", spanIndent))
		if err := s.parts[p].Copy(bw, func(*bufio.Writer, byte, uint64, []byte) error { return fmt.Errorf("otlp: placeholder in a body") }); err != nil {
			return err
		}
		bw.WriteString("\n          ]\n        }\n      ]\n    }")
		if i < len(ps)-1 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
	}
	bw.WriteString("  ]\n}\n")
	return bw.Flush()
}
