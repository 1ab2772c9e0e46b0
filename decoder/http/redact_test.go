package http

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/redact"
)

func sec(s string) string { return redact.New(nil, nil).Secret(s) }

func TestRedactHeaders(t *testing.T) {
	cases := []struct {
		name, header, value, want string
	}{
		{"x-auth-token", "X-Auth-Token", "gAAAAABtoken", sec("gAAAAABtoken")},
		{"x-subject-token-lower", "x-subject-token", "gAAAAABsubj", sec("gAAAAABsubj")},
		{"x-service-token", "X-Service-Token", "svc", sec("svc")},
		{"authorization-bearer", "Authorization", "Bearer abc.def", "Bearer " + sec("abc.def")},
		{"authorization-basic", "authorization", "Basic YWRtaW46cGFzc3dvcmQ=", "Basic " + sec("YWRtaW46cGFzc3dvcmQ=")},
		{"authorization-no-scheme", "Authorization", "opaque", sec("opaque")},
		{"proxy-authorization", "Proxy-Authorization", "Basic xyz", "Basic " + sec("xyz")},
		{"cookie", "Cookie", "session=s3cr3t; theme=dark", "session=" + sec("s3cr3t") + "; theme=" + sec("dark")},
		{"set-cookie", "Set-Cookie", "session=s3cr3t; Path=/; HttpOnly", "session=" + sec("s3cr3t") + "; Path=/; HttpOnly"},
		{"empty-token", "X-Auth-Token", "", ""},
		{"not-secret", "Content-Type", "application/json", "application/json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			orig := [][2]string{{"Host", "controller"}, {tc.header, tc.value}}
			keep := append([][2]string(nil), orig...)
			r := &Request{Method: "GET", Target: "/", Headers: orig}
			red := r.Redacted().(*Request)
			if got := red.Headers[1][1]; got != tc.want {
				t.Errorf("%s: %q, want %q", tc.header, got, tc.want)
			}
			if !reflect.DeepEqual(orig, keep) {
				t.Errorf("original headers modified")
			}
			if changed := tc.want != tc.value; changed == (red == r) {
				t.Errorf("Redacted returned the receiver: %v, changed: %v", red == r, changed)
			}
		})
	}
}

func TestRedactBody(t *testing.T) {
	cases := []struct {
		name, ct, body, want string
	}{
		{
			name: "keystone-password",
			ct:   "application/json",
			body: `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "GLANCE_PASS", "domain": {"name": "Default"}}}}}}`,
			want: `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "` + sec("GLANCE_PASS") + `", "domain": {"name": "Default"}}}}}}`,
		},
		{
			name: "keystone-token-method",
			ct:   "application/json",
			body: `{"auth":{"identity":{"methods":["token"],"token":{"id":"gAAAAABxyz"}},"scope":{"project":{"id":"p1"}}}}`,
			want: `{"auth":{"identity":{"methods":["token"],"token":{"id":"` + sec("gAAAAABxyz") + `"}},"scope":{"project":{"id":"p1"}}}}`,
		},
		{
			name: "application-credential",
			ct:   "application/json",
			body: `{"auth":{"identity":{"methods":["application_credential"],"application_credential":{"id":"ac1","secret":"s3"}}}}`,
			want: `{"auth":{"identity":{"methods":["application_credential"],"application_credential":{"id":"ac1","secret":"` + sec("s3") + `"}}}}`,
		},
		{
			name: "escaped-value",
			ct:   "application/json",
			body: `{"password" : "a\"b\u0041"}`,
			want: `{"password" : "` + sec(`a"bA`) + `"}`,
		},
		{
			name: "token-response-untouched",
			ct:   "application/json",
			body: `{"token": {"methods": ["password"], "user": {"id": "u1", "name": "admin"}, "audit_ids": ["x"]}}`,
			want: `{"token": {"methods": ["password"], "user": {"id": "u1", "name": "admin"}, "audit_ids": ["x"]}}`,
		},
		{
			name: "truncated-json",
			ct:   "application/json",
			body: `{"auth": {"identity": {"password": {"user": {"password": "passw`,
			want: `{"auth": {"identity": {"password": {"user": {"password": "` + sec("passw") + `"`,
		},
		{
			name: "invalid-json-with-password",
			ct:   "text/plain",
			body: `password: x, {"password": "hunter2", oops}`,
			want: `password: x, {"password": "` + sec("hunter2") + `", oops}`,
		},
		{
			name: "password-null",
			ct:   "application/json",
			body: `{"password": null, "name": "n"}`,
			want: `{"password": null, "name": "n"}`,
		},
		{
			name: "form",
			ct:   "application/x-www-form-urlencoded",
			body: "username=admin&password=p%40ss&x=1",
			want: "username=admin&password=" + sec("p@ss") + "&x=1",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &Request{Method: "POST", Target: "/v3/auth/tokens", Headers: [][2]string{{"Content-Type", tc.ct}}, Body: tc.body}
			// keystone's token method, {"token": {"id": …}}, as flow's
			// service registry names it
			r = r.WithSecrets(&decoder.Secrets{Nested: [][2]string{{"token", "id"}}})
			red := r.Redacted().(*Request)
			if red.Body != tc.want {
				t.Errorf("got  %s\nwant %s", red.Body, tc.want)
			}
			if r.Body != tc.body {
				t.Errorf("original body modified")
			}
			if json.Valid([]byte(tc.body)) && !json.Valid([]byte(red.Body)) {
				t.Errorf("redaction broke valid JSON")
			}
		})
	}
}

