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
