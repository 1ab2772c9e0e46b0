package http

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/decoder"
)

// truthRow is one row of a tshark truth TSV (../../testdata/truth).
type truthRow struct {
	stream               int
	method, uri, version string
	code, phrase         string
	contentType          string
	contentLength        string
	authToken, subjToken string
}

func loadTruth(tb testing.TB, capture string) []truthRow {
	tb.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "truth", capture+".http.tsv"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var rows []truthRow
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for first := true; sc.Scan(); first = false {
		if first {
			continue
		}
		c := strings.Split(sc.Text(), "\t")
		if len(c) < 22 {
			tb.Fatalf("truth row with %d columns", len(c))
		}
		n, _ := strconv.Atoi(c[7])
		rows = append(rows, truthRow{
			stream: n, method: c[8], uri: c[9], version: c[10], code: c[11], phrase: c[12],
			contentType: c[16], contentLength: c[17], authToken: c[20], subjToken: c[21],
		})
	}
	return rows
}

// truthFor returns the requests and the responses tshark saw on one TCP
// stream, in order.
func truthFor(tb testing.TB, capture string, stream int) (reqs, resps []truthRow) {
	for _, r := range loadTruth(tb, capture) {
		switch {
		case r.stream != stream:
		case r.method != "":
			reqs = append(reqs, r)
		case r.code != "":
			resps = append(resps, r)
		}
	}
	return reqs, resps
}

// fixtures lists every committed connection: capture name and stream.
var fixtures = []struct {
	capture string
	stream  int
}{
	{"seed-image-list", 0}, {"seed-image-list", 1}, {"seed-image-list", 3},
	{"seed-image-list", 5}, {"seed-image-list", 6}, {"seed-image-list", 8},
	{"tiny-save", 0}, {"tiny-save", 1}, {"tiny-save", 4}, {"tiny-save", 6}, {"tiny-save", 7}, {"tiny-save", 8},
	{"auth-fail", 0}, {"auth-fail", 1}, {"auth-fail", 4}, {"auth-fail", 6},
	{"glanceclient-upload", 9}, {"image-create-delete", 4},
	{"snaplen-truncated", 0}, {"snaplen-truncated", 1}, {"snaplen-truncated", 3},
	{"snaplen-truncated", 5}, {"snaplen-truncated", 6}, {"snaplen-truncated", 8},
}

// TestRealConnectionsMatchTruth decodes every committed real connection,
// fed segment by segment, and checks each request line and status against
// tshark's decode of the same capture.
func TestRealConnectionsMatchTruth(t *testing.T) {
	for _, fc := range fixtures {
		name := fmt.Sprintf("%s.%d", fc.capture, fc.stream)
		t.Run(name, func(t *testing.T) {
			out, _ := decode(t, name, Options{})
			reqs, resps := truthFor(t, fc.capture, fc.stream)
			if len(out) != len(reqs) {
				t.Fatalf("%d exchanges, truth has %d requests", len(out), len(reqs))
			}
			snaplen := fc.capture == "snaplen-truncated"
			for i, e := range out {
				r := req(t, e)
				if r.Method != reqs[i].method || r.Target != reqs[i].uri || r.Version != reqs[i].version {
					t.Errorf("exchange %d: request %q %q %q, truth %q %q %q", i, r.Method, r.Target, r.Version,
						reqs[i].method, reqs[i].uri, reqs[i].version)
				}
				s := resp(t, e)
				if strconv.Itoa(s.Status) != resps[i].code || s.Reason != resps[i].phrase {
					t.Errorf("exchange %d: status %d %q, truth %s %q", i, s.Status, s.Reason, resps[i].code, resps[i].phrase)
				}
				if e.Proto != "http" || e.Conn == nil {
					t.Errorf("exchange %d: Proto %q Conn %v", i, e.Proto, e.Conn)
				}
				if e.ReqStart.IsZero() || e.ReqEnd.Before(e.ReqStart) || e.RespStart.Before(e.ReqStart) || e.RespEnd.Before(e.RespStart) {
					t.Errorf("exchange %d: times out of order: %v %v %v %v", i, e.ReqStart, e.ReqEnd, e.RespStart, e.RespEnd)
				}
				if snaplen != e.Truncated {
					t.Errorf("exchange %d: Truncated = %v, notes %q", i, e.Truncated, e.Notes)
				}
				if !snaplen {
					if len(e.Notes) > 0 {
						t.Errorf("exchange %d: unexpected notes %q", i, e.Notes)
					}
					if tr := resps[i].contentLength; tr != "" && tr != strconv.FormatInt(s.BodyBytes, 10) {
						t.Errorf("exchange %d: response body %d bytes, Content-Length %s", i, s.BodyBytes, tr)
					}
					if tr := reqs[i].contentLength; tr != "" && tr != strconv.FormatInt(r.BodyBytes, 10) {
						t.Errorf("exchange %d: request body %d bytes, Content-Length %s", i, r.BodyBytes, tr)
					}
				}
				if i > 0 && e.ReqStart.Before(out[i-1].ReqStart) {
					t.Errorf("exchange %d emitted out of order", i)
				}
			}
		})
	}
}

