package redact

import (
	"hash/maphash"
	"sync"
)

// The same bodies come again and again: keystonemiddleware's cached token
// data is read back from memcache at each request, every client fetches
// the version documents, a polling client gets the same answer. Body
// remembers its last results in a small cache, so that a body seen again
// is compared, not scanned: redacting bodies was 6% of decode's CPU on the
// long capture, where 70% of them were repeats.
//
// The cache is direct-mapped (a body's hash picks its one entry, a new
// body replaces the old one there) and holds bodies up to maxBodyCached
// bytes: what it keeps is bounded (bodyCacheSize entries of at most twice
// that) however varied the capture, and a body of a one-off exchange costs
// it one entry.
const (
	bodyCacheSize = 64
	maxBodyCached = 16 << 10
)

type bodyCache struct {
	mu      sync.Mutex
	seed    maphash.Seed
	entries [bodyCacheSize]bodyEntry
}

type bodyEntry struct {
	body, out string // (an entry not yet used holds "", which redacts to "")
	jsonType  bool
}

// get returns f(body, jsonType), from the cache when body was the last one
// redacted in its entry.
func (c *bodyCache) get(body string, jsonType bool, f func(string, bool) string) string {
	c.mu.Lock()
	if c.seed == (maphash.Seed{}) {
		c.seed = maphash.MakeSeed()
	}
	e := &c.entries[maphash.String(c.seed, body)%bodyCacheSize]
	if e.jsonType == jsonType && e.body == body {
		out := e.out
		c.mu.Unlock()
		return out
	}
	c.mu.Unlock()
	out := f(body, jsonType)
	c.mu.Lock()
	*e = bodyEntry{body: body, out: out, jsonType: jsonType}
	c.mu.Unlock()
	return out
}
