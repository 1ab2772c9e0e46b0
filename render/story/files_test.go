package story_test

import (
	"strings"
	"testing"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/internal/modeltest"
	"github.com/flowmap/flowmap/render/story"
)

// TestFileSteps: with strace's file nodes, full detail tells every node
// in exactly one call and compact every node but the routine file work
// (which it leaves out); a file node is one folded call from the service
// to the Local File System, with no reply, dashed when it moves a bulk of
// bytes.
func TestFileSteps(t *testing.T) {
	for _, c := range modeltest.StraceCases {
		m := modeltest.StraceModel(t, c.Name, c.Capture)
		all, routine := 0, 0
		m.Walk(func(n *flow.Node, _ int) {
			all++
			if n.IsFile() && n.Routine {
				routine++
			}
		})
		if routine == 0 || routine == all {
			t.Fatalf("%s: %d routine of %d nodes", c.Name, routine, all)
		}
		for _, detail := range []string{story.Compact, story.Full} {
			st := story.Tell(m, story.Options{Detail: detail})
			seen := map[*flow.Node]int{}
			for _, s := range st.Steps {
				if s.Kind != story.Call {
					for _, n := range s.Nodes {
						if n.IsFile() {
							t.Errorf("%s %s: a %v step for file node %q", c.Name, detail, s.Kind, n.Summary)
						}
					}
					continue // a reply stands for its call's nodes
				}
				for _, n := range s.Nodes {
					seen[n]++
					if !n.IsFile() {
						continue
					}
					if !s.Folded || len(s.Nodes) != 1 || s.From != n.FromP() || s.To.Name != flow.FileSystem || s.To.Kind != flow.Files {
						t.Errorf("%s %s: file step %+v", c.Name, detail, s)
					}
					big := n.ResponseBytes != nil && *n.ResponseBytes >= story.UploadBytes || n.RequestBytes != nil && *n.RequestBytes >= story.UploadBytes
					if s.Bulk != big {
						t.Errorf("%s: %q bulk %v", c.Name, s.Text, s.Bulk)
					}
					if detail == story.Compact && n.Routine {
						t.Errorf("%s compact tells routine %q", c.Name, s.Text)
					}
				}
			}
			want := all
			if detail == story.Compact {
				want = all - routine
			}
			if len(seen) != want {
				t.Errorf("%s %s: %d of %d nodes told", c.Name, detail, len(seen), want)
			}
			for n, k := range seen {
				if k != 1 {
					t.Errorf("%s %s: %s told %d times", c.Name, detail, n.Summary, k)
				}
			}
		}
	}
}

// TestFileText: the words of the file arrows, from the nodes' facts.
func TestFileText(t *testing.T) {
	m := modeltest.StraceModel(t, "upload-ttt", "upload-ttt.pcapng")
	st := story.Tell(m, story.Options{Detail: story.Compact})
	var texts []string
	for _, s := range st.Steps {
		if s.To != nil && s.To.Name == flow.FileSystem {
			texts = append(texts, s.Text)
		}
	}
	joined := strings.Join(texts, "\n")
	for _, want := range []string{
		"(write, create, truncate) · pid 26071",
		"write 303.1 kB in 5 writes, ",
		"unlink /var/lib/glance/images/",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("no %q in\n%s", want, joined)
		}
	}
}
