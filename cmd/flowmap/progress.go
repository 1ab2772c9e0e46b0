package main

import (
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/pflag"
)

func addProgressFlag(f *pflag.FlagSet, p *string) {
	f.StringVar(p, "progress", "auto", "progress bar on stderr: auto (when stderr is a terminal), always, never")
}

// progress is a byte-count bar on stderr; a no-op when off.
type progress struct{ bar *progressbar.ProgressBar }

func newProgress(ios *IO, mode string) *progress {
	if mode == "never" || mode == "auto" && !ios.ErrTTY {
		return &progress{}
	}
	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(ios.Err),
		progressbar.OptionSetDescription("reading"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	)
	return &progress{bar: bar}
}

func (p *progress) update(read, total int64) {
	if p.bar == nil {
		return
	}
	if total > 0 && p.bar.GetMax64() != total {
		p.bar.ChangeMax64(total)
	}
	_ = p.bar.Set64(read)
}

func (p *progress) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
