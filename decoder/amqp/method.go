package amqp

import (
	"bytes"
	"strconv"

	"github.com/flowmap/flowmap/decoder/redact"
)

// Class ids of AMQP 0-9-1 (and RabbitMQ's Confirm).
const (
	classConnection = 10
	classChannel    = 20
	classExchange   = 40
	classQueue      = 50
	classBasic      = 60
	classConfirm    = 85
	classTx         = 90
)

type methodID struct{ class, id uint16 }

var classNames = map[uint16]string{
	classConnection: "connection", classChannel: "channel", classExchange: "exchange",
	classQueue: "queue", classBasic: "basic", classConfirm: "confirm", classTx: "tx",
}

// methodNames are tshark's names ("basic.publish", "queue.declare-ok").
var methodNames = map[methodID]string{
	{10, 10}: "start", {10, 11}: "start-ok", {10, 20}: "secure", {10, 21}: "secure-ok",
	{10, 30}: "tune", {10, 31}: "tune-ok", {10, 40}: "open", {10, 41}: "open-ok",
	{10, 50}: "close", {10, 51}: "close-ok", {10, 60}: "blocked", {10, 61}: "unblocked",
	{10, 70}: "update-secret", {10, 71}: "update-secret-ok",
	{20, 10}: "open", {20, 11}: "open-ok", {20, 20}: "flow", {20, 21}: "flow-ok",
	{20, 40}: "close", {20, 41}: "close-ok",
	{40, 10}: "declare", {40, 11}: "declare-ok", {40, 20}: "delete", {40, 21}: "delete-ok",
	{40, 30}: "bind", {40, 31}: "bind-ok", {40, 40}: "unbind", {40, 51}: "unbind-ok",
	{50, 10}: "declare", {50, 11}: "declare-ok", {50, 20}: "bind", {50, 21}: "bind-ok",
	{50, 30}: "purge", {50, 31}: "purge-ok", {50, 40}: "delete", {50, 41}: "delete-ok",
	{50, 50}: "unbind", {50, 51}: "unbind-ok",
	{60, 10}: "qos", {60, 11}: "qos-ok", {60, 20}: "consume", {60, 21}: "consume-ok",
	{60, 30}: "cancel", {60, 31}: "cancel-ok", {60, 40}: "publish", {60, 50}: "return",
	{60, 60}: "deliver", {60, 70}: "get", {60, 71}: "get-ok", {60, 72}: "get-empty",
	{60, 80}: "ack", {60, 90}: "reject", {60, 100}: "recover-async", {60, 110}: "recover",
	{60, 111}: "recover-ok", {60, 120}: "nack",
	{85, 10}: "select", {85, 11}: "select-ok",
	{90, 10}: "select", {90, 11}: "select-ok", {90, 20}: "commit", {90, 21}: "commit-ok",
	{90, 30}: "rollback", {90, 31}: "rollback-ok",
}

// fullNames are methodNames with their class ("basic.publish"), made
// once: every frame is named.
var fullNames = func() map[methodID]string {
	m := make(map[methodID]string, len(methodNames))
	for id, n := range methodNames {
		m[id] = classNames[id.class] + "." + n
	}
	return m
}()

// methodName names a method; one AMQP does not define is named by its ids.
func methodName(class, id uint16) string {
	if n, ok := fullNames[methodID{class, id}]; ok {
		return n
	}
	return "class " + strconv.Itoa(int(class)) + " method " + strconv.Itoa(int(id))
}

// responses maps each synchronous request to the methods that answer it.
var responses = map[methodID][]uint16{
	{10, 10}: {11}, {10, 20}: {21}, {10, 30}: {31}, {10, 40}: {41}, {10, 50}: {51}, {10, 70}: {71},
	{20, 10}: {11}, {20, 20}: {21}, {20, 40}: {41},
	{40, 10}: {11}, {40, 20}: {21}, {40, 30}: {31}, {40, 40}: {51},
	{50, 10}: {11}, {50, 20}: {21}, {50, 30}: {31}, {50, 40}: {41}, {50, 50}: {51},
	{60, 10}: {11}, {60, 20}: {21}, {60, 30}: {31}, {60, 70}: {71, 72}, {60, 110}: {111},
	{85, 10}: {11},
	{90, 10}: {11}, {90, 20}: {21}, {90, 30}: {31},
}

// isContent reports whether method carries a content header and body.
func isContent(class, id uint16) bool {
	return class == classBasic && (id == 40 || id == 50 || id == 60 || id == 71)
}

