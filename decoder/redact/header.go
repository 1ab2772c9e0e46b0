package redact

import "strings"

// Header redacts the value of header name: the whole value of a
// credential header (the registry's X-Auth-Token, X-Subject-Token, …, and
// names whose last word says so), the credentials of Authorization and
// Proxy-Authorization (the scheme is kept; Basic and Digest are keyed,
// bearer tokens get their token fingerprint), every cookie value, URLs in
// any header (Location, Referer) and shaped credentials anywhere.
func (p *Policy) Header(name, v string) string {
	if p.Shows() || v == "" {
		return v
	}
	switch {
	case strings.EqualFold(name, "Authorization"), strings.EqualFold(name, "Proxy-Authorization"):
		scheme, cred, ok := strings.Cut(v, " ")
		cred = strings.TrimLeft(cred, " ")
		if !ok || cred == "" {
			return p.Token(v)
		}
		if strings.EqualFold(scheme, "Basic") || strings.EqualFold(scheme, "Digest") {
			return scheme + " " + p.Secret(cred)
		}
		return scheme + " " + p.Token(cred)
	case strings.EqualFold(name, "Cookie"):
		parts := strings.Split(v, ";")
		for i, c := range parts {
			parts[i] = p.cookie(c)
		}
		return strings.Join(parts, ";")
	case strings.EqualFold(name, "Set-Cookie"):
		first, rest, ok := strings.Cut(v, ";")
		first = p.cookie(first)
		if !ok {
			return first
		}
		return first + ";" + rest
	}
	if k := p.header(name); k != none {
		return p.replace(k, v)
	}
	return p.Value(v)
}

// cookie replaces the value of " name=value", keeping the name and the
// spaces around it.
func (p *Policy) cookie(c string) string {
	name, val, ok := strings.Cut(c, "=")
	if !ok {
		if strings.TrimSpace(c) == "" {
			return c
		}
		return p.Token(c)
	}
	if val == "" {
		return c
	}
	return name + "=" + p.Token(val)
}

// Headers returns h with every value redacted, and whether anything
// changed. h itself is never modified: a changed result is a copy.
func (p *Policy) Headers(h [][2]string) ([][2]string, bool) {
	if p.Shows() {
		return h, false
	}
	var out [][2]string
	for i, kv := range h {
		v := p.Header(kv[0], kv[1])
		if v == kv[1] {
			continue
		}
		if out == nil {
			out = make([][2]string, len(h))
			copy(out, h)
		}
		out[i][1] = v
	}
	if out == nil {
		return h, false
	}
	return out, true
}
