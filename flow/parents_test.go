package flow

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/http"
	"github.com/flowmap/flowmap/decoder/mysql"

	"github.com/flowmap/flowmap/internal/truth"
)

// TestAcceptedWorkGoesOn: glance answers POST /v2/images/{id}/import 202
// Accepted and imports the image afterwards (a task whose queries name
// the image and the task its own work inserted). That work is placed
// under the import request, by content, told after its answer; nothing
// of it is left a root placed in its session by timing.
func TestAcceptedWorkGoesOn(t *testing.T) {
	m := model(t, filepath.Join(truth.Root(), "testdata", "captures", "glance-import.pcapng"))
	var imp *Node
	m.Walk(func(n *Node, _ int) {
		if n.Proto == "http" && n.Op == "POST" && strings.HasSuffix(n.Target, "/import") {
			imp = n
		}
	})
	if imp == nil || imp.Status != 202 {
		t.Fatalf("no POST …/import answered 202 Accepted: %v", imp)
	}
	after := 0
	for _, c := range imp.Children {
		if !c.AfterAnswer() {
			continue
		}
		after++
		if !c.Start.After(imp.End) || c.Placed != ByContent || c.Role != RoleQuery && c.Role != RoleLogin {
			t.Errorf("%s at %v: after the answer at %v? placed by %q", c.Summary, c.Start, imp.End, c.Placed)
		}
	}
	if after < 100 {
		t.Errorf("%d queries under the import after its answer, want the task's (about 145)", after)
	}
	// glance's DB work after the answer, before the next command: all
	// under the import
	for _, r := range m.Roots {
		if r.To == "glance DB" && r.Start.After(imp.End) && r.Start.Sub(imp.End) < 2e9 {
			t.Errorf("glance DB work at %v after the import's answer left a root: %s", r.Start, r.Summary)
		}
	}
}

// TestAfterAnswerOnlyAfter202: over every golden capture, work told after
// its parent's answer is only ever under a request answered 202 Accepted,
// done by that request's service after the answer.
func TestAfterAnswerOnlyAfter202(t *testing.T) {
	for _, name := range truth.Captures(t) {
		m := model(t, filepath.Join(truth.Root(), "testdata", "captures", name+".pcapng"))
		m.Walk(func(n *Node, _ int) {
			if !n.AfterAnswer() {
				return
			}
			p := n.Parent()
			if p == nil || p.Status != 202 || !n.Start.After(p.End) || n.caller != p.server {
				t.Errorf("%s: %s at %v told after the answer of %v", name, n.Summary, n.Start, p)
			}
		})
	}
}

// TestAcceptedWorkConcurrent: two imports at once; the first one's task
// runs while the second import is still being answered, the only request
// in progress. Each query that names one image is under that image's
// requests, never the other's: the task's work after the answer goes to
// the import that asked for it, by content.
func TestAcceptedWorkConcurrent(t *testing.T) {
	m := model(t, filepath.Join(truth.Root(), "testdata", "captures", "import-concurrent.pcapng"))
	images := []string{"8d054e43-d7fe-4d56-b110-d1c11f5c4192", "0715f002-6a94-42fb-9a40-badf7dfa32b1"}
	after := map[string]int{}
	m.Walk(func(n *Node, _ int) {
		if n.To != "glance DB" {
			return
		}
		for k, img := range images {
			other := images[1-k]
			if !strings.Contains(n.Target, img) {
				continue
			}
			for p := n.Parent(); p != nil; p = p.Parent() {
				if strings.Contains(p.Target, other) {
					t.Errorf("%s at %v names %s but is under %s", n.Summary, n.Start, img[:8], p.Summary)
				}
			}
			if n.AfterAnswer() {
				after[img]++
				if p := n.Parent(); !strings.HasSuffix(p.Target, img+"/import") {
					t.Errorf("%s at %v told after the answer of %s", n.Summary, n.Start, p.Summary)
				}
			}
		}
	})
	for _, img := range images {
		if after[img] == 0 {
			t.Errorf("no query naming %s told after its import's answer", img[:8])
		}
	}
}

