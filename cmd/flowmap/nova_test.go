package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/flowmap/flowmap/internal/golden"
	"github.com/flowmap/flowmap/internal/truth"
)

// novaCapture is a nova capture of testdata/nova.
func novaCapture(name string) string {
	return filepath.Join(truth.Root(), "testdata", "nova", name+".pcapng")
}

// TestGoldenNova: `trace` (Mermaid and PlantUML) on the nova captures of
// testdata/nova match testdata/golden/<name>.{mmd,puml}.
func TestGoldenNova(t *testing.T) {
	for _, name := range []string{"nova-boot", "nova-boot-fail", "nova-reboot", "nova-concurrent", ssr} {
		for _, f := range []struct{ ext, format string }{{"mmd", "mermaid"}, {"puml", "plantuml"}} {
			out, errs, code := run(t, "trace", "--format", f.format, novaCapture(name))
			if code != 0 {
				t.Fatalf("%s trace %s: exit %d: %s", name, f.format, code, errs)
			}
			golden.Check(t, filepath.Join(truth.Root(), "testdata", "golden", name+"."+f.ext), []byte(out), *update, "run make golden")
		}
	}
}

// arrows rewrites a Mermaid diagram's arrows with participant names:
// "nova-conductor ->> nova-scheduler: select_destinations (call)".
func arrows(t *testing.T, mmd string) []string {
	t.Helper()
	names := map[string]string{}
	part := regexp.MustCompile(`^  participant (\S+) as (.+)$`)
	arrow := regexp.MustCompile(`^  (\S+?)(->>|-->>|--x|-\))(\S+?): (.*)$`)
	var out []string
	for _, l := range strings.Split(mmd, "\n") {
		if m := part.FindStringSubmatch(l); m != nil {
			names[m[1]] = m[2]
			continue
		}
		if m := arrow.FindStringSubmatch(l); m != nil {
			out = append(out, names[m[1]]+" "+m[2]+" "+names[m[3]]+": "+m[4])
		}
	}
	if len(out) == 0 {
		t.Fatal("no arrows")
	}
	return out
}

