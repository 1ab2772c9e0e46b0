// Package modeltest builds flow models from the real captures in testdata
// for the tests of the printers, decoding them the way flowmap does (the
// service registry's ports and credential fields), each capture once.
package modeltest

import (
	"sync"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/flow/registry"
	"github.com/flowmap/flowmap/internal/truth"
)

// Cache holds the exchanges of captures already decoded. The zero value
// is ready; a test binary keeps one.
type Cache struct {
	mu  sync.Mutex
	exs map[string][]*decoder.Exchange
}

// Exchanges decodes the testdata capture called name (see truth.Captures).
func (c *Cache) Exchanges(t testing.TB, name string) []*decoder.Exchange {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if exs, ok := c.exs[name]; ok {
		return exs
	}
	var o pipeline.Options
	o.HTTP.Ports = registry.HTTPPorts()
	o.HTTP.Secrets = registry.Secrets()
	var exs []*decoder.Exchange
	if _, err := pipeline.Run([]string{truth.Capture(name)}, o, func(e *decoder.Exchange) { exs = append(exs, e) }); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if c.exs == nil {
		c.exs = map[string][]*decoder.Exchange{}
	}
	c.exs[name] = exs
	return exs
}

// Model is flow's model of the testdata capture called name.
func (c *Cache) Model(t testing.TB, name string) *flow.Model {
	return flow.Build(c.Exchanges(t, name), flow.Options{})
}
