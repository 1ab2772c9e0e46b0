package flow

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/flow/registry"
)

// FileSystem is the participant of the traced services' own files.
const FileSystem = "Local File System"

// Files is the kind of the FileSystem participant.
const Files Kind = "files"

// Roles of file nodes (strace output aligned with the capture).
const (
	RoleFileOpen   Role = "file-open"   // open (or create) a file
	RoleFileRead   Role = "file-read"   // the reads of one open file, folded
	RoleFileWrite  Role = "file-write"  // the writes of one open file, folded
	RoleFileSync   Role = "file-sync"   // fsync, fdatasync
	RoleFileRemove Role = "file-remove" // unlink, rmdir
	RoleFileRename Role = "file-rename"
	RoleFileCreate Role = "file-create" // mkdir, link, truncate
	RoleFileOther  Role = "file-other"  // stat, lseek, ioctl, close…, folded
)

// Placements of file nodes under the request being served.
const (
	// ByStraceBytes: between the process's socket syscalls whose bytes
	// were found in the capture (no strace clock).
	ByStraceBytes Placement = "strace bytes"
	// ByStraceClock: by the strace clock, checked against those bytes.
	ByStraceClock Placement = "strace clock"
	// ByStraceGuess: under a request whose connection only the bytes
	// strace showed found in the capture (no -yy endpoints, no accept
	// address, no agreeing clock): requests and their prefixes look alike
	// from run to run, so the request is a guess (story marks it ≈).
	ByStraceGuess Placement = "strace bytes alone"
)

// IsFile reports whether n is a file syscall (or a fold of them) rather
// than an exchange on the wire.
func (n *Node) IsFile() bool { return strings.HasPrefix(string(n.Role), "file-") }

// fileGroup gathers the syscalls one node stands for.
type fileGroup struct {
	parent *Node
	ops    []pipeline.FileOp
	role   Role
	guess  bool    // ByStraceGuess
	cands  []*Node // requests of the process in progress too (timing guess)
}

// fileNodes hangs the file syscalls of the aligned strace files under the
// requests their processes were serving: one node per open, per fold of
// the reads (writes, other syscalls) of one open file, per unlink, rename
// or sync. The process that served each request becomes its PID.
func (b *builder) fileNodes() {
	if len(b.opts.Strace) == 0 {
		return
	}
	// the requests served on each connection
	served := map[*decoder.Conn][]*Node{}
	for _, n := range b.nodes {
		if n.Proto == "http" {
			served[n.Ex.Conn] = append(served[n.Ex.Conn], n)
		}
	}
	var groups []*fileGroup
	for _, f := range b.opts.Strace {
		pid := 0
		if len(f.PIDs) == 1 {
			pid = f.PIDs[0]
		}
		// only a connection an address named tells which process served
		// its requests: one found by its bytes alone may be another's
		exact := map[*decoder.Conn]bool{}
		var conns []*decoder.Conn
		for _, p := range f.Pins {
			if p.Server {
				exact[p.Conn] = p.Exact
				conns = append(conns, p.Conn)
			}
		}
		for _, c := range conns {
			if !exact[c] {
				continue
			}
			for _, n := range served[c] {
				n.PID = pid
			}
		}
		byKey := map[string]*fileGroup{}
		outside, guessed, overlapped := 0, 0, 0
		var last *fileGroup
		for _, op := range f.Ops {
			// the request in progress when its serving connection was
			// chosen (the fd's open), while the syscall is still in it
			decided := op.Decided
			parent := servingAt(served[op.Serving], decided, b)
			if parent == nil || op.Time.Before(parent.Start) || op.Time.After(b.until(parent.Ex)) {
				decided = op.Time
				parent = servingAt(served[op.Current], decided, b)
			}
			if parent == nil {
				outside++
				continue
			}
			// another request the process served in progress then: the
			// bytes it last exchanged chose, a guess among them
			var cands []*Node
			for _, c := range conns {
				if n := servingAt(served[c], decided, b); n != nil {
					cands = append(cands, n)
				}
			}
			if len(cands) < 2 {
				cands = nil
			} else {
				overlapped++
			}
			guess := op.Guess != ""
			if guess {
				guessed++
			}
			role, key := fileRole(op)
			if p := op.PID; p != 0 && !guess {
				parent.PID = p
			}
			k := fmt.Sprintf("%p %s %s %t %d", parent, role, key, guess, len(cands))
			g := byKey[k]
			// stat, lseek, close… fold only when one follows the other:
			// the same path stat'ed at the start and the end of a request
			// is two moments, not a call that lasted the request
			if g == nil || key == "" || role == RoleFileOther && g != last {
				g = &fileGroup{parent: parent, role: role, guess: guess, cands: cands}
				byKey[k] = g
				groups = append(groups, g)
			}
			g.ops = append(g.ops, op)
			last = g
		}
		name := filepath.Base(f.Name)
		if f.Capped > 0 {
			b.fileNotes = append(b.fileNotes, fmt.Sprintf("%s: read only up to its call %d: too many syscalls to keep (a cap against huge files): the rest not drawn", name, f.Capped))
		}
		if f.Cut > 0 {
			b.fileNotes = append(b.fileNotes, fmt.Sprintf("%s: cut mid-line at line %d (strace killed, or a copy cut short?): its syscalls end there", name, f.Cut))
		}
		if outside > 0 {
			b.fileNotes = append(b.fileNotes, fmt.Sprintf("%s: %d of its %d file syscalls fell outside the captured requests it served: not drawn", name, outside, len(f.Ops)))
		}
		if guessed > 0 {
			b.fileNotes = append(b.fileNotes, fmt.Sprintf("%s: the connections it served were found in the capture by the bytes strace showed alone (no -yy endpoints, accept address or agreeing clock; requests look alike from run to run): the requests its %d file syscalls are under are guesses (≈), its pid not given to them", name, guessed))
		}
		if overlapped > 0 {
			b.fileNotes = append(b.fileNotes, fmt.Sprintf("%s: %d of its file syscalls came while the process served two requests or more at once: under the one it last exchanged bytes for (or whose request opened the file), a guess (≈)", name, overlapped))
		}
	}
	if len(groups) == 0 {
		return
	}
	fs := b.participant(FileSystem, Files, "")
	for _, g := range groups {
		n := b.fileNode(g)
		n.from, n.to = g.parent.to, fs
		n.From, n.To = n.from.Name, fs.Name
		n.parent = g.parent
		g.parent.Children = append(g.parent.Children, n)
		b.nodes = append(b.nodes, n)
	}
	sortNodes(b.nodes)
}