// inOrder checks that each pattern matches an arrow after the one the
// previous pattern matched.
func inOrder(t *testing.T, lines []string, patterns []string) {
	t.Helper()
	at := 0
	for _, p := range patterns {
		re := regexp.MustCompile(p)
		found := false
		for at < len(lines) {
			at++
			if re.MatchString(lines[at-1]) {
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("no arrow %q after the ones before it; arrows:\n%s", p, strings.Join(lines, "\n"))
		}
	}
}

// TestNovaBootStory: `trace` on nova-boot tells, in this order: the
// client authenticates; glance lookups of the image; POST /v2.1/servers;
// nova-api casts schedule_and_build_instances to the conductor; 202; the
// conductor calls select_destinations on the scheduler, which asks
// placement for allocation candidates and claims, and replies; the
// conductor casts build_and_run_instance to nova-compute, which calls the
// conductor (object_action …) and reports to the scheduler; the client's
// polling ends ACTIVE.
func TestNovaBootStory(t *testing.T) {
	out, errs, code := run(t, "trace", novaCapture("nova-boot"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	inOrder(t, arrows(t, out), []string{
		`^OpenStackClient ->> keystone: POST /v3/auth/tokens · user admin`,
		`^OpenStackClient ->> glance: GET /v2/images/cirros`,
		`^OpenStackClient ->> glance: GET /v2/images\?name=cirros`,
		`^novaclient ->> nova-api: POST /v2.1/servers`,
		`^nova-api ->> glance: GET /v2/images/`,
		`^nova-api -\) nova-conductor: schedule_and_build_instances \(cast\)$`,
		`^nova-api -->> novaclient: 202 Accepted`,
		`^nova-conductor ->> nova-scheduler: select_destinations \(call\)$`,
		`^nova-scheduler ->> placement: GET /allocation_candidates`,
		`^nova-scheduler ->> placement: PUT /allocations/`,
		`^nova-scheduler -->> nova-conductor: reply list\[1\]`,
		`^nova-conductor -\) nova-compute: build_and_run_instance \(cast\)$`,
		`^nova-compute ->> nova-conductor: object_class_action_versions \(call\)$`,
		`^nova-conductor -->> nova-compute: reply`,
		`^nova-compute ->> nova-conductor: object_action \(call\)$`,
		`^nova-compute ->> placement: GET /allocations/`,
		`^nova-compute -\) nova-scheduler: update_instance_info \(fanout cast\)$`,
		`^novaclient ->> nova-api: .*GET /v2.1/servers/\S+ .*×3 \(polling .*\) → 200 ×3 · BUILD → ACTIVE$`,
	})
	if !strings.Contains(out, "background work (periodic tasks, reports): ") {
		t.Error("nova-compute's periodic RPCs are not folded")
	}
	// --detail full draws the hop through RabbitMQ
	full, _, _ := run(t, "trace", "--detail", "full", novaCapture("nova-boot"))
	inOrder(t, arrows(t, full), []string{
		`^nova-conductor -\) RabbitMQ: publish nova/scheduler: select_destinations \(call\)$`,
		`^RabbitMQ -\) nova-scheduler: deliver select_destinations \(call\)`,
		`^nova-scheduler -->> RabbitMQ: publish reply to reply_`,
		`^RabbitMQ -->> nova-conductor: reply list\[1\]`,
	})
}

// TestNovaBootFailStory: the scheduler's NoValidHost failure reply is an
// error arrow, and the polling ends in ERROR.
func TestNovaBootFailStory(t *testing.T) {
	out, errs, code := run(t, "trace", novaCapture("nova-boot-fail"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	inOrder(t, arrows(t, out), []string{
		`^novaclient ->> nova-api: POST /v2.1/servers`,
		`^nova-api -\) nova-conductor: schedule_and_build_instances \(cast\)$`,
		`^nova-conductor ->> nova-scheduler: select_destinations \(call\)$`,
		`^nova-scheduler ->> placement: GET /allocation_candidates\?.*DISK_GB#37;3A1000000`,
		`^nova-scheduler --x nova-conductor: NoValidHost: No valid host was found`,
		`^novaclient ->> nova-api: .*GET /v2.1/servers/.* · BUILD → ERROR$`,
	})
	if strings.Contains(out, "build_and_run_instance") {
		t.Error("build_and_run_instance drawn after NoValidHost")
	}
}

// TestNovaRebootStory: the reboot recorded for flowmap (testdata/nova):
// the lookup, the action, nova-api's cast to nova-compute, the compute's
// calls to the conductor and to neutron, and the polling REBOOT → ACTIVE
// after the action (the lookup's GET before it is not polling). The
// lookup's 404 (the name asked for as an id) is expected: not drawn as an
// error.
func TestNovaRebootStory(t *testing.T) {
	out, errs, code := run(t, "trace", novaCapture("nova-reboot"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	inOrder(t, arrows(t, out), []string{
		`^novaclient ->> nova-api: GET /v2.1/servers/vmr `,
		`^nova-api -->> novaclient: 404 Not Found · Instance vmr could not be found`,
		`^novaclient ->> nova-api: GET /v2.1/servers\?name=vmr`,
		`^novaclient ->> nova-api: GET /v2.1/servers/[0-9a-f-]+ · admin token \S+$`,
		`^novaclient ->> nova-api: POST /v2.1/servers/[0-9a-f-]+/action`,
		`^nova-api -\) nova-compute: reboot_instance \(cast\)$`,
		`^nova-api -->> novaclient: 202 Accepted`,
		`^nova-compute ->> nova-conductor: object_class_action_versions \(call\)$`,
		`^nova-compute ->> nova-conductor: object_action \(call\)$`,
		`^nova-compute ->> neutron: GET /v2.0/ports\?`,
		`^nova-conductor -->> nova-compute: reply`,
		`^novaclient ->> nova-api: .*GET /v2.1/servers/\S+ .*×2 \(polling .*\) → 200 ×2 · REBOOT → ACTIVE$`,
	})
}

// novaSecrets are the nova lab's passwords (captures/nova/NOTES.md) and
// every token the nova captures' truth shows: the X-Auth-Token values and
// the _context_auth_token of the RPCs.
var novaPasswords = []string{"RABBIT_PASS", "NOVA_DBPASS", "PLACEMENT_DBPASS", "NOVA_PASS", "PLACEMENT_PASS",
	"GLANCE_PASS", "KEYSTONE_DBPASS", "GLANCE_DBPASS",
	"Dooq3Zbn8qeB"} // the adminPass nova generated for nova-boot's server (its POST answer, the RPC's args)

// TestNoNovaSecretInAnyOutput: no output of any command on the nova
// captures holds a whole token (from X-Auth-Token or any RPC's
// _context_auth_token), the AMQP login's password, or a lab password,
// whole or as its unsalted SHA-256 prefix; --show-secrets shows them
// (so the search can see them).
func TestNoNovaSecretInAnyOutput(t *testing.T) {
	tokenRe := regexp.MustCompile(`gAAAAA[A-Za-z0-9_=-]{100,}`)
	var tokens []string
	seen := map[string]bool{}
	for _, name := range []string{"nova-boot", "nova-boot-fail", "nova-reboot", "nova-concurrent", ssr} {
		for _, proto := range []string{"amqp", "http"} {
			b, err := os.ReadFile(filepath.Join(truth.Root(), "testdata", "nova", "truth", name+"."+proto+".tsv"))
			if err != nil {
				t.Fatal(err)
			}
			for _, tok := range tokenRe.FindAllString(string(b), -1) {
				if !seen[tok] {
					seen[tok] = true
					tokens = append(tokens, tok)
				}
			}
		}
	}
	if len(tokens) < 3 {
		t.Fatalf("only %d tokens in the truth files", len(tokens))
	}
	var prefixes []string
	for _, pw := range novaPasswords {
		sum := sha256.Sum256([]byte(pw))
		prefixes = append(prefixes, hex.EncodeToString(sum[:])[:6])
	}
	for _, name := range []string{"nova-boot", "nova-boot-fail", "nova-reboot", "nova-concurrent", ssr} {
		p := novaCapture(name)
		for _, args := range [][]string{
			{"decode"}, {"decode", "-f", "jsonl"},
			{"trace"}, {"trace", "--detail", "full"}, {"trace", "-f", "json"},
			{"trace", "-f", "plantuml", "--detail", "full"}, {"trace", "-f", "otlp"},
			{"summary"}, {"summary", "--format", "json"}, {"report", "-o", "-"},
		} {
			out, errs, code := run(t, append(args, p)...)
			if code != 0 {
				t.Fatalf("%s %v: exit %d: %s", name, args, code, errs)
			}
			all := out + errs
			for _, tok := range tokens {
				if strings.Contains(all, tok) {
					t.Errorf("%s %v: a whole token %.12s… is printed", name, args, tok)
				}
			}
			if tok := tokenRe.FindString(all); tok != "" {
				t.Errorf("%s %v: a whole token %.12s… is printed", name, args, tok)
			}
			for i, pw := range novaPasswords {
				if strings.Contains(all, pw) {
					t.Errorf("%s %v: the password %s is printed", name, args, pw)
				}
				if strings.Contains(all, prefixes[i]) {
					t.Errorf("%s %v: the unsalted SHA-256 prefix of %s is printed", name, args, pw)
				}
			}
		}
	}
	out, _, _ := run(t, "decode", "-f", "jsonl", "--show-secrets", novaCapture("nova-boot"))
	if !strings.Contains(out, "RABBIT_PASS") || !strings.Contains(out, tokens[0]) {
		t.Error("--show-secrets shows neither the AMQP password nor the tokens: the search could not see them")
	}
}

// TestDecodeAMQPContract: `decode --format jsonl` on nova-boot has a
// proto "amqp" line per publish and delivery with the contract's fields
// and the oslo.messaging envelope, args summarised and no body; the
// table lists them as one-way.
func TestDecodeAMQPContract(t *testing.T) {
	out, errs, code := run(t, "decode", "--format", "jsonl", novaCapture("nova-boot"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var msgs, calls, replies int
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.Contains(l, `"proto":"amqp"`) {
			continue
		}
		var e struct {
			Request  map[string]any `json:"request"`
			Response any            `json:"response"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		kind, _ := e.Request["kind"].(string)
		if kind != "publish" && kind != "deliver" {
			continue
		}
		msgs++
		for _, f := range []string{"exchange", "routing_key", "channel", "body_bytes", "content_type", "oslo"} {
			if _, ok := e.Request[f]; !ok {
				t.Errorf("%s line without %s: %.200s", kind, f, l)
			}
		}
		if _, ok := e.Request["body"]; ok || e.Response != nil {
			t.Errorf("body or response printed: %.200s", l)
		}
		o, _ := e.Request["oslo"].(map[string]any)
		switch {
		case o["reply"] == true:
			replies++
			if o["msg_id"] == nil || o["result"] == nil {
				t.Errorf("reply without msg_id or result: %v", o)
			}
		case o["msg_id"] != nil:
			calls++
			if o["method"] == nil || o["reply_q"] == nil || o["request_id"] == nil || o["args"] == nil {
				t.Errorf("call without method, reply_q, request_id or args: %v", o)
			}
			if tok, _ := o["auth_token"].(string); tok != "" && !strings.HasPrefix(tok, "sha256:") {
				t.Errorf("auth_token %.12s… is not a fingerprint", tok)
			}
		}
	}
	// nova-boot: 44 publishes and 44 deliveries, 20 calls and 20 replies each
	if msgs != 88 || calls != 40 || replies != 40 {
		t.Errorf("%d messages, %d calls, %d replies; want 88, 40, 40", msgs, calls, replies)
	}
	table, _, _ := run(t, "decode", novaCapture("nova-boot"))
	if !strings.Contains(table, "publish nova/scheduler call select_destinations 6224 B") || !strings.Contains(table, "(one-way)") {
		t.Error("the table does not list select_destinations' publish as one-way")
	}
}
