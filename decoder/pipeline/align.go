package pipeline

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/strace"
)

// Placement of a file syscall on the capture's clock.
const (
	// ByBytes: between socket syscalls whose bytes were found in the
	// captured TCP streams (no strace clock, or the clocks disagree).
	ByBytes = "strace bytes"
	// ByClock: the strace clock (-t/-tt/-ttt), checked against the
	// socket syscalls whose bytes were found.
	ByClock = "strace clock"
)

// OpKind sorts file syscalls by what they do.
type OpKind string

const (
	OpOpen   OpKind = "open"
	OpRead   OpKind = "read"
	OpWrite  OpKind = "write"
	OpClose  OpKind = "close"
	OpStat   OpKind = "stat"   // stat, access, lseek, ioctl, fcntl, getdents…
	OpSync   OpKind = "sync"   // fsync, fdatasync
	OpRemove OpKind = "remove" // unlink, rmdir
	OpRename OpKind = "rename"
	OpCreate OpKind = "create" // mkdir, link, symlink, truncate
)

// FileOp is a syscall on a file (not a socket) of a traced process,
// placed on the capture's clock.
type FileOp struct {
	Name string // the syscall ("openat", "read")
	Line int    // its line in the strace file
	// PID is the process: the line's (-f: its thread's getpid() answer
	// when the thread made one, else the thread id), or the file's.
	PID  int
	Kind OpKind
	// Open numbers the open file (1-based, per strace file) an fd
	// syscall acted on; 0 for syscalls by path.
	Open  int
	FD    int    // -1 for syscalls by path
	Path  string // "" when the fd was opened before strace attached (and no -y)
	To    string // rename: the new path
	Flags string // open: the flags ("O_RDONLY|O_CLOEXEC")
	Dir   bool   // opened with O_DIRECTORY
	Bytes int64  // read, write: the count returned
	Errno string // a failed call's error ("ENOENT")
	Time  time.Time
	Dur   time.Duration // -T: time in the call (0 when not shown)
	By    string        // ByBytes or ByClock
	// After is the socket syscall (its index in the file's calls) the op
	// was placed after by bytes, -1 when before the first: two ops with
	// the same After have no measured time between them.
	After int
	// Serving is the inbound connection the process last exchanged bytes
	// on (the request it was serving), nil when none; for a syscall on an
	// fd opened in the trace, the one its open was serving (a worker
	// serving two requests at once reads a file for the one that opened
	// it, whatever it sent on the other in between).
	Serving *decoder.Conn
	// Current is the inbound connection the process last exchanged bytes
	// on before the syscall (Serving unless inherited from the open).
	Current *decoder.Conn
	// Decided is the time of the syscall that chose Serving: the open of
	// the fd, or the syscall itself. Another request served by the
	// process in progress then makes Serving a guess.
	Decided time.Time
	// Guess says why Serving is a guess, "" when it is not: the served
	// socket was found in the capture by the bytes strace showed alone,
	// with no address (-yy, accept's) or agreeing clock to confirm it.
	Guess string
}

// GuessBytes is FileOp.Guess for a served socket found by its bytes alone.
const GuessBytes = "served socket found by strace's bytes alone"

// Pin is a socket of a traced process found in the capture.
type Pin struct {
	FD     int
	Conn   *decoder.Conn
	Server bool // the process is the connection's server side
	Ops    int  // data syscalls (with bytes) on it
	// Exact is set when an address named the connection (-yy endpoints,
	// accept's peer, connect's address) and the bytes agreed; else only
	// the bytes strace showed found it, which look alike from run to run
	// (the same requests, the same 32-byte prefixes).
	Exact bool
	// Matched is how many of them had their shown bytes found in the
	// stream at their place; Checked how many could be compared.
	Matched, Checked int
}

// StraceFile is one strace output aligned with the capture.
type StraceFile struct {
	Name string
	// PIDs are the pids the lines show (-f: thread ids), the file's
	// (-ff's .PID suffix), or else the one its getpid() calls returned.
	PIDs     []int
	TimeKind strace.TimeKind
	// Skew is the capture clock minus the strace clock (median over the
	// socket syscalls found in the capture), when the lines have times.
	Skew time.Duration
	// Clock is set when the strace clock agreed with the capture's (within
	// a second, steadily, by the bytes of its socket syscalls).
	Clock bool
	Pins  []Pin
	Ops   []FileOp
	Calls int // syscalls read
	// Capped is the call (0-based) at which the file was read no further:
	// a cap on the syscalls kept was reached (0: read whole).
	Capped int
	// Cut is the line the file was cut at mid-line (its last), 0 when whole.
	Cut int
	// SocketOps is how many data syscalls with bytes the sockets had;
	// Unpinned how many sockets with such syscalls were not found in the
	// capture (not captured, or two connections fit as well).
	SocketOps, Unpinned int
}

// Served are the connections the process served (accepted).
func (f *StraceFile) Served() []*decoder.Conn {
	var out []*decoder.Conn
	for _, p := range f.Pins {
		if p.Server {
			out = append(out, p.Conn)
		}
	}
	return out
}

// segKind is what an fd refers to.
type segKind uint8

const (
	segUnknown segKind = iota
	segSocket
	segFile
	segPipe
)

