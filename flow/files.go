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
)

// IsFile reports whether n is a file syscall (or a fold of them) rather
// than an exchange on the wire.
func (n *Node) IsFile() bool { return strings.HasPrefix(string(n.Role), "file-") }

// fileGroup gathers the syscalls one node stands for.
type fileGroup struct {
	parent *Node
	ops    []pipeline.FileOp
	role   Role
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
		for _, c := range f.Served() {
			for _, n := range served[c] {
				n.PID = pid
			}
		}
		byKey := map[string]*fileGroup{}
		outside := 0
		for _, op := range f.Ops {
			parent := servingAt(served[op.Serving], op.Time, b)
			if parent == nil {
				outside++
				continue
			}
			role, key := fileRole(op)
			if p := op.PID; p != 0 {
				parent.PID = p
			}
			k := fmt.Sprintf("%p %s %s", parent, role, key)
			g := byKey[k]
			if g == nil || key == "" {
				g = &fileGroup{parent: parent, role: role}
				byKey[k] = g
				groups = append(groups, g)
			}
			g.ops = append(g.ops, op)
		}
		if outside > 0 {
			b.fileNotes = append(b.fileNotes, fmt.Sprintf("%s: %d of its %d file syscalls fell outside the captured requests it served: not drawn", filepath.Base(f.Name), outside, len(f.Ops)))
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
	} else if first.After == last.After {
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
		if !seen[op.Call.Name] {
			seen[op.Call.Name] = true
			names = append(names, op.Call.Name)
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
		n.Summary = first.Call.Name + " " + path
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