// sameSecret compares two secrets without printing them.
func sameSecret(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %s, want %s", what, decoder.Fingerprint(got), decoder.Fingerprint(want))
	}
}

// TestKeystoneCloseDelimited201: uWSGI drops Content-Length, so the 201 of
// POST /v3/auth/tokens ends with the server's FIN.
func TestKeystoneCloseDelimited201(t *testing.T) {
	out, fx := decode(t, "seed-image-list.1", Options{})
	if len(out) != 1 {
		t.Fatalf("%d exchanges, want 1", len(out))
	}
	e := out[0]
	r, s := req(t, e), resp(t, e)
	_, resps := truthFor(t, "seed-image-list", 1)
	if s.Header("Content-Length") != "" || s.Header("Transfer-Encoding") != "" {
		t.Fatalf("fixture changed: response has framing headers")
	}
	sameSecret(t, "X-Subject-Token", s.Header("x-subject-token"), resps[0].subjToken)
	if len(s.Header("X-Subject-Token")) != 183 {
		t.Errorf("token length %d, want 183 (fernet)", len(s.Header("X-Subject-Token")))
	}
	want := len(fx.bytes(decoder.ServerToClient)) - strings.Index(string(fx.bytes(decoder.ServerToClient)), "\r\n\r\n") - 4
	if s.BodyBytes != int64(want) || len(s.Body) != want || s.BodyTruncated || e.Truncated {
		t.Errorf("body %d bytes (kept %d, truncated %v/%v), want %d complete", s.BodyBytes, len(s.Body), s.BodyTruncated, e.Truncated, want)
	}
	var tok struct {
		Token struct {
			Methods []string `json:"methods"`
		} `json:"token"`
	}
	if err := json.Unmarshal([]byte(s.Body), &tok); err != nil || len(tok.Token.Methods) != 1 || tok.Token.Methods[0] != "password" {
		t.Errorf("body is not the token JSON: %v", err)
	}
	// RespEnd is the last data byte, not the FIN that came after it.
	var lastData, firstResp = fx.segs[0].t, fx.segs[0].t
	for _, sg := range fx.segs {
		if sg.dir == decoder.ServerToClient && len(sg.data) > 0 {
			if firstResp == fx.segs[0].t {
				firstResp = sg.t
			}
			lastData = sg.t
		}
	}
	if !e.RespEnd.Equal(lastData) || !e.RespStart.Equal(firstResp) {
		t.Errorf("RespStart/End %v/%v, want %v/%v", e.RespStart, e.RespEnd, firstResp, lastData)
	}
	if r.BodyBytes != 217 || r.Header("Content-Type") != "application/json" || !strings.Contains(r.Body, `"password"`) {
		t.Errorf("request body %d bytes %q", r.BodyBytes, r.Header("Content-Type"))
	}
	if s.Summary() != "201 CREATED" || r.Summary() != "POST /v3/auth/tokens" {
		t.Errorf("summaries %q, %q", r.Summary(), s.Summary())
	}

	// Redacted: token and password fingerprinted, originals untouched.
	rr := r.Redacted().(*Request)
	rs := s.Redacted().(*Response)
	if strings.Contains(rr.Body, `"password": "password"`) || !strings.Contains(rr.Body, `"password": "`+sec("password")+`"`) {
		t.Errorf("password not redacted")
	}
	if !strings.Contains(r.Body, `"password": "password"`) {
		t.Errorf("Redacted modified the original request body")
	}
	if rs.Header("X-Subject-Token") != decoder.Fingerprint(resps[0].subjToken) {
		t.Errorf("X-Subject-Token not fingerprinted")
	}
	sameSecret(t, "original X-Subject-Token after Redacted", s.Header("X-Subject-Token"), resps[0].subjToken)
	if rs.Body != s.Body {
		t.Errorf("token response body changed by redaction")
	}
}

