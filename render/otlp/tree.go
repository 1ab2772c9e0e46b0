package otlp

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// object is a JSON object as printed: its members in order of key.
type object []member

type member struct {
	key string
	val any
}

// tree returns message m as the OTLP JSON encoding maps it (protojson's
// mapping with enums as numbers, then the span and link ids in hex), as a
// tree of object, []any, string, json.Number and bool, each object's keys
// sorted. It reads m's fields through protobuf's reflection, as protojson
// does, instead of marshalling m and reading the bytes back: that round
// trip was most of OTLP's CPU. A message holding what this mapping does
// not cover (a floating point number, a map, a well-known type: flowmap's
// spans have none) takes the round trip.
func tree(m proto.Message) (any, error) {
	if o, ok := message(m.ProtoReflect()); ok {
		return o, nil
	}
	return roundTrip(m)
}

// message is r as an object; false if it holds what the mapping does not
// cover.
func message(r protoreflect.Message) (object, bool) {
	d := r.Descriptor()
	if strings.HasPrefix(string(d.FullName()), "google.protobuf.") {
		return nil, false // well-known types have mappings of their own
	}
	ids := d.FullName() == spanType || d.FullName() == linkType
	var o object
	ok := true
	// protojson writes the populated fields only: those Range visits
	r.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		var x any
		switch {
		case fd.IsMap():
			ok = false
		case fd.IsList():
			l := v.List()
			xs := make([]any, l.Len())
			for i := range xs {
				if xs[i], ok = value(fd, l.Get(i), false); !ok {
					break
				}
			}
			x = xs
		default:
			x, ok = value(fd, v, ids && isIDField(fd.JSONName()))
		}
		o = append(o, member{fd.JSONName(), x})
		return ok
	})
	if !ok {
		return nil, false
	}
	sortKeys(o) // (Range's order is the fields')
	return o, true
}

// value is v, of field fd, as protojson writes it: 64-bit integers as
// strings, enums as numbers, bytes in base64 (in hex when hexID).
func value(fd protoreflect.FieldDescriptor, v protoreflect.Value, hexID bool) (any, bool) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return v.Bool(), true
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return json.Number(strconv.FormatInt(v.Int(), 10)), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return json.Number(strconv.FormatUint(v.Uint(), 10)), true
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.FormatInt(v.Int(), 10), true
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.FormatUint(v.Uint(), 10), true
	case protoreflect.EnumKind:
		return json.Number(strconv.FormatInt(int64(v.Enum()), 10)), true
	case protoreflect.StringKind:
		return v.String(), true
	case protoreflect.BytesKind:
		if hexID {
			return hex.EncodeToString(v.Bytes()), true
		}
		return base64.StdEncoding.EncodeToString(v.Bytes()), true
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return message(v.Message())
	}
	return nil, false // floating point: protojson's own formatting
}

const (
	spanType protoreflect.FullName = "opentelemetry.proto.trace.v1.Span"
	linkType protoreflect.FullName = "opentelemetry.proto.trace.v1.Span.Link"
)

// roundTrip is m marshalled by protojson and read back, its span and link
// ids in hex.
func roundTrip(m proto.Message) (any, error) {
	raw, err := protojson.MarshalOptions{UseEnumNumbers: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("otlp: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("otlp: re-reading protojson output: %w", err)
	}
	switch m.ProtoReflect().Descriptor().FullName() {
	case spanType:
		err = hexSpan(v)
	default:
		err = hexIDs(v)
	}
	return objects(v), err
}

// sortKeys puts o's members in order of key.
func sortKeys(o object) {
	slices.SortFunc(o, func(a, b member) int { return strings.Compare(a.key, b.key) })
}

// objects is x with every JSON object made an object, its keys sorted.
func objects(x any) any {
	switch x := x.(type) {
	case map[string]any:
		o := make(object, 0, len(x))
		for k, v := range x {
			o = append(o, member{k, objects(v)})
		}
		sortKeys(o)
		return o
	case []any:
		for i := range x {
			x[i] = objects(x[i])
		}
	}
	return x
}
