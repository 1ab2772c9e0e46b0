package pipeline

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/decoder/amqp"
	"github.com/flowmap/flowmap/internal/truth"
)

// novaCaptures are the lab's nova captures (../shared/captures/nova);
// nova-boot and nova-boot-fail are also in testdata/nova, nova-reboot only
// there, as is nova-stop-start-reboot.
var novaCaptures = []string{"nova-boot", "nova-boot-mtu1500", "nova-boot-fail", "nova-concurrent",
	"nova-list-show-delete", "nova-quota-fail", "nova-delete-uwsgi-rst", "nova-reboot", "nova-stop-start-reboot"}

// novaPaths is the capture and its AMQP truth file: the shared copy when
// there, else the testdata one, else "".
func novaPaths(name string) (string, string) {
	if p := truth.Shared(filepath.Join("nova", name+".pcapng")); p != "" {
		return p, filepath.Join(filepath.Dir(p), "truth", name+".amqp.tsv")
	}
	p := filepath.Join(truth.Root(), "testdata", "nova", name+".pcapng")
	if _, err := os.Stat(p); err == nil {
		return p, filepath.Join(truth.Root(), "testdata", "nova", "truth", name+".amqp.tsv")
	}
	return "", ""
}

// tsharkMsg is one Basic.Publish/Deliver as tshark lists it, with what
// its body's oslo.messaging envelope says (decoded here with
// encoding/json from tshark's payload text).
type tsharkMsg struct {
	port                     uint16 // client port of the connection
	kind, exchange, key      string
	size                     uint64
	method, msgID, requestID string
}

func (m tsharkMsg) String() string {
	return fmt.Sprintf("%d %s x=%q rk=%q %d method=%q msg_id=%q req=%q", m.port, m.kind, m.exchange, m.key, m.size, m.method, m.msgID, m.requestID)
}

func readAMQPTruth(t *testing.T, path string) []tsharkMsg {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	col := map[string]int{}
	for i, h := range strings.Split(lines[0], "\t") {
		col[h] = i
	}
	var out []tsharkMsg
	var cur *tsharkMsg
	for _, l := range lines[1:] {
		c := strings.Split(l, "\t")
		get := func(k string) string { return c[col[k]] }
		switch get("method") {
		case "basic.publish", "basic.deliver":
			port := get("sport")
			if port == "5672" {
				port = get("dport")
			}
			p, _ := strconv.Atoi(port)
			out = append(out, tsharkMsg{port: uint16(p), kind: strings.TrimPrefix(get("method"), "basic."), exchange: get("exchange"), key: get("routing_key")})
			cur = &out[len(out)-1]
		case "content-header":
			if cur != nil {
				cur.size, _ = strconv.ParseUint(get("body_size"), 10, 64)
			}
		case "content-body":
			if cur == nil {
				continue
			}
			var env struct {
				Msg string `json:"oslo.message"`
			}
			if json.Unmarshal([]byte(truth.Unescape(get("payload"))), &env) == nil {
				var in struct {
					Method    string `json:"method"`
					MsgID     string `json:"_msg_id"`
					RequestID string `json:"_context_request_id"`
				}
				if err := json.Unmarshal([]byte(env.Msg), &in); err != nil {
					t.Fatalf("%s: tshark's payload of %v does not decode: %v", path, cur, err)
				}
				cur.method, cur.msgID, cur.requestID = in.Method, in.MsgID, in.RequestID
			}
			cur = nil
		}
	}
	return out
}

// TestAMQPMatchesTshark: decode lists every Basic.Publish/Deliver of every
// nova capture that tshark lists, connection by connection in order, with
// exchange, routing key and body size equal; the oslo.messaging envelope
// is read on every one of them, and its method, _msg_id and request id
// are those tshark's payload holds.
func TestAMQPMatchesTshark(t *testing.T) {
	ran := 0
	for _, name := range novaCaptures {
		t.Run(name, func(t *testing.T) {
			path, tpath := novaPaths(name)
			if path == "" {
				t.Skip("capture not in testdata and ../shared absent")
			}
			ran++
			want := readAMQPTruth(t, tpath)
			exs, _ := decodeAll(t, path)
			wantBy := map[uint16][]tsharkMsg{}
			for _, w := range want {
				wantBy[w.port] = append(wantBy[w.port], w)
			}
			gotBy := map[uint16][]tsharkMsg{}
			n := 0
			for _, e := range exs {
				m, ok := e.Request.(*amqp.Message)
				if !ok || m.Kind != "publish" && m.Kind != "deliver" {
					continue
				}
				n++
				if e.Proto != "amqp" || !e.OneWay || e.Response != nil || e.Truncated {
					t.Errorf("%s: proto %q one-way %v response %v truncated %v", m.Summary(), e.Proto, e.OneWay, e.Response, e.Truncated)
				}
				g := tsharkMsg{port: e.Conn.Client.Port(), kind: m.Kind, exchange: m.Exchange, key: m.RoutingKey, size: m.BodySize}
				o := m.Oslo
				if o == nil || o.Error != "" {
					t.Errorf("%s: no oslo.messaging envelope: %+v", m.Summary(), o)
				} else {
					g.method, g.msgID, g.requestID = o.Method, o.MsgID, o.RequestID
					switch o.Kind() {
					case "reply":
						if o.MsgID == "" || !o.Ending {
							t.Errorf("%s: reply without _msg_id or ending", m.Summary())
						}
					default:
						if o.Method == "" || o.RequestID == "" {
							t.Errorf("%s: %s without method or request id", m.Summary(), o.Kind())
						}
					}
				}
				if m.BodyBytes != m.BodySize {
					t.Errorf("%s: %d of %d body bytes", m.Summary(), m.BodyBytes, m.BodySize)
				}
				gotBy[g.port] = append(gotBy[g.port], g)
			}
			if n != len(want) || len(want) == 0 {
				t.Errorf("%d messages, tshark lists %d", n, len(want))
			}
			for port, w := range wantBy {
				g := gotBy[port]
				if fmt.Sprint(g) != fmt.Sprint(w) {
					t.Errorf("connection from port %d:\n got %v\nwant %v", port, g, w)
				}
			}
			t.Logf("%d publish/deliver match tshark", n)
		})
	}
	if ran == 0 {
		t.Fatal("no nova capture checked: testdata/nova is missing")
	}
}
