package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// This file is a capture generator: it writes TCP conversations (HTTP,
// memcache, MySQL) that carry credentials in every place real OpenStack
// traffic and real mistakes put them, split across TCP segments at
// varying sizes, as a classic pcap. The tests run every output mode
// through Main and look for each credential whole and as an unsalted
// SHA-256 prefix.

// cred is one credential planted in the capture.
type cred struct {
	name   string // where it hides
	secret string // the credential as its owner knows it
	// wire is how it is spelled on the wire when that differs (percent
	// or JSON escapes); "" means secret.
	wire string
	// token: a long random bearer token, which flowmap names by its
	// sha256 fingerprint (README); the unsalted-prefix check is for the
	// others.
	token bool
	// shown: where --show-secrets shows it whole: "decode" (decode
	// --format jsonl) or "trace" (decode, and trace's targets, SQL and
	// cache keys).
	shown string
}

// gen builds the conversations and remembers the credentials.
type gen struct {
	creds []cred
	convs []conv
	n     int
}

// conv is one TCP connection: the client's and the server's messages in
// turn, each cut into segments of the given sizes (cycled).
type conv struct {
	port  uint16
	turns [][2]string // request, response
	cut   []int
	// lost is how many bytes the client sent before the capture began:
	// no handshake is written and the client's sequence numbers start
	// past them (a capture started between a request and its response).
	lost int
}

func (g *gen) add(c cred) string {
	g.creds = append(g.creds, c)
	if c.wire != "" {
		return c.wire
	}
	return c.secret
}

// fresh makes a unique credential of about n characters (letters and
// digits, so that it is found verbatim wherever it is kept).
func (g *gen) fresh(tag string, n int) string {
	g.n++
	s := fmt.Sprintf("%s%03dQz", tag, g.n)
	for len(s) < n {
		s += "x7"
	}
	return s
}

// fernet makes a fernet-shaped token (gAAAAA…, 120 characters).
func (g *gen) fernet() string {
	g.n++
	h := sha256.Sum256([]byte(fmt.Sprint("fernet", g.n)))
	s := "gAAAAABp" + strings.ToUpper(hex.EncodeToString(h[:8])) + hex.EncodeToString(h[8:]) + "_Zq-"
	for len(s) < 120 {
		s += "Ab9"
	}
	return s
}

func (g *gen) jwt() string {
	g.n++
	return fmt.Sprintf("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyJTAzZCIsIm4iOiIlMDNkIn0.Sig%03dnaTuReVaLuE0123456789abcdef", g.n)
}

func httpReq(method, target string, headers []string, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: controller\r\nUser-Agent: curl/8.5.0\r\n", method, target)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	return b.String()
}

