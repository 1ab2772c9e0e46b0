package amqp

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
)

func osloBody(t *testing.T, inner map[string]any) []byte {
	t.Helper()
	in, err := json.Marshal(inner)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{"oslo.version": "2.0", "oslo.message": string(in)})
	return b
}

// TestOsloEnvelope: a call, a cast and a failure reply are read from the
// body; args are summarised by name and kind; the token is kept only
// until Redacted, which gives its fingerprint.
func TestOsloEnvelope(t *testing.T) {
	tok := "gAAAAABsecret-token-value-0123456789abcdefghijklmnopqrstuvwxyz"
	call := parseOslo(osloBody(t, map[string]any{
		"method": "select_destinations", "version": "4.5", "_msg_id": "abc", "_reply_q": "reply_1",
		"_context_request_id": "req-1", "_context_global_request_id": nil, "_context_auth_token": tok,
		"args": map[string]any{"spec_obj": map[string]any{"nova_object.name": "RequestSpec", "nova_object.data": map[string]any{"x": "PASSWORD"}},
			"instance_uuids": []string{"u1"}, "return_alternates": true, "admin_password": "s3cret"},
	}))
	if call == nil || call.Kind() != "call" || call.Method != "select_destinations" || call.MsgID != "abc" || call.RequestID != "req-1" || call.ReplyQ != "reply_1" {
		t.Fatalf("call: %+v", call)
	}
	if want := "admin_password=str, instance_uuids=list[1], return_alternates=bool, spec_obj=RequestSpec"; call.Args != want {
		t.Errorf("args %q, want %q", call.Args, want)
	}
	msg := &Message{Kind: "publish", Exchange: "nova", RoutingKey: "scheduler", Body: "x", Oslo: call}
	msg.ContentType = "application/json"
	red := msg.Redacted().(*Message)
	out, _ := json.Marshal(red)
	if strings.Contains(string(out), tok) || strings.Contains(string(out), "s3cret") || red.Body != "" {
		t.Errorf("redacted message shows the token, a password or the body: %s", out)
	}
	if !strings.HasPrefix(red.Oslo.AuthToken, "sha256:") || call.AuthToken != tok {
		t.Errorf("token %q (raw kept %v)", red.Oslo.AuthToken, call.AuthToken == tok)
	}

	cast := parseOslo(osloBody(t, map[string]any{"method": "build_and_run_instance", "args": map[string]any{}, "_context_request_id": "req-2"}))
	if cast.Kind() != "cast" {
		t.Errorf("cast: %+v", cast)
	}

	fail, _ := json.Marshal(map[string]any{"class": "NoValidHost", "module": "nova.exception", "message": "No valid host was found. ", "tb": []string{"Traceback"}})
	reply := parseOslo(osloBody(t, map[string]any{"_msg_id": "abc", "failure": string(fail), "result": nil, "ending": true}))
	if reply.Kind() != "reply" || reply.FailureClass != "NoValidHost" || reply.FailureMessage != "No valid host was found." || !reply.Ending {
		t.Errorf("failure reply: %+v", reply)
	}
	ok := parseOslo(osloBody(t, map[string]any{"_msg_id": "abc", "failure": nil, "result": []int{1, 2}, "ending": true}))
	if ok.Kind() != "reply" || ok.Result != "list[2]" || ok.FailureClass != "" {
		t.Errorf("result reply: %+v", ok)
	}
	if parseOslo([]byte(`{"a": 1}`)) != nil {
		t.Error("a JSON body that is no envelope read as one")
	}
	if o := parseOslo([]byte(`{"oslo.version": "2.0", "oslo.message": "{\"method\": \"x`)); o == nil || o.Error == "" {
		t.Errorf("cut body: %+v", o)
	}
}

