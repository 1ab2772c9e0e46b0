package http

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/flowmap/flowmap/decoder"
)

// headerSecret tells how a header's value holds a credential.
type headerSecret uint8

const (
	secretNone      headerSecret = iota
	secretWhole                  // the whole value is the secret (tokens)
	secretScheme                 // "Scheme credentials": keep the scheme
	secretCookie                 // "a=1; b=2": every value
	secretSetCookie              // "a=1; Path=/": the first value only
)

// classifyHeader tells how header name holds a credential: HTTP's own
// credential headers, then those secrets names (flow's service registry).
func classifyHeader(name string, secrets *decoder.Secrets) headerSecret {
	switch {
	case strings.EqualFold(name, "Authorization"),
		strings.EqualFold(name, "Proxy-Authorization"):
		return secretScheme
	case strings.EqualFold(name, "Cookie"):
		return secretCookie
	case strings.EqualFold(name, "Set-Cookie"):
		return secretSetCookie
	case secrets.Header(name):
		return secretWhole
	}
	return secretNone
}

// redactHeaders returns h with credential values fingerprinted, and whether
// anything changed. h itself is never modified: a changed result is a copy.
func redactHeaders(h [][2]string, secrets *decoder.Secrets) ([][2]string, bool) {
	var out [][2]string
	for i, kv := range h {
		kind := classifyHeader(kv[0], secrets)
		if kind == secretNone || kv[1] == "" {
			continue
		}
		v := redactHeaderValue(kind, kv[1])
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

func redactHeaderValue(kind headerSecret, v string) string {
	switch kind {
	case secretWhole:
		return decoder.Fingerprint(v)
	case secretScheme:
		scheme, cred, ok := strings.Cut(v, " ")
		cred = strings.TrimLeft(cred, " ")
		if !ok || cred == "" {
			return decoder.Fingerprint(v)
		}
		return scheme + " " + decoder.Fingerprint(cred)
	case secretCookie:
		parts := strings.Split(v, ";")
		for i, p := range parts {
			parts[i] = redactCookiePair(p)
		}
		return strings.Join(parts, ";")
	case secretSetCookie:
		first, rest, ok := strings.Cut(v, ";")
		first = redactCookiePair(first)
		if !ok {
			return first
		}
		return first + ";" + rest
	}
	return v
}

// redactCookiePair fingerprints the value of " name=value", keeping the
// name and the surrounding spaces.
func redactCookiePair(p string) string {
	name, val, ok := strings.Cut(p, "=")
	if !ok {
		if strings.TrimSpace(p) == "" {
			return p
		}
		return decoder.Fingerprint(p)
	}
	if val == "" {
		return p
	}
	return name + "=" + decoder.Fingerprint(val)
}

// redactBody rewrites the secret values of a JSON or form body and reports
// whether it changed anything. Everything else stays byte for byte.
func redactBody(body, contentType string, secrets *decoder.Secrets) (string, bool) {
	if body == "" {
		return body, false
	}
	ct := strings.ToLower(contentType)
	if strings.Contains(ct, "x-www-form-urlencoded") {
		return redactForm(body, secrets)
	}
	return redactJSON(body, secrets)
}

type jsonEdit struct {
	start, end int // the string literal, quotes included
	repl       string
}

// redactJSON is a tolerant scanner rather than a parser, so that a body cut
// by MaxBody or a gap (not valid JSON) is still redacted: it walks string
// literals, tells keys (followed by ':') from values, and tracks under
// which key each object sits.
func redactJSON(body string, secrets *decoder.Secrets) (string, bool) {
	if !strings.Contains(body, `"`) {
		return body, false
	}
	var (
		edits   []jsonEdit
		names   []string // key of each open object/array; "" for none
		pending string   // last key read, waiting for its value
		hasKey  bool
	)
	parent := func() string {
		if len(names) == 0 {
			return ""
		}
		return names[len(names)-1]
	}
	for i := 0; i < len(body); {
		switch body[i] {
		case '"':
			end := scanJSONString(body, i)
			j := end
			for j < len(body) && isJSONSpace(body[j]) {
				j++
			}
			if j < len(body) && body[j] == ':' {
				pending, hasKey = jsonUnquote(body[i:end]), true
			} else {
				if hasKey && secrets.Field(pending, parent()) {
					val := jsonUnquote(body[i:end])
					edits = append(edits, jsonEdit{i, end, `"` + decoder.Fingerprint(val) + `"`})
				}
				hasKey = false
			}
			i = end
			continue
		case '{', '[':
			name := ""
			if hasKey {
				name = pending
			}
			if len(names) < 1000 {
				names = append(names, name)
			}
			hasKey = false
		case '}', ']':
			if len(names) > 0 {
				names = names[:len(names)-1]
			}
			hasKey = false
		case ',':
			hasKey = false
		}
		i++
	}
	if len(edits) == 0 {
		return body, false
	}
	var b strings.Builder
	b.Grow(len(body))
	last := 0
	for _, e := range edits {
		b.WriteString(body[last:e.start])
		b.WriteString(e.repl)
		last = e.end
	}
	b.WriteString(body[last:])
	return b.String(), true
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// scanJSONString returns the index just past the string literal starting
// at body[i] == '"', or len(body) when it is not terminated.
func scanJSONString(body string, i int) int {
	for j := i + 1; j < len(body); j++ {
		switch body[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(body)
}

// jsonUnquote decodes a string literal (quotes included); an unterminated
// or invalid one is returned without its quotes, undecoded.
func jsonUnquote(lit string) string {
	var s string
	if err := json.Unmarshal([]byte(lit), &s); err == nil {
		return s
	}
	lit = strings.TrimPrefix(lit, `"`)
	return strings.TrimSuffix(lit, `"`)
}

// redactForm fingerprints the values of secret keys of an
// application/x-www-form-urlencoded body, keeping the rest as sent.
func redactForm(body string, secrets *decoder.Secrets) (string, bool) {
	parts := strings.Split(body, "&")
	changed := false
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok || v == "" {
			continue
		}
		key, err := url.QueryUnescape(k)
		if err != nil {
			key = k
		}
		if !secrets.Field(key, "") {
			continue
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			val = v
		}
		parts[i] = k + "=" + decoder.Fingerprint(val)
		changed = true
	}
	if !changed {
		return body, false
	}
	return strings.Join(parts, "&"), true
}
