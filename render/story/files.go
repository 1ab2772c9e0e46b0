package story

import (
	"fmt"

	"github.com/flowmap/flowmap/flow"
)

// file tells a file node (strace output aligned with the capture) as one
// arrow from the service to its files, with no reply: an open, a fold of
// reads or writes (dashed, like a bulk transfer, when large), an unlink.
// In compact detail the process's housekeeping (Python imports, /proc,
// /etc/hosts, logs, pipes: Node.Routine) is left out; full tells it.
func (t *teller) file(n *flow.Node) {
	if t.opts.Detail == Compact && n.Routine {
		return
	}
	guessed := n.Placed == flow.ByStraceGuess
	if guessed && !t.filesExplained {
		t.filesExplained = true
		t.note(n.FromP(), FileGuessNote)
	}
	t.add(Step{Kind: Call, From: n.FromP(), To: n.ToP(), Text: fileText(n), Folded: true,
		Failed: n.Outcome == flow.Failed, Bulk: fileBulk(n), Guessed: guessed, Nodes: []*flow.Node{n}})
}

// FileGuessNote explains, once per story, the mark on file syscalls whose
// request only strace's bytes told.
const FileGuessNote = "≈ file syscalls under a request found by strace's bytes alone (no -yy, accept address or clock): a guess"

func fileBulk(n *flow.Node) bool {
	for _, b := range []*int64{n.ResponseBytes, n.RequestBytes} {
		if b != nil && *b >= UploadBytes {
			return true
		}
	}
	return false
}

func fileText(n *flow.Node) string {
	var s string
	switch n.Role {
	case flow.RoleFileRead, flow.RoleFileWrite:
		verb, bytes := "read", n.ResponseBytes
		if n.Role == flow.RoleFileWrite {
			verb, bytes = "write", n.RequestBytes
		}
		var size int64
		if bytes != nil {
			size = *bytes
		}
		s = fmt.Sprintf("%s %s in %s", verb, Size(size), Plural(int64(n.Syscalls), verb, verb+"s"))
		switch {
		case n.Placed == flow.ByStraceClock:
			s += ", " + Dur(n.End.Sub(n.Start))
		case n.End.After(n.Start):
			// placed by the bytes of the socket syscalls around them: each
			// lies somewhere between two of those, the span is a guess
			s += ", ≈ " + Dur(n.End.Sub(n.Start))
		}
		// syscalls with no socket bytes between them: no time apart known
		if n.InCalls > 0 {
			s += fmt.Sprintf(" (%s in %s)", Dur(n.InCalls), verb)
		}
	default:
		s = n.Summary
		if n.Syscalls > 1 && n.Role == flow.RoleFileOther {
			s += fmt.Sprintf(" (%d syscalls)", n.Syscalls)
		}
	}
	if n.PID != 0 && n.Role == flow.RoleFileOpen {
		s += fmt.Sprintf(" · pid %d", n.PID)
	}
	return s
}
