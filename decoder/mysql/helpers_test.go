package mysql

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/internal/truth"
)

// chunk is one TCP segment's payload from a recorded stream.
type chunk struct {
	t    time.Time
	dir  decoder.Dir
	data []byte
}

// loadStream reads testdata/streams/NAME.stream: "<epoch> <c|s> <hex>" per
// line, as written by testdata/extract.sh and the -record test.
func loadStream(tb testing.TB, name string) []chunk {
	tb.Helper()
	f, err := openStream(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []chunk
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			tb.Fatalf("%s: bad line %q", name, sc.Text())
		}
		sec, frac, _ := strings.Cut(fs[0], ".")
		s, err := strconv.ParseInt(sec, 10, 64)
		if err != nil {
			tb.Fatal(err)
		}
		frac = (frac + "000000000")[:9]
		ns, err := strconv.ParseInt(frac, 10, 64)
		if err != nil {
			tb.Fatal(err)
		}
		data, err := hex.DecodeString(fs[2])
		if err != nil {
			tb.Fatal(err)
		}
		dir := decoder.ClientToServer
		if fs[1] == "s" {
			dir = decoder.ServerToClient
		}
		out = append(out, chunk{time.Unix(s, ns).UTC(), dir, data})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// decode feeds chunks to a new decoder, each chunk cut into pieces by
// split (nil: whole), and returns the exchanges.
func decode(chunks []chunk, sawSYN bool, opts Options, split func(int) []int) []*decoder.Exchange {
	var got []*decoder.Exchange
	c := &decoder.Conn{ID: 1, SawSYN: sawSYN}
	d := New(c, func(x *decoder.Exchange) { got = append(got, x) }, opts)
	var last time.Time
	for _, ch := range chunks {
		data := append([]byte(nil), ch.data...)
		if split == nil {
			d.Data(ch.dir, data, ch.t)
		} else {
			for _, n := range split(len(data)) {
				piece := append([]byte(nil), data[:n]...)
				data = data[n:]
				d.Data(ch.dir, piece, ch.t)
				clear(piece) // the decoder must not keep input
			}
		}
		last = ch.t
	}
	d.Close(last)
	return got
}

// dump renders exchanges for comparison and failure messages.
func dump(xs []*decoder.Exchange) []string {
	var out []string
	for _, x := range xs {
		req, _ := json.Marshal(x.Request)
		line := fmt.Sprintf("%s %s req=%s", x.ReqStart.Format("05.000000"), x.End().Format("05.000000"), req)
		if x.Response != nil {
			resp, _ := json.Marshal(x.Response)
			line += " resp=" + string(resp)
		}
		if x.Truncated {
			line += " TRUNCATED"
		}
		if len(x.Notes) > 0 {
			line += " notes=" + strings.Join(x.Notes, "; ")
		}
		out = append(out, line)
	}
	return out
}

func req(x *decoder.Exchange) *Request { return x.Request.(*Request) }
func resp(x *decoder.Exchange) *Response {
	if x.Response == nil {
		return nil
	}
	return x.Response.(*Response)
}

// truthRow is one client command or login row of a truth TSV.
type truthRow struct {
	command string // "login" or the command number
	user    string
	schema  string
	plugin  string
	query   string
}

// loadTruth reads the client rows (and the greeting's plugin) of one TCP
// stream from testdata/truth/CAPTURE.mysql.tsv.
func loadTruth(tb testing.TB, capture string, stream int) (rows []truthRow, greetings int) {
	tb.Helper()
	var plugin string
	f, err := os.Open(filepath.Join("..", "..", "testdata", "truth", capture+".mysql.tsv"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	col := map[string]int{}
	for sc.Scan() {
		fs := strings.Split(sc.Text(), "\t")
		if len(col) == 0 {
			for i, name := range fs {
				col[name] = i
			}
			continue
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(fs) {
				return fs[i]
			}
			return ""
		}
		if get("tcp.stream") != strconv.Itoa(stream) {
			continue
		}
		if get("mysql.server_greeting") != "" {
			greetings++
			plugin = get("mysql.auth_plugin")
		}
		if get("tcp.dstport") != "3306" {
			continue
		}
		switch {
		case get("mysql.user") != "":
			rows = append(rows, truthRow{command: "login", user: get("mysql.user"),
				schema: get("mysql.schema"), plugin: plugin})
		case get("mysql.command") != "":
			rows = append(rows, truthRow{command: get("mysql.command"), query: truth.Unescape(get("mysql.query"))})
		}
	}
	return rows, greetings
}

// cmdNumber maps a command name back to its number as tshark prints it.
func cmdNumber(name string) string {
	for i, n := range commandNames {
		if n == name {
			return strconv.Itoa(i)
		}
	}
	return name
}

// cut shortens s for failure messages.
func cut(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// randomSplit cuts a chunk into pieces of 1..maxPiece bytes, reproducibly.
func randomSplit(seed uint64, maxPiece int) func(int) []int {
	rng := rand.New(rand.NewPCG(seed, 7))
	return func(n int) []int {
		var out []int
		for n > 0 {
			k := min(n, 1+rng.IntN(maxPiece))
			out = append(out, k)
			n -= k
		}
		return out
	}
}
