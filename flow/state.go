package flow

import (
	"encoding/json"
	"strings"
)

// resourceStates reads the status of the resource each successful JSON
// answer describes: most OpenStack APIs answer {"server": {"status":
// "ACTIVE", …}} (one resource under its name). Version documents are not
// resources.
// A client's polling is told by the states it saw (BUILD → ACTIVE).
func (b *builder) resourceStates() {
	for _, n := range b.nodes {
		_, resp := n.httpMsgs()
		if resp == nil || n.Role == RoleDiscovery || resp.Status >= 300 || !strings.Contains(resp.Body, `"status"`) || len(resp.Body) > 1<<20 {
			continue
		}
		n.State = statusOf(resp.Body)
	}
}

func statusOf(body string) string {
	var top map[string]json.RawMessage
	if json.Unmarshal([]byte(body), &top) != nil {
		return ""
	}
	str := func(raw json.RawMessage) string {
		var s string
		if json.Unmarshal(raw, &s) != nil || len(s) > 40 {
			return ""
		}
		return s
	}
	if len(top) != 1 {
		return ""
	}
	for _, v := range top {
		var inner map[string]json.RawMessage
		if json.Unmarshal(v, &inner) == nil {
			return str(inner["status"])
		}
	}
	return ""
}
