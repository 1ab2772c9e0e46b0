package amqp

import (
	"strconv"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/redact"
	"github.com/flowmap/flowmap/internal/memo"
)

// Properties are the basic class content properties of a content header.
type Properties struct {
	ContentType     string `json:"content_type,omitempty"`
	ContentEncoding string `json:"content_encoding,omitempty"`
	Headers         Table  `json:"headers,omitempty"`
	DeliveryMode    uint8  `json:"delivery_mode,omitempty"`
	Priority        uint8  `json:"priority,omitempty"`
	CorrelationID   string `json:"correlation_id,omitempty"`
	ReplyTo         string `json:"reply_to,omitempty"`
	Expiration      string `json:"expiration,omitempty"`
	MessageID       string `json:"message_id,omitempty"`
	Timestamp       uint64 `json:"timestamp,omitempty"`
	Type            string `json:"type,omitempty"`
	UserID          string `json:"user_id,omitempty"`
	AppID           string `json:"app_id,omitempty"`
	ClusterID       string `json:"cluster_id,omitempty"`
}

// Message is one content-carrying method with its content header and body
// reassembled: a Basic.Publish (client to broker), Basic.Deliver (broker
// to consumer), Basic.Return or Basic.Get-Ok. It travels one way: its
// Exchange has OneWay set and no Response.
type Message struct {
	Kind        string `json:"kind"` // "publish", "deliver", "return", "get-ok"
	Channel     uint16 `json:"channel"`
	Exchange    string `json:"exchange"`
	RoutingKey  string `json:"routing_key"`
	Mandatory   bool   `json:"mandatory,omitempty"`
	Immediate   bool   `json:"immediate,omitempty"`
	Redelivered bool   `json:"redelivered,omitempty"`
	ConsumerTag string `json:"consumer_tag,omitempty"`
	DeliveryTag uint64 `json:"delivery_tag,omitempty"`
	ReplyCode   uint16 `json:"reply_code,omitempty"`
	ReplyText   string `json:"reply_text,omitempty"`

	Properties
	// BodySize is the size the content header declares; BodyBytes what
	// arrived (less when the message was cut). Body holds the first
	// MaxBody bytes.
	BodySize  uint64 `json:"body_size"`
	BodyBytes uint64 `json:"body_bytes"`
	Body      string `json:"body,omitempty"`
	// Oslo is the oslo.messaging envelope of a JSON body, when it is one.
	// Its Redacted copy drops Body: the envelope summarises it.
	Oslo *Oslo `json:"oslo,omitempty"`

	policy *redact.Policy
}

// parseMessage reads the arguments of a content method.
func parseMessage(ch uint16, p []byte, nm *memo.Interner) (*Message, error) {
	r := reader{b: p, names: nm}
	class, id := r.u16(), r.u16()
	msg := &Message{Channel: ch}
	if n, ok := methodNames[methodID{class, id}]; ok {
		msg.Kind = n
	}
	switch id {
	case 40: // publish
		r.u16()
		msg.Exchange, msg.RoutingKey = r.shortstr(), r.shortstr()
		b := r.u8()
		msg.Mandatory, msg.Immediate = b&1 != 0, b&2 != 0
	case 50: // return
		msg.ReplyCode, msg.ReplyText = r.u16(), r.shortstr()
		msg.Exchange, msg.RoutingKey = r.shortstr(), r.shortstr()
	case 60: // deliver
		msg.ConsumerTag, msg.DeliveryTag = r.shortstr(), r.u64()
		msg.Redelivered = r.u8()&1 != 0
		msg.Exchange, msg.RoutingKey = r.shortstr(), r.shortstr()
	case 71: // get-ok
		msg.DeliveryTag = r.u64()
		msg.Redelivered = r.u8()&1 != 0
		msg.Exchange, msg.RoutingKey = r.shortstr(), r.shortstr()
	}
	return msg, r.err
}

