package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// nova-stop-start-reboot (testdata/nova, recorded with the lab's
// nova-scenarios.sh and the scenario in testdata/nova/nova-stop-start-reboot.scenarios.sh.diff):
// `openstack server stop`, a status poll, `server start`, a poll,
// `server reboot --wait`, `server delete --wait`, each a CLI process of its
// own; nova-compute with the fake driver.
const ssr = "nova-stop-start-reboot"

// TestNovaStopStartRebootStory: each command's API call, then nova-api's
// cast to nova-compute, then nova-compute's calls to the conductor, in
// the order the commands ran; the delete also frees the placement
// allocation and tells the schedulers (fanout). Six commands, six sessions.
func TestNovaStopStartRebootStory(t *testing.T) {
	out, errs, code := run(t, "trace", novaCapture(ssr))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	inOrder(t, arrows(t, out), []string{
		`^novaclient ->> nova-api: POST /v2.1/servers/\S+/action`,
		`^nova-api -\) nova-compute: stop_instance \(cast\)$`,
		`^nova-api -->> novaclient: 202 Accepted`,
		`^nova-compute ->> nova-conductor: object_action \(call\)$`,
		`^novaclient ->> nova-api: GET /v2.1/servers/`, // the poll
		`^novaclient ->> nova-api: POST /v2.1/servers/\S+/action`,
		`^nova-api -\) nova-compute: start_instance \(cast\)$`,
		`^nova-compute ->> nova-conductor: object_action \(call\)$`,
		`^novaclient ->> nova-api: POST /v2.1/servers/\S+/action`,
		`^nova-api -\) nova-compute: reboot_instance \(cast\)$`,
		`^nova-compute ->> nova-conductor: object_action \(call\)$`,
		`^novaclient ->> nova-api: DELETE /v2.1/servers/`,
		`^nova-api -\) nova-compute: terminate_instance \(cast\)$`,
		`^nova-compute ->> placement: DELETE /allocations/`,
		`^nova-compute -\) nova-scheduler: delete_instance_info \(fanout cast\)$`,
	})
	if n := len(regexp.MustCompile(`(?m)^  Note over C: session \d of 6 · admin token`).FindAllString(out, -1)); n != 6 {
		t.Errorf("%d client sessions headed by the admin's token, want 6 (one per command)", n)
	}
	if strings.Contains(out, "select_destinations") {
		t.Error("the scheduler is asked for a host: stop, start and reboot keep the instance where it is")
	}
}

type jrpc struct {
	Kind       string `json:"kind"`
	Method     string `json:"method"`
	RequestID  string `json:"request_id"`
	Background bool   `json:"background"`
}

type jnovaNode struct {
	Proto    string       `json:"proto"`
	From     string       `json:"from"`
	To       string       `json:"to"`
	Placed   string       `json:"placed_by"`
	Op       string       `json:"op"`
	Target   string       `json:"target"`
	Session  int          `json:"session"`
	RPC      *jrpc        `json:"rpc"`
	Children []*jnovaNode `json:"children"`
}

// TestNovaStopStartRebootTrees, over every node of the JSON model: each
// cast nova-api makes sits under the client request that asked for it
// (stop, start and reboot under POST …/action in that order, terminate under
// DELETE), every RPC under a client request carries that request's one
// request id, and the work no request caused (service reports, periodic
// tasks) is marked background and sits under no client request.
func TestNovaStopStartRebootTrees(t *testing.T) {
	out, errs, code := run(t, "trace", "--format", "json", novaCapture(ssr))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var m struct {
		Trees []*jnovaNode `json:"trees"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	var casts []string
	rpcs, background, neutron := 0, 0, 0
	for _, root := range m.Trees {
		client := root.Proto == "http"
		ids := map[string]bool{}
		var walk func(n *jnovaNode)
		walk = func(n *jnovaNode) {
			// nova-api and nova-compute call neutron (with
			// python-neutronclient's User-Agent) with the request id of
			// what they are handling: under it, by that link.
			if n.To == "neutron" {
				neutron++
				if n == root || n.Placed != "link" || (n.From != "nova-api" && n.From != "nova-compute") {
					t.Errorf("%s %s %s: from %s, placed by %q, root %v; want from nova-api or nova-compute under the request it served, by link", n.Op, n.Target, n.To, n.From, n.Placed, n == root)
				}
			}
			if r := n.RPC; r != nil {
				rpcs++
				switch {
				case client && r.Background:
					t.Errorf("background %s under the client request %s %s", r.Method, root.Op, root.Target)
				case client:
					ids[r.RequestID] = true
				case !r.Background:
					t.Errorf("%s (request id %s) is its own tree but not marked background", r.Method, r.RequestID)
				default:
					background++
				}
				if client && r.Kind == "cast" && strings.HasSuffix(r.Method, "_instance") {
					casts = append(casts, root.Op+" "+lastSegment(root.Target)+" → "+r.Method)
				}
			}
			for _, c := range n.Children {
				walk(c)
			}
		}
		walk(root)
		if len(ids) > 1 {
			t.Errorf("%s %s: RPCs of %d request ids under it: %v", root.Op, root.Target, len(ids), ids)
		}
	}
	want := []string{"POST action → stop_instance", "POST action → start_instance", "POST action → reboot_instance", "DELETE 3a2e7c36-431d-45c5-811b-ab09f77fa177 → terminate_instance"}
	if strings.Join(casts, "\n") != strings.Join(want, "\n") {
		t.Errorf("casts under client requests:\n%s\nwant:\n%s", strings.Join(casts, "\n"), strings.Join(want, "\n"))
	}
	if neutron < 15 {
		t.Errorf("%d requests to neutron, the capture has 19", neutron)
	}
	if rpcs < 40 || background == 0 {
		t.Errorf("%d RPC nodes, %d of them background: the capture has 42 compute→conductor calls and periodic reports", rpcs, background)
	}
}

func lastSegment(target string) string {
	target, _, _ = strings.Cut(target, "?")
	return target[strings.LastIndex(target, "/")+1:]
}