// TestGlanceKeepAlive: four requests on one eventlet keep-alive
// connection, the last one a 212,992-byte image download that is counted,
// not kept.
func TestGlanceKeepAlive(t *testing.T) {
	out, _ := decode(t, "tiny-save.4", Options{})
	reqs, _ := truthFor(t, "tiny-save", 4)
	want := []struct {
		target string
		status int
		body   int64
		kept   bool
	}{
		{"/", 300, 1063, true},
		{"/v2/images/tiny", 404, 149, true},
		{"/v2/images?name=tiny", 200, 985, true},
		{"/v2/images/f1c152c8-db03-4221-89bf-dc592ebad9ab/file", 200, 212992, false},
	}
	if len(out) != len(want) {
		t.Fatalf("%d exchanges, want %d", len(out), len(want))
	}
	for i, w := range want {
		r, s := req(t, out[i]), resp(t, out[i])
		if r.Target != w.target || s.Status != w.status || s.BodyBytes != w.body {
			t.Errorf("%d: %s -> %d (%d bytes), want %s -> %d (%d)", i, r.Target, s.Status, s.BodyBytes, w.target, w.status, w.body)
		}
		if kept := int64(len(s.Body)) == s.BodyBytes; kept != w.kept || s.BodyTruncated {
			t.Errorf("%d: kept %d of %d bytes (truncated %v)", i, len(s.Body), s.BodyBytes, s.BodyTruncated)
		}
		if s.Header("Connection") != "keep-alive" {
			t.Errorf("%d: Connection %q", i, s.Header("Connection"))
		}
		sameSecret(t, "X-Auth-Token", r.Header("X-Auth-Token"), reqs[i].authToken)
		if i > 0 && !out[i].ReqStart.After(out[i-1].RespEnd) {
			t.Errorf("%d: request starts before previous response ended", i)
		}
	}
	if ct := resp(t, out[3]).Header("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("download Content-Type %q", ct)
	}
	// MaxBody caps what is kept of text bodies.
	out, _ = decode(t, "tiny-save.4", Options{MaxBody: 100})
	s := resp(t, out[0])
	if len(s.Body) != 100 || s.BodyBytes != 1063 || !s.BodyTruncated || out[0].Truncated {
		t.Errorf("MaxBody 100: kept %d of %d, BodyTruncated %v, Truncated %v", len(s.Body), s.BodyBytes, s.BodyTruncated, out[0].Truncated)
	}
	out, _ = decode(t, "tiny-save.4", Options{MaxBody: -1})
	if s := resp(t, out[0]); s.Body != "" || s.BodyTruncated {
		t.Errorf("MaxBody -1: kept %d bytes", len(s.Body))
	}
}

// TestChunkedUpload: python-glanceclient uploads with chunked encoding
// (65536-byte chunks, chunk sizes in their own segments).
func TestChunkedUpload(t *testing.T) {
	out, _ := decode(t, "glanceclient-upload.9", Options{})
	var put *Request
	var e *decoder.Exchange
	for _, x := range out {
		if r := req(t, x); r.Method == "PUT" {
			put, e = r, x
		}
	}
	if put == nil {
		t.Fatal("no PUT")
	}
	if !put.Chunked || put.BodyBytes != 323584 || put.Body != "" || put.BodyTruncated || len(put.Trailers) != 0 {
		t.Errorf("PUT: chunked %v, %d bytes, kept %d, truncated %v, trailers %d", put.Chunked, put.BodyBytes, len(put.Body), put.BodyTruncated, len(put.Trailers))
	}
	if put.Header("Transfer-Encoding") != "chunked" || put.Header("Content-Length") != "" {
		t.Errorf("PUT headers: TE %q CL %q", put.Header("Transfer-Encoding"), put.Header("Content-Length"))
	}
	if s := resp(t, e); s.Status != 204 || s.BodyBytes != 0 {
		t.Errorf("PUT response %d, %d bytes", s.Status, s.BodyBytes)
	}
	if !e.RespStart.After(e.ReqEnd) {
		t.Errorf("204 before the end of the upload")
	}
}

