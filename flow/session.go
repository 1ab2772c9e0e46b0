package flow

import (
	"sort"
	"time"
)

// sessions groups the roots into client sessions (one CLI command: its
// discovery, its authentication and the requests made with the token it
// got) and orders the roots session by session, so that concurrent clients
// are told one after the other. Session numbers start at 1.
func (m *Model) sessions() {
	if len(m.Roots) == 0 {
		return
	}
	byToken := map[*Token]int{}
	next := 1
	var pending []*Node // client requests without a token yet
	assign := func(n *Node, s int) { n.Session = s }
	flushPending := func(s int) {
		for _, p := range pending {
			assign(p, s)
		}
		pending = pending[:0]
	}
	for _, r := range m.Roots {
		if r.Proto != "http" || r.from == nil || r.from.Kind == Service {
			continue
		}
		key := r.token
		if key == nil && r.Role == RoleAuth {
			key = r.subject
		}
		if key == nil {
			// Discovery, a failed login: it belongs with what the same
			// client does next, unless that is long after or elsewhere.
			if len(pending) > 0 && (pending[0].from != r.from || r.Start.Sub(pending[len(pending)-1].End) > 5*time.Second) {
				flushPending(next)
				next++
			}
			pending = append(pending, r)
			continue
		}
		s, ok := byToken[key]
		if !ok {
			s = next
			next++
			byToken[key] = s
		}
		// Requests waiting for a session join this one when they came
		// from the same client just before.
		if len(pending) > 0 {
			if pending[0].from == r.from && r.Start.Sub(pending[len(pending)-1].End) <= 5*time.Second {
				flushPending(s)
			} else {
				flushPending(next)
				next++
			}
		}
		assign(r, s)
	}
	if len(pending) > 0 {
		flushPending(next)
	}
	// Everything else (work no request explains) goes with the session
	// in progress when it started.
	var timed []*Node
	for _, r := range m.Roots {
		if r.Session != 0 {
			timed = append(timed, r)
		}
	}
	for _, r := range m.Roots {
		if r.Session != 0 {
			continue
		}
		i := sort.Search(len(timed), func(i int) bool { return timed[i].Start.After(r.Start) })
		if i > 0 {
			r.Session = timed[i-1].Session
		} else if len(timed) > 0 {
			r.Session = timed[0].Session
		} else {
			r.Session = 1
		}
	}
	first := map[int]time.Time{}
	for _, r := range m.Roots {
		if t, ok := first[r.Session]; !ok || r.Start.Before(t) {
			first[r.Session] = r.Start
		}
	}
	sort.SliceStable(m.Roots, func(i, j int) bool {
		a, b := m.Roots[i], m.Roots[j]
		if a.Session != b.Session {
			return first[a.Session].Before(first[b.Session])
		}
		return false
	})
	// Renumber in order of appearance.
	num := map[int]int{}
	for _, r := range m.Roots {
		if _, ok := num[r.Session]; !ok {
			num[r.Session] = len(num) + 1
		}
		r.Session = num[r.Session]
	}
}
