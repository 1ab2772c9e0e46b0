package story

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/flowmap/flowmap/flow"
)

// rpc tells an oslo.messaging call or cast service to service, with the
// broker folded; in Full detail the hop through the broker is drawn: the
// publish to it, the delivery from it, and the same for the reply.
func (t *teller) rpc(n *flow.Node) {
	from, to, br := n.FromP(), n.ToP(), n.BrokerP()
	one := []*flow.Node{n}
	cast := n.Role == flow.RoleRPCCast
	hop := t.opts.Detail == Full && br != nil && to != br && from != br
	if hop {
		t.add(Step{Kind: Call, From: from, To: br, Text: "publish " + rpcTarget(n) + ": " + rpcCall(n), Async: true, Folded: cast, Nodes: one})
		t.add(Step{Kind: Call, From: br, To: to, Text: "deliver " + rpcCall(n) + deliveredAfter(n), Async: true, Hop: true})
	} else {
		t.add(Step{Kind: Call, From: from, To: to, Text: rpcCall(n), Async: cast, Folded: cast, Nodes: one})
	}
	if p := n.Parent(); cast && p != nil && p.RPC == nil && subtreeEnd(n).After(p.End) {
		// an HTTP request answered while the work its cast caused went
		// on: that work is told after the answer
		t.later[p] = append(t.later[p], n.Children...)
		return
	}
	t.seq(n.Children)
	if cast {
		return
	}
	text, failed := rpcReply(n), failed(n)
	if hop && n.RPC != nil && !n.RPC.ReplyPublished.IsZero() {
		t.add(Step{Kind: Reply, From: to, To: br, Text: "publish reply to " + n.RPC.ReplyQueue, Hop: true})
		if !n.RPC.ReplyDelivered.IsZero() {
			t.add(Step{Kind: Reply, From: br, To: from, Text: text, Failed: failed, Nodes: one})
			return
		}
		t.add(Step{Kind: Reply, From: br, To: from, Text: "reply delivery not captured", Failed: true, Nodes: one})
		return
	}
	t.add(Step{Kind: Reply, From: to, To: from, Text: text, Failed: failed, Nodes: one})
}

// tellLater tells what n's casts caused after n was answered.
func (t *teller) tellLater(n *flow.Node) {
	l := t.later[n]
	if len(l) == 0 {
		return
	}
	delete(t.later, n)
	sort.SliceStable(l, func(i, j int) bool { return l[i].Start.Before(l[j].Start) })
	t.seq(l)
}

func subtreeEnd(n *flow.Node) time.Time {
	end := n.End
	for _, c := range n.Children {
		if e := subtreeEnd(c); e.After(end) {
			end = e
		}
	}
	return end
}

// rpcTarget is where a message was published: "nova/scheduler",
// "scheduler_fanout", "(default)/reply_…".
func rpcTarget(n *flow.Node) string {
	r := n.RPC
	if r == nil {
		return n.Target
	}
	x := r.Exchange
	if x == "" {
		x = "(default)"
	}
	if r.RoutingKey == "" {
		return x
	}
	return x + "/" + r.RoutingKey
}

func deliveredAfter(n *flow.Node) string {
	r := n.RPC
	if r == nil || r.Delivered.IsZero() {
		return " (delivery not captured)"
	}
	s := " · after " + Dur(r.Delivered.Sub(r.Published))
	if r.Consumers > 1 {
		s += fmt.Sprintf(" · %d consumers", r.Consumers)
	}
	return s
}

// rpcCall: "select_destinations (call)", "update_instance_info (fanout
// cast)".
func rpcCall(n *flow.Node) string {
	r := n.RPC
	if r == nil {
		return n.Summary
	}
	kind := r.Kind
	if kind == "fanout" {
		kind = "fanout cast"
	}
	s := r.Method + " (" + kind + ")"
	if r.Consumers == 0 {
		s += " · not delivered in the capture"
	}
	if n.Truncated {
		s += " ⚠ bytes lost in capture"
	}
	return s
}

// rpcReply: the result's kind or the failure, and how long the call took.
func rpcReply(n *flow.Node) string {
	r := n.RPC
	switch {
	case n.Outcome == flow.InProgress:
		return "no reply captured (capture ended)"
	case n.Outcome == flow.Lost:
		// (a reply later than that, which nova's long_rpc_timeout allows,
		// is not looked for past a minute when trace builds in segments)
		return "no reply captured within a minute"
	case r != nil && r.Failure != "":
		s := r.Failure
		if n.Message != "" {
			s += ": " + Short(n.Message, 80)
		}
		return s + " · " + Dur(n.End.Sub(n.Start))
	}
	s := "reply"
	if n.Result != "" {
		s += " " + n.Result
	}
	return s + " · " + Dur(n.End.Sub(n.Start))
}

