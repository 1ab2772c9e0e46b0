package summary

import (
	"fmt"
	"sort"
	"time"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/render/story"
)

// Thresholds of the findings: below them a fact is normal life.
const (
	// ValidationQueries is the DB query count from which a token
	// validation is called costly.
	ValidationQueries = 20
	// DefaultTTL is keystonemiddleware's token cache time (token_cache_time)
	// when no cache store in the capture says otherwise.
	DefaultTTL = 300 * time.Second
	// ReauthMin is how many times a service must authenticate, at least
	// once per two requests it served, to be re-authenticating.
	ReauthMin = 3
	// DBShare and DBMinDuration: a tree whose DB time is over DBShare of
	// its duration, and that took at least DBMinDuration, is dominated by
	// the DB.
	DBShare       = 0.5
	DBMinDuration = 20 * time.Millisecond
	// MissRatio and MissMinGets: a cache with at least MissMinGets gets
	// missing at least MissRatio of them.
	MissRatio   = 0.5
	MissMinGets = 4
)

func (s *Summary) add(kind string, session int, nums map[string]float64, format string, args ...any) {
	s.Findings = append(s.Findings, Finding{Kind: kind, Text: fmt.Sprintf(format, args...), Session: session, Numbers: nums})
}

func (s *Summary) findings(m *flow.Model, origin time.Time) {
	s.validationCost(m)
	s.revalidated(m)
	s.reauth(m)
	s.dbDominated(m)
	s.cacheMisses()
	s.noResponse(m, origin)
}

// validationCost: keystone's DB work for one token validation.
func (s *Summary) validationCost(m *flow.Model) {
	var worst *flow.Node
	worstQ, total, n := 0, 0, 0
	var worstMs float64
	for _, r := range m.Roots {
		walk(r, func(v *flow.Node) {
			if v.Role != flow.RoleValidate {
				return
			}
			q, ms := dbWork(v)
			n++
			total += q
			if q > worstQ {
				worst, worstQ, worstMs = v, q, ms
			}
		})
	}
	if worst == nil || worstQ < ValidationQueries {
		return
	}
	what := "a token"
	if tk := worst.SubjectP(); tk != nil {
		what = tk.Label()
	}
	s.add("validation-cost", sessionOf(worst), map[string]float64{
		"queries": float64(worstQ), "db_time_ms": worstMs, "duration_ms": Ms(worst.End.Sub(worst.Start)),
		"validations": float64(n), "mean_queries": float64(total) / float64(n)},
		"validating %s cost %d DB queries (%s of DB time in %s)%s",
		what, worstQ, msText(worstMs), story.Dur(worst.End.Sub(worst.Start)), others(n, total))
}

// sessionOf is the session of the tree n is in.
func sessionOf(n *flow.Node) int {
	for n.Parent() != nil {
		n = n.Parent()
	}
	return n.Session
}

// revalidated: the same token validated again by the same service while
// its cache entry should still have been alive (each service has its own
// token cache: two services validating one token is normal).
func (s *Summary) revalidated(m *flow.Model) {
	type key struct {
		tk  *flow.Token
		who string
	}
	byKey := map[key][]*flow.Node{}
	var order []key
	ttl := map[*flow.Token]time.Duration{}
	m.Walk(func(n *flow.Node, _ int) {
		tk := n.SubjectP()
		if tk == nil {
			return
		}
		switch n.Role {
		case flow.RoleValidate:
			k := key{tk, name(n.FromP())}
			if _, ok := byKey[k]; !ok {
				order = append(order, k)
			}
			byKey[k] = append(byKey[k], n)
		case flow.RoleCacheSet:
			if n.Expiry != nil && *n.Expiry > 0 {
				ttl[tk] = time.Duration(*n.Expiry) * time.Second
			}
		}
	})
	for _, k := range order {
		vs := byKey[k]
		sort.SliceStable(vs, func(i, j int) bool { return vs[i].Start.Before(vs[j].Start) })
		life := DefaultTTL
		if d, ok := ttl[k.tk]; ok {
			life = d
		}
		again := 0
		var span time.Duration
		for i := 1; i < len(vs); i++ {
			if d := vs[i].Start.Sub(vs[i-1].Start); d < life {
				again++
				span = vs[i].Start.Sub(vs[0].Start)
			}
		}
		if again == 0 {
			continue
		}
		s.add("revalidated", sessionOf(vs[0]), map[string]float64{
			"validations": float64(len(vs)), "within_s": span.Seconds(), "ttl_s": life.Seconds()},
			"%s validated %d times within %s by %s, though its cache entry lives %.0f s",
			k.tk.Label(), len(vs), story.Dur(span), k.who, life.Seconds())
	}
}

