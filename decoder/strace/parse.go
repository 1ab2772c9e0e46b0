package strace

import (
	"strconv"
	"strings"
	"time"
)

const (
	unfinishedMark = "<unfinished ...>"
	detachedMark   = "<detached ...>"
	resumedPrefix  = "<... "
	resumedSuffix  = " resumed>"
)

// atFDCWD is AT_FDCWD's value on Linux.
const atFDCWD = -100

// parseLine reads one non-empty line. resumed tells a "<... name
// resumed>" line, whose Args hold only the part after the mark.
func parseLine(s string, lineNo int) (c *Call, resumed bool, ok bool) {
	c = &Call{Line: lineNo}
	if strings.HasPrefix(s, "strace: ") || strings.HasPrefix(s, "[ Process ") {
		c.Kind, c.Text = Info, s
		return c, false, true
	}
	s = strings.TrimLeft(s, " ")
	// [pid N] (strace -f on a terminal) or "N " (-f with -o).
	if rest, found := strings.CutPrefix(s, "[pid "); found {
		n, after, ok := strings.Cut(rest, "]")
		pid, err := strconv.Atoi(strings.TrimSpace(n))
		if !ok || err != nil || pid <= 0 {
			return nil, false, false
		}
		c.PID, s = pid, strings.TrimLeft(after, " ")
	} else if tok, after, found := strings.Cut(s, " "); found && allDigits(tok) {
		pid, err := strconv.Atoi(tok)
		if err != nil || pid <= 0 {
			return nil, false, false
		}
		c.PID, s = pid, strings.TrimLeft(after, " ")
	}
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		tok, after, found := strings.Cut(s, " ")
		if !found || !c.setTime(tok) {
			return nil, false, false
		}
		s = strings.TrimLeft(after, " ")
	}
	switch {
	case strings.HasPrefix(s, "--- ") && strings.HasSuffix(s, " ---") && len(s) >= 8:
		c.Kind, c.Text = Signal, s[4:len(s)-4]
		c.Name, _, _ = strings.Cut(c.Text, " ")
		return c, false, true
	case strings.HasPrefix(s, "+++ ") && strings.HasSuffix(s, " +++") && len(s) >= 8:
		c.Text = s[4 : len(s)-4]
		if code, found := strings.CutPrefix(c.Text, "exited with "); found {
			n, err := strconv.Atoi(code)
			if err != nil {
				return nil, false, false
			}
			c.Kind, c.ExitCode = Exit, n
			return c, false, true
		}
		if sig, found := strings.CutPrefix(c.Text, "killed by "); found {
			c.Kind = Killed
			c.Name, _, _ = strings.Cut(sig, " ")
			return c, false, true
		}
		return nil, false, false
	case strings.HasPrefix(s, resumedPrefix):
		i := strings.Index(s, resumedSuffix)
		if i < 0 {
			return nil, false, false
		}
		c.Name = s[len(resumedPrefix):i]
		if !isName(c.Name) {
			return nil, false, false
		}
		if !c.finish(s[i+len(resumedSuffix):]) {
			return nil, false, false
		}
		return c, true, true
	}
	open := strings.IndexByte(s, '(')
	if open <= 0 || !isName(s[:open]) {
		return nil, false, false
	}
	c.Name = s[:open]
	if !c.finish(s[open+1:]) {
		return nil, false, false
	}
	return c, false, true
}

