package memcache

import (
	"encoding/binary"
	"strconv"

	"github.com/flowmap/flowmap/decoder"
)

// Binary protocol framing: every packet starts with a 24-byte header
//
//	0 magic (0x80 request, 0x81 response)  1 opcode  2-3 key length
//	4 extras length  5 data type  6-7 vbucket (request) / status (response)
//	8-11 total body length  12-15 opaque  16-23 cas
//
// followed by extras, key and value (total body = extras + key + value).
const (
	binHeaderLen  = 24
	magicRequest  = 0x80
	magicResponse = 0x81
	// maxBinBody caps a declared body length: memcached's largest item is
	// 1 GiB (-I 1024m). A header declaring more is not believed.
	maxBinBody = 1<<30 + 1<<16
)

// binHeader is a decoded binary packet header.
type binHeader struct {
	magic   byte
	opcode  byte
	keyLen  int
	extLen  int
	dtype   byte
	status  uint16 // vbucket in requests
	bodyLen int64
	opaque  uint32
	cas     uint64
}

func parseBinHeader(h []byte) (binHeader, bool) {
	if len(h) < binHeaderLen {
		return binHeader{}, false
	}
	return binHeader{
		magic:   h[0],
		opcode:  h[1],
		keyLen:  int(binary.BigEndian.Uint16(h[2:4])),
		extLen:  int(h[4]),
		dtype:   h[5],
		status:  binary.BigEndian.Uint16(h[6:8]),
		bodyLen: int64(binary.BigEndian.Uint32(h[8:12])),
		opaque:  binary.BigEndian.Uint32(h[12:16]),
		cas:     binary.BigEndian.Uint64(h[16:24]),
	}, true
}

// valueLen is the length of the value part of the body (may be negative
// for an inconsistent header; check consistent first).
func (h *binHeader) valueLen() int64 { return h.bodyLen - int64(h.extLen) - int64(h.keyLen) }

// consistent reports whether the header's lengths add up and are within
// the caps; a header that is not is never followed.
func (h *binHeader) consistent() bool {
	return h.valueLen() >= 0 && h.bodyLen <= maxBinBody
}

// plausible is the stricter test used when looking for a packet start in
// bytes of unknown alignment (sniffing, resync): known opcode, raw data
// type, a known status in responses, sane key and extras sizes.
func (h *binHeader) plausible(dir decoder.Dir) bool {
	if !h.consistent() || h.dtype != 0 || h.keyLen > 250 {
		return false
	}
	op, ok := binOpcodes[h.opcode]
	if !ok {
		return false
	}
	if dir == decoder.ClientToServer {
		if h.magic != magicRequest {
			return false
		}
		return op.reqExtras < 0 || h.extLen == op.reqExtras || (op.reqExtras == 4 && h.extLen == 0 && op.name == "flush")
	}
	if h.magic != magicResponse {
		return false
	}
	_, known := binStatus[h.status]
	return known && h.extLen <= 20
}

// binOp describes one opcode.
type binOp struct {
	name      string
	quiet     bool // no reply on success (getq: no reply on miss)
	retrieval bool // replies carry flags (extras) and a value
	reqExtras int  // extras length of a request, -1: any
}

// binOpcodes is read-only after package initialisation.
var binOpcodes = map[byte]binOp{
	0x00: {name: "get", retrieval: true},
	0x01: {name: "set", reqExtras: 8},
	0x02: {name: "add", reqExtras: 8},
	0x03: {name: "replace", reqExtras: 8},
	0x04: {name: "delete"},
	0x05: {name: "increment", reqExtras: 20},
	0x06: {name: "decrement", reqExtras: 20},
	0x07: {name: "quit"},
	0x08: {name: "flush", reqExtras: 4},
	0x09: {name: "getq", quiet: true, retrieval: true},
	0x0a: {name: "noop"},
	0x0b: {name: "version"},
	0x0c: {name: "getk", retrieval: true},
	0x0d: {name: "getkq", quiet: true, retrieval: true},
	0x0e: {name: "append"},
	0x0f: {name: "prepend"},
	0x10: {name: "stat"},
	0x11: {name: "setq", quiet: true, reqExtras: 8},
	0x12: {name: "addq", quiet: true, reqExtras: 8},
	0x13: {name: "replaceq", quiet: true, reqExtras: 8},
	0x14: {name: "deleteq", quiet: true},
	0x15: {name: "incrementq", quiet: true, reqExtras: 20},
	0x16: {name: "decrementq", quiet: true, reqExtras: 20},
	0x17: {name: "quitq", quiet: true},
	0x18: {name: "flushq", quiet: true, reqExtras: 4},
	0x19: {name: "appendq", quiet: true},
	0x1a: {name: "prependq", quiet: true},
	0x1b: {name: "verbosity", reqExtras: 4},
	0x1c: {name: "touch", reqExtras: 4},
	0x1d: {name: "gat", retrieval: true, reqExtras: 4},
	0x1e: {name: "gatq", quiet: true, retrieval: true, reqExtras: 4},
	0x20: {name: "sasl_list_mechs"},
	0x21: {name: "sasl_auth", reqExtras: -1},
	0x22: {name: "sasl_step", reqExtras: -1},
	0x23: {name: "gatk", retrieval: true, reqExtras: 4},
	0x24: {name: "gatkq", quiet: true, retrieval: true, reqExtras: 4},
}

