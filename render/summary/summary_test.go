package summary

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/decoder"
	"github.com/flowmap/flowmap/decoder/pipeline"
	"github.com/flowmap/flowmap/flow"
	"github.com/flowmap/flowmap/flow/registry"
	"github.com/flowmap/flowmap/internal/modeltest"
	"github.com/flowmap/flowmap/internal/truth"
	"github.com/flowmap/flowmap/render/exchange"
)

var models modeltest.Cache

// line is what the test reads of one `decode --format jsonl` line.
type line struct {
	Proto    string    `json:"proto"`
	Server   string    `json:"server"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Request  *message  `json:"request"`
	Response *message  `json:"response"`
}

type message struct {
	Method  string `json:"method"`
	Command string `json:"command"`
	Status  int    `json:"status"`
	Result  string `json:"result"`
	Rows    *int64 `json:"rows"`
}

// jsonl is what decode --format jsonl prints for the capture, read back.
func jsonl(t *testing.T, name string) []line {
	t.Helper()
	var buf bytes.Buffer
	w := exchange.NewJSONL(&buf, false)
	for _, e := range models.Exchanges(t, name) {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	var out []line
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

// nearest is the nearest-rank percentile, written again for the test.
func nearest(ms []float64, p float64) float64 {
	if len(ms) == 0 {
		return 0
	}
	sort.Float64s(ms)
	k := int(math.Ceil(p / 100 * float64(len(ms))))
	if k < 1 {
		k = 1
	}
	return ms[k-1]
}

// TestAgainstDecode: on every capture, the summary's counts, latencies,
// rows and hit ratios equal what the test counts itself from decode's
// JSONL: per server address for the services and caches that own theirs,
// in total for the databases (one server, split by who asks).
func TestAgainstDecode(t *testing.T) {
	for _, name := range truth.Captures(t) {
		t.Run(name, func(t *testing.T) {
			m := models.Model(t, name)
			s := Compute(m, Options{})
			lines := jsonl(t, name)
			if s.Capture.Exchanges != len(lines) {
				t.Errorf("exchanges: summary %d, jsonl %d", s.Capture.Exchanges, len(lines))
			}
			// one participant per server address: its served count and latencies
			owners := map[string]int{}
			for _, p := range m.Participants {
				for _, a := range p.Addrs {
					owners[a]++
				}
			}
			for i, p := range m.Participants {
				if p.Kind != flow.Service && p.Kind != flow.Cache || len(p.Addrs) != 1 || owners[p.Addrs[0]] != 1 {
					continue
				}
				var served int
				var ms []float64
				for _, l := range lines {
					if l.Server != p.Addrs[0] {
						continue
					}
					served++
					if l.Response != nil {
						ms = append(ms, float64(l.End.Sub(l.Start))/1e6)
					}
				}
				got := s.Participants[i]
				if got.Served != served {
					t.Errorf("%s served: summary %d, jsonl %d", p.Name, got.Served, served)
				}
				for _, q := range []struct {
					p    float64
					have float64
				}{{50, got.P50Ms}, {95, got.P95Ms}, {100, got.MaxMs}} {
					if want := nearest(ms, q.p); q.have != want {
						t.Errorf("%s p%.0f: summary %v ms, jsonl %v ms", p.Name, q.p, q.have, want)
					}
				}
			}
			// databases in total
			var queries, logins, dbErrs int
			var rows int64
			var gets, hits, misses, sets, errs int
			for _, l := range lines {
				switch l.Proto {
				case "mysql":
					switch l.Request.Command {
					case "login":
						logins++
					case "COM_QUERY", "COM_STMT_EXECUTE":
						queries++
					}
					if l.Response != nil {
						if l.Response.Rows != nil {
							rows += *l.Response.Rows
						}
						if l.Response.Result == "error" {
							dbErrs++
							errs++
						}
					}
				case "memcache":
					switch l.Request.Command {
					case "get", "gets":
						gets++
						if l.Response != nil && l.Response.Result == "hit" {
							hits++
						}
						if l.Response != nil && l.Response.Result == "miss" {
							misses++
						}
					case "set":
						sets++
					}
				case "http":
					if l.Response != nil && l.Response.Status >= 400 {
						errs++
					}
				}
			}
			var sq, sl, se int
			var sr int64
			for _, d := range s.Databases {
				sq, sl, se, sr = sq+d.Queries, sl+d.Logins, se+d.Errors, sr+d.Rows
			}
			if sq != queries || sl != logins || se != dbErrs || sr != rows {
				t.Errorf("DB queries/logins/errors/rows: summary %d/%d/%d/%d, jsonl %d/%d/%d/%d", sq, sl, se, sr, queries, logins, dbErrs, rows)
			}
			var cg, ch, cm, cs int
			for _, c := range s.Caches {
				cg, ch, cm, cs = cg+c.Gets, ch+c.Hits, cm+c.Misses, cs+c.Sets
				if c.HitRatio != nil && *c.HitRatio != float64(c.Hits)/float64(c.Hits+c.Misses) {
					t.Errorf("%s hit ratio %v", c.Name, *c.HitRatio)
				}
			}
			if cg != gets || ch != hits || cm != misses || cs != sets {
				t.Errorf("cache gets/hits/misses/sets: summary %d/%d/%d/%d, jsonl %d/%d/%d/%d", cg, ch, cm, cs, gets, hits, misses, sets)
			}
			if hits+misses > 0 && len(s.Caches) == 1 {
				want := float64(hits) / float64(hits+misses)
				if got := *s.Caches[0].HitRatio; got != want {
					t.Errorf("hit ratio: summary %v, jsonl %v", got, want)
				}
			}
			if len(s.Errors)+s.NamesLookedUp != errs {
				t.Errorf("errors: summary %d and %d expected 404s, jsonl %d (HTTP 4xx/5xx and SQL errors)", len(s.Errors), s.NamesLookedUp, errs)
			}
			if s.Capture.Sessions != m.Sessions {
				t.Errorf("sessions: summary %d, model %d", s.Capture.Sessions, m.Sessions)
			}
		})
	}
}

// TestCommands: the guessed command of each session of captures whose
// commands the lab notes name.
func TestCommands(t *testing.T) {
	for name, want := range map[string][]string{
		"seed-image-list":     {"image list"},
		"seed-image-save.cut": {"image list", "image save cirros"},
		"image-create-delete": {"image create", "image delete up1"},
		"keystone-only":       {"user list", "project list"},
		"warm-cache":          {"image list"},
		"glanceclient-upload": {"image create", "image delete"},
		"auth-fail":           {"failed login", "image list"},
		"concurrent":          {"image list", "image list", "image list", "image list", "image list", "image list", "image list", "image list"},
	} {
		s := Compute(models.Model(t, name), Options{})
		var got []string
		for _, x := range s.Sessions {
			got = append(got, x.Command)
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: commands %q, want %q", name, got, want)
		}
	}
}

// TestFindings: the seed's numbers an expert would quote.
func TestFindings(t *testing.T) {
	s := Compute(models.Model(t, "seed-image-save.cut"), Options{})
	kinds := map[string]Finding{}
	for _, f := range s.Findings {
		kinds[f.Kind] = f
	}
	if f, ok := kinds["validation-cost"]; !ok || f.Numbers["queries"] != 234 {
		t.Errorf("validation-cost finding %+v, want 234 queries (the seed diagram's burst)", f)
	}
	if f, ok := kinds["cache-misses"]; !ok || f.Numbers["gets"] != 4 || f.Numbers["misses"] != 2 {
		t.Errorf("cache-misses finding %+v, want 2 of 4", f)
	}
	a := Compute(models.Model(t, "auth-fail"), Options{})
	if len(a.Errors) == 0 || a.Errors[0].Cause == nil || !strings.Contains(a.Errors[0].Cause.Request, "failed_auth_count") {
		t.Errorf("auth-fail: first error %+v: want the failed password count update as its cause", a.Errors)
	}
}

// TestCommandsNova: the nova lab's commands (../shared/captures/nova,
// NOTES.md: `openstack server list`, `server show vm1`, `server delete
// --wait vm1`; `server create` for the boot), from nova's paths with
// their version and project segments.
func TestCommandsNova(t *testing.T) {
	for name, want := range map[string][]string{
		"nova/nova-list-show-delete.pcapng": {"server list", "server show vm1", "server delete vm1"},
		"nova/nova-boot.pcapng":             {"server create"},
	} {
		p := truth.NeedShared(t, name)
		var o pipeline.Options
		o.HTTP.Ports = registry.HTTPPorts()
		o.HTTP.Secrets = registry.Secrets()
		var exs []*decoder.Exchange
		if _, err := pipeline.Run([]string{p}, o, func(e *decoder.Exchange) { exs = append(exs, e) }); err != nil {
			t.Fatal(err)
		}
		s := Compute(flow.Build(exs, flow.Options{}), Options{})
		var got []string
		for _, x := range s.Sessions {
			if x.Client == "OpenStackClient" {
				got = append(got, x.Command)
			}
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: the CLI's sessions guessed %q, want %q", name, got, want)
		}
	}
}

// TestCastsHaveNoLatency: a cast waits for no answer, so a service that
// only received casts has no latency (not 0 µs), and casts do not pull a
// service's percentiles down.
func TestCastsHaveNoLatency(t *testing.T) {
	var o pipeline.Options
	o.HTTP.Ports = registry.HTTPPorts()
	var exs []*decoder.Exchange
	if _, err := pipeline.Run([]string{filepath.Join(truth.Root(), "testdata", "nova", "nova-boot.pcapng")}, o, func(e *decoder.Exchange) { exs = append(exs, e) }); err != nil {
		t.Fatal(err)
	}
	s := Compute(flow.Build(exs, flow.Options{}), Options{})
	for _, p := range s.Participants {
		if p.Name != "nova-compute" {
			continue
		}
		if p.Served == 0 || p.Timed != 0 {
			t.Fatalf("nova-compute served %d (the build cast), %d of them timed: want casts untimed", p.Served, p.Timed)
		}
		return
	}
	t.Fatal("no nova-compute participant")
}
