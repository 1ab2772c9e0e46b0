package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/flow"
)

// modelFlags are the flags of the commands that build a model from
// captures beside trace (summary, segment by segment; report, whole):
// naming, the cache secret, the session filters and progress, spelt as
// trace spells them.
type modelFlags struct {
	Names          []string
	NamesFile      string
	MemcacheSecret string
	Filter         flow.Filter
	Progress       string
	Strace         []string
}

func (m *modelFlags) add(cmd *cobra.Command, f *pflag.FlagSet) {
	f.StringArrayVar(&m.Names, "name", nil, "name a participant: ADDR[:PORT]=NAME (repeatable)")
	f.StringVar(&m.NamesFile, "names", "", "file of ADDR[:PORT] = NAME lines (# comments); default $XDG_CONFIG_HOME/flowmap/names when it exists")
	f.StringVar(&m.MemcacheSecret, "memcache-secret", "", "keystonemiddleware memcache_secret_key, to read MAC/ENCRYPT cache keys")
	f.DurationVar(&m.Filter.From, "from", 0, "only sessions with a tree starting at least this long after the first exchange (e.g. 1.5s)")
	f.DurationVar(&m.Filter.To, "to", 0, "only sessions with a tree starting at most this long after the first exchange")
	f.StringVar(&m.Filter.Token, "token", "", "only sessions that use this token (fingerprint sha256:xxxxxxxx or a prefix)")
	f.StringVar(&m.Filter.Participant, "participant", "", "only sessions in which this participant takes part (e.g. glance)")
	f.StringVar(&m.Filter.Path, "path", "", "only sessions with an HTTP request whose target contains this")
	addProgressFlag(f, &m.Progress)
	addStraceFlag(cmd, f, &m.Strace)
}

// options are the flow options the flags give (names, the memcache
// secret).
func (m *modelFlags) options() (flow.Options, error) {
	if m.NamesFile == "" {
		m.NamesFile = defaultNamesFile()
	}
	names, err := parseNames(m.Names, m.NamesFile)
	if err != nil {
		return flow.Options{}, err
	}
	return flow.Options{Names: names, MemcacheSecret: m.MemcacheSecret}, nil
}

// build decodes files and correlates them into the filtered model, as
// trace does. The pipeline's result carries its diagnostics for report.
func (m *modelFlags) build(ios *IO, files []string) (*flow.Model, *pipeline.Result, error) {
	fopts, err := m.options()
	if err != nil {
		return nil, nil, err
	}
	var exs []*decoder.Exchange
	popts := pipelineOptions(ios, false)
	bar := newProgress(ios, m.Progress)
	popts.Progress = bar.update
	popts.Streams = straceStreams(m.Strace)
	res, err := pipeline.Run(files, popts, func(e *decoder.Exchange) { exs = append(exs, e) })
	bar.done()
	if err != nil {
		return nil, nil, inputError{err}
	}
	fopts.Strace = alignStrace(popts.Streams, m.Strace, res)
	all := flow.Build(exs, fopts)
	model := all.Filter(m.Filter)
	if len(model.Roots) == 0 && len(all.Roots) > 0 {
		model.Notes = append(model.Notes, noneMatch(all.Sessions))
	}
	for _, n := range model.Notes {
		fmt.Fprintf(ios.Err, "flowmap: note: %s\n", n)
	}
	return model, res, nil
}
