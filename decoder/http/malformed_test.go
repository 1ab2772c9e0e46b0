package http

import (
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// op is one call on the decoder: Data (data), Gap (gap != 0) or End.
type op struct {
	dir  decoder.Dir
	data string
	gap  int
	end  bool
}

func c(s string) op              { return op{dir: decoder.ClientToServer, data: s} }
func s(s string) op              { return op{dir: decoder.ServerToClient, data: s} }
func cgap(n int) op              { return op{dir: decoder.ClientToServer, gap: n} }
func sgap(n int) op              { return op{dir: decoder.ServerToClient, gap: n} }
func cend() op                   { return op{dir: decoder.ClientToServer, end: true} }
func send() op                   { return op{dir: decoder.ServerToClient, end: true} }
func rep(s string, n int) string { return strings.Repeat(s, n) }

// noBody in wantEx.reqBytes/respBytes expects an empty body (0 means
// "not checked").
const noBody = -2

// wantEx is what one emitted exchange must look like.
type wantEx struct {
	req       string // request Summary; "" means Request must be nil
	status    int    // final status; 0 means Response must be nil
	reqBytes  int64  // request BodyBytes, noBody, or 0: not checked
	respBytes int64  // response BodyBytes, noBody, or 0: not checked
	truncated bool
	notes     []string // substrings each found in some note
}

var okGet = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
var ok200 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

var malformedCases = []struct {
	name   string
	noSYN  bool
	ops    []op
	want   []wantEx
	check  func(t *testing.T, out []*decoder.Exchange)
	maxBuf int // max bytes the decoder may buffer between calls (0: line cap)
}{
	{
		name: "chunk-size-overflow",
		ops:  []op{c("PUT /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nxx\r\n" + okGet), s(ok200), s(ok200)},
		want: []wantEx{
			{req: "PUT /f", status: 200, reqBytes: noBody, respBytes: 2, truncated: true, notes: []string{"chunk length too large"}},
			{req: "GET /", status: 200, reqBytes: noBody, respBytes: 2, notes: []string{"skipped 4 bytes before this request"}},
		},
	},
	{
		name: "chunk-size-above-int64",
		ops:  []op{c("PUT /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8000000000000000\r\n")},
		want: []wantEx{{req: "PUT /f", reqBytes: noBody, truncated: true, notes: []string{"chunk length too large", "no response captured"}}},
	},
	{
		name: "chunk-size-max-int64",
		ops:  []op{c("PUT /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\nabc")},
		want: []wantEx{{req: "PUT /f", reqBytes: 3, truncated: true, notes: []string{"connection closed 9223372036854775804 bytes before the end of the request body"}}},
	},
	{
		name: "chunk-size-not-hex",
		ops:  []op{c("PUT /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x10\r\n")},
		want: []wantEx{{req: "PUT /f", reqBytes: noBody, truncated: true, notes: []string{"malformed chunked encoding"}}},
	},
	{
		name: "chunk-size-empty",
		ops:  []op{c("PUT /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n")},
		want: []wantEx{{req: "PUT /f", reqBytes: noBody, truncated: true, notes: []string{"empty chunk size"}}},
	},
	{
		name: "chunk-size-line-too-long",
		ops:  []op{c("PUT /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;" + rep("x", 5000))},
		want: []wantEx{{req: "PUT /f", reqBytes: noBody, truncated: true, notes: []string{"chunk-size line longer than 4096"}}},
	},
	{
		name: "chunk-extension-and-trailers",
		ops: []op{
			c("POST /t HTTP/1.1\r\nContent-Type: text/plain\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5 ; name=\"v\"\r\nhello\r\n6;x\r\n world\r\n0\r\nX-Sum: 1\r\nX-Auth-Token: tok\r\n\r\n"),
			s("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
		},
		want: []wantEx{{req: "POST /t", status: 201, reqBytes: 11, respBytes: noBody}},
		check: func(t *testing.T, out []*decoder.Exchange) {
			r := req(t, out[0])
			if !r.Chunked || len(r.Trailers) != 2 || r.Trailers[0] != [2]string{"X-Sum", "1"} || r.Body != "" {
				t.Errorf("chunked %v trailers %q body %q (gzip: not kept)", r.Chunked, r.Trailers, r.Body)
			}
			if red := r.Redacted().(*Request); red.Trailers[1][1] != sec("tok") || r.Trailers[1][1] != "tok" {
				t.Errorf("trailer token redaction: %q", red.Trailers)
			}
			if !resp(t, out[0]).Chunked {
				t.Errorf("response not chunked")
			}
		},
	},
	{
		name: "chunked-text-body-kept",
		ops:  []op{c("POST /t HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n3\r\n[1]\r\n0\r\n\r\n"), s(ok200)},
		want: []wantEx{{req: "POST /t", status: 200, reqBytes: 5, respBytes: 2}},
		check: func(t *testing.T, out []*decoder.Exchange) {
			if b := req(t, out[0]).Body; b != "{}[1]" {
				t.Errorf("body %q", b)
			}
		},
	},
	{
		name: "chunk-missing-crlf",
		ops:  []op{c("PUT /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY\r\n" + okGet), s(ok200), s(ok200)},
		want: []wantEx{
			{req: "PUT /f", status: 200, reqBytes: 2, truncated: true, notes: []string{`"XY" after chunk data`}},
			{req: "GET /", status: 200},
		},
	},
	{
		name: "content-length-2^63",
		ops:  []op{c("POST /x HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\nabc\r\n" + okGet), s(ok200), s(ok200)},
		want: []wantEx{
			{req: "POST /x", status: 200, reqBytes: noBody, truncated: true, notes: []string{"invalid Content-Length"}},
			{req: "GET /", status: 200},
		},
	},
	{
		name: "content-length-2^64",
		ops:  []op{c(okGet), s("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\nabc\r\n")},
		want: []wantEx{{req: "GET /", status: 200, respBytes: noBody, truncated: true, notes: []string{"invalid Content-Length"}}},
	},
	{
		name: "content-length-max-int64",
		ops:  []op{c(okGet), s("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9223372036854775807\r\n\r\nabc"), send()},
		want: []wantEx{{req: "GET /", status: 200, respBytes: 3, truncated: true, notes: []string{"connection closed 9223372036854775804 bytes before the end of the response body"}}},
		check: func(t *testing.T, out []*decoder.Exchange) {
			if r := resp(t, out[0]); r.Body != "abc" || !r.BodyTruncated {
				t.Errorf("body %q truncated %v", r.Body, r.BodyTruncated)
			}
		},
	},
	{
		name: "content-length-negative",
		ops:  []op{c("POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n")},
		want: []wantEx{{req: "POST /x", truncated: true, notes: []string{`invalid Content-Length "-1"`}}},
	},
	{
		name: "content-length-non-numeric",
		ops:  []op{c("POST /x HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n")},
		want: []wantEx{{req: "POST /x", truncated: true, notes: []string{`invalid Content-Length "1e3"`}}},
	},
	{
		name: "content-length-plus-sign",
		ops:  []op{c("POST /x HTTP/1.1\r\nContent-Length: +5\r\n\r\n")},
		want: []wantEx{{req: "POST /x", truncated: true, notes: []string{"invalid Content-Length"}}},
	},
	{
		name: "content-length-empty",
		ops:  []op{c("POST /x HTTP/1.1\r\nContent-Length:\r\n\r\n")},
		want: []wantEx{{req: "POST /x", truncated: true, notes: []string{"invalid Content-Length"}}},
	},
	{
		name: "content-length-duplicated-same",
		ops:  []op{c("POST /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nab"), s(ok200)},
		want: []wantEx{{req: "POST /x", status: 200, reqBytes: 2}},
	},
	{
		name: "content-length-duplicated-differing",
		ops:  []op{c("POST /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc")},
		want: []wantEx{{req: "POST /x", truncated: true, notes: []string{"differing values 2 and 3"}}},
	},
	{
		name: "content-length-and-chunked",
		ops:  []op{c("POST /x HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"), s(ok200)},
		want: []wantEx{{req: "POST /x", status: 200, reqBytes: 1, notes: []string{"Content-Length ignored"}}},
	},
	{
		name: "transfer-encoding-not-chunked-request",
		ops:  []op{c("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nzz")},
		want: []wantEx{{req: "POST /x", truncated: true, notes: []string{"unsupported Transfer-Encoding"}}},
	},
	{
		name: "transfer-encoding-not-chunked-response",
		ops:  []op{c(okGet), s("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzzz"), send()},
		want: []wantEx{{req: "GET /", status: 200, respBytes: 4, notes: []string{"body delimited by close"}}},
	},
	{
		name: "header-line-too-long",
		ops:  []op{c("GET / HTTP/1.1\r\nX-Big: " + rep("a", 70000) + "\r\nHost: x\r\n\r\n" + okGet), s(ok200), s(ok200)},
		want: []wantEx{
			{req: "GET /", status: 200, truncated: true, notes: []string{"request header line longer than 65536"}},
			{req: "GET /", status: 200},
		},
	},
	{
		name: "header-line-too-long-in-pieces",
		ops: append(append([]op{c("GET / HTTP/1.1\r\nX-Big: ")}, repeatOp(c(rep("a", 1000)), 80)...),
			c("\r\n\r\n"+okGet), s(ok200), s(ok200)),
		want: []wantEx{
			{req: "GET /", status: 200, truncated: true, notes: []string{"request header line longer than 65536"}},
			{req: "GET /", status: 200},
		},
	},
	{
		name: "start-line-too-long",
		ops:  []op{c("GET /" + rep("a", 70000) + " HTTP/1.1\r\n\r\n" + okGet), s(ok200)},
		want: []wantEx{{req: "GET /", status: 200, notes: []string{"request start line longer than 65536"}}},
	},
	{
		name: "too-many-headers",
		ops:  []op{c("GET / HTTP/1.1\r\n" + rep("A: b\r\n", 300) + "\r\n"), s(ok200)},
		want: []wantEx{{req: "GET /", status: 200, truncated: true, notes: []string{"too many header fields: more than 256"}}},
		check: func(t *testing.T, out []*decoder.Exchange) {
			if n := len(req(t, out[0]).Headers); n != maxHeaders {
				t.Errorf("%d headers kept, want %d", n, maxHeaders)
			}
		},
	},
	{
		name: "header-too-large",
		ops:  []op{c("GET / HTTP/1.1\r\n" + rep("A: "+rep("b", 60000)+"\r\n", 20) + "\r\n")},
		want: []wantEx{{req: "GET /", truncated: true, notes: []string{"header too large"}}},
	},
	{
		name: "bare-LF",
		ops:  []op{c("GET /lf HTTP/1.1\nHost: x\n\n"), s("HTTP/1.1 200 OK\nContent-Length: 2\n\nok")},
		want: []wantEx{{req: "GET /lf", status: 200, respBytes: 2, notes: []string{"bare LF line endings in request", "bare LF line endings in response"}}},
	},
	{
		name: "obs-fold",
		ops:  []op{c("GET / HTTP/1.1\r\nX-Long: a\r\n \t b\r\nHost: x\r\n\r\n"), s(ok200)},
		want: []wantEx{{req: "GET /", status: 200, notes: []string{"obsolete line folding"}}},
		check: func(t *testing.T, out []*decoder.Exchange) {
			if v := req(t, out[0]).Header("x-long"); v != "a b" {
				t.Errorf("folded value %q", v)
			}
		},
	},
	{
		name: "malformed-header-lines",
		ops:  []op{c("GET / HTTP/1.1\r\nNoColon\r\nBad Name: x\r\n: empty\r\n Lead: fold-first\r\nHost: x\r\n\r\n"), s(ok200)},
		want: []wantEx{{req: "GET /", status: 200, notes: []string{"ignored 4 malformed request header lines"}}},
		check: func(t *testing.T, out []*decoder.Exchange) {
			if h := req(t, out[0]).Headers; len(h) != 1 || h[0][0] != "Host" {
				t.Errorf("headers %q", h)
			}
		},
	},
	{
		name: "response-without-request",
		ops:  []op{s(ok200)},
		want: []wantEx{{status: 200, respBytes: 2, notes: []string{"response without request"}}},
	},
	{
		name: "request-without-response",
		ops:  []op{c(okGet)},
		want: []wantEx{{req: "GET /", truncated: true, notes: []string{"no response captured"}}},
	},
	{
		name: "request-unanswered-server-closed",
		ops:  []op{c(okGet + okGet), s(ok200), send()},
		want: []wantEx{{req: "GET /", status: 200}, {req: "GET /", truncated: true, notes: []string{"no response captured"}}},
	},
	{
		name: "gap-in-body",
		ops: []op{c(okGet + okGet), s("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n0123456789"),
			sgap(50), s(rep("x", 40) + ok200)},
		want: []wantEx{
			{req: "GET /", status: 200, respBytes: 100, truncated: true, notes: []string{"lost 50 bytes in response body"}},
			{req: "GET /", status: 200, respBytes: 2},
		},
		check: func(t *testing.T, out []*decoder.Exchange) {
			if r := resp(t, out[0]); r.Body != "0123456789" || !r.BodyTruncated {
				t.Errorf("body %q truncated %v: bytes after a gap must not be glued to those before", r.Body, r.BodyTruncated)
			}
		},
	},
	{
		name: "gaps-in-body-summed",
		ops: []op{c(okGet), s("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"), sgap(20), s(rep("x", 10)),
			sgap(30), s(rep("y", 29)), sgap(1)},
		want: []wantEx{{req: "GET /", status: 200, respBytes: 100, truncated: true, notes: []string{"lost 51 bytes in response body (3 gaps)"}}},
		check: func(t *testing.T, out []*decoder.Exchange) {
			if len(out[0].Notes) != 1 {
				t.Errorf("notes %q: one note for all gaps", out[0].Notes)
			}
		},
	},
	{
		name: "gap-in-chunk-data",
		ops:  []op{c("PUT /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n01234"), cgap(5), c("56789a\r\n0\r\n\r\n"), s(ok200)},
		want: []wantEx{{req: "PUT /f", status: 200, reqBytes: 16, truncated: true, notes: []string{"lost 5 bytes in request body"}}},
	},
	{
		name: "gap-past-body-end",
		ops:  []op{c(okGet + okGet), s("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01"), sgap(100), s(ok200)},
		want: []wantEx{
			{req: "GET /", status: 200, respBytes: 2, truncated: true, notes: []string{"lost 100 bytes in response body, past its end"}},
			{req: "GET /", status: 200},
		},
	},
	{
		name: "gap-unknown-size",
		ops:  []op{c(okGet + okGet), s("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01"), sgap(-1), s(ok200)},
		want: []wantEx{
			{req: "GET /", status: 200, truncated: true, notes: []string{"lost an unknown number of bytes in response body"}},
			{req: "GET /", status: 200},
		},
	},
	{
		name: "gap-in-headers",
		ops:  []op{c("GET /a HTTP/1.1\r\nHost: x\r\nX-Auth-Tok"), cgap(200), c("GET /b HTTP/1.1\r\n\r\n"), s(ok200), s(ok200)},
		want: []wantEx{
			{req: "GET /a", status: 200, truncated: true, notes: []string{"lost 200 bytes in request headers"}},
			{req: "GET /b", status: 200},
		},
		check: func(t *testing.T, out []*decoder.Exchange) {
			if h := req(t, out[0]).Headers; len(h) != 1 {
				t.Errorf("headers %q: the cut line must be dropped", h)
			}
		},
	},
	{
		name: "gap-in-start-line",
		ops:  []op{c("GET /abc"), cgap(10), c("GET /b HTTP/1.1\r\n\r\n"), s(ok200)},
		want: []wantEx{{req: "GET /b", status: 200, notes: []string{"lost 10 bytes before this request"}}},
	},
	{
		name: "gap-in-close-delimited-body",
		ops:  []op{c(okGet), s("HTTP/1.1 201 CREATED\r\nContent-Type: application/json\r\n\r\n{\"a\":"), sgap(1000), s("1}"), send()},
		want: []wantEx{{req: "GET /", status: 201, respBytes: 1007, truncated: true, notes: []string{"lost 1000 bytes in response body"}}},
		check: func(t *testing.T, out []*decoder.Exchange) {
			if r := resp(t, out[0]); r.Body != `{"a":` || !r.BodyTruncated {
				t.Errorf("body %q", r.Body)
			}
		},
	},
	{
		name: "gap-between-messages",
		ops:  []op{c(okGet), s(ok200), cgap(300), c("GET /next HTTP/1.1\r\n\r\n"), s(ok200)},
		want: []wantEx{{req: "GET /", status: 200}, {req: "GET /next", status: 200, notes: []string{"lost 300 bytes before this request"}}},
	},
	{
		name: "gap-then-mid-body-data",
		ops:  []op{c(okGet), cgap(20), c("some body bytes\r\nmore\r\nGET /x HTTP/1.1\r\n\r\n"), s(ok200), s(ok200)},
		want: []wantEx{{req: "GET /", status: 200}, {req: "GET /x", status: 200, notes: []string{"lost 20 bytes", "skipped 23 bytes"}}},
	},
	{
		name: "head-response-has-no-body",
		ops:  []op{c("HEAD /big HTTP/1.1\r\n\r\n" + okGet), s("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + ok200)},
		want: []wantEx{{req: "HEAD /big", status: 200, respBytes: noBody}, {req: "GET /", status: 200, respBytes: 2}},
	},
	{
		name: "204-and-304-have-no-body",
		ops: []op{c(okGet + okGet + okGet), s("HTTP/1.1 204 No Content\r\nContent-Type: text/html\r\n\r\n" +
			"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n" + ok200)},
		want: []wantEx{{req: "GET /", status: 204, respBytes: noBody}, {req: "GET /", status: 304, respBytes: noBody}, {req: "GET /", status: 200, respBytes: 2}},
	},
	{
		name: "100-continue",
		ops: []op{c("PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"), s("HTTP/1.1 100 Continue\r\n\r\n"),
			c("data"), s("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")},
		want: []wantEx{{req: "PUT /f", status: 201, reqBytes: 4}},
		check: func(t *testing.T, out []*decoder.Exchange) {
			r := resp(t, out[0])
			if len(r.Interim) != 1 || r.Interim[0].Status != 100 || r.Interim[0].Reason != "Continue" {
				t.Errorf("interim %+v", r.Interim)
			}
			if !out[0].RespStart.Before(out[0].ReqEnd) {
				t.Errorf("RespStart should be the 100's start, before the body")
			}
		},
	},
	{
		name: "100-continue-then-gap",
		ops:  []op{c("PUT /f HTTP/1.1\r\nContent-Length: 4\r\n\r\ndata"), s("HTTP/1.1 100 Continue\r\n\r\n"), sgap(300), send()},
		want: []wantEx{{req: "PUT /f", status: 0, reqBytes: 4, truncated: true, notes: []string{"final response not captured (only 1xx)"}}},
		check: func(t *testing.T, out []*decoder.Exchange) {
			if r, ok := out[0].Response.(*Response); !ok || len(r.Interim) != 1 {
				t.Errorf("response %#v", out[0].Response)
			}
		},
	},
	{
		name: "switching-protocols",
		ops: []op{c("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
			s("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"), c("\x81\x85maskxhello GET / HTTP/1.1\r\n\r\n")},
		want: []wantEx{{req: "GET /ws", status: 101, notes: []string{`switched protocols (Upgrade "websocket")`}}},
	},
	{
		name: "connect-tunnel",
		ops:  []op{c("CONNECT controller:443 HTTP/1.1\r\nHost: controller:443\r\n\r\n"), s("HTTP/1.1 200 Connection established\r\n\r\n"), c("\x16\x03\x01\x02\x00"), s("\x16\x03\x03")},
		want: []wantEx{{req: "CONNECT controller:443", status: 200, respBytes: noBody, notes: []string{"CONNECT tunnel established"}}},
	},
	{
		name: "connect-refused",
		ops:  []op{c("CONNECT h:443 HTTP/1.1\r\n\r\n"), s("HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"), c(okGet), s(ok200)},
		want: []wantEx{{req: "CONNECT h:443", status: 403, respBytes: 2}, {req: "GET /", status: 200}},
	},
	{
		name: "pipelining",
		ops:  []op{c("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nPOST /3 HTTP/1.1\r\nContent-Length: 1\r\n\r\nx"), s(ok200 + "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n" + ok200)},
		want: []wantEx{{req: "GET /1", status: 200}, {req: "GET /2", status: 404}, {req: "POST /3", status: 200, reqBytes: 1}},
	},
	{
		name: "close-delimited-at-close",
		ops:  []op{c(okGet), s("HTTP/1.1 200 OK\r\n\r\nuntil close")},
		want: []wantEx{{req: "GET /", status: 200, respBytes: 11}},
	},
	{
		name: "close-delimited-http10",
		ops:  []op{c("GET / HTTP/1.0\r\n\r\n"), s("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nbody"), send(), cend()},
		check: func(t *testing.T, out []*decoder.Exchange) {
			if r := resp(t, out[0]); r.Body != "body" || r.Version != "HTTP/1.0" {
				t.Errorf("body %q version %q", r.Body, r.Version)
			}
		},
		want: []wantEx{{req: "GET /", status: 200, respBytes: 4}},
	},
	{
		name: "content-length-short-at-end",
		ops:  []op{c(okGet), s("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"), send()},
		want: []wantEx{{req: "GET /", status: 200, respBytes: 10, truncated: true, notes: []string{"connection closed 90 bytes before the end of the response body"}}},
	},
	{
		name: "end-in-headers",
		ops:  []op{c("GET / HTTP/1.1\r\nHost: x\r\n"), cend()},
		want: []wantEx{{req: "GET /", truncated: true, notes: []string{"connection closed in the middle of the request"}}},
	},
	{
		name: "tls-instead-of-http",
		ops:  []op{c("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), s("\x16\x03\x03\x00\x7a")},
	},
	{
		name: "garbage-then-request",
		ops:  []op{c("\x00\x01garbage\r\nGET /x HTTP/1.1\r\n\r\n"), s(ok200)},
		want: []wantEx{{req: "GET /x", status: 200, notes: []string{`malformed start line: request line "\x00\x01garbage"`}}},
	},
	{
		name: "http2-preface",
		ops:  []op{c("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04"), s("\x00\x00\x00\x04\x01")},
	},
	{
		name: "leading-empty-lines",
		ops:  []op{c("\r\n\r\n" + okGet), s(ok200)},
		want: []wantEx{{req: "GET /", status: 200}},
	},
	{
		name: "status-line-malformed",
		ops:  []op{c(okGet + okGet), s("HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\n" + ok200)},
		want: []wantEx{{req: "GET /", status: 200, notes: []string{"malformed start line: status line", "skipped 21 bytes before this response"}}, {req: "GET /", truncated: true, notes: []string{"no response captured"}}},
	},
	{
		name: "status-without-reason",
		ops:  []op{c(okGet), s("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n")},
		want: []wantEx{{req: "GET /", status: 200}},
		check: func(t *testing.T, out []*decoder.Exchange) {
			if r := resp(t, out[0]); r.Reason != "" || r.Summary() != "200" {
				t.Errorf("reason %q summary %q", r.Reason, r.Summary())
			}
		},
	},
	{
		name: "request-line-malformed",
		ops:  []op{c("GET /a b HTTP/1.1\r\n\r\n" + okGet), s(ok200)},
		want: []wantEx{{req: "GET /", status: 200, notes: []string{"malformed start line: request line"}}},
	},
	{
		name: "http-version-2-request",
		ops:  []op{c("GET / HTTP/2.0\r\n\r\n")},
	},
	{
		name:  "mid-stream-no-syn",
		noSYN: true,
		ops:   []op{c("lue\"}\r\nGET /x HTTP/1.1\r\n\r\n"), s("ody\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")},
		want:  []wantEx{{req: "GET /x", status: 200, notes: []string{"skipped 7 bytes before this request", "skipped 5 bytes before this response"}}},
	},
	{
		name:  "mid-stream-response-first",
		noSYN: true,
		ops:   []op{s("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), c(okGet), s(ok200)},
		want:  []wantEx{{status: 200, notes: []string{"response without request"}}, {req: "GET /", status: 200}},
	},
	{
		name: "binary-body-no-content-type",
		ops:  []op{c("POST /b HTTP/1.1\r\nContent-Length: 4\r\n\r\n\x00\x01\x02\x03"), s("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")},
		want: []wantEx{{req: "POST /b", status: 200, reqBytes: 4, respBytes: 5}},
		check: func(t *testing.T, out []*decoder.Exchange) {
			if b := req(t, out[0]).Body; b != "" {
				t.Errorf("binary body kept: %q", b)
			}
			if b := resp(t, out[0]).Body; b != "hello" {
				t.Errorf("text body without Content-Type not kept: %q", b)
			}
		},
	},
	{
		name: "pipelined-queue-overflow",
		ops:  []op{c(rep("GET /p HTTP/1.1\r\n\r\n", maxQueue+10))},
		check: func(t *testing.T, out []*decoder.Exchange) {
			if len(out) != maxQueue+10 {
				t.Errorf("%d exchanges, want %d", len(out), maxQueue+10)
			}
			if !hasNote(out[0], "emitted before its response") {
				t.Errorf("notes %q", out[0].Notes)
			}
		},
	},
	{
		name: "queue-overflow-while-response-in-progress",
		ops: []op{c("GET /first HTTP/1.1\r\n\r\n"), s("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234"),
			c(rep("GET /p HTTP/1.1\r\n\r\n", maxQueue)), s("56789" + ok200)},
		check: func(t *testing.T, out []*decoder.Exchange) {
			if len(out) != maxQueue+1 {
				t.Fatalf("%d exchanges, want %d", len(out), maxQueue+1)
			}
			if out[0].Response != nil || req(t, out[0]).Target != "/first" || !hasNote(out[0], "response in progress not recorded") {
				t.Errorf("first: %v %v %q", out[0].Request, out[0].Response, out[0].Notes)
			}
			if req(t, out[1]).Target != "/p" || resp(t, out[1]).BodyBytes != 2 {
				t.Errorf("second: the response after the detached one pairs with the next request")
			}
		},
	},
}

func repeatOp(o op, n int) []op {
	out := make([]op, n)
	for i := range out {
		out[i] = o
	}
	return out
}

// TestMalformed runs every named malformed case, checking the emitted
// exchanges and that the decoder never buffers more than its caps.
func TestMalformed(t *testing.T) {
	for _, tc := range malformedCases {
		t.Run(tc.name, func(t *testing.T) {
			conn := &decoder.Conn{ID: 1, SawSYN: !tc.noSYN}
			var col collector
			dec := New(conn, col.emit, Options{})
			d := dec.(*stream)
			t0 := time.Unix(1795978945, 0)
			for i, o := range tc.ops {
				at := t0.Add(time.Duration(i) * time.Millisecond)
				switch {
				case o.end:
					d.End(o.dir, at)
				case o.gap != 0:
					d.Gap(o.dir, o.gap, at)
				default:
					d.Data(o.dir, []byte(o.data), at)
				}
				for k := range d.sides {
					if n := len(d.sides[k].buf); n > maxLineLength {
						t.Fatalf("op %d: side %d buffers %d bytes", i, k, n)
					}
					if m := d.sides[k].m; m != nil && len(m.body) > defaultMaxBody {
						t.Fatalf("op %d: body of %d bytes kept", i, len(m.body))
					}
				}
				if len(d.queue) > maxQueue+1 {
					t.Fatalf("op %d: %d exchanges queued", i, len(d.queue))
				}
			}
			d.Close(t0.Add(time.Second))
			if !d.Pending().IsZero() {
				t.Errorf("Pending %v after Close", d.Pending())
			}
			out := col.out
			if tc.want != nil || tc.check == nil {
				if len(out) != len(tc.want) {
					for _, e := range out {
						t.Logf("got %v / %v notes %q", e.Request, e.Response, e.Notes)
					}
					t.Fatalf("%d exchanges, want %d", len(out), len(tc.want))
				}
			}
			for i, w := range tc.want {
				checkExchange(t, i, out[i], w)
			}
			if tc.check != nil {
				tc.check(t, out)
			}
		})
	}
}

func checkExchange(t *testing.T, i int, e *decoder.Exchange, w wantEx) {
	t.Helper()
	if w.req == "" {
		if e.Request != nil {
			t.Errorf("%d: request %v, want none", i, e.Request.Summary())
		}
	} else {
		r := req(t, e)
		if r.Summary() != w.req {
			t.Errorf("%d: request %q, want %q", i, r.Summary(), w.req)
		}
		if w.reqBytes == noBody && r.BodyBytes != 0 || w.reqBytes > 0 && r.BodyBytes != w.reqBytes {
			t.Errorf("%d: request body %d bytes, want %d", i, r.BodyBytes, w.reqBytes)
		}
	}
	if w.status == 0 && w.req != "" && !strings.Contains(strings.Join(w.notes, "|"), "only 1xx") {
		if e.Response != nil {
			t.Errorf("%d: response %v, want nil", i, e.Response.Summary())
		}
	} else if w.status != 0 {
		r := resp(t, e)
		if r.Status != w.status {
			t.Errorf("%d: status %d, want %d", i, r.Status, w.status)
		}
		if w.respBytes == noBody && r.BodyBytes != 0 || w.respBytes > 0 && r.BodyBytes != w.respBytes {
			t.Errorf("%d: response body %d bytes, want %d", i, r.BodyBytes, w.respBytes)
		}
	}
	if e.Truncated != w.truncated {
		t.Errorf("%d: Truncated %v, want %v (notes %q)", i, e.Truncated, w.truncated, e.Notes)
	}
	for _, n := range w.notes {
		if !hasNote(e, n) {
			t.Errorf("%d: no note %q in %q", i, n, e.Notes)
		}
	}
	if e.Proto != "http" {
		t.Errorf("%d: Proto %q", i, e.Proto)
	}
}
