package flow

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/amqp"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/flow/registry"
	"github.com/flowmap/flowmap/internal/truth"
)

// novaModel builds the model of a nova capture: testdata/nova's copy, or
// ../shared's (skipped when absent).
func novaModel(t *testing.T, name string) *Model {
	t.Helper()
	p := filepath.Join(truth.Root(), "testdata", "nova", name+".pcapng")
	if _, err := os.Stat(p); err != nil {
		p = truth.NeedShared(t, filepath.Join("nova", name+".pcapng"))
	}
	var o pipeline.Options
	o.HTTP.Ports = registry.HTTPPorts()
	var exs []*decoder.Exchange
	if _, err := pipeline.Run([]string{p}, o, func(e *decoder.Exchange) { exs = append(exs, e) }); err != nil {
		t.Fatal(err)
	}
	return Build(exs, Options{})
}

// rpcs lists the RPC nodes under n (n included).
func rpcsUnder(n *Node) []*Node {
	var out []*Node
	var walk func(*Node)
	walk = func(x *Node) {
		if x.RPC != nil {
			out = append(out, x)
		}
		for _, c := range x.Children {
			walk(c)
		}
	}
	walk(n)
	return out
}

// nodeOf is the node of exchange e in m, or nil.
func nodeOf(m *Model, e *decoder.Exchange) *Node {
	if ns := findNode(m, func(n *Node) bool { return n.Ex == e }); len(ns) > 0 {
		return ns[0]
	}
	return nil
}

func findNode(m *Model, fn func(*Node) bool) []*Node {
	var out []*Node
	m.Walk(func(n *Node, _ int) {
		if fn(n) {
			out = append(out, n)
		}
	})
	return out
}

// TestNovaBootRPC: on nova-boot every call has its reply (matched by
// _msg_id across connections), each AMQP connection's process is named
// by what it consumes, answers and publishes, and the boot's RPCs hang
// under the client's POST /v2.1/servers, each under the one its service
// was handling, with the HTTP calls they made under them.
func TestNovaBootRPC(t *testing.T) {
	m := novaModel(t, "nova-boot")
	var rpcs []*Node
	m.Walk(func(n *Node, _ int) {
		if n.RPC != nil {
			rpcs = append(rpcs, n)
		}
	})
	// nova-boot.summary.md lists 44 publishes: 20 calls, their 20
	// replies, 4 casts (2 of them fanout)
	calls, casts := 0, 0
	for _, n := range rpcs {
		switch n.RPC.Kind {
		case "call":
			calls++
			if n.Outcome != OK || n.RPC.ReplyPublished.IsZero() || n.RPC.ReplyDelivered.IsZero() || n.Result == "" {
				t.Errorf("%s %s: no reply matched (outcome %s)", n.Summary, n.RPC.MsgID, n.Outcome)
			}
		default:
			casts++
			if n.Outcome != NoAnswer {
				t.Errorf("cast %s: outcome %s", n.Summary, n.Outcome)
			}
		}
		if n.RPC.Consumers == 0 {
			t.Errorf("%s: no delivery matched", n.Summary)
		}
	}
	if calls != 20 || casts != 4 {
		t.Errorf("%d calls and %d casts, the capture has 20 and 4", calls, casts)
	}
	want := map[string][2]string{ // method -> publisher, consumer
		"schedule_and_build_instances": {"nova-api", "nova-conductor"},
		"select_destinations":          {"nova-conductor", "nova-scheduler"},
		"build_and_run_instance":       {"nova-conductor", "nova-compute"},
		"object_action":                {"nova-compute", "nova-conductor"},
		"update_instance_info":         {"nova-compute", "nova-scheduler"},
		"sync_instance_info":           {"nova-compute", "nova-scheduler"},
	}
	for _, n := range rpcs {
		if w, ok := want[n.RPC.Method]; ok && (n.From != w[0] || n.To != w[1]) {
			t.Errorf("%s drawn %s -> %s, want %s -> %s", n.Summary, n.From, n.To, w[0], w[1])
		}
	}
	posts := findNode(m, func(n *Node) bool { return n.Summary == "POST /v2.1/servers" })
	if len(posts) != 1 {
		t.Fatalf("%d POST /v2.1/servers", len(posts))
	}
	post := posts[0]
	parentIs := func(method, parent string) {
		t.Helper()
		for _, n := range rpcs {
			if n.RPC.Method == method && !n.RPC.Background {
				p := n.Parent()
				if p == nil || p.Summary != parent && !(p.RPC != nil && p.RPC.Method == parent) {
					t.Errorf("%s is under %v, want %s", n.Summary, p, parent)
				}
				return
			}
		}
		t.Errorf("no %s", method)
	}
	parentIs("schedule_and_build_instances", "POST /v2.1/servers")
	parentIs("select_destinations", "schedule_and_build_instances")
	parentIs("build_and_run_instance", "schedule_and_build_instances")
	parentIs("object_action", "build_and_run_instance")
	parentIs("update_instance_info", "build_and_run_instance")
	for _, n := range findNode(m, func(n *Node) bool {
		return strings.HasPrefix(n.Summary, "GET /allocation_candidates") || strings.HasPrefix(n.Summary, "PUT /allocations/")
	}) {
		if p := n.Parent(); p == nil || p.RPC == nil || p.RPC.Method != "select_destinations" || n.Placed != ByLink {
			t.Errorf("%s is under %v (placed by %q), want select_destinations by its request id", n.Summary, p, n.Placed)
		}
	}
	rid := ""
	for _, n := range rpcsUnder(post) {
		if rid == "" {
			rid = n.RPC.RequestID
		}
		if n.RPC.RequestID != rid || n.RPC.Background {
			t.Errorf("%s under the POST has request id %s (background %v), the boot's is %s", n.Summary, n.RPC.RequestID, n.RPC.Background, rid)
		}
	}
	if got := len(rpcsUnder(post)); got != 15 {
		t.Errorf("%d RPCs under the POST, the boot made 15 (nova-boot.summary.md)", got)
	}
	for _, n := range rpcs {
		if n.RPC.RequestID != rid && !n.RPC.Background {
			t.Errorf("%s (%s) is not the boot's and not background", n.Summary, n.RPC.RequestID)
		}
	}
}

