package flow

import (
	"strings"
	"time"
)

// Filter selects trees. Zero fields select everything.
type Filter struct {
	// From and To bound a tree's start, as offsets from the first exchange.
	From, To time.Duration
	// Token keeps trees in which a node presents or is about this token
	// (a fingerprint "sha256:67e8e033", or a prefix of one).
	Token string
	// Participant keeps trees in which this participant takes part.
	Participant string
	// Path keeps trees with an HTTP request whose target contains it.
	Path string
}

// matches reports whether the tree under r meets every criterion of f.
func (f Filter) matches(r *Node, origin time.Time) bool {
	off := r.Start.Sub(origin)
	if f.From > 0 && off < f.From || f.To > 0 && off > f.To {
		return false
	}
	tok, part, path := f.Token == "", f.Participant == "", f.Path == ""
	walk(r, func(n *Node) {
		if !tok && (matchFP(n.Token, f.Token) || matchFP(n.SubjectToken, f.Token)) {
			tok = true
		}
		if !part && (strings.EqualFold(n.From, f.Participant) || strings.EqualFold(n.To, f.Participant)) {
			part = true
		}
		if !path && n.Proto == "http" && strings.Contains(n.Target, f.Path) {
			path = true
		}
	})
	return tok && part && path
}

// Filter returns a model with only the client sessions f selects: a
// session stays whole (its discovery and login with it) when any of its
// trees matches every criterion.
func (m *Model) Filter(f Filter) *Model {
	return m.filterAt(f, m.Origin()).Prune()
}

// filterAt is Filter with the offsets of From and To counted from origin,
// before Prune.
func (m *Model) filterAt(f Filter, origin time.Time) *Model {
	keep := map[int]bool{}
	for _, r := range m.Roots {
		if keep[r.Session] || !f.matches(r, origin) {
			continue
		}
		keep[r.Session] = true
	}
	out := &Model{Participants: m.Participants, Tokens: m.Tokens, Sessions: m.Sessions, Notes: m.Notes}
	for _, r := range m.Roots {
		if keep[r.Session] {
			out.Roots = append(out.Roots, r)
		}
	}
	return out
}

// Origin is the start of the first tree.
func (m *Model) Origin() time.Time {
	var o time.Time
	for _, r := range m.Roots {
		if o.IsZero() || r.Start.Before(o) {
			o = r.Start
		}
	}
	return o
}

func matchFP(fp, want string) bool {
	if fp == "" {
		return false
	}
	want = strings.ToLower(want)
	if !strings.HasPrefix(want, "sha256:") {
		want = "sha256:" + want
	}
	return strings.HasPrefix(fp, want)
}

// walk calls fn for n and every node under it, parents first.
func walk(n *Node, fn func(*Node)) {
	fn(n)
	for _, c := range n.Children {
		walk(c, fn)
	}
}

// Prune drops participants and tokens no tree uses.
func (m *Model) Prune() *Model {
	used := map[*Participant]bool{}
	toks := map[string]bool{}
	m.Walk(func(n *Node, _ int) {
		used[n.from], used[n.to] = true, true
		toks[n.Token], toks[n.SubjectToken] = true, true
	})
	return m.pruneTo(used, toks)
}

// pruneTo keeps the participants in used and the tokens whose
// fingerprints are in toks.
func (m *Model) pruneTo(used map[*Participant]bool, toks map[string]bool) *Model {
	out := &Model{Roots: m.Roots, Sessions: m.Sessions, Notes: m.Notes}
	for _, p := range m.Participants {
		if used[p] {
			out.Participants = append(out.Participants, p)
		}
	}
	for _, t := range m.Tokens {
		if toks[t.Fingerprint] {
			out.Tokens = append(out.Tokens, t)
		}
	}
	return out
}