// foldRoots folds, in Compact detail, what a person would draw as one
// arrow among a session's trees: the background RPCs of one process (its
// periodic tasks and reports: "background work (periodic tasks,
// reports): 6 RPCs …") and a client's
// polling (the same GET repeated: one arrow with the count and the
// states the answers gave). It returns whether kids[i] was told.
func (t *teller) foldRoots(kids []*flow.Node, i int) bool {
	k := kids[i]
	if t.opts.Detail != Compact || k.Parent() != nil {
		return false
	}
	var same []*flow.Node
	switch {
	case k.RPC != nil && k.Background():
		for _, o := range kids[i:] {
			if o.Background() && o.FromP() == k.FromP() && !t.told[o] {
				same = append(same, o)
			}
		}
		// even one: a service report in the middle of a command's
		// session is not part of it
		t.periodic(same)
	case k.Proto == "http" && k.Op == "GET" && !k.Background() && k.FromP() != nil && k.FromP().Kind == flow.Client:
		// the same GET again and again, with no other request of the
		// client between (a lookup before an action is not its polling)
		for _, o := range kids[i:] {
			if o.Proto != "http" || o.FromP() != k.FromP() || t.told[o] {
				continue
			}
			if o.Summary != k.Summary || o.ToP() != k.ToP() {
				break
			}
			same = append(same, o)
		}
		if len(same) < 2 || same[len(same)-1].State == "" {
			return false // the same GET twice, not a resource watched
		}
		t.polling(same)
	default:
		return false
	}
	for _, o := range same {
		t.told[o] = true
	}
	return true
}

// subtree lists ns and everything under them.
func subtree(ns []*flow.Node) []*flow.Node {
	var out []*flow.Node
	var walk func(n *flow.Node)
	walk = func(n *flow.Node) {
		out = append(out, n)
		for _, c := range n.Children {
			walk(c)
		}
	}
	for _, n := range ns {
		walk(n)
	}
	return out
}

// counted is "object_action ×3, sync_instance_info": names in order of
// first appearance with their counts.
func counted(names []string) string {
	var order []string
	n := map[string]int{}
	for _, s := range names {
		if n[s]++; n[s] == 1 {
			order = append(order, s)
		}
	}
	var parts []string
	for _, s := range order {
		if n[s] > 1 {
			parts = append(parts, fmt.Sprintf("%s ×%d", s, n[s]))
		} else {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

func (t *teller) periodic(rs []*flow.Node) {
	var methods []string
	failed, rpcs := false, 0
	for _, r := range rs {
		if r.RPC != nil {
			methods = append(methods, r.RPC.Method)
			rpcs++
		} else {
			methods = append(methods, r.Op)
		}
		failed = failed || r.Outcome == flow.Failed
	}
	all := subtree(rs)
	end := rs[len(rs)-1].End
	for _, n := range all {
		if n.End.After(end) {
			end = n.End
		}
	}
	what := Plural(int64(rpcs), "RPC", "RPCs")
	if rpcs < len(rs) {
		what += fmt.Sprintf(" and %d HTTP", len(rs)-rpcs)
	}
	text := fmt.Sprintf("background work (periodic tasks, reports): %s (%s) over %s · no captured client request", what, counted(methods), Dur(end.Sub(rs[0].Start)))
	if extra := len(all) - len(rs); extra > 0 {
		under := "them"
		if len(rs) == 1 {
			under = "it"
		}
		text += fmt.Sprintf(" · %d more exchanges under %s", extra, under)
	}
	t.add(Step{Kind: Call, From: rs[0].FromP(), To: rs[0].ToP(), Text: text, Failed: failed, Folded: true, Nodes: all})
}

func (t *teller) polling(gs []*flow.Node) {
	var statuses, states []string
	bad := false
	for _, g := range gs {
		st := replyText(g)
		if g.Status != 0 {
			st = fmt.Sprint(g.Status)
		}
		statuses = append(statuses, st)
		if g.State != "" && (len(states) == 0 || states[len(states)-1] != g.State) {
			states = append(states, g.State)
		}
		bad = bad || failed(g)
	}
	last := gs[len(gs)-1]
	text := fmt.Sprintf("%s ×%d (polling over %s) → %s", callText(gs[0]), len(gs), Dur(last.End.Sub(gs[0].Start)), counted(statuses))
	if len(states) > 0 {
		text += " · " + strings.Join(states, " → ")
	}
	t.add(Step{Kind: Call, From: gs[0].FromP(), To: gs[0].ToP(), Text: text, Failed: bad, Folded: true, Nodes: subtree(gs)})
}

// declareHops returns ps with the lifelines only the broker hops use (the
// broker in Full detail) added after the services, in the order the steps
// first name them.
func (tl *Teller) declareHops(ps []*flow.Participant) []*flow.Participant {
	have := map[*flow.Participant]bool{}
	for _, p := range ps {
		have[p] = true
	}
	type first struct {
		p  *flow.Participant
		at int
	}
	var extra []first
	for p, at := range tl.seen {
		if !have[p] {
			extra = append(extra, first{p, at})
		}
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i].at < extra[j].at })
	for _, e := range extra {
		i := len(ps)
		for i > 0 && ps[i-1].Kind != flow.Service && ps[i-1].Kind != flow.Client {
			i--
		}
		ps = append(ps[:i:i], append([]*flow.Participant{e.p}, ps[i:]...)...)
	}
	return ps
}