func TestRedactResponseInterim(t *testing.T) {
	r := &Response{Status: 200, Headers: [][2]string{{"X-Subject-Token", "tok"}},
		Interim: []Interim{{Status: 100, Headers: [][2]string{{"Set-Cookie", "a=b"}}}}}
	red := r.Redacted().(*Response)
	if red.Headers[0][1] != sec("tok") || red.Interim[0].Headers[0][1] != "a="+sec("b") {
		t.Errorf("redacted %q %+v", red.Headers, red.Interim)
	}
	if r.Headers[0][1] != "tok" || r.Interim[0].Headers[0][1] != "a=b" {
		t.Errorf("original modified")
	}
	plain := &Response{Status: 204}
	if plain.Redacted() != decoder.Message(plain) {
		t.Errorf("a response without secrets should be returned as is")
	}
}

func TestSniff(t *testing.T) {
	syn := &decoder.Conn{SawSYN: true}
	mid := &decoder.Conn{SawSYN: false}
	cases := []struct {
		name  string
		conn  *decoder.Conn
		dir   decoder.Dir
		first string
		want  decoder.Verdict
	}{
		{"get", syn, decoder.ClientToServer, "GET /v3 HTTP/1.1\r\n", decoder.Yes},
		{"post-short", syn, decoder.ClientToServer, "POST ", decoder.Yes},
		{"patch", syn, decoder.ClientToServer, "PATCH /v2/images/x HTTP/1.1", decoder.Yes},
		{"method-prefix", syn, decoder.ClientToServer, "DEL", decoder.NeedMore},
		{"empty", syn, decoder.ClientToServer, "", decoder.NeedMore},
		{"memcache-get", syn, decoder.ClientToServer, "get tokens/abc\r\n", decoder.No},
		{"memcache-set", syn, decoder.ClientToServer, "set tokens/abc 0 300 1980\r\n", decoder.No},
		{"mysql-greeting", syn, decoder.ServerToClient, "\x5b\x00\x00\x00\x0a5.5.5-10.11.19-MariaDB", decoder.No},
		{"tls", syn, decoder.ClientToServer, "\x16\x03\x01\x02\x00", decoder.No},
		{"status", syn, decoder.ServerToClient, "HTTP/1.1 201 CREATED\r\n", decoder.Yes},
		{"status-prefix", syn, decoder.ServerToClient, "HTTP/", decoder.NeedMore},
		{"http2", syn, decoder.ServerToClient, "HTTP/2 200\r\n", decoder.No},
		{"mid-stream-request", mid, decoder.ClientToServer, "xyz\"}\r\nGET / HTTP/1.1\r\n", decoder.Yes},
		{"mid-stream-response", mid, decoder.ServerToClient, "\x00\x01\nHTTP/1.1 200 OK\r\n", decoder.Yes},
		{"mid-stream-body", mid, decoder.ServerToClient, "\x00\x01\x02binary", decoder.NeedMore},
		{"mid-stream-long-body", mid, decoder.ServerToClient, strings.Repeat("\x00", sniffWindow), decoder.No},
	}
	p := NewProtocol(Options{Ports: []uint16{5000, 9292}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.Sniff(tc.conn, tc.dir, []byte(tc.first)); got != tc.want {
				t.Errorf("Sniff(%q) = %v, want %v", tc.first, got, tc.want)
			}
		})
	}
	if p.Name != "http" || !p.Port(5000) || !p.Port(9292) || p.Port(443) || p.Port(11211) || p.Port(3306) {
		t.Errorf("Name %q or Port wrong", p.Name)
	}
	if d := p.New(syn, func(*decoder.Exchange) {}); d == nil {
		t.Errorf("New returned nil")
	}
}