func httpResp(status string, headers []string, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %s\r\n", status)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

var ok200 = httpResp("200 OK", []string{"Content-Type: application/json"}, `{"ok": true}`)

// generate plants the credentials. Names say where each one hides.
func generate() *gen {
	g := &gen{}
	cuts := [][]int{{1}, {7}, {13, 3}, {64}, {5, 1, 200}}
	http := func(port uint16, turns ...[2]string) {
		g.convs = append(g.convs, conv{port: port, turns: turns, cut: cuts[len(g.convs)%len(cuts)]})
	}

	// --- request targets: query parameters, varied case and position
	for i, name := range []string{"token", "password", "Password", "PASSWD", "X-Amz-Signature", "temp_url_sig",
		"Signature", "client_secret", "api_key", "access_token", "oauth_token_secret", "auth"} {
		s := g.add(cred{name: "query " + name, secret: g.fresh("q", 14), shown: "trace"})
		var target string
		switch i % 3 {
		case 0:
			target = "/v2/images?" + name + "=" + s
		case 1:
			target = "/v2/images?limit=20&" + name + "=" + s + "&marker=abc"
		default:
			target = "/v2/images?sort_key=name&" + name + "=" + s
		}
		http(9292, [2]string{httpReq("GET", target, nil, ""), ok200})
	}
	// percent-encoded: on the wire %21, whole only when decoded
	pe := g.fresh("pe", 12) + "!&"
	http(9292, [2]string{httpReq("GET", "/v2/images?password="+url.QueryEscape(pe), nil, ""), ok200})
	g.add(cred{name: "query percent-encoded", secret: pe, wire: url.QueryEscape(pe), shown: "trace"})
	// a fernet token in the path (keystone v2) and in an unnamed query parameter
	ft := g.add(cred{name: "path v2.0/tokens", secret: g.fernet(), token: true, shown: "trace"})
	http(5000, [2]string{httpReq("GET", "/v2.0/tokens/"+ft, nil, ""), ok200})
	jq := g.add(cred{name: "query unnamed JWT", secret: g.jwt(), token: true, shown: "trace"})
	http(9292, [2]string{httpReq("GET", "/v2/images?q="+jq, nil, ""), ok200})
	// userinfo in an absolute-form target and in a Location header
	up := g.add(cred{name: "target userinfo", secret: g.fresh("ui", 12), shown: "trace"})
	http(8080, [2]string{httpReq("GET", "http://admin:"+up+"@controller:8080/v3", nil, ""), ok200})
	lp := g.add(cred{name: "Location userinfo", secret: g.fresh("loc", 12), shown: "decode"})
	http(9292, [2]string{httpReq("GET", "/redirect", nil, ""), httpResp("302 Found", []string{"Location: http://glance:" + lp + "@controller/v2"}, "")})

	// a malformed start line, quoted by the decoder's note
	bl := g.add(cred{name: "note quoting a bad start line", secret: g.fresh("bl", 12), shown: "decode"})
	http(8080, [2]string{"GET /x?password=" + bl + " HTTP/1.1 junk\r\n" + httpReq("GET", "/ok", nil, ""), ok200})

	// --- headers: the registry's, HTTP's own, unlisted names, shapes
	for i, h := range []string{"X-Auth-Token", "x-auth-token", "X-SUBJECT-TOKEN", "X-Service-Token", "X-Auth-Key",
		"X-Storage-Pass", "X-Custom-Token", "X-Db-Password", "X-Account-Meta-Temp-URL-Key"} {
		var s string
		if i < 4 {
			s = g.add(cred{name: "header " + h, secret: g.fernet(), token: true, shown: "decode"})
		} else {
			s = g.add(cred{name: "header " + h, secret: g.fresh("h", 10), shown: "decode"})
		}
		http(9292, [2]string{httpReq("GET", "/v2/images", []string{"Accept: */*", h + ": " + s}, ""), ok200})
	}
	basic := g.add(cred{name: "Authorization Basic", secret: "YWRtaW46" + g.fresh("b", 12), shown: "decode"})
	bearer := g.add(cred{name: "Authorization Bearer JWT", secret: g.jwt(), token: true, shown: "decode"})
	cookie := g.add(cred{name: "Cookie", secret: g.fresh("ck", 12), shown: "decode"})
	setck := g.add(cred{name: "Set-Cookie", secret: g.fresh("sc", 12), shown: "decode"})
	http(9292,
		[2]string{httpReq("GET", "/v2/images", []string{"Authorization: Basic " + basic}, ""), ok200},
		[2]string{httpReq("GET", "/v2/schemas", []string{"authorization: Bearer " + bearer, "Cookie: theme=dark; session=" + cookie}, ""),
			httpResp("200 OK", []string{"Set-Cookie: sid=" + setck + "; Path=/; HttpOnly"}, "{}")})
	rk := g.add(cred{name: "unnamed header, random key", secret: "Zk3QxL9mWp2RtY7vBn4CsD8fGh1JkL5z", shown: "decode"})
	uj := g.add(cred{name: "unnamed header, JWT", secret: g.jwt(), token: true, shown: "decode"})
	http(9292, [2]string{httpReq("GET", "/v2/images", []string{"X-Request-Signing: " + rk, "X-Forwarded-Jwt: " + uj}, ""), ok200})

	// --- bodies: keystone JSON, form, JSON sent as a form, nested, JSON in JSON
	kp := g.add(cred{name: "keystone password JSON", secret: g.fresh("kp", 10), shown: "decode"})
	issued := g.add(cred{name: "issued token X-Subject-Token", secret: g.fernet(), token: true, shown: "decode"})
	http(5000, [2]string{
		httpReq("POST", "/v3/auth/tokens", []string{"Content-Type: application/json"},
			`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": "`+kp+`"}}}}}`),
		httpResp("201 Created", []string{"Content-Type: application/json", "X-Subject-Token: " + issued},
			`{"token": {"methods": ["password"], "user": {"name": "admin", "id": "u1"}, "expires_at": "2026-11-29T20:00:00.000000Z"}}`)})
	fp := g.add(cred{name: "keystone password as a form", secret: g.fresh("fp", 10), shown: "decode"})
	http(5000, [2]string{httpReq("POST", "/v3/auth/tokens", []string{"Content-Type: application/x-www-form-urlencoded"},
		"username=admin&PASSWORD="+fp+"&domain=Default"), httpResp("401 Unauthorized", nil, `{"error": {"code": 401}}`)})
	cd := g.add(cred{name: "curl -d JSON as a form", secret: g.fresh("cd", 10), shown: "decode"})
	http(5000, [2]string{httpReq("POST", "/v3/auth/tokens", []string{"Content-Type: application/x-www-form-urlencoded"},
		`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"demo","password":"`+cd+`"}}}}}`), httpResp("401 Unauthorized", nil, "{}")})
	ec2 := g.add(cred{name: "EC2 blob secret (JSON in JSON)", secret: g.fresh("ec", 16), shown: "decode"})
	http(5000, [2]string{httpReq("POST", "/v3/credentials", []string{"Content-Type: application/json"},
		`{"credential": {"blob": "{\"access\": \"a181\", \"secret\": \"`+ec2+`\"}", "type": "ec2", "user_id": "u1"}}`), ok200})
	ac := g.add(cred{name: "application credential secret (response)", secret: g.fresh("ac", 20), shown: "decode"})
	http(5000, [2]string{httpReq("POST", "/v3/users/u1/application_credentials", []string{"Content-Type: application/json"}, `{"application_credential": {"name": "ci"}}`),
		httpResp("201 Created", []string{"Content-Type: application/json"}, `{"application_credential": {"id": "ac1", "name": "ci", "secret": "`+ac+`"}}`)})
	oa := g.add(cred{name: "OAuth1 oauth_token_secret (form response)", secret: g.fresh("oa", 16), shown: "decode"})
	http(5000, [2]string{httpReq("POST", "/v3/OS-OAUTH1/request_token", nil, ""),
		httpResp("201 Created", []string{"Content-Type: application/x-www-form-urlencoded"}, "oauth_token=rt1&oauth_token_secret="+oa)})
	ul := g.add(cred{name: "unlisted JSON key ending in token", secret: g.fernet(), token: true, shown: "decode"})
	np := g.add(cred{name: "numeric password", secret: "98765432101", shown: "decode"})
	arr := g.add(cred{name: "password in an array", secret: g.fresh("ar", 10), shown: "decode"})
	esc := g.fresh("es", 10)
	g.add(cred{name: "JSON-escaped password", secret: esc, wire: `\u0065` + esc[1:], shown: "decode"})
	deep := g.add(cred{name: "deeply nested adminPass", secret: g.fresh("dp", 10), shown: "decode"})
	http(8774, [2]string{httpReq("POST", "/v2.1/servers", []string{"Content-Type: application/json"},
		`{"server": {"name": "vm", "metadata": {"refresh_token": "`+ul+`"}, "a": {"b": {"c": {"adminPass": "`+deep+`"}}}, "passwords": [], "db_password": `+np+`, "old_passwords": ["x"], "password": ["`+arr+`"], "Password": "`+`\u0065`+esc[1:]+`"}}`), ok200})
	pem := g.fresh("MIIEpem", 24)
	g.add(cred{name: "PEM private key in JSON", secret: pem, shown: "decode"})
	http(9696, [2]string{httpReq("POST", "/v2.0/certs", []string{"Content-Type: application/json"},
		`{"cert": {"data": "-----BEGIN PRIVATE KEY-----\n`+pem+`\n-----END PRIVATE KEY-----\n"}}`), ok200})
	hi := g.add(cred{name: "random key as an unnamed JSON value", secret: "Qm9uZ2VyWXlUaGlzSXNBUmFuZG9tS2V5MTIzNDU2", shown: "decode"})
	http(9696, [2]string{httpReq("POST", "/v2.0/things", []string{"Content-Type: application/json"}, `{"thing": {"opaque": "`+hi+`"}}`), ok200})
	// a chunked body split inside the password, with a trailer token
	ck := g.fresh("ch", 12)
	g.add(cred{name: "password across chunks", secret: ck, shown: "decode"})
	body := `{"auth":{"identity":{"password":{"user":{"password":"` + ck + `"}}}}}`
	half := len(body) - 10
	tt := g.add(cred{name: "trailer X-Auth-Token", secret: g.fernet(), token: true, shown: "decode"})
	http(5000, [2]string{fmt.Sprintf("POST /v3/auth/tokens HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nTrailer: X-Auth-Token\r\n\r\n%x\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Auth-Token: %s\r\n\r\n",
		half, body[:half], len(body)-half, body[half:], tt), httpResp("401 Unauthorized", nil, "{}")})

	// a barbican secret fetched as text, the capture begun after its
	// request (GET /v1/secrets/<id>/payload) was sent: the response alone
	// cannot say it is a secret payload
	bp := g.add(cred{name: "barbican payload, request not captured", secret: g.fresh("bp", 14), shown: "decode"})
	get := httpReq("GET", "/v1/secrets/5f1c3a7e-8d0b-4b1e-9c62-0d1f4e2a9b37/payload", []string{"Accept: text/plain"}, "")
	g.convs = append(g.convs, conv{port: 9311, cut: []int{5, 40}, lost: len(get), turns: [][2]string{
		{"", httpResp("200 OK", []string{"Content-Type: text/plain; charset=UTF-8"}, bp)},
		{httpReq("GET", "/v1/secrets?limit=10", []string{"Accept: application/json"}, ""), ok200},
	}})

	// --- memcache: keys that are raw tokens, values holding tokens
	mk := g.add(cred{name: "memcache key = raw fernet token", secret: g.fernet(), token: true, shown: "trace"})
	mv := g.add(cred{name: "memcache value auth_token", secret: g.fernet(), token: true, shown: "decode"})
	val := `{"token": {"user": {"name": "admin"}}, "auth_token": "` + mv + `"}`
	mh := g.add(cred{name: "memcache key token:<hex>", secret: "0f1e2d3c4b5a69788796a5b4c3d2e1f0", token: true, shown: "trace"})
	mj := g.add(cred{name: "memcache key JWT (get)", secret: g.jwt(), token: true, shown: "trace"})
	mp := g.add(cred{name: "memcache value password", secret: g.fresh("mp", 10), shown: "decode"})
	g.convs = append(g.convs, conv{port: 11211, cut: []int{9, 2}, turns: [][2]string{
		{fmt.Sprintf("set %s 0 300 %d\r\n%s\r\n", mk, len(val), val), "STORED\r\n"},
		{fmt.Sprintf("set token:%s 0 300 2\r\nok\r\n", mh), "STORED\r\n"},
		{"get " + mj + "\r\n", fmt.Sprintf("VALUE %s 0 %d\r\n%s\r\nEND\r\n", mj, len(val), val)},
		{fmt.Sprintf("set cfg 0 0 %d\r\npassword=%s\r\n", len(mp)+9, mp), "STORED\r\n"},
	}})

	// --- SQL: the forms that dodge simple patterns
	sql := func(name, format string, token bool) string {
		s := g.fresh("sq", 10)
		if token {
			s = g.fernet()
		}
		g.add(cred{name: "SQL " + name, secret: s, token: token, shown: "trace"})
		return fmt.Sprintf(format, s)
	}
	queries := []string{
		sql("IDENTIFIED BY", "CREATE USER 'a'@'%%' IDENTIFIED BY '%s'", false),
		sql("identified by lower case", "alter user a identified by '%s'", false),
		sql("IDENTIFIED/**/BY", "CREATE USER b IDENTIFIED/**/BY '%s'", false),
		sql("IDENTIFIED -- comment BY", "ALTER USER c IDENTIFIED -- why\n BY '%s'", false),
		sql("IDENTIFIED WITH plugin BY", "CREATE USER d IDENTIFIED WITH mysql_native_password BY '%s'", false),
		sql("IDENTIFIED VIA USING PASSWORD()", "CREATE USER e IDENTIFIED VIA ed25519 USING PASSWORD('%s')", false),
		sql("MASTER_PASSWORD=", "CHANGE MASTER TO MASTER_HOST='db2', MASTER_USER='repl', MASTER_PASSWORD='%s'", false),
		sql("CREATE SERVER PASSWORD", "CREATE SERVER s1 FOREIGN DATA WRAPPER mysql OPTIONS (HOST 'h', USER 'u', PASSWORD '%s')", false),
		sql("SET PASSWORD =", "SET PASSWORD = '%s'", false),
		sql("SET PASSWORD FOR = PASSWORD()", "SET PASSWORD FOR 'u'@'h' = PASSWORD('%s')", false),
		sql("set/**/password for =", "set/**/password/**/for u@h/**/=/**/'%s'", false),
		sql("UPDATE SET secret=", "UPDATE account SET secret='%s' WHERE id=1", false),
		sql("fernet literal", "INSERT INTO revocation (token) VALUES ('%s')", true),
		// nova's INSERT of a server (as oslo.db sends it) whose user_data
		// is a plain-text script, not base64: only its column says so
		sql("INSERT column list user_data", novaInsert, false),
		sql("UPDATE SET user_data=", "UPDATE instances SET updated_at='2026-11-30 02:49:22.355191', user_data='#!/bin/sh\necho root:%s | chpasswd' WHERE instances.uuid = 'e0f06fcb-16d7-4e3f-9998-f97572c6c02c'", false),
		sql("INSERT column list password", "INSERT INTO user_creds (created_at, password, decrypt_method, trust_id) VALUES ('2026-11-30 02:49:22', '%s', 'cryptography_decrypt_v1', NULL)", false),
		sql("REPLACE quoted names", "REPLACE INTO `creds` (`id`, `api_key`) VALUES (1, _utf8mb4'%s')", false),
	}
	se := g.fresh("se", 10)
	g.add(cred{name: "SQL error echoing IDENTIFIED BY", secret: se, shown: "decode"})
	g.convs = append(g.convs, conv{port: 3306, cut: []int{11, 4}, turns: mysqlTurns(queries, se)})
	return g
}

// novaInsert is nova-conductor's INSERT of a server (from a lab capture),
// its user_data a plain-text script holding a password (%s).
const novaInsert = "INSERT INTO instances (created_at, updated_at, deleted_at, deleted, user_id, project_id, image_ref, kernel_id, ramdisk_id, hostname, launch_index, key_name, key_data, power_state, vm_state, task_state, memory_mb, vcpus, root_gb, ephemeral_gb, ephemeral_key_uuid, host, node, instance_type_id, user_data, reservation_id, launched_at, terminated_at, availability_zone, display_name, display_description, launched_on, locked, locked_by, os_type, architecture, vm_mode, uuid, root_device_name, default_ephemeral_device, default_swap_device, config_drive, access_ip_v4, access_ip_v6, auto_disk_config, progress, shutdown_terminate, disable_terminate, cell_name, cleaned, hidden) " +
	"VALUES ('2026-11-30 02:48:30', NULL, NULL, 0, 'f32f51c50b5c4e02b8669c8fb05b56f9', 'df33592cdb664fe8b0907442cb8607e8', 'e7bb5e5f-e12f-4838-ace9-aaed16a465c7', '', '', 'vm1', 0, NULL, NULL, 0, 'building', 'scheduling', 64, 1, 1, 0, NULL, NULL, NULL, 1, " +
	"'#cloud-config\\nchpasswd:\\n  list: |\\n    root:%s\\n', 'r-cvb0ncqv', NULL, NULL, 'nova', 'vm1', NULL, NULL, 0, NULL, NULL, NULL, NULL, 'e0f06fcb-16d7-4e3f-9998-f97572c6c02c', NULL, NULL, NULL, '', NULL, NULL, 0, 0, 0, 0, NULL, 0, 0)"

// mysqlTurns is a MySQL conversation: greeting, login, OK, then each query
// and its OK, then one query answered by an error that quotes its secret.
func mysqlTurns(queries []string, errSecret string) [][2]string {
	pkt := func(seq byte, payload string) string {
		n := len(payload)
		return string([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}) + payload
	}
	le16 := func(v uint16) string { return string([]byte{byte(v), byte(v >> 8)}) }
	le32 := func(v uint32) string {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], v)
		return string(b[:])
	}
	const caps = 0x0200 | 0x8000 | 0x0008 | 0x00080000 | 0x0001 // PROTOCOL_41, SECURE_CONNECTION, CONNECT_WITH_DB, PLUGIN_AUTH, LONG_PASSWORD
	greeting := "\x0a" + "10.11.6-MariaDB\x00" + le32(7) + "abcdefgh\x00" + le16(caps&0xffff) + "\x21" + le16(2) + le16(caps>>16) +
		"\x15" + strings.Repeat("\x00", 10) + "ijklmnopqrst\x00" + "mysql_native_password\x00"
	login := le32(caps) + le32(1<<24) + "\x21" + strings.Repeat("\x00", 23) + "keystone\x00" + "\x14" + strings.Repeat("\x11", 20) +
		"keystone\x00" + "mysql_native_password\x00"
	okp := "\x00\x00\x00" + le16(2) + le16(0)
	turns := [][2]string{{pkt(0, greeting), ""}}
	// the greeting comes from the server first: a turn with an empty
	// request is the server speaking
	turns[0] = [2]string{"", pkt(0, greeting)}
	turns = append(turns, [2]string{pkt(1, login), pkt(2, okp)})
	for _, q := range queries {
		turns = append(turns, [2]string{pkt(0, "\x03"+q), pkt(1, okp)})
	}
	bad := "GRANT ALL TO x IDENTIFIED BY '" + errSecret + "' oops"
	errp := "\xff" + le16(1064) + "#42000" + "You have an error in your SQL syntax near 'IDENTIFIED BY '" + errSecret + "' oops' at line 1"
	turns = append(turns, [2]string{pkt(0, "\x03"+bad), pkt(1, errp)})
	return turns
}

