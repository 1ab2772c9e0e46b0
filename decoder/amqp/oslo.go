package amqp

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// Oslo is the envelope of an oslo.messaging message (protocol version
// 2.0): a JSON body {"oslo.version": "2.0", "oslo.message": "<JSON
// string>"} whose inner message is an RPC call or cast (method, args,
// _msg_id and _reply_q for a call, _context_* of the caller) or the reply
// to a call (_msg_id, result or failure, ending). These are facts of the
// oslo.messaging wire format, not of any one service.
//
// Args are summarised (their names and kinds), never kept: they hold whole
// objects and may hold passwords. AuthToken is the caller's keystone token
// ("_context_auth_token"); Redacted replaces it with its fingerprint.
type Oslo struct {
	Version   string `json:"oslo_version"`
	Method    string `json:"method,omitempty"`
	APIVer    string `json:"version,omitempty"` // the RPC API version ("1.17")
	Namespace string `json:"namespace,omitempty"`
	// Args names each argument and its kind: "instance=Instance,
	// host_list=list[1], filter_properties=dict".
	Args     string `json:"args,omitempty"`
	MsgID    string `json:"msg_id,omitempty"`
	ReplyQ   string `json:"reply_q,omitempty"`
	UniqueID string `json:"unique_id,omitempty"`
	Timeout  string `json:"timeout,omitempty"`

	RequestID       string `json:"request_id,omitempty"`
	GlobalRequestID string `json:"global_request_id,omitempty"`
	UserID          string `json:"user_id,omitempty"`
	ProjectID       string `json:"project_id,omitempty"`
	UserName        string `json:"user_name,omitempty"`
	ProjectName     string `json:"project_name,omitempty"`
	AuthToken       string `json:"auth_token,omitempty"`

	// A reply: Result is the kind of the result ("None", "list[2]",
	// "Instance"); a failure is its exception's class and message.
	Reply          bool   `json:"reply,omitempty"`
	Result         string `json:"result,omitempty"`
	FailureClass   string `json:"failure_class,omitempty"`
	FailureModule  string `json:"failure_module,omitempty"`
	FailureMessage string `json:"failure_message,omitempty"`
	Ending         bool   `json:"ending,omitempty"`

	// Error says why the inner message could not be read.
	Error string `json:"error,omitempty"`
}

// Kind is "call" (expects a reply), "cast" (does not), or "reply".
func (o *Oslo) Kind() string {
	switch {
	case o.Reply:
		return "reply"
	case o.MsgID != "":
		return "call"
	}
	return "cast"
}

// maxOsloFailure caps the failure message kept.
const maxOsloFailure = 300

// parseOslo reads the oslo.messaging envelope of a JSON body, or returns
// nil when body is not one. A body cut by MaxBody gives an envelope with
// Error set.
func parseOslo(body []byte) *Oslo {
	if !bytes.Contains(body[:min(len(body), 64)], []byte(`"oslo.`)) {
		return nil
	}
	var env struct {
		Version string  `json:"oslo.version"`
		Message *string `json:"oslo.message"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Message == nil {
		if env.Message == nil && err == nil {
			return nil
		}
		return &Oslo{Error: "oslo.messaging envelope unreadable (body cut?)"}
	}
	o := &Oslo{Version: env.Version}
	var in map[string]json.RawMessage
	if err := json.Unmarshal([]byte(*env.Message), &in); err != nil {
		o.Error = "oslo.message is not a JSON object"
		return o
	}
	str := func(k string) string {
		var s string
		if v, ok := in[k]; ok && json.Unmarshal(v, &s) == nil {
			return s
		}
		return ""
	}
	o.Method, o.APIVer, o.Namespace = str("method"), str("version"), str("namespace")
	o.MsgID, o.ReplyQ, o.UniqueID = str("_msg_id"), str("_reply_q"), str("_unique_id")
	if v, ok := in["_timeout"]; ok && string(v) != "null" {
		o.Timeout = string(v)
	}
	o.RequestID, o.GlobalRequestID = str("_context_request_id"), str("_context_global_request_id")
	o.UserID, o.ProjectID = firstNonEmpty(str("_context_user_id"), str("_context_user")), firstNonEmpty(str("_context_project_id"), str("_context_tenant"))
	o.UserName, o.ProjectName = str("_context_user_name"), str("_context_project_name")
	o.AuthToken = str("_context_auth_token")
	if a, ok := in["args"]; ok {
		o.Args = summariseArgs(a)
	}
	_, hasResult := in["result"]
	_, hasFailure := in["failure"]
	_, hasEnding := in["ending"]
	if o.Method == "" && (hasResult || hasFailure || hasEnding) {
		o.Reply = true
		if v, ok := in["ending"]; ok {
			o.Ending = string(v) == "true"
		}
		if f := in["failure"]; len(f) > 0 && string(f) != "null" {
			o.FailureClass, o.FailureModule, o.FailureMessage = parseFailure(f)
		} else if hasResult {
			o.Result = kindOf(in["result"])
		}
	}
	return o
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// parseFailure reads a serialized exception: a JSON string (or object)
// with class, module and message.
func parseFailure(raw json.RawMessage) (class, module, msg string) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	var f struct {
		Class   string `json:"class"`
		Module  string `json:"module"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &f) != nil {
		return "unreadable failure", "", ""
	}
	m := strings.Join(strings.Fields(f.Message), " ")
	if r := []rune(m); len(r) > maxOsloFailure {
		m = string(r[:maxOsloFailure-1]) + "…"
	}
	return f.Class, f.Module, m
}

// summariseArgs names the arguments and their kinds, sorted by name.
func summariseArgs(raw json.RawMessage) string {
	var args map[string]json.RawMessage
	if json.Unmarshal(raw, &args) != nil {
		return kindOf(raw)
	}
	names := make([]string, 0, len(args))
	for k := range args {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, k := range names {
		parts = append(parts, k+"="+kindOf(args[k]))
	}
	return strings.Join(parts, ", ")
}

// kindOf names a JSON value's kind without its content: "None" (JSON
// null, as Python prints it), "str", "int", "bool", "list[3]", "dict", or
// a versioned object's name ({"<ns>_object.name": "Instance", ...}).
func kindOf(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case 'n':
		return "None"
	case 't', 'f':
		return "bool"
	case '"':
		return "str"
	case '[':
		var l []json.RawMessage
		if json.Unmarshal(raw, &l) != nil {
			return "list"
		}
		return "list[" + strconv.Itoa(len(l)) + "]"
	case '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			return "dict"
		}
		for k, v := range m {
			if strings.HasSuffix(k, "_object.name") {
				var s string
				if json.Unmarshal(v, &s) == nil && s != "" {
					return s
				}
			}
		}
		return "dict"
	}
	return "num"
}