// TestSniffRealBytes: the first bytes of every real connection are
// recognised from either side.
func TestSniffRealBytes(t *testing.T) {
	for _, fc := range fixtures {
		fx := loadFixture(t, fixtureName(fc.capture, fc.stream))
		for _, dir := range []decoder.Dir{decoder.ClientToServer, decoder.ServerToClient} {
			b := fx.bytes(dir)
			if len(b) > 4096 {
				b = b[:4096]
			}
			if v := Sniff(&fx.conn, dir, b); v != decoder.Yes {
				t.Errorf("%s %v: %v", fx.name, dir, v)
			}
		}
	}
}

func fixtureName(capture string, stream int) string {
	return capture + "." + strconv.Itoa(stream)
}

// TestPending: the start of the oldest exchange begun and not emitted.
func TestPending(t *testing.T) {
	var col collector
	d := New(&decoder.Conn{SawSYN: true}, col.emit, Options{})
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	if !d.Pending().IsZero() {
		t.Fatal("not idle at start")
	}
	d.Data(decoder.ClientToServer, []byte("GET /a HT"), at(1))
	if got := d.Pending(); !got.Equal(at(1)) {
		t.Errorf("partial request line: Pending %v", got)
	}
	d.Data(decoder.ClientToServer, []byte("TP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"), at(2))
	if got := d.Pending(); !got.Equal(at(1)) {
		t.Errorf("two requests: Pending %v, want first start", got)
	}
	d.Data(decoder.ServerToClient, []byte(ok200), at(3))
	if len(col.out) != 1 || !d.Pending().Equal(at(2)) {
		t.Errorf("after first response: %d emitted, Pending %v", len(col.out), d.Pending())
	}
	d.Data(decoder.ServerToClient, []byte(ok200), at(4))
	if len(col.out) != 2 || !d.Pending().IsZero() {
		t.Errorf("idle: %d emitted, Pending %v", len(col.out), d.Pending())
	}
	e := col.out[0]
	if !e.ReqStart.Equal(at(1)) || !e.ReqEnd.Equal(at(2)) || !e.RespStart.Equal(at(3)) || !e.RespEnd.Equal(at(3)) {
		t.Errorf("times %v %v %v %v", e.ReqStart, e.ReqEnd, e.RespStart, e.RespEnd)
	}
	// Calls after Close are ignored.
	d.Close(at(5))
	d.Data(decoder.ClientToServer, []byte(okGet), at(6))
	d.Close(at(7))
	if len(col.out) != 2 || !d.Pending().IsZero() {
		t.Errorf("after Close: %d emitted", len(col.out))
	}
}

// TestRedactedRealNoSecrets: no token or password of the lab captures
// survives Redacted, in headers or bodies, and the originals keep them.
func TestRedactedRealNoSecrets(t *testing.T) {
	secrets := map[string]bool{"GLANCE_PASS": true, "wrongpassword": true, `"password": "password"`: true}
	seen := 0
	for _, fc := range fixtures {
		for _, r := range loadTruth(t, fc.capture) {
			for _, tok := range strings.Split(r.authToken+"|"+r.subjToken, "|") {
				if len(tok) > 100 {
					secrets[tok] = true
				}
			}
		}
	}
	for _, fc := range fixtures {
		out, _ := decode(t, fixtureName(fc.capture, fc.stream), Options{})
		for _, e := range out {
			for _, m := range []decoder.Message{e.Request, e.Response} {
				if m == nil {
					continue
				}
				raw, _ := json.Marshal(m)
				red, _ := json.Marshal(m.Redacted())
				for sec := range secrets {
					if strings.Contains(string(red), sec) {
						t.Errorf("%s.%d: %s survives redaction", fc.capture, fc.stream, decoder.Fingerprint(sec))
					}
					if strings.Contains(string(raw), sec) {
						seen++
					}
				}
				if again, _ := json.Marshal(m); string(again) != string(raw) {
					t.Errorf("%s.%d: Redacted modified the message", fc.capture, fc.stream)
				}
			}
		}
	}
	if seen < 20 {
		t.Errorf("only %d secrets found in the raw messages: test is not testing", seen)
	}
}

