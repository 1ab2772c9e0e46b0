package summary

import (
	"fmt"
	"slices"
	"time"

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

// findings adds to out what each finding weighed in the trees given.
func (s *Stream) findings(out *Summary, origin time.Time) {
	s.validationCost(out)
	s.revalidated(out)
	s.reauth(out)
	s.dbDominatedFinding(out)
	out.cacheMisses()
	s.noResponse(out, origin)
}

// validationCost: keystone's DB work for one token validation.
func (s *Stream) validationCost(out *Summary) {
	v := s.valid
	if v.worstQ < ValidationQueries {
		return
	}
	what := "a token"
	if v.worstTok != nil {
		what = v.worstTok.Label()
	}
	out.add("validation-cost", v.worstSession, map[string]float64{
		"queries": float64(v.worstQ), "db_time_ms": v.worstMs, "duration_ms": Ms(v.worstD),
		"validations": float64(v.n), "mean_queries": float64(v.total) / float64(v.n)},
		"validating %s cost %d DB queries (%s of DB time in %s)%s",
		what, v.worstQ, msText(v.worstMs), story.Dur(v.worstD), others(v.n, v.total))
}

// revalidated: the same token validated again by the same service while
// its cache entry should still have been alive (each service has its own
// token cache: two services validating one token is normal).
func (s *Stream) revalidated(out *Summary) {
	for _, k := range s.revalOrder {
		st := s.reval[k]
		vs := st.starts
		slices.SortFunc(vs, time.Time.Compare)
		life := DefaultTTL
		if d, ok := s.ttl[k.tk]; ok {
			life = d
		}
		again := 0
		var span time.Duration
		for i := 1; i < len(vs); i++ {
			if d := vs[i].Sub(vs[i-1]); d < life {
				again++
				span = vs[i].Sub(vs[0])
			}
		}
		if again == 0 {
			continue
		}
		out.add("revalidated", st.firstSession, map[string]float64{
			"validations": float64(len(vs)), "within_s": span.Seconds(), "ttl_s": life.Seconds()},
			"%s validated %d times within %s by %s, though its cache entry lives %.0f s",
			k.tk.Label(), len(vs), story.Dur(span), k.who, life.Seconds())
	}
}

// reauth: a service that logs in to keystone for (nearly) every request it
// serves instead of reusing its token.
func (s *Stream) reauth(out *Summary) {
	for _, p := range s.authOrder {
		a, r := s.auths[p], s.served[p]
		if a < ReauthMin || 2*a < r {
			continue
		}
		out.add("reauth", 0, map[string]float64{"authentications": float64(a), "requests_served": float64(r)},
			"%s authenticated to keystone %d times while serving %d requests: it does not keep its own token", p.Name, a, r)
	}
}

// dbDominatedFinding: requests whose time went mostly into DB queries.
func (s *Stream) dbDominatedFinding(out *Summary) {
	if s.dbHits == 0 {
		return
	}
	w := s.dbWorst
	out.add("db-dominated", w.session, map[string]float64{
		"requests": float64(s.dbHits), "worst_db_time_ms": w.ms, "worst_duration_ms": w.of, "worst_queries": float64(w.q)},
		"DB time is over half of %s; worst: %s → %s took %s, %s of it in %d DB queries (%.0f%%)",
		story.Plural(int64(s.dbHits), "request", "requests"), w.from, w.request,
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
func (s *Stream) noResponse(out *Summary, origin time.Time) {
	if s.lost == 0 {
		return
	}
	n := s.firstLost
	out.add("no-response", n.session, map[string]float64{"requests": float64(s.lost), "in_progress_at_end": float64(s.lostActive)},
		"%s never got a response (%d still in progress when the capture ends); first: %s → %s %s at +%s",
		story.Plural(int64(s.lost), "request", "requests"), s.lostActive, n.from, n.to,
		n.request, story.Dur(n.at.Sub(origin)))
}

func msText(ms float64) string { return story.Dur(time.Duration(ms * 1e6)) }

// others is what the other validations cost, when there were several.
func others(n, total int) string {
	if n < 2 {
		return ""
	}
	return fmt.Sprintf("; %d validations averaged %.0f queries", n, float64(total)/float64(n))
}