// servingAt is the request on the connection in progress at t.
func servingAt(ns []*Node, t time.Time, b *builder) *Node {
	for _, n := range ns {
		if !t.Before(n.Start) && !t.After(b.until(n.Ex)) {
			return n
		}
	}
	return nil
}

// fileRole sorts a syscall into the node it is folded into: key names the
// fold ("" for a node of its own).
func fileRole(op pipeline.FileOp) (Role, string) {
	file := fmt.Sprintf("%d %s", op.Open, op.Path)
	switch op.Kind {
	case pipeline.OpOpen:
		return RoleFileOpen, ""
	case pipeline.OpRead:
		return RoleFileRead, file
	case pipeline.OpWrite:
		return RoleFileWrite, file
	case pipeline.OpSync:
		return RoleFileSync, ""
	case pipeline.OpRemove:
		return RoleFileRemove, ""
	case pipeline.OpRename:
		return RoleFileRename, ""
	case pipeline.OpCreate:
		return RoleFileCreate, ""
	}
	return RoleFileOther, file
}

func (b *builder) fileNode(g *fileGroup) *Node {
	first, last := g.ops[0], g.ops[len(g.ops)-1]
	n := &Node{Proto: "file", System: "file", Role: g.role, Start: first.Time, End: last.Time,
		Conn: g.parent.Conn, PID: first.PID, Syscalls: len(g.ops), Outcome: OK}
	if last.Dur > 0 {
		n.End = last.Time.Add(last.Dur)
	}
	n.Ex = &decoder.Exchange{Proto: "file", Conn: g.parent.Ex.Conn, ReqStart: n.Start, ReqEnd: n.End}
	n.Placed = ByStraceBytes
	if first.By == pipeline.ByClock {
		n.Placed = ByStraceClock
	}
	switch {
	case len(g.cands) > 1:
		n.Placed, n.candidates = ByTiming, g.cands
	case g.guess:
		n.Placed = ByStraceGuess
	}
	if first.By != pipeline.ByClock && first.After == last.After {
		// no socket bytes between them: their time apart is not known
		n.End = n.Start
		n.Ex.ReqEnd = n.Start
	}
	path := first.Path
	if path == "" {
		path = fmt.Sprintf("fd %d", first.FD)
	}
	n.Target = path
	_, story := registry.ServiceFile(first.Path)
	n.Routine = !story || first.Dir
	var names []string
	seen := map[string]bool{}
	var bytes int64
	var in time.Duration
	for _, op := range g.ops {
		if !seen[op.Name] {
			seen[op.Name] = true
			names = append(names, op.Name)
		}
		bytes += op.Bytes
		in += op.Dur
		if op.Errno != "" && g.role != RoleFileOther && g.role != RoleFileRead && g.role != RoleFileWrite {
			n.Error, n.Result, n.Outcome = true, op.Errno, Failed
		}
	}
	n.Op = strings.Join(names, ", ")
	if in > 0 {
		n.InCalls = in
	}
	switch g.role {
	case RoleFileOpen:
		n.Summary = "open " + path + " (" + openMode(first.Flags) + ")"
		if n.Error {
			n.Summary += " → " + n.Result
		}
	case RoleFileRead:
		n.ResponseBytes = ptr(bytes)
		n.Routine = n.Routine || bytes == 0
		n.Summary = "read " + path
	case RoleFileWrite:
		n.RequestBytes = ptr(bytes)
		n.Summary = "write " + path
	case RoleFileRename:
		n.Summary = "rename " + path + " → " + first.To
	case RoleFileOther:
		n.Routine = true
		n.Summary = n.Op + " " + path
	default:
		n.Summary = first.Name + " " + path
		if n.Error {
			n.Summary += " → " + n.Result
		}
	}
	return n
}

// openMode says what an open was for, from its flags.
func openMode(flags string) string {
	var m []string
	switch {
	case strings.Contains(flags, "O_RDWR"):
		m = append(m, "read, write")
	case strings.Contains(flags, "O_WRONLY"):
		m = append(m, "write")
	default:
		m = append(m, "read")
	}
	if strings.Contains(flags, "O_CREAT") {
		m = append(m, "create")
	}
	if strings.Contains(flags, "O_TRUNC") {
		m = append(m, "truncate")
	}
	if strings.Contains(flags, "O_DIRECTORY") {
		m = []string{"directory"}
	}
	return strings.Join(m, ", ")
}
