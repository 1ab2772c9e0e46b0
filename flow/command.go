package flow

import "github.com/flowmap/flowmap/flow/registry"

// Command guesses the CLI command of a client session from its trees (one
// session's roots): "image list", "image save cirros". It reads the
// client's own HTTP requests, method and target, with the registry's
// words; "" when none names a resource. A session that only logged in and
// was refused never showed its command: it is "failed login", not the
// "token issue" a successful login alone would be.
func Command(roots []*Node) string {
	var calls []registry.Call
	refused, others := false, false
	for _, r := range roots {
		if r.Proto != "http" || r.from == nil || r.from.Kind != Client || r.Role == RoleDiscovery {
			continue
		}
		if r.Role == RoleAuth {
			refused = refused || r.Error
		} else {
			others = true
		}
		if c, ok := registry.ParseCall(r.Op, r.Target); ok {
			calls = append(calls, c)
		}
	}
	if refused && !others {
		return "failed login"
	}
	return registry.Command(calls)
}