// TestNovaBootFailRPC: the scheduler's NoValidHost reply is a failure
// of select_destinations, and the polling sees the server go to ERROR.
func TestNovaBootFailRPC(t *testing.T) {
	m := novaModel(t, "nova-boot-fail")
	sel := findNode(m, func(n *Node) bool { return n.RPC != nil && n.RPC.Method == "select_destinations" })
	if len(sel) != 1 {
		t.Fatalf("%d select_destinations", len(sel))
	}
	n := sel[0]
	if n.Outcome != Failed || !n.Error || n.RPC.Failure != "NoValidHost" || !strings.Contains(n.Message, "No valid host") || n.From != "nova-conductor" || n.To != "nova-scheduler" {
		t.Errorf("select_destinations: outcome %s, failure %q %q, %s -> %s", n.Outcome, n.RPC.Failure, n.Message, n.From, n.To)
	}
	if len(findNode(m, func(n *Node) bool { return n.RPC != nil && n.RPC.Method == "build_and_run_instance" })) != 0 {
		t.Error("a build_and_run_instance after NoValidHost")
	}
	last := ""
	for _, g := range findNode(m, func(n *Node) bool { return strings.HasPrefix(n.Summary, "GET /v2.1/servers/") }) {
		last = g.State
	}
	if last != "ERROR" {
		t.Errorf("the last poll says %q, want ERROR", last)
	}
}

