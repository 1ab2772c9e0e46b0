// Package pipeline wires the decoding stages together: capture files to
// packets (decoder/capture), packets to byte streams (decoder/tcp), streams
// to exchanges (decoder/http, decoder/memcache, decoder/mysql), and hands
// the exchanges out in start-time order with bounded buffering.
package pipeline

import (
	"container/heap"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/capture"
	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/decoder/memcache"
	"github.com/flowmap/flowmap/decoder/mysql"
	"github.com/flowmap/flowmap/decoder/tcp"
)

// Options configure a run. The zero value decodes everything with defaults.
type Options struct {
	Capture  capture.Options
	TCP      tcp.Options // Protocols defaults to HTTP, memcache, MySQL
	HTTP     http.Options
	Memcache memcache.Options
	MySQL    mysql.Options
	// Progress, when set, is called now and then with the bytes read so
	// far and the total (0 when unknown).
	Progress func(read, total int64)
}

// Result is what a run saw besides the exchanges.
type Result struct {
	Capture     capture.Stats
	TCP         tcp.Stats
	Exchanges   int
	Diagnostics []decoder.Diagnostic
}

// Fatal reports whether some input could not be read whole.
func (r *Result) Fatal() bool {
	for _, d := range r.Diagnostics {
		if d.Fatal {
			return true
		}
	}
	return false
}

// Protocols returns the decoders flowmap knows, in sniffing order.
func (o *Options) Protocols() []decoder.Protocol {
	return []decoder.Protocol{
		http.NewProtocol(o.HTTP),
		memcache.NewProtocol(o.Memcache),
		mysql.NewProtocol(o.MySQL),
	}
}

// Run decodes paths and calls out with every exchange in order of start
// time. It returns what it decoded even when some input was damaged; an
// error means nothing could be read at all.
func Run(paths []string, opts Options, out func(*decoder.Exchange)) (*Result, error) {
	r, err := capture.Open(paths, opts.Capture)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if opts.TCP.Protocols == nil {
		opts.TCP.Protocols = opts.Protocols()
	}
	res := &Result{}
	ord := &orderer{out: out}
	asm := tcp.New(opts.TCP, ord.add)
	reorder := opts.TCP.Reorder
	if reorder <= 0 {
		reorder = time.Second
	}
	var n int
	for {
		p, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				res.Diagnostics = append(res.Diagnostics, decoder.Diagnostic{Where: "capture", What: err.Error(), Fatal: true})
			}
			break
		}
		if p.IP != nil {
			asm.Packet(p.IP, p.Time, p.Iface)
		}
		n++
		if n&255 == 0 {
			// Everything that starts before the oldest unfinished exchange,
			// and before anything reassembly may still be holding back, is
			// final.
			w := asm.Now().Add(-2 * reorder)
			if pend := asm.Pending(); !pend.IsZero() && pend.Before(w) {
				w = pend
			}
			ord.release(w)
			if opts.Progress != nil && n&4095 == 0 {
				opts.Progress(r.BytesRead(), r.TotalBytes())
			}
		}
	}
	asm.Close()
	ord.release(time.Time{})
	if opts.Progress != nil {
		opts.Progress(r.BytesRead(), r.TotalBytes())
	}
	res.Capture = r.Stats()
	res.TCP = asm.Stats()
	res.Exchanges = ord.n
	res.Diagnostics = append(r.Diagnostics(), res.Diagnostics...)
	if st := res.TCP; st.Gaps > 0 {
		res.Diagnostics = append(res.Diagnostics, decoder.Diagnostic{Where: "tcp", What: fmt.Sprintf("%d gaps, %d bytes not captured (marked truncated)", st.Gaps, st.LostBytes)})
	}
	if st := res.TCP; st.Unknown > 0 {
		res.Diagnostics = append(res.Diagnostics, decoder.Diagnostic{Where: "tcp", What: fmt.Sprintf("%d connections of unknown protocol (%d bytes) not decoded", st.Unknown, st.UnknownBytes)})
	}
	if st := res.TCP; st.Evicted > 0 {
		res.Diagnostics = append(res.Diagnostics, decoder.Diagnostic{Where: "tcp", What: fmt.Sprintf("%d connections closed early: more than %d open at once (their exchanges are noted)", st.Evicted, asm.Options().MaxConns)})
	}
	if st := res.TCP; st.Expired > 0 {
		o := asm.Options()
		res.Diagnostics = append(res.Diagnostics, decoder.Diagnostic{Where: "tcp", What: fmt.Sprintf("%d times exchanges were emitted in progress: no reply within %v or %d MiB of capture (noted on each)", st.Expired, o.MaxHold, o.MaxHoldBytes>>20)})
	}
	if st := res.TCP; st.Malformed > 0 {
		res.Diagnostics = append(res.Diagnostics, decoder.Diagnostic{Where: "ip", What: fmt.Sprintf("%d packets with IP or TCP headers that could not be decoded were skipped", st.Malformed)})
	}
	if st := res.TCP; st.Fragments > 0 {
		res.Diagnostics = append(res.Diagnostics, decoder.Diagnostic{Where: "ip", What: fmt.Sprintf("%d IP fragments not reassembled", st.Fragments)})
	}
	return res, nil
}

// orderer holds exchanges until no earlier one can still come.
type orderer struct {
	h    exHeap
	seq  int
	n    int
	last time.Time // start of the last exchange written
	out  func(*decoder.Exchange)
}

type item struct {
	e   *decoder.Exchange
	seq int
}

type exHeap []item

func (h exHeap) Len() int { return len(h) }
func (h exHeap) Less(i, j int) bool {
	a, b := h[i].e.Start(), h[j].e.Start()
	if !a.Equal(b) {
		return a.Before(b)
	}
	return h[i].seq < h[j].seq
}
func (h exHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *exHeap) Push(x any)   { *h = append(*h, x.(item)) }
func (h *exHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

func (o *orderer) add(e *decoder.Exchange) {
	o.seq++
	heap.Push(&o.h, item{e, o.seq})
}

// release emits every exchange that starts before w (all when w is zero).
func (o *orderer) release(w time.Time) {
	for len(o.h) > 0 && (w.IsZero() || o.h[0].e.Start().Before(w)) {
		it := heap.Pop(&o.h).(item)
		o.n++
		if st := it.e.Start(); st.Before(o.last) {
			// Only a message still arriving past the TCP layer's hold-back
			// limit (a slow upload) is no longer waited for.
			it.e.Notes = append(it.e.Notes, "out of start order: began before exchanges already written (arrived after the hold-back limit)")
		} else {
			o.last = st
		}
		o.out(it.e)
	}
}
