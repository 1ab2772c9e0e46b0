package pipeline

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/capture"
	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/internal/truth"
)

// copies returns a pcap of n copies of a real Ethernet capture, copy k
// shifted by k*every and moved to its own addresses (10.k.x.y). In copy 0
// the first connection to keystone never finishes: its server's packets and
// every FIN and RST of it are dropped, so its request waits forever.
func copies(t *testing.T, name string, n int, every time.Duration) []byte {
	f, err := os.Open(truth.Capture(name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.NgReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type frame struct {
		t    time.Time
		data []byte
	}
	var frames []frame
	silent := -1 // client port of the silenced connection
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(data) < 14+20+20 || data[12] != 0x08 || data[13] != 0x00 || data[14+9] != 6 {
			continue
		}
		for k := range n {
			d := append([]byte(nil), data...)
			ip := d[14:]
			tcp := ip[int(ip[0]&0x0f)*4:]
			sport, dport, flags := int(binary.BigEndian.Uint16(tcp[0:2])), int(binary.BigEndian.Uint16(tcp[2:4])), tcp[13]
			if k == 0 {
				if silent < 0 && dport == 5000 && flags&0x12 == 0x02 {
					silent = sport
				}
				if silent >= 0 && (sport == silent && (dport != 5000 || flags&0x05 != 0) || sport == 5000 && dport == silent) {
					continue
				}
			}
			ip[13], ip[17] = byte(k), byte(k) // 10.k.x.y
			frames = append(frames, frame{ci.Timestamp.Add(time.Duration(k) * every), d})
		}
	}
	sort.SliceStable(frames, func(i, j int) bool { return frames[i].t.Before(frames[j].t) })
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: fr.t, CaptureLength: len(fr.data), Length: len(fr.data)}
		if err := w.WritePacket(ci, fr.data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n atomic.Int64 // read by out, on the pipeline's out stage
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestNeverFinishedConnectionStillStreams: one request that is never
// answered at the start of a 3-minute capture (90 shifted copies of a real
// one) no longer holds every exchange back until the end: most are
// delivered while the capture is still being read, the unanswered one
// leaves in progress with a note, and all leave in start order.
func TestNeverFinishedConnectionStillStreams(t *testing.T) {
	pcap := copies(t, "seed-image-list.lo", 90, 2*time.Second)
	in := &counter{r: bytes.NewReader(pcap)}
	// more than the reader buffers ahead: its batches, and its read buffer
	const slack = readBatches*readBatchBytes + 1<<20
	var early int
	var exs []*decoder.Exchange
	res, err := Run([]string{"-"}, Options{Capture: capture.Options{Stdin: in}}, func(e *decoder.Exchange) {
		if in.n.Load() < int64(len(pcap)-slack) {
			early++
		}
		exs = append(exs, e)
	})
	if err != nil {
		t.Fatal(err)
	}
	if early < len(exs)/3 {
		t.Fatalf("%d of %d exchanges delivered while more than %d of the %d bytes were unread: output does not stream", early, len(exs), slack, len(pcap))
	}
	var silent []*decoder.Exchange
	for i, e := range exs {
		if i > 0 && e.Start().Before(exs[i-1].Start()) {
			t.Fatalf("exchange %d starts before exchange %d", i+1, i)
		}
		if strings.Contains(strings.Join(e.Notes, ";"), "emitted in progress: no reply within 1m0s") {
			silent = append(silent, e)
		}
	}
	if len(silent) != 1 {
		t.Fatalf("%d exchanges emitted in progress, want the silenced request", len(silent))
	}
	r, ok := silent[0].Request.(*http.Request)
	if !ok || silent[0].Response != nil || !silent[0].Truncated {
		t.Fatalf("silenced exchange: %+v", silent[0])
	}
	diag := false
	for _, d := range res.Diagnostics {
		diag = diag || strings.Contains(d.What, "emitted in progress")
	}
	if !diag {
		t.Errorf("diagnostics %v: want one about exchanges emitted in progress", res.Diagnostics)
	}
	t.Logf("%d of %d exchanges delivered with over %d bytes of %d unread; %s %s emitted in progress", early, len(exs), slack, len(pcap), r.Method, r.Target)
}