// pcap writes the conversations as a classic pcap of raw IPv4 packets,
// each message cut into segments of conv.cut sizes (cycled), so that
// secrets are split across TCP segments.
func (g *gen) pcap() []byte {
	var b bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 101) // LINKTYPE_RAW
	b.Write(hdr)
	t := time.Date(2026, 11, 29, 19, 0, 0, 0, time.UTC)
	cli := [4]byte{10, 0, 20, 100}
	srv := [4]byte{10, 0, 20, 11}
	for i, c := range g.convs {
		cport := uint16(40000 + i)
		cseq, sseq := uint32(1000), uint32(5000)
		write := func(fromClient bool, flags byte, data []byte) {
			t = t.Add(100 * time.Microsecond)
			src, dst, sp, dp, seq, ack := cli, srv, cport, c.port, cseq, sseq
			if !fromClient {
				src, dst, sp, dp, seq, ack = srv, cli, c.port, cport, sseq, cseq
			}
			pkt := make([]byte, 40+len(data))
			pkt[0] = 0x45
			binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
			pkt[8], pkt[9] = 64, 6
			copy(pkt[12:], src[:])
			copy(pkt[16:], dst[:])
			binary.BigEndian.PutUint16(pkt[20:], sp)
			binary.BigEndian.PutUint16(pkt[22:], dp)
			binary.BigEndian.PutUint32(pkt[24:], seq)
			binary.BigEndian.PutUint32(pkt[28:], ack)
			pkt[32] = 5 << 4
			pkt[33] = flags
			binary.BigEndian.PutUint16(pkt[34:], 65535)
			copy(pkt[40:], data)
			rec := make([]byte, 16)
			binary.LittleEndian.PutUint32(rec[0:], uint32(t.Unix()))
			binary.LittleEndian.PutUint32(rec[4:], uint32(t.Nanosecond()/1000))
			binary.LittleEndian.PutUint32(rec[8:], uint32(len(pkt)))
			binary.LittleEndian.PutUint32(rec[12:], uint32(len(pkt)))
			b.Write(rec)
			b.Write(pkt)
			n := uint32(len(data))
			if flags&0x03 != 0 {
				n++
			}
			if fromClient {
				cseq += n
			} else {
				sseq += n
			}
		}
		const syn, ack, psh, fin = 0x02, 0x10, 0x08, 0x01
		if c.lost > 0 {
			cseq += uint32(c.lost)
		} else {
			write(true, syn, nil)
			write(false, syn|ack, nil)
			write(true, ack, nil)
		}
		k := 0
		send := func(fromClient bool, msg string) {
			for len(msg) > 0 {
				n := min(c.cut[k%len(c.cut)], len(msg))
				k++
				write(fromClient, psh|ack, []byte(msg[:n]))
				msg = msg[n:]
			}
		}
		for _, turn := range c.turns {
			send(true, turn[0])
			send(false, turn[1])
		}
		write(true, fin|ack, nil)
		write(false, fin|ack, nil)
		write(true, ack, nil)
	}
	return b.Bytes()
}

