package http

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// FuzzDecoder feeds arbitrary client and server bytes, cut into pieces
// chosen by plan (with gaps, ends and interleaving), to a decoder. It must
// not panic, must stay within its caps, must leave nothing pending after
// Close, and must not modify an exchange after emitting it.
//
// Seeds are the first bytes of every real connection in testdata/conn and
// the named malformed cases; the corpus lives in testdata/fuzz/FuzzDecoder.
func FuzzDecoder(f *testing.F) {
	for _, fc := range fixtures {
		fx := loadFixture(f, fixtureName(fc.capture, fc.stream))
		cb, sb := fx.bytes(decoder.ClientToServer), fx.bytes(decoder.ServerToClient)
		f.Add(cb[:min(len(cb), 3000)], sb[:min(len(sb), 3000)], uint64(fc.stream), !fx.conn.SawSYN)
	}
	for i, tc := range malformedCases {
		var cb, sb []byte
		for _, o := range tc.ops {
			if o.dir == decoder.ClientToServer {
				cb = append(cb, o.data...)
			} else {
				sb = append(sb, o.data...)
			}
		}
		f.Add(cb[:min(len(cb), 3000)], sb[:min(len(sb), 3000)], uint64(i), tc.noSYN)
	}
	f.Fuzz(func(t *testing.T, cb, sb []byte, plan uint64, midStream bool) {
		const maxBody = 512
		rng := rand.New(rand.NewPCG(plan, plan>>32))
		type snap struct {
			e    *decoder.Exchange
			json string
		}
		var emitted []snap
		// bound: no exchange emitted later may start before it (the last
		// Pending, or the last call's time when idle).
		var bound time.Time
		conn := &decoder.Conn{ID: 1, SawSYN: !midStream}
		d := New(conn, func(e *decoder.Exchange) {
			checkEmitted(t, e, maxBody)
			if e.ReqStart.Before(bound) {
				t.Fatalf("exchange starting %v emitted after Pending said %v", e.ReqStart, bound)
			}
			emitted = append(emitted, snap{e, mustJSON(t, e)})
		}, Options{MaxBody: maxBody}).(*stream)
		now := time.Unix(1795978945, 0)
		rest := [2][]byte{cb, sb}
		for len(rest[0])+len(rest[1]) > 0 {
			dir := decoder.Dir(rng.IntN(2))
			if len(rest[dir]) == 0 {
				dir = 1 - dir
			}
			b := rest[dir]
			n := 1 + rng.IntN(min(len(b), 1+rng.IntN(2000)))
			now = now.Add(time.Duration(rng.IntN(1000)) * time.Microsecond)
			switch rng.IntN(32) {
			case 0: // lose these bytes
				d.Gap(dir, n, now)
			case 1: // lose an unknown amount
				d.Gap(dir, -1, now)
			default:
				d.Data(dir, b[:n], now)
			}
			rest[dir] = b[n:]
			if len(rest[dir]) == 0 && rng.IntN(2) == 0 {
				d.End(dir, now)
			}
			for k := range d.sides {
				s := &d.sides[k]
				if len(s.buf) > maxLineLength {
					t.Fatalf("side %d buffers %d bytes", k, len(s.buf))
				}
				if s.m != nil && (len(s.m.body) > maxBody || len(s.m.headers) > maxHeaders || len(s.m.trailers) > maxHeaders) {
					t.Fatalf("side %d holds %d body bytes, %d headers", k, len(s.m.body), len(s.m.headers))
				}
			}
			if len(d.queue) > maxQueue {
				t.Fatalf("%d exchanges queued", len(d.queue))
			}
			bound = now
			if p := d.Pending(); !p.IsZero() {
				if p.After(now) {
					t.Fatalf("Pending %v after the last byte %v", p, now)
				}
				bound = p
			}
		}
		d.Close(now)
		if p := d.Pending(); !p.IsZero() {
			t.Fatalf("Pending %v after Close", p)
		}
		for i, s := range emitted {
			if mustJSON(t, s.e) != s.json {
				t.Fatalf("exchange %d modified after it was emitted", i)
			}
			if i > 0 && s.e.ReqStart.Before(emitted[i-1].e.ReqStart) {
				t.Fatalf("exchange %d starts before exchange %d", i, i-1)
			}
		}
	})
}

func checkEmitted(t *testing.T, e *decoder.Exchange, maxBody int) {
	if e.Proto != "http" || e.Request == nil && e.Response == nil {
		t.Fatalf("empty exchange %+v", e)
	}
	if e.ReqStart.IsZero() {
		t.Fatalf("exchange without start")
	}
	for _, m := range []decoder.Message{e.Request, e.Response} {
		switch m := m.(type) {
		case nil:
		case *Request:
			if m == nil || len(m.Body) > maxBody || int64(len(m.Body)) > m.BodyBytes || len(m.Headers) > maxHeaders {
				t.Fatalf("bad request %+v", m)
			}
			_ = m.Summary()
			_ = m.Redacted().Summary()
		case *Response:
			if m == nil || len(m.Body) > maxBody || int64(len(m.Body)) > m.BodyBytes || len(m.Headers) > maxHeaders || len(m.Interim) > maxInterim {
				t.Fatalf("bad response %+v", m)
			}
			_ = m.Summary()
			_ = m.Redacted().Summary()
		default:
			t.Fatalf("message of type %T", m)
		}
	}
}

func mustJSON(t *testing.T, e *decoder.Exchange) string {
	b, err := json.Marshal(struct {
		Req, Resp                            decoder.Message
		ReqStart, ReqEnd, RespStart, RespEnd time.Time
		Truncated                            bool
		Notes                                []string
	}{e.Request, e.Response, e.ReqStart, e.ReqEnd, e.RespStart, e.RespEnd, e.Truncated, e.Notes})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