// seg is one fd's life: from the syscall that returned it (or its first
// use) to its close.
type seg struct {
	fd       int
	kind     segKind
	open     int // FileOp.Open
	path     string
	flags    string
	dir      bool
	start    bool // began in the trace (socket, accept, open)
	accepted bool
	local    netip.AddrPort // -yy
	peer     netip.AddrPort // accept's peer, connect's address, -yy peer
	ops      []sockOp
	pin      *Stream
	server   bool
	base     [2]int64
	notTCP   bool // a socket of another kind: not in the captured streams
	exact    bool // Pin.Exact
}

type sockOp struct {
	call   int // index in calls
	in     bool
	n      int64
	prefix string // the shown bytes, at most maxPrefix
	peek   bool
	pid    int
	ct     time.Time // strace time
	tk     strace.TimeKind
}

var (
	sinRE  = regexp.MustCompile(`sin_port=htons\((\d+)\), sin_addr=inet_addr\("([0-9.]+)"\)`)
	sin6RE = regexp.MustCompile(`sin6_port=htons\((\d+)\).*inet_pton\(AF_INET6, "([0-9a-fA-F:.]+)"`)
	pipeRE = regexp.MustCompile(`^\[(\d+)[^,\]]*, (\d+)`)
)

func sockaddr(raw string) netip.AddrPort {
	for _, re := range []*regexp.Regexp{sinRE, sin6RE} {
		if m := re.FindStringSubmatch(raw); m != nil {
			port, err1 := strconv.Atoi(m[1])
			a, err2 := netip.ParseAddr(m[2])
			if err1 == nil && err2 == nil {
				return netip.AddrPortFrom(a, uint16(port))
			}
		}
	}
	return netip.AddrPort{}
}

var (
	recvCalls = map[string]bool{"recvfrom": true, "recv": true, "recvmsg": true, "read": true, "readv": true}
	sendCalls = map[string]bool{"sendto": true, "send": true, "sendmsg": true, "write": true, "writev": true}
	sockOnly  = map[string]bool{"recvfrom": true, "recv": true, "recvmsg": true, "recvmmsg": true, "sendto": true, "send": true,
		"sendmsg": true, "sendmmsg": true, "shutdown": true, "getsockname": true, "getpeername": true, "setsockopt": true,
		"getsockopt": true, "bind": true, "listen": true, "connect": true, "accept": true, "accept4": true}
	fdFileCalls = map[string]OpKind{"read": OpRead, "pread64": OpRead, "readv": OpRead, "preadv": OpRead, "preadv2": OpRead,
		"write": OpWrite, "pwrite64": OpWrite, "writev": OpWrite, "pwritev": OpWrite, "pwritev2": OpWrite,
		"lseek": OpStat, "fstat": OpStat, "newfstatat": OpStat, "statx": OpStat, "ioctl": OpStat, "fcntl": OpStat,
		"getdents64": OpStat, "getdents": OpStat, "flock": OpStat, "fadvise64": OpStat, "fstatfs": OpStat,
		"fsync": OpSync, "fdatasync": OpSync, "sync_file_range": OpSync, "ftruncate": OpCreate, "fallocate": OpCreate,
		"fchmod": OpStat, "fchown": OpStat, "close": OpClose}
	pathCalls = map[string]OpKind{"stat": OpStat, "lstat": OpStat, "newfstatat": OpStat, "statx": OpStat, "access": OpStat,
		"faccessat": OpStat, "faccessat2": OpStat, "readlink": OpStat, "readlinkat": OpStat, "statfs": OpStat,
		"chmod": OpStat, "fchmodat": OpStat, "chown": OpStat, "fchownat": OpStat, "utimensat": OpStat,
		"unlink": OpRemove, "unlinkat": OpRemove, "rmdir": OpRemove,
		"rename": OpRename, "renameat": OpRename, "renameat2": OpRename,
		"mkdir": OpCreate, "mkdirat": OpCreate, "link": OpCreate, "linkat": OpCreate, "symlink": OpCreate,
		"symlinkat": OpCreate, "truncate": OpCreate}
	openCalls = map[string]bool{"open": true, "openat": true, "openat2": true, "creat": true}
)

// Caps on what one strace file may make Align keep or do, so that a huge
// or hostile file costs bounded memory and time: past them the file is
// read no further (StraceFile.Capped; flow notes it).
const (
	maxFileOps = 1 << 18 // file syscalls kept (a 16 GB image read in 64 KB reads)
	maxSockOps = 1 << 18 // socket data syscalls kept
	maxPrefix  = 256     // bytes of a socket syscall's shown bytes kept (-s 256)
	// maxBlind is how many sockets with no address (no -yy, accept or
	// connect address) are searched for in every captured stream.
	maxBlind = 64
)

// Align places the file syscalls of one strace file on the capture's
// clock. It pins each socket of the traced process to a captured TCP
// connection: by the -yy endpoints, or by the peer address accept and
// connect show, confirmed (or, with neither, found) by the bytes strace
// shows of each recv and send, at the offsets the returned lengths add up
// to. A file syscall is then placed between the socket syscalls around it
// (or by the strace clock, checked against them), under the inbound
// connection the process last worked on (for an fd opened in the trace:
// the one its open was under).
//
// It returns nil and a diagnostic saying why when nothing of the file
// could be found in the capture: nothing should be drawn from it.
func Align(s *Streams, name string, calls []*strace.Call) (*StraceFile, []decoder.Diagnostic) {
	a := newAligner(s, name)
	for _, c := range calls {
		if !a.add(c) {
			break
		}
	}
	return a.finish()
}

