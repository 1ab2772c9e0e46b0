package flow

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/flow/registry"
)

// findTokens collects every keystone token: issued (POST /v3/auth/tokens),
// presented (X-Auth-Token) and validated (GET /v3/auth/tokens).
func (b *builder) findTokens() {
	for _, e := range b.exs {
		req, ok := e.Request.(*http.Request)
		if !ok {
			continue
		}
		resp, _ := e.Response.(*http.Response)
		switch {
		case registry.Authentication(req.Method, req.Target):
			if resp != nil && resp.Status == 404 && strings.Contains(strings.ToLower(errorMessage(resp.Header("Content-Type"), resp.Body)), "token") {
				// the token method refused the token it was given (not a
				// trust or anything else it could not find)
				if a := b.token(req.Header(registry.AuthTokenHeader)); a != nil {
					a.Invalid = true
				}
			}
			if resp == nil || resp.Status != 201 {
				b.token(req.Header(registry.AuthTokenHeader))
				continue
			}
			t := b.token(resp.Header(registry.SubjectTokenHeader))
			if t == nil {
				continue
			}
			t.Issued = e.RespEnd
			t.User, t.Domain, t.Project = b.authRequest(req.Body)
			b.fillFromBody(t, resp.Body)
		case registry.Validation(req.Method, req.Target):
			t := b.token(req.Header(registry.SubjectTokenHeader))
			if t == nil || resp == nil {
				continue
			}
			switch resp.Status {
			case 404: // keystone: the subject token is not valid
				t.Invalid = true
			case 401: // keystone refused the caller's own token, not the subject
				if a := b.token(req.Header(registry.AuthTokenHeader)); a != nil {
					a.Invalid = true
				}
			case 200:
				b.fillFromBody(t, resp.Body)
			}
		}
		b.token(req.Header(registry.AuthTokenHeader))
	}
	for _, t := range b.order {
		switch {
		case t.User != "":
			t.Owner = t.User + " token"
		case t.heldBy != "": // (makeNodes, in an earlier segment)
			t.Owner = t.heldBy + " token"
		case t.Invalid:
			t.Owner = "invalid token"
		default:
			t.Owner = "token"
		}
	}
}

func (b *builder) token(value string) *Token {
	if value == "" {
		return nil
	}
	if t := b.tokens[value]; t != nil {
		return t
	}
	sum := sha256.Sum256([]byte(value))
	sha := hex.EncodeToString(sum[:])
	t := b.bySHA[sha]
	if t != nil && t.Value == "" {
		// known by its cache key only, in an earlier segment
		// (segments.go): the same token, now whole
		t.Value = value
		b.tokens[value] = t
		b.secureKeys(t)
		return t
	}
	t = &Token{Value: value, Fingerprint: decoder.Fingerprint(value), sha: sha}
	b.tokens[value] = t
	b.bySHA[t.sha] = t
	b.secureKeys(t)
	b.order = append(b.order, t)
	return t
}

// secureKeys files t under its MAC and ENCRYPT cache keys, when the
// secret is given.
func (b *builder) secureKeys(t *Token) {
	if s := b.opts.MemcacheSecret; s != "" {
		for _, strategy := range []string{"MAC", "ENCRYPT"} {
			k := secureKey(t.Value, s, strategy)
			// Python 3 keystonemiddleware formats the key's bytes:
			// tokens/b'W+NmpHZBL2gZcuzknosBHg=='
			b.bySHA[k], b.bySHA["b'"+k+"'"] = t, t
		}
	}
}

// secureKey is keystonemiddleware's cache key under memcache_security_strategy
// MAC or ENCRYPT: base64 of the first third of HMAC-SHA384(secret, token+strategy)
// (keystonemiddleware's _memcache_crypt.derive_keys and get_cache_key).
func secureKey(token, secret, strategy string) string {
	m := hmac.New(sha512.New384, []byte(secret))
	m.Write([]byte(token + strategy))
	d := m.Sum(nil)
	return base64.StdEncoding.EncodeToString(d[:len(d)/3])
}

// named is how keystone's JSON refers to a user, project, domain or
// application credential; userRef is a user with its domain.
type named struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

type userRef struct {
	named
	Domain named `json:"domain"`
}

// authBody is the part of a keystone auth request flowmap reads.
type authBody struct {
	Auth struct {
		Identity struct {
			Methods  []string `json:"methods"`
			Password struct {
				User userRef `json:"user"`
			} `json:"password"`
			Token struct {
				ID string `json:"id"`
			} `json:"token"`
			AppCred named `json:"application_credential"`
		} `json:"identity"`
		Scope json.RawMessage `json:"scope"`
	} `json:"auth"`
}

