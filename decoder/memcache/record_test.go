package memcache

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRecord records conversations with a real memcached into
// testdata/recorded/*.conv. It runs only with -record:
//
//	memcached -l 127.0.0.1 -p 21211 -U 0 &
//	go test ./decoder/memcache -run TestRecord -record [-memcached 127.0.0.1:21211]
//
// The client side is scripted here; every server byte is what memcached
// sent. The normal tests read only the recorded files.
var (
	record        = flag.Bool("record", false, "record testdata/recorded/*.conv from a live memcached")
	memcachedAddr = flag.String("memcached", "127.0.0.1:21211", "memcached address for -record")
)

// A recStep is one write of the client. {CAS} in send is replaced by the
// last CAS the server reported (text VALUE line or binary header).
type recStep struct {
	send []byte
}

func txt(s string) recStep { return recStep{send: []byte(s)} }

func TestRecord(t *testing.T) {
	if !*record {
		t.Skip("recording needs -record and a memcached at -memcached")
	}
	c, err := net.DialTimeout("tcp", *memcachedAddr, time.Second)
	if err != nil {
		t.Skipf("memcached not reachable: %v", err)
	}
	c.Close()
	for _, sc := range []struct {
		name  string
		steps []recStep
	}{
		{"text", textScript()},
		{"meta", metaScript()},
		{"binary", binaryScript()},
	} {
		t.Run(sc.name, func(t *testing.T) {
			b := recordConv(t, sc.name, sc.steps)
			path := filepath.Join("testdata", "recorded", sc.name+".conv")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s (%d bytes)", path, len(b))
		})
	}
}

func recordConv(t *testing.T, name string, steps []recStep) []byte {
	c, err := net.DialTimeout("tcp", *memcachedAddr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	textCas := regexp.MustCompile(`VALUE \S+ \d+ \d+ (\d+)\r\n`)
	metaCas := regexp.MustCompile(` c(\d+)`)
	var out bytes.Buffer
	ver := ""
	fmt.Fprintf(&out, "# recorded by TestRecord (%s script) from a live memcached\nsyn\n", name)
	cas := "0"
	buf := make([]byte, 64<<10)
	closed := false
	for _, st := range steps {
		send := bytes.ReplaceAll(st.send, []byte("{CAS}"), []byte(cas))
		if bytes.Contains(send, []byte("{BINCAS}")) {
			// binary: 8-byte CAS placeholder filled below
			send = fillBinCas(send, cas)
		}
		if closed {
			t.Fatalf("server closed before step %q", send)
		}
		fmt.Fprintf(&out, "c %s %x\n", formatEpoch(time.Now()), send)
		if _, err := c.Write(send); err != nil {
			t.Fatal(err)
		}
		// Read until the server has been quiet for a while; each read is
		// one line, as segments would be.
		for {
			c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
			n, err := c.Read(buf)
			if n > 0 {
				got := buf[:n]
				fmt.Fprintf(&out, "s %s %x\n", formatEpoch(time.Now()), got)
				if m := textCas.FindAllSubmatch(got, -1); len(m) > 0 {
					cas = string(m[len(m)-1][1])
				}
				if m := metaCas.FindAllSubmatch(got, -1); len(m) > 0 && name == "meta" {
					cas = string(m[len(m)-1][1])
				}
				if name == "binary" && len(got) >= 24 && got[0] == 0x81 {
					cas = fmt.Sprint(binary.BigEndian.Uint64(got[16:24]))
				}
				if v, ok := strings.CutPrefix(string(got), "VERSION "); ok && ver == "" {
					ver = strings.TrimSpace(v)
				}
			}
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					break
				}
				fmt.Fprintf(&out, "s %s fin\n", formatEpoch(time.Now()))
				closed = true
				break
			}
		}
	}
	if !closed {
		fmt.Fprintf(&out, "c %s fin\n", formatEpoch(time.Now()))
	}
	if ver != "" {
		b := out.Bytes()
		return append([]byte(fmt.Sprintf("# memcached %s\n", ver)), b...)
	}
	return out.Bytes()
}

