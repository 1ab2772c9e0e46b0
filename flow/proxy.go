package flow

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/http"
)

// Reverse proxies. Deployments put HAProxy (or nginx) in front of the
// APIs: a client's request reaches the proxy's address (a VIP), and the
// proxy sends the same request to a service's own address, adding the
// client's address to X-Forwarded-For. A capture on the host sees both
// legs; without this pass they were two calls of the client, the second
// from the proxy's host, as if the client had called twice.
//
// A leg to a service is matched to the client's request it relays: the
// same method and target, sent by the address its X-Forwarded-For (or
// Forwarded: for=) names last, on another connection, in progress when
// the leg began and ended no sooner, with the same Host (a proxy that
// sets Host itself, as nginx does by default, is paired only by the
// answers' request ids). The answers' request ids (or issued tokens),
// which the proxy relays unchanged, tell identical requests apart. The
// relayed leg goes under the client's request, from the proxy's
// lifeline: the client calls the proxy, the proxy the service. When
// several of the client's requests could still be the one, the latest
// begun is chosen and the choice is marked as timing's, with the others
// as candidates.

// proxyName is the lifeline of the proxies, or of each proxy address when
// a capture has several ("proxy 10.0.0.5").
const proxyName = "proxy"

// findProxies pairs relayed legs with the requests they relay, names the
// proxies' endpoints, and makes the proxies the callers of their
// connections to the services.
func (b *builder) findProxies() {
	type key struct {
		client         netip.Addr
		method, target string
	}
	var relayed []*decoder.Exchange
	for _, e := range b.exs {
		if req, ok := e.Request.(*http.Request); ok && forwardedFor(req).IsValid() {
			relayed = append(relayed, e)
		}
	}
	if len(relayed) == 0 {
		return // (the index below is built only when needed)
	}
	// each key's requests, for "which were in progress when the leg
	// began" (b.exs comes in order of start); a request never answered
	// lasts to the end of the capture, which the timeline's tree of
	// latest ends keeps from making every later walk go back to it
	byKey := map[key]*timeline[*decoder.Exchange]{}
	for _, e := range b.exs {
		if req, ok := e.Request.(*http.Request); ok {
			k := key{e.Conn.Client.Addr(), req.Method, req.Target}
			rs := byKey[k]
			if rs == nil {
				rs = &timeline[*decoder.Exchange]{}
				byKey[k] = rs
			}
			rs.add(e, e.Start(), b.until(e))
		}
	}
	b.front = map[*decoder.Exchange][]*decoder.Exchange{}
	fronts := map[netip.AddrPort]bool{}
	for _, e := range relayed {
		req := e.Request.(*http.Request)
		client := forwardedFor(req)
		var cands, rewritten []*decoder.Exchange
		// in progress when the leg began, latest begun first
		byKey[key{client, req.Method, req.Target}].around(e.Start(), func(f *decoder.Exchange) {
			freq := f.Request.(*http.Request)
			switch {
			case f.Conn == e.Conn || f.Conn.Server == e.Conn.Server:
			case f.Response != nil && e.Response != nil && f.End().Before(e.End()):
				// answered before the leg was: not what it relays
			case forwardedFor(freq) == client:
				// another leg relayed for the same client (a proxy
				// on its client's host): not the client's request
			case !strings.EqualFold(freq.Header("Host"), req.Header("Host")):
				// a proxy that passes Host on (HAProxy) says another
				// service's; one that sets it (nginx's default) does not:
				// kept aside, for an answer that proves it
				rewritten = append(rewritten, f)
			default:
				cands = append(cands, f)
			}
		})
		cands = sameAnswer(e, cands, false)
		if len(cands) == 0 {
			cands = sameAnswer(e, rewritten, true)
		}
		if len(cands) == 0 {
			b.count(e, unseenLeg, "", e.Conn.Client.Addr()) // its client request is not in the capture
			b.relayedClient(e.Conn.ID, forwardedFor(req))
			continue
		}
		b.front[e] = cands
		fronts[cands[0].Conn.Server] = true
	}
	if len(b.front) == 0 {
		b.front = nil
		return
	}
	addrs := map[netip.Addr]bool{}
	for ap := range fronts {
		addrs[ap.Addr()] = true
	}
	if b.proxies == nil {
		b.proxies = map[string]bool{}
	}
	name := func(ap netip.AddrPort) string {
		if o := b.override(ap); o != "" {
			return o
		}
		if len(addrs) == 1 {
			return proxyName
		}
		return proxyName + " " + ap.Addr().String()
	}
	for ap := range fronts {
		b.srvName[ap] = name(ap)
		b.proxies[b.srvName[ap]] = true
	}
	// The proxy calls the services: its legs' connections are its, whatever
	// User-Agent it relays.
	for e, cands := range b.front {
		n := b.srvName[cands[0].Conn.Server]
		b.caller[e.Conn.ID] = n
		delete(b.callerByTiming, e.Conn.ID)
	}
}

