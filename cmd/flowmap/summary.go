package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/internal/gcpace"
	"github.com/flowmap/flowmap/render/summary"
)

type summaryOptions struct {
	IO     *IO
	Files  []string
	Format string
	Model  modelFlags
	// segment and window, when set, are flow.Segments' Size and Window
	// (tests: small segments)
	segment int
	window  time.Duration
	told    int // segments summed up, filtered (streamSummary)
}

// summaryWriter writes a summary in one format.
type summaryWriter func(w io.Writer, s *summary.Summary, o *summaryOptions) error

// summaryFormats are summary's output formats.
func summaryFormats() formats[summaryWriter] {
	return formats[summaryWriter]{
		{"text", "aligned tables for people, coloured on a terminal, the default", func(w io.Writer, s *summary.Summary, o *summaryOptions) error {
			return summary.WriteText(w, s, summary.TextOptions{Colour: o.IO.OutTTY && !o.IO.NoColour})
		}},
		{"json", "the same data for scripts, the contract in the README", func(w io.Writer, s *summary.Summary, _ *summaryOptions) error {
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			return enc.Encode(s)
		}},
	}
}

func newSummaryCmd(ios *IO, runF func(*summaryOptions) error) *cobra.Command {
	opts := &summaryOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "summary FILE...",
		Short: "The overview of a capture: participants, DBs, caches, sessions, slowest trees, errors, findings",
		Long: `summary decodes and correlates the captures like trace, then prints what an
operator reads first after an incident: per participant the requests served,
errors and latency (p50, p95, max) and bytes; per database the queries, time in
queries and rows; per cache the gets, hit ratio and sets; per client session a
guess of its CLI command ("image save cirros"), when it ran, its requests,
errors and token; the 10 slowest request trees; every error with the first
cause beneath it; and findings with their numbers (a costly token validation,
a token validated again within its cache lifetime, a service that logs in for
every request, DB-bound requests, cache misses, requests never answered).

Colour on a terminal, plain when piped or with NO_COLOR; --format json gives
the same data for scripts (the contract is in the README).`,
		Example: `  flowmap summary merged.pcapng
  flowmap summary --format json merged.pcapng | jq '.sessions[] | .command'
  flowmap summary --participant glance --from 10s --to 20s merged.pcapng`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			if _, err := summaryFormats().lookup(opts.Format); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return runSummary(opts)
		},
	}
	f := cmd.Flags()
	summaryFormats().flag(cmd, f, &opts.Format)
	opts.Model.add(cmd, f)
	return cmd
}

// runSummary builds the model segment by segment while the capture is
// decoded, as trace does, and sums up each segment's sessions as they
// come (summary.Stream): memory holds what is open and the summary's
// lines, not the whole capture. With --strace the model is built whole.
func runSummary(opts *summaryOptions) error {
	f, err := summaryFormats().lookup(opts.Format)
	if err != nil {
		return err
	}
	var sum *summary.Summary
	var res *pipeline.Result
	if len(opts.Model.Strace) > 0 {
		var m *flow.Model
		if m, res, err = opts.Model.build(opts.IO, opts.Files); err != nil {
			return err
		}
		sum = summary.Compute(m, summary.Options{})
	} else if sum, res, err = streamSummary(opts); err != nil {
		return err
	}
	if err := f.write(opts.IO.Out, sum, opts); err != nil {
		return err
	}
	return report(opts.IO, res)
}

// streamSummary decodes and sums up opts.Files segment by segment; it
// prints the model's notes.
func streamSummary(opts *summaryOptions) (*summary.Summary, *pipeline.Result, error) {
	gcpace.SetBudget(traceHeapBudget)
	fopts, err := opts.Model.options()
	if err != nil {
		return nil, nil, err
	}
	popts := pipelineOptions(opts.IO, false)
	bar := newProgress(opts.IO, opts.Model.Progress)
	popts.Progress = bar.update
	s := summary.NewStream(summary.Options{})
	seg := segmented{files: opts.Files, fopts: fopts, popts: popts, filter: opts.Model.Filter, size: opts.segment, window: opts.window}
	tail, res, err := seg.build(bar, s.Session)
	opts.told = seg.told
	if err != nil {
		return nil, nil, err
	}
	for _, n := range tail.Notes {
		fmt.Fprintf(opts.IO.Err, "flowmap: note: %s\n", n)
	}
	return s.Finish(tail), res, nil
}
