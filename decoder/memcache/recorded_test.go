package memcache

import (
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// The recorded conversations are real memcached 1.6.18 replies to the
// scripts in record_test.go (TestRecord).

func runRecorded(t *testing.T, name string) ([]*decoder.Exchange, *conv) {
	t.Helper()
	c := readConv(t, "testdata/recorded/"+name+".conv")
	return c.run(Options{}, 0), c
}

func checkDescribed(t *testing.T, exs []*decoder.Exchange, want []string) {
	t.Helper()
	for i := 0; i < max(len(exs), len(want)); i++ {
		var g, w string
		if i < len(exs) {
			g = describe(exs[i])
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("exchange %d:\n got %s\nwant %s", i, g, w)
		}
	}
}

func TestRecordedText(t *testing.T) {
	exs, c := runRecorded(t, "text")
	checkDescribed(t, exs, []string{
		"version => VERSION 1.6.18",
		"flush_all => OK",
		"set tokens/a 5B => STORED",
		"set k2 3B noreply => -",
		"get tokens/a k2 missing => partial 2 values 8B",
		"get missing => miss",
		"gets tokens/a => hit 5B",
		"cas tokens/a 3B => EXISTS",
		"cas tokens/a 3B => STORED",
		"cas nokey 1B => NOT_FOUND",
		"add tokens/a 1B => NOT_STORED",
		"replace nokey 1B => NOT_STORED",
		"append tokens/a 3B => STORED",
		"prepend tokens/a 2B => STORED",
		"set n 2B => STORED",
		"incr n => value 15",
		"decr n => value 0",
		"incr nokey => NOT_FOUND",
		"incr tokens/a => CLIENT_ERROR cannot increment or decrement non-numeric value",
		"incr n noreply => -",
		"delete k2 => DELETED",
		"delete k2 => NOT_FOUND",
		"delete n noreply => -",
		"touch tokens/a => TOUCHED",
		"touch nokey => NOT_FOUND",
		"gat tokens/a nokey => partial 8B",
		"gats tokens/a => hit 8B",
		"stats => stats",
		"verbosity => OK",
		"verbosity noreply => -",
		"bogus => ERROR",
		`set bad => CLIENT_ERROR bad command line format {memcache: bad data length "abc" in set at offset 574 of the client stream}`,
		// memcached reads 3+2 bytes, finds "de" where CRLF should be, and
		// then answers the "\r\n" left over as an empty command.
		"set chunk 3B => CLIENT_ERROR bad data chunk {memcache: data block not followed by CRLF in set (data block at offset 608 of the client stream)}",
		"(empty line) => ERROR",
		"get kkkkkkkkkkk… => CLIENT_ERROR bad command line format",
		"set big 6000B => STORED",
		"get big => hit 6000B",
		// pipelined in one write, answered in one read
		"get tokens/a => hit 8B",
		"get nokey => miss",
		"set p 1B => STORED",
		"get p => hit 1B",
		"delete p noreply => -",
		"get p big => partial 6000B",
		"(empty line) => ERROR",
		"flush_all => OK",
		"flush_all noreply => -",
		"quit => -",
	})
	if len(exs) != 47 {
		t.Fatalf("%d exchanges", len(exs))
	}
	// multi-get partial hit: hits, flags, data
	r := exs[4].Response.(*Response)
	if strings.Join(r.Hits, ",") != "tokens/a,k2" || r.Values[1].Flags != 7 || r.Values[0].Data != "hello" || r.Values[1].Data != "abc" {
		t.Errorf("multi-get: %+v", r)
	}
	// gets returns the cas the next cas command uses
	if v := exs[6].Response.(*Response).Values[0]; v.Cas == nil || *v.Cas != *exs[8].Request.(*Request).Cas {
		t.Errorf("gets cas %v, cas command %v", v.Cas, exs[8].Request.(*Request).Cas)
	}
	// noreply: no response, no note, no response times
	if e := exs[3]; e.Response != nil || len(e.Notes) != 0 || e.Truncated || !e.RespStart.IsZero() {
		t.Errorf("noreply set: %+v", e)
	}
	// big value: 6000 declared, 4096 kept
	if v := exs[36].Response.(*Response).Values[0]; v.Bytes != 6000 || len(v.Data) != DefaultMaxValue || !v.DataTruncated {
		t.Errorf("big value: bytes %d kept %d truncated %v", v.Bytes, len(v.Data), v.DataTruncated)
	}
	if q := exs[35].Request.(*Request); len(q.Value) != DefaultMaxValue || *q.Bytes != 6000 {
		t.Errorf("big set: kept %d of %d", len(q.Value), *q.Bytes)
	}
	// pipelined: the five replies came in one segment
	for _, e := range exs[37:41] {
		if !e.RespStart.Equal(exs[37].RespStart) || !e.ReqStart.Equal(exs[37].ReqStart) {
			t.Errorf("pipelined times differ: %v %v", e.ReqStart, e.RespStart)
		}
	}
	// times: the first exchange's request and reply lines
	if !exs[0].ReqStart.Equal(c.Chunks[0].T) || !exs[0].RespEnd.Equal(c.Chunks[1].T) {
		t.Errorf("version times %v %v, lines %v %v", exs[0].ReqStart, exs[0].RespEnd, c.Chunks[0].T, c.Chunks[1].T)
	}
}

func TestRecordedMeta(t *testing.T) {
	exs, _ := runRecorded(t, "meta")
	checkDescribed(t, exs, []string{
		"version => VERSION 1.6.18",
		"mn => OK",
		"ms meta/a 5B => STORED",
		"ms meta/b 3B noreply => -",
		"mg meta/a => hit 5B",
		"mg meta/miss => miss",
		"mg meta/a => hit",
		// quiet: the miss is suppressed, the hit pairs by opaque, mn ends
		"mg meta/miss noreply => -",
		"mg meta/b noreply => hit 3B",
		"mn => OK",
		"mg meta/a => hit 5B", // base64 key
		"ms meta/a 3B => EXISTS",
		"ms meta/a 3B => STORED",
		"ms meta/new 1B => STORED",
		"ms meta/a 1B => NOT_STORED",
		"md meta/b => DELETED",
		"md meta/b => NOT_FOUND",
		"md meta/b noreply => NOT_FOUND", // q hides HD only
		"mn => OK",
		"ma meta/cnt => OK",
		"ma meta/cnt => value 11",
		"ma meta/cnt => value 6",
		"ma meta/nokey => NOT_FOUND",
		"me meta/a => OK meta/a exp=-1 la=2 cas=17 fetch=no cls=1 size=68",
		"mg meta/a => CLIENT_ERROR invalid flag",
		"ms meta/big 3000B => STORED",
		"mg meta/big => hit 3000B",
		"mn => OK",
	})
	if len(exs) != 28 {
		t.Fatalf("%d exchanges", len(exs))
	}
	mg := exs[4]
	if q := mg.Request.(*Request); strings.Join(q.MetaFlags, " ") != "v k f c t s Oabc" {
		t.Errorf("meta flags %q", q.MetaFlags)
	}
	if v := mg.Response.(*Response).Values[0]; v.Key != "meta/a" || v.Flags != 7 || v.Cas == nil || *v.Cas != 15 || v.Data != "hello" {
		t.Errorf("mg value %+v", v)
	}
	if q := exs[2].Request.(*Request); *q.Exptime != 300 || *q.Flags != 7 || q.Value != "hello" {
		t.Errorf("ms T300 F7: %+v", q)
	}
	if q := exs[10].Request.(*Request); q.Keys[0] != "meta/a" {
		t.Errorf("base64 key decoded to %q", q.Keys[0])
	}
	if e := exs[7]; e.Response != nil || len(e.Notes) != 0 || e.Truncated {
		t.Errorf("quiet miss: %s %v", describe(e), e.Notes)
	}
	if q := exs[12].Request.(*Request); q.Cas == nil || *q.Cas != 15 {
		t.Errorf("ms C15: cas %v", q.Cas)
	}
}

func TestRecordedBinary(t *testing.T) {
	exs, _ := runRecorded(t, "binary")
	checkDescribed(t, exs, []string{
		"version => VERSION 1.6.18",
		"flush => OK",
		"set bin/a 5B => STORED",
		"get bin/a => hit 5B",
		"get bin/miss => miss",
		"getk bin/a => hit 5B",
		"getq bin/miss noreply => -", // quiet miss: no reply
		"getq bin/a noreply => hit 5B",
		"getkq bin/a noreply => hit 5B",
		"noop => OK",
		"add bin/a 1B => EXISTS Data exists for key.",
		"set bin/a 1B => EXISTS Data exists for key.",
		"set bin/n 2B => STORED",
		"increment bin/n => value 15",
		"decrement bin/n => value 0",
		"increment bin/a => CLIENT_ERROR Non-numeric server-side value for incr or decr",
		"append bin/a 2B => STORED",
		"touch bin/a => TOUCHED",
		"gat bin/a => hit 7B",
		"delete bin/n => DELETED",
		"delete bin/n => NOT_FOUND Not found",
		"setq bin/q 5B noreply => -", // quiet success
		"deleteq bin/nokey noreply => NOT_FOUND Not found",
		"noop => OK",
		"stat => stats",
		"set bin/big 5000B => STORED",
		"get bin/big => hit 5000B",
		"op_0x55 => ERROR Unknown command",
		"quit => OK",
	})
	if len(exs) != 29 {
		t.Fatalf("%d exchanges", len(exs))
	}
	if r := exs[4].Response.(*Response); r.Status != "KEY_ENOENT" || r.Message != "Not found" {
		t.Errorf("get miss: %+v", r)
	}
	hit := exs[3].Response.(*Response)
	if v := hit.Values[0]; hit.Status != "NO_ERROR" || v.Key != "bin/a" || v.Flags != 0xcafe || v.Cas == nil || *v.Cas != 24 || v.Data != "hello" {
		t.Errorf("get hit: %+v", hit)
	}
	if q := exs[2].Request.(*Request); !q.Binary || *q.Flags != 0xcafe || *q.Exptime != 300 || q.Value != "hello" {
		t.Errorf("set: %+v", q)
	}
	if q := exs[11].Request.(*Request); q.Cas == nil || *q.Cas != 1 {
		t.Errorf("set with cas: %+v", q)
	}
	if q := exs[13].Request.(*Request); q.Value != "5" {
		t.Errorf("increment delta %q", q.Value)
	}
	if v := exs[26].Response.(*Response).Values[0]; len(v.Data) != DefaultMaxValue || !v.DataTruncated {
		t.Errorf("big: kept %d truncated %v", len(v.Data), v.DataTruncated)
	}
	for i, e := range exs {
		if e.Truncated || len(e.Notes) > 0 {
			t.Errorf("exchange %d: truncated %v notes %v", i, e.Truncated, e.Notes)
		}
	}
}

// TestBinaryStatTimes: a binary stat reply is one packet per statistic
// and an empty-key packet to end it; one exchange spans them all.
func TestBinaryStatTimes(t *testing.T) {
	exs := play(false, Options{}, []op{
		binC(bin(0x10, "", "", "", 5, 0)),
		binS(binResp(0x10, 0, "pid", "", "123", 5)),
		binS(binResp(0x10, 0, "uptime", "", "9", 5)),
		binS(binResp(0x10, 0, "", "", "", 5)),
	})
	if len(exs) != 1 || describe(exs[0]) != "stat => stats" {
		t.Fatalf("got %d: %v", len(exs), exs)
	}
	e := exs[0]
	if !e.RespStart.Equal(t0.Add(time.Millisecond)) || !e.RespEnd.Equal(t0.Add(3*time.Millisecond)) {
		t.Errorf("stat reply times %v - %v", e.RespStart, e.RespEnd)
	}
}

// TestMetaBase64Reply: with the b flag the key in a reply is base64 too.
func TestMetaBase64Reply(t *testing.T) {
	exs := play(false, Options{}, []op{cli("mg bWV0YS9h b k v\r\n"), srv("VA 1 b kbWV0YS9h\r\nx\r\n")})
	r := exs[0].Response.(*Response)
	if exs[0].Request.(*Request).Keys[0] != "meta/a" || r.Values[0].Key != "meta/a" || r.Hits[0] != "meta/a" || r.Result != "hit" {
		t.Errorf("%s: %+v", describe(exs[0]), r)
	}
}
