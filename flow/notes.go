package flow

import (
	"fmt"
	"strings"
)

// explain adds the notes an operator would write beside the arrows: a
// service logging in on its own behalf, a token keystone refused, a failed
// login, what a token-cache lookup meant for the request it served.
func (b *builder) explain() {
	for _, n := range b.nodes {
		switch n.Role {
		case RoleAuth:
			if n.parent != nil && n.User != "" && !n.relayed {
				n.note(n.from, true, fmt.Sprintf("%s authenticates itself (user %s)", n.from.Name, n.User))
			}
			switch {
			case relays(n):
			case n.token != nil && n.Status == 404 && strings.Contains(strings.ToLower(n.Message), "token"):
				// keystone's token method: the token given is revoked,
				// expired or unknown
				n.note(n.to, false, "token not valid: "+n.token.Fingerprint)
			case n.Status == 401 || n.Status == 403:
				who := "the credentials"
				if n.User != "" {
					who = "user " + n.User
				}
				n.note(n.to, false, "authentication failed for "+who)
			}
		case RoleValidate:
			if n.Error && n.subject != nil {
				n.note(n.to, false, "token not valid: "+n.subject.Fingerprint)
			}
		case RoleCacheGet:
			b.explainCacheGet(n)
		}
	}
}

// relays reports whether a proxy relayed n to a service: what the
// service answered is told on that leg.
func relays(n *Node) bool {
	for _, c := range n.Children {
		if c.relayed {
			return true
		}
	}
	return false
}

// explainCacheGet says what a keystonemiddleware token lookup meant: a
// miss sends the service to keystone (when it then validates the token),
// a hit spares that call.
func (b *builder) explainCacheGet(n *Node) {
	t, p := n.subject, n.parent
	if t == nil || p == nil {
		return
	}
	switch n.Result {
	case "miss":
		var v *Node // the first validation of t after the lookup
		for _, s := range p.Children {
			if s.Role == RoleValidate && s.subject == t && s.Start.After(n.Start) && (v == nil || s.Start.Before(v.Start)) {
				v = s
			}
		}
		if v != nil {
			n.note(n.from, false, fmt.Sprintf("token not in cache: %s validates it with %s", n.from.Name, v.to.Name))
		}
	case "hit":
		n.note(n.from, false, "token found in cache: no call to keystone")
	}
}

func (n *Node) note(over *Participant, before bool, text string) {
	n.Notes = append(n.Notes, &Note{Text: text, Before: before, Over: over.Name, over: over})
}
