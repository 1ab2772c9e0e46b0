package summary

import (
	"net/netip"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/flow"
)

func httpExchange(id int, client, server string, start, end float64, req *http.Request, resp *http.Response) *decoder.Exchange {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	return &decoder.Exchange{
		Proto:   "http",
		Conn:    &decoder.Conn{ID: id, Client: netip.MustParseAddrPort(client), Server: netip.MustParseAddrPort(server)},
		Request: req, Response: resp,
		ReqStart: at(start), ReqEnd: at(start), RespStart: at(end), RespEnd: at(end),
	}
}

// TestReauthRevalidated: a glance that logs in to keystone for every
// request and validates the same user token each time, within its cache
// lifetime (the lab never did this: the captures have neither finding).
func TestReauthRevalidated(t *testing.T) {
	ua := [2]string{"User-Agent", "glance/25.1.0 keystonemiddleware.auth_token/10.1.0"}
	user := "gAAAAABuserTokenOfTheClient"
	var exs []*decoder.Exchange
	id := 0
	for i, start := range []float64{0, 10, 20} {
		svc := "gAAAAABglanceOwnToken" + string(rune('a'+i))
		id++
		exs = append(exs, httpExchange(id, "10.0.0.1:4000"+string(rune('0'+i)), "10.0.0.2:9292", start, start+5,
			&http.Request{Method: "GET", Target: "/v2/images", Headers: [][2]string{{"X-Auth-Token", user}}},
			&http.Response{Status: 200}))
		id++
		exs = append(exs, httpExchange(id, "10.0.0.2:5000"+string(rune('0'+i)), "10.0.0.2:5000", start+1, start+2,
			&http.Request{Method: "POST", Target: "/v3/auth/tokens", Headers: [][2]string{ua}},
			&http.Response{Status: 201, Headers: [][2]string{{"X-Subject-Token", svc}}}))
		id++
		exs = append(exs, httpExchange(id, "10.0.0.2:5100"+string(rune('0'+i)), "10.0.0.2:5000", start+3, start+4,
			&http.Request{Method: "GET", Target: "/v3/auth/tokens", Headers: [][2]string{ua, {"X-Auth-Token", svc}, {"X-Subject-Token", user}}},
			&http.Response{Status: 200}))
	}
	s := Compute(flow.Build(exs, flow.Options{}), Options{})
	got := map[string]Finding{}
	for _, f := range s.Findings {
		got[f.Kind] = f
		t.Logf("%s: %s %v", f.Kind, f.Text, f.Numbers)
	}
	if f, ok := got["reauth"]; !ok || f.Numbers["authentications"] != 3 || f.Numbers["requests_served"] != 3 {
		t.Errorf("reauth: %+v, want 3 logins for 3 requests", f)
	}
	if f, ok := got["revalidated"]; !ok || f.Numbers["validations"] != 3 || f.Numbers["within_s"] != 20 || f.Numbers["ttl_s"] != 300 {
		t.Errorf("revalidated: %+v, want 3 validations within 20 s of a 300 s ttl", f)
	}
}