// finish reads the arguments after "(" up to the ")" closing them, the
// return value and the duration, or an <unfinished ...>/<detached ...> end.
func (c *Call) finish(s string) bool {
	end := closeParen(s)
	if end < 0 {
		t := strings.TrimRight(s, " ")
		switch {
		// strace writes the arguments so far ("3, ") and " <unfinished
		// ...>": drop that one space so that the resumed part joins on.
		case strings.HasSuffix(t, unfinishedMark):
			c.Unfinished = true
			c.Args = strings.TrimSuffix(t[:len(t)-len(unfinishedMark)], " ")
		case strings.HasSuffix(t, detachedMark):
			c.Unfinished, c.Detached = true, true
			c.Args = strings.TrimSuffix(t[:len(t)-len(detachedMark)], " ")
		default:
			return false
		}
		c.Arg, c.Strings = splitArgs(c.Args)
		return true
	}
	c.Args = s[:end]
	c.Arg, c.Strings = splitArgs(c.Args)
	rest := strings.TrimLeft(s[end+1:], " ")
	if strings.HasPrefix(rest, detachedMark) {
		c.Unfinished, c.Detached = true, true
		return true
	}
	rest, found := strings.CutPrefix(rest, "=")
	if !found {
		return false
	}
	rest = strings.TrimSpace(rest)
	// -T: " <0.000123>" at the end.
	if strings.HasSuffix(rest, ">") {
		if i := strings.LastIndex(rest, " <"); i >= 0 {
			if d, ok := parseSeconds(rest[i+2 : len(rest)-1]); ok {
				c.Dur, c.HasDur = d, true
				rest = strings.TrimRight(rest[:i], " ")
			}
		}
	}
	if rest == "" {
		return false
	}
	c.Ret = rest
	v := rest
	if i := strings.IndexByte(v, '<'); i > 0 {
		if e := annEnd(v, i); e > i && e <= len(v) {
			c.RetAnn = v[i+1 : e-1]
			v = v[:i] + v[e:]
		}
	}
	num, more, _ := strings.Cut(v, " ")
	if n, err := strconv.ParseInt(num, 0, 64); err == nil {
		c.Value, c.HasVal = n, true
	} else if u, err := strconv.ParseUint(num, 0, 64); err == nil {
		c.Value, c.HasVal = int64(u), true
	}
	if w, _, _ := strings.Cut(more, " "); len(w) > 1 && w[0] == 'E' && allUpper(w) {
		c.Errno = w
	}
	return true
}

// setTime reads a -t/-tt ("12:34:56[.123456]"), -ttt or -r time.
func (c *Call) setTime(tok string) bool {
	if h, rest, found := strings.Cut(tok, ":"); found {
		m, sec, found := strings.Cut(rest, ":")
		hh, err1 := strconv.Atoi(h)
		mm, err2 := strconv.Atoi(m)
		if !found || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 || len(h) > 2 || len(m) > 2 {
			return false
		}
		d, ok := parseSeconds(sec)
		if !ok || d >= 61*time.Second {
			return false
		}
		c.TimeKind = Clock
		c.Time = time.Date(0, 1, 1, hh, mm, 0, 0, time.UTC).Add(d)
		return true
	}
	whole, _, _ := strings.Cut(tok, ".")
	if len(whole) > 12 {
		return false
	}
	d, ok := parseSeconds(tok)
	if !ok {
		return false
	}
	// -r prints seconds since the previous line, -ttt since 1970: no
	// recording is from the first twelve days of 1970.
	if d < 1e6*time.Second {
		c.TimeKind, c.Rel = Relative, d
		return true
	}
	sec, _ := strconv.ParseInt(whole, 10, 64)
	c.TimeKind = Epoch
	c.Time = time.Unix(sec, int64(d-time.Duration(sec)*time.Second)).UTC()
	return true
}

// parseSeconds reads "S[.fraction]" (at most 12 digits before the point,
// 9 after are used) without floating point.
func parseSeconds(s string) (time.Duration, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(whole) > 12 || !allDigits(whole) || !allDigits(frac) {
		return 0, false
	}
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, false
	}
	var ns int64
	for i := 0; i < 9; i++ {
		ns *= 10
		if i < len(frac) {
			ns += int64(frac[i] - '0')
		}
	}
	return time.Duration(sec)*time.Second + time.Duration(ns), true
}

// closeParen returns the index of the ")" that closes the argument list s
// begins, skipping strings, nested brackets and -y annotations; -1 when s
// ends first.
func closeParen(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			_, e, _, ok := decodeString(s, i, false)
			if !ok {
				return -1
			}
			i = e - 1
		case '<':
			e := annEnd(s, i)
			if e < 0 {
				return -1
			}
			i = e - 1
		case '(', '{', '[':
			depth++
		case '}', ']':
			if depth > 0 {
				depth--
			}
		case ')':
			if depth == 0 {
				return i
			}
			depth--
		}
	}
	return -1
}

// annEnd returns the index after the ">" that closes the annotation whose
// "<" is at s[i]: the first ">" followed by the end or by a character
// that cannot be inside one (",", ")", "}", "]", " "), so that the "->" of
// a socket's endpoints does not end it. -1 when none does.
func annEnd(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		if s[j] != '>' {
			continue
		}
		if j+1 == len(s) {
			return j + 1
		}
		switch s[j+1] {
		case ',', ')', '}', ']', ' ':
			return j + 1
		}
	}
	return -1
}

