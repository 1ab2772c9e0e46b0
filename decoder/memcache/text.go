package memcache

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Protocol words, compared with bytes.Equal / bytes.HasPrefix as
// gomemcache does. They are never written to.
var (
	resultValue       = []byte("VALUE")
	resultEnd         = []byte("END")
	resultStat        = []byte("STAT")
	resultStored      = []byte("STORED")
	resultNotStored   = []byte("NOT_STORED")
	resultExists      = []byte("EXISTS")
	resultNotFound    = []byte("NOT_FOUND")
	resultDeleted     = []byte("DELETED")
	resultTouched     = []byte("TOUCHED")
	resultOK          = []byte("OK")
	resultReset       = []byte("RESET")
	resultError       = []byte("ERROR")
	resultClientError = []byte("CLIENT_ERROR")
	resultServerError = []byte("SERVER_ERROR")
	resultVersion     = []byte("VERSION")

	metaValue    = []byte("VA")
	metaHead     = []byte("HD")
	metaMiss     = []byte("EN")
	metaNotStore = []byte("NS")
	metaExists   = []byte("EX")
	metaNotFound = []byte("NF")
	metaNoop     = []byte("MN")
	metaDebug    = []byte("ME")
)

// maxLine caps a text line (command or reply). memcached itself refuses
// lines much shorter than this except for multi-key gets.
const maxLine = 64 << 10

// maxDataLen is the largest data block memcached accepts in a text
// command: the length is parsed into an int32 and must leave room for the
// trailing CRLF. A larger declared length is a bad command line, and no
// data block follows it.
const maxDataLen = 1<<31 - 1 - 2

// fields splits a line on spaces, as memcached's tokenizer does (runs of
// spaces are one separator; other bytes, tabs included, are not
// separators). The trailing CRLF or LF must already be removed.
func fields(line []byte) [][]byte {
	var f [][]byte
	for len(line) > 0 {
		i := bytes.IndexByte(line, ' ')
		if i < 0 {
			f = append(f, line)
			break
		}
		if i > 0 {
			f = append(f, line[:i])
		}
		line = line[i+1:]
	}
	return f
}

// trimEOL removes the line's "\r\n" or "\n".
func trimEOL(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	return bytes.TrimSuffix(line, []byte{'\r'})
}

// command is a parsed text or meta command line.
type command struct {
	req    *Request
	data   int64 // length of the data block that follows, -1: none
	want   bool  // a reply is expected
	quiet  bool  // meta q: reply only on failure
	opaque string
	err    error
}

// cmdName returns the canonical command word, without allocating for
// known words.
func cmdName(w []byte) (string, bool) {
	switch string(w) {
	case "get", "gets", "gat", "gats", "set", "add", "replace", "append", "prepend", "cas",
		"delete", "incr", "decr", "touch", "flush_all", "version", "stats", "verbosity", "quit",
		"mg", "ms", "md", "ma", "mn", "me":
		return string(w), true
	}
	return printable(w, 32), false
}

// isCommandWord reports whether w is a command word (used to find a line
// start when resynchronising).
func isCommandWord(w []byte) bool {
	_, ok := cmdName(w)
	return ok
}

// printable returns w as a string of at most n bytes with control bytes
// and invalid UTF-8 escaped, for notes and unknown words.
func printable(w []byte, n int) string {
	cut := len(w) > n
	if cut {
		w = w[:n]
	}
	ok := utf8.Valid(w)
	for _, c := range w {
		if c < 0x20 || c == 0x7f {
			ok = false
			break
		}
	}
	s := string(w)
	if !ok {
		s = strconv.Quote(s)
		s = s[1 : len(s)-1]
	}
	if cut {
		s += "…"
	}
	return s
}

func parseUint32(b []byte) (uint32, bool) {
	v, err := strconv.ParseUint(string(b), 10, 32)
	return uint32(v), err == nil
}

func parseInt64(b []byte) (int64, bool) {
	v, err := strconv.ParseInt(string(b), 10, 64)
	return v, err == nil
}

func parseUint64(b []byte) (uint64, bool) {
	v, err := strconv.ParseUint(string(b), 10, 64)
	return v, err == nil
}

