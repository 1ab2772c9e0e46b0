package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/decoder/strace"
)

// addStraceFlag registers --strace, repeatable, completed with file names.
func addStraceFlag(cmd *cobra.Command, f *pflag.FlagSet, files *[]string) {
	f.StringArrayVar(files, "strace", nil, "strace output of a service process recorded with the capture (strace -o FILE -p PID; better -f -ttt -T -yy -s 256): its file syscalls are drawn under the requests it served, on \"Local File System\" (repeatable)")
	_ = cmd.MarkFlagFilename("strace")
}

// straceStreams is what the pipeline records for --strace: the
// connections' bytes, or nil when no strace file is given.
func straceStreams(files []string) *pipeline.Streams {
	if len(files) == 0 {
		return nil
	}
	return &pipeline.Streams{}
}

// alignStrace aligns the strace files with the decoded capture. Files
// that cannot be aligned are reported (with the pipeline's diagnostics,
// by report) and nothing is drawn from them. Nothing of the syscalls'
// strings is printed: flow draws paths, counts and sizes only.
func alignStrace(s *pipeline.Streams, files []string, res *pipeline.Result) []*pipeline.StraceFile {
	if s == nil {
		return nil
	}
	out, diags := pipeline.AlignFiles(s, files, strace.Options{})
	res.Diagnostics = append(res.Diagnostics, diags...)
	return out
}
