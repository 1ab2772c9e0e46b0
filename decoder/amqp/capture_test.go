package amqp

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/capture"
	"github.com/flowmap/flowmap/decoder/tcp"
)

// sharedNova is where the lab's nova captures live (not in the repository).
var sharedNova = filepath.Join("..", "..", "..", "shared", "captures", "nova")

// TestWholeCapturesMatchTshark runs whole nova captures through
// decoder/capture and decoder/tcp with this decoder and checks, for every
// AMQP connection, each frame in order against tshark's truth, and that
// every Basic.Publish/Deliver tshark lists is one message with the same
// exchange, routing key and body size. Skipped without ../shared.
func TestWholeCapturesMatchTshark(t *testing.T) {
	for _, name := range []string{"nova-boot", "nova-boot-mtu1500", "nova-boot-fail", "nova-concurrent",
		"nova-list-show-delete", "nova-quota-fail", "nova-delete-uwsgi-rst"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(sharedNova, name+".pcapng")
			if _, err := os.Stat(path); err != nil {
				t.Skip("no shared capture:", err)
			}
			frames := map[uint16][]truthRow{} // by client port
			var msgs []string
			proto := decoder.Protocol{
				Name: "amqp", Sniff: Sniff, Port: NewProtocol(Options{}).Port,
				New: func(c *decoder.Conn, emit decoder.Emit) decoder.StreamDecoder {
					d := New(c, emit, Options{})
					port := c.Client.Port()
					d.onFrame = func(f frame) {
						if f.typ != 0 {
							frames[port] = append(frames[port], fromFrame(f))
						}
					}
					return d
				},
			}
			a := tcp.New(tcp.Options{Protocols: []decoder.Protocol{proto}}, func(x *decoder.Exchange) {
				if m, ok := x.Request.(*Message); ok && (m.Kind == "publish" || m.Kind == "deliver") {
					msgs = append(msgs, fmt.Sprintf("%d %s x=%q rk=%q %d", x.Conn.Client.Port(), m.Kind, m.Exchange, m.RoutingKey, m.BodySize))
				}
			})
			r, err := capture.Open([]string{path}, capture.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for {
				p, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if p.IP != nil {
					a.Packet(p.IP, p.Time, p.Iface)
				}
			}
			a.Close()

			want := map[uint16][]truthRow{}
			var wantMsgs []string
			rows := readTruthPorts(t, filepath.Join(sharedNova, "truth", name+".amqp.tsv"))
			for i, r := range rows {
				want[r.port] = append(want[r.port], r.truthRow)
				if (r.method == "basic.publish" || r.method == "basic.deliver") && i+1 < len(rows) {
					wantMsgs = append(wantMsgs, fmt.Sprintf("%d %s x=%q rk=%q %s", r.port, strings.TrimPrefix(r.method, "basic."), r.exchange, r.key, rows[i+1].bodyLen))
				}
			}
			matched := 0
			for port, w := range want {
				g := frames[port]
				for i := range w {
					if w[i].typ != frameHeader {
						w[i].bodyLen = ""
					}
				}
				if fmt.Sprint(g) != fmt.Sprint(w) {
					for i := range min(len(g), len(w)) {
						if g[i] != w[i] {
							t.Errorf("client port %d frame %d of %d/%d:\n got %v\nwant %v", port, i, len(g), len(w), g[i], w[i])
							break
						}
					}
					if len(g) != len(w) {
						t.Errorf("client port %d: %d frames, tshark %d", port, len(g), len(w))
					}
					continue
				}
				matched += len(w)
			}
			sort.Strings(msgs)
			sort.Strings(wantMsgs)
			if strings.Join(msgs, "\n") != strings.Join(wantMsgs, "\n") {
				t.Errorf("messages differ: got %d, tshark %d", len(msgs), len(wantMsgs))
			}
			t.Logf("%d of %d frames on %d connections and %d of %d messages match tshark", matched, len(rows), len(want), len(msgs), len(wantMsgs))
		})
	}
}

type portRow struct {
	truthRow
	port uint16
}

// readTruthPorts reads a whole capture's truth with each row's client port.
func readTruthPorts(t *testing.T, path string) []portRow {
	rows := readTruth(t, path)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")[1:]
	out := make([]portRow, len(rows))
	for i, l := range lines {
		c := strings.Split(l, "\t")
		port := c[4]
		if port == "5672" {
			port = c[6]
		}
		p, _ := strconv.Atoi(port)
		out[i] = portRow{rows[i], uint16(p)}
	}
	return out
}
