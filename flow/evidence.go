package flow

import (
	"net/url"
	"sort"
	"strings"
	"time"
)

// Placement says what put a node under its parent, strongest first.
type Placement string

const (
	// ByLink: an exact link names the parent: the same global request id
	// or osprofiler trace, the token the node is about or passes on, the
	// service token obtained for the validation that follows.
	ByLink Placement = "link"
	// ByContent: the node's literals (names and ids in its SQL) name what
	// the parent is about, and no other candidate's.
	ByContent Placement = "content"
	// ByTiming: only timing placed it: the innermost request in progress
	// (when Candidates has more than one, another was in progress too).
	ByTiming Placement = "timing"
	// ByOrder (sessions only): a client's request that nothing ties to one
	// of its sessions (version discovery on a connection no token used)
	// went to the first session that client began after it, and it began
	// others then too: which one made it is a guess among
	// SessionsInProgress.
	ByOrder Placement = "order"
)

// Limits on the literals compared, so that a hostile query or target
// cannot make content evidence costly.
const (
	maxLiterals   = 64
	maxLiteralLen = 128
	minLiteralLen = 3 // shorter ones ('0', 'ok') name nothing
)

// appendLiterals appends ls to dst, up to maxLiterals in all.
func appendLiterals(dst, ls []string) []string {
	return append(dst, ls[:min(len(ls), max(0, maxLiterals-len(dst)))]...)
}

// scanLiterals appends the quoted string literals of q ('…' with ” and \'
// escapes), as PyMySQL inlines a request's parameters.
func scanLiterals(dst []string, q string) []string {
	for i := 0; i < len(q) && len(dst) < maxLiterals; i++ {
		if q[i] != '\'' {
			continue
		}
		var b strings.Builder
		j := i + 1
		for ; j < len(q); j++ {
			c := q[j]
			if c == '\\' && j+1 < len(q) {
				j++
				b.WriteByte(q[j])
				continue
			}
			if c == '\'' {
				if j+1 < len(q) && q[j+1] == '\'' {
					b.WriteByte('\'')
					j++
					continue
				}
				break
			}
			if b.Len() < maxLiteralLen {
				b.WriteByte(c)
			}
		}
		if s := b.String(); len(s) >= minLiteralLen {
			dst = append(dst, s)
		}
		i = j
	}
	return dst
}

// groupLiterals appends the SQL literals of the DB nodes of g to ls, from
// the SQL as sent (Summary is redacted for printing).
func groupLiterals(ls []string, g []*Node) []string {
	for _, n := range g {
		if n.sql != nil && n.Role == RoleQuery {
			ls = appendLiterals(ls, n.sql.literals)
		}
	}
	return ls
}

// literals are what request r names that the SQL run for it may carry:
// the segments and query values of its target, the user, domain and
// project a login asks for, and the ids of the tokens it presents,
// validates or is issued.
func (b *builder) literals(r *Node) map[string]bool {
	if ls, ok := b.lits[r]; ok {
		return ls
	}
	ls := map[string]bool{}
	add := func(vs ...string) {
		for _, v := range vs {
			if len(v) >= minLiteralLen && len(ls) < maxLiterals {
				ls[v] = true
			}
		}
	}
	target := r.Target
	if req, _ := r.httpMsgs(); req != nil {
		target = req.Target // as sent: Target is redacted for printing
	}
	path, query, _ := strings.Cut(target, "?")
	for _, seg := range strings.Split(path, "/") {
		if s, err := url.PathUnescape(seg); err == nil {
			add(s)
		}
	}
	if q, err := url.ParseQuery(query); err == nil {
		for _, vs := range q {
			add(vs...)
		}
	}
	if r.Role == RoleAuth {
		// the login's parameters: keystone looks its user up by name
		if req, _ := r.httpMsgs(); req != nil {
			user, domain, project := b.authRequest(req.Body)
			if project != "system all" {
				add(user, domain, strings.TrimPrefix(project, "domain "))
			} else {
				add(user, domain)
			}
		}
	}
	// Tokens only by their ids: keystone's SQL for a token names the ids
	// the token carries; the names it answers with come from the rows.
	for _, t := range []*Token{r.token, r.subject} {
		if t != nil {
			add(t.ids...)
		}
	}
	b.lits[r] = ls
	return ls
}

// checkEnd is when the token check of request r ended: keystonemiddleware
// looks r's token up in the cache (and on a miss validates it and stores
// the answer) before the service works on r, so no DB work of r's service
// can start before. Zero when no check was captured.
func (b *builder) checkEnd(r *Node) (end time.Time) {
	if t, ok := b.checks[r]; ok {
		return t
	}
	defer func() { b.checks[r] = end }()
	if r.token == nil || r.server == "" {
		return end
	}
	until := b.until(r.Ex)
	// The nodes about the token are in order of start: only those started
	// while r was in progress are looked at (a token a client uses all
	// day is about thousands).
	ns := b.bySubject[r.token]
	i := sort.Search(len(ns), func(i int) bool { return !ns[i].Start.Before(r.Start) })
	for _, n := range ns[i:] {
		if n.Start.After(until) {
			break
		}
		if n.caller != r.server {
			continue
		}
		switch n.Role {
		case RoleCacheGet, RoleCacheSet, RoleValidate:
			if n.End.After(end) {
				end = n.End
			}
		}
	}
	return end
}
