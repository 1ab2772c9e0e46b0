package capture

import (
	"bytes"
	"errors"
	"io"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// laggedCapture writes a two-interface pcapng (a, b, and idle extra ones)
// the way dumpcap does when it flushes interfaces in turn: b's packets are
// written lag later than their timestamps say. The frames are distinct real
// frames of the seed capture; a and b alternate every 5 ms for 4 s.
func laggedCapture(t testing.TB, lag time.Duration, idle int) []byte {
	t.Helper()
	frames := pcapgoRead(t, capPath("seed-image-list.lo.pcapng"))
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "a", LinkType: layers.LinkTypeEthernet, TimestampResolution: 9},
		pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range append([]string{"b"}, make([]string, idle)...) {
		if _, err := w.AddInterface(pcapgo.NgInterface{Name: name, LinkType: layers.LinkTypeEthernet, TimestampResolution: 9}); err != nil {
			t.Fatal(err)
		}
	}
	type pkt struct {
		t, written time.Time
		iface      int
		data       []byte
	}
	t0 := time.Unix(1795978839, 0)
	var pkts []pkt
	for i := range 800 {
		p := pkt{t: t0.Add(time.Duration(i) * 5 * time.Millisecond), iface: i % 2, data: frames[i].data}
		p.written = p.t
		if p.iface == 1 {
			p.written = p.t.Add(lag)
		}
		pkts = append(pkts, p)
	}
	sort.SliceStable(pkts, func(i, j int) bool { return pkts[i].written.Before(pkts[j].written) })
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: p.t, CaptureLength: len(p.data), Length: len(p.data), InterfaceIndex: p.iface}
		if err := w.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestMergeWindow: interface lag within MergeWindow is undone; lag beyond
// it, or beyond MaxBuffered, lets packets out of order, counted and
// reported; an interface that never delivers holds nothing back for longer
// than the window.
func TestMergeWindow(t *testing.T) {
	tests := []struct {
		name     string
		lag      time.Duration
		idle     int
		opts     Options
		disorder bool
	}{
		{"lag-300ms-default-window", 300 * time.Millisecond, 0, Options{}, false},
		{"lag-1900ms-default-window", 1900 * time.Millisecond, 0, Options{}, false},
		{"lag-3s-default-window", 3 * time.Second, 0, Options{}, true},
		{"lag-3s-window-5s", 3 * time.Second, 0, Options{MergeWindow: 5 * time.Second}, false},
		{"lag-300ms-window-100ms", 300 * time.Millisecond, 0, Options{MergeWindow: 100 * time.Millisecond}, true},
		{"lag-300ms-buffer-5KB", 300 * time.Millisecond, 0, Options{MaxBuffered: 5000}, true},
		{"idle-interface", 300 * time.Millisecond, 1, Options{}, false},
		{"three-idle-interfaces-window-500ms", 300 * time.Millisecond, 3, Options{MergeWindow: 500 * time.Millisecond}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, "lag.pcapng", laggedCapture(t, tt.lag, tt.idle))
			got, r := readAllPaths(t, tt.opts, path)
			st := r.Stats()
			if len(got) != 800 || st.Sources != 2+tt.idle {
				t.Fatalf("%d packets, stats %+v", len(got), st)
			}
			disorder := 0
			for i := 1; i < len(got); i++ {
				if got[i].t.Before(got[i-1].t) {
					disorder++
				}
			}
			if (disorder > 0) != tt.disorder || (st.OutOfOrder > 0) != tt.disorder {
				t.Fatalf("%d packets out of order (stats %d), want disorder %v", disorder, st.OutOfOrder, tt.disorder)
			}
			d := r.Diagnostics()
			if tt.disorder != (len(d) == 1 && d[0].Where == "merge" && strings.Contains(d[0].What, "out of time order")) {
				t.Fatalf("diagnostics %v", d)
			}
		})
	}
}

// errReader returns data, then err.
type errReader struct {
	data []byte
	err  error
}

func (e *errReader) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

// TestReadError: an I/O error mid-file is a Fatal diagnostic naming the
// file, offset and error, after the packets before it.
func TestReadError(t *testing.T) {
	seed := readFile(t, capPath(seedFile))
	e := nthEPB(t, seed, 300)
	r, err := newReader([]stream{{name: "disk.pcapng", r: &errReader{seed[:e.off+10], errors.New("input/output error")}, size: -1}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := drain(t, r)
	d := r.Diagnostics()
	if len(got) != 299 || len(d) != 1 || !d[0].Fatal ||
		d[0].String() != "disk.pcapng: read error in pcapng block at offset "+strconv.Itoa(e.off)+" after packet 299: input/output error" {
		t.Fatalf("%d packets, diagnostics %q", len(got), d)
	}
}

// TestReaderLifecycle: no inputs, Next after the end and after Close.
func TestReaderLifecycle(t *testing.T) {
	if _, err := Open(nil, Options{}); err == nil {
		t.Fatal("Open(nil) succeeded")
	}
	r := openT(t, Options{}, capPath("seed-image-list.ens33.pcapng"))
	drain(t, r)
	for range 2 {
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("Next after the end: %v", err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := r.Next(); err == nil || err == io.EOF {
		t.Fatalf("Next after Close: %v", err)
	}
	// Closing mid-file is fine too.
	r = openT(t, Options{}, capPath("concurrent.pcapng"), capPath("auth-fail.pcapng"))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}
