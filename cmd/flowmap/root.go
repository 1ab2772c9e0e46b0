package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/fatih/color"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

// Exit codes: one place decides them.
const (
	exitOK    = 0
	exitInput = 1 // some input could not be read (output is still printed)
	exitUsage = 2 // bad flags or arguments
)

// IO is what a command talks to; tests give buffers.
type IO struct {
	In       io.Reader
	Out      io.Writer
	Err      io.Writer
	OutTTY   bool // colour and tables for a person
	ErrTTY   bool // progress bar
	NoColour bool
	// RedactKey keys the fingerprints of passwords and keys; nil draws
	// one per process (tests fix it for repeatable output).
	RedactKey []byte
}

// inputError marks errors about unreadable input (exit 1).
type inputError struct{ err error }

func (e inputError) Error() string { return e.err.Error() }
func (e inputError) Unwrap() error { return e.err }

// Main runs flowmap with args and returns the exit status.
func Main(args []string, in io.Reader, out, errw io.Writer) int {
	return execute(&IO{In: in, Out: out, Err: errw}, args)
}

// execute runs flowmap on ios.
func execute(ios *IO, args []string) int {
	in, out, errw := ios.In, ios.Out, ios.Err
	if f, ok := out.(*os.File); ok {
		ios.OutTTY = isatty.IsTerminal(f.Fd())
	}
	if f, ok := errw.(*os.File); ok {
		ios.ErrTTY = isatty.IsTerminal(f.Fd())
	}
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		ios.NoColour = true
	}
	root := newRootCmd(ios)
	root.SetArgs(args)
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errw)
	err := root.Execute()
	return exitCode(err, errw)
}

func exitCode(err error, errw io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ie inputError
	if errors.As(err, &ie) {
		fmt.Fprintln(errw, "flowmap:", err)
		return exitInput
	}
	fmt.Fprintln(errw, "flowmap:", err)
	return exitUsage
}

func newRootCmd(ios *IO) *cobra.Command {
	root := &cobra.Command{
		Use:   "flowmap",
		Short: "Turn OpenStack control-plane captures into the story of each API call",
		Long: `flowmap reads pcap/pcapng captures of an OpenStack control plane (keystone,
glance, memcached, MariaDB, ...), reassembles TCP, decodes HTTP/1.x, memcache and
MySQL, and correlates everything into request trees keyed by keystone token.

  flowmap decode capture.pcapng             every exchange, in time order
  flowmap trace capture.pcapng > f.mmd      Mermaid sequence diagram of the calls
  flowmap summary capture.pcapng            the overview: participants, sessions, errors, findings
  flowmap report capture.pcapng -o r.html   one offline page: the overview and every diagram`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().BoolVar(&ios.NoColour, "no-color", ios.NoColour, "never colour the output")
	root.PersistentPreRun = func(*cobra.Command, []string) {
		color.NoColor = ios.NoColour || !ios.OutTTY
	}
	root.AddCommand(newDecodeCmd(ios, nil), newTraceCmd(ios, nil), newSummaryCmd(ios, nil), newReportCmd(ios, nil), newVersionCmd(ios))
	return root
}
