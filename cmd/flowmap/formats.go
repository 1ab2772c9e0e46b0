package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flowmap/flowmap/flow"
	jsonr "github.com/flowmap/flowmap/render/json"
	"github.com/flowmap/flowmap/render/mermaid"
	"github.com/flowmap/flowmap/render/otlp"
	"github.com/flowmap/flowmap/render/plantuml"
	"github.com/flowmap/flowmap/render/story"
)

// format is one output format of a command: its name, one line of help,
// and how it writes.
type format[W any] struct {
	name  string
	help  string
	write W
}

// formats is a command's table of output formats, the first the default.
// --format's validation, completion and help all come from it.
type formats[W any] []format[W]

func (fs formats[W]) names() []string {
	var n []string
	for _, f := range fs {
		n = append(n, f.name)
	}
	return n
}

// lookup returns the format called name, or an error listing them all.
func (fs formats[W]) lookup(name string) (format[W], error) {
	for _, f := range fs {
		if f.name == name {
			return f, nil
		}
	}
	return format[W]{}, fmt.Errorf("--format must be one of %s, not %q", strings.Join(fs.names(), ", "), name)
}

// flag adds --format/-f with its help and completion to cmd.
func (fs formats[W]) flag(cmd *cobra.Command, f *pflag.FlagSet, p *string) {
	n := fs.names()
	f.StringVarP(p, "format", "f", fs[0].name, "output format: "+strings.Join(n[:len(n)-1], ", ")+" or "+n[len(n)-1])
	_ = cmd.RegisterFlagCompletionFunc("format", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var c []cobra.Completion
		for _, x := range fs {
			c = append(c, cobra.CompletionWithDesc(x.name, x.help))
		}
		return c, cobra.ShellCompDirectiveNoFileComp
	})
}

// traceWriter writes a model in one format: a printer of one session at
// a time (stream), which trace feeds as the capture is built segment by
// segment (flow.Segments); whole, when set, writes a whole model instead
// (OTLP: its stream needs whole segments, where the requests timing chose
// among are all).
type traceWriter struct {
	stream func(w io.Writer, o *traceOptions) story.SessionPrinter
	whole  func(w io.Writer, m *flow.Model, o *traceOptions) error
}

// write writes m.
func (t traceWriter) write(w io.Writer, m *flow.Model, o *traceOptions) error {
	if t.whole != nil {
		return t.whole(w, m, o)
	}
	p := t.stream(w, o)
	if err := story.PrintSessions(p, m); err != nil {
		return err
	}
	warnSize(p, o)
	return nil
}

// traceFormats are trace's output formats.
func traceFormats() formats[traceWriter] {
	return formats[traceWriter]{
		{"mermaid", "sequenceDiagram, the default", traceWriter{stream: func(w io.Writer, o *traceOptions) story.SessionPrinter {
			return mermaid.NewStream(w, mermaid.Options{Detail: o.Detail, Title: o.Title})
		}}},
		{"plantuml", "@startuml sequence diagram", traceWriter{stream: func(w io.Writer, o *traceOptions) story.SessionPrinter {
			return plantuml.NewStream(w, plantuml.Options{Detail: o.Detail, Title: o.Title})
		}}},
		// whole: Write; trace's segments go to the stream
		{"otlp", "OpenTelemetry OTLP/JSON traces, e.g. for Jaeger", traceWriter{whole: writeOTLP, stream: func(w io.Writer, _ *traceOptions) story.SessionPrinter {
			return otlp.NewStream(w, otlp.Options{Version: version})
		}}},
		{"json", "the model: participants, tokens, request trees", traceWriter{stream: func(w io.Writer, _ *traceOptions) story.SessionPrinter {
			return jsonr.NewStream(w)
		}}},
	}
}

// warnSize warns when a Mermaid diagram p printed is over Mermaid's limit.
func warnSize(p story.SessionPrinter, o *traceOptions) {
	s, ok := p.(*mermaid.Stream)
	if !ok {
		return
	}
	if n := s.TextSize(); n > mermaid.MaxText {
		fmt.Fprintf(o.IO.Err, "flowmap: warning: the diagram has %d characters, over Mermaid's default limit of %d: renderers with the default configuration will show an error box. Use --split DIR, or narrow it with --from/--to, --token, --participant or --path.\n", n, mermaid.MaxText)
	}
}

func writeOTLP(w io.Writer, m *flow.Model, _ *traceOptions) error {
	return otlp.Write(w, m, otlp.Options{Version: version})
}
