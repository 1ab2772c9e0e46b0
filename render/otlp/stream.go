package otlp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"google.golang.org/protobuf/proto"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/flowmap/flowmap/flow"
)

// Stream writes a model as Write does, handed a run of sessions at a time
// (story.SessionPrinter): trace hands it each segment of the capture as
// it is built (flow.Segments), whose requests timing chose among are all
// in the segment. Each span is printed as it comes into the body of the
// participant that serves it (one store for all: in memory up to
// bodyLimit, then a temporary file), and Close writes the resources in the model's participant order
// around those bodies: the same bytes as Write. Between calls it keeps
// the ids taken and the identities of nodes that may still recur (those
// that began at or after the earliest tree given last), never a node.
type Stream struct {
	w     io.Writer
	opts  Options
	ids   *ids
	body  bodies
	order []*flow.Participant // serving participants, first seen first
	err   error
	buf   bytes.Buffer
}

// bodyLimit is how much of the spans stays in memory.
const bodyLimit = 1 << 20

// spanIndent is where a span starts in the document: resourceSpans,
// a resource, scopeSpans, a scope, spans.
const spanIndent = 12

// NewStream returns a Stream writing to w.
func NewStream(w io.Writer, opts Options) *Stream {
	return &Stream{w: w, opts: opts, ids: newIDState(), body: bodies{limit: bodyLimit, runs: map[*flow.Participant][]run{}}}
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
			s.buf.Reset()
			if _, ok := s.body.runs[p]; !ok {
				s.order = append(s.order, p)
			} else {
				s.buf.WriteString(",\n" + strings.Repeat(" ", spanIndent))
			}
			if s.err = printed(&s.buf, span(n, r.Session, s.ids, bursts), spanIndent); s.err == nil {
				s.body.add(p, s.buf.Bytes())
				s.err = s.body.err
			}
		})
	}
	return s.err
}

// printed prints message m as Write does, at indent.
func printed(b *bytes.Buffer, m proto.Message, indent int) error {
	v, err := tree(m)
	if err != nil {
		return err
	}
	return pretty(b, v, indent)
}

// spilled names the temporary file of the spans, if they moved to one.
func (s *Stream) spilled() (string, bool) { return s.body.spilled() }

// Close writes the document: tail is the model without its trees (its
// participants in their final order). The temporary files are removed
// whatever happens.
func (s *Stream) Close(tail *flow.Model) error {
	defer s.body.close()
	if s.err != nil {
		return s.err
	}
	var ps []*flow.Participant
	listed := map[*flow.Participant]bool{}
	for _, p := range tail.Participants {
		listed[p] = true
		if _, ok := s.body.runs[p]; ok {
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
	if err := printed(&scope, &commonpb.InstrumentationScope{Name: ScopeName, Version: s.opts.Version}, 10); err != nil {
		return err
	}
	bw.WriteString("{\n  \"resourceSpans\": [\n")
	for i, p := range ps {
		var res bytes.Buffer
		if err := printed(&res, resource(p), 6); err != nil {
			return err
		}
		url := fmt.Sprintf("%q", SchemaURL)
		bw.WriteString("    {\n      \"resource\": ")
		bw.Write(res.Bytes())
		bw.WriteString(",\n      \"schemaUrl\": " + url + ",\n      \"scopeSpans\": [\n        {\n          \"schemaUrl\": " + url + ",\n          \"scope\": ")
		bw.Write(scope.Bytes())
		bw.WriteString(",\n          \"spans\": [\n" + strings.Repeat(" ", spanIndent))
		if err := s.body.copy(bw, p); err != nil {
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
