package modeltest

import (
	"path/filepath"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/decoder/strace"
	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/flow/registry"
	"github.com/flowmap/flowmap/internal/truth"
)

// StraceCases are the cases of testdata/strace: a capture and the strace
// files of glance-api's four workers and parent recorded with it.
var StraceCases = []struct{ Name, Capture string }{
	{"save-plain", "save-plain.cut.pcapng"},
	{"save-ttt", "save-ttt.cut.pcapng"},
	{"upload-ttt", "upload-ttt.pcapng"},
}

// StraceModel is flow's model of a testdata/strace case with its strace
// files aligned, as trace --strace builds it.
func StraceModel(t testing.TB, name, capture string) *flow.Model {
	t.Helper()
	dir := filepath.Join(truth.Root(), "testdata", "strace")
	var o pipeline.Options
	o.HTTP.Ports = registry.HTTPPorts()
	o.HTTP.Secrets = registry.Secrets()
	o.Streams = &pipeline.Streams{}
	var exs []*decoder.Exchange
	if _, err := pipeline.Run([]string{filepath.Join(dir, capture)}, o, func(e *decoder.Exchange) { exs = append(exs, e) }); err != nil {
		t.Fatalf("%s: %v", capture, err)
	}
	var paths []string
	for _, h := range []string{"h1", "h2", "h3", "h4", "parent"} {
		paths = append(paths, filepath.Join(dir, name+"."+h))
	}
	files, _ := pipeline.AlignFiles(o.Streams, paths, strace.Options{})
	if len(files) == 0 {
		t.Fatalf("%s: no strace file aligned", name)
	}
	return flow.Build(exs, flow.Options{Strace: files})
}