// TestAuthFail401: a wrong password (keystone, close-delimited JSON 401)
// and a bad token (glance, HTML 401 with Content-Length).
func TestAuthFail401(t *testing.T) {
	out, _ := decode(t, "auth-fail.1", Options{})
	r, s := req(t, out[0]), resp(t, out[0])
	if s.Status != 401 || s.Reason != "UNAUTHORIZED" || !strings.Contains(s.Body, `"code":401`) || s.Header("WWW-Authenticate") == "" {
		t.Errorf("keystone 401: %s %q", s.Summary(), s.Body)
	}
	if red := r.Redacted().(*Request); strings.Contains(red.Body, "wrongpassword") ||
		!strings.Contains(red.Body, sec("wrongpassword")) || !strings.Contains(red.Body, `"name": "admin"`) {
		t.Errorf("wrong password not redacted: %s", red.Body)
	}
	out, _ = decode(t, "auth-fail.4", Options{})
	r, s = req(t, out[0]), resp(t, out[0])
	if s.Status != 401 || s.Reason != "Unauthorized" || s.BodyBytes != 358 || !strings.HasPrefix(s.Body, "<html>") {
		t.Errorf("glance 401: %s %d", s.Summary(), s.BodyBytes)
	}
	if r.Header("User-Agent") != "curl/7.88.1" {
		t.Errorf("User-Agent %q", r.Header("User-Agent"))
	}
	if red := r.Redacted().(*Request); !strings.HasPrefix(red.Header("X-Auth-Token"), "sha256:") {
		t.Errorf("X-Auth-Token not redacted")
	}
}

// TestSnaplenTruncated: frames cut at 256 bytes keep ~190 bytes of each
// segment, then a Gap. Every request line and status still comes out
// (checked against the truth in TestRealConnectionsMatchTruth); here the
// details: partial headers kept, the cut line dropped, bodies of known
// length followed through the gaps.
func TestSnaplenTruncated(t *testing.T) {
	out, _ := decode(t, "snaplen-truncated.1", Options{})
	e := out[0]
	r, s := req(t, e), resp(t, e)
	if !e.Truncated || r.Header("Host") != "controller:5000" || s.Header("Content-Type") != "application/json" {
		t.Errorf("partial headers lost: %q", r.Headers)
	}
	if s.Header("X-Subject-Token") != "" {
		t.Errorf("the cut X-Subject-Token line must be dropped, not kept partial")
	}
	if !hasNote(e, "lost 93 bytes in request headers") || !hasNote(e, "in response headers") {
		t.Errorf("notes %q", e.Notes)
	}
	// glance 300: the headers fit in the cut frame and the Content-Length
	// body is followed through the gap.
	out, _ = decode(t, "snaplen-truncated.3", Options{})
	s = resp(t, out[0])
	if s.Status != 300 || s.BodyBytes != 1063 || !s.BodyTruncated || !hasNote(out[0], "lost 1021 bytes in response body") {
		t.Errorf("300: %d bytes, truncated %v, notes %q", s.BodyBytes, s.BodyTruncated, out[0].Notes)
	}
	if r := req(t, out[1]); r.Method != "GET" || r.Target != "/v2/images" {
		t.Errorf("second request %s", r.Summary())
	}
}

func hasNote(e *decoder.Exchange, sub string) bool {
	for _, n := range e.Notes {
		if strings.Contains(n, sub) {
			return true
		}
	}
	return false
}