// answerIDs are response headers a proxy relays unchanged that name one
// answer: the request id the service drew for it, the token keystone
// issued in it.
var answerIDs = [...]string{"X-OpenStack-Request-ID", "X-Compute-Request-ID", "X-Subject-Token"}

// sameAnswer keeps, of the client's requests a leg may relay, those whose
// answer carries the leg's answer's request id (or issued token), which the
// proxy relays unchanged: identical requests of one client at once (two
// logins) are told apart exactly. A candidate whose answer carries another
// id is not the one; one whose answer names none (or was not captured)
// stays a candidate, unless proven: then only the candidates an id proves
// are kept (none when no id does), for requests another Host set by the
// proxy would otherwise rule out.
func sameAnswer(leg *decoder.Exchange, cands []*decoder.Exchange, proven bool) []*decoder.Exchange {
	resp, ok := leg.Response.(*http.Response)
	if !ok {
		if proven {
			return nil
		}
		return cands
	}
	for _, h := range answerIDs {
		id := resp.Header(h)
		if id == "" {
			continue
		}
		var same, unknown []*decoder.Exchange
		for _, c := range cands {
			r, ok := c.Response.(*http.Response)
			switch {
			case ok && r.Header(h) == id:
				same = append(same, c)
			case !ok || r.Header(h) == "":
				unknown = append(unknown, c)
			}
		}
		if len(same) > 0 {
			return same
		}
		if !proven {
			cands = unknown
		}
	}
	if proven {
		return nil
	}
	return cands
}

// relayedClient notes that connection id relayed requests of client,
// whose own leg the capture does not have; a connection relaying several
// clients' requests names none.
func (b *builder) relayedClient(id int, client netip.Addr) {
	if b.relayedFor == nil {
		b.relayedFor = map[int]netip.Addr{}
	}
	if a, ok := b.relayedFor[id]; ok && a != client {
		client = netip.Addr{}
	}
	b.relayedFor[id] = client
}

// addrList names addresses in order, the first few of them.
func addrList(set map[netip.Addr]bool) string {
	as := make([]netip.Addr, 0, len(set))
	for a := range set {
		as = append(as, a)
	}
	slices.SortFunc(as, netip.Addr.Compare)
	var s []string
	for i, a := range as {
		if i == 3 {
			s = append(s, fmt.Sprintf("and %d more", len(as)-3))
			break
		}
		s = append(s, a.String())
	}
	return strings.Join(s, ", ")
}

// forwardedFor is the address a relayed request names last in
// X-Forwarded-For or Forwarded (for=): the peer the proxy took it from.
// Invalid when it names none.
func forwardedFor(req *http.Request) netip.Addr {
	if v := req.Header("X-Forwarded-For"); v != "" {
		parts := strings.Split(v, ",")
		if a, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1])); err == nil {
			return a.Unmap()
		}
	}
	if v := req.Header("Forwarded"); v != "" {
		elems := strings.Split(v, ",")
		for _, pair := range strings.Split(elems[len(elems)-1], ";") {
			k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if !ok || !strings.EqualFold(k, "for") {
				continue
			}
			val = strings.Trim(val, `"`)
			if ap, err := netip.ParseAddrPort(val); err == nil {
				return ap.Addr().Unmap()
			}
			if a, err := netip.ParseAddr(strings.Trim(val, "[]")); err == nil {
				return a.Unmap()
			}
		}
	}
	return netip.Addr{}
}

// linkProxied puts each relayed leg under the request it relays (linkParents,
// before any other placement). It reports whether n is such a leg.
func (b *builder) linkProxied(n *Node, nodeOf map[*decoder.Exchange]*Node) bool {
	cands := b.front[n.Ex]
	if len(cands) == 0 {
		return false
	}
	parent := nodeOf[cands[0]]
	if parent == nil {
		return false
	}
	n.parent, n.relayed = parent, true
	parent.Children = append(parent.Children, n)
	n.Placed = ByLink
	if len(cands) > 1 {
		n.Placed = ByTiming
		for _, c := range cands {
			if p := nodeOf[c]; p != nil {
				n.candidates = append(n.candidates, p)
			}
		}
	}
	return true
}

// isProxy reports whether name is a proxy's lifeline.
func (b *builder) isProxy(name string) bool { return b.proxies[name] }