// aligner reads one strace file's calls one by one, keeping only what
// alignment needs (small per-socket records, the file syscalls), not the
// calls.
type aligner struct {
	s      *Streams
	f      *StraceFile
	segs   map[int]*seg
	socks  []*seg // sockets with data syscalls, in order of the first
	opens  int
	pids   map[int]bool
	own    map[int64]bool // getpid() answers
	tgid   map[int]int    // -f's thread id -> its getpid() answer (the process)
	ops    []FileOp       // the file syscalls, placed in finish (StraceFile.Ops)
	fops   []pending      // where each was in the file
	i      int            // index of the next call
	nsock  int            // socket data syscalls kept
	capped bool
}

type pending struct {
	idx int
	pid int // the line's pid (0 when not shown)
	ct  time.Time
	tk  strace.TimeKind
}

func newAligner(s *Streams, name string) *aligner {
	return &aligner{s: s, f: &StraceFile{Name: name, TimeKind: strace.NoTime}, segs: map[int]*seg{},
		pids: map[int]bool{}, own: map[int64]bool{}, tgid: map[int]int{}}
}

func (a *aligner) get(fd int, ann string) *seg {
	if sg := a.segs[fd]; sg != nil {
		return sg
	}
	sg := &seg{fd: fd}
	switch {
	case strings.HasPrefix(ann, "/"):
		sg.kind, sg.path = segFile, ann
		a.opens++
		sg.open = a.opens
	case strings.HasPrefix(ann, "pipe:"):
		sg.kind = segPipe
	case ann != "":
		sg.kind = segSocket
		switch proto, l, p, ok := strace.Endpoints(ann); {
		case ok && strings.HasPrefix(proto, "TCP"):
			sg.local, sg.peer = l, p
		case strings.HasPrefix(ann, "socket:["):
			// -yy run outside the socket's network namespace: a
			// socket of unknown kind, found by its bytes alone
		default:
			sg.notTCP = true // UNIX:[…], UDP:[…], NETLINK:[…], anon_inode:…
		}
	}
	a.segs[fd] = sg
	return sg
}

func (a *aligner) fresh(fd int, kind segKind) *seg {
	sg := &seg{fd: fd, kind: kind, start: true}
	a.segs[fd] = sg
	return sg
}

func (a *aligner) addOp(op FileOp, c *strace.Call, i int) {
	if len(a.fops) >= maxFileOps {
		a.capped = true
		return
	}
	op.Name, op.Line, op.PID = c.Name, c.Line, c.PID
	if c.HasDur {
		op.Dur = c.Dur
	}
	a.ops = append(a.ops, op)
	a.fops = append(a.fops, pending{i, c.PID, c.Time, c.TimeKind})
}

// add reads one call; it returns false once a cap is reached (the file
// is read no further).
func (a *aligner) add(c *strace.Call) bool {
	i := a.i
	a.i++
	if c.Kind != strace.Syscall {
		return true
	}
	f := a.f
	f.Calls++
	if c.PID != 0 && !a.pids[c.PID] {
		a.pids[c.PID] = true
		f.PIDs = append(f.PIDs, c.PID)
	}
	if c.TimeKind != strace.NoTime {
		f.TimeKind = c.TimeKind
	}
	if c.Name == "getpid" && c.HasVal && c.Value > 0 {
		if len(a.own) < 2 {
			a.own[c.Value] = true
		}
		if c.PID != 0 && len(a.tgid) < 1<<12 {
			a.tgid[c.PID] = int(c.Value)
		}
	}
	ok := c.HasVal && c.Value >= 0
	fdArg, hasFD := c.FD()
	switch {
	case c.Name == "socket" && ok:
		sg := a.fresh(int(c.Value), segSocket)
		// only TCP is in the streams (not AF_UNIX, netlink, UDP)
		sg.notTCP = !strings.Contains(c.Args, "AF_INET") || !strings.Contains(c.Args, "SOCK_STREAM")
	case (c.Name == "accept" || c.Name == "accept4") && ok:
		sg := a.fresh(int(c.Value), segSocket)
		sg.accepted = true
		if len(c.Arg) > 1 {
			sg.peer = sockaddr(c.Arg[1].Raw)
		}
		if _, l, p, ok := strace.Endpoints(c.RetAnn); ok {
			sg.local, sg.peer = l, p
		}
	case c.Name == "connect" && hasFD:
		sg := a.get(fdArg.FD, fdArg.Ann)
		sg.kind = segSocket
		if len(c.Arg) > 1 && !sg.peer.IsValid() {
			sg.peer = sockaddr(c.Arg[1].Raw)
		}
	case openCalls[c.Name]:
		op := FileOp{Kind: OpOpen, FD: -1, Errno: c.Errno}
		if b, found := pathString(c); found {
			op.Path = b
		}
		for _, x := range c.Arg {
			if strings.Contains(x.Raw, "O_RDONLY") || strings.Contains(x.Raw, "O_WRONLY") || strings.Contains(x.Raw, "O_RDWR") {
				op.Flags = x.Raw
			}
		}
		if c.Name == "creat" {
			op.Flags = "O_CREAT|O_WRONLY|O_TRUNC"
		}
		op.Dir = strings.Contains(op.Flags, "O_DIRECTORY")
		if ok {
			sg := a.fresh(int(c.Value), segFile)
			sg.path, sg.flags, sg.dir = op.Path, op.Flags, op.Dir
			a.opens++
			sg.open = a.opens
			op.Open, op.FD = sg.open, sg.fd
		}
		a.addOp(op, c, i)
	case (c.Name == "pipe" || c.Name == "pipe2") && len(c.Arg) > 0:
		if m := pipeRE.FindStringSubmatch(c.Arg[0].Raw); m != nil {
			x, _ := strconv.Atoi(m[1])
			y, _ := strconv.Atoi(m[2])
			a.fresh(x, segPipe)
			a.fresh(y, segPipe)
		}
	case (c.Name == "dup" || c.Name == "dup2" || c.Name == "dup3") && ok && hasFD:
		a.segs[int(c.Value)] = a.get(fdArg.FD, fdArg.Ann)
	case hasFD && fdArg.FD >= 0:
		if c.Name == "close" && a.segs[fdArg.FD] == nil && !strings.HasPrefix(fdArg.Ann, "/") {
			return !a.capped // an fd never seen: nothing to tell
		}
		sg := a.get(fdArg.FD, fdArg.Ann)
		if sockOnly[c.Name] {
			sg.kind = segSocket
		}
		if sg.kind == segSocket {
			in, out := recvCalls[c.Name], sendCalls[c.Name]
			if (in || out) && ok && c.Value > 0 {
				if a.nsock >= maxSockOps {
					a.capped = true
					return false
				}
				a.nsock++
				so := sockOp{call: i, in: in, n: c.Value, pid: c.PID, ct: c.Time, tk: c.TimeKind}
				if b, found := c.Buffer(); found {
					p := b.Value
					p = p[:min(int64(len(p)), so.n, maxPrefix)]
					so.prefix = strings.Clone(p)
				}
				so.peek = strings.Contains(c.Args, "MSG_PEEK")
				if len(sg.ops) == 0 {
					a.socks = append(a.socks, sg)
				}
				sg.ops = append(sg.ops, so)
			}
			if c.Name == "close" {
				delete(a.segs, fdArg.FD)
			}
			return true
		}
		if sg.kind == segPipe {
			if c.Name == "close" {
				delete(a.segs, fdArg.FD)
			}
			return true
		}
		kind, known := fdFileCalls[c.Name]
		if c.Name == "newfstatat" || c.Name == "statx" {
			// by fd only with an empty path (AT_EMPTY_PATH)
			if p, found := pathString(c); found && p != "" {
				known = false
			}
		}
		if known {
			if sg.kind == segUnknown && sg.path == "" && kind != OpClose {
				sg.kind = segFile
				a.opens++
				sg.open = a.opens
			}
			op := FileOp{Kind: kind, Open: sg.open, FD: sg.fd, Path: sg.path, Flags: sg.flags, Dir: sg.dir, Errno: c.Errno}
			if (kind == OpRead || kind == OpWrite) && ok {
				op.Bytes = c.Value
			}
			if c.Name == "close" {
				delete(a.segs, fdArg.FD)
			}
			a.addOp(op, c, i)
			return !a.capped
		}
		if c.Name == "close" {
			delete(a.segs, fdArg.FD)
		}
		a.pathOp(c, i)
	default:
		a.pathOp(c, i)
	}
	return !a.capped
}

