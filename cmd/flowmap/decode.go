package main

import (
	"bufio"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/render/exchange"
)

type decodeOptions struct {
	IO          *IO
	Files       []string
	Format      string
	ShowSecrets bool
	MaxBody     int
	Progress    string
}

func newDecodeCmd(ios *IO, runF func(*decodeOptions) error) *cobra.Command {
	opts := &decodeOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "decode FILE...",
		Short: "List every decoded exchange (HTTP, memcache, MySQL) in time order",
		Long: `decode reads captures (pcap, pcapng, gzip-compressed or not; "-" is stdin;
several files are merged by time), reassembles TCP and lists every exchange.

--format table (default) is for people; --format jsonl is one JSON object per
exchange, the stable machine contract described in the README. Tokens and
passwords are shown as fingerprints (sha256:xxxxxxxx) unless --show-secrets.`,
		Example: "  flowmap decode testdata/captures/seed-image-list.pcapng\n  flowmap decode --format jsonl ens33.pcapng lo.pcapng | jq .request.target",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			if opts.Format != "table" && opts.Format != "jsonl" {
				return fmt.Errorf("--format must be table or jsonl, not %q", opts.Format)
			}
			if runF != nil {
				return runF(opts)
			}
			return runDecode(opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Format, "format", "f", "table", "output format: table or jsonl")
	f.BoolVar(&opts.ShowSecrets, "show-secrets", false, "print tokens and passwords whole")
	f.IntVar(&opts.MaxBody, "max-body", 256<<10, "bytes of each text/JSON HTTP body to keep")
	addProgressFlag(f, &opts.Progress)
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"table", "jsonl"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runDecode(opts *decodeOptions) error {
	out := bufio.NewWriterSize(opts.IO.Out, 64<<10)
	defer out.Flush()
	popts := pipelineOptions(opts.IO)
	popts.HTTP.MaxBody = opts.MaxBody
	bar := newProgress(opts.IO, opts.Progress)
	popts.Progress = bar.update
	var write func(*decoder.Exchange) error
	var table *exchange.Table
	switch opts.Format {
	case "jsonl":
		j := exchange.NewJSONL(out, opts.ShowSecrets)
		write = j.Write
	default:
		table = exchange.NewTable(out, time.Time{}, opts.ShowSecrets)
		write = func(e *decoder.Exchange) error {
			if table.Origin.IsZero() {
				table.Origin = e.Start()
			}
			return table.Write(e)
		}
	}
	var werr error
	res, err := pipeline.Run(opts.Files, popts, func(e *decoder.Exchange) {
		if werr == nil {
			werr = write(e)
		}
	})
	bar.done()
	if table != nil {
		table.Flush()
	}
	if err != nil {
		return inputError{err}
	}
	if werr != nil {
		return werr
	}
	return report(opts.IO, res)
}

// report prints the run's diagnostics on stderr and turns damaged input
// into exit status 1.
func report(ios *IO, res *pipeline.Result) error {
	var fatal []decoder.Diagnostic
	for _, d := range res.Diagnostics {
		if d.Fatal {
			fatal = append(fatal, d)
			continue
		}
		fmt.Fprintf(ios.Err, "flowmap: note: %s\n", d)
	}
	if len(fatal) == 0 {
		return nil
	}
	for _, d := range fatal[:len(fatal)-1] {
		fmt.Fprintf(ios.Err, "flowmap: %s\n", d)
	}
	return inputError{fmt.Errorf("%s", fatal[len(fatal)-1])}
}