// Method is one AMQP method frame with the arguments flowmap reads. Only
// the fields of its method are set.
type Method struct {
	Channel uint16 `json:"channel"`
	Class   uint16 `json:"class"`
	ID      uint16 `json:"method"`
	Name    string `json:"name"`           // "queue.declare"
	From    string `json:"from,omitempty"` // "client" or "broker"

	Exchange    string `json:"exchange,omitempty"`
	Type        string `json:"type,omitempty"` // exchange type
	Queue       string `json:"queue,omitempty"`
	RoutingKey  string `json:"routing_key,omitempty"`
	ConsumerTag string `json:"consumer_tag,omitempty"`
	DeliveryTag uint64 `json:"delivery_tag,omitempty"`
	Multiple    bool   `json:"multiple,omitempty"`
	Requeue     bool   `json:"requeue,omitempty"`
	NoWait      bool   `json:"no_wait,omitempty"`
	Passive     bool   `json:"passive,omitempty"`
	Durable     bool   `json:"durable,omitempty"`
	Exclusive   bool   `json:"exclusive,omitempty"`
	AutoDelete  bool   `json:"auto_delete,omitempty"`
	NoAck       bool   `json:"no_ack,omitempty"`
	Arguments   Table  `json:"arguments,omitempty"`

	MessageCount  uint32 `json:"message_count,omitempty"`
	ConsumerCount uint32 `json:"consumer_count,omitempty"`
	PrefetchSize  uint32 `json:"prefetch_size,omitempty"`
	PrefetchCount uint16 `json:"prefetch_count,omitempty"`
	Global        bool   `json:"global,omitempty"`
	ReplyCode     uint16 `json:"reply_code,omitempty"`
	ReplyText     string `json:"reply_text,omitempty"`

	// Connection negotiation.
	Version     string `json:"version,omitempty"` // "0-9" from Connection.Start
	Properties  Table  `json:"properties,omitempty"`
	Mechanisms  string `json:"mechanisms,omitempty"`
	Mechanism   string `json:"mechanism,omitempty"`
	Login       string `json:"login,omitempty"`    // user of a PLAIN or AMQPLAIN response
	Response    string `json:"response,omitempty"` // the SASL response: a credential
	Locale      string `json:"locale,omitempty"`
	ChannelMax  uint16 `json:"channel_max,omitempty"`
	FrameMax    uint32 `json:"frame_max,omitempty"`
	Heartbeat   uint16 `json:"heartbeat,omitempty"`
	VirtualHost string `json:"virtual_host,omitempty"`

	// Error says why the arguments could not all be read.
	Error string `json:"error,omitempty"`

	policy *redact.Policy
}

