package registry

import (
	"net/url"
	"strings"
)

// Call is what a command-line client's API request says about the command
// that made it: the resource ("image"), the action ("list", "show",
// "save", "create", "upload", "set", "delete") and a name the user typed,
// when the request carries one ("cirros" in GET /v2/images/cirros or
// GET /v2/images?name=cirros).
type Call struct {
	Resource, Action, Name string
}

// apiVersion matches the version segment that starts API paths: v2,
// v2.0, v2.1, v3.
func apiVersion(s string) bool {
	if len(s) < 2 || s[0] != 'v' {
		return false
	}
	for _, r := range s[1:] {
		if (r < '0' || r > '9') && r != '.' {
			return false
		}
	}
	return true
}

// metadata are path words that describe the API rather than a resource a
// command works on: clients fetch them on the side (glanceclient's
// GET /v2/schemas/image).
var metadata = map[string]bool{"schemas": true, "extensions": true, "versions": true}

// actionRank orders actions by how much they say about the command: a
// session that deletes an image also looked it up first.
var actionRank = map[string]int{"list": 1, "show": 2, "save": 3, "set": 4, "upload": 5, "create": 6, "delete": 7}

// ParseCall reads the command behind one API request. ok is false for
// requests that name no resource (version discovery, metadata).
func ParseCall(method, target string) (c Call, ok bool) {
	path, query, _ := strings.Cut(target, "?")
	var segs []string
	for _, s := range strings.Split(path, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	if len(segs) > 0 && apiVersion(segs[0]) {
		segs = segs[1:]
	}
	// nova's project-scoped paths: /v2.1/{project_id}/servers
	if len(segs) > 1 && isID(segs[0]) {
		segs = segs[1:]
	}
	if len(segs) == 0 || metadata[segs[0]] || strings.HasPrefix(segs[0], "OS-") {
		return Call{}, false
	}
	if segs[0] == "auth" {
		return Call{Resource: "token", Action: "issue"}, true
	}
	c.Resource = singular(segs[0])
	item, sub := "", ""
	if len(segs) > 1 {
		item = segs[1]
	}
	if len(segs) > 2 {
		sub = segs[2]
	}
	if item != "" && item != "detail" && !isID(item) {
		if n, err := url.PathUnescape(item); err == nil {
			c.Name = n
		}
	}
	if c.Name == "" {
		if q, err := url.ParseQuery(query); err == nil {
			c.Name = q.Get("name")
		}
	}
	switch strings.ToUpper(method) {
	case "GET", "HEAD":
		switch {
		case item == "" || item == "detail":
			c.Action = "list"
		case sub == "file" || sub == "data" || sub == "download":
			c.Action = "save"
		default:
			c.Action = "show"
		}
	case "POST":
		c.Action = "create"
		if item != "" {
			c.Action = "set"
		}
	case "PUT":
		c.Action = "set"
		if sub == "file" || sub == "data" || sub == "upload" {
			c.Action = "upload"
		}
	case "PATCH":
		c.Action = "set"
	case "DELETE":
		c.Action = "delete"
	default:
		return Call{}, false
	}
	return c, true
}

// Command guesses the CLI command behind a client session's API requests,
// in the words of the openstack CLI: "image list", "image save cirros",
// "image delete up1". It is "" when no request names a resource.
func Command(calls []Call) string {
	best := -1
	for i, c := range calls {
		if best < 0 || actionRank[c.Action] > actionRank[calls[best].Action] ||
			actionRank[c.Action] == actionRank[calls[best].Action] && c.Resource != "token" && calls[best].Resource == "token" {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	c := calls[best]
	s := c.Resource + " " + c.Action
	name := c.Name
	if name == "" && c.Action != "list" && c.Action != "create" {
		// the name the user typed, from the lookups before the action
		for _, o := range calls {
			if o.Resource == c.Resource && o.Name != "" {
				name = o.Name
				break
			}
		}
	}
	if name != "" && c.Action != "list" {
		s += " " + name
	}
	return s
}

// singular turns a collection's path word into the CLI's resource word:
// images → image, policies → policy, security-groups → security group.
func singular(s string) string {
	s = strings.ReplaceAll(s, "-", " ")
	s = strings.ReplaceAll(s, "_", " ")
	switch {
	case strings.HasSuffix(s, "ies"):
		return strings.TrimSuffix(s, "ies") + "y"
	case strings.HasSuffix(s, "sses"):
		return strings.TrimSuffix(s, "es")
	case strings.HasSuffix(s, "s") && !strings.HasSuffix(s, "ss"):
		return strings.TrimSuffix(s, "s")
	}
	return s
}

// isID reports whether a path word is an id rather than a name: a UUID or
// 32 hex digits (keystone's ids).
func isID(s string) bool {
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 {
		return false
	}
	for _, r := range h {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return true
}
