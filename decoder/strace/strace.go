// Package strace reads the text strace writes (strace -o FILE, with or
// without -f, -ff, -t/-tt/-ttt, -r, -T, -y/-yy, -s N) into Call values: the
// other kind of capture flowmap aligns with the TCP streams to draw a
// service's own file work ("Local File System").
//
// A Reader is a function of the bytes it reads: no goroutines, no printing.
// It caps every length the input can grow (lines, strings, arguments,
// pending unfinished calls) and never panics; on a line it cannot read it
// stops with a sticky *SyntaxError that names file and line, after
// returning every call read before it.
package strace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/redact"
)

// Caps on what one line may make the reader keep.
const (
	// MaxLine is the longest line read (strace -s 65536 on a 64 KiB write
	// prints about 260 KiB).
	MaxLine = 1 << 20
	// MaxString is the most decoded bytes kept of one string; a longer one
	// is kept cut, with Cut set.
	MaxString = 64 << 10
	// MaxArgs is the most top-level arguments split out of one call; the
	// rest stays in the last one's Raw.
	MaxArgs = 16
	// MaxStrings is the most strings decoded per call (writev, execve).
	MaxStrings = 64
	// MaxPending is the most unfinished calls waiting for their resumption;
	// past it a new unfinished call is returned as it is.
	MaxPending = 4096
)

// ErrSyntax is the sentinel every *SyntaxError wraps.
var ErrSyntax = errors.New("strace: not a syscall line")

// SyntaxError is a line the reader could not read.
type SyntaxError struct {
	File string // as given to NewReader; may be empty
	Line int    // 1-based
	What string // "not a syscall line", "line too long"
	Text string // the line's start, at most 60 bytes, strings left out
	// Last is set when the line is the input's last and has no newline:
	// the file was cut mid-line (strace killed, a copy cut short).
	Last bool
}

func (e *SyntaxError) Error() string {
	where := e.File
	if where == "" {
		where = "line " + strconv.Itoa(e.Line)
	} else {
		where += ":" + strconv.Itoa(e.Line)
	}
	return fmt.Sprintf("strace: %s: %s: %q", where, e.What, e.Text)
}

// Unwrap lets errors.Is(err, ErrSyntax) hold.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// Kind tells a syscall from strace's other lines.
type Kind uint8

const (
	// Syscall is name(args) = ret.
	Syscall Kind = iota
	// Signal is "--- SIGCHLD {si_signo=…} ---".
	Signal
	// Exit is "+++ exited with N +++".
	Exit
	// Killed is "+++ killed by SIGKILL +++".
	Killed
	// Info is a line strace writes about itself ("strace: Process N
	// attached", "[ Process PID=N runs in 32 bit mode. ]").
	Info
)

// TimeKind is what the time prefix of a line was.
type TimeKind uint8

const (
	// NoTime: no -t/-tt/-ttt/-r.
	NoTime TimeKind = iota
	// Clock: -t or -tt, a time of day without a date (Time is on day 0 of
	// year 0, UTC: the caller adds the capture's date).
	Clock
	// Epoch: -ttt, seconds since 1970 (Time is absolute, UTC).
	Epoch
	// Relative: -r, time since the previous line (Rel).
	Relative
)

// Arg is one top-level argument of a call.
type Arg struct {
	Raw string // as printed, annotation and quotes included
	// FD is set when the argument is a bare integer or an integer with a
	// -y/-yy annotation (12<TCP:[…]>, AT_FDCWD</> has FD -100).
	FD    int
	HasFD bool
	Ann   string // the annotation without <>: "/var/lib/…", "TCP:[a:p->b:p]"
	Str   int    // index in Call.Strings when the argument is a string, else -1
}

// Str is one quoted string of a call: path, buffer or name.
type Str struct {
	Arg   int    // top-level argument it is in (or inside)
	Value string // decoded bytes, at most MaxString
	// Cut is set when strace printed "..." after it (-s N shorter than
	// the buffer) or the reader capped it.
	Cut bool
	off int // [off, end) of the quoted form in Call.Args
	end int
}

