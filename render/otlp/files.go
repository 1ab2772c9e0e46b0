package otlp

import "github.com/flowmap/flowmap/flow"

// fileAttributes describe a file node (strace output aligned with the
// capture) under OpenTelemetry's file.* and process.* names: the path,
// the syscalls folded and the bytes they moved, never HTTP attributes.
func fileAttributes(a *attrs, n *flow.Node) {
	a.str("file.path", n.Target)
	a.str("flowmap.file.syscalls", n.Op)
	a.num("flowmap.file.syscall_count", int64(n.Syscalls))
	if n.PID != 0 {
		a.num("process.pid", int64(n.PID))
	}
	if n.InCalls > 0 {
		a.num("flowmap.file.syscall_time_ns", int64(n.InCalls))
	}
	if n.Routine {
		a.flag("flowmap.file.routine", true)
	}
	a.size("flowmap.file.written_bytes", n.RequestBytes)
	a.size("flowmap.file.read_bytes", n.ResponseBytes)
}
