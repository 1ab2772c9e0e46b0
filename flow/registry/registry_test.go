package registry_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/decoder/mysql"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/flow/registry"
)

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

type fixture struct {
	exs  []*decoder.Exchange
	conn int
}

func (f *fixture) add(client, server string, at time.Duration, req, resp decoder.Message, proto string) {
	f.conn++
	c := &decoder.Conn{ID: f.conn, Client: netip.MustParseAddrPort(client), Server: netip.MustParseAddrPort(server), SawSYN: true, First: t0.Add(at)}
	f.exs = append(f.exs, &decoder.Exchange{Proto: proto, Conn: c, Request: req, Response: resp,
		ReqStart: t0.Add(at), ReqEnd: t0.Add(at + time.Millisecond),
		RespStart: t0.Add(at + 2*time.Millisecond), RespEnd: t0.Add(at + 3*time.Millisecond)})
}

func get(path string) *http.Request {
	return &http.Request{Method: "GET", Target: path, Version: "HTTP/1.1", Headers: [][2]string{{"User-Agent", "curl/8.0"}}}
}

func ok() *http.Response { return &http.Response{Version: "HTTP/1.1", Status: 200, Reason: "OK"} }

func names(m *flow.Model) map[string]flow.Kind {
	out := map[string]flow.Kind{}
	for _, p := range m.Participants {
		out[p.Name] = p.Kind
	}
	return out
}

// TestEveryEntryIsRecognised: each service's ports are claimed by the HTTP
// decoder the pipeline builds, and flow names the service from each of its
// ports, its path prefixes, its DB schemas and its tables alone.
func TestEveryEntryIsRecognised(t *testing.T) {
	var popts pipeline.Options
	popts.HTTP.Ports = registry.HTTPPorts()
	var httpProto *decoder.Protocol
	for _, p := range popts.Protocols() {
		if p.Name == "http" {
			httpProto = &p
		}
	}
	if httpProto == nil {
		t.Fatal("pipeline has no http protocol")
	}
	for _, s := range registry.Services() {
		for _, port := range s.Ports {
			if !httpProto.Port(port) {
				t.Errorf("%s: the pipeline's HTTP decoder does not claim port %d", s.Name, port)
			}
			var f fixture
			f.add("192.0.2.10:40000", fmt.Sprintf("10.0.0.1:%d", port), 0, get("/some/thing"), ok(), "http")
			if k, ok := names(flow.Build(f.exs, flow.Options{}))[s.Name]; !ok || k != flow.Service {
				t.Errorf("%s: a request to port %d is not drawn to %s: %v", s.Name, port, s.Name, names(flow.Build(f.exs, flow.Options{})))
			}
		}
		for i, path := range s.Paths {
			var f fixture
			// an unknown port: the path alone names the service
			f.add("192.0.2.10:40000", fmt.Sprintf("10.0.0.2:%d", 20000+i), 0, get(path+"x"), ok(), "http")
			if k, ok := names(flow.Build(f.exs, flow.Options{}))[s.Name]; !ok || k != flow.Service {
				t.Errorf("%s: path %s is not recognised", s.Name, path)
			}
		}
		schemas := s.DBSchemas
		if len(schemas) == 0 && len(s.Ports) > 0 {
			schemas = []string{s.Name}
		}
		for _, schema := range schemas {
			var f fixture
			f.add("10.0.0.1:41000", "10.0.0.1:3306", 0,
				&mysql.Request{Command: "login", User: "someone", UserKnown: true, Database: schema},
				&mysql.Response{Result: "ok"}, "mysql")
			want := registry.DBOwner(s.Name) + " DB"
			if registry.HasSchemas(registry.DBOwner(s.Name)) && registry.ByDBName(schema) == registry.DBOwner(s.Name) {
				want = schema + " DB" // drawn schema by schema
			}
			if _, ok := names(flow.Build(f.exs, flow.Options{}))[want]; !ok {
				t.Errorf("%s: a login to schema %s is not %s's DB: %v", s.Name, schema, s.Name, names(flow.Build(f.exs, flow.Options{})))
			}
		}
		for _, table := range s.DBTables {
			var f fixture
			f.add("10.0.0.1:41000", "10.0.0.1:3306", 0,
				&mysql.Request{Command: "query", Query: "SELECT a.x FROM `" + table + "` AS a WHERE a.id = 1"},
				&mysql.Response{Result: "rows"}, "mysql")
			want := registry.DBOwner(s.Name) + " DB"
			if sc := registry.Schema(registry.DBOwner(s.Name), table); sc != "" {
				want = sc + " DB"
			}
			if _, ok := names(flow.Build(f.exs, flow.Options{}))[want]; !ok {
				t.Errorf("%s: a query on table %s is not %s's DB work", s.Name, table, s.Name)
			}
		}
		for _, ct := range s.CatalogTypes {
			if got := registry.ByCatalogType(ct); got != s.Name {
				t.Errorf("catalog type %s is %q, want %s", ct, got, s.Name)
			}
		}
	}
}

