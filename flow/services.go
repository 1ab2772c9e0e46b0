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
	hostHdr := map[string]netip.AddrPort{} // "controller:9292" -> server
	catalog := map[string]string{}         // "controller:9292" -> "glance"
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
			for u, name := range parseCatalog(resp.Body) {
				catalog[u] = name
			}
		}
	}
	for hp, name := range catalog {
		if srv, ok := hostHdr[hp]; ok {
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
		b.srvName[srv] = name
	}
}

// parseCatalog maps "host:port" of each endpoint URL in a keystone token
// response to the service's name.
func parseCatalog(body string) map[string]string {
	if !strings.Contains(body, `"catalog"`) {
		return nil
	}
	var doc struct {
		Token struct {
			Catalog []struct {
				Name      string `json:"name"`
				Type      string `json:"type"`
				Endpoints []struct {
					URL string `json:"url"`
				} `json:"endpoints"`
			} `json:"catalog"`
		} `json:"token"`
	}
	if json.Unmarshal([]byte(body), &doc) != nil {
		return nil
	}
	m := map[string]string{}
	for _, s := range doc.Token.Catalog {
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
