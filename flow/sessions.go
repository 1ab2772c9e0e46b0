package flow

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/flowmap/flowmap/decoder"
)

// model orders participants as a person would draw them (clients, then
// each service followed by its database, then caches, then the rest) and
// returns the trees.
func (b *builder) model() *Model {
	m := &Model{Tokens: b.order}
	m.Notes = append(m.Notes, b.hmacNotes()...)
	for i, n := range b.nodes {
		n.ID = b.firstID + i + 1
	}
	// Every node's Candidates is cut from one array.
	total := 0
	for _, n := range b.nodes {
		total += len(n.candidates)
	}
	ids := make([]int, 0, total)
	for _, n := range b.nodes {
		if len(n.candidates) > 0 {
			at := len(ids)
			for _, c := range n.candidates {
				ids = append(ids, c.ID)
			}
			n.Candidates = ids[at:len(ids):len(ids)]
		}
		if n.parent == nil {
			m.Roots = append(m.Roots, n)
		}
		sortNodes(n.Children)
	}
	sortNodes(m.Roots)
	m.sessions()
	var seen appearance
	seen.see(m.Roots)
	m.Participants = seen.participants(b.parts)
	return m
}

// hmacNotes say what is known of the HMAC-derived token cache keys.
func (b *builder) hmacNotes() []string {
	n := len(b.hmacKeys)
	switch {
	case n == 0:
		return nil
	case b.opts.MemcacheSecret == "":
		return []string{fmt.Sprintf("%d token cache keys are HMAC-derived (keystonemiddleware's memcache_security_strategy MAC or ENCRYPT): give --memcache-secret to tie them to their tokens", n)}
	case !b.hmacMatched:
		return []string{fmt.Sprintf("%d token cache keys are HMAC-derived and the --memcache-secret given matches none of them: is it the service's memcache_secret_key?", n)}
	}
	return []string{fmt.Sprintf("%d HMAC-derived token cache keys are of tokens not seen whole in the capture (issued before it or cut)", n)}
}

// appearance is the order in which participants first appear in the
// trees of client sessions, and apart from it in background work
// (periodic tasks, service reports): a service report caught before the
// first command does not put its services before the ones the commands
// called. Roots are seen in the model's order, which a segmented build
// (segments.go) keeps by seeing each segment's in turn.
type appearance struct {
	client, background map[*Participant]int
}

func (a *appearance) see(roots []*Node) {
	if a.client == nil {
		a.client, a.background = map[*Participant]int{}, map[*Participant]int{}
	}
	for _, r := range roots {
		seen := a.client
		if r.background {
			seen = a.background
		}
		walk(r, func(n *Node) {
			for _, p := range [...]*Participant{n.from, n.to} {
				if _, ok := seen[p]; !ok && p != nil {
					seen[p] = len(seen)
				}
			}
		})
	}
}

// participants are those of parts seen, in the diagrams' order: clients
// (each proxy after the client that first calls it), services with each
// DB right after its service, caches, the other DBs, then files; each
// group in order of first appearance, and the lifelines only background
// work uses after all the others, in the same order among themselves.
func (a *appearance) participants(parts map[string]*Participant) []*Participant {
	first := make(map[*Participant]int, len(a.client)+len(a.background))
	for p, i := range a.client {
		first[p] = i
	}
	inClient := len(first)
	var later []*Participant
	for p := range a.background {
		if _, ok := first[p]; !ok {
			later = append(later, p)
		}
	}
	slices.SortFunc(later, func(x, y *Participant) int { return cmp.Compare(a.background[x], a.background[y]) })
	for i, p := range later {
		first[p] = inClient + i
	}
	base := func(p *Participant) (int, int) {
		switch p.Kind {
		case Client, Proxy:
			return 0, first[p] // a proxy after the client that first calls it
		case Service:
			return 1, first[p]
		case DB:
			// right after its service
			if s := parts[strings.TrimSuffix(p.Name, " DB")]; s != nil && s != p {
				return 1, first[s]
			}
			return 3, first[p]
		case Cache:
			return 2, first[p]
		case Files:
			return 3, -1 // the seed's last lifeline, right after the caches
		}
		return 4, first[p]
	}
	rank := func(p *Participant) (int, int) {
		r, f := base(p)
		owner := p
		if s := parts[strings.TrimSuffix(p.Name, " DB")]; p.Kind == DB && s != nil {
			owner = s
		}
		if first[owner] >= inClient && p.Kind != Files {
			r += 5
		}
		return r, f
	}
	var ps []*Participant
	for _, p := range parts {
		if _, ok := first[p]; ok {
			ps = append(ps, p)
		}
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		ra, fa := rank(a)
		rb, fb := rank(b)
		if ra != rb {
			return ra < rb
		}
		if fa != fb {
			return fa < fb
		}
		return a.Kind != DB && b.Kind == DB
	})
	return ps
}

