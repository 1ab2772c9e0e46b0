package story_test

import (
	"path/filepath"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/flow/registry"
	"github.com/flowmap/flowmap/internal/truth"
)

// TestNovaEveryNodeInOneCall: the same on the nova captures of
// testdata/nova (RPC calls and replies, casts, the broker hops of full
// detail, periodic tasks and polling folded with what is under them).
func TestNovaEveryNodeInOneCall(t *testing.T) {
	for _, name := range []string{"nova-boot", "nova-boot-fail", "nova-reboot"} {
		var o pipeline.Options
		o.HTTP.Ports = registry.HTTPPorts()
		var exs []*decoder.Exchange
		p := filepath.Join(truth.Root(), "testdata", "nova", name+".pcapng")
		if _, err := pipeline.Run([]string{p}, o, func(e *decoder.Exchange) { exs = append(exs, e) }); err != nil {
			t.Fatal(err)
		}
		checkSteps(t, name, flow.Build(exs, flow.Options{}))
	}
}