// splitArgs splits a raw argument list at its top-level commas and
// decodes its strings, within MaxArgs and MaxStrings.
func splitArgs(s string) ([]Arg, []Str) {
	var args []Arg
	var strs []Str
	depth, start := 0, 0
	argStr := -1
	add := func(end int) {
		raw := s[start:end]
		lead := len(raw) - len(strings.TrimLeft(raw, " "))
		raw = strings.TrimSpace(raw)
		a := Arg{Raw: raw, Str: -1}
		if argStr >= 0 && strs[argStr].off == start+lead && strs[argStr].end == start+lead+len(raw) {
			a.Str = argStr
		}
		a.setFD()
		args = append(args, a)
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			v, e, cut, ok := decodeString(s, i, true)
			if !ok {
				i = len(s)
				break
			}
			if len(strs) < MaxStrings {
				strs = append(strs, Str{Arg: len(args), Value: v, Cut: cut, off: i, end: e})
				argStr = len(strs) - 1
			}
			i = e - 1
		case '<':
			if e := annEnd(s, i); e > 0 {
				i = e - 1
			}
		case '(', '{', '[':
			depth++
		case ')', '}', ']':
			if depth > 0 {
				depth--
			}
		case ',':
			if depth == 0 && len(args) < MaxArgs-1 {
				add(i)
				start, argStr = i+1, -1
			}
		}
	}
	if strings.TrimSpace(s[start:]) != "" || len(args) > 0 {
		add(len(s))
	}
	return args, strs
}

// setFD recognises "12", "12<…>", "AT_FDCWD" and "AT_FDCWD<…>".
func (a *Arg) setFD() {
	num, ann := a.Raw, ""
	if i := strings.IndexByte(num, '<'); i > 0 && strings.HasSuffix(num, ">") {
		num, ann = num[:i], num[i+1:len(num)-1]
	}
	switch {
	case num == "AT_FDCWD":
		a.FD, a.HasFD, a.Ann = atFDCWD, true, ann
	case len(num) <= 10 && allDigits(num) && num != "" || len(num) > 1 && len(num) <= 11 && num[0] == '-' && allDigits(num[1:]):
		n, err := strconv.Atoi(num)
		if err == nil {
			a.FD, a.HasFD, a.Ann = n, true, ann
		}
	}
}

// decodeString decodes the quoted string at s[i] ('"'): it returns the
// bytes (at most MaxString; when keep is false, none), the index after
// the closing quote and any "..." that follows, and whether strace cut it.
func decodeString(s string, i int, keep bool) (string, int, bool, bool) {
	var b []byte
	capped := false
	put := func(c byte) {
		if !keep {
			return
		}
		if len(b) >= MaxString {
			capped = true
			return
		}
		b = append(b, c)
	}
	for j := i + 1; j < len(s); j++ {
		c := s[j]
		switch c {
		case '"':
			e := j + 1
			cut := capped
			if strings.HasPrefix(s[e:], "...") {
				e += 3
				cut = true
			}
			return string(b), e, cut, true
		case '\\':
			j++
			if j >= len(s) {
				return "", 0, false, false
			}
			switch s[j] {
			case 'n':
				put('\n')
			case 'r':
				put('\r')
			case 't':
				put('\t')
			case 'v':
				put('\v')
			case 'f':
				put('\f')
			case 'a':
				put('\a')
			case 'b':
				put('\b')
			case 'x':
				if j+2 < len(s) && isHex(s[j+1]) && isHex(s[j+2]) {
					put(unhex(s[j+1])<<4 | unhex(s[j+2]))
					j += 2
				} else {
					return "", 0, false, false
				}
			case '0', '1', '2', '3', '4', '5', '6', '7':
				v := 0
				k := 0
				for ; k < 3 && j+k < len(s) && s[j+k] >= '0' && s[j+k] <= '7'; k++ {
					v = v*8 + int(s[j+k]-'0')
				}
				put(byte(v))
				j += k - 1
			default:
				put(s[j])
			}
		default:
			put(c)
		}
	}
	return "", 0, false, false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func allUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// isName accepts syscall names: letters, digits, "_" ("_llseek",
// "syscall_0x1b4") and strace's "????" for an unknown one.
func isName(s string) bool {
	if s == "" || len(s) > 64 || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	if strings.Trim(s, "?") == "" {
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