// Call is one syscall (or signal, exit) as strace printed it; an
// <unfinished ...> call and its <... resumed> line are joined into one.
type Call struct {
	Kind Kind
	Line int // line of the call's start
	PID  int // the line's pid, or the -ff file's; 0 when not shown
	// TimeKind tells which of Time and Rel is set.
	TimeKind TimeKind
	Time     time.Time
	Rel      time.Duration
	Name     string // syscall name; signal name for Signal
	Args     string // raw text between the parentheses (joined when resumed)
	Arg      []Arg
	Strings  []Str
	// Ret is the raw return text after "= " ("15</var/…>", "-1 ENOENT (No
	// such file or directory)", "?"), without the duration.
	Ret    string
	Value  int64 // numeric return value when HasValue
	HasVal bool
	RetAnn string // -yy annotation on a returned fd
	Errno  string // "ENOENT", "EAGAIN"
	// Dur is the -T time spent in the call; HasDur tells 0 from absent.
	Dur    time.Duration
	HasDur bool
	// Unfinished is set on a call whose result never came (end of the
	// file, <detached ...>, the process died); Detached on one strace
	// left with <detached ...>.
	Unfinished bool
	Detached   bool
	// Resumed is set on a call joined from <unfinished ...> and
	// <... resumed>; ResumeLine and ResumeTime are the second line's.
	Resumed    bool
	ResumeLine int
	ResumeTime time.Time
	ResumeRel  time.Duration
	Text       string // Signal, Exit, Killed, Info: the text between the marks
	ExitCode   int    // Exit

	policy *redact.Policy
}

// FD returns the first argument's fd, the one most file and socket
// syscalls act on.
func (c *Call) FD() (Arg, bool) {
	if len(c.Arg) == 0 || !c.Arg[0].HasFD {
		return Arg{}, false
	}
	return c.Arg[0], true
}

// Buffer returns the string in argument 1: the data of read, write,
// recvfrom and sendto, the path of openat and newfstatat.
func (c *Call) Buffer() (Str, bool) {
	for _, s := range c.Strings {
		if s.Arg == 1 {
			return s, true
		}
	}
	return Str{}, false
}

// Endpoints parses a -yy socket annotation, "TCP:[10.0.20.11:9292->10.0.20.100:54584]"
// (local->peer) or "TCPv6:[[::1]:5000->[::1]:41234]"; a listening socket's
// "TCP:[0.0.0.0:9292]" has no peer.
func Endpoints(ann string) (proto string, local, peer netip.AddrPort, ok bool) {
	proto, rest, found := strings.Cut(ann, ":[")
	if !found || !strings.HasSuffix(rest, "]") || proto == "" {
		return "", local, peer, false
	}
	rest = rest[:len(rest)-1]
	l, p, arrow := strings.Cut(rest, "->")
	var err error
	if local, err = netip.ParseAddrPort(l); err != nil {
		return "", local, peer, false
	}
	if arrow {
		if peer, err = netip.ParseAddrPort(p); err != nil {
			return "", local, peer, false
		}
	}
	return proto, local, peer, true
}

// Summary is a one-line description: `openat("/var/lib/…") = 15`.
func (c *Call) Summary() string {
	switch c.Kind {
	case Syscall:
		s := c.Name + "(" + c.Args + ")"
		if len(s) > 80 {
			s = s[:77] + "..."
		}
		if c.Unfinished {
			return s + " unfinished"
		}
		return s + " = " + c.Ret
	case Signal:
		return "--- " + c.Text + " ---"
	case Info:
		return c.Text
	}
	return "+++ " + c.Text + " +++"
}

// Redacted returns a copy whose strings (and Args, where they are) went
// through the reader's redaction policy: headers by name, bodies as JSON
// or forms, token shapes anywhere. It returns c when nothing changes.
func (c *Call) Redacted() decoder.Message {
	p := c.policy
	if p.Shows() || len(c.Strings) == 0 {
		return c
	}
	var cp *Call
	var b strings.Builder
	last := 0
	for i, s := range c.Strings {
		r := redactBuf(p, s.Value)
		if r == s.Value {
			continue
		}
		if cp == nil {
			x := *c
			x.Strings = append([]Str(nil), c.Strings...)
			cp = &x
		}
		cp.Strings[i].Value = r
		if s.off >= last && s.end <= len(c.Args) {
			b.WriteString(c.Args[last:s.off])
			b.WriteString(quote(r))
			if s.Cut {
				b.WriteString("...")
			}
			last = s.end
		}
	}
	if cp == nil {
		return c
	}
	b.WriteString(c.Args[last:])
	cp.Args = b.String()
	cp.Arg = append([]Arg(nil), c.Arg...)
	for i := range cp.Arg {
		if k := cp.Arg[i].Str; k >= 0 && k < len(cp.Strings) {
			cp.Arg[i].Raw = quote(cp.Strings[k].Value)
			if cp.Strings[k].Cut {
				cp.Arg[i].Raw += "..."
			}
		}
	}
	return cp
}

