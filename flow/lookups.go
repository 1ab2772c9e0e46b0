package flow

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"
)

// nameLookups finds the 404s a client expects: the OpenStack CLI given a
// name (openstack image show cirros) first asks for it as an id
// (GET /v2/images/cirros, 404) and then lists the collection by name
// (GET /v2/images?name=cirros). Such a 404, followed within 5 s by the
// same client's GET of the collection (or its /detail), with the same
// token, whose answer lists an item of that name, is a lookup that found nothing (Miss), not an error, and says
// so. A 404 whose name the listing does not find stays an error: the
// command failed.
func (b *builder) nameLookups() {
	byToken := map[*Token][]*Node{}
	for _, n := range b.nodes {
		if n.Proto == "http" && n.token != nil && n.Op == "GET" {
			byToken[n.token] = append(byToken[n.token], n)
		}
	}
	for _, ns := range byToken {
		for i, n := range ns {
			if n.Status != 404 || n.Outcome != Failed {
				continue
			}
			req, _ := n.httpMsgs()
			if req == nil {
				continue
			}
			path, _, _ := strings.Cut(req.Target, "?")
			j := strings.LastIndexByte(path, '/')
			name := path[j+1:]
			if j <= 0 || name == "" || isID(name) {
				continue
			}
			collection := path[:j]
			if k := strings.LastIndexByte(collection, '/'); k < 0 || isID(collection[k+1:]) {
				continue // a sub-resource of an id (…/{id}/file): no name lookup
			}
			if u, err := url.PathUnescape(name); err == nil {
				name = u
			}
			for _, m := range ns[i+1:] {
				if m.Start.Sub(n.End) > 5*time.Second {
					break
				}
				if m.from != n.from || m.Start.Before(n.End) || m.Status < 200 || m.Status > 299 {
					continue
				}
				mreq, mresp := m.httpMsgs()
				mpath, _, _ := strings.Cut(mreq.Target, "?")
				if mpath != collection && mpath != collection+"/detail" || mresp == nil || !listsName(mresp.Body, name) {
					continue
				}
				n.Outcome = Miss
				// (the name as printed: Target is redacted)
				shown, _, _ := strings.Cut(n.Target, "?")
				shown = shown[strings.LastIndexByte(shown, '/')+1:]
				n.note(n.to, false, "not an id: the client looks "+shown+" up by name next")
				break
			}
		}
	}
}

// listsName reports whether a listing's JSON ({"images": [{"name": …},
// …]}) has an item called name.
func listsName(body, name string) bool {
	if !strings.Contains(body, name) {
		return false
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal([]byte(body), &doc) != nil {
		return false
	}
	for _, raw := range doc {
		var items []struct {
			Name *string `json:"name"`
		}
		if json.Unmarshal(raw, &items) != nil {
			continue
		}
		for _, it := range items {
			if it.Name != nil && *it.Name == name {
				return true
			}
		}
	}
	return false
}