// TestNovaConcurrentTrees: three boots at once give three trees, each
// with its own request id; over every node, no RPC of one boot sits in
// another's tree, and every RPC of a boot is in its tree.
func TestNovaConcurrentTrees(t *testing.T) {
	m := novaModel(t, "nova-concurrent")
	posts := findNode(m, func(n *Node) bool { return n.Summary == "POST /v2.1/servers" })
	if len(posts) != 3 {
		t.Fatalf("%d POST /v2.1/servers, want 3", len(posts))
	}
	owner := map[string]*Node{} // request id -> its POST
	for _, p := range posts {
		under := rpcsUnder(p)
		if len(under) < 5 {
			t.Errorf("POST at %v has %d RPCs under it", p.Start, len(under))
			continue
		}
		rid := under[0].RPC.RequestID
		if owner[rid] != nil {
			t.Errorf("two boots share request id %s", rid)
		}
		owner[rid] = p
		methods := map[string]bool{}
		for _, n := range under {
			methods[n.RPC.Method] = true
			if n.RPC.RequestID != rid {
				t.Errorf("%s with request id %s sits in the tree of %s", n.Summary, n.RPC.RequestID, rid)
			}
		}
		for _, mth := range []string{"schedule_and_build_instances", "select_destinations", "build_and_run_instance", "update_instance_info"} {
			if !methods[mth] {
				t.Errorf("boot %s: no %s in its tree", rid, mth)
			}
		}
	}
	m.Walk(func(n *Node, _ int) {
		if n.RPC == nil {
			return
		}
		p, ok := owner[n.RPC.RequestID]
		if !ok {
			return
		}
		root := n
		for root.Parent() != nil {
			root = root.Parent()
			if root == p {
				return
			}
		}
		t.Errorf("%s of boot %s is not in that boot's tree (root %s)", n.Summary, n.RPC.RequestID, root.Summary)
	})
}

// TestUnreadEnvelopesAreReported: an AMQP message whose oslo.messaging
// envelope could not be read (a body over the decoder's cap) is not drawn,
// and the model says so rather than losing it silently.
func TestUnreadEnvelopesAreReported(t *testing.T) {
	c := &decoder.Conn{ID: 1, Client: netip.MustParseAddrPort("10.0.20.11:40001"), Server: netip.MustParseAddrPort("10.0.20.11:5672")}
	at := time.Unix(1796000000, 0)
	var exs []*decoder.Exchange
	for i := range 2 {
		exs = append(exs, &decoder.Exchange{Proto: "amqp", Conn: c, OneWay: true, ReqStart: at.Add(time.Duration(i) * time.Second), ReqEnd: at.Add(time.Duration(i) * time.Second),
			Request: &amqp.Message{Kind: "publish", Exchange: "nova", RoutingKey: "compute.host1", Oslo: &amqp.Oslo{Error: "oslo.messaging envelope unreadable (body cut?)"}}})
	}
	m := Build(exs, Options{})
	found := false
	for _, n := range m.Notes {
		found = found || strings.HasPrefix(n, "2 AMQP messages not drawn: oslo.messaging envelope unreadable")
	}
	if !found {
		t.Fatalf("notes %q: the 2 unread messages are not reported", m.Notes)
	}
}

// TestNovaConcurrentEveryNode: over every node of the three boots' trees,
// nothing that carries another boot's request id (an RPC's, an
// X-OpenStack-Request-ID header, the request_id nova writes in SQL) sits
// in a boot's tree unless it is marked as a guess. (Another instance's
// uuid may: nova-compute looks up the allocations of every instance on its
// host while it builds one.)
func TestNovaConcurrentEveryNode(t *testing.T) {
	m := novaModel(t, "nova-concurrent")
	posts := findNode(m, func(n *Node) bool { return n.Summary == "POST /v2.1/servers" })
	if len(posts) != 3 {
		t.Fatalf("%d POST /v2.1/servers, want 3", len(posts))
	}
	// Each boot's request id (its RPCs') and instance uuid (what its
	// session polls).
	type boot struct{ rid, uuid string }
	boots := map[*Node]boot{}
	for _, p := range posts {
		var b boot
		if rs := rpcsUnder(p); len(rs) > 0 {
			b.rid = rs[0].RPC.RequestID
		}
		for _, g := range findNode(m, func(n *Node) bool {
			return n.Session == p.Session && strings.HasPrefix(n.Summary, "GET /v2.1/servers/") && n.Parent() == nil
		}) {
			b.uuid = strings.TrimPrefix(g.Target, "/v2.1/servers/")
		}
		if b.rid == "" || len(b.uuid) != 36 {
			t.Fatalf("boot at %v: request id %q, uuid %q", p.Start, b.rid, b.uuid)
		}
		boots[p] = b
	}
	checked := 0
	for p, own := range boots {
		var walk func(n *Node)
		walk = func(n *Node) {
			checked++
			text := n.Summary + " " + n.Target + " " + n.reqHeader("X-OpenStack-Request-ID")
			if n.RPC != nil {
				text += " " + n.RPC.RequestID
			}
			if req, ok := n.Ex.Request.(interface{ Summary() string }); ok {
				text += " " + req.Summary()
			}
			for q, other := range boots {
				if q == p || !strings.Contains(text, other.rid) {
					continue
				}
				if !guessedUp(n, p) {
					t.Errorf("in the tree of boot %s: %q names boot %s, unmarked (placed %q)", own.rid, truncate(n.Summary, 90), other.rid, n.Placed)
				}
			}
			for _, c := range n.Children {
				walk(c)
			}
		}
		walk(p)
	}
	if checked < 300 {
		t.Fatalf("only %d nodes checked", checked)
	}
}

