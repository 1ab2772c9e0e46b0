package flow

import (
	"net/netip"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/amqp"
	"github.com/flowmap/flowmap/decoder/http"
)

// castScene: nova-compute gets a cast (build_and_run_instance), then a
// call; while it handles both (it calls the conductor for the cast's
// request after) it asks neutron for ports without a request id. withCast
// false leaves the cast out.
func castScene(withCast bool) []*decoder.Exchange {
	at := time.Unix(1796000000, 0).UTC()
	ms := func(n int) time.Time { return at.Add(time.Duration(n) * time.Millisecond) }
	conductor := &decoder.Conn{ID: 1, Client: netip.MustParseAddrPort("10.0.0.1:40001"), Server: netip.MustParseAddrPort("10.0.0.9:5672")}
	compute := &decoder.Conn{ID: 2, Client: netip.MustParseAddrPort("10.0.0.2:40002"), Server: netip.MustParseAddrPort("10.0.0.9:5672")}
	neutron := &decoder.Conn{ID: 3, Client: netip.MustParseAddrPort("10.0.0.2:50000"), Server: netip.MustParseAddrPort("10.0.0.3:9696")}
	msg := func(c *decoder.Conn, t time.Time, kind, exchange, key string, o *amqp.Oslo) *decoder.Exchange {
		o.Version = "2.0"
		return &decoder.Exchange{Proto: "amqp", Conn: c, OneWay: true, ReqStart: t, ReqEnd: t,
			Request: &amqp.Message{Kind: kind, Exchange: exchange, RoutingKey: key, Oslo: o}}
	}
	var exs []*decoder.Exchange
	if withCast {
		cast := amqp.Oslo{Method: "build_and_run_instance", UniqueID: "u1", RequestID: "req-cast"}
		c2 := cast
		exs = append(exs, msg(conductor, ms(0), "publish", "nova", "compute.host1", &cast), msg(compute, ms(1), "deliver", "nova", "compute.host1", &c2))
	}
	call := amqp.Oslo{Method: "check_can_live_migrate_source", MsgID: "m1", ReplyQ: "reply_x", UniqueID: "u2", RequestID: "req-call"}
	c2 := call
	exs = append(exs, msg(conductor, ms(10), "publish", "nova", "compute.host1", &call), msg(compute, ms(11), "deliver", "nova", "compute.host1", &c2))
	exs = append(exs, &decoder.Exchange{Proto: "http", Conn: neutron, ReqStart: ms(20), ReqEnd: ms(20), RespStart: ms(30), RespEnd: ms(30),
		Request: &http.Request{Method: "GET", Target: "/v2.0/ports?device_id=d1", Version: "HTTP/1.1",
			Headers: [][2]string{{"User-Agent", "nova-compute/29.0.0 keystoneauth1/5.0.0 python-requests/2.28.1 CPython/3.11.2"}}},
		Response: &http.Response{Version: "HTTP/1.1", Status: 200, Reason: "OK",
			Headers: [][2]string{{"X-OpenStack-Request-ID", "req-neutron"}}}})
	if withCast {
		// still building: compute calls the conductor for the cast's request
		oa := amqp.Oslo{Method: "object_action", MsgID: "m2", ReplyQ: "reply_y", UniqueID: "u3", RequestID: "req-cast"}
		exs = append(exs, msg(compute, ms(35), "publish", "nova", "conductor", &oa))
	}
	reply := amqp.Oslo{Reply: true, MsgID: "m1", Result: "None", Ending: true}
	r2 := reply
	exs = append(exs, msg(compute, ms(40), "publish", "", "reply_x", &reply), msg(conductor, ms(41), "deliver", "", "reply_x", &r2))
	return exs
}

// TestHTTPDuringCastIsAGuess: an HTTP request with no request id goes
// under the call its service was handling, by timing; while the service
// was also handling a cast (whose handling has no visible end) it may
// belong to the cast, so it is marked as a guess. With no cast, the one
// call in progress is not a guess.
func TestHTTPDuringCastIsAGuess(t *testing.T) {
	for _, withCast := range []bool{true, false} {
		m := Build(castScene(withCast), Options{})
		var ports *Node
		m.Walk(func(n *Node, _ int) {
			if n.Proto == "http" {
				ports = n
			}
		})
		if ports == nil || ports.Parent() == nil || ports.Parent().RPC == nil || ports.Parent().RPC.Method != "check_can_live_migrate_source" {
			t.Fatalf("cast %v: the ports request is not under the call: %+v", withCast, ports)
		}
		if got := ports.Ambiguous(); got != withCast {
			t.Errorf("cast %v: Ambiguous() = %v", withCast, got)
		}
		// the cast is named among the candidates (--format json, OTLP)
		if want := map[bool]int{true: 2, false: 0}[withCast]; len(ports.Candidates) != want {
			t.Errorf("cast %v: candidates %v, want %d", withCast, ports.Candidates, want)
		}
	}
}
