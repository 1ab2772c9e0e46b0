package mysql

import (
	"bytes"
	"compress/zlib"
	"io"
	"unicode/utf8"
)

// cand is the verdict on a candidate packet boundary.
type cand uint8

const (
	candNo   cand = iota // not a command packet here
	candMore             // too few bytes to tell
	candYes              // a plausible command packet starts here
)

// sqlCheck is how many bytes of query text a candidate is judged on.
const sqlCheck = 48

// commandCandidate judges whether b starts with a client command packet:
// sequence id 0, a command byte flowmap knows, a length that fits the
// command and, for text commands, text that looks like SQL. It returns the
// packet's length (header included) with candYes. When the packet is
// complete and followed by more bytes, those must not contradict the next
// header (a sequence-0 packet must carry a known command byte). final says
// b is all the client sent before the server answered: the packet must then
// be complete, and "more" means no.
func commandCandidate(b []byte, final bool) (int, cand) {
	n, v := commandCandidate1(b)
	if final && (v == candMore || v == candYes && n > len(b)) {
		return 0, candNo
	}
	return n, v
}

func commandCandidate1(b []byte) (int, cand) {
	if len(b) >= 4 && b[3] != 0 {
		return 0, candNo
	}
	if len(b) < 5 {
		return 0, candMore
	}
	l := int(le24(b))
	if l == 0 {
		return 0, candNo
	}
	total := 4 + l
	body := b[5:min(len(b), total)]
	complete := len(b) >= total
	v := candNo
	switch b[4] {
	case comQuit, comPing, comStatistics, comResetConnection, comProcessInfo, comDebug:
		if l == 1 {
			v = candYes
		}
	case comInitDB:
		if l >= 2 && l <= 257 {
			v = identLike(body, complete)
		}
	case comQuery, comStmtPrepare:
		if l >= 2 {
			v = sqlLike(body, l-1)
		}
	case comFieldList:
		if l >= 2 && l <= 4096 {
			v = identLike(bytes.TrimRight(body, "\x00"), complete)
			if v == candYes && complete && bytes.IndexByte(body, 0) < 0 {
				v = candNo
			}
		}
	case comProcessKill, comStmtClose, comStmtReset:
		if l == 5 {
			v = candYes
		}
	case comStmtFetch:
		if l == 9 {
			v = candYes
		}
	case comSetOption:
		if l == 3 {
			v = candMore
			if len(body) >= 2 {
				v = candNo
				if body[0] <= 1 && body[1] == 0 {
					v = candYes
				}
			}
		}
	case comStmtExecute:
		if l >= 10 {
			v = candMore
			if len(body) >= 9 {
				v = candNo
				if body[4] < 0x10 && le32(body[5:]) == 1 {
					v = candYes
				}
			}
		}
	case comChangeUser:
		if l >= 3 && l <= 1<<16 {
			v = candMore
			if i := bytes.IndexByte(body, 0); i >= 1 {
				v = identLike(body[:i], true)
			} else if i == 0 || len(body) >= 256 || complete {
				v = candNo
			}
		}
	}
	if v != candYes {
		return 0, v
	}
	if complete && len(b) >= total+5 {
		nb := b[total:]
		if nb[3] == 0 && int(nb[4]) >= len(commandNames) {
			return 0, candNo
		}
	}
	return total, candYes
}

// sqlLike judges the first bytes of query text (n bytes in all): optional
// white space, then a letter, '(', '/', '-', '#' or '{', and no control
// characters or invalid UTF-8 in the bytes checked.
func sqlLike(body []byte, n int) cand {
	want := min(n, sqlCheck)
	if len(body) < want {
		return candMore
	}
	s := body[:want]
	lead := true
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return candNo
		}
		if lead && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			lead = false
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '(' || c == '/' || c == '-' || c == '#' || c == '{') {
				return candNo
			}
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size <= 1 {
			if !utf8.FullRune(s[i:]) && len(s) == want && want < n {
				break // cut by the check window
			}
			return candNo
		}
		i += size
	}
	if lead {
		return candNo
	}
	return candYes
}

// identLike judges a schema or table name or user: printable, valid UTF-8.
func identLike(b []byte, complete bool) cand {
	if len(b) == 0 {
		if complete {
			return candNo
		}
		return candMore
	}
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return candNo
		}
	}
	if !utf8.Valid(b) && complete {
		return candNo
	}
	return candYes
}

// compressedCandidate judges whether b starts with a compressed-protocol
// packet (sequence 0) that carries a client command. It inflates at most a
// few dozen bytes to look at the command.
func compressedCandidate(b []byte, final bool) (int, cand) {
	n, v := compressedCandidate1(b)
	if final && (v == candMore || v == candYes && n > len(b)) {
		return 0, candNo
	}
	return n, v
}

func compressedCandidate1(b []byte) (int, cand) {
	if len(b) >= 4 && b[3] != 0 {
		return 0, candNo
	}
	if len(b) < 7 {
		return 0, candMore
	}
	clen := int(le24(b))
	ulen := int(le24(b[4:]))
	if clen == 0 {
		return 0, candNo
	}
	total := 7 + clen
	payload := b[7:min(len(b), total)]
	if ulen == 0 {
		n, v := commandCandidate(payload, false)
		if v == candYes && n != clen {
			if n > clen {
				return 0, candNo
			}
		}
		if v != candYes {
			return 0, v
		}
		return total, candYes
	}
	if ulen < 5 || clen > ulen+64 {
		return 0, candNo
	}
	if len(payload) < 2 {
		return 0, candMore
	}
	if payload[0]&0x0f != 8 || (uint16(payload[0])<<8|uint16(payload[1]))%31 != 0 {
		return 0, candNo
	}
	want := min(ulen, 5+sqlCheck)
	if len(payload) < min(clen, 64) {
		return 0, candMore
	}
	zr, err := zlib.NewReader(bytes.NewReader(payload))
	if err != nil {
		return 0, candNo
	}
	out := make([]byte, want)
	n, _ := io.ReadFull(zr, out)
	if n < 5 {
		return 0, candNo
	}
	switch _, v := commandCandidate(out[:n], false); {
	case v == candYes:
		return total, candYes
	case v == candMore && n < want && len(payload) < clen:
		return 0, candMore
	}
	return 0, candNo
}
