package otlp

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowmap/flowmap/internal/truth"
)

// TestJaegerRoundTrip sends the seed capture's OTLP output to a real
// Jaeger with scripts/jaeger-roundtrip.sh and checks that Jaeger gives
// back one span per node under the serving participants' names. It runs
// only when a jaeger binary is found ($JAEGER, or jaeger on PATH).
func TestJaegerRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no Jaeger")
	}
	bin := os.Getenv("JAEGER")
	if bin == "" {
		bin, _ = exec.LookPath("jaeger")
	}
	if bin == "" {
		t.Skip("no jaeger binary: set JAEGER or put jaeger on PATH")
	}
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	c := load(t, &models, "seed-image-save.cut")
	file := filepath.Join(t.TempDir(), "seed-image-save.cut.otlp.json")
	if err := os.WriteFile(file, render(t, c.m), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(truth.Root(), "scripts", "jaeger-roundtrip.sh"), file)
	cmd.Env = append(os.Environ(), "JAEGER="+bin)
	out, err := cmd.CombinedOutput()
	t.Logf("jaeger-roundtrip.sh:\n%s", out)
	if err != nil {
		t.Fatalf("jaeger-roundtrip.sh: %v", err)
	}

	var want []string
	for _, p := range c.m.Participants {
		for _, n := range nodes(c.m) {
			if n.ToP() == p {
				want = append(want, p.Name)
				break
			}
		}
	}
	slices.Sort(want)
	total := regexp.MustCompile(`(?m)^total: traces file=(\d+) jaeger=(\d+); spans file=(\d+) jaeger=(\d+)$`).FindSubmatch(out)
	services := regexp.MustCompile(`(?m)^services jaeger: (.*)$`).FindSubmatch(out)
	if total == nil || services == nil {
		t.Fatal("no total or services line in the script's output")
	}
	traces, _ := strconv.Atoi(string(total[2]))
	spans, _ := strconv.Atoi(string(total[4]))
	if traces != c.m.Sessions {
		t.Errorf("Jaeger has %d traces, want one per session: %d", traces, c.m.Sessions)
	}
	if n := len(nodes(c.m)); spans != n {
		t.Errorf("Jaeger has %d spans, want one per node: %d", spans, n)
	}
	if got := strings.Split(string(services[1]), ", "); !slices.Equal(got, want) {
		t.Errorf("Jaeger's services %q, want the serving participants %q", got, want)
	}
}
