package amqp

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/decoder"
)

// The real streams of testdata/streams (see extract-streams.sh) and what
// tshark says about each of their frames.
var realStreams = []string{
	"nova-boot.s38",         // handshake, exchange.declare, confirm.select, publish
	"nova-boot.s39",         // began before the capture: deliveries, consumer acks
	"nova-boot.s42",         // began before the capture: publishes, broker confirms
	"nova-boot-mtu1500.s31", // the handshake again, frames over several segments
	"nova-boot-mtu1500.s32", // deliveries over several segments
}

// truthRow is one AMQP frame as tshark decoded it (truth/*.amqp.tsv).
type truthRow struct {
	dir                            decoder.Dir
	typ                            int
	channel                        int
	method, exchange, key, bodyLen string
}

func (r truthRow) String() string {
	return fmt.Sprintf("%v type %d ch %d %s x=%q rk=%q size=%s", r.dir, r.typ, r.channel, r.method, r.exchange, r.key, r.bodyLen)
}

func readTruth(t *testing.T, path string) []truthRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []truthRow
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for n := 0; sc.Scan(); n++ {
		c := strings.Split(sc.Text(), "\t")
		if n == 0 {
			continue
		}
		if len(c) < 26 {
			t.Fatalf("%s line %d: %d columns", path, n+1, len(c))
		}
		r := truthRow{method: c[11], exchange: c[12], key: c[13], bodyLen: c[25]}
		if c[4] == "5672" {
			r.dir = decoder.ServerToClient
		}
		r.typ, _ = strconv.Atoi(c[9])
		r.channel, _ = strconv.Atoi(c[10])
		rows = append(rows, r)
	}
	return rows
}

// fromFrame renders a decoded frame like a truth row.
func fromFrame(f frame) truthRow {
	r := truthRow{dir: f.dir, typ: int(f.typ), channel: int(f.channel), method: f.name}
	switch {
	case f.method != nil:
		r.exchange, r.key = f.method.Exchange, f.method.RoutingKey
	case f.msg != nil && f.typ == frameMethod:
		r.exchange, r.key = f.msg.Exchange, f.msg.RoutingKey
	case f.msg != nil && f.typ == frameHeader:
		r.bodyLen = strconv.FormatUint(f.msg.BodySize, 10)
	}
	return r
}

// TestFramesMatchTshark: every frame of the real streams, in order, with
// its type, channel, method, exchange, routing key and declared body size,
// is the frame tshark lists, whole segments or cut into any pieces.
func TestFramesMatchTshark(t *testing.T) {
	total := 0
	for _, name := range realStreams {
		c := readConv(t, "testdata/streams/"+name+".conv")
		want := readTruth(t, "testdata/streams/"+name+".truth.tsv")
		for _, split := range []int{0, 1, 7, 1000} {
			_, frames := c.run(Options{}, split)
			var got []truthRow
			for _, f := range frames {
				if f.typ == 0 {
					continue // the protocol header: tshark 4.0 gives it no row
				}
				if f.err != nil {
					t.Errorf("%s split %d: %v: %v", name, split, f.name, f.err)
				}
				g := fromFrame(f)
				got = append(got, g)
			}
			if len(got) != len(want) {
				t.Errorf("%s split %d: %d frames, tshark has %d", name, split, len(got), len(want))
			}
			for i := range min(len(got), len(want)) {
				w := want[i]
				if got[i].typ != frameHeader {
					w.bodyLen = ""
				}
				if got[i] != w {
					t.Fatalf("%s split %d frame %d:\n got %v\nwant %v", name, split, i, got[i], w)
				}
			}
		}
		total += len(want)
	}
	t.Logf("%d frames of %d streams match tshark", total, len(realStreams))
}

// TestMessagesMatchTshark: one one-way exchange per Basic.Publish and
// Basic.Deliver tshark lists, with exchange, routing key and the whole
// body; publisher confirms are not messages.
func TestMessagesMatchTshark(t *testing.T) {
	for _, name := range realStreams {
		c := readConv(t, "testdata/streams/"+name+".conv")
		var want []truthRow
		rows := readTruth(t, "testdata/streams/"+name+".truth.tsv")
		for i, r := range rows {
			if (r.method == "basic.publish" || r.method == "basic.deliver") && i+1 < len(rows) {
				r.bodyLen = rows[i+1].bodyLen
				want = append(want, r)
			}
		}
		xs, _ := c.run(Options{}, 0)
		var got []truthRow
		for _, x := range xs {
			m, ok := x.Request.(*Message)
			if !ok {
				continue
			}
			if !x.OneWay || x.Response != nil || x.Truncated {
				t.Errorf("%s: message %s: one-way %v response %v truncated %v %q", name, m.Summary(), x.OneWay, x.Response, x.Truncated, x.Notes)
			}
			// the body is kept when no envelope was read from it
			if m.BodyBytes != m.BodySize || (m.Oslo == nil || m.Oslo.Error != "") && uint64(len(m.Body)) != m.BodySize {
				t.Errorf("%s: %s: %d body bytes, %d kept", name, m.Summary(), m.BodyBytes, len(m.Body))
			}
			dir := decoder.ClientToServer
			if m.Kind == "deliver" {
				dir = decoder.ServerToClient
			}
			got = append(got, truthRow{dir: dir, typ: 1, channel: int(m.Channel), method: "basic." + m.Kind,
				exchange: m.Exchange, key: m.RoutingKey, bodyLen: strconv.FormatUint(m.BodySize, 10)})
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: messages\n got %v\nwant %v", name, got, want)
		}
		if len(want) == 0 {
			t.Errorf("%s: no messages in the truth", name)
		}
	}
}
