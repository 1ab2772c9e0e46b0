// Package memo keeps the results of a pure function of a string, bounded.
// OpenStack services send the same few hundred SQL statements thousands of
// times (10,568 queries, 218 distinct texts in a 3-minute capture), so
// flowmap keeps one copy of each text and derives facts from it once
// (redaction, signature) instead of per exchange. The table is bounded in
// two generations: when the current one holds MaxEntries keys or MaxBytes
// of keys, it becomes the old one (the old one before it is dropped) and a
// new one starts; a key found in the old one moves to the current one.
// Memory stays flat however varied the capture (at most twice the bounds),
// and a text used again before a whole generation has passed stays: the
// hot statements are not lost with the one-shot ones (PyMySQL inlines
// every parameter, so INSERTs with fresh uuids are all distinct).
package memo

import (
	"strings"
	"sync"
)

// Defaults for New.
const (
	MaxEntries = 4096
	MaxBytes   = 4 << 20
)

// Table maps strings to values. It is safe for concurrent use.
type Table[V any] struct {
	mu sync.Mutex
	// cur is filled; old is the generation before, read and moved from
	// until cur fills in turn. bytes count their keys.
	cur, old           map[string]V
	curBytes, oldBytes int
	// Hits and Misses count lookups, for tests and benchmarks.
	Hits, Misses int
}

// Get returns the value for key, computing it with f once.
func (t *Table[V]) Get(key string, f func(string) V) V {
	t.mu.Lock()
	if v, ok := t.cur[key]; ok {
		t.Hits++
		t.mu.Unlock()
		return v
	}
	if v, ok := t.promote(key, key); ok {
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
	v, ok := t.cur[key]
	if !ok && t.old != nil {
		if _, ok = t.old[key]; ok {
			// (a copy, as the caller's Put would have made)
			v, _ = t.promote(key, strings.Clone(key))
		}
	}
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

// promote moves key's value from the old generation to the current one,
// kept under stored (key itself or its copy), and returns it.
func (t *Table[V]) promote(key, stored string) (V, bool) {
	v, ok := t.old[key]
	if !ok {
		return v, false
	}
	delete(t.old, key)
	t.oldBytes -= len(key)
	t.put(stored, v)
	return v, true
}

func (t *Table[V]) put(key string, v V) {
	if len(key) > MaxBytes/16 {
		return // one huge key must not start a generation
	}
	if _, ok := t.cur[key]; ok { // two callers computed it at once
		t.cur[key] = v
		return
	}
	if _, ok := t.old[key]; ok { // Put without Lookup: kept once
		delete(t.old, key)
		t.oldBytes -= len(key)
	}
	if t.cur == nil {
		t.cur = make(map[string]V)
	} else if len(t.cur) >= MaxEntries || t.curBytes+len(key) > MaxBytes {
		t.old, t.oldBytes = t.cur, t.curBytes
		t.cur, t.curBytes = make(map[string]V, len(t.old)), 0
	}
	t.cur[key] = v
	t.curBytes += len(key)
}

// Interner keeps one copy of each string.
type Interner struct{ t Table[string] }

// Bytes returns b as a string, the same string for the same bytes while it
// is remembered: looking up does not allocate.
func (in *Interner) Bytes(b []byte) string {
	t := &in.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.cur[string(b)]; ok {
		t.Hits++
		return s
	}
	if s, ok := t.old[string(b)]; ok {
		t.promote(s, s) // the copy kept, not b
		t.Hits++
		return s
	}
	t.Misses++
	s := string(b)
	t.put(s, s)
	return s
}
