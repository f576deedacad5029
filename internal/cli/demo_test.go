package cli

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/vault/vaulttest"
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
		if n := len(regexp.MustCompile(`\n`+admin+` <- NL  [a-z]+ +TLP:`).FindAllString(r.stdout, -1)); n != 10 {
			t.Errorf("%d arrivals at %s, want 10", n, admin)
		}
		if !strings.Contains(r.stdout, "\ntampered alert -> quarantined at "+admin+": bad_signature (") {
			t.Errorf("no quarantine line for %s", admin)
		}
		// 10 alerts for all members, then the all-members alert and the one alert of the
		// scopes step meant for it (the group for BE, the bilateral one for DE).
		if !regexp.MustCompile(`\n` + admin + `/demo +127\.0\.0\.1:\d+ +12 +1 +BE, DE, NL\n`).MatchString(r.stdout) {
			t.Errorf("no summary row for %s", admin)
		}
	}
	if !strings.Contains(r.stdout, "verified: NL/demo key ") {
		t.Error("arrivals do not name the verified signer")
	}
	if !strings.Contains(r.stdout, "\n  manifest  members NL, BE, DE; group benelux: NL, BE\n") ||
		!regexp.MustCompile(`\n  hub       nats://127\.0\.0\.1:\d+  \(cix federation hub-config`).MatchString(r.stdout) {
		t.Error("no manifest or hub line")
	}
	if !strings.Contains(r.stdout, "written straight into NL's outbound stream") ||
		!strings.Contains(r.stdout, "\n  cix.out.NL.all.") {
		t.Error("the tampered alert is not on NL's all-members scope")
	}
	// Who saw what: every row of the table, exactly.
	scopes := map[string]string{"all": "all members", "group": `group benelux \(NL\+BE\)`, "to": `bilateral NL->DE`}
	for _, row := range []struct{ admin, scope, verdict string }{
		{"NL", "all", `yes \(its own\)`}, {"NL", "group", `yes \(its own\)`}, {"NL", "to", `yes \(its own\)`},
		{"BE", "all", "yes"}, {"BE", "group", "yes"}, {"BE", "to", `no: not in the audience \(DE\)`},
		{"DE", "all", "yes"}, {"DE", "group", `no: not in the audience \(BE\)`}, {"DE", "to", "yes"},
	} {
		if !regexp.MustCompile(`\n` + row.admin + ` +[0-9a-f]{8}  ` + scopes[row.scope] + ` +` + row.verdict + `\n`).MatchString(r.stdout) {
			t.Errorf("no row: %s %s %s", row.admin, row.scope, row.verdict)
		}
	}
	// Arrivals of the scopes step: the group alert not at DE, the bilateral one not at BE.
	for _, l := range []string{"BE <- NL  [0-9a-f]{8}  all members ", "DE <- NL  [0-9a-f]{8}  all members ",
		`BE <- NL  [0-9a-f]{8}  group benelux \(NL\+BE\) `, "DE <- NL  [0-9a-f]{8}  bilateral NL->DE "} {
		if n := len(regexp.MustCompile(`\n`+l).FindAllString(r.stdout, -1)); n != 1 {
			t.Errorf("%d arrivals matching %q, want 1", n, l)
		}
	}
	for _, l := range []string{`DE <- NL  [0-9a-f]{8}  group`, `BE <- NL  [0-9a-f]{8}  bilateral`} {
		if regexp.MustCompile(`\n` + l).MatchString(r.stdout) {
			t.Errorf("an arrival matches %q", l)
		}
	}
	// Mutual assistance NL -> BE: each step seen on both sides, the same history at
	// both, nothing at DE.
	for _, l := range []string{`NL  SubmitRequest +-> DELIVERED on both sides`, `BE  AcknowledgeRequest +-> RECEIVED on both sides  deadline \d{4}-\d\d-\d\d \d\d:\d\d UTC`,
		`BE  AcceptRequest +-> IN_PROGRESS on both sides`, `BE  AnswerRequest +-> ANSWERED on both sides  \(2 reply items`} {
		if !regexp.MustCompile(`\n  ` + l).MatchString(r.stdout) {
			t.Errorf("no assistance step matching %q", l)
		}
	}
	hist := `SUBMIT by NL [0-9a-f]{8}, DELIVER by BE [0-9a-f]{8}, ACKNOWLEDGE by BE [0-9a-f]{8}, ACCEPT by BE [0-9a-f]{8}, ANSWER by BE [0-9a-f]{8}`
	nlRow := regexp.MustCompile(`\nNL +outgoing +ANSWERED +\S+ \S+ UTC +(` + hist + `)\n`).FindStringSubmatch(r.stdout)
	beRow := regexp.MustCompile(`\nBE +incoming +ANSWERED +\S+ \S+ UTC +(` + hist + `)\n`).FindStringSubmatch(r.stdout)
	if nlRow == nil || beRow == nil || nlRow[1] != beRow[1] {
		t.Errorf("assistance rows: NL %q, BE %q, want the same history", nlRow, beRow)
	}
	if !strings.Contains(r.stdout, "\nboth sides hold the same signed history; DE holds nothing of it\n") {
		t.Error("no assistance conclusion line")
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
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
	})
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