// SessionIdle is how long a token may go unused and its session go on: a
// client that uses it again later (Horizon, a script that keeps its
// token) starts a new session, headed with the same token. It also
// bounds how long a session stays open to a segmented build
// (segments.go).
const SessionIdle = 30 * time.Second

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sessions groups the roots into client sessions (one CLI command: its
// discovery, its authentication and the requests made with the token it
// got) and orders the roots session by session, so that concurrent clients
// are told one after the other. Session numbers start at 1.
func (m *Model) sessions() {
	if len(m.Roots) == 0 {
		return
	}
	// A session's key is the token its requests present (or a login was
	// issued); a failed login, which got none, is a session of its own.
	byKey := map[any]int{}
	lastEnd := map[any]time.Time{} // the end of each key's latest root
	next := 1
	key := func(r *Node) any {
		switch {
		case r.Proto != "http" || r.from == nil || r.from.Kind == Service:
			return nil
		// a login is the start of the token it gets, also when it
		// presents another (keystoneauth's token method: the CLI given
		// --os-token exchanges it for a scoped one)
		case r.Role == RoleAuth && r.subject != nil:
			return r.subject
		case r.Role == RoleAuth && r.Error:
			return r // refused: no token will follow
		case r.token != nil:
			return r.token
		}
		return nil
	}
	// A connection is one client process's: its requests without a key
	// belong to the session of the first key used on it.
	connKey := map[*decoder.Conn]any{}
	left := map[any]int{} // roots of each key not reached yet
	for _, r := range m.Roots {
		if k := key(r); k != nil {
			if connKey[r.Ex.Conn] == nil {
				connKey[r.Ex.Conn] = k
			}
			left[k]++
		}
	}
	// Client requests without a key (discovery) wait to be claimed, each
	// with its place among the roots. One on a connection no key claims,
	// older than 5 s when a session starts, can be claimed by no later
	// session (they start later still), nor one on a connection whose key
	// has no root left: it is set aside, so that a day of unauthenticated
	// health checks is not looked at by every session.
	type waiting struct {
		r  *Node
		at int
	}
	// A request a session takes only by being the oldest waiting one of
	// its kind (fresh, below) is a guess when its client had others of
	// that kind waiting then: which session made which is not known. Each
	// of them is then marked, with how many there were.
	contested := map[*Node]int{}
	var pending, aside []waiting
	for i, r := range m.Roots {
		if r.Proto != "http" || r.from == nil || r.from.Kind == Service {
			continue
		}
		key := key(r)
		if key == nil {
			pending = append(pending, waiting{r, i})
			continue
		}
		s, ok := byKey[key]
		if ok && r.Start.Sub(lastEnd[key]) > SessionIdle {
			ok = false // the same token after a pause: a session of its own
		}
		if !ok {
			s = next
			next++
			byKey[key] = s
		}
		lastEnd[key] = later(lastEnd[key], r.End)
		r.Session = s
		left[key]--
		// What went before on a connection of this key (glance's GET / on
		// the keep-alive connection of the listing) is part of it; a new
		// session also takes the oldest waiting request of each kind it
		// does not have yet (its GET /v3 before its login), from the same
		// client, started before it, among those on connections no key
		// claims: under concurrency each client did one of each.
		kinds := map[string]bool{r.Summary: true}
		var rivals map[string][]*Node // what a new session could take fresh, by kind
		if !ok {
			for _, w := range pending {
				p := w.r
				if connKey[p.Ex.Conn] == nil && p.from == r.from && p.Start.Before(r.Start) && r.Start.Sub(p.Start) <= 5*time.Second {
					if rivals == nil {
						rivals = map[string][]*Node{}
					}
					rivals[p.Summary] = append(rivals[p.Summary], p)
				}
			}
		}
		kept := pending[:0]
		for _, w := range pending {
			p := w.r
			owner := connKey[p.Ex.Conn]
			sameConn := owner == key
			kind := p.Summary
			fresh := !ok && owner == nil && p.from == r.from && !kinds[kind] &&
				p.Start.Before(r.Start) && r.Start.Sub(p.Start) <= 5*time.Second
			if sameConn || fresh {
				p.Session = s
				kinds[kind] = true
				if fresh && !sameConn {
					n := contested[p]
					if rs := rivals[kind]; len(rs) > 1 {
						n = max(n, len(rs))
						for _, q := range rs {
							contested[q] = max(contested[q], len(rs))
						}
					}
					if n > 1 {
						p.SessionPlaced, p.SessionsInProgress = ByOrder, n
					}
				}
				continue
			}
			if owner == nil && r.Start.Sub(p.Start) > 5*time.Second || owner != nil && left[owner] == 0 {
				aside = append(aside, w)
				continue
			}
			kept = append(kept, w)
		}
		pending = kept
	}
	pending = append(pending, aside...)
	slices.SortFunc(pending, func(a, b waiting) int { return cmp.Compare(a.at, b.at) })
	// Requests no token claimed: one session per client and burst.
	var prev *Node
	for _, w := range pending {
		p := w.r
		if prev == nil || prev.from != p.from || p.Start.Sub(prev.End) > 5*time.Second {
			next++
		}
		p.Session = next
		prev = p
	}
	// Everything else (work no request explains) goes with the session
	// that started a tree last before it, by timing alone: it says how
	// many sessions it could belong to by time.
	var timed []*Node
	for _, r := range m.Roots {
		if r.Session != 0 {
			timed = append(timed, r)
		}
	}
	inProgress := newOpenSessions(timed)
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
		r.SessionPlaced = ByTiming
		r.SessionsInProgress = inProgress.at(r.Start, r.Session)
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
	m.Sessions = len(num)
}

// openSessions answers how many sessions were in progress at a time: a
// session lasts from the start of its first tree to the end of its last
// (its trees tied to it, not those timing put there). Each span has
// first <= last, so those in progress at t are those begun by t less those
// over before it: two binary searches over the sorted starts and ends.
type openSessions struct {
	spans        map[int]sessionSpan
	firsts, ends []time.Time // sorted
}

type sessionSpan struct{ first, last time.Time }

func newOpenSessions(timed []*Node) *openSessions {
	o := &openSessions{spans: map[int]sessionSpan{}}
	for _, r := range timed {
		sp, ok := o.spans[r.Session]
		if !ok || r.Start.Before(sp.first) {
			sp.first = r.Start
		}
		if !ok || r.End.After(sp.last) {
			sp.last = r.End
		}
		o.spans[r.Session] = sp
	}
	for _, sp := range o.spans {
		o.firsts, o.ends = append(o.firsts, sp.first), append(o.ends, sp.last)
	}
	slices.SortFunc(o.firsts, time.Time.Compare)
	slices.SortFunc(o.ends, time.Time.Compare)
	return o
}

// at returns how many sessions a root that started at t could belong to
// by time: those in progress at t; and, when chosen was not, chosen, and
// also the next session when chosen was over by t (between two sessions,
// the one before is no likelier than the one after).
func (o *openSessions) at(t time.Time, chosen int) int {
	begun := sort.Search(len(o.firsts), func(i int) bool { return o.firsts[i].After(t) })
	over := sort.Search(len(o.ends), func(i int) bool { return !o.ends[i].Before(t) })
	n := begun - over
	if sp, ok := o.spans[chosen]; !ok || sp.first.After(t) || sp.last.Before(t) {
		n++
		if ok && sp.last.Before(t) && begun < len(o.firsts) {
			n++
		}
	}
	return n
}
