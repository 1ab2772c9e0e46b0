//go:build unix

package tcp

import (
	"os"
	"runtime/debug"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/flowmap/flowmap/decoder"
)

// TestFaultInMappedBytesIsAChange: bytes of a segment that fault where
// the decoding side reads them, inside a mapped capture (Options.Fault:
// the file shrank under flowmap), cost their connection as a change of
// the file, not as a decoder's failure; the same fault outside any mapped
// file stays a failure (a bug). The segment's payload lies on a page made
// unreadable after it was built.
func TestFaultInMappedBytesIsAChange(t *testing.T) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	page := os.Getpagesize()
	for _, inFile := range []bool{true, false} {
		mem, err := unix.Mmap(-1, 0, 2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
		if err != nil {
			t.Fatal(err)
		}
		pp := &pendProto{}
		base := uintptr(unsafe.Pointer(&mem[0]))
		a := New(Options{Protocols: []decoder.Protocol{pp.protocol()}, Fault: func(x any) (string, bool) {
			e, ok := x.(interface{ Addr() uintptr })
			return "x.pcap", ok && inFile && e.Addr()-base < uintptr(2*page)
		}}, func(*decoder.Exchange) {})
		cv := newConv(a, "10.0.0.1:40000", "10.0.0.2:5000", 1000)
		t0 := time.Unix(1_700_000_000, 0).UTC()
		cv.handshake(t0)
		seg := segment(cv.c.addr, cv.s.addr, cv.c.seq, cv.s.seq, psh|ack, make([]byte, 100))
		off := page - 40 // the headers on the first page, the payload on the second
		copy(mem[off:], seg)
		if err := unix.Mprotect(mem[page:], unix.PROT_NONE); err != nil {
			t.Fatal(err)
		}
		a.Packet(mem[off:off+len(seg)], t0, "")
		cv.c.seq += 100
		cv.send(decoder.ServerToClient, []byte("HTTP/1.1 200 OK\r\n\r\n"), t0)
		a.Close()
		st := a.Stats()
		// the answer's 19 bytes, after: a failed decoder's, not a changed file's
		if inFile && (st.ChangedConns != 1 || st.Changed != "x.pcap" || st.Failed != 0 || st.FailedBytes != 0 || st.Failure != "") ||
			!inFile && (st.ChangedConns != 0 || st.Failed != 1 || st.FailedBytes != 19) {
			t.Errorf("in a mapped file %v: changed %d (%q), failed %d (%d bytes after: %s)", inFile, st.ChangedConns, st.Changed, st.Failed, st.FailedBytes, st.Failure)
		}
		if err := unix.Munmap(mem); err != nil {
			t.Fatal(err)
		}
	}
}