// TestAcceptedWorkOrListing: while an import goes on after its 202, an
// image list is in progress and looks the importing image's tags up
// too. Nothing tells whose that query is: it is a guess (≈) among the
// list and the import, never the import's for certain.
func TestAcceptedWorkOrListing(t *testing.T) {
	const img = "0b7e6c2a-1111-4222-8333-944455556666"
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	glance, client := netip.MustParseAddr("10.0.20.11"), netip.MustParseAddr("10.0.20.100")
	ex := func(id int, c, s netip.AddrPort, start, end float64, req, resp decoder.Message, proto string) *decoder.Exchange {
		sec := func(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }
		return synthetic(t0, id, c, s, sec(start), sec(end), req, resp, proto)
	}
	imp := ex(1, netip.AddrPortFrom(client, 40000), netip.AddrPortFrom(glance, 9292), 0, 0.05,
		&http.Request{Method: "POST", Target: "/v2/images/" + img + "/import"}, &http.Response{Status: 202}, "http")
	list := ex(2, netip.AddrPortFrom(client, 40002), netip.AddrPortFrom(glance, 9292), 0.1, 0.5,
		&http.Request{Method: "GET", Target: "/v2/images"}, &http.Response{Status: 200}, "http")
	tags := ex(3, netip.AddrPortFrom(glance, 50000), netip.AddrPortFrom(glance, 3306), 0.2, 0.21,
		&mysql.Request{Command: "COM_QUERY", User: "glance", UserKnown: true, Query: "SELECT image_tags.value FROM image_tags WHERE image_tags.image_id = '" + img + "'"},
		&mysql.Response{Result: "rows"}, "mysql")
	m := Build([]*decoder.Exchange{imp, list, tags}, Options{})
	n := nodeOf(m, tags)
	if n.AfterAnswer() || !n.Ambiguous() || len(n.CandidatesP()) != 2 {
		t.Errorf("tag lookup under %v, placed by %q, after the answer %v, candidates %d: want a guess between the list and the import",
			n.Parent(), n.Placed, n.AfterAnswer(), len(n.CandidatesP()))
	}
}

// TestAcceptedSweep: the index of what requests name forgets those
// answered more than acceptedWindow ago, once it has doubled: it holds a
// window of the capture, not the capture.
func TestAcceptedSweep(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	a := &accepted{ids: map[*Node]map[string]bool{}, byID: map[string][]*Node{}}
	for i := range 1000 {
		r := &Node{End: t0.Add(time.Duration(i) * time.Minute)}
		id := fmt.Sprint(i)
		a.ids[r] = map[string]bool{id: true}
		a.byID[id] = []*Node{r}
		a.sweep(r.End)
		if len(a.ids) > 2*int(acceptedWindow/time.Minute)+130 {
			t.Fatalf("after %d requests a minute apart the index holds %d", i+1, len(a.ids))
		}
	}
	if len(a.byID) > len(a.ids) {
		t.Errorf("%d ids for %d requests: postings of forgotten requests kept", len(a.byID), len(a.ids))
	}
}

// TestAcceptedWorkLateGuess: DB work naming only the image a 202 took,
// minutes after the answer with nothing of the import between (glance's
// cache prefetcher may read that image too), is placed under the import
// as a guess (≈); work right after the answer, or naming the task the
// import inserted, stays certain.
func TestAcceptedWorkLateGuess(t *testing.T) {
	const img = "0b7e6c2a-1111-4222-8333-944455556666"
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	glance, client := netip.MustParseAddr("10.0.20.11"), netip.MustParseAddr("10.0.20.100")
	sec := func(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }
	query := func(id int, at float64, sql string) *decoder.Exchange {
		return synthetic(t0, id, netip.AddrPortFrom(glance, uint16(50000+id)), netip.AddrPortFrom(glance, 3306), sec(at), sec(at+0.01),
			&mysql.Request{Command: "COM_QUERY", User: "glance", UserKnown: true, Query: sql}, &mysql.Response{Result: "rows"}, "mysql")
	}
	imp := synthetic(t0, 1, netip.AddrPortFrom(client, 40000), netip.AddrPortFrom(glance, 9292), 0, sec(0.05),
		&http.Request{Method: "POST", Target: "/v2/images/" + img + "/import"}, &http.Response{Status: 202}, "http")
	soon := query(3, 1, "SELECT images.size FROM images WHERE images.id = '"+img+"'")
	late := query(4, 300, "SELECT images.size FROM images WHERE images.id = '"+img+"'")
	m := Build([]*decoder.Exchange{imp, soon, late}, Options{})
	if n := nodeOf(m, soon); n == nil || n.Parent() == nil || n.Ambiguous() {
		t.Errorf("work right after the answer: %+v", n)
	}
	if n := nodeOf(m, late); n == nil || n.Parent() == nil || !n.Ambiguous() {
		t.Errorf("work 5 min later naming only the image: not a guess: %+v", n)
	}
}
