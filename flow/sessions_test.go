package flow

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/internal/truth"
)

// TestSessionPlacedByTiming checks, over every root of captures with one
// and with several client sessions, that a root is said to be in its
// session by timing exactly when nothing ties it to a client, and that
// the count of sessions it could belong to is what the sessions' spans
// say, counted here the slow way.
func TestSessionPlacedByTiming(t *testing.T) {
	for _, c := range []struct {
		name    string
		m       func(t *testing.T) *Model
		guessed bool // some root's session is a guess among several
	}{
		{"nova-concurrent", func(t *testing.T) *Model { return novaModel(t, "nova-concurrent") }, true},
		{"concurrent", func(t *testing.T) *Model {
			return model(t, filepath.Join(truth.Root(), "testdata", "captures", "concurrent.pcapng"))
		}, false},
		{"seed-image-list.lo", func(t *testing.T) *Model {
			return model(t, filepath.Join(truth.Root(), "testdata", "captures", "seed-image-list.lo.pcapng"))
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := c.m(t)
			type span struct{ first, last time.Time }
			spans := map[int]*span{}
			timing, guessed := 0, 0
			for _, r := range m.Roots {
				if r.SessionPlaced == ByTiming {
					continue
				}
				if r.FromP() == nil || r.FromP().Kind != Client {
					t.Errorf("root %d %s from %v is tied to session %d though no client sent it", r.ID, r.Summary, r.FromP(), r.Session)
				}
				s := spans[r.Session]
				if s == nil {
					s = &span{r.Start, r.End}
					spans[r.Session] = s
				}
				if r.Start.Before(s.first) {
					s.first = r.Start
				}
				if r.End.After(s.last) {
					s.last = r.End
				}
			}
			for _, r := range m.Roots {
				if r.SessionPlaced == "" || r.SessionPlaced == ByOrder { // TestSessionPlacedByOrder
					continue
				}
				timing++
				if r.SessionPlaced != ByTiming {
					t.Fatalf("root %d: session placed by %q", r.ID, r.SessionPlaced)
				}
				want := 0
				for _, s := range spans {
					if !r.Start.Before(s.first) && !r.Start.After(s.last) {
						want++
					}
				}
				if s := spans[r.Session]; s == nil || r.Start.Before(s.first) || r.Start.After(s.last) {
					want++
					later := false // a session starting after it
					for _, o := range spans {
						later = later || o.first.After(r.Start)
					}
					if s != nil && r.Start.After(s.last) && later {
						want++
					}
				}
				if r.SessionsInProgress != want {
					t.Errorf("root %d %s at %v: %d sessions in progress, want %d", r.ID, r.Summary, r.Start, r.SessionsInProgress, want)
				}
				if r.SessionGuessed() {
					guessed++
				}
			}
			t.Logf("%d roots, %d sessions; %d in theirs by timing, %d of them guesses", len(m.Roots), m.Sessions, timing, guessed)
			if timing == 0 {
				t.Fatal("no root placed in its session by timing: the test checks nothing")
			}
			if (guessed > 0) != c.guessed {
				t.Errorf("%d roots' sessions are guesses, want some: %v", guessed, c.guessed)
			}
			if m.Sessions == 1 && guessed > 0 {
				t.Errorf("one session, yet %d roots' sessions are guesses", guessed)
			}
		})
	}
}

// TestSessionPlacedByOrder: a client request no token ties to a session
// (version discovery on a connection no token used) is a guess, marked
// "order" with the count, exactly when another such request of the same
// kind from the same client could have been its session's instead: each
// began before the other's session, within 5 s (the two could be swapped
// and every session still begins after its request). Counted here the
// slow way, over every pair.
func TestSessionPlacedByOrder(t *testing.T) {
	for _, c := range []struct {
		name    string
		file    string
		guessed bool
	}{
		{"concurrent", filepath.Join(truth.Root(), "testdata", "captures", "concurrent.pcapng"), true},
		{"haproxy-concurrent", filepath.Join(truth.Root(), "testdata", "captures", "haproxy-concurrent.pcapng"), false},
		{"seed-image-list.lo", filepath.Join(truth.Root(), "testdata", "captures", "seed-image-list.lo.pcapng"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := model(t, c.file)
			owned := map[int]bool{} // connections a token or login is used on
			begin := map[int]time.Time{}
			for _, r := range m.Roots {
				if r.Token != "" || r.Role == RoleAuth {
					owned[r.Conn] = true
					if b, ok := begin[r.Session]; !ok || r.Start.Before(b) {
						begin[r.Session] = r.Start
					}
				}
			}
			var free []*Node // requests only their order places
			for _, r := range m.Roots {
				if r.Proto == "http" && r.FromP() != nil && r.FromP().Kind == Client && r.Token == "" && r.Role != RoleAuth && !owned[r.Conn] {
					if b, ok := begin[r.Session]; ok && r.Start.Before(b) {
						free = append(free, r)
					}
				}
			}
			ordered := 0
			for _, d := range free {
				rivals := 1
				for _, o := range free {
					if o != d && o.Session != d.Session && o.FromP() == d.FromP() && o.Summary == d.Summary &&
						o.Start.Before(begin[d.Session]) && begin[d.Session].Sub(o.Start) <= 5*time.Second &&
						d.Start.Before(begin[o.Session]) && begin[o.Session].Sub(d.Start) <= 5*time.Second {
						rivals++
					}
				}
				if got := d.SessionPlaced == ByOrder; got != (rivals > 1) {
					t.Errorf("%s at %v in session %d: placed by %q, %d could have made it", d.Summary, d.Start, d.Session, d.SessionPlaced, rivals)
				}
				if d.SessionPlaced == ByOrder {
					ordered++
					if !d.SessionGuessed() || d.SessionsInProgress < 2 {
						t.Errorf("%s at %v: placed by order among %d, guessed %v", d.Summary, d.Start, d.SessionsInProgress, d.SessionGuessed())
					}
				}
			}
			t.Logf("%d requests only their order places, %d of them guesses", len(free), ordered)
			if (ordered > 0) != c.guessed {
				t.Errorf("%d placed by order among several, want some: %v", ordered, c.guessed)
			}
		})
	}
}