// TestSplitInvariance feeds the real connections in pieces of random sizes
// (segments split and joined) and expects the same messages as segment by
// segment.
func TestSplitInvariance(t *testing.T) {
	for _, fc := range fixtures {
		if fc.capture == "snaplen-truncated" {
			continue
		}
		name := fmt.Sprintf("%s.%d", fc.capture, fc.stream)
		want, fx := decode(t, name, Options{})
		for seed := uint64(1); seed <= 3; seed++ {
			rng := rand.New(rand.NewPCG(seed, 7))
			var got []*decoder.Exchange
			d := New(&fx.conn, func(e *decoder.Exchange) { got = append(got, e) }, Options{})
			var pend []byte
			pdir := decoder.ClientToServer
			flush := func() {
				for len(pend) > 0 {
					n := 1 + rng.IntN(min(len(pend), 3000))
					if rng.IntN(4) == 0 {
						n = min(len(pend), 1+rng.IntN(4))
					}
					d.Data(pdir, pend[:n], fx.segs[0].t)
					pend = pend[n:]
				}
			}
			for _, sg := range fx.segs {
				if sg.dir != pdir {
					flush()
					pdir = sg.dir
				}
				pend = append(pend, sg.data...)
				if sg.fin {
					flush()
					d.End(sg.dir, sg.t)
				}
			}
			flush()
			d.Close(fx.segs[len(fx.segs)-1].t)
			if len(got) != len(want) {
				t.Fatalf("%s seed %d: %d exchanges, want %d", name, seed, len(got), len(want))
			}
			for i := range got {
				if !reflect.DeepEqual(got[i].Request, want[i].Request) || !reflect.DeepEqual(got[i].Response, want[i].Response) ||
					!reflect.DeepEqual(got[i].Notes, want[i].Notes) {
					t.Errorf("%s seed %d: exchange %d differs", name, seed, i)
				}
			}
		}
	}
}

// TestMidStream starts a keep-alive connection at various segments, as when
// the capture began while it was open (SawSYN false).
func TestMidStream(t *testing.T) {
	fx := loadFixture(t, "tiny-save.4")
	// Segments: [0,1] SYNs, 2 GET /, 3 300, 4 GET tiny, 5 404, 6 GET ?name,
	// 7 200, 8 GET file, 9 headers+start of the download, 10.. the rest.
	find := func(dir decoder.Dir, prefix string) int {
		for i, sg := range fx.segs {
			if sg.dir == dir && strings.HasPrefix(string(sg.data), prefix) {
				return i
			}
		}
		t.Fatalf("no segment %q", prefix)
		return 0
	}
	cases := []struct {
		name      string
		from      int
		exchanges int
		first     string // summary of the first exchange's request ("" when none)
		firstResp int
		note      string
	}{
		{"at-first-response", find(decoder.ServerToClient, "HTTP/1.1 300"), 4, "", 300, "response without request"},
		{"at-second-request", find(decoder.ClientToServer, "GET /v2/images/tiny"), 3, "GET /v2/images/tiny", 404, ""},
		{"inside-download", find(decoder.ServerToClient, "HTTP/1.1 200 OK\r\nContent-Type: application/octet") + 3, 0, "", 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub := *fx
			sub.segs = fx.segs[c.from:]
			sub.conn.SawSYN = false
			var col collector
			d := New(&sub.conn, col.emit, Options{})
			sub.feed(d)
			if len(col.out) != c.exchanges {
				t.Fatalf("%d exchanges, want %d", len(col.out), c.exchanges)
			}
			if c.exchanges == 0 {
				return
			}
			e := col.out[0]
			if c.first == "" {
				if e.Request != nil {
					t.Errorf("first exchange has a request %v", e.Request)
				}
			} else if req(t, e).Summary() != c.first {
				t.Errorf("first request %s", req(t, e).Summary())
			}
			if resp(t, e).Status != c.firstResp {
				t.Errorf("first status %d", resp(t, e).Status)
			}
			if c.note != "" && !hasNote(e, c.note) {
				t.Errorf("notes %q", e.Notes)
			}
			if e.ReqStart.IsZero() {
				t.Errorf("ReqStart zero")
			}
		})
	}
}