// authRequest reads who logs in, and to which scope, from the body of a
// keystone POST /v3/auth/tokens (a token method names the user of the
// token it presents).
func (b *builder) authRequest(body string) (user, domain, project string) {
	// Several passes ask about each login: its JSON is read once.
	a, ok := b.auths[body]
	if !ok {
		a = parseAuth(body)
		b.auths[body] = a
	}
	if !a.ok {
		return "", "", ""
	}
	user, domain = a.user, a.domain
	// the token's owner may be learned after the first reading
	if t := b.tokens[a.tokenID]; t != nil && user == "" {
		user, domain = t.User, t.Domain
	}
	return user, domain, a.project
}

// authFacts are what a keystone auth request's body says, read by
// parseAuth; tokenID is the token a token method presents.
type authFacts struct {
	ok                             bool
	user, domain, project, tokenID string
}

func parseAuth(body string) authFacts {
	var ab authBody
	if json.Unmarshal([]byte(body), &ab) != nil {
		return authFacts{}
	}
	id := ab.Auth.Identity
	a := authFacts{ok: true, tokenID: id.Token.ID}
	a.user = firstOf(id.Password.User.Name, id.Password.User.ID, id.AppCred.Name)
	a.domain = id.Password.User.Domain.Name
	var sc struct {
		Project named           `json:"project"`
		Domain  named           `json:"domain"`
		System  map[string]bool `json:"system"`
	}
	if json.Unmarshal(ab.Auth.Scope, &sc) == nil {
		a.project = firstOf(sc.Project.Name, sc.Project.ID)
		switch {
		case a.project != "":
		case sc.Domain.Name != "" || sc.Domain.ID != "":
			a.project = "domain " + firstOf(sc.Domain.Name, sc.Domain.ID)
		case sc.System["all"]:
			a.project = "system all" // keystone's system scope
		}
	}
	return a
}

// tokenFacts is the part of a keystone token response flowmap reads about
// the token.
type tokenFacts struct {
	User    userRef         `json:"user"`
	Project named           `json:"project"`
	Domain  named           `json:"domain"`
	System  json.RawMessage `json:"system"`
}

type tokenBody struct {
	Token tokenFacts `json:"token"`
}

func (b *builder) fillFromBody(t *Token, body string) {
	if body == "" {
		return
	}
	tf, ok := b.issued[body] // read with the catalog (readIssued)
	if !ok {
		var tb tokenBody
		if json.Unmarshal([]byte(body), &tb) != nil {
			return
		}
		tf = tb.Token
	}
	if t.User == "" {
		t.User = tf.User.Name
	}
	if t.Domain == "" {
		t.Domain = tf.User.Domain.Name
	}
	if t.Project == "" {
		t.Project = tf.Project.Name
	}
	t.ids = appendNew(t.ids, tf.User.ID, tf.User.Domain.ID, tf.Project.ID)
}

// appendNew appends the non-empty values of vs that ss does not hold.
func appendNew(ss []string, vs ...string) []string {
	for _, v := range vs {
		if v != "" && !slices.Contains(ss, v) {
			ss = append(ss, v)
		}
	}
	return ss
}

// hmacDerived reports whether a token cache key (after "tokens/") is
// keystonemiddleware's MAC/ENCRYPT form: base64 of 16 bytes, bare or as
// Python 3 prints bytes (b'…').
func hmacDerived(k string) bool {
	if inner, ok := strings.CutPrefix(k, "b'"); ok {
		k, ok = strings.CutSuffix(inner, "'")
		if !ok {
			return false
		}
	}
	raw, err := base64.StdEncoding.DecodeString(k)
	return err == nil && len(raw) == 16
}

// cacheToken finds the token a keystonemiddleware cache key is about. A
// key of a token never seen whole (issued before the capture, or cut by the
// snaplen) still names it: its first 8 hex digits are the fingerprint.
func (b *builder) cacheToken(key string) *Token {
	k, ok := registry.TokenCacheKey(key)
	if !ok {
		return nil
	}
	if t := b.bySHA[k]; t != nil {
		if len(k) != 64 {
			b.hmacMatched = true
		}
		return t
	}
	if _, err := hex.DecodeString(k); len(k) != 64 || err != nil {
		if hmacDerived(k) && !b.hmacKeys[k] {
			b.hmacKeys[k] = true
		}
		return nil
	}
	t := &Token{Fingerprint: "sha256:" + k[:8], sha: k, Owner: "token"}
	b.bySHA[k] = t
	b.order = append(b.order, t)
	return t
}