// parseCommand parses one text or meta command line (without its CRLF).
// It always returns a command; err says what was wrong with the line.
func parseCommand(line []byte) command {
	f := fields(line)
	c := command{data: -1, want: true}
	if len(f) == 0 {
		// memcached answers an empty line with ERROR
		c.req = &Request{Command: "", Keys: []string{}}
		return c
	}
	name, known := cmdName(f[0])
	r := &Request{Command: name, Keys: []string{}}
	c.req = r
	if !known {
		return c
	}
	args := f[1:]
	noreply := func() {
		if len(args) > 0 && bytes.Equal(args[len(args)-1], []byte("noreply")) {
			r.Noreply = true
			c.want = false
			args = args[:len(args)-1]
		}
	}
	bad := func(what string) {
		if c.err == nil {
			c.err = fmt.Errorf("%w in %s: %s", ErrBadCommand, name, what)
		}
	}
	keys := func(k [][]byte) {
		for _, b := range k {
			r.Keys = append(r.Keys, string(b))
		}
	}
	switch name {
	case "get", "gets":
		keys(args)
		if len(args) == 0 {
			bad("no key")
		}
	case "gat", "gats":
		if len(args) < 2 {
			bad("want exptime and keys")
			keys(args)
			break
		}
		if e, ok := parseInt64(args[0]); ok {
			r.Exptime = &e
		} else {
			bad("exptime " + printable(args[0], 24))
		}
		keys(args[1:])
	case "set", "add", "replace", "append", "prepend", "cas":
		noreply()
		want := 4
		if name == "cas" {
			want = 5
		}
		if len(args) > 0 {
			keys(args[:1])
		}
		if len(args) != want {
			bad(fmt.Sprintf("%d arguments, want %d", len(args), want))
			if len(args) < 4 {
				break
			}
		}
		if v, ok := parseUint32(args[1]); ok {
			r.Flags = &v
		} else {
			bad("flags " + printable(args[1], 24))
		}
		if v, ok := parseInt64(args[2]); ok {
			r.Exptime = &v
		} else {
			bad("exptime " + printable(args[2], 24))
		}
		if name == "cas" && len(args) >= 5 {
			if v, ok := parseUint64(args[4]); ok {
				r.Cas = &v
			} else {
				bad("cas " + printable(args[4], 24))
			}
		}
		n, ok := parseInt64(args[3])
		switch {
		case !ok:
			c.err = fmt.Errorf("%w %q in %s", ErrBadLength, printable(args[3], 24), name)
		case n < 0 || n > maxDataLen:
			r.Bytes = &n
			c.err = fmt.Errorf("%w %d in %s (limit %d)", ErrBadLength, n, name, maxDataLen)
		default:
			r.Bytes = &n
			if c.err == nil {
				c.data = n
			}
		}
	case "delete":
		noreply()
		keys(args[:min(1, len(args))])
		if len(args) == 0 || len(args) > 2 {
			bad("want key")
		}
	case "incr", "decr":
		noreply()
		keys(args[:min(1, len(args))])
		if len(args) != 2 {
			bad("want key and delta")
			break
		}
		r.Value = printable(args[1], 24)
		if _, ok := parseUint64(args[1]); !ok {
			bad("delta " + r.Value)
		}
	case "touch":
		noreply()
		keys(args[:min(1, len(args))])
		if len(args) != 2 {
			bad("want key and exptime")
			break
		}
		if e, ok := parseInt64(args[1]); ok {
			r.Exptime = &e
		} else {
			bad("exptime " + printable(args[1], 24))
		}
	case "flush_all":
		noreply()
		if len(args) > 0 {
			if e, ok := parseInt64(args[0]); ok {
				r.Exptime = &e
			} else {
				bad("delay " + printable(args[0], 24))
			}
		}
	case "verbosity":
		noreply()
		if len(args) > 0 {
			r.Value = printable(args[0], 24)
		}
	case "stats":
		r.Value = printable(bytes.Join(args, []byte{' '}), 128)
	case "quit":
		c.want = false
	case "version":
	case "mg", "ms", "md", "ma", "me":
		parseMeta(&c, name, args)
	case "mn":
	}
	return c
}