// parseHeader reads a content header payload into msg: body size and the
// properties its flag words announce.
func parseHeader(msg *Message, p []byte, nm *memo.Interner) error {
	r := reader{b: p, names: nm}
	r.u16() // class
	r.u16() // weight
	msg.BodySize = r.u64()
	var flags []uint16
	for f := r.u16(); r.err == nil; f = r.u16() {
		flags = append(flags, f)
		if f&1 == 0 || len(flags) > 4 {
			break
		}
	}
	if len(flags) == 0 {
		return r.err
	}
	f, pr := flags[0], &msg.Properties
	has := func(bit uint) bool { return f&(1<<bit) != 0 }
	if has(15) {
		pr.ContentType = r.shortstr()
	}
	if has(14) {
		pr.ContentEncoding = r.shortstr()
	}
	if has(13) {
		pr.Headers = r.table(0)
	}
	if has(12) {
		pr.DeliveryMode = r.u8()
	}
	if has(11) {
		pr.Priority = r.u8()
	}
	if has(10) {
		pr.CorrelationID = r.shortstr()
	}
	if has(9) {
		pr.ReplyTo = r.shortstr()
	}
	if has(8) {
		pr.Expiration = r.shortstr()
	}
	if has(7) {
		pr.MessageID = r.shortstr()
	}
	if has(6) {
		pr.Timestamp = r.u64()
	}
	if has(5) {
		pr.Type = r.shortstr()
	}
	if has(4) {
		pr.UserID = r.shortstr()
	}
	if has(3) {
		pr.AppID = r.shortstr()
	}
	if has(2) {
		pr.ClusterID = r.shortstr()
	}
	return r.err
}

// Summary: "publish nova/conductor 13781 B", and for oslo.messaging
// "publish nova/conductor cast schedule_and_build_instances 13781 B".
func (m *Message) Summary() string {
	s := m.Kind + " " + m.Exchange + "/" + m.RoutingKey
	if o := m.Oslo; o != nil && o.Error == "" {
		switch s += " " + o.Kind(); {
		case o.Method != "":
			s += " " + o.Method
		case o.FailureClass != "":
			s += " failure " + o.FailureClass
		case o.Result != "":
			s += " " + o.Result
		}
	}
	return s + " " + strconv.FormatUint(m.BodySize, 10) + " B"
}

// Redacted returns a copy whose body went through the redaction policy
// (decoder/redact): oslo.messaging's "_context_auth_token" inside the
// "oslo.message" JSON string becomes its fingerprint, passwords an HMAC.
// String header values are checked by shape.
func (m *Message) Redacted() decoder.Message {
	p := m.policy // (nil: the default policy)
	c := *m
	if m.Oslo != nil && m.Oslo.Error == "" {
		// the envelope tells what the body holds; its args are never shown
		c.Body = ""
		o := *m.Oslo
		if o.AuthToken != "" {
			o.AuthToken = p.Token(o.AuthToken)
		}
		// a failure's message is the exception's text: it may quote a
		// token or a password
		o.FailureMessage = p.Note(o.FailureMessage)
		c.Oslo = &o
	} else {
		c.Body = p.Body(m.Body, m.ContentType)
	}
	if len(m.Headers) > 0 {
		c.Headers = redactTable(p, m.Headers)
	}
	return &c
}

func redactTable(p *redact.Policy, t Table) Table {
	out := make(Table, len(t))
	for i, f := range t {
		switch v := f.Value.(type) {
		case string:
			f.Value = p.Value(v)
		case Table:
			f.Value = redactTable(p, v)
		}
		out[i] = f
	}
	return out
}

// Redacted returns a copy without the SASL response of Connection.Start-Ok
// or Secure-Ok (the broker password, in clear for PLAIN and AMQPLAIN): it
// becomes an HMAC from the policy, which no one can reverse.
func (m *Method) Redacted() decoder.Message {
	if m.Response == "" {
		return m
	}
	p := m.policy // (nil: the default policy)
	c := *m
	c.Response = p.Secret(m.Response)
	return &c
}
