// Package memo keeps the results of a pure function of a string, bounded.
// OpenStack services send the same few hundred SQL statements thousands of
// times (10,568 queries, 218 distinct texts in a 3-minute capture), so
// flowmap keeps one copy of each text and derives facts from it once
// (redaction, signature) instead of per exchange. The table is bounded: when
// it holds MaxEntries keys or MaxBytes of keys, it is emptied and starts
// again, so memory stays flat however varied the capture.
package memo

import "sync"

// Defaults for New.
const (
	MaxEntries = 4096
	MaxBytes   = 4 << 20
)

// Table maps strings to values. It is safe for concurrent use.
type Table[V any] struct {
	mu    sync.Mutex
	m     map[string]V
	bytes int
	// Hits and Misses count lookups, for tests and benchmarks.
	Hits, Misses int
}

// Get returns the value for key, computing it with f once.
func (t *Table[V]) Get(key string, f func(string) V) V {
	t.mu.Lock()
	if v, ok := t.m[key]; ok {
		t.Hits++
		t.mu.Unlock()
		return v
	}
	t.Misses++
	t.mu.Unlock()
	v := f(key)
	t.mu.Lock()
	t.put(key, v)
	t.mu.Unlock()
	return v
}

// Lookup returns the value remembered for key, if any. With Put, it is
// Get for callers whose key is cut from a bigger string: they Put a copy,
// so that the table does not keep the bigger string alive.
func (t *Table[V]) Lookup(key string) (V, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[key]
	if ok {
		t.Hits++
	} else {
		t.Misses++
	}
	return v, ok
}

// Put remembers v for key.
func (t *Table[V]) Put(key string, v V) {
	t.mu.Lock()
	t.put(key, v)
	t.mu.Unlock()
}

func (t *Table[V]) put(key string, v V) {
	if len(key) > MaxBytes/16 {
		return // one huge key must not flush the table
	}
	if t.m == nil || len(t.m) >= MaxEntries || t.bytes+len(key) > MaxBytes {
		t.m, t.bytes = make(map[string]V), 0
	}
	t.m[key] = v
	t.bytes += len(key)
}

// Interner keeps one copy of each string.
type Interner struct{ t Table[string] }

// Bytes returns b as a string, the same string for the same bytes while it
// is remembered: looking up does not allocate.
func (in *Interner) Bytes(b []byte) string {
	in.t.mu.Lock()
	defer in.t.mu.Unlock()
	if s, ok := in.t.m[string(b)]; ok {
		in.t.Hits++
		return s
	}
	in.t.Misses++
	s := string(b)
	in.t.put(s, s)
	return s
}