// pathOp keeps a syscall on a path (stat, unlink, rename…).
func (a *aligner) pathOp(c *strace.Call, i int) {
	kind, known := pathCalls[c.Name]
	if !known {
		return
	}
	p, found := pathString(c)
	if !found || p == "" {
		return
	}
	op := FileOp{Kind: kind, FD: -1, Path: p, Errno: c.Errno}
	if kind == OpRename && len(c.Strings) > 1 {
		op.To = c.Strings[1].Value
	}
	a.addOp(op, c, i)
}

// anchor is a socket syscall whose bytes were found in the capture.
type anchor struct {
	t   time.Time // capture time of its bytes
	ct  time.Time // strace time
	tk  strace.TimeKind
	pid int
	srv *seg // the server socket, when the process served the connection
}

// connIndex finds the recorded connections a socket can be by its
// endpoints, in the order of Streams.conns: pin looked at every
// connection for every socket, quadratic in sockets.
type connIndex struct {
	all                []*Stream
	pos                map[*Stream]int
	byPair             map[[2]netip.AddrPort][]*Stream // client, server
	byClient, byServer map[netip.AddrPort][]*Stream
}

func newConnIndex(conns []*Stream) *connIndex {
	x := &connIndex{all: conns, pos: make(map[*Stream]int, len(conns)), byPair: map[[2]netip.AddrPort][]*Stream{},
		byClient: map[netip.AddrPort][]*Stream{}, byServer: map[netip.AddrPort][]*Stream{}}
	for i, st := range conns {
		c := st.Conn
		x.pos[st] = i
		k := [2]netip.AddrPort{c.Client, c.Server}
		x.byPair[k] = append(x.byPair[k], st)
		x.byClient[c.Client] = append(x.byClient[c.Client], st)
		x.byServer[c.Server] = append(x.byServer[c.Server], st)
	}
	return x
}

// candidates are the connections pin's endpoint tests can pass for sg: a
// superset, in order.
func (x *connIndex) candidates(sg *seg) []*Stream {
	switch {
	case sg.local.IsValid() && sg.peer.IsValid():
		// this host served it (client peer, server local) or made it
		a, b := x.byPair[[2]netip.AddrPort{sg.peer, sg.local}], x.byPair[[2]netip.AddrPort{sg.local, sg.peer}]
		if len(a) == 0 || len(b) == 0 {
			return append(a[:len(a):len(a)], b...)
		}
		out := append(append([]*Stream(nil), a...), b...)
		sort.Slice(out, func(i, j int) bool { return x.pos[out[i]] < x.pos[out[j]] })
		return out
	case sg.accepted && sg.peer.IsValid():
		return x.byClient[sg.peer]
	case sg.accepted:
		return x.all
	case sg.peer.IsValid():
		return x.byServer[sg.peer]
	}
	return x.all
}