// outputModes are every output flowmap has.
var outputModes = [][]string{
	{"decode", "--format", "table"},
	{"decode", "--format", "jsonl"},
	{"trace", "--format", "mermaid"},
	{"trace", "--format", "mermaid", "--detail", "full"},
	{"trace", "--format", "plantuml"},
	{"trace", "--format", "plantuml", "--detail", "full"},
	{"trace", "--format", "otlp"},
	{"trace", "--format", "otlp", "--detail", "full"},
	{"trace", "--format", "json"},
	{"trace", "--format", "json", "--detail", "full"},
	{"summary", "--format", "text"},
	{"summary", "--format", "json"},
	{"report", "-o", "-"},
	{"report", "--detail", "full", "-o", "-"},
}

// spellings are the ways a credential could be printed: as it is, as on
// the wire, JSON-escaped.
func (c cred) spellings() []string {
	s := []string{c.secret}
	if c.wire != "" {
		s = append(s, c.wire)
	}
	return s
}

// unsalted are the 8-hex prefixes of the unsalted SHA-256 of a credential
// (and of its wire spelling) that must never be printed.
func (c cred) unsalted() []string {
	var out []string
	for _, s := range c.spellings() {
		h := sha256.Sum256([]byte(s))
		out = append(out, hex.EncodeToString(h[:4]))
	}
	return out
}