// TestEntriesDoNotOverlap: a port, a table, a catalog type or a schema names
// one service; a path prefix of one service is not claimed by another.
func TestEntriesDoNotOverlap(t *testing.T) {
	owner := map[string]string{}
	claim := func(kind, v, s string) {
		k := kind + " " + v
		if o, ok := owner[k]; ok && o != s {
			t.Errorf("%s is both %s's and %s's", k, o, s)
		}
		owner[k] = s
	}
	for _, s := range registry.Services() {
		if !registry.Known(s.Name) {
			t.Errorf("%s is not Known", s.Name)
		}
		for _, p := range s.Ports {
			claim("port", fmt.Sprint(p), s.Name)
		}
		for _, tb := range s.DBTables {
			claim("table", tb, s.Name)
		}
		for _, c := range s.CatalogTypes {
			claim("catalog type", c, s.Name)
		}
		for _, d := range s.DBSchemas {
			claim("schema", d, s.Name)
		}
		for _, p := range s.Paths {
			if got := registry.ByPath(p); got != s.Name {
				t.Errorf("path %s of %s is claimed by %s", p, s.Name, got)
			}
		}
	}
}

func TestTokenAPI(t *testing.T) {
	for _, c := range []struct {
		method, target string
		auth, validate bool
	}{
		{"POST", "/v3/auth/tokens", true, false},
		{"POST", "/identity/v3/auth/tokens?nocatalog", true, false},
		{"GET", "/v3/auth/tokens", false, true},
		{"HEAD", "/v3/auth/tokens", false, true},
		{"GET", "/v3/auth/tokens?allow_expired=1", false, true},
		{"DELETE", "/v3/auth/tokens", false, false},
		{"GET", "/v3/auth/tokens/OS-PKI/revoked", false, false},
		{"GET", "/v3/users?name=auth/tokens", false, false},
	} {
		if a, v := registry.Authentication(c.method, c.target), registry.Validation(c.method, c.target); a != c.auth || v != c.validate {
			t.Errorf("%s %s: authentication %v validation %v, want %v %v", c.method, c.target, a, v, c.auth, c.validate)
		}
	}
	for _, c := range []struct {
		method, target string
		want           bool
	}{
		{"GET", "/", true}, {"GET", "/v3/", true}, {"GET", "/v2.1", true}, {"GET", "/identity/v3?x=1", true},
		{"POST", "/v3", false}, {"GET", "/v3/users", false}, {"GET", "/v2/images", false},
	} {
		if got := registry.Discovery(c.method, c.target); got != c.want {
			t.Errorf("Discovery(%s %s) = %v", c.method, c.target, got)
		}
	}
}

// TestSecretsReachTheDecoder: the registry's credential fields are what
// the HTTP decoder redacts in real keystone bodies and headers.
func TestSecretsReachTheDecoder(t *testing.T) {
	const tok = "gAAAAABpSecretTokenValue"
	body := `{"auth":{"identity":{"methods":["token"],"token":{"id":"` + tok + `"}},"scope":{"project":{"id":"p"}}}}`
	wire := "POST /v3/auth/tokens HTTP/1.1\r\nHost: k\r\nX-Auth-Key: swiftkey\r\nContent-Type: application/json\r\nContent-Length: " +
		fmt.Sprint(len(body)) + "\r\n\r\n" + body
	var got []*decoder.Exchange
	c := &decoder.Conn{ID: 1, SawSYN: true}
	d := http.New(c, func(e *decoder.Exchange) { got = append(got, e) }, http.Options{Secrets: registry.Secrets()})
	d.Data(decoder.ClientToServer, []byte(wire), t0)
	d.Close(t0)
	if len(got) != 1 {
		t.Fatalf("%d exchanges", len(got))
	}
	red := got[0].Request.Redacted().(*http.Request)
	if strings.Contains(red.Body, tok) || !strings.Contains(red.Body, decoder.Fingerprint(tok)) {
		t.Errorf("token method body not redacted: %s", red.Body)
	}
	if v := red.Header("X-Auth-Key"); !strings.HasPrefix(v, "hmac:") || v == "swiftkey" { // a key, not a token: keyed fingerprint
		t.Errorf("X-Auth-Key: %q", v)
	}
}

// decodeHTTP decodes one exchange (the response may be "") with the
// registry's secrets, as flowmap runs the HTTP decoder.
func decodeHTTP(t *testing.T, req, resp string) []*decoder.Exchange {
	t.Helper()
	var got []*decoder.Exchange
	d := http.New(&decoder.Conn{ID: 1, SawSYN: true}, func(e *decoder.Exchange) { got = append(got, e) }, http.Options{Secrets: registry.Secrets()})
	d.Data(decoder.ClientToServer, []byte(req), t0)
	if resp != "" {
		d.Data(decoder.ServerToClient, []byte(resp), t0)
	}
	d.Close(t0)
	if len(got) != 1 {
		t.Fatalf("%d exchanges", len(got))
	}
	return got
}

