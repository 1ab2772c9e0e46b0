package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	htmlreport "github.com/flowmap/flowmap/render/report"
	"github.com/flowmap/flowmap/render/story"
	"github.com/flowmap/flowmap/render/summary"
)

type reportOptions struct {
	IO     *IO
	Files  []string
	Output string
	Detail string
	Title  string
	Model  modelFlags
}

func newReportCmd(ios *IO, runF func(*reportOptions) error) *cobra.Command {
	opts := &reportOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "report FILE... -o report.html",
		Short: "One self-contained HTML page: the summary, a timeline of sessions, each session's diagram on a click",
		Long: `report writes one HTML file that works offline, opened from disk: nothing is
fetched from the network (Mermaid, pinned, is embedded in the page). Its first
screen is the summary (see flowmap summary) as sortable tables, with the
findings, the slowest trees and every error; then the client sessions with a
timeline strip each (errors in red) and a search box. A click on a session
draws its sequence diagram in the page, beside the list of its steps; a click
on an arrow or a step shows that exchange's facts (timing, status, tokens by
fingerprint, the SQL of a folded burst, cache keys).

The filters (--token, --path, --from/--to, --participant) select the sessions
the page holds.`,
		Example: `  flowmap report merged.pcapng -o report.html
  flowmap report --participant glance ens33.pcapng lo.pcapng -o glance.html`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			if opts.Output == "" {
				return fmt.Errorf("report needs -o FILE.html (the page is a few MB; - writes it to stdout)")
			}
			if opts.Detail != story.Compact && opts.Detail != story.Full {
				return fmt.Errorf("--detail must be compact or full, not %q", opts.Detail)
			}
			if runF != nil {
				return runF(opts)
			}
			return runReport(opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Output, "output", "o", "", "the HTML file to write (- for stdout)")
	f.StringVar(&opts.Detail, "detail", story.Compact, "diagrams: compact (fold DB bursts, discovery, bulk data) or full (every exchange)")
	f.StringVar(&opts.Title, "title", "", "page title (default: flowmap report)")
	opts.Model.add(cmd, f)
	_ = cmd.RegisterFlagCompletionFunc("detail", cobra.FixedCompletions([]string{"compact", "full"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagFilename("output", "html")
	return cmd
}

func runReport(opts *reportOptions) error {
	m, res, err := opts.Model.build(opts.IO, opts.Files)
	if err != nil {
		return err
	}
	s := summary.Compute(m, summary.Options{})
	ro := htmlreport.Options{Title: opts.Title, Detail: opts.Detail, Sources: opts.Files, Version: version}
	if opts.Output == "-" {
		out := bufio.NewWriterSize(opts.IO.Out, 64<<10)
		if err := htmlreport.Write(out, m, s, ro); err != nil {
			return err
		}
		if err := out.Flush(); err != nil {
			return err
		}
		return report(opts.IO, res)
	}
	// Written beside the target and renamed, so a reader never sees half
	// a page.
	tmp, err := os.CreateTemp(filepath.Dir(opts.Output), ".flowmap-report-*.html")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 256<<10)
	if err := htmlreport.Write(w, m, s, ro); err != nil {
		tmp.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), opts.Output); err != nil {
		return err
	}
	return report(opts.IO, res)
}