// parseMeta parses the arguments of a meta command: a key (ms: then the
// data length) and single-letter flags, some with a token.
func parseMeta(c *command, name string, args [][]byte) {
	r := c.req
	if len(args) == 0 {
		c.err = fmt.Errorf("%w in %s: no key", ErrBadCommand, name)
		return
	}
	key := args[0]
	args = args[1:]
	if name == "ms" {
		if len(args) == 0 {
			c.err = fmt.Errorf("%w: ms without data length", ErrBadLength)
		} else {
			n, ok := parseInt64(args[0])
			switch {
			case !ok:
				c.err = fmt.Errorf("%w %q in ms", ErrBadLength, printable(args[0], 24))
			case n < 0 || n > maxDataLen:
				r.Bytes = &n
				c.err = fmt.Errorf("%w %d in ms (limit %d)", ErrBadLength, n, maxDataLen)
			default:
				r.Bytes = &n
				c.data = n
			}
			args = args[1:]
		}
	}
	b64 := false
	for _, fl := range args {
		if len(fl) == 0 {
			continue
		}
		tok := fl[1:]
		r.MetaFlags = append(r.MetaFlags, printable(fl, 64))
		switch fl[0] {
		case 'q':
			c.quiet = true
			r.Noreply = true
		case 'b':
			b64 = true
		case 'O':
			c.opaque = string(tok)
		case 'T':
			if e, ok := parseInt64(tok); ok {
				r.Exptime = &e
			}
		case 'F':
			if v, ok := parseUint32(tok); ok {
				r.Flags = &v
			}
		case 'C':
			if v, ok := parseUint64(tok); ok {
				r.Cas = &v
			}
		case 'D':
			if name == "ma" {
				r.Value = printable(tok, 24)
			}
		}
	}
	r.Keys = []string{metaKey(key, b64)}
}

// metaKey decodes a base64 key (meta b flag) when it decodes to printable
// text; otherwise the key is kept as sent.
func metaKey(k []byte, b64 bool) string {
	if b64 {
		dst := make([]byte, base64.StdEncoding.DecodedLen(len(k)))
		if n, err := base64.StdEncoding.Decode(dst, k); err == nil && printable(dst[:n], 1024) == string(dst[:n]) {
			return string(dst[:n])
		}
	}
	return string(k)
}

// replyKind says how a reply line continues.
type replyKind uint8

const (
	replySimple    replyKind = iota // complete in one line
	replyValue                      // VALUE line: data block, then more lines until END
	replyMetaValue                  // VA line: data block, then complete
	replyStats                      // STAT line (or any line of a stats reply): lines until END
	replyEnd                        // END: ends a retrieval or stats reply
)

// textReply is a parsed reply line.
type textReply struct {
	kind   replyKind
	resp   *Response
	word   []byte // first word, aliasing the line
	value  Value  // VALUE / VA
	data   int64  // data block length for VALUE / VA, -1 if bad
	opaque string // meta O flag
	key    string // meta k flag
	err    error
}