func opName(op byte) string {
	if o, ok := binOpcodes[op]; ok {
		return o.name
	}
	return "op_0x" + strconv.FormatUint(uint64(op)|0x100, 16)[1:]
}

// binStatus maps response status codes to names and results; read-only.
var binStatus = map[uint16]struct{ name, result string }{
	0x00: {"NO_ERROR", ""},
	0x01: {"KEY_ENOENT", "not_found"},
	0x02: {"KEY_EEXISTS", "exists"},
	0x03: {"E2BIG", "server_error"},
	0x04: {"EINVAL", "client_error"},
	0x05: {"NOT_STORED", "not_stored"},
	0x06: {"DELTA_BADVAL", "client_error"},
	0x07: {"NOT_MY_VBUCKET", "server_error"},
	0x08: {"NO_BUCKET", "server_error"},
	0x1f: {"AUTH_STALE", "error"},
	0x20: {"AUTH_ERROR", "error"},
	0x21: {"AUTH_CONTINUE", "ok"},
	0x22: {"ERANGE", "client_error"},
	0x81: {"UNKNOWN_COMMAND", "error"},
	0x82: {"ENOMEM", "server_error"},
	0x83: {"NOT_SUPPORTED", "error"},
	0x84: {"EINTERNAL", "server_error"},
	0x85: {"EBUSY", "server_error"},
	0x86: {"ETMPFAIL", "server_error"},
}

// binRequest builds the Request of a binary request packet from its
// header, extras and key.
func binRequest(h *binHeader, extras, key []byte) *Request {
	op := binOpcodes[h.opcode]
	r := &Request{Command: opName(h.opcode), Binary: true, Noreply: op.quiet, Keys: []string{}}
	if len(key) > 0 {
		r.Keys = []string{string(key)}
	}
	if h.cas != 0 {
		c := h.cas
		r.Cas = &c
	}
	switch base := op.name; {
	case len(extras) == 8 && (base == "set" || base == "add" || base == "replace" ||
		base == "setq" || base == "addq" || base == "replaceq"):
		f := binary.BigEndian.Uint32(extras[0:4])
		e := int64(binary.BigEndian.Uint32(extras[4:8]))
		r.Flags, r.Exptime = &f, &e
	case len(extras) == 20: // increment/decrement: delta, initial, exptime
		r.Value = strconv.FormatUint(binary.BigEndian.Uint64(extras[0:8]), 10)
		e := int64(binary.BigEndian.Uint32(extras[16:20]))
		r.Exptime = &e
	case len(extras) == 4 && op.name == "verbosity":
		r.Value = strconv.FormatUint(uint64(binary.BigEndian.Uint32(extras)), 10)
	case len(extras) == 4: // touch, gat*, flush: expiration
		e := int64(binary.BigEndian.Uint32(extras))
		r.Exptime = &e
	}
	if v := h.valueLen(); v > 0 || op.reqExtras == 8 {
		r.Bytes = &v
	}
	return r
}

// binResponse builds the Response of a binary response packet (the value
// is filled in as it is read).
func binResponse(h *binHeader, extras, key []byte) *Response {
	st, ok := binStatus[h.status]
	if !ok {
		st.name = "0x" + strconv.FormatUint(uint64(h.status), 16)
		st.result = "error"
	}
	r := &Response{Status: st.name, Result: st.result}
	op := binOpcodes[h.opcode]
	if h.status == 0 {
		switch {
		case op.retrieval:
			r.Result = "hit"
			v := Value{Key: string(key), Bytes: h.valueLen()}
			if len(extras) >= 4 {
				v.Flags = binary.BigEndian.Uint32(extras[:4])
			}
			if h.cas != 0 {
				c := h.cas
				v.Cas = &c
			}
			r.Values = []Value{v}
			if len(key) > 0 {
				r.Hits = []string{string(key)}
			}
		case op.name == "set" || op.name == "add" || op.name == "replace" || op.name == "append" ||
			op.name == "prepend" || op.name == "setq" || op.name == "addq" || op.name == "replaceq" ||
			op.name == "appendq" || op.name == "prependq":
			r.Result = "stored"
		case op.name == "delete" || op.name == "deleteq":
			r.Result = "deleted"
		case op.name == "increment" || op.name == "decrement" || op.name == "incrementq" || op.name == "decrementq":
			r.Result = "value"
		case op.name == "touch":
			r.Result = "touched"
		case op.name == "version":
			r.Result = "version"
		case op.name == "stat":
			r.Result = "stats"
		default:
			r.Result = "ok"
		}
	} else if h.status == 0x01 && op.retrieval {
		r.Result = "miss"
	}
	return r
}