// prevTimes answers "the latest capture time of an anchor before call
// i" as anchors are added, each call once, in any order: a Fenwick tree of
// the latest time over call indices (rebuilding a sorted index after each
// pinned socket made pinning quadratic in sockets). Capture times are UTC
// (decoder/capture), kept as nanoseconds.
type prevTimes struct {
	latest []int64 // 1-based; math.MinInt64: none
}

func newPrevTimes(calls int) *prevTimes {
	p := &prevTimes{latest: make([]int64, calls+1)}
	for i := range p.latest {
		p.latest[i] = math.MinInt64
	}
	return p
}

func (p *prevTimes) add(call int, t time.Time) {
	v := t.UnixNano()
	for j := call + 1; j > 0 && j < len(p.latest); j += j & -j {
		p.latest[j] = max(p.latest[j], v)
	}
}

func (p *prevTimes) before(i int) time.Time {
	m := int64(math.MinInt64)
	for j := min(i, len(p.latest)-1); j > 0; j -= j & -j {
		m = max(m, p.latest[j])
	}
	if m == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, m).UTC()
}

// finish pins the sockets and places the file syscalls.
func (a *aligner) finish() (*StraceFile, []decoder.Diagnostic) {
	f := a.f
	s := a.s
	name := f.Name
	fops := a.fops
	if a.capped {
		f.Capped = a.i
	}
	// Without -f (the seed's strace -p PID -o FILE) lines carry no pid:
	// the process's own getpid() answers tell it.
	// With -f the lines show thread ids: a thread's getpid() answer
	// is its process.
	for i := range a.ops {
		if p, ok := a.tgid[a.ops[i].PID]; ok {
			a.ops[i].PID = p
		}
	}
	if len(f.PIDs) == 0 && len(a.own) == 1 {
		for v := range a.own {
			f.PIDs = []int{int(v)}
		}
		for i := range a.ops {
			if a.ops[i].PID == 0 {
				a.ops[i].PID = f.PIDs[0]
			}
		}
	}
	// Pin the sockets.
	var diags []decoder.Diagnostic
	taken := map[*Stream]bool{}
	byEnds := newConnIndex(s.conns)
	anchors := map[int]anchor{} // call index -> its bytes in the capture
	prev := newPrevTimes(a.i)
	matchedOps := 0
	var socks []*seg
	for _, sg := range a.socks {
		if sg.kind == segSocket && !sg.notTCP {
			socks = append(socks, sg)
			f.SocketOps += len(sg.ops)
		}
	}
	hosts := map[netip.Addr]bool{}
	var skew0 time.Duration // the clocks' difference by the accepted sockets
	blind, unsearched := 0, 0
	for pass := 0; pass < 2; pass++ {
		// accepted sockets first: they tell the host's addresses, which
		// the client side of its outbound connections must have, and how
		// far the strace clock is from the capture's
		if pass == 1 {
			skew0, _, _ = skewOf(anchors, f.TimeKind)
		}
		for _, sg := range socks {
			named := sg.local.IsValid() && sg.peer.IsValid()
			if (pass == 0) != (sg.accepted || named) || sg.pin != nil {
				continue
			}
			if !named && !sg.peer.IsValid() {
				// searched for in every stream: a bounded number of them
				if blind >= maxBlind {
					unsearched++
					continue
				}
				blind++
			}
			o0 := sg.ops[0]
			prevT := prev.before(o0.call)
			var near time.Time
			if f.TimeKind == strace.Epoch {
				if st, ok := straceTime(o0.ct, o0.tk, time.Time{}, f.TimeKind); ok {
					near = st.Add(skew0)
				}
			}
			st, server, base, ok := pin(byEnds, sg, taken, hosts, prevT, near)
			if !ok {
				continue
			}
			taken[st] = true
			sg.pin, sg.server, sg.base = st, server, base
			sg.exact = named || sg.peer.IsValid()
			if server {
				hosts[st.Conn.Server.Addr()] = true
			} else {
				hosts[st.Conn.Client.Addr()] = true
			}
			p := Pin{FD: sg.fd, Conn: st.Conn, Server: server, Ops: len(sg.ops), Exact: sg.exact}
			var cum [2]int64
			for _, o := range sg.ops {
				d := dirOf(o.in, server)
				h := &st.Half[d]
				off := base[d] + cum[d]
				if !o.peek {
					cum[d] += o.n
				}
				if m, good := h.Compare(off, o.prefix); m > 0 {
					p.Checked++
					if good {
						p.Matched++
					}
				}
				at := off
				if o.in {
					at = off + o.n - 1 // all of it had arrived
				}
				if t, found := h.TimeAt(at); found {
					an := anchor{t: t, ct: o.ct, tk: o.tk, pid: o.pid}
					if server {
						an.srv = sg
					}
					anchors[o.call] = an
					prev.add(o.call, t)
				}
			}
			matchedOps += p.Matched
			if named && p.Checked == 0 {
				matchedOps++ // -yy named it; its bytes were not kept
			}
			f.Pins = append(f.Pins, p)
		}
	}
	for _, sg := range socks {
		if sg.pin == nil {
			f.Unpinned++
		}
	}
	sort.SliceStable(f.Pins, func(i, j int) bool { return f.Pins[i].Conn.ID < f.Pins[j].Conn.ID })
	// File syscalls are drawn under the requests the process served: a
	// file none of whose served connections is in the capture has nothing
	// to hang them on, whatever look-alike outbound connections (the same
	// version discovery on every run) its bytes may fit.
	served := len(f.Served())
	if unsearched > 0 {
		diags = append(diags, decoder.Diagnostic{Where: name, What: fmt.Sprintf("%d of its sockets without an address (no -yy, accept or connect address) were not searched for in the capture: past the first %d", unsearched, maxBlind)})
	}
	if served == 0 || matchedOps == 0 {
		what := fmt.Sprintf("none of its %d socket data syscalls matches the bytes of a captured TCP connection (another process, or another time?)", f.SocketOps)
		switch {
		case f.SocketOps == 0:
			what = "no socket data syscalls to align with the capture"
		case len(f.Pins) > 0:
			what = fmt.Sprintf("none of the connections it served is in the capture (%d of its outbound sockets fit captured ones by their bytes alone, which tells too little: another process, or another time?)", len(f.Pins))
		}
		diags = append(diags, decoder.Diagnostic{Where: name, What: what + ": nothing drawn from it"})
		return nil, diags
	}
	if f.Unpinned > 0 {
		diags = append(diags, decoder.Diagnostic{Where: name, What: fmt.Sprintf("%d of its %d sockets with data were not found in the capture (not captured, or several connections fit as well)", f.Unpinned, f.Unpinned+len(f.Pins))})
	}
	sort.Ints(f.PIDs)
	// The strace clock, checked against the bytes.
	useClock := false
	if skew, spread, ok := skewOf(anchors, f.TimeKind); ok {
		f.Skew = skew
		switch {
		case spread > time.Second:
			diags = append(diags, decoder.Diagnostic{Where: name, What: fmt.Sprintf("its clock and the capture's disagree by up to %v between syscalls: file syscalls placed by the order of the bytes instead", spread.Round(time.Millisecond))})
		default:
			useClock = true
			f.Clock = absDur(skew) < time.Second
			switch {
			case skew > 100*time.Millisecond:
				diags = append(diags, decoder.Diagnostic{Where: name, What: fmt.Sprintf("its clock is %v behind the capture's (by the bytes of its socket syscalls): its times shifted", skew.Round(time.Millisecond))})
			case skew < -100*time.Millisecond:
				diags = append(diags, decoder.Diagnostic{Where: name, What: fmt.Sprintf("its clock is %v ahead of the capture's (by the bytes of its socket syscalls): its times shifted", (-skew).Round(time.Millisecond))})
			}
		}
	}
	// Place the file syscalls: by the clock, or just after the last
	// socket syscall before them (in the file's order).
	idx := make([]int, 0, len(anchors))
	for i := range anchors {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	var lastServing = map[int]*seg{} // pid -> server socket last used
	type opened struct {
		sg *seg // serving at the open
		t  time.Time
	}
	openServing := map[int]opened{} // FileOp.Open -> the open's serving
	si := 0
	const eps = time.Microsecond
	k := 0
	for j, pf := range fops {
		// the serving socket: the last data op on a pinned server socket
		// before this call, of the same pid
		for ; si < len(idx) && idx[si] < pf.idx; si++ {
			if an := anchors[idx[si]]; an.srv != nil {
				lastServing[an.pid] = an.srv
			}
		}
		op := &a.ops[j]
		sv := lastServing[pf.pid]
		inherited := false
		if sv != nil {
			op.Current = sv.pin.Conn
		}
		if o, ok := openServing[op.Open]; ok && o.sg != nil && op.Open > 0 && op.Kind != OpOpen {
			sv, op.Decided, inherited = o.sg, o.t, true
		}
		if sv != nil {
			op.Serving = sv.pin.Conn
			if !sv.exact && !f.Clock {
				op.Guess = GuessBytes
			}
		}
		if useClock {
			var near time.Time // a -t/-tt time of day takes the capture's date
			if len(idx) > 0 {
				near = anchors[idx[0]].t
			}
			if st, ok := straceTime(pf.ct, pf.tk, near, f.TimeKind); ok {
				op.Time, op.By = st.Add(f.Skew), ByClock
			}
		}
		if op.Time.IsZero() {
			for k < len(idx) && idx[k] < pf.idx {
				k++
			}
			op.After = -1
			switch {
			case k > 0:
				prev := idx[k-1]
				op.After = prev
				op.Time = anchors[prev].t.Add(time.Duration(pf.idx-prev) * eps)
				if k < len(idx) && !op.Time.Before(anchors[idx[k]].t) {
					op.Time = anchors[idx[k]].t.Add(-eps)
				}
			case k < len(idx):
				op.Time = anchors[idx[k]].t.Add(-time.Duration(idx[k]-pf.idx) * eps)
			}
			op.By = ByBytes
		}
		if !inherited {
			op.Decided = op.Time
		}
		switch {
		case op.Kind == OpOpen && op.Open > 0:
			openServing[op.Open] = opened{sv, op.Time}
		case op.Kind == OpClose:
			delete(openServing, op.Open)
		}
	}
	f.Ops, a.ops, a.fops = a.ops, nil, nil
	return f, diags
}

// skewOf is the capture's clock minus the strace clock over the anchored
// socket syscalls (the median) and how much it varies (10th to 90th
// percentile); ok is false without times or anchors.
func skewOf(anchors map[int]anchor, k strace.TimeKind) (skew, spread time.Duration, ok bool) {
	if k != strace.Epoch && k != strace.Clock {
		return 0, 0, false
	}
	var ds []time.Duration
	for _, an := range anchors {
		if st, found := straceTime(an.ct, an.tk, an.t, k); found {
			ds = append(ds, an.t.Sub(st))
		}
	}
	if len(ds) == 0 {
		return 0, 0, false
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], ds[len(ds)*9/10] - ds[len(ds)/10], true
}

// pathString is the first string of a call: the path of open, stat,
// unlink (as strace shows it).
func pathString(c *strace.Call) (string, bool) {
	if len(c.Strings) == 0 {
		return "", false
	}
	return c.Strings[0].Value, true
}

func dirOf(in, server bool) decoder.Dir {
	if in == server {
		return decoder.ClientToServer
	}
	return decoder.ServerToClient
}

// straceTime is a call's time (ct, of kind tk) on the strace clock; a
// -t/-tt time of day takes the date of near (the capture's time of a
// syscall).
func straceTime(ct time.Time, tk strace.TimeKind, near time.Time, k strace.TimeKind) (time.Time, bool) {
	if tk != k || ct.IsZero() && k != strace.Clock {
		return time.Time{}, false
	}
	if k == strace.Epoch {
		return ct, true
	}
	if near.IsZero() {
		return time.Time{}, false
	}
	y, m, d := near.UTC().Date()
	h, mi, s := ct.Clock()
	t := time.Date(y, m, d, h, mi, s, ct.Nanosecond(), time.UTC)
	switch diff := near.Sub(t); {
	case diff > 12*time.Hour:
		t = t.Add(24 * time.Hour)
	case diff < -12*time.Hour:
		t = t.Add(-24 * time.Hour)
	}
	return t, true
}

// pin finds the captured connection of a socket: the one whose streams
// hold the bytes of its syscalls, in order, at the offsets their lengths
// add up to. Its endpoints (-yy) or peer address (accept, connect) narrow
// the candidates; a socket opened in the trace on a connection whose SYN
// was captured starts at offset 0, any other is searched for. Two
// candidates that fit equally well are a tie: not pinned.
func pin(idx *connIndex, sg *seg, taken map[*Stream]bool, hosts map[netip.Addr]bool, prevT time.Time, near time.Time) (*Stream, bool, [2]int64, bool) {
	type cand struct {
		st      *Stream
		server  bool
		base    [2]int64
		matched int
		exact   bool          // the socket's bytes are all the stream's
		dist    time.Duration // from the last anchor before it (or its strace time)
	}
	var best []cand
	named := sg.local.IsValid() && sg.peer.IsValid()
	for _, st := range idx.candidates(sg) {
		if taken[st] {
			continue
		}
		c := st.Conn
		for _, server := range []bool{true, false} {
			switch {
			case sg.local.IsValid() && sg.peer.IsValid():
				if server && (c.Server != sg.local || c.Client != sg.peer) || !server && (c.Client != sg.local || c.Server != sg.peer) {
					continue
				}
			case sg.accepted:
				if !server || sg.peer.IsValid() && c.Client != sg.peer {
					continue
				}
			case sg.peer.IsValid():
				if server || c.Server != sg.peer || len(hosts) > 0 && !hosts[c.Client.Addr()] {
					continue
				}
			}
			base, matched, exact, ok := fit(st, sg, server)
			if !ok || matched == 0 && !named { // -yy names it: its bytes may not have been kept
				continue
			}
			cd := cand{st, server, base, matched, exact, 0}
			o := sg.ops[0]
			d := dirOf(o.in, server)
			at := base[d]
			if o.in {
				at += o.n - 1
			}
			if t, found := st.Half[d].TimeAt(at); found {
				switch {
				case !near.IsZero():
					cd.dist = absDur(t.Sub(near))
				case !prevT.IsZero():
					cd.dist = t.Sub(prevT)
					if cd.dist < -50*time.Millisecond {
						continue // before what the process did earlier
					}
					cd.dist = absDur(cd.dist)
				}
			}
			best = append(best, cd)
		}
	}
	if len(best) == 0 {
		return nil, false, [2]int64{}, false
	}
	sort.SliceStable(best, func(i, j int) bool {
		a, b := best[i], best[j]
		if a.matched != b.matched {
			return a.matched > b.matched
		}
		if a.exact != b.exact {
			return a.exact
		}
		return a.dist < b.dist
	})
	b := best[0]
	if len(best) > 1 {
		n := best[1]
		if n.matched == b.matched && n.exact == b.exact && n.dist == b.dist {
			return nil, false, [2]int64{}, false // a tie: not pinned
		}
	}
	if !named && b.matched < 16 && !allShort(sg, b.matched) {
		return nil, false, [2]int64{}, false
	}
	return b.st, b.server, b.base, true
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// allShort: every byte strace showed of the socket's syscalls matched,
// though there were fewer than the usual minimum.
func allShort(sg *seg, matched int) bool {
	total := 0
	for _, o := range sg.ops {
		total += len(o.prefix)
	}
	return matched > 0 && matched == total && len(sg.ops) >= 2
}

// fit finds the base offsets of a socket's two directions in st and how
// many shown bytes they make match; ok is false on any mismatch.
func fit(st *Stream, sg *seg, server bool) ([2]int64, int, bool, bool) {
	var base [2]int64
	total := 0
	exact := true
	for d := decoder.ClientToServer; d <= decoder.ServerToClient; d++ {
		var ops []sockOp
		for _, o := range sg.ops {
			if dirOf(o.in, server) == d {
				ops = append(ops, o)
			}
		}
		if len(ops) == 0 {
			continue
		}
		h := &st.Half[d]
		var bases []int64
		if sg.start && st.Conn.SawSYN {
			bases = []int64{0}
		} else {
			// the first op with a useful prefix, searched for
			var cum int64
			for _, o := range ops {
				if len(o.prefix) >= 4 {
					for _, at := range h.Find(o.prefix, 32) {
						bases = append(bases, at-cum)
					}
					break
				}
				if !o.peek {
					cum += o.n
				}
			}
		}
		bestM, found := -1, false
		for _, b := range bases {
			if b < 0 {
				continue
			}
			m, ok := check(h, ops, b)
			if ok && m > bestM {
				bestM, base[d], found = m, b, true
			}
		}
		if !found {
			return base, 0, false, false
		}
		total += bestM
		var sum int64
		for _, o := range ops {
			if !o.peek {
				sum += o.n
			}
		}
		exact = exact && base[d] == 0 && sum == h.n
	}
	return base, total, exact, true
}

// check compares the shown bytes of ops with h from base on.
func check(h *Half, ops []sockOp, base int64) (int, bool) {
	var cum int64
	matched := 0
	for _, o := range ops {
		off := base + cum
		if off >= h.n {
			break // after the capture ended
		}
		m, ok := h.Compare(off, o.prefix)
		if !ok {
			return matched, false
		}
		matched += m
		if !o.peek {
			cum += o.n
		}
	}
	return matched, true
}

// AlignFiles reads each strace file and aligns it with the streams s
// recorded. Files that cannot be aligned are left out, with a diagnostic
// saying why; a file strace did not write (or cut mid-line) is read up to
// its first bad line, and the error, naming file and line, is a fatal
// diagnostic.
func AlignFiles(s *Streams, paths []string, opts strace.Options) ([]*StraceFile, []decoder.Diagnostic) {
	var out []*StraceFile
	var diags []decoder.Diagnostic
	// A connection has one process at each end: two files claiming the
	// same end of one are two recordings of one process (a copy, the same
	// pid traced twice) or one of them matched a look-alike. The first
	// keeps it; the second is reported and nothing is drawn from it. (A
	// client traced with its server claims the two ends: no conflict.)
	claimed := map[connEnd]string{}
	for _, p := range paths {
		fh, err := os.Open(p)
		if err != nil {
			diags = append(diags, decoder.Diagnostic{Where: p, What: err.Error(), Fatal: true})
			continue
		}
		r := strace.NewReader(fh, p, opts)
		a := newAligner(s, p)
		n := 0
		for r.Next() {
			n++
			if !a.add(r.Call()) {
				break
			}
		}
		fh.Close()
		cut := 0
		if err := r.Err(); err != nil {
			var se *strace.SyntaxError
			switch {
			case errors.As(err, &se) && se.Last && n > 0:
				// cut mid-line at its end: what came before is whole,
				// and the file is marked cut (StraceFile.Cut; flow notes it)
				cut = se.Line
			case errors.As(err, &se):
				diags = append(diags, decoder.Diagnostic{Where: fmt.Sprintf("%s:%d", p, se.Line), What: fmt.Sprintf("%s: %q: not strace output flowmap can read, nothing drawn from it", se.What, se.Text), Fatal: true})
				continue
			default:
				diags = append(diags, decoder.Diagnostic{Where: p, What: err.Error() + ": nothing drawn from it", Fatal: true})
				continue
			}
		}
		f, d := a.finish()
		if f != nil {
			f.Cut = cut
		}
		diags = append(diags, d...)
		if f == nil {
			continue
		}
		if other := conflict(f, claimed); other != "" {
			diags = append(diags, decoder.Diagnostic{Where: p, What: fmt.Sprintf("its connections are already claimed by %s (the same process traced twice, or a copy?): nothing drawn from it", other)})
			continue
		}
		for _, pn := range f.Pins {
			claimed[connEnd{pn.Conn, pn.Server}] = p
		}
		out = append(out, f)
	}
	if s.untimed > 0 {
		diags = append(diags, decoder.Diagnostic{Where: "strace", What: fmt.Sprintf("the capture times of TCP bytes past the first %d segments were not kept (%d directions): syscalls there give no anchor to the capture's clock", s.markLimit(), s.untimed)})
	}
	if s.dropped > 0 {
		diags = append(diags, decoder.Diagnostic{Where: "strace", What: fmt.Sprintf("the capture's TCP bytes past the first %s (%s more) were not kept to align strace output with: sockets there are found by their -yy endpoints alone, or not at all", size(s.limit()), size(s.dropped))})
	}
	return out, diags
}

// connEnd is one end of a connection: its server's or its client's.
type connEnd struct {
	conn   *decoder.Conn
	server bool
}

// conflict is the name of the file that claimed an end of one of f's
// connections already, "" when none did.
func conflict(f *StraceFile, claimed map[connEnd]string) string {
	for _, pn := range f.Pins {
		if other, ok := claimed[connEnd{pn.Conn, pn.Server}]; ok {
			return other
		}
	}
	return ""
}

// String names the syscall for messages: line, name and path (never its
// strings' other contents).
func (o FileOp) String() string { return fmt.Sprintf("line %d: %s %s", o.Line, o.Name, o.Path) }

// size says n bytes in KiB or MiB.
func size(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", (n+1023)>>10)
}