// guessedUp reports whether n or a node between it and top is a guess.
func guessedUp(n, top *Node) bool {
	for ; n != nil && n != top; n = n.Parent() {
		if n.Ambiguous() {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// TestNovaRequestIDInSQL: nova writes the request id it works for in its
// SQL (instance_actions.request_id); the conductor's INSERT while it
// handles schedule_and_build_instances (a cast: no visible end) goes under
// that cast by content, drawn from the conductor, not as a guess.
func TestNovaRequestIDInSQL(t *testing.T) {
	m := novaModel(t, "nova-boot")
	ins := findNode(m, func(n *Node) bool { return strings.HasPrefix(n.Summary, "INSERT INTO instance_actions ") })
	if len(ins) == 0 {
		t.Fatal("no INSERT INTO instance_actions")
	}
	for _, n := range ins {
		p := n.Parent()
		if p == nil || p.RPC == nil || p.RPC.Method != "schedule_and_build_instances" || n.Placed != ByContent || n.From != "nova-conductor" || n.Ambiguous() {
			t.Errorf("%s: from %s, placed %q, under %v", n.Summary[:40], n.From, n.Placed, p)
		}
	}
}

// TestServiceTokenChecks: over every node of nova's captures, a service's
// check of a token (cache lookup, validation) that a request presents as
// X-Service-Token beside the user's own (glance checking nova's token) is
// placed under a request presenting it, by link: as certain as a check of
// the user's token, not a timing guess. (Were two requests in progress to
// present it, timing would choose between them, marked.)
func TestServiceTokenChecks(t *testing.T) {
	for _, name := range []string{"nova-boot", "nova-concurrent"} {
		m := novaModel(t, name)
		checked := 0
		m.Walk(func(n *Node, _ int) {
			p := n.Parent()
			if n.subject == nil || p == nil || p.service != n.subject || p.token == n.subject {
				return
			}
			checked++
			if n.Placed != ByLink {
				t.Errorf("%s: node %d (%s) placed by %s under %d, which presents the token it checks", name, n.ID, n.Summary, n.Placed, p.ID)
			}
		})
		if checked == 0 {
			t.Errorf("%s: no check of a service token under a request presenting it", name)
		}
	}
}

// TestServiceTokenShown: every request that presents X-Service-Token says
// which token it is (its fingerprint, the service's own token), and no
// other request claims one.
func TestServiceTokenShown(t *testing.T) {
	m := novaModel(t, "nova-boot")
	shown := 0
	m.Walk(func(n *Node, _ int) {
		req, _ := n.httpMsgs()
		hdr := ""
		if req != nil {
			hdr = req.Header(registry.ServiceTokenHeader)
		}
		switch {
		case hdr == "" && n.ServiceToken != "":
			t.Errorf("node %d (%s) presents no service token, yet says %s", n.ID, n.Summary, n.ServiceToken)
		case hdr != "":
			want := "sha256:" + hex.EncodeToString(sha256Sum(hdr))[:8]
			if n.ServiceToken != want || n.ServiceTokenP() == nil || n.ServiceTokenP().Fingerprint != want {
				t.Errorf("node %d (%s): service token %q, want %s", n.ID, n.Summary, n.ServiceToken, want)
			}
			if n.ServiceTokenP() != nil && n.ServiceTokenP() == n.TokenP() {
				t.Errorf("node %d (%s): the service token is the user's", n.ID, n.Summary)
			}
			shown++
		}
	})
	if shown == 0 {
		t.Fatal("no request presents a service token: the test checks nothing")
	}
	t.Logf("%d requests present a service token", shown)
}

func sha256Sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
