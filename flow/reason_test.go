package flow

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/http"
)

// TestReasonPhraseRedacted: a token quoted in an HTTP reason phrase does
// not reach the node every printer reads.
func TestReasonPhraseRedacted(t *testing.T) {
	tok := "gAAAAABnQ3x-" + strings.Repeat("k7Qp2Zr9", 20)
	at := time.Unix(1796000000, 0).UTC()
	c := &decoder.Conn{ID: 1, Client: netip.MustParseAddrPort("10.0.20.100:40000"), Server: netip.MustParseAddrPort("10.0.20.11:9292")}
	req := (&http.Request{Method: "GET", Target: "/v2/images", Version: "HTTP/1.1"}).WithSecrets(nil)
	resp := (&http.Response{Version: "HTTP/1.1", Status: 401, Reason: "Unauthorized " + tok}).WithSecrets(nil)
	m := Build([]*decoder.Exchange{{Proto: "http", Conn: c, ReqStart: at, ReqEnd: at, RespStart: at, RespEnd: at, Request: req, Response: resp}}, Options{})
	var got string
	m.Walk(func(n *Node, _ int) { got = n.Result })
	if strings.Contains(got, tok) || !strings.Contains(got, "Unauthorized") || !strings.Contains(got, decoder.Fingerprint(tok)) {
		t.Errorf("result %q", got)
	}
}