func fillBinCas(b []byte, cas string) []byte {
	var v uint64
	fmt.Sscan(cas, &v)
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], v)
	i := bytes.Index(b, []byte("{BINCAS}"))
	return append(append(append([]byte(nil), b[:i]...), c[:]...), b[i+8:]...)
}

func textScript() []recStep {
	big := strings.Repeat(`{"k": "0123456789abcdef"}`, 240) // 6000 bytes
	long := strings.Repeat("k", 251)
	return []recStep{
		txt("version\r\n"),
		txt("flush_all\r\n"),
		txt("set tokens/a 0 300 5\r\nhello\r\n"),
		txt("set k2 7 0 3 noreply\r\nabc\r\n"),
		txt("get tokens/a k2 missing\r\n"),
		txt("get missing\r\n"),
		txt("gets tokens/a\r\n"),
		txt("cas tokens/a 0 0 3 999999\r\nnew\r\n"),
		txt("cas tokens/a 0 0 3 {CAS}\r\nnew\r\n"),
		txt("cas nokey 0 0 1 1\r\nx\r\n"),
		txt("add tokens/a 0 0 1\r\nx\r\n"),
		txt("replace nokey 0 0 1\r\nx\r\n"),
		txt("append tokens/a 0 0 3\r\n!!!\r\n"),
		txt("prepend tokens/a 0 0 2\r\n<<\r\n"),
		txt("set n 0 0 2\r\n10\r\n"),
		txt("incr n 5\r\n"),
		txt("decr n 20\r\n"),
		txt("incr nokey 1\r\n"),
		txt("incr tokens/a 1\r\n"),
		txt("incr n 1 noreply\r\n"),
		txt("delete k2\r\n"),
		txt("delete k2\r\n"),
		txt("delete n noreply\r\n"),
		txt("touch tokens/a 100\r\n"),
		txt("touch nokey 1\r\n"),
		txt("gat 200 tokens/a nokey\r\n"),
		txt("gats 200 tokens/a\r\n"),
		txt("stats\r\n"),
		txt("verbosity 1\r\n"),
		txt("verbosity 1 noreply\r\n"),
		txt("bogus command\r\n"),
		txt("set bad 0 0 abc\r\n"),
		txt("set chunk 0 0 3\r\nabcde\r\n"),
		txt("get " + long + "\r\n"),
		txt("set big 0 0 6000\r\n" + big + "\r\n"),
		txt("get big\r\n"),
		// pipelined: several commands in one write
		txt("get tokens/a\r\nget nokey\r\nset p 0 0 1\r\nx\r\nget p\r\ndelete p noreply\r\nget p big\r\n"),
		txt("\r\n"),
		txt("flush_all 0\r\n"),
		txt("flush_all noreply\r\n"),
		txt("quit\r\n"),
	}
}

func metaScript() []recStep {
	return []recStep{
		txt("version\r\n"),
		txt("mn\r\n"),
		txt("ms meta/a 5 T300 F7\r\nhello\r\n"),
		txt("ms meta/b 3 q\r\nabc\r\n"),
		txt("mg meta/a v k f c t s Oabc\r\n"),
		txt("mg meta/miss v\r\n"),
		txt("mg meta/a\r\n"),
		txt("mg meta/miss v q Oq1\r\nmg meta/b v q k Oq2\r\nmn\r\n"),
		txt("mg bWV0YS9h b v k\r\n"),
		txt("ms meta/a 3 C1\r\nxyz\r\n"),
		txt("ms meta/a 3 C{CAS}\r\nxyz\r\n"),
		txt("ms meta/new 1 ME\r\nx\r\n"),
		txt("ms meta/a 1 ME\r\nx\r\n"),
		txt("md meta/b\r\n"),
		txt("md meta/b\r\n"),
		txt("md meta/b q\r\nmn\r\n"),
		txt("ma meta/cnt N0 J10\r\n"),
		txt("ma meta/cnt v\r\n"),
		txt("ma meta/cnt MD D5 v\r\n"),
		txt("ma meta/nokey\r\n"),
		txt("me meta/a\r\n"),
		txt("mg meta/a !\r\n"),
		txt("ms meta/big 3000 T0\r\n" + strings.Repeat("m", 3000) + "\r\n"),
		txt("mg meta/big s v\r\n"),
		txt("mn\r\n"),
	}
}