// parseReply parses one reply line (without its CRLF).
func parseReply(line []byte) textReply {
	word, rest, _ := bytes.Cut(line, []byte{' '})
	t := textReply{word: word, data: -1, resp: &Response{}}
	r := t.resp
	switch {
	case bytes.Equal(word, resultEnd):
		t.kind = replyEnd
		r.Result = "miss"
	case bytes.Equal(word, resultValue):
		t.kind = replyValue
		r.Result = "hit"
		f := fields(rest)
		if len(f) < 3 || len(f) > 4 {
			t.err = fmt.Errorf("%w: VALUE line with %d fields", ErrBadReply, len(f))
			if len(f) > 0 {
				t.value.Key = string(f[0])
			}
			return t
		}
		t.value.Key = string(f[0])
		if v, ok := parseUint32(f[1]); ok {
			t.value.Flags = v
		} else {
			t.err = fmt.Errorf("%w: VALUE flags %q", ErrBadReply, printable(f[1], 24))
		}
		if len(f) == 4 {
			if v, ok := parseUint64(f[3]); ok {
				t.value.Cas = &v
			} else {
				t.err = fmt.Errorf("%w: VALUE cas %q", ErrBadReply, printable(f[3], 24))
			}
		}
		t.data, t.err = dataLen(f[2], t.err)
		t.value.Bytes = max(t.data, 0)
	case bytes.Equal(word, resultStat):
		t.kind = replyStats
		r.Result = "stats"
	case bytes.Equal(word, resultStored):
		r.Result = "stored"
	case bytes.Equal(word, resultNotStored):
		r.Result = "not_stored"
	case bytes.Equal(word, resultExists):
		r.Result = "exists"
	case bytes.Equal(word, resultNotFound):
		r.Result = "not_found"
	case bytes.Equal(word, resultDeleted):
		r.Result = "deleted"
	case bytes.Equal(word, resultTouched):
		r.Result = "touched"
	case bytes.Equal(word, resultOK), bytes.Equal(word, resultReset):
		r.Result = "ok"
	case bytes.Equal(word, resultError):
		r.Result, r.Message = "error", printable(rest, 512)
	case bytes.Equal(word, resultClientError):
		r.Result, r.Message = "client_error", printable(rest, 512)
	case bytes.Equal(word, resultServerError):
		r.Result, r.Message = "server_error", printable(rest, 512)
	case bytes.Equal(word, resultVersion):
		r.Result, r.Message = "version", printable(rest, 128)
	case bytes.Equal(word, metaValue):
		t.kind = replyMetaValue
		r.Result = "hit"
		f := fields(rest)
		if len(f) == 0 {
			t.err = fmt.Errorf("%w: VA without size", ErrBadReply)
			return t
		}
		t.data, t.err = dataLen(f[0], nil)
		t.value.Bytes = max(t.data, 0)
		t.metaFlags(f[1:])
	case bytes.Equal(word, metaHead):
		r.Result = "ok"
		t.metaFlags(fields(rest))
	case bytes.Equal(word, metaMiss):
		r.Result = "miss"
		t.metaFlags(fields(rest))
	case bytes.Equal(word, metaNotStore):
		r.Result = "not_stored"
		t.metaFlags(fields(rest))
	case bytes.Equal(word, metaExists):
		r.Result = "exists"
		t.metaFlags(fields(rest))
	case bytes.Equal(word, metaNotFound):
		r.Result = "not_found"
		t.metaFlags(fields(rest))
	case bytes.Equal(word, metaNoop):
		r.Result = "ok"
	case bytes.Equal(word, metaDebug):
		r.Result, r.Message = "ok", printable(rest, 512)
	case isNumber(line):
		r.Result, r.Message = "value", string(line)
	default:
		r.Result = "unknown"
		r.Message = printable(line, 128)
		t.err = fmt.Errorf("%w %q", ErrBadReply, printable(line, 64))
	}
	return t
}

// metaFlags reads the flags of a meta reply: k key, b base64 key, O
// opaque, f client flags, c cas, s size.
func (t *textReply) metaFlags(f [][]byte) {
	var key []byte
	b64 := false
	for _, fl := range f {
		if len(fl) == 0 {
			continue
		}
		tok := fl[1:]
		switch fl[0] {
		case 'k':
			key = tok
		case 'b':
			b64 = true
		case 'O':
			t.opaque = string(tok)
		case 'f':
			if v, ok := parseUint32(tok); ok {
				t.value.Flags = v
			}
		case 'c':
			if v, ok := parseUint64(tok); ok {
				t.value.Cas = &v
			}
		}
	}
	if key != nil {
		t.key = metaKey(key, b64)
		t.value.Key = t.key
	}
}

// dataLen parses a declared data block length, refusing what memcached
// would refuse.
func dataLen(b []byte, prev error) (int64, error) {
	n, ok := parseInt64(b)
	if !ok || n < 0 || n > maxDataLen {
		return -1, fmt.Errorf("%w %q", ErrBadLength, printable(b, 24))
	}
	return n, prev
}

func isNumber(b []byte) bool {
	if len(b) == 0 || len(b) > 20 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isReplyWord reports whether a line starting with w (its first word) is a
// reply line; used to find a line start when resynchronising. Numbers are
// not accepted: too many data lines start with one.
func isReplyWord(w []byte) bool {
	for _, x := range [...][]byte{resultValue, resultEnd, resultStat, resultStored, resultNotStored,
		resultExists, resultNotFound, resultDeleted, resultTouched, resultOK, resultError,
		resultClientError, resultServerError, resultVersion, metaValue, metaHead, metaMiss,
		metaNotStore, metaExists, metaNotFound, metaNoop, metaDebug} {
		if bytes.Equal(w, x) {
			return true
		}
	}
	return false
}