// TestOpenSessions checks the count on spans that nest, touch and leave
// gaps.
func TestOpenSessions(t *testing.T) {
	at := func(s float64) time.Time { return time.Unix(1000, 0).Add(time.Duration(s * float64(time.Second))) }
	root := func(session int, start, end float64) *Node {
		return &Node{Session: session, Start: at(start), End: at(end)}
	}
	// session 1: 0-10 (two trees), 2: 2-4, 3: 4-6, 4: 20-21
	timed := []*Node{root(1, 0, 1), root(2, 2, 4), root(3, 4, 6), root(1, 8, 10), root(4, 20, 21)}
	o := newOpenSessions(timed)
	for _, q := range []struct {
		t      float64
		chosen int
		want   int
	}{
		{-1, 1, 1}, // before any: only the one chosen
		{0, 1, 1},
		{3, 2, 2},  // 1 and 2
		{4, 3, 3},  // 2 ends at 4, 3 starts: both, and 1
		{5, 3, 2},  // 1 and 3
		{7, 3, 3},  // 1 in progress, 3 over but chosen, 4 next
		{10, 1, 1}, // 1 ends at 10
		{15, 1, 2}, // nothing in progress: the one chosen, over, or 4 next
		{20.5, 4, 1},
		{30, 4, 1},
	} {
		if got := o.at(at(q.t), q.chosen); got != q.want {
			t.Errorf("at %v chosen %d: %d, want %d", q.t, q.chosen, got, q.want)
		}
	}
}

// TestTokenMethodLogin: a login with keystone's token method presents one
// token and gets another; it starts the session of the token it gets
// (the command that gave --os-token), not the one of the token it
// presents. One refused (404: the token was revoked) is a session of its
// own, says the token is not valid and marks it so.
func TestTokenMethodLogin(t *testing.T) {
	m := model(t, filepath.Join(truth.Root(), "testdata", "captures", "token-revoke.pcapng"))
	if m.Sessions != 4 {
		t.Errorf("%d sessions, want one per command: 4", m.Sessions)
	}
	exchanged, refused := 0, 0
	for _, r := range m.Roots {
		if r.Role != RoleAuth || r.TokenP() == nil {
			continue
		}
		if s := r.SubjectP(); s != nil {
			exchanged++
			for _, o := range m.Roots {
				if o.TokenP() == s && o.Session != r.Session {
					t.Errorf("login at %v (session %d) got %s, used in session %d", r.Start, r.Session, s.Fingerprint, o.Session)
				}
			}
			continue
		}
		refused++
		if r.Status != 404 || !r.TokenP().Invalid {
			t.Errorf("refused login at %v: status %d, token invalid %v", r.Start, r.Status, r.TokenP().Invalid)
		}
		said := false
		for _, nt := range r.Notes {
			said = said || strings.Contains(nt.Text, "token not valid: "+r.Token)
		}
		if !said {
			t.Errorf("refused login at %v says nothing of its token", r.Start)
		}
		for _, o := range m.Roots {
			if o != r && o.Session == r.Session && o.TokenP() != nil {
				t.Errorf("refused login's session %d also has %s at %v", r.Session, o.Summary, o.Start)
			}
		}
	}
	if exchanged != 1 || refused != 1 {
		t.Errorf("%d token logins answered, %d refused; want 1 and 1", exchanged, refused)
	}
}

// TestSessionIdle: a client that uses its token again after SessionIdle
// without a request starts a new session with it; sooner, or while a
// request of it is still in progress, the session goes on.
func TestSessionIdle(t *testing.T) {
	tok := [][2]string{{"X-Auth-Token", "gAAAAABsessionIdleTokenXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"}}
	get := func(conn int, start, end float64) *decoder.Exchange {
		return exchange(conn, fmt.Sprintf("10.0.0.1:%d", 40000+conn), "10.0.0.2:9292", start, end,
			&http.Request{Method: "GET", Target: "/v2/images", Headers: tok}, &http.Response{Status: 200})
	}
	for _, c := range []struct {
		name string
		exs  []*decoder.Exchange
		want int
	}{
		{"pause of 40 s", []*decoder.Exchange{get(1, 0, 1), get(2, 41, 42)}, 2},
		{"pause of 20 s", []*decoder.Exchange{get(1, 0, 1), get(2, 21, 22)}, 1},
		{"a long request between", []*decoder.Exchange{get(1, 0, 1), get(2, 5, 60), get(3, 80, 81)}, 1},
	} {
		if got := Build(c.exs, Options{}).Sessions; got != c.want {
			t.Errorf("%s: %d sessions, want %d", c.name, got, c.want)
		}
	}
}
