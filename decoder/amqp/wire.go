package amqp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/flowmap/flowmap/internal/memo"
)

// Sentinel errors of the wire layer; argument errors wrap them with where.
var (
	ErrShort      = errors.New("amqp: argument runs past the end of the frame")
	ErrTableLen   = errors.New("amqp: field table length overflows the frame")
	ErrFieldType  = errors.New("amqp: unknown field value type")
	ErrTableDepth = errors.New("amqp: field tables nested too deep")
)

// maxTableDepth bounds nested tables and arrays (hostile input recursion).
const maxTableDepth = 16

// Field is one entry of an AMQP field table, in wire order.
type Field struct {
	Name  string `json:"name"`
	Value any    `json:"value"` // string, int64, uint64, float64, bool, Table, []any, nil
}

// Table is an AMQP field table; wire order is kept so output is
// deterministic.
type Table []Field

// Get returns the value of name.
func (t Table) Get(name string) (any, bool) {
	for _, f := range t {
		if f.Name == name {
			return f.Value, true
		}
	}
	return nil, false
}

// String returns the string value of name, "" when absent or not a string.
func (t Table) String(name string) string {
	v, _ := t.Get(name)
	s, _ := v.(string)
	return s
}

// reader is a cursor over one frame payload. Every read checks the length
// first; the first error sticks and later reads return zero values.
type reader struct {
	b   []byte
	off int
	err error
	// names, when set, keeps one copy of each short string read
	// (exchanges, routing keys, content types repeat)
	names *memo.Interner
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.err = fmt.Errorf("%w (need %d at offset %d of %d)", ErrShort, n, r.off, len(r.b))
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *reader) u8() uint8 {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if p := r.take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if p := r.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (r *reader) shortstr() string {
	b := r.take(int(r.u8()))
	if r.names != nil && len(b) > 0 {
		return r.names.Bytes(b)
	}
	return string(b)
}

// longstr reads a 32-bit length and that many bytes; a length past the
// frame fails before anything is allocated.
func (r *reader) longstr() string {
	n := r.u32()
	if r.err == nil && uint64(n) > uint64(len(r.b)-r.off) {
		r.err = fmt.Errorf("%w (long string of %d at offset %d of %d)", ErrShort, n, r.off, len(r.b))
		return ""
	}
	return string(r.take(int(n)))
}

// table reads a field table: a 32-bit byte length, then name/value pairs.
func (r *reader) table(depth int) Table {
	n := r.u32()
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		r.err = fmt.Errorf("%w (table of %d at offset %d of %d)", ErrTableLen, n, r.off, len(r.b))
		return nil
	}
	if depth > maxTableDepth {
		r.err = ErrTableDepth
		return nil
	}
	sub := reader{b: r.take(int(n))}
	var t Table
	for sub.err == nil && sub.off < len(sub.b) {
		name := sub.shortstr()
		v := sub.value(depth)
		if sub.err == nil {
			t = append(t, Field{Name: name, Value: v})
		}
	}
	if sub.err != nil {
		r.err = sub.err
	}
	return t
}

// value reads one typed field value (RabbitMQ's 0-9-1 type letters).
func (r *reader) value(depth int) any {
	switch k := r.u8(); k {
	case 't':
		return r.u8() != 0
	case 'b':
		return int64(int8(r.u8()))
	case 'B':
		return uint64(r.u8())
	case 's':
		return int64(int16(r.u16()))
	case 'u':
		return uint64(r.u16())
	case 'I':
		return int64(int32(r.u32()))
	case 'i':
		return uint64(r.u32())
	case 'l':
		return int64(r.u64())
	case 'L':
		return r.u64()
	case 'f':
		return float64(math.Float32frombits(r.u32()))
	case 'd':
		return math.Float64frombits(r.u64())
	case 'D':
		scale := r.u8()
		v := int64(int32(r.u32()))
		return float64(v) / math.Pow10(int(scale))
	case 'S', 'x':
		return r.longstr()
	case 'T':
		return r.u64()
	case 'F':
		return r.table(depth + 1)
	case 'A':
		n := r.u32()
		if r.err != nil {
			return nil
		}
		if uint64(n) > uint64(len(r.b)-r.off) {
			r.err = fmt.Errorf("%w (array of %d at offset %d of %d)", ErrTableLen, n, r.off, len(r.b))
			return nil
		}
		if depth > maxTableDepth {
			r.err = ErrTableDepth
			return nil
		}
		sub := reader{b: r.take(int(n))}
		var a []any
		for sub.err == nil && sub.off < len(sub.b) {
			v := sub.value(depth + 1)
			if sub.err == nil {
				a = append(a, v)
			}
		}
		if sub.err != nil {
			r.err = sub.err
		}
		return a
	case 'V':
		return nil
	default:
		if r.err == nil {
			r.err = fmt.Errorf("%w %q at offset %d", ErrFieldType, k, r.off-1)
		}
		return nil
	}
}
