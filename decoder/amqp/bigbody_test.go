package amqp

import (
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// TestLargeOsloBody: oslo.messaging puts a call's args before its _msg_id
// and context, and a reply's result before its _msg_id, so a message of a
// few hundred kB (user_data, an InstanceList) must be read whole for its
// envelope: a 300 kB call sent as 128 KiB frames, as RabbitMQ negotiates,
// gives its method, _msg_id and request id, and keeps no copy of the body.
func TestLargeOsloBody(t *testing.T) {
	b := osloBody(t, map[string]any{
		"method": "build_and_run_instance", "args": map[string]any{"user_data": strings.Repeat("U", 300_000)},
		"_msg_id": "m-1", "_reply_q": "reply_1", "_context_request_id": "req-1",
	})
	in := cat(publish(1, "nova", "compute.host1"), header(1, uint64(len(b))))
	for rest := b; len(rest) > 0; {
		n := min(len(rest), 128<<10-8)
		in = cat(in, body(1, string(rest[:n])))
		rest = rest[n:]
	}
	var got []*decoder.Exchange
	d := New(&decoder.Conn{SawSYN: true}, func(x *decoder.Exchange) { got = append(got, x) }, Options{})
	d.Data(decoder.ClientToServer, protocolHeader, time.Unix(1, 0))
	d.Data(decoder.ClientToServer, in, time.Unix(1, 0))
	d.Close(time.Unix(2, 0))
	var m *Message
	for _, x := range got {
		if mm, ok := x.Request.(*Message); ok {
			m = mm
		}
	}
	if m == nil || m.Oslo == nil {
		t.Fatalf("no message with an envelope among %d exchanges", len(got))
	}
	if o := m.Oslo; o.Error != "" || o.Method != "build_and_run_instance" || o.MsgID != "m-1" || o.RequestID != "req-1" {
		t.Fatalf("envelope %+v", *o)
	}
	if m.Body != "" || m.BodySize != uint64(len(b)) {
		t.Errorf("body kept %d bytes of %d (the envelope says what it holds)", len(m.Body), m.BodySize)
	}
}
