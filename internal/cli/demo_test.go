package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func demoDirs(t *testing.T) map[string]bool {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(os.TempDir(), "cix-demo-*"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, d := range m {
		out[d] = true
	}
	return out
}

func TestDemo(t *testing.T) {
	before := demoDirs(t)
	r := cix(t, "", "demo", "--count", "10").must(t, 0)
	t.Log(r.stdout)
	for _, admin := range []string{"BE", "DE"} {
		if n := strings.Count(r.stdout, "\n"+admin+" <- NL  "); n != 10 {
			t.Errorf("%d arrivals at %s, want 10", n, admin)
		}
		if !strings.Contains(r.stdout, "\ntampered alert -> quarantined at "+admin+": bad_signature (") {
			t.Errorf("no quarantine line for %s", admin)
		}
		if !regexp.MustCompile(`\n` + admin + `/demo +127\.0\.0\.1:\d+ +10 +1 +BE, DE, NL\n`).MatchString(r.stdout) {
			t.Errorf("no summary row for %s", admin)
		}
	}
	if !strings.Contains(r.stdout, "verified: NL/demo key ") {
		t.Error("arrivals do not name the verified signer")
	}
	for d := range demoDirs(t) {
		if !before[d] {
			t.Errorf("demo left %s behind", d)
		}
	}
}

func TestDemoKeepRunning(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr, done := background(ctx, "demo", "--admins", "se,fi", "--count", "3", "--keep-running")
	eventually(t, "the nodes to be kept running", func() bool { return strings.Contains(stdout.String(), "until interrupted") })
	m := regexp.MustCompile(`\n  FI  cix --addr (\S+) feed`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no address of FI:\n%s", stdout.String())
	}
	r := cix(t, "", "--addr", m[1], "feed", "--from-start", "--limit", "3", "--origin", "SE").must(t, 0)
	if n := strings.Count(r.stdout, "\n"); n != 4 {
		t.Fatalf("feed at FI while the demo runs:\n%s", r.stdout)
	}
	cancel()
	if code := exitOf(t, done); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	cix(t, "", "demo", "--admins", "NL").must(t, 2)
	cix(t, "", "demo", "--admins", "NL,nl").must(t, 2)
	cix(t, "", "demo", "--count", "0").must(t, 2)
}

// TestDemoStepDeadline: a step that does not complete in time fails the demo with
// what was missing, and everything is still stopped and removed.
func TestDemoStepDeadline(t *testing.T) {
	before := demoDirs(t)
	var out, logs strings.Builder
	err := runDemo(context.Background(), demoOptions{admins: []string{"NL", "BE"}, count: 5, seed: 1, timeout: time.Nanosecond}, &out, &logs)
	if err == nil || !strings.Contains(err.Error(), "timed out after 1ns") {
		t.Fatalf("error %v\n%s", err, out.String())
	}
	t.Log(err)
	for d := range demoDirs(t) {
		if !before[d] {
			t.Errorf("demo left %s behind", d)
		}
	}
}