// TestResponseWithoutRequest: a response whose request the capture missed
// (it began between the two) cannot be told from a stored secret, such as
// barbican's answer to GET /v1/secrets/<id>/payload: a body that is not
// JSON is printed as its keyed fingerprint, with a note saying why, and
// whole only under --show-secrets; a JSON body keeps its text, its fields
// redacted as in any body. The same body after its request is printed.
func TestResponseWithoutRequest(t *testing.T) {
	const secret = "db-password-42"
	payload := "HTTP/1.1 200 OK\r\nDate: Sun, 29 Nov 2026 19:00:00 GMT\r\nServer: Apache/2.4.52 (Ubuntu)\r\n" +
		"Content-Type: text/plain; charset=UTF-8\r\nContent-Length: 14\r\nx-openstack-request-id: req-5f1c3a7e-8d0b-4b1e-9c62-0d1f4e2a9b37\r\n\r\n" + secret
	meta := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 57\r\n\r\n" +
		`{"name": "db", "status": "ACTIVE", "secret_type": "opaq"}`
	get := "GET /v1/secrets/5f1c3a7e-8d0b-4b1e-9c62-0d1f4e2a9b37/metadata HTTP/1.1\r\nHost: controller:9311\r\nAccept: text/plain\r\n\r\n"
	const note = "without its request it cannot be told from a stored secret"
	for _, c := range []struct {
		name, req, resp string
		show            bool
		whole, noted    bool // body printed whole; the note given
	}{
		{"payload", "", payload, false, false, true},
		{"payload-show-secrets", "", payload, true, true, true},
		{"json-kept", "", meta, false, true, false},
		{"after-its-request", get, payload, false, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var col collector
			opts := Options{}
			if c.show {
				opts.Redact = redact.Show()
			}
			d := New(&decoder.Conn{ID: 1}, col.emit, opts)
			t0 := time.Date(2026, 11, 29, 19, 0, 0, 0, time.UTC)
			if c.req != "" {
				d.Data(decoder.ClientToServer, []byte(c.req), t0)
			}
			d.Data(decoder.ServerToClient, []byte(c.resp), t0.Add(time.Millisecond))
			d.Close(t0.Add(2 * time.Millisecond))
			if len(col.out) != 1 {
				t.Fatalf("%d exchanges", len(col.out))
			}
			e := col.out[0]
			r := resp(t, e).Redacted().(*Response)
			_, body, _ := strings.Cut(c.resp, "\r\n\r\n")
			if whole := r.Body == body; whole != c.whole {
				t.Errorf("printed body %q, want whole: %v", r.Body, c.whole)
			}
			if !c.whole && !strings.HasPrefix(r.Body, "hmac:") {
				t.Errorf("printed body %q, want its keyed fingerprint", r.Body)
			}
			if r.BodyBytes != int64(len(body)) || r.Header("Content-Type") == "" {
				t.Errorf("size %d and type %q not kept", r.BodyBytes, r.Header("Content-Type"))
			}
			if noted := strings.Contains(strings.Join(e.Notes, "|"), note); noted != c.noted {
				t.Errorf("notes %q, want the note: %v", e.Notes, c.noted)
			}
		})
	}
}

// TestEarlyAnswerSecretBody: a server that answers before the request's
// body has all come (an error, or a proxy's early answer) answers a
// request whose target is known from its request line: a stored secret's
// path hides the answer's body as it does after a finished request.
func TestEarlyAnswerSecretBody(t *testing.T) {
	const secret = "db-password-42"
	req := "GET /v1/secrets/5f1c3a7e-8d0b-4b1e-9c62-0d1f4e2a9b37/payload HTTP/1.1\r\nHost: controller:9311\r\nContent-Length: 100\r\n\r\n0123456789"
	answer := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n" + secret
	var col collector
	opts := Options{Redact: redact.New(&decoder.Secrets{Bodies: []string{"secrets/*/payload"}}, []byte("k"))}
	d := New(&decoder.Conn{ID: 1}, col.emit, opts)
	t0 := time.Date(2026, 11, 29, 19, 0, 0, 0, time.UTC)
	d.Data(decoder.ClientToServer, []byte(req), t0)
	d.Data(decoder.ServerToClient, []byte(answer), t0.Add(time.Millisecond))
	d.Close(t0.Add(2 * time.Millisecond))
	if len(col.out) != 1 {
		t.Fatalf("%d exchanges", len(col.out))
	}
	r := resp(t, col.out[0]).Redacted().(*Response)
	if r.Body == secret || strings.Contains(r.Body, secret) || !strings.HasPrefix(r.Body, "hmac:") {
		t.Errorf("early answer's body printed as %q, want its keyed fingerprint", r.Body)
	}
}

