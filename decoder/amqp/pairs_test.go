package amqp

import (
	"strings"
	"testing"
)

// TestPairs: nova-api's connection (handshake captured) gives its
// synchronous methods as request/response pairs, in start order, then its
// publish as a one-way message; the broker's publisher confirm is none.
func TestPairs(t *testing.T) {
	xs, _ := readConv(t, "testdata/streams/nova-boot.s38.conv").run(Options{}, 0)
	var got []string
	for _, x := range xs {
		s := x.Request.Summary()
		if x.Response != nil {
			s += " -> " + x.Response.Summary()
		}
		if x.OneWay {
			s += " (one-way)"
		}
		if x.Truncated {
			s += " (truncated)"
		}
		got = append(got, s)
	}
	want := []string{
		"connection.start -> connection.start-ok",
		"connection.tune -> connection.tune-ok",
		"connection.open -> connection.open-ok",
		"channel.open -> channel.open-ok",
		"exchange.declare nova -> exchange.declare-ok",
		"confirm.select -> confirm.select-ok",
	}
	if n := len(got); n < len(want)+1 || strings.Join(got[:len(want)], "\n") != strings.Join(want, "\n") {
		t.Fatalf("exchanges:\n%s\nwant first\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, s := range got[len(want):] {
		if !strings.HasPrefix(s, "publish ") || !strings.HasSuffix(s, "(one-way)") {
			t.Errorf("after the handshake %q, want only one-way publishes", s)
		}
	}
}