func writeCapture(t *testing.T) (*gen, string) {
	g := generate()
	p := filepath.Join(t.TempDir(), "secrets.pcap")
	if err := os.WriteFile(p, g.pcap(), 0o644); err != nil {
		t.Fatal(err)
	}
	return g, p
}

// TestNoSecretLeaves: at least 60 credentials, every output mode: none is
// printed whole, none as an unsalted SHA-256 prefix (tokens are named by
// theirs, by design), and every one was decoded at all (--show-secrets
// shows it).
func TestNoSecretLeaves(t *testing.T) {
	g, p := writeCapture(t)
	if len(g.creds) < 60 {
		t.Fatalf("only %d credentials", len(g.creds))
	}
	for _, mode := range outputModes {
		out, errs, code := run(t, append(mode, p)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", mode, code, errs)
		}
		for _, c := range g.creds {
			for _, s := range c.spellings() {
				if strings.Contains(out, s) {
					t.Errorf("%v: %s: %q printed whole", mode, c.name, s)
				}
			}
			if c.token {
				continue
			}
			for _, h := range c.unsalted() {
				if strings.Contains(out, h) {
					t.Errorf("%v: %s: unsalted sha256 prefix %s printed", mode, c.name, h)
				}
			}
		}
	}
}

// TestShowSecretsShows: with --show-secrets, decode --format jsonl prints
// every credential (the decoders keep them all), and trace prints whole
// those the README says it does: in request targets, SQL and cache keys.
func TestShowSecretsShows(t *testing.T) {
	g, p := writeCapture(t)
	dec, _, code := run(t, "decode", "--format", "jsonl", "--show-secrets", p)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	tr, _, code := run(t, "trace", "--format", "json", "--detail", "full", "--show-secrets", p)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	shown := func(out string, c cred) bool {
		for _, s := range c.spellings() {
			if strings.Contains(out, s) {
				return true
			}
		}
		return false
	}
	for _, c := range g.creds {
		if !shown(dec, c) {
			t.Errorf("decode --show-secrets: %s not shown", c.name)
		}
		if c.shown == "trace" && !shown(tr, c) {
			t.Errorf("trace --show-secrets: %s not shown", c.name)
		}
	}
}