// TestLostAnswerSecretBody: the answer to a listing is lost in a gap;
// the next answer, a stored secret's payload, is paired with the listing
// (the oldest waiting request). Which request it answers is not sure: a
// secret's path among the waiting requests hides its body, and a note
// says it may answer a later one; the gap is noted also when the
// capture began mid-connection.
func TestLostAnswerSecretBody(t *testing.T) {
	const secret = "db-password-42"
	for _, syn := range []bool{true, false} {
		var col collector
		opts := Options{Redact: redact.New(&decoder.Secrets{Bodies: []string{"secrets/*/payload"}}, []byte("k"))}
		d := New(&decoder.Conn{ID: 1, SawSYN: syn}, col.emit, opts)
		t0 := time.Date(2026, 11, 29, 19, 0, 0, 0, time.UTC)
		d.Data(decoder.ClientToServer, []byte("GET /v1/secrets HTTP/1.1\r\nHost: c\r\n\r\n"), t0)
		d.Gap(decoder.ServerToClient, 300, t0.Add(time.Millisecond))
		d.Data(decoder.ClientToServer, []byte("GET /v1/secrets/5f1c3a7e/payload HTTP/1.1\r\nHost: c\r\nAccept: text/plain\r\n\r\n"), t0.Add(2*time.Millisecond))
		d.Data(decoder.ServerToClient, []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n"+secret), t0.Add(3*time.Millisecond))
		d.Close(t0.Add(4 * time.Millisecond))
		answered := 0
		for _, x := range col.out {
			r, ok := x.Response.(*Response)
			if !ok {
				continue
			}
			answered++
			if body := r.Redacted().(*Response).Body; strings.Contains(body, secret) {
				t.Errorf("SawSYN %v: the payload printed whole: %q", syn, body)
			}
			notes := strings.Join(x.Notes, "|")
			if !strings.Contains(notes, "it may answer one of them") || !strings.Contains(notes, "lost 300 bytes") {
				t.Errorf("SawSYN %v: notes %q", syn, x.Notes)
			}
		}
		if answered != 1 {
			t.Errorf("SawSYN %v: %d answered exchanges", syn, answered)
		}
	}
}

// TestResponseWithoutRequestReal: real connections replayed from their
// first response on (the client's bytes before it not captured): their
// JSON bodies are still printed, field-redacted, as after their request.
func TestResponseWithoutRequestReal(t *testing.T) {
	for _, name := range []string{"seed-image-list.1", "auth-fail.1", "tiny-save.6"} {
		fx := loadFixture(t, name)
		full, _ := decode(t, name, Options{})
		first := -1
		for i, s := range fx.segs {
			if s.dir == decoder.ServerToClient && len(s.data) > 0 {
				first = i
				break
			}
		}
		if first < 0 || len(full) == 0 || full[0].Response == nil {
			t.Fatalf("%s: no response to replay", name)
		}
		var segs []segment
		for i, s := range fx.segs {
			if i >= first || s.dir == decoder.ServerToClient {
				segs = append(segs, s)
			}
		}
		fx.segs = segs
		var col collector
		fx.feed(New(&fx.conn, col.emit, Options{}))
		if len(col.out) == 0 || col.out[0].Request != nil {
			t.Fatalf("%s: first exchange has a request", name)
		}
		want := resp(t, full[0]).Redacted().(*Response)
		got := resp(t, col.out[0]).Redacted().(*Response)
		if got.Body != want.Body || got.Body == "" {
			t.Errorf("%s: body without request %.80q, with it %.80q", name, got.Body, want.Body)
		}
		for _, n := range col.out[0].Notes {
			if strings.Contains(n, "stored secret") {
				t.Errorf("%s: note %q on a JSON body", name, n)
			}
		}
	}
}