// reauth: a service that logs in to keystone for (nearly) every request it
// serves instead of reusing its token.
func (s *Summary) reauth(m *flow.Model) {
	auths := map[*flow.Participant]int{}
	served := map[*flow.Participant]int{}
	var order []*flow.Participant
	m.Walk(func(n *flow.Node, _ int) {
		if to := n.ToP(); to != nil && to.Kind == flow.Service && n.Role != flow.RoleDiscovery {
			served[to]++
		}
		if from := n.FromP(); n.Role == flow.RoleAuth && from != nil && from.Kind == flow.Service {
			if auths[from] == 0 {
				order = append(order, from)
			}
			auths[from]++
		}
	})
	for _, p := range order {
		a, r := auths[p], served[p]
		if a < ReauthMin || 2*a < r {
			continue
		}
		s.add("reauth", 0, map[string]float64{"authentications": float64(a), "requests_served": float64(r)},
			"%s authenticated to keystone %d times while serving %d requests: it does not keep its own token", p.Name, a, r)
	}
}

// dbDominated: requests whose time went mostly into DB queries.
func (s *Summary) dbDominated(m *flow.Model) {
	type hit struct {
		n      *flow.Node
		q      int
		ms, of float64
	}
	var hits []hit
	for _, r := range m.Roots {
		d := r.End.Sub(r.Start)
		if d < DBMinDuration || !r.Answered() {
			continue
		}
		q, ms := dbWork(r)
		if ms > DBShare*Ms(d) {
			hits = append(hits, hit{r, q, ms, Ms(d)})
		}
	}
	if len(hits) == 0 {
		return
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].ms > hits[j].ms })
	w := hits[0]
	s.add("db-dominated", w.n.Session, map[string]float64{
		"requests": float64(len(hits)), "worst_db_time_ms": w.ms, "worst_duration_ms": w.of, "worst_queries": float64(w.q)},
		"DB time is over half of %s; worst: %s → %s took %s, %s of it in %d DB queries (%.0f%%)",
		story.Plural(int64(len(hits)), "request", "requests"), name(w.n.FromP()), story.Short(w.n.Summary, 60),
		msText(w.of), msText(w.ms), w.q, 100*w.ms/w.of)
}

// cacheMisses: caches that mostly miss.
func (s *Summary) cacheMisses() {
	for _, c := range s.Caches {
		if c.Gets < MissMinGets || c.HitRatio == nil || 1-*c.HitRatio < MissRatio {
			continue
		}
		s.add("cache-misses", 0, map[string]float64{"gets": float64(c.Gets), "misses": float64(c.Misses), "miss_ratio": 1 - *c.HitRatio},
			"%s: %d of %d gets missed (%.0f%%)", c.Name, c.Misses, c.Hits+c.Misses, 100*(1-*c.HitRatio))
	}
}

// noResponse: requests whose answer never came.
func (s *Summary) noResponse(m *flow.Model, origin time.Time) {
	var lost []*flow.Node
	m.Walk(func(n *flow.Node, _ int) {
		if unanswered(n) {
			lost = append(lost, n)
		}
	})
	if len(lost) == 0 {
		return
	}
	n := lost[0]
	inProgress := 0
	for _, l := range lost {
		if l.Outcome == flow.InProgress {
			inProgress++
		}
	}
	s.add("no-response", sessionOf(n), map[string]float64{"requests": float64(len(lost)), "in_progress_at_end": float64(inProgress)},
		"%s never got a response (%d still in progress when the capture ends); first: %s → %s %s at +%s",
		story.Plural(int64(len(lost)), "request", "requests"), inProgress, name(n.FromP()), name(n.ToP()),
		story.Short(n.Summary, 60), story.Dur(n.Start.Sub(origin)))
}

func msText(ms float64) string { return story.Dur(time.Duration(ms * 1e6)) }

// others is what the other validations cost, when there were several.
func others(n, total int) string {
	if n < 2 {
		return ""
	}
	return fmt.Sprintf("; %d validations averaged %.0f queries", n, float64(total)/float64(n))
}
