package flow

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/flowmap/flowmap/decoder"
)

// tallied is one exchange that a counted note of the model counts. The
// passes record them by exchange, so that a segmented build (segments.go),
// which builds the exchanges past a cut again with the next segment,
// counts each exchange once: with the segment that keeps it.
type tallied struct {
	e    *decoder.Exchange
	kind tallyKind
	key  string     // requestless: the protocol; unread: why
	via  netip.Addr // unseen: the proxy's address
}

type tallyKind uint8

const (
	requestless tallyKind = iota // a response whose request the capture missed
	unreadAMQP                   // an AMQP publish whose oslo envelope could not be read
	unseenLeg                    // a proxy leg whose client leg the capture lacks
)

func (b *builder) count(e *decoder.Exchange, kind tallyKind, key string, via netip.Addr) {
	b.tally = append(b.tally, tallied{e: e, kind: kind, key: key, via: via})
}

// tallyCounter sums tallied exchanges into the notes that say them.
type tallyCounter struct {
	requestless map[string]int // by protocol
	unread      map[string]int // by why
	unseen      int
	via         map[netip.Addr]bool
}

func (c *tallyCounter) add(t tallied) {
	switch t.kind {
	case requestless:
		if c.requestless == nil {
			c.requestless = map[string]int{}
		}
		c.requestless[t.key]++
	case unreadAMQP:
		if c.unread == nil {
			c.unread = map[string]int{}
		}
		c.unread[t.key]++
	case unseenLeg:
		if c.via == nil {
			c.via = map[netip.Addr]bool{}
		}
		c.unseen++
		c.via[t.via] = true
	}
}

// notes are the counted notes, in the order the passes find them.
func (c *tallyCounter) notes() []string {
	var out []string
	// Nothing says who asked them or what for, so they are not drawn:
	// said, not dropped silently.
	for _, proto := range slices.Sorted(maps.Keys(c.requestless)) {
		n, what := c.requestless[proto], "response"
		if n > 1 {
			what = "responses"
		}
		out = append(out, fmt.Sprintf("%d %s %s whose request the capture missed (sent before it began, or lost) not drawn: decode lists them", n, proto, what))
	}
	for _, why := range slices.Sorted(maps.Keys(c.unread)) {
		what := "messages"
		if c.unread[why] == 1 {
			what = "message"
		}
		out = append(out, fmt.Sprintf("%d AMQP %s not drawn: %s (message bodies are kept up to 1 MiB)", c.unread[why], what, why))
	}
	if c.unseen > 0 {
		what := "requests"
		if c.unseen == 1 {
			what = "request"
		}
		out = append(out, fmt.Sprintf("%d %s came through a proxy (from %s, naming their client in X-Forwarded-For) whose leg from the client the capture does not have (encrypted, captured elsewhere, or its target rewritten): drawn as the client's own calls", c.unseen, what, addrList(c.via)))
	}
	return out
}
