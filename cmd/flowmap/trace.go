package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/decoder/redact"
	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/flow/registry"
	"github.com/flowmap/flowmap/internal/gcpace"
	"github.com/flowmap/flowmap/render/mermaid"
	"github.com/flowmap/flowmap/render/story"
)

type traceOptions struct {
	IO             *IO
	Files          []string
	Format         string
	Detail         string
	Names          []string
	NamesFile      string
	MemcacheSecret string
	Filter         flow.Filter
	Split          string
	Title          string
	ShowSecrets    bool
	Progress       string
	Strace         []string
	// segment and window, when set, are flow.Segments' Size and Window
	// (tests: small segments)
	segment int
	window  time.Duration
	told    int // segments printed, filtered (streamTrace)
}

func newTraceCmd(ios *IO, runF func(*traceOptions) error) *cobra.Command {
	opts := &traceOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "trace FILE...",
		Short: "Correlate exchanges into request trees and draw them (Mermaid, PlantUML, OTLP or JSON)",
		Long: `trace decodes the captures like decode, then works out who called whom:
participants by role (client, keystone, glance, memcached, each service's DB),
keystone tokens and their owners, and for every request the calls its service
made while serving it. The result is a Mermaid sequenceDiagram (default), the
same story in PlantUML, OpenTelemetry traces (OTLP/JSON, one trace per client
session, one span per exchange) or the model as JSON.

By default bursts of DB queries are one arrow, version discovery is folded and
a bulk transfer is one dashed arrow; --detail full shows every exchange.`,
		Example: `  flowmap trace merged.pcapng > flow.mmd
  flowmap trace --token sha256:67e8e033 --detail full merged.pcapng
  flowmap trace --name 10.0.20.11:9292=glance-api --format json merged.pcapng
  flowmap trace --format plantuml merged.pcapng > flow.puml
  flowmap trace merged.pcapng --strace h1 --strace h2 --strace h3 --strace h4 > flow.mmd
  flowmap trace --format otlp merged.pcapng | curl -H 'Content-Type: application/json' --data-binary @- http://localhost:4318/v1/traces`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			f, err := traceFormats().lookup(opts.Format)
			if err != nil {
				return err
			}
			if opts.Split != "" && f.name != "mermaid" {
				return fmt.Errorf("--split cuts Mermaid diagrams; it does not go with --format %s", f.name)
			}
			if opts.Detail != story.Compact && opts.Detail != story.Full {
				return fmt.Errorf("--detail must be compact or full, not %q", opts.Detail)
			}
			if runF != nil {
				return runF(opts)
			}
			return runTrace(opts)
		},
	}
	f := cmd.Flags()
	traceFormats().flag(cmd, f, &opts.Format)
	f.StringVar(&opts.Detail, "detail", story.Compact, "compact (fold DB bursts, discovery, bulk data) or full (every exchange)")
	f.StringArrayVar(&opts.Names, "name", nil, "name a participant: ADDR[:PORT]=NAME (repeatable)")
	f.StringVar(&opts.NamesFile, "names", "", "file of ADDR[:PORT] = NAME lines (# comments); default $XDG_CONFIG_HOME/flowmap/names when it exists")
	f.StringVar(&opts.MemcacheSecret, "memcache-secret", "", "keystonemiddleware memcache_secret_key, to read MAC/ENCRYPT cache keys")
	f.DurationVar(&opts.Filter.From, "from", 0, "only trees starting at least this long after the first exchange (e.g. 1.5s)")
	f.DurationVar(&opts.Filter.To, "to", 0, "only trees starting at most this long after the first exchange")
	f.StringVar(&opts.Filter.Token, "token", "", "only trees that use this token (fingerprint sha256:xxxxxxxx or a prefix)")
	f.StringVar(&opts.Filter.Participant, "participant", "", "only trees in which this participant takes part (e.g. glance)")
	f.StringVar(&opts.Filter.Path, "path", "", "only trees with an HTTP request whose target contains this")
	f.StringVar(&opts.Split, "split", "", "write one diagram per group of trees, each under Mermaid's 50,000-character limit, into this directory")
	f.StringVar(&opts.Title, "title", "", "diagram title")
	f.BoolVar(&opts.ShowSecrets, "show-secrets", false, "print passwords, keys and tokens in targets, SQL and cache keys whole (tokens are still named by fingerprint)")
	addProgressFlag(f, &opts.Progress)
	addStraceFlag(cmd, f, &opts.Strace)
	_ = cmd.RegisterFlagCompletionFunc("detail", cobra.FixedCompletions([]string{"compact", "full"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// pipelineOptions are the decoding options of every command: stdin for
// "-", the OpenStack ports from flow's service registry, and the one
// redaction policy every decoder's messages apply when they are printed
// (fed by the registry's credential fields; show: redact nothing).
func pipelineOptions(ios *IO, show bool) pipeline.Options {
	var o pipeline.Options
	o.Capture.Stdin = ios.In
	o.HTTP.Ports = registry.HTTPPorts()
	o.HTTP.Secrets = registry.Secrets()
	p := redact.New(registry.Secrets(), ios.RedactKey)
	if show {
		p = redact.Show()
	}
	o.HTTP.Redact, o.Memcache.Redact, o.MySQL.Redact, o.AMQP.Redact = p, p, p, p
	return o
}

// parseNames reads ADDR[:PORT]=NAME pairs.
func parseNames(pairs []string, file string) (map[string]string, error) {
	m := map[string]string{}
	add := func(s, where string) error {
		k, v, ok := strings.Cut(s, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return fmt.Errorf("%s: want ADDR[:PORT]=NAME, got %q", where, s)
		}
		m[k] = v
		return nil
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		for i, l := range strings.Split(string(b), "\n") {
			if l, _, _ = strings.Cut(l, "#"); strings.TrimSpace(l) == "" {
				continue
			}
			if err := add(l, fmt.Sprintf("%s:%d", file, i+1)); err != nil {
				return nil, err
			}
		}
	}
	for _, p := range pairs {
		if err := add(p, "--name"); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// defaultNamesFile is the names file read when --names is not given.
func defaultNamesFile() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	p := filepath.Join(dir, "flowmap", "names")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

func runTrace(opts *traceOptions) error {
	gcpace.SetBudget(traceHeapBudget)
	if opts.NamesFile == "" {
		opts.NamesFile = defaultNamesFile()
	}
	names, err := parseNames(opts.Names, opts.NamesFile)
	if err != nil {
		return err
	}
	f, err := traceFormats().lookup(opts.Format)
	if err != nil {
		return err
	}
	fopts := flow.Options{Names: names, MemcacheSecret: opts.MemcacheSecret}
	popts := pipelineOptions(opts.IO, opts.ShowSecrets)
	bar := newProgress(opts.IO, opts.Progress)
	popts.Progress = bar.update
	if f.write.stream != nil && opts.Split == "" && len(opts.Strace) == 0 {
		return streamTrace(opts, f.write, fopts, popts, bar)
	}
	var exs []*decoder.Exchange
	popts.Streams = straceStreams(opts.Strace)
	res, err := pipeline.Run(opts.Files, popts, func(e *decoder.Exchange) { exs = append(exs, e) })
	bar.done()
	if err != nil {
		return inputError{err}
	}
	fopts.Strace = alignStrace(popts.Streams, opts.Strace, res)
	all := flow.Build(exs, fopts)
	m := all.Filter(opts.Filter)
	if len(m.Roots) == 0 && len(all.Roots) > 0 {
		m.Notes = append(m.Notes, noneMatch(all.Sessions))
	}
	for _, n := range m.Notes {
		fmt.Fprintf(opts.IO.Err, "flowmap: note: %s\n", n)
	}
	out := bufio.NewWriterSize(opts.IO.Out, 64<<10)
	defer out.Flush()
	if opts.Split != "" {
		if err := os.MkdirAll(opts.Split, 0o755); err != nil {
			return err
		}
		parts := mermaid.RenderSplit(m, mermaid.Options{Detail: opts.Detail, Title: opts.Title})
		for i, d := range parts {
			p := filepath.Join(opts.Split, fmt.Sprintf("flow-%03d.mmd", i+1))
			if err := os.WriteFile(p, []byte(d), 0o644); err != nil {
				return err
			}
			fmt.Fprintln(out, p)
		}
	} else if err := f.write.write(out, m, opts); err != nil {
		return err
	}
	return report(opts.IO, res)
}

func noneMatch(sessions int) string {
	return fmt.Sprintf("no client session matches the filters (the capture has %d)", sessions)
}

// streamTrace builds the model segment by segment while the capture is
// decoded (flow.Segments) and prints each segment's sessions as they
// come: memory holds what is open, not the whole capture. The printers
// keep the body in a temporary file until the end, where the header
// (participants, "of N") is known; nothing reaches the output before.
func streamTrace(opts *traceOptions, tw traceWriter, fopts flow.Options, popts pipeline.Options, bar *progress) error {
	out := bufio.NewWriterSize(opts.IO.Out, 64<<10)
	defer out.Flush()
	gate := &gateWriter{w: out}
	p := tw.stream(gate, opts)
	var perr error
	seg := segmented{files: opts.Files, fopts: fopts, popts: popts, filter: opts.Filter, size: opts.segment, window: opts.window}
	tail, res, err := seg.build(bar, func(roots []*flow.Node) {
		if perr == nil {
			perr = p.Session(roots)
		}
	})
	opts.told = seg.told
	if err != nil {
		gate.shut = true
		_ = p.Close(&flow.Model{}) // removes its temporary file
		return err
	}
	for _, n := range tail.Notes {
		fmt.Fprintf(opts.IO.Err, "flowmap: note: %s\n", n)
	}
	if perr != nil {
		gate.shut = true
	}
	if err := p.Close(tail); perr == nil {
		perr = err
	}
	if perr != nil {
		return perr
	}
	warnSize(p, opts)
	return report(opts.IO, res)
}

// segmented builds the model of files segment by segment while they are
// decoded (flow.Segments), handing each segment's sessions over as they
// are built: memory holds what is open, not the whole capture.
type segmented struct {
	files  []string
	fopts  flow.Options
	popts  pipeline.Options
	filter flow.Filter
	// size and window, when set, are flow.Segments' Size and Window
	// (tests: small segments)
	size   int
	window time.Duration
	told   int // segments handed over, filtered
}

// build hands session each segment's sessions in order and returns the
// model's tail (participants, tokens, sessions, notes: one says so when
// the filter matched no session).
func (g *segmented) build(bar *progress, session func(roots []*flow.Node)) (*flow.Model, *pipeline.Result, error) {
	gcpace.SetLimit(traceMemLimit)
	seg := flow.NewSegments(g.fopts, func(roots []*flow.Node) {
		g.told++
		session(roots)
	})
	seg.Filter = g.filter
	if g.size > 0 {
		seg.Size, seg.Window = g.size, g.window
	}
	res, err := buildWhileDecoding(g.files, g.popts, seg.Add)
	bar.done()
	if err != nil {
		return nil, nil, inputError{err}
	}
	tail := seg.Close()
	if g.told == 0 && seg.Built() {
		tail.Notes = append(tail.Notes, noneMatch(tail.Sessions))
	}
	return tail, res, nil
}

// buildWhileDecoding runs the pipeline and hands its exchanges to add on
// a goroutine of their own, in batches, so that building a segment (and
// printing it) overlaps with decoding the next. At most a few batches
// wait: memory stays bounded when building is the slower.
func buildWhileDecoding(files []string, popts pipeline.Options, add func(*decoder.Exchange)) (*pipeline.Result, error) {
	const batch = 512
	ch := make(chan []*decoder.Exchange, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range ch {
			for _, e := range b {
				add(e)
			}
		}
	}()
	cur := make([]*decoder.Exchange, 0, batch)
	res, err := pipeline.Run(files, popts, func(e *decoder.Exchange) {
		if cur = append(cur, e); len(cur) == batch {
			ch <- cur
			cur = make([]*decoder.Exchange, 0, batch)
		}
	})
	ch <- cur
	close(ch)
	<-done
	return res, err
}

// gateWriter passes writes on until it is shut: a printer closed after a
// failure writes nothing.
type gateWriter struct {
	w    io.Writer
	shut bool
}

func (g *gateWriter) Write(p []byte) (int, error) {
	if g.shut {
		return len(p), nil
	}
	return g.w.Write(p)
}