// TestBarbicanPayloadRedacted: a secret stored in barbican is sent as a
// string "payload" and never printed; an oslo notification's "payload"
// (an object) is kept.
func TestBarbicanPayloadRedacted(t *testing.T) {
	const secret = "Zk3QpV8rT2wY6nB1"
	for _, c := range []struct {
		body string
		kept string
	}{
		{`{"name": "db-pass", "payload": "` + secret + `", "payload_content_type": "text/plain"}`, ""},
		{`{"event_type": "compute.instance.create.end", "payload": {"instance_id": "i-1"}}`, `"instance_id": "i-1"`},
	} {
		wire := "POST /v1/secrets HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\nContent-Length: " +
			fmt.Sprint(len(c.body)) + "\r\n\r\n" + c.body
		got := decodeHTTP(t, wire, "")
		red := got[0].Request.Redacted().(*http.Request)
		if strings.Contains(red.Body, secret) || c.kept != "" && !strings.Contains(red.Body, c.kept) {
			t.Errorf("redacted body %s", red.Body)
		}
	}
}

// TestNovaUserDataRedacted: the cloud-init a server is created with
// (user_data, as sent and as shown to admins) and injected files'
// contents are credentials; the rest of the request stays.
func TestNovaUserDataRedacted(t *testing.T) {
	const ud = "I2Nsb3VkLWNvbmZpZwpwYXNzd29yZDogaHVudGVyMgo=" // #cloud-config password: hunter2
	const file = "c2VjcmV0LWtleS1tYXRlcmlhbA=="
	for _, body := range []string{
		`{"server": {"name": "vm1", "imageRef": "i-1", "user_data": "` + ud + `", "personality": [{"path": "/etc/k", "contents": "` + file + `"}]}}`,
		`{"server": {"name": "vm1", "OS-EXT-SRV-ATTR:user_data": "` + ud + `"}}`,
	} {
		wire := "POST /v2.1/servers HTTP/1.1\r\nHost: n\r\nContent-Type: application/json\r\nContent-Length: " +
			fmt.Sprint(len(body)) + "\r\n\r\n" + body
		got := decodeHTTP(t, wire, "")
		red := got[0].Request.Redacted().(*http.Request)
		if strings.Contains(red.Body, ud) || strings.Contains(red.Body, file) || !strings.Contains(red.Body, `"name": "vm1"`) {
			t.Errorf("redacted body %s", red.Body)
		}
	}
}

// TestBarbicanTextPayloadRedacted: a secret stored or fetched as text
// (barbican's two-step PUT, GET …/payload) is a credential whole; the
// secret's JSON metadata and other paths keep their bodies.
func TestBarbicanTextPayloadRedacted(t *testing.T) {
	const secret = "db-password-42"
	const id = "5f1c3a7e-8d0b-4b1e-9c62-0d1f4e2a9b37"
	for _, c := range []struct {
		req, resp, ctype string
		redacted         bool
	}{
		{"PUT /v1/secrets/" + id, "", "text/plain", true},
		{"GET /key-manager/v1/secrets/" + id + "/payload", "", "application/octet-stream", true},
		{"GET /v1/secrets/" + id + "/payload/", "", "text/plain", true},
		{"GET /v1/secrets/" + id, "", "application/json", false},
		{"GET /v1/secrets/" + id + "/metadata", "", "text/plain", false},
		{"POST /v1/orders", "", "text/plain", false},
	} {
		body := secret
		if c.ctype == "application/json" {
			body = `{"name": "` + secret + `"}`
		}
		method, target, _ := strings.Cut(c.req, " ")
		reqBody := ""
		if method == "PUT" {
			reqBody = body
		}
		wire := method + " " + target + " HTTP/1.1\r\nHost: b\r\nContent-Type: " + c.ctype + "\r\nContent-Length: " + fmt.Sprint(len(reqBody)) + "\r\n\r\n" + reqBody
		respBody := body
		if method == "PUT" {
			respBody = ""
		}
		resp := "HTTP/1.1 200 OK\r\nContent-Type: " + c.ctype + "\r\nContent-Length: " + fmt.Sprint(len(respBody)) + "\r\n\r\n" + respBody
		got := decodeHTTP(t, wire, resp)
		if got[0].Response == nil {
			t.Fatalf("%s: no response", c.req)
		}
		rq := got[0].Request.Redacted().(*http.Request)
		rs := got[0].Response.Redacted().(*http.Response)
		printed := rq.Body + rs.Body
		if leaked := strings.Contains(printed, secret); leaked == c.redacted {
			t.Errorf("%s (%s): bodies %q %q", c.req, c.ctype, rq.Body, rs.Body)
		}
		// (a binary body is not kept at all: nothing to print)
		if c.redacted && printed != "" && !strings.HasPrefix(printed, "hmac:") {
			t.Errorf("%s: redacted to %q %q, want a keyed fingerprint", c.req, rq.Body, rs.Body)
		}
	}
}
