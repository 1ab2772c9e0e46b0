package flow

import (
	"encoding/json"
	"net/netip"
	"strings"

	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/flow/registry"
)

// nameServices names every HTTP server endpoint: the user's --name, then the
// service catalog (URLs matched through the Host header), then paths, then
// the port.
func (b *builder) nameServices() {
	votes := map[netip.AddrPort]map[string]int{}
	hostHdr, catalog := b.hostHdr, b.catalog // kept for later segments
	for _, e := range b.exs {
		b.hosts[e.Conn.Server.Addr()] = true
		req, ok := e.Request.(*http.Request)
		if !ok {
			continue
		}
		srv := e.Conn.Server
		if votes[srv] == nil {
			votes[srv] = map[string]int{}
		}
		path, _, _ := strings.Cut(req.Target, "?")
		if s := registry.ByPath(path); s != "" {
			votes[srv][s] += 2
		}
		if h := req.Header("Host"); h != "" {
			if !strings.Contains(h, ":") {
				h += ":80"
			}
			hostHdr[strings.ToLower(h)] = srv
		}
		if resp, ok := e.Response.(*http.Response); ok && resp.Status == 201 && registry.Authentication(req.Method, req.Target) {
			for u, name := range b.readIssued(resp.Body) {
				catalog[u] = name
			}
		}
	}
	for hp, name := range catalog {
		if srv, ok := hostHdr[hp]; ok && votes[srv] != nil {
			votes[srv][name] += 100
		}
	}
	for srv, v := range votes {
		name := pickVote(v)
		if name == "" {
			name = registry.ByPort(srv.Port())
		}
		if name == "" {
			name = srv.String()
		}
		if o := b.override(srv); o != "" {
			name = o
		}
		if n, ok := b.named[srv]; ok {
			name = n // drawn so in an earlier segment (segments.go)
		}
		b.srvName[srv] = name
	}
}

// catalogEntry is a service of a keystone token's catalog.
type catalogEntry struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Endpoints []struct {
		URL string `json:"url"`
	} `json:"endpoints"`
}

// readIssued reads the response to a keystone login for its service
// catalog, and in the same decode for the facts of the token it issues
// (fillFromBody, kept by body): the catalog was the costly part of
// reading it twice. When reading both at once fails, the catalog is read
// on its own, as before (a type error in one part must not lose the
// other), and fillFromBody reads the facts on its own.
func (b *builder) readIssued(body string) map[string]string {
	var doc struct {
		Token struct {
			tokenFacts
			Catalog []catalogEntry `json:"catalog"`
		} `json:"token"`
	}
	if json.Unmarshal([]byte(body), &doc) != nil {
		return parseCatalog(body)
	}
	b.issued[body] = doc.Token.tokenFacts
	if !strings.Contains(body, `"catalog"`) {
		return nil
	}
	return catalogHosts(doc.Token.Catalog)
}

// parseCatalog maps "host:port" of each endpoint URL in a keystone token
// response to the service's name.
func parseCatalog(body string) map[string]string {
	if !strings.Contains(body, `"catalog"`) {
		return nil
	}
	var doc struct {
		Token struct {
			Catalog []catalogEntry `json:"catalog"`
		} `json:"token"`
	}
	if json.Unmarshal([]byte(body), &doc) != nil {
		return nil
	}
	return catalogHosts(doc.Token.Catalog)
}

// catalogHosts maps "host:port" of each endpoint URL of a catalog to the
// service's name.
func catalogHosts(catalog []catalogEntry) map[string]string {
	m := map[string]string{}
	for _, s := range catalog {
		// the registry's name for a known type: nova's catalog entry is
		// "nova", its API service nova-api
		name := firstOf(registry.ByCatalogType(s.Type), s.Name, s.Type)
		for _, ep := range s.Endpoints {
			u := ep.URL
			if i := strings.Index(u, "://"); i >= 0 {
				scheme := u[:i]
				u = u[i+3:]
				if j := strings.IndexAny(u, "/?"); j >= 0 {
					u = u[:j]
				}
				if !strings.Contains(u, ":") {
					if scheme == "https" {
						u += ":443"
					} else {
						u += ":80"
					}
				}
				m[strings.ToLower(u)] = name
			}
		}
	}
	return m
}