// bin builds one binary-protocol request.
func bin(op byte, key, extras, value string, opaque uint32, cas uint64) []byte {
	h := make([]byte, 24, 24+len(extras)+len(key)+len(value))
	h[0] = 0x80
	h[1] = op
	binary.BigEndian.PutUint16(h[2:], uint16(len(key)))
	h[4] = byte(len(extras))
	binary.BigEndian.PutUint32(h[8:], uint32(len(extras)+len(key)+len(value)))
	binary.BigEndian.PutUint32(h[12:], opaque)
	binary.BigEndian.PutUint64(h[16:], cas)
	return append(append(append(h, extras...), key...), value...)
}

func be32(v ...uint32) string {
	var b []byte
	for _, x := range v {
		b = binary.BigEndian.AppendUint32(b, x)
	}
	return string(b)
}

func be64(v ...uint64) string {
	var b []byte
	for _, x := range v {
		b = binary.BigEndian.AppendUint64(b, x)
	}
	return string(b)
}

func binaryScript() []recStep {
	b := func(p ...[]byte) recStep { return recStep{send: bytes.Join(p, nil)} }
	setEx := be32(0xcafe, 300) // flags, exptime
	return []recStep{
		b(bin(0x0b, "", "", "", 1, 0)),              // version
		b(bin(0x08, "", "", "", 2, 0)),              // flush
		b(bin(0x01, "bin/a", setEx, "hello", 3, 0)), // set
		b(bin(0x00, "bin/a", "", "", 4, 0)),         // get hit
		b(bin(0x00, "bin/miss", "", "", 5, 0)),      // get miss: KEY_ENOENT
		b(bin(0x0c, "bin/a", "", "", 6, 0)),         // getk
		b(bin(0x09, "bin/miss", "", "", 7, 0), // getq miss: no reply
			bin(0x09, "bin/a", "", "", 8, 0), // getq hit
			bin(0x0d, "bin/a", "", "", 9, 0), // getkq hit
			bin(0x0a, "", "", "", 10, 0)),    // noop ends the batch
		b(bin(0x02, "bin/a", setEx, "x", 11, 0)),             // add existing: KEY_EEXISTS
		b(bin(0x01, "bin/a", setEx, "y", 12, 1)),             // set with wrong cas: KEY_EEXISTS
		b(bin(0x01, "bin/n", be32(0, 0), "10", 13, 0)),       // set counter
		b(bin(0x05, "bin/n", be64(5, 0)+be32(0), "", 14, 0)), // increment
		b(bin(0x06, "bin/n", be64(20, 0)+be32(0), "", 15, 0)),
		b(bin(0x05, "bin/a", be64(1, 0)+be32(0), "", 16, 0)), // non-numeric: DELTA_BADVAL
		b(bin(0x0e, "bin/a", "", "!!", 17, 0)),               // append
		b(bin(0x1c, "bin/a", be32(100), "", 18, 0)),          // touch
		b(bin(0x1d, "bin/a", be32(200), "", 19, 0)),          // gat
		b(bin(0x04, "bin/n", "", "", 20, 0)),                 // delete
		b(bin(0x04, "bin/n", "", "", 21, 0)),                 // delete miss
		b(bin(0x11, "bin/q", setEx, "quiet", 22, 0), // setq
			bin(0x14, "bin/nokey", "", "", 23, 0), // deleteq miss: replies NOT_FOUND
			bin(0x0a, "", "", "", 24, 0)),
		b(bin(0x10, "", "", "", 25, 0)), // stat: many packets
		b(bin(0x01, "bin/big", setEx, strings.Repeat("b", 5000), 26, 0)),
		b(bin(0x00, "bin/big", "", "", 27, 0)),
		b(bin(0x55, "", "", "", 28, 0)), // unknown opcode
		b(bin(0x07, "", "", "", 29, 0)), // quit
	}
}
