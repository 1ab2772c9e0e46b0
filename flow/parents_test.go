package flow

import (
	"path/filepath"
	"strings"
	"testing"

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