// needVault skips the test when vaulttest finds no vault binary, unless
// CIX_REQUIRE_VAULT=1 makes that a failure (as vaulttest.Start does).
func needVault(t *testing.T) {
	t.Helper()
	if _, err := vaulttest.FindBinary(); err != nil {
		if os.Getenv(vaulttest.EnvRequire) == "1" {
			t.Fatalf("%v (%s=1)", err, vaulttest.EnvRequire)
		}
		t.Skipf("skipping: %v", err)
	}
}

// TestDemoVault runs the demo with one real Vault dev server per administration.
func TestDemoVault(t *testing.T) {
	needVault(t)
	before := demoDirs(t)
	// The nodes' Vaults are configured per node: a VAULT_ADDR in the environment, here
	// one that answers nothing, must not matter.
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
	r := cix(t, "", "demo", "--vault", "--count", "5").must(t, 0)
	t.Log(r.stdout)
	if !strings.Contains(r.stdout, "each administration with its own Vault\n") {
		t.Error("no Vault in the title")
	}
	addrs := map[string]bool{}
	for _, admin := range []string{"NL", "BE", "DE"} {
		m := regexp.MustCompile(`\n  Vault of ` + admin + `  (http://127\.0\.0\.1:\d+)  PKI root "cix ` + admin +
			` trust anchor" \(the trust anchor\), node CA "cix ` + admin + ` node CA"\n`).FindStringSubmatch(r.stdout)
		if m == nil {
			t.Errorf("no Vault line for %s", admin)
		} else {
			addrs[m[1]] = true
		}
		if !regexp.MustCompile(`\n  node ` + admin + `/demo  gRPC 127\.0\.0\.1:\d+ \(plaintext, TLS off: loopback demo\)  leaf nats://127\.0\.0\.1:\d+ \(domain ` + strings.ToLower(admin) + `\)  trusts `).MatchString(r.stdout) {
			t.Errorf("no node line for %s", admin)
		}
	}
	if len(addrs) != 3 {
		t.Errorf("Vault addresses %v, want one server per administration", addrs)
	}
	for _, admin := range []string{"BE", "DE"} {
		if n := len(regexp.MustCompile(`\n`+admin+` <- NL  [a-z]+ +TLP:`).FindAllString(r.stdout, -1)); n != 5 {
			t.Errorf("%d arrivals at %s, want 5", n, admin)
		}
		if !strings.Contains(r.stdout, "\ntampered alert -> quarantined at "+admin+": bad_signature (") {
			t.Errorf("no quarantine line for %s", admin)
		}
		if !regexp.MustCompile(`\n` + admin + `/demo +127\.0\.0\.1:\d+ +7 +1 +BE, DE, NL\n`).MatchString(r.stdout) {
			t.Errorf("no summary row for %s", admin)
		}
	}
	for _, want := range []string{
		"AppRole (a wrapped, single-use secret id)",
		`issued by Vault: "cix node demo" -> "cix NL node CA" -> "cix NL trust anchor", NL's Vault PKI root --`,
		"\nkeys: every node key is certified by its administration's Vault PKI; no private key on disk (no *.key file under ",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Every Vault server has stopped: its address refuses connections.
	for a := range addrs {
		if c, err := net.DialTimeout("tcp", strings.TrimPrefix(a, "http://"), time.Second); err == nil {
			c.Close()
			t.Errorf("Vault at %s still answers after the demo", a)
		}
	}
	for d := range demoDirs(t) {
		if !before[d] {
			t.Errorf("demo left %s behind", d)
		}
	}
}

// TestDemoVaultWithoutBinary: without a vault binary, demo --vault says how to get one.
func TestDemoVaultWithoutBinary(t *testing.T) {
	t.Setenv(vaulttest.EnvBinary, filepath.Join(t.TempDir(), "no-vault"))
	r := cix(t, "", "demo", "--vault").must(t, 1)
	if !strings.Contains(r.stderr, "cix: demo --vault: "+vaulttest.EnvBinary+"=") || !strings.Contains(r.stderr, "run 'bash .ci/vault.sh'") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	// Nothing on PATH, none in the repository of the working directory, no variable.
	t.Setenv(vaulttest.EnvBinary, "")
	t.Setenv("PATH", t.TempDir())
	t.Chdir(t.TempDir())
	r = cix(t, "", "demo", "--vault").must(t, 1)
	if !strings.Contains(r.stderr, "cix: demo --vault: no vault binary found: run 'bash .ci/vault.sh' in the cix repository, or put vault on PATH") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}