// parseMethod reads a method frame payload (class, method, arguments).
// It returns what it read together with the error that stopped it.
func parseMethod(ch uint16, p []byte) (*Method, error) {
	r := reader{b: p}
	m := &Method{Channel: ch, Class: r.u16(), ID: r.u16()}
	if r.err != nil {
		m.Name = "method (cut)"
		return m, r.err
	}
	m.Name = methodName(m.Class, m.ID)
	bits := func() uint8 { return r.u8() }
	switch (methodID{m.Class, m.ID}) {
	case methodID{10, 10}: // start
		m.Version = strconv.Itoa(int(r.u8())) + "-" + strconv.Itoa(int(r.u8()))
		m.Properties = r.table(0)
		m.Mechanisms = r.longstr()
		m.Locale = r.longstr()
	case methodID{10, 11}: // start-ok
		m.Properties = r.table(0)
		m.Mechanism = r.shortstr()
		m.Response = r.longstr()
		m.Locale = r.shortstr()
		m.Login = login(m.Mechanism, m.Response)
	case methodID{10, 20}, methodID{10, 21}:
		m.Response = r.longstr()
	case methodID{10, 30}, methodID{10, 31}: // tune, tune-ok
		m.ChannelMax, m.FrameMax, m.Heartbeat = r.u16(), r.u32(), r.u16()
	case methodID{10, 40}: // open
		m.VirtualHost = r.shortstr()
	case methodID{10, 50}, methodID{20, 40}: // close
		m.ReplyCode, m.ReplyText = r.u16(), r.shortstr()
	case methodID{10, 60}:
		m.ReplyText = r.shortstr()
	case methodID{40, 10}: // exchange.declare
		r.u16()
		m.Exchange, m.Type = r.shortstr(), r.shortstr()
		b := bits()
		m.Passive, m.Durable, m.AutoDelete, m.NoWait = b&1 != 0, b&2 != 0, b&4 != 0, b&16 != 0
		m.Arguments = r.table(0)
	case methodID{40, 20}: // exchange.delete
		r.u16()
		m.Exchange = r.shortstr()
		m.NoWait = bits()&2 != 0
	case methodID{40, 30}, methodID{40, 40}: // exchange.bind/unbind
		r.u16()
		m.Exchange = r.shortstr() // destination
		m.Queue = r.shortstr()    // source exchange, kept beside it
		m.RoutingKey = r.shortstr()
		m.NoWait = bits()&1 != 0
		m.Arguments = r.table(0)
	case methodID{50, 10}: // queue.declare
		r.u16()
		m.Queue = r.shortstr()
		b := bits()
		m.Passive, m.Durable, m.Exclusive, m.AutoDelete, m.NoWait = b&1 != 0, b&2 != 0, b&4 != 0, b&8 != 0, b&16 != 0
		m.Arguments = r.table(0)
	case methodID{50, 11}: // declare-ok
		m.Queue, m.MessageCount, m.ConsumerCount = r.shortstr(), r.u32(), r.u32()
	case methodID{50, 20}: // queue.bind
		r.u16()
		m.Queue, m.Exchange, m.RoutingKey = r.shortstr(), r.shortstr(), r.shortstr()
		m.NoWait = bits()&1 != 0
		m.Arguments = r.table(0)
	case methodID{50, 50}: // queue.unbind
		r.u16()
		m.Queue, m.Exchange, m.RoutingKey = r.shortstr(), r.shortstr(), r.shortstr()
		m.Arguments = r.table(0)
	case methodID{50, 30}, methodID{50, 40}: // purge, delete
		r.u16()
		m.Queue = r.shortstr()
		b := bits()
		m.NoWait = m.ID == 30 && b&1 != 0 || m.ID == 40 && b&4 != 0
	case methodID{50, 31}, methodID{50, 41}:
		m.MessageCount = r.u32()
	case methodID{60, 10}: // qos
		m.PrefetchSize, m.PrefetchCount, m.Global = r.u32(), r.u16(), bits()&1 != 0
	case methodID{60, 20}: // consume
		r.u16()
		m.Queue, m.ConsumerTag = r.shortstr(), r.shortstr()
		b := bits()
		m.NoAck, m.Exclusive, m.NoWait = b&2 != 0, b&4 != 0, b&8 != 0
		m.Arguments = r.table(0)
	case methodID{60, 21}, methodID{60, 31}:
		m.ConsumerTag = r.shortstr()
	case methodID{60, 30}: // cancel
		m.ConsumerTag, m.NoWait = r.shortstr(), bits()&1 != 0
	case methodID{60, 70}: // get
		r.u16()
		m.Queue, m.NoAck = r.shortstr(), bits()&1 != 0
	case methodID{60, 80}: // ack
		m.DeliveryTag, m.Multiple = r.u64(), bits()&1 != 0
	case methodID{60, 90}: // reject
		m.DeliveryTag, m.Requeue = r.u64(), bits()&1 != 0
	case methodID{60, 120}: // nack
		m.DeliveryTag = r.u64()
		b := bits()
		m.Multiple, m.Requeue = b&1 != 0, b&2 != 0
	case methodID{60, 100}, methodID{60, 110}:
		m.Requeue = bits()&1 != 0
	case methodID{85, 10}:
		m.NoWait = bits()&1 != 0
	}
	if r.err != nil {
		m.Error = r.err.Error()
	}
	return m, r.err
}

// login finds the user name in a SASL response: PLAIN is
// "\x00user\x00password", AMQPLAIN a field table without its length.
func login(mech, resp string) string {
	switch mech {
	case "PLAIN":
		if f := bytes.Split([]byte(resp), []byte{0}); len(f) == 3 {
			return string(f[1])
		}
	case "AMQPLAIN":
		b := make([]byte, 4, 4+len(resp))
		b[0], b[1], b[2], b[3] = byte(len(resp)>>24), byte(len(resp)>>16), byte(len(resp)>>8), byte(len(resp))
		r := reader{b: append(b, resp...)}
		return r.table(0).String("LOGIN")
	}
	return ""
}

// Summary: the method and its main arguments ("queue.declare reply_ab12").
func (m *Method) Summary() string {
	s := m.Name
	for _, a := range []string{m.Exchange, m.Queue, m.RoutingKey, m.ConsumerTag} {
		if a != "" {
			s += " " + a
		}
	}
	if m.ReplyCode != 0 {
		s += " " + strconv.Itoa(int(m.ReplyCode)) + " " + m.ReplyText
	}
	return s
}