// TestResponseWithoutRequest: a capture begun after a barbican client
// sent GET /v1/secrets/<id>/payload holds the secret in a response alone.
// decode prints its body as a keyed fingerprint, with its size, type and a
// note (whole with --show-secrets); trace cannot draw it (no caller, no
// request) and says so on stderr and in the JSON's notes.
func TestResponseWithoutRequest(t *testing.T) {
	const secret = "db-pa55word-42"
	get := httpReq("GET", "/v1/secrets/5f1c3a7e-8d0b-4b1e-9c62-0d1f4e2a9b37/payload", []string{"Accept: text/plain"}, "")
	g := &gen{convs: []conv{{port: 9311, cut: []int{64}, lost: len(get), turns: [][2]string{
		{"", httpResp("200 OK", []string{"Content-Type: text/plain; charset=UTF-8"}, secret)},
		{httpReq("GET", "/v1/secrets?limit=10", []string{"Accept: application/json"}, ""), ok200},
	}}}}
	p := filepath.Join(t.TempDir(), "barbican.pcap")
	if err := os.WriteFile(p, g.pcap(), 0o644); err != nil {
		t.Fatal(err)
	}
	dec, _, _ := run(t, "decode", "--format", "jsonl", p)
	first, _, _ := strings.Cut(dec, "\n")
	if strings.Contains(dec, secret) || !strings.Contains(first, `"request":null`) ||
		!strings.Contains(first, `"body":"hmac:`) || !strings.Contains(first, `"body_bytes":14`) ||
		!strings.Contains(first, "text/plain") || !strings.Contains(first, "cannot be told from a stored secret") {
		t.Errorf("decode:\n%s", dec)
	}
	if shown, _, _ := run(t, "decode", "--format", "jsonl", "--show-secrets", p); !strings.Contains(shown, `"body":"`+secret+`"`) {
		t.Errorf("decode --show-secrets:\n%s", shown)
	}
	const note = "1 http response whose request the capture missed"
	for _, mode := range [][]string{{"trace"}, {"trace", "--format", "json", "--detail", "full"}} {
		out, errs, code := run(t, append(mode, p)...)
		if code != 0 || strings.Contains(out+errs, secret) || !strings.Contains(errs, note) || !strings.Contains(out, "GET /v1/secrets?limit=10") {
			t.Errorf("%v: exit %d\n%s\nstderr: %s", mode, code, out, errs)
		}
		if mode[len(mode)-1] == "full" && !strings.Contains(out, note) {
			t.Errorf("%v: the note is not in the model's notes:\n%s", mode, out)
		}
	}
}