// TestOsloInPlace: the inner message read where it lies in its JSON
// string gives what reading a decoded copy of it gives, on every real
// body and on the escapes and malformed strings named here.
func TestOsloInPlace(t *testing.T) {
	env := func(msg string) []byte { return []byte(`{"oslo.version": "2.0", "oslo.message": "` + msg + `"}`) }
	pairKey := "\U0001F600" // \ud83d\ude00: a surrogate pair
	for _, c := range []struct {
		name, body string
		want       Oslo // the fields checked: Error, Method, MsgID, Args, Result
	}{
		{"quote-as-u0022", `{\u0022method\u0022: \u0022m\u0022, \u0022_msg_id\u0022: \"x\"}`, Oslo{Method: "m", MsgID: "x"}},
		{"inner-escapes", `{\"method\": \"a\\\"b\\\\\", \"_msg_id\": \"\\u00e9\", \"args\": {\"a\\\"\": \"\\ud83d\\ude00\\\"\"}}`, Oslo{Method: `a"b\`, MsgID: "é", Args: `a"=str`}},
		{"outer-u-escapes", `{\"method\": \"\u00e9\ud83d\", \"_msg_id\": \"x\u005c\"y\", \"args\": {\"\ud83d\ude00\": 1, \"\udc00\": 2}}`, Oslo{Method: "é\ufffd", MsgID: `x"y`, Args: "\ufffd=num, " + pairKey + "=num"}},
		{"newline-as-space", `{\n\"method\":\t\"m\"\r}`, Oslo{Method: "m"}},
		{"args-kinds", `{\"method\": \"m\", \"args\": {\"b\": [1, \"{\", {}], \"a\": {\"nova_object.name\": \"I\"}, \"c\": null}}`, Oslo{Method: "m", Args: "a=I, b=list[3], c=None"}},
		{"result-kind", `{\"_msg_id\": \"x\", \"result\": [{\"a\": \"]\"}, 2], \"ending\": true}`, Oslo{MsgID: "x", Result: "list[2]"}},
		{"args-trailing-comma", `{\"method\": \"m\", \"args\": {\"a\": 1,}}`, Oslo{Method: "m", Error: "oslo.message is not a JSON object"}},
		{"message-trailing-comma", `{\"method\": \"m\",}`, Oslo{Method: "m"}},
		{"bad-escape-inside", `{\"method\": \"m\x\"}`, Oslo{Error: errNotString}},
		{"bad-escape-after", `{\"method\": \"m\"} \q`, Oslo{Error: errNotString}},
		{"bad-escape-after-bad-object", `{\"method\": \"m\", 1} \u12`, Oslo{Error: errNotString}},
		{"string-ends-in-message", `{\"method\": \"m\", \"args\":`, Oslo{Method: "m", Error: "oslo.message is not a JSON object"}},
		{"string-ends-in-value", `{\"method\": \"m`, Oslo{Error: "oslo.message is not a JSON object"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := env(c.body)
			o := parseOslo(body)
			if o == nil {
				t.Fatalf("no envelope in %s", body)
			}
			got := Oslo{Error: o.Error, Method: o.Method, MsgID: o.MsgID, Args: o.Args, Result: o.Result}
			if got != c.want {
				t.Errorf("%s\ngot  %+v\nwant %+v", body, got, c.want)
			}
			if plain := parseEnvelope(body, false); !reflect.DeepEqual(o, plain) {
				t.Errorf("in place %+v\ndecoded first %+v", o, plain)
			}
		})
	}
	for _, body := range [][]byte{
		[]byte(`{"oslo.version": "2.0", "oslo.message": "{\"method\": \"m\"}`), // the string does not end
		[]byte(`{"oslo.message": "{\"method\": \"a\"}", "oslo.message": "{\"method\": \"b\"}"}`),
		[]byte(`{"oslo.message": "\q", "oslo.message": "{\"method\": \"b\"}"}`),
		[]byte(`{"oslo.message": {"method": "m"}}`),
	} {
		if o, plain := parseOslo(body), parseEnvelope(body, false); !reflect.DeepEqual(o, plain) {
			t.Errorf("%s: in place %+v, decoded first %+v", body, o, plain)
		}
	}
	// a backslash outside strings in the (plain) envelope is no escape
	if o := parseOslo([]byte(`{"a": [\"x"], "oslo.message": "{\"method\": \"m\"}"}`)); o == nil || o.Error != "" || o.Method != "m" {
		t.Errorf("backslash before a string in the envelope: %+v", o)
	}
	for _, body := range osloBodies(t) {
		o, plain := parseOslo(body), parseEnvelope(body, false)
		if o.Error != "" || !reflect.DeepEqual(o, plain) {
			t.Fatalf("%.200s…: in place %+v, decoded first %+v", body, o, plain)
		}
	}
}

// FuzzOslo: any body gives an envelope, nil or an error, never a panic,
// and the same one read in place or from a decoded copy of the inner
// message; a body encoding/json reads as an envelope is read with the
// same method, _msg_id and request id.
func FuzzOslo(f *testing.F) {
	f.Add([]byte(`{"oslo.version": "2.0", "oslo.message": "{\"method\": \"m\", \"_msg_id\": \"x\", \"args\": {\"a\": [1, {\"nova_object.name\": \"I\"}], \"b\": {}}, \"_context_request_id\": \"req-\\u00e9\"}"}`))
	f.Add([]byte(`{"oslo.version": "2.0", "oslo.message": "{\"_msg_id\": \"x\", \"failure\": \"{\\\"class\\\": \\\"E\\\"}\", \"ending\": true}"}`))
	f.Add([]byte(`{"oslo.message": "\ud83d\ude00"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		o := parseOslo(body)
		if plain := parseEnvelope(body, false); !reflect.DeepEqual(o, plain) {
			t.Fatalf("in place %+v, decoded first %+v", o, plain)
		}
		// parseOslo looks for the envelope's keys near the start, exactly
		// as named (encoding/json also matches them in any case)
		if !bytes.Contains(body[:min(len(body), 64)], []byte(`"oslo.`)) {
			return
		}
		var env map[string]json.RawMessage
		if json.Unmarshal(body, &env) != nil || env["oslo.message"] == nil {
			return
		}
		var msg string
		if json.Unmarshal(env["oslo.message"], &msg) != nil || !utf8.ValidString(msg) {
			return
		}
		var in map[string]json.RawMessage
		if json.Unmarshal([]byte(msg), &in) != nil {
			return
		}
		str := func(k string) string {
			var s string
			json.Unmarshal(in[k], &s)
			return s
		}
		if o == nil || o.Error != "" {
			t.Fatalf("encoding/json reads it, parseOslo does not: %+v", o)
		}
		// (a key given twice: encoding/json keeps the last, so do we)
		if o.Method != str("method") || o.MsgID != str("_msg_id") || o.RequestID != str("_context_request_id") {
			t.Fatalf("got %q %q %q, encoding/json %q %q %q", o.Method, o.MsgID, o.RequestID, str("method"), str("_msg_id"), str("_context_request_id"))
		}
	})
}

// TestSurrogatePairs: an escaped UTF-16 surrogate pair is one character
// (a user or project name with an emoji), a lone half U+FFFD, as
// encoding/json reads them, at both levels of the envelope.
func TestSurrogatePairs(t *testing.T) {
	for lit, want := range map[string]string{`"\ud83d\ude00"`: "\U0001F600", `"a\ud83dz"`: "a\ufffdz", `"\ude00\ud83d"`: "\ufffd\ufffd", `"\ud83d\u0041"`: "\ufffdA"} {
		var std string
		if err := json.Unmarshal([]byte(lit), &std); err != nil || std != want {
			t.Fatalf("encoding/json reads %s as %q (%v), the test wants %q", lit, std, err, want)
		}
		if got := jsonString([]byte(lit)); got != want {
			t.Errorf("jsonString(%s) = %q, want %q", lit, got, want)
		}
	}
	// escaped in the inner message (\\u in the envelope) and in the outer
	for _, name := range []string{`d\\ud83d\\ude00n`, `d\ud83d\ude00n`} {
		body := `{"oslo.version": "2.0", "oslo.message": "{\"method\": \"m\", \"_context_user_name\": \"` + name + `\"}"}`
		if o := parseOslo([]byte(body)); o == nil || o.UserName != "d\U0001F600n" {
			t.Errorf("%s: user name %+v", body, o)
		}
	}
}

// TestArgKindOrder: arguments are ordered as their "key=kind" strings
// sort, keys that are prefixes of others included ("a" and "a0": '=' sorts
// after '0'), as the joined strings were.
func TestArgKindOrder(t *testing.T) {
	keys := []string{"a", "a0", "a_b", "ab", "b", "", "a=", "aa", "a.", "instance", "instance_uuid", "instances"}
	kinds := []string{"str", "None", "dict", "list[2]", "Instance"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var parts []argKind
		var want []string
		for range 1 + rng.IntN(6) {
			k, kd := keys[rng.IntN(len(keys))], kinds[rng.IntN(len(kinds))]
			parts = append(parts, argKind{[]byte(k), kd})
			want = append(want, k+"="+kd)
		}
		slices.SortFunc(parts, cmpArgKind)
		sort.Strings(want)
		for i, p := range parts {
			if got := string(p.key) + "=" + p.kind; got != want[i] {
				t.Fatalf("order %d: %q, want %q (all %q)", i, got, want[i], want)
			}
		}
	}
}
