package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzPlaces are the credential fields a fuzzed secret is put in (%s), one
// conversation each: every kind of place the generator's table uses.
var fuzzPlaces = []struct {
	port      uint16
	req, resp string
	min       int // shortest secret this place redacts (tokens by position)
	lost      int // bytes of the request sent before the capture began
}{
	{9292, httpReq("GET", "/v2/images?limit=1&password=%s", nil, ""), ok200, 1, 0},
	{9292, httpReq("GET", "/v2/images?X-Amz-Signature=%s&x=1", nil, ""), ok200, 1, 0},
	{9292, httpReq("GET", "http://u:%s@controller:9292/v2/images", nil, ""), ok200, 1, 0},
	{5000, httpReq("GET", "/v2.0/tokens/%s", nil, ""), ok200, 16, 0},
	{9292, httpReq("GET", "/v2/images", []string{"X-Auth-Token: %s"}, ""), ok200, 1, 0},
	{9292, httpReq("GET", "/v2/images", []string{"Authorization: Basic %s"}, ""), ok200, 1, 0},
	{9292, httpReq("GET", "/v2/images", []string{"Cookie: a=1; sid=%s"}, ""), ok200, 1, 0},
	{9292, httpReq("GET", "/v2/images", []string{"x-storage-pass: %s"}, ""), ok200, 1, 0},
	{9292, httpReq("GET", "/", nil, ""), httpResp("302 Found", []string{"Location: http://x:%s@h/"}, ""), 1, 0},
	{5000, httpReq("POST", "/v3/auth/tokens", []string{"Content-Type: application/json"},
		`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "%s"}}}}}`), ok200, 1, 0},
	{5000, httpReq("POST", "/v3/auth/tokens", []string{"Content-Type: application/x-www-form-urlencoded"}, "user=a&Password=%s"), ok200, 1, 0},
	{5000, httpReq("POST", "/v3/credentials", []string{"Content-Type: application/json"},
		`{"credential": {"blob": "{\"access\": \"a\", \"secret\": \"%s\"}", "type": "ec2"}}`), ok200, 1, 0},
	{5000, httpReq("POST", "/v3/x", nil, ""), httpResp("201 Created", []string{"Content-Type: application/json"}, `{"a": [{"b": {"app_secret": "%s"}}]}`), 1, 0},
	{11211, "set token:%s 0 0 1\r\nx\r\n", "STORED\r\n", 1, 0},
	{11211, "set k 0 0 %[2]d\r\n{\"auth_token\": \"%[1]s\"}\r\n", "STORED\r\n", 1, 0},
	{3306, "CREATE USER u IDENTIFIED/**/BY '%s'", "", 1, 0},
	{3306, "SET PASSWORD FOR u@h = PASSWORD('%s')", "", 1, 0},
	{3306, "CHANGE MASTER TO MASTER_PASSWORD = '%s'", "", 1, 0},
	{3306, "INSERT INTO instances (uuid, user_data, hostname) VALUES ('e0f06fcb-16d7-4e3f-9998-f97572c6c02c', '#!/bin/sh\\necho %s', 'vm1')", "", 1, 0},
	{3306, "UPDATE instances SET `user_data`='%s' WHERE id=1", "", 1, 0},
	{port: 9311, resp: httpResp("200 OK", []string{"Content-Type: text/plain"}, "%s"), min: 1,
		lost: len(httpReq("GET", "/v1/secrets/5f1c3a7e-8d0b-4b1e-9c62-0d1f4e2a9b37/payload", nil, ""))},
}

// FuzzSecretNeverWhole: a secret the fuzzer chooses, put in any of the
// credential fields and cut into segments of the sizes it chooses, never
// appears whole in decode --format jsonl or trace --format json --detail
// full (the outputs that print the most).
func FuzzSecretNeverWhole(f *testing.F) {
	for i := range fuzzPlaces {
		f.Add(uint8(i), "hunter2hunter2", uint8(7), uint8(3))
	}
	f.Add(uint8(0), "Zk3QxL9mWp2RtY7vBn4CsD8fGh1JkL5z", uint8(1), uint8(200))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, place uint8, secret string, cut1, cut2 uint8) {
		pl := fuzzPlaces[int(place)%len(fuzzPlaces)]
		if !plain(secret) || len(secret) < max(pl.min, 6) || len(secret) > 200 {
			t.Skip()
		}
		var c conv
		c.port, c.cut, c.lost = pl.port, []int{int(cut1)%64 + 1, int(cut2)%64 + 1}, pl.lost
		switch pl.port {
		case 3306:
			c.turns = mysqlTurns([]string{fmt.Sprintf(pl.req, secret)}, "zz")
		case 11211:
			req := pl.req
			if strings.Contains(req, "%[2]d") {
				req = fmt.Sprintf(req, secret, len(secret)+18)
			} else {
				req = fmt.Sprintf(req, secret)
			}
			c.turns = [][2]string{{req, pl.resp}}
		default:
			req, resp := pl.req, pl.resp
			if strings.Contains(req, "%s") {
				req = fmt.Sprintf(req, secret)
			} else {
				resp = fmt.Sprintf(resp, secret)
			}
			c.turns = [][2]string{{req, resp}}
		}
		c.turns[0][0], c.turns[0][1] = fixLength(c.turns[0][0]), fixLength(c.turns[0][1])
		g := &gen{convs: []conv{c}}
		p := filepath.Join(dir, "f.pcap")
		if err := os.WriteFile(p, g.pcap(), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, mode := range [][]string{{"decode", "--format", "jsonl", "--show-secrets"}, {"decode", "--format", "jsonl"}, {"trace", "--format", "json", "--detail", "full"}, {"trace", "--detail", "full"}} {
			var out, errb bytes.Buffer
			execute(&IO{In: strings.NewReader(""), Out: &out, Err: &errb, RedactKey: testKey}, append(mode, p))
			if strings.Contains(errb.String(), "decoder failed") {
				t.Fatalf("%v: %s", mode, errb.String()) // a decoder's panic, contained
			}
			if mode[len(mode)-1] == "--show-secrets" {
				if !strings.Contains(out.String(), secret) {
					t.Fatalf("place %d: secret %q not decoded at all:\n%s", int(place)%len(fuzzPlaces), secret, out.String())
				}
				continue
			}
			if all := out.String() + errb.String(); strings.Contains(all, secret) {
				t.Fatalf("%v: secret %q in place %d printed whole:\n%s", mode, secret, int(place)%len(fuzzPlaces), all)
			}
		}
	})
}

// plain: letters, digits and unreserved punctuation, with a letter and a
// digit (so that it cannot be a word of the output itself).
func plain(s string) bool {
	var letter, digit bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			letter = true
		case '0' <= c && c <= '9':
			digit = true
		case c == '-' || c == '_' || c == '.' || c == '~':
		default:
			return false
		}
	}
	return letter && digit
}

// fixLength rewrites the Content-Length of an HTTP message to its body's.
func fixLength(m string) string {
	head, body, ok := strings.Cut(m, "\r\n\r\n")
	if !ok || !strings.Contains(head, "Content-Length: ") {
		return m
	}
	lines := strings.Split(head, "\r\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "Content-Length: ") {
			lines[i] = fmt.Sprintf("Content-Length: %d", len(body))
		}
	}
	return strings.Join(lines, "\r\n") + "\r\n\r\n" + body
}
