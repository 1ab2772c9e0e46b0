package main

import (
	"encoding/json"
	"io"

	"github.com/spf13/cobra"

	"github.com/flowmap/flowmap/render/summary"
)

type summaryOptions struct {
	IO     *IO
	Files  []string
	Format string
	Model  modelFlags
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

func runSummary(opts *summaryOptions) error {
	m, res, err := opts.Model.build(opts.IO, opts.Files)
	if err != nil {
		return err
	}
	f, err := summaryFormats().lookup(opts.Format)
	if err != nil {
		return err
	}
	if err := f.write(opts.IO.Out, summary.Compute(m, summary.Options{}), opts); err != nil {
		return err
	}
	return report(opts.IO, res)
}