// redactBuf redacts a buffer that may hold HTTP headers ("X-Auth-Token:
// gAAAA…\r\n", by the header's name) and a body (JSON, form, shapes).
func redactBuf(p *redact.Policy, s string) string {
	if len(s) < 8 {
		return s
	}
	var b strings.Builder
	changed := false
	rest := s
	for rest != "" {
		line, after, nl := strings.Cut(rest, "\n")
		name, v, ok := strings.Cut(line, ": ")
		if ok && isToken(name) {
			cr := strings.HasSuffix(v, "\r")
			v = strings.TrimSuffix(v, "\r")
			if r := p.Header(name, v); r != v {
				changed = true
				line = name + ": " + r
				if cr {
					line += "\r"
				}
			}
		}
		b.WriteString(line)
		if nl {
			b.WriteByte('\n')
		}
		rest = after
	}
	out := s
	if changed {
		out = b.String()
	}
	return p.Body(out, "")
}

func isToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// quote prints s the way strace does.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < ' ' || c >= 0x7f {
				o := strconv.FormatInt(int64(c), 8)
				if i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '7' {
					// a short \0 before the digit 7 would read back as \07.
					o = strings.Repeat("0", 3-len(o)) + o
				}
				b.WriteString(`\` + o)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Options tune a Reader. The zero value is usable.
type Options struct {
	// Policy redacts the strings of the calls' Redacted copies; nil is
	// redact's default policy.
	Policy *redact.Policy
}

// Reader reads calls from strace output, one at a time, like
// bufio.Scanner: for r.Next() { c := r.Call() }; then r.Err().
type Reader struct {
	name    string
	pid     int
	br      *bufio.Reader
	opts    Options
	line    int
	err     error
	eof     bool
	noNL    bool // the last line read had no newline (end of input)
	call    *Call
	out     []*Call       // ready to return, in order
	pending map[int]*Call // pid -> unfinished call
	order   []int         // pids of pending, in order of their start
	buf     []byte
}

// NewReader reads strace output from r. name (the file's name, may be
// empty) goes into errors; a -ff file's ".PID" suffix gives the pid of
// lines that show none.
func NewReader(r io.Reader, name string, opts Options) *Reader {
	rd := &Reader{name: name, br: bufio.NewReaderSize(r, 64<<10), opts: opts, pending: map[int]*Call{}}
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		if n, err := strconv.Atoi(name[i+1:]); err == nil && n > 0 {
			rd.pid = n
		}
	}
	return rd
}

// Call is the call Next found. It is the caller's to keep.
func (r *Reader) Call() *Call { return r.call }

// Err is the first error met (nil at a clean end of input).
func (r *Reader) Err() error { return r.err }

// Next advances to the next call. A call joined from <unfinished ...> and
// <... resumed> is returned at its resumption, so calls of different pids
// come in order of completion; unfinished calls never resumed come at the
// end (or at their process's exit), marked Unfinished.
func (r *Reader) Next() bool {
	for {
		if len(r.out) > 0 {
			r.call = r.out[0]
			r.out[0] = nil
			r.out = r.out[1:]
			return true
		}
		if r.err != nil || r.eof {
			r.call = nil
			return false
		}
		r.step()
	}
}

// step reads one line and queues what it completes.
func (r *Reader) step() {
	line, err := r.readLine()
	if err != nil {
		if err != io.EOF {
			r.err = err
		}
		r.eof = true
		r.flushPending(-1)
		return
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	c, resumed, ok := parseLine(string(line), r.line)
	if !ok {
		r.fail("not a syscall line", line)
		r.flushPending(-1)
		return
	}
	if c.PID == 0 {
		c.PID = r.pid
	}
	c.policy = r.opts.Policy
	switch {
	case resumed:
		p := r.pending[c.PID]
		if p == nil || p.Name != c.Name {
			// A resumption without its start (strace attached mid-call).
			c.Resumed = true
			r.out = append(r.out, c)
			return
		}
		r.unpend(c.PID)
		r.out = append(r.out, join(p, c))
	case c.Unfinished && !c.Detached && c.Kind == Syscall:
		if old := r.pending[c.PID]; old != nil {
			r.unpend(c.PID)
			r.out = append(r.out, old)
		}
		if len(r.pending) >= MaxPending {
			r.out = append(r.out, c)
			return
		}
		r.pending[c.PID] = c
		r.order = append(r.order, c.PID)
	case c.Kind == Exit || c.Kind == Killed:
		r.flushPending(c.PID)
		r.out = append(r.out, c)
	default:
		r.out = append(r.out, c)
	}
}

func (r *Reader) unpend(pid int) {
	delete(r.pending, pid)
	for i, p := range r.order {
		if p == pid {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
}

// flushPending queues the unfinished calls of pid (-1: all) as they are.
func (r *Reader) flushPending(pid int) {
	keep := r.order[:0]
	for _, p := range r.order {
		if pid >= 0 && p != pid {
			keep = append(keep, p)
			continue
		}
		if c := r.pending[p]; c != nil {
			r.out = append(r.out, c)
			delete(r.pending, p)
		}
	}
	r.order = keep
}

func (r *Reader) fail(what string, line []byte) {
	r.err = &SyntaxError{File: r.name, Line: r.line, What: what, Text: excerpt(line), Last: r.noNL}
}

// secretRE finds a secret-looking name's value outside strace's strings
// (a config file given for a strace file: "password = …").
var secretRE = regexp.MustCompile(`(?i)((?:pass|secret|token|key|auth)[A-Za-z0-9_-]*\s*[=:]\s*)[^\s,;]+`)

// excerpt is the start of a bad line for an error message: at most 60
// bytes, the contents of its strings left out ("…") but for paths, since
// strace's strings carry headers and bodies (tokens, passwords), and any
// secret-looking name's value too.
func excerpt(line []byte) string {
	line = bytes.TrimRight(line, "\r\n")
	var b []byte
	in, esc, path := false, false, false
	for i := 0; i < len(line) && len(b) < 60; i++ {
		c := line[i]
		switch {
		case !in:
			b = append(b, c)
			if c == '"' {
				in, esc = true, false
				path = i+1 < len(line) && line[i+1] == '/'
				if !path {
					b = append(b, "…"...)
				}
			}
		case esc:
			esc = false
			if path {
				b = append(b, c)
			}
		case c == '\\':
			esc = true
			if path {
				b = append(b, c)
			}
		case c == '"':
			in = false
			b = append(b, c)
		case path:
			b = append(b, c)
		}
	}
	return secretRE.ReplaceAllString(string(b), "${1}…")
}

// readLine returns the next line without its newline; at most MaxLine
// bytes are kept.
func (r *Reader) readLine() ([]byte, error) {
	r.buf = r.buf[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(r.buf)+len(chunk) > MaxLine {
			r.line++
			r.fail("line too long", append(r.buf, chunk...))
			return nil, r.err
		}
		r.buf = append(r.buf, chunk...)
		switch err {
		case nil:
			r.line++
			return bytes.TrimRight(r.buf, "\r\n"), nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			if len(r.buf) == 0 {
				return nil, io.EOF
			}
			r.line++
			r.noNL = true
			return r.buf, nil
		default:
			return nil, err
		}
	}
}

// join makes one call of an unfinished start and its resumption.
func join(start, res *Call) *Call {
	c := *start
	args := start.Args
	tail := res.Args
	c.Args = args + tail
	c.Arg, c.Strings = splitArgs(c.Args)
	c.Ret, c.Value, c.HasVal, c.RetAnn, c.Errno = res.Ret, res.Value, res.HasVal, res.RetAnn, res.Errno
	c.Dur, c.HasDur = res.Dur, res.HasDur
	c.Unfinished, c.Detached = res.Unfinished, res.Detached
	c.Resumed = true
	c.ResumeLine = res.Line
	c.ResumeTime, c.ResumeRel = res.Time, res.Rel
	return &c
}
