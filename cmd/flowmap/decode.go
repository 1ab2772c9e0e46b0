package main

import (
	"bufio"
	"fmt"
	"io"
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
exchange, the stable machine contract described in the README. Tokens are
shown as fingerprints (sha256:xxxxxxxx), passwords and keys as keyed ones
(hmac:xxxxxxxx, a fresh key each run) unless --show-secrets.`,
		Example: "  flowmap decode testdata/captures/seed-image-list.pcapng\n  flowmap decode --format jsonl ens33.pcapng lo.pcapng | jq .request.target",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			if _, err := decodeFormats().lookup(opts.Format); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return runDecode(opts)
		},
	}
	f := cmd.Flags()
	decodeFormats().flag(cmd, f, &opts.Format)
	f.BoolVar(&opts.ShowSecrets, "show-secrets", false, "print tokens, passwords and keys whole")
	f.IntVar(&opts.MaxBody, "max-body", 256<<10, "bytes of each text/JSON HTTP body to keep")
	addProgressFlag(f, &opts.Progress)
	return cmd
}

func runDecode(opts *decodeOptions) error {
	out := bufio.NewWriterSize(opts.IO.Out, 64<<10)
	defer out.Flush()
	popts := pipelineOptions(opts.IO, opts.ShowSecrets)
	popts.HTTP.MaxBody = opts.MaxBody
	bar := newProgress(opts.IO, opts.Progress)
	popts.Progress = bar.update
	f, err := decodeFormats().lookup(opts.Format)
	if err != nil {
		return err
	}
	write, flush := f.write(out, opts.ShowSecrets)
	var werr error
	res, err := pipeline.Run(opts.Files, popts, func(e *decoder.Exchange) {
		if werr == nil {
			werr = write(e)
		}
	})
	bar.done()
	if ferr := flush(); werr == nil {
		werr = ferr
	}
	if err != nil {
		return inputError{err}
	}
	if werr != nil {
		return werr
	}
	return report(opts.IO, res)
}

// exchangeWriter starts writing exchanges in one format: write takes
// each exchange, flush ends the output.
type exchangeWriter func(w io.Writer, showSecrets bool) (write func(*decoder.Exchange) error, flush func() error)

// decodeFormats are decode's output formats.
func decodeFormats() formats[exchangeWriter] {
	return formats[exchangeWriter]{
		{"table", "aligned columns for people, the default", func(w io.Writer, show bool) (func(*decoder.Exchange) error, func() error) {
			table := exchange.NewTable(w, time.Time{}, show)
			return func(e *decoder.Exchange) error {
				if table.Origin.IsZero() {
					table.Origin = e.Start()
				}
				return table.Write(e)
			}, table.Flush
		}},
		{"jsonl", "one JSON object per exchange, the machine contract", func(w io.Writer, show bool) (func(*decoder.Exchange) error, func() error) {
			return exchange.NewJSONL(w, show).Write, func() error { return nil }
		}},
	}
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
