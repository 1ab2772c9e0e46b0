// Package story turns a flow.Model into the ordered, format-neutral steps of
// a sequence diagram: calls, replies (failed or bulk), folded bursts, notes
// and session headers. It decides what a person would draw and in which
// words; printers (render/mermaid, render/plantuml, ...) only put the steps
// into their syntax. Steps are chosen by a node's role and its
// participants' kinds, never by protocol name, so a new protocol that flow
// describes with neutral facts is drawn by every printer unchanged.
package story

import (
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/internal/line"
)

// Detail levels.
const (
	Compact = "compact" // one arrow per DB burst, discovery folded (default)
	Full    = "full"    // every exchange
)

// Options control what is told.
type Options struct {
	Detail string
}

// Kind is what a step draws.
type Kind uint8

const (
	// Call is a request arrow From → To. A call whose Reply is folded into
	// it (Folded) stands for the whole exchange.
	Call Kind = iota + 1
	// Reply is an answer arrow From (the server) → To (the caller).
	Reply
	// Note is a note over From.
	Note
	// Session announces a client session; a note over From.
	Session
)

func (k Kind) String() string {
	switch k {
	case Call:
		return "call"
	case Reply:
		return "reply"
	case Note:
		return "note"
	case Session:
		return "session"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Step is one line of the story.
type Step struct {
	Kind     Kind
	From, To *flow.Participant // To is nil for notes
	Text     string
	// Failed marks an answer that is an error or missing (a cache miss is
	// a normal answer); on a Folded call it marks the exchange.
	Failed bool
	// Bulk marks a reply that is a large data transfer (an image download).
	Bulk bool
	// Folded marks a call that already tells its reply (version discovery
	// in compact detail): no Reply step follows.
	Folded bool
	// Guessed marks a call that only timing placed under the request
	// drawn around it while other requests were in progress too (printers
	// mark it, e.g. "≈ "; the first such step is preceded by a note saying
	// so).
	Guessed bool
	// Nodes are the exchanges a Call or Reply stands for: one, or the
	// queries of a folded burst. Every node of the model is in exactly one
	// Call. Notes and sessions have none, nor do Hop steps.
	Nodes []*flow.Node
	// Async marks a message that waits for no answer (an RPC cast, a
	// publish to the broker): printers draw an asynchronous arrow.
	Async bool
	// Hop marks the leg of a message through a broker (Full detail): the
	// delivery to the consumer, the reply's publish. It has no Nodes: the
	// leg before or after it stands for the exchange.
	Hop bool
	// pending: a session header whose Text still holds sessionsMark
	// (Teller, Pending).
	pending bool
}

// Burst is how many exchanges a step folds (0 for notes and sessions).
func (s *Step) Burst() int { return len(s.Nodes) }

// Story is what printers print.
type Story struct {
	Participants []*flow.Participant
	Steps        []Step
}

// Tell returns the story of m: its sessions fed to a Teller one by one,
// then finished, with the session headers given their count.
func Tell(m *flow.Model, opts Options) *Story {
	st := &Story{}
	t := NewTeller(opts, func(s Step) { st.Steps = append(st.Steps, s) })
	for trees := range Sessions(m.Roots) {
		t.Session(trees)
	}
	st.Participants = t.Finish(m)
	steps := st.Steps[:0]
	for _, s := range st.Steps {
		if s.pending {
			var told bool
			if s.Text, told = SessionHeader(s.Text, m.Sessions); !told {
				continue
			}
			s.pending = false
		}
		steps = append(steps, s)
	}
	st.Steps = steps
	return st
}

// Sessions yields roots (a model's, in order) session by session: each
// run of roots with the same Session number.
func Sessions(roots []*flow.Node) iter.Seq[[]*flow.Node] {
	return func(yield func([]*flow.Node) bool) {
		for i := 0; i < len(roots); {
			j := i + 1
			for j < len(roots) && roots[j].Session == roots[i].Session {
				j++
			}
			if !yield(roots[i:j:j]) {
				return
			}
			i = j
		}
	}
}

// SessionPrinter prints a model one client session at a time (Session,
// with a session's roots in order), then what only the whole model
// settles (Close, with its Tail).
type SessionPrinter interface {
	Session(roots []*flow.Node) error
	Close(tail *flow.Model) error
}

// PrintSessions hands p the sessions of m one by one, in order, then its
// tail, as trace will once flow hands over each session as it closes
// (docs/streaming-trace.md). Close is called whatever happens: it
// removes the printer's temporary file.
func PrintSessions(p SessionPrinter, m *flow.Model) error {
	var err error
	for trees := range Sessions(m.Roots) {
		if err = p.Session(trees); err != nil {
			break
		}
	}
	if cerr := p.Close(Tail(m)); err == nil {
		err = cerr
	}
	return err
}

// Tail is m without its trees: what a Teller's Finish and the printers
// that print one session at a time need at the end.
func Tail(m *flow.Model) *flow.Model {
	t := *m
	t.Roots = nil
	return &t
}

// Teller tells a story one client session at a time, in the model's
// order, handing each step to its emit function as soon as it is told,
// so that a printer can print a session and drop it. It keeps only the
// story's own state between sessions (which once-per-story notes were
// told, the participants seen), never a session's nodes.
//
// What depends on the whole model is settled at Finish: the participants
// in their final order, and the number of sessions, which a session
// header ("session 3 of 7") names and which decides whether headers are
// told at all (not for one session). A header is emitted before that is
// known, as a pending step (Pending): printers keep its text and print
// SessionHeader(text, sessions) once they know the count.
type Teller struct {
	t    teller
	emit func(Step)
	// seen: every participant a step names, with the order of its first
	// appearance, for declareHops at Finish. (A session header names the
	// session's client, which its first tree's arrow names too: whether
	// headers are told or not, the lifelines only broker hops use come
	// in the same order.)
	seen  map[*flow.Participant]int
	order int
	fed   bool // a session was told
}

// NewTeller returns a teller that hands its steps to emit.
func NewTeller(opts Options, emit func(Step)) *Teller {
	if opts.Detail == "" {
		opts.Detail = Compact
	}
	tl := &Teller{emit: emit, seen: map[*flow.Participant]int{}}
	tl.t = teller{opts: opts, out: tl.step, told: map[*flow.Node]bool{}, later: map[*flow.Node][]*flow.Node{}}
	return tl
}

// Session tells the trees of one client session (roots in order, all with
// the same Session number; a run of several sessions is told as each of
// them). The teller keeps no reference to them afterwards.
func (tl *Teller) Session(roots []*flow.Node) {
	for trees := range Sessions(roots) {
		tl.fed = true
		tl.t.sessionHeader(trees)
		tl.t.seq(trees)
		// told and later cannot cross sessions: foldRoots folds roots
		// among their session's own, and a cast's later work is told
		// after its parent's reply, in the same tree. Fresh maps drop
		// the session's nodes.
		clear(tl.t.told)
		clear(tl.t.later)
	}
}

// Finish tells what only the whole model decides (the notes of a model
// with nothing to draw) and returns the story's participants in their
// final order: tail's (a model whose Roots need not be set), with the
// lifelines only broker hops use placed after the services.
func (tl *Teller) Finish(tail *flow.Model) []*flow.Participant {
	ps := tail.Participants
	if !tl.fed && len(tail.Roots) == 0 && len(tail.Notes) > 0 {
		// nothing to draw: the diagram says why
		p := &flow.Participant{Name: "flowmap", Kind: flow.Host}
		ps = []*flow.Participant{p}
		for _, n := range tail.Notes {
			tl.t.note(p, n)
		}
	}
	return tl.declareHops(ps)
}

func (tl *Teller) step(s Step) {
	for _, p := range []*flow.Participant{s.From, s.To} {
		if p == nil {
			continue
		}
		tl.order++
		if _, ok := tl.seen[p]; !ok {
			tl.seen[p] = tl.order
		}
	}
	tl.emit(s)
}

// Pending reports whether s is a session header told before the number
// of sessions was known (Teller): see SessionHeader.
func Pending(s Step) bool { return s.pending }

// sessionsMark stands for the number of sessions in a pending header.
const sessionsMark = "{sessions}"

// SessionHeader is the text of a pending session header in a story of
// that many sessions, and whether the header is told at all (not when
// there is only one session).
func SessionHeader(text string, sessions int) (string, bool) {
	return strings.Replace(text, sessionsMark, strconv.Itoa(sessions), 1), sessions > 1
}

type teller struct {
	opts      Options
	out       func(Step)
	explained bool // the note on guessed placements was told
	// sessionExplained: the note on work placed in its session by timing
	// among several was told
	sessionExplained bool
	// told: roots already told by a fold (rpc.go). later holds what a
	// request's casts caused after it was answered, told after its reply
	// (rpc.go). Both are emptied after each session (Teller.Session).
	told  map[*flow.Node]bool
	later map[*flow.Node][]*flow.Node
	// filesExplained: the note on file syscalls placed by strace's bytes
	// alone was told (files.go)
	filesExplained bool
	// orderExplained: the note on requests placed in their session by
	// order among several was told
	orderExplained bool
}

func (t *teller) add(s Step) {
	if s.Kind == Call {
		timing, session, order := false, false, false
		for _, n := range s.Nodes {
			timing = timing || n.Ambiguous()
			session = session || n.SessionGuessed() && n.SessionPlaced == flow.ByTiming
			order = order || n.SessionGuessed() && n.SessionPlaced == flow.ByOrder
		}
		s.Guessed = s.Guessed || timing || session || order
		if timing && !t.explained {
			t.explained = true
			t.note(s.From, GuessNote)
		}
		if session && !t.sessionExplained {
			t.sessionExplained = true
			t.note(s.From, SessionGuessNote)
		}
		if order && !t.orderExplained {
			t.orderExplained = true
			t.note(s.From, OrderGuessNote)
		}
	}
	t.out(s)
}

// GuessNote explains, once per story, the mark on guessed calls.
const GuessNote = "≈ placed by timing alone: other requests were in progress too, or only timing tells which process it was (--format json lists the candidates)"

// SessionGuessNote explains, once per story, the mark on work that only
// timing put in its session while other sessions were in progress too.
const SessionGuessNote = "≈ in this session by timing alone: nothing ties it to a client, and it may be another's, in progress then or next (--format json counts them)"

// OrderGuessNote explains, once per story, the mark on a client's request
// that only its order put in its session: the client began several
// sessions at once, each making the same request.
const OrderGuessNote = "≈ in this session by order alone: its client began other sessions then too, each making the same request (--format json counts them)"

func (t *teller) note(p *flow.Participant, text string) {
	t.add(Step{Kind: Note, From: p, Text: text})
}

// isDB and isCache sort nodes by role: DB work is folded into bursts,
// cache operations are named by their key's meaning; everything else is
// an API call with a reply.
func isDB(n *flow.Node) bool { return n.Role == flow.RoleQuery || n.Role == flow.RoleLogin }

func isCache(n *flow.Node) bool {
	return n.Role == flow.RoleCacheGet || n.Role == flow.RoleCacheSet || n.Role == flow.RoleCache
}

func isAPI(n *flow.Node) bool { return !isDB(n) && !isCache(n) }

func (t *teller) sessionHeader(trees []*flow.Node) {
	var who *flow.Participant
	var tok *flow.Token
	user := ""
	for _, r := range trees {
		if r.SessionPlaced == flow.ByTiming {
			continue // work only timing put here does not say whose it is
		}
		if r.Role == flow.RoleAuth && user == "" {
			user = r.User
		}
		if !isAPI(r) || r.Background() {
			continue // a service report in the session is not who it is
		}
		if who == nil {
			who = r.FromP()
		}
		if tok == nil {
			// a login's own token is the one it gets (the token method
			// presents another)
			if tok = r.SubjectP(); tok == nil || r.Role != flow.RoleAuth {
				tok = r.TokenP()
			}
		}
	}
	if who == nil {
		who = trees[0].FromP()
	}
	// the count is settled at the end (SessionHeader)
	text := fmt.Sprintf("session %d of %s", trees[0].Session, sessionsMark)
	if tok != nil {
		text += " · " + tok.Label()
	} else if user != "" {
		text += " · user " + user
	}
	t.add(Step{Kind: Session, From: who, Text: text, pending: true})
}

// seq tells sibling nodes in order, folding runs of DB work of one caller
// on one database into one burst unless Detail is Full.
func (t *teller) seq(kids []*flow.Node) {
	for i := 0; i < len(kids); {
		k := kids[i]
		if t.told[k] || t.foldRoots(kids, i) {
			i++
			continue
		}
		if k.IsFile() {
			t.file(k) // files.go
			i++
			continue
		}
		if t.opts.Detail == Compact && routineCache(k) {
			j := i + 1
			for j < len(kids) && routineCache(kids[j]) && kids[j].ToP() == k.ToP() && kids[j].FromP() == k.FromP() {
				j++
			}
			if j-i > 1 {
				t.cacheBurst(kids[i:j])
				i = j
				continue
			}
		}
		if !isDB(k) || t.opts.Detail == Full {
			t.node(k)
			i++
			continue
		}
		j := i + 1
		for j < len(kids) && isDB(kids[j]) && kids[j].ToP() == k.ToP() && kids[j].FromP() == k.FromP() {
			j++
		}
		if k.Parent() == nil && k.FromP().Kind == flow.Service {
			t.note(k.FromP(), "under no request: none known in progress")
		}
		t.burst(kids[i:j])
		i = j
	}
}

// node tells n and everything under it.
func (t *teller) node(n *flow.Node) {
	if isDB(n) {
		t.burst([]*flow.Node{n})
		return
	}
	if n.RPC != nil {
		t.rpc(n)
		return
	}
	from, to := n.FromP(), n.ToP()
	one := []*flow.Node{n}
	if isAPI(n) && t.opts.Detail == Compact && n.Role == flow.RoleDiscovery && len(n.Children) == 0 {
		t.add(Step{Kind: Call, From: from, To: to, Text: callText(n) + " → " + replyText(n),
			Failed: failed(n), Folded: true, Nodes: one})
		return
	}
	for _, nt := range n.Notes {
		if nt.Before {
			t.note(nt.OverP(), nt.Text)
		}
	}
	t.add(Step{Kind: Call, From: from, To: to, Text: callText(n), Nodes: one})
	// work the service went on with after answering (202 Accepted) is
	// told after the answer
	during, after := n.Children, []*flow.Node(nil)
	if slices.ContainsFunc(during, (*flow.Node).AfterAnswer) {
		during = nil
		for _, c := range n.Children {
			if c.AfterAnswer() {
				after = append(after, c)
			} else {
				during = append(during, c)
			}
		}
	}
	t.seq(during)
	t.add(Step{Kind: Reply, From: to, To: from, Text: replyText(n), Failed: failed(n), Bulk: n.Bulk, Nodes: one})
	for _, nt := range n.Notes {
		if !nt.Before {
			t.note(nt.OverP(), nt.Text)
		}
	}
	t.seq(after)
	t.tellLater(n)
}

// scope names what a login asks for: a project by its name, and flow's
// "domain Default" and "system all" as they are.
func scope(p string) string {
	if strings.HasPrefix(p, "domain ") || p == "system all" {
		return p
	}
	return "project " + p
}

// failed: an error, or no answer though one was expected. A cache miss
// is a normal answer.
func failed(n *flow.Node) bool {
	return n.Outcome == flow.Failed || n.Outcome == flow.Lost || n.Outcome == flow.InProgress
}

func callText(n *flow.Node) string {
	if isCache(n) {
		return cacheCall(n)
	}
	s := n.Summary
	switch n.Role {
	case flow.RoleAuth:
		if n.User != "" {
			s += " · user " + n.User
			if tk := n.TokenP(); tk != nil {
				s += " with " + tk.Label() // the token method
			}
			if n.Project != "" {
				s += " → " + scope(n.Project)
			}
		} else if tk := n.TokenP(); tk != nil {
			s += " · with " + tk.Label()
		}
	case flow.RoleValidate, flow.RoleRevoke:
		if tk := n.SubjectP(); tk != nil {
			verb := " · validate "
			if n.Role == flow.RoleRevoke {
				verb = " · revoke "
			}
			s += verb + tk.Label()
		}
		if tk := n.TokenP(); tk != nil {
			s += " (as " + tk.Label() + ")"
		}
	case flow.RoleDiscovery:
		s += " (version discovery)"
	default:
		if tk := n.TokenP(); tk != nil {
			s += " · " + tk.Label()
		}
		if tk := n.ServiceTokenP(); tk != nil {
			// the calling service's own, beside the user's
			if n.TokenP() != nil {
				s += " + " + tk.Label()
			} else {
				s += " · " + tk.Label()
			}
		}
	}
	if b := n.RequestBytes; b != nil && *b >= UploadBytes {
		// an upload: its size, type and how long it took to send
		s += " · " + Size(*b)
		if n.RequestType != "" {
			s += " " + n.RequestType
		}
		if n.RequestChunked {
			s += " (chunked)"
		}
		s += " in " + Dur(n.RequestEnd.Sub(n.Start))
	}
	return s
}

// UploadBytes is the request body size from which a call says it is an
// upload (size, type, time to send).
const UploadBytes = 10_000

func replyText(n *flow.Node) string {
	if isCache(n) {
		return cacheReply(n)
	}
	if text, ok := unanswered(n); ok {
		return text
	}
	var s string
	switch {
	case n.Status != 0:
		s = strconv.Itoa(n.Status)
		if n.Result != "" {
			s += " " + n.Result
		}
	case n.Result != "":
		s = n.Result
	default:
		s = string(n.Outcome)
	}
	if n.Error && n.Message != "" && n.Status != 0 {
		s += " · " + Short(n.Message, 80) // what the service says went wrong
	}
	switch {
	case n.Role == flow.RoleAuth && n.SubjectP() != nil:
		s += " · " + n.SubjectP().Label()
	case n.Role == flow.RoleValidate && !n.Error && n.SubjectP() != nil:
		s += " · token valid"
		if tk := n.SubjectP(); tk.User != "" {
			s += " (user " + tk.User
			if tk.Project != "" {
				s += ", project " + tk.Project
			}
			s += ")"
		}
	case n.Bulk && n.ResponseBytes != nil:
		s += " · " + Size(*n.ResponseBytes)
		if n.ResponseType != "" {
			s += " " + n.ResponseType
		}
		s += " in " + Dur(n.End.Sub(n.ResponseStart))
	case n.ResponseBytes != nil && *n.ResponseBytes > 0:
		s += " · " + Size(*n.ResponseBytes)
	}
	if !n.Bulk {
		s += " · " + Dur(n.End.Sub(n.Start)) // a bulk reply says its transfer time
	}
	if n.Truncated {
		s += " ⚠ bytes lost in capture"
	}
	return s
}

// unanswered is the reply text of a node whose answer was not captured.
func unanswered(n *flow.Node) (string, bool) {
	switch n.Outcome {
	case flow.NoAnswer:
		return "(no reply asked for)", true
	case flow.Lost, flow.InProgress:
		return "no response captured", true
	}
	return "", false
}

func cacheCall(n *flow.Node) string {
	what := n.Target
	if tk := n.SubjectP(); tk != nil {
		what = tk.Label()
	}
	s := n.Op + " " + what
	if n.RequestBytes != nil {
		s += " · " + Size(*n.RequestBytes)
		switch {
		case n.Expiry == nil:
		case *n.Expiry == 0:
			s += ", no expiry"
		default:
			s += fmt.Sprintf(", ttl %ds", *n.Expiry)
		}
	}
	if n.NoReply {
		s += " (noreply)"
	}
	return strings.TrimSpace(s)
}

func cacheReply(n *flow.Node) string {
	if text, ok := unanswered(n); ok {
		return text
	}
	s := n.Result
	if n.ResponseBytes != nil {
		s += " · " + Size(*n.ResponseBytes)
	}
	if n.Message != "" {
		s += " · " + n.Message
	}
	return s
}

// routineCache is a cache operation about no token and with nothing
// under it: a service's own caching (keystone's oslo.cache), folded like
// DB work.
func routineCache(n *flow.Node) bool {
	return isCache(n) && n.SubjectP() == nil && len(n.Children) == 0 && len(n.Notes) == 0
}

// cacheBurst tells a run of routine cache operations as one call ("12
// cache ops: 8 get, 4 set") and one reply ("4 hit, 4 miss, 4 stored").
func (t *teller) cacheBurst(ns []*flow.Node) {
	from, to := ns[0].FromP(), ns[0].ToP()
	var ops, results []string
	opN, resN := map[string]int{}, map[string]int{}
	failed := false
	for _, n := range ns {
		if opN[n.Op]++; opN[n.Op] == 1 {
			ops = append(ops, n.Op)
		}
		r := n.Result
		if !n.Answered() {
			r = "unanswered"
		}
		if resN[r]++; resN[r] == 1 {
			results = append(results, r)
		}
		failed = failed || n.Outcome == flow.Failed
	}
	counts := func(keys []string, n map[string]int) string {
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%d %s", n[k], k))
		}
		return strings.Join(parts, ", ")
	}
	t.add(Step{Kind: Call, From: from, To: to, Nodes: ns,
		Text: fmt.Sprintf("%d cache ops: %s (%s)", len(ns), counts(ops, opN), Dur(ns[len(ns)-1].End.Sub(ns[0].Start)))})
	t.add(Step{Kind: Reply, From: to, To: from, Nodes: ns, Failed: failed, Text: counts(results, resN)})
}

// burst tells DB work as one call and one reply.
func (t *teller) burst(ns []*flow.Node) {
	from, to := ns[0].FromP(), ns[0].ToP()
	failed := false
	for _, n := range ns {
		failed = failed || n.Outcome == flow.Failed
	}
	t.add(Step{Kind: Call, From: from, To: to, Text: burstCall(ns), Nodes: ns})
	t.add(Step{Kind: Reply, From: to, To: from, Text: burstReply(ns), Failed: failed, Nodes: ns})
}

func burstCall(ns []*flow.Node) string {
	if len(ns) == 1 {
		return Short(ns[0].Summary, 80)
	}
	var logins, seen []string
	have := map[string]bool{}
	queries := 0
	for _, n := range ns {
		if n.Role == flow.RoleLogin {
			logins = append(logins, n.Summary)
			continue
		}
		queries++
		if sig := n.Signature; sig != "" && !have[sig] {
			have[sig] = true
			seen = append(seen, sig)
		}
	}
	parts := logins
	if queries > 0 {
		q := Plural(int64(queries), "query", "queries")
		if len(seen) > 0 {
			list := seen
			if len(list) > 3 {
				list = append(list[:3:3], "…")
			}
			q += ": " + strings.Join(list, ", ")
		}
		parts = append(parts, q)
	}
	return strings.Join(parts, ", ") + " (" + cost(ns) + ")"
}

// cost is the time a burst spent in the database and, when it differs,
// the wall time it spans: "130 ms in DB over 2.53 s".
func cost(ns []*flow.Node) string {
	var in time.Duration
	for _, n := range ns {
		in += n.End.Sub(n.Start)
	}
	wall := ns[len(ns)-1].End.Sub(ns[0].Start)
	if Dur(in) == Dur(wall) {
		return Dur(wall)
	}
	return Dur(in) + " in DB over " + Dur(wall)
}

func burstReply(ns []*flow.Node) string {
	var rows int64
	errs := 0
	var firstErr string
	for _, n := range ns {
		if !n.Answered() {
			continue
		}
		if n.Rows != nil {
			rows += *n.Rows
		}
		if n.Outcome == flow.Failed {
			errs++
			if firstErr == "" {
				firstErr = "error"
				if n.ErrorCode != nil {
					firstErr += " " + strconv.Itoa(*n.ErrorCode)
				}
				if n.Message != "" {
					firstErr += ": " + Short(n.Message, 60)
				}
			}
		}
	}
	if errs > 0 {
		if errs == 1 {
			return firstErr
		}
		return fmt.Sprintf("%d errors, first %s", errs, firstErr)
	}
	if len(ns) == 1 {
		n := ns[0]
		if text, ok := unanswered(n); ok {
			return text
		}
		if n.Rows != nil {
			return Plural(*n.Rows, "row", "rows")
		}
		return n.Result
	}
	return "ok · " + Plural(rows, "row", "rows")
}

// Plural is "1 row", "3 rows".
func Plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Short is s on one line (its words joined by one space), cut to n
// characters with an ellipsis, reading s only as far as the cut
// (line.Cut).
func Short(s string, n int) string { return line.Cut(s, n) }

// Size is a byte count for people: "1980 B", "12.98 MB".
func Size(n int64) string {
	switch {
	case n >= 100*1000*1000:
		return fmt.Sprintf("%.0f MB", float64(n)/1e6)
	case n >= 1000*1000:
		return fmt.Sprintf("%.2f MB", float64(n)/1e6)
	case n >= 10*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// Dur is a duration for people: "280 ms", "2.53 s", "75 µs".
func Dur(d interface{ Seconds() float64 }) string {
	s := d.Seconds()
	switch {
	case s >= 1:
		return fmt.Sprintf("%.2f s", s)
	case s >= 0.001:
		return fmt.Sprintf("%.0f ms", s*1000)
	}
	return fmt.Sprintf("%.0f µs", s*1e6)
}

// ShortID is the short plain id a person gives a lifeline: C for a
// client, K for keystone, KD for its database, M for memcached, H for a
// host. Printers make it unique and keep it off their keywords.
func ShortID(p *flow.Participant) string {
	var initials []rune
	for _, f := range strings.FieldsFunc(p.Name, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		r := []rune(f)[0]
		if r < 128 && unicode.IsLetter(r) {
			initials = append(initials, unicode.ToUpper(r))
		}
	}
	switch p.Kind {
	case flow.Client:
		return "C"
	case flow.Cache:
		return "M"
	case flow.Host:
		return "H"
	case flow.DB:
		if len(initials) > 0 {
			return string(initials[0]) + "D"
		}
		return "DB"
	}
	if len(initials) == 0 {
		return "P"
	}
	return string(initials[0])
}

// IDs gives every participant a unique short id that is not one of the
// printer's reserved words (compared in lower case).
func IDs(ps []*flow.Participant, reserved map[string]bool) map[*flow.Participant]string {
	ids := map[*flow.Participant]string{}
	used := map[string]bool{}
	for _, p := range ps {
		id := ShortID(p)
		for i := 2; used[id] || reserved[strings.ToLower(id)]; i++ {
			id = ShortID(p) + strconv.Itoa(i)
		}
		used[id] = true
		ids[p] = id
	}
	return ids
}
