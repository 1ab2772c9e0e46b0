package modeltest

import (
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/flow/registry"
	"github.com/flowmap/flowmap/internal/truth"
)

// NovaCaptures are the captures of testdata/nova that trace's golden
// diagrams are drawn from (testdata/golden/<name>.{mmd,puml}).
var NovaCaptures = []string{"nova-boot", "nova-boot-fail", "nova-reboot", "nova-concurrent", "nova-stop-start-reboot"}

// NovaModel is flow's model of the testdata/nova capture called name.
func NovaModel(t testing.TB, name string) *flow.Model {
	t.Helper()
	var o pipeline.Options
	o.HTTP.Ports = registry.HTTPPorts()
	o.HTTP.Secrets = registry.Secrets()
	var exs []*decoder.Exchange
	p := filepath.Join(truth.Root(), "testdata", "nova", name+".pcapng")
	if _, err := pipeline.Run([]string{p}, o, func(e *decoder.Exchange) { exs = append(exs, e) }); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return flow.Build(exs, flow.Options{})
}

// Golden is a model trace's golden files are drawn from, and the name of
// those files in testdata/golden (without the format's extension).
type Golden struct {
	Name  string
	Model *flow.Model
}

// Goldens are the models of every capture trace's golden tests draw: the
// captures of testdata/captures (c's), of testdata/nova and of
// testdata/strace (with their strace files).
func (c *Cache) Goldens(t testing.TB) []Golden {
	t.Helper()
	var out []Golden
	for _, name := range truth.Captures(t) {
		out = append(out, Golden{name, c.Model(t, name)})
	}
	for _, name := range NovaCaptures {
		out = append(out, Golden{name, NovaModel(t, name)})
	}
	for _, s := range StraceCases {
		out = append(out, Golden{"strace-" + s.Name, StraceModel(t, s.Name, s.Capture)})
	}
	return out
}

// Parts are g and models cut from it that a printer must print alike
// whole or one session at a time: g's last session alone (one session
// of several, as a filter leaves it) and a model with nothing to draw but
// notes, as a filter that matches nothing leaves it.
func Parts(g Golden) []Golden {
	m := g.Model
	out := []Golden{g}
	if n := len(m.Roots); n > 0 {
		i := n - 1
		for i > 0 && m.Roots[i-1].Session == m.Roots[n-1].Session {
			i--
		}
		out = append(out, Golden{g.Name + "/last-session", &flow.Model{Participants: m.Participants, Tokens: m.Tokens,
			Roots: m.Roots[i:], Sessions: m.Sessions, Notes: m.Notes}})
	}
	return append(out, Golden{g.Name + "/empty", &flow.Model{Participants: m.Participants, Tokens: m.Tokens,
		Sessions: m.Sessions, Notes: append(m.Notes[:len(m.Notes):len(m.Notes)], "no client session matches the filters")}})
}

// FeedAndForget hands feed the sessions of m (runs of roots with the same
// Session number) one at a time, dropping each after it is fed, and fails
// t unless, once all are fed, every root has become unreachable: what was
// fed keeps none. The caller passes its only reference to m and gets its
// tail (m without its trees) back. Cleanups run after a collection finds
// a root unreachable; it waits for them up to a few seconds.
func FeedAndForget(t testing.TB, m *flow.Model, feed func(roots []*flow.Node) error) *flow.Model {
	t.Helper()
	sessions := sessionsOf(m.Roots)
	tail := *m
	tail.Roots, m.Roots = nil, nil
	var gone atomic.Int64
	roots := int64(0)
	for i := range sessions {
		for _, r := range sessions[i] {
			runtime.AddCleanup(r, func(n *atomic.Int64) { n.Add(1) }, &gone)
			roots++
		}
		if err := feed(sessions[i]); err != nil {
			t.Fatal(err)
		}
		sessions[i] = nil
	}
	for range 100 {
		runtime.GC()
		if gone.Load() == roots {
			return &tail
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("%d of %d roots still reachable once their sessions were fed", roots-gone.Load(), roots)
	return &tail
}
