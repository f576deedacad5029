package cli

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/daemon"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/cix-exchange/cix/internal/vault"
	"github.com/cix-exchange/cix/internal/vault/vaulttest"
)

// TestCertIssue: an operator issues client certificates with `cix cert issue` from the
// administration's Vault, and the command line uses them against a node serving mutual
// TLS with its own certificate from that Vault (the default on the vault keystore).
func TestCertIssue(t *testing.T) {
	ctx := context.Background()
	v := vaulttest.Start(t)
	dir := t.TempDir()
	_, vcfg, anchor, err := prepareVault(ctx, dir, "NL", v)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Administration, cfg.Node, cfg.DataDir = "NL", demoNode, filepath.Join(dir, "NL")
	cfg.GRPC.Listen, cfg.NATS.EmbeddedListen = "127.0.0.1:0", ""
	cfg.Trust.Keystore, cfg.Trust.OwnAnchor, cfg.Vault = "vault", anchor, vcfg
	d, err := daemon.Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("stop node: %v", err)
		}
	})

	t.Setenv("VAULT_ADDR", v.Addr)
	t.Setenv("VAULT_TOKEN", v.ClientWithPolicies(t, vault.ClientIssuerPolicy).Token())
	out := filepath.Join(dir, "certs")
	issue := func(role, name string) {
		t.Helper()
		r := cix(t, "", "cert", "issue", "--role", role, "--name", name, "--out", out).must(t, 0)
		uri := trust.ClientURI("NL", trust.Role(role), name).String()
		if !strings.Contains(r.stdout, "("+uri+")") || !strings.Contains(r.stdout, "use: cix --ca "+filepath.Join(out, "ca.pem")) {
			t.Fatalf("cert issue printed:\n%s", r.stdout)
		}
		st, err := os.Stat(filepath.Join(out, name+".key"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v %v", st.Mode(), err)
		}
	}
	issue("analyst", "alice")
	issue("admin", "ops")
	run := func(name string, args ...string) result {
		return cix(t, "", append([]string{"--addr", d.Addr(), "--ca", filepath.Join(out, "ca.pem"),
			"--cert", filepath.Join(out, name+".pem"), "--key", filepath.Join(out, name+".key")}, args...)...)
	}
	if r := run("alice", "info").must(t, 0); !strings.Contains(r.stdout, "NL/demo") {
		t.Fatalf("analyst info:\n%s", r.stdout)
	}
	if r := run("alice", "quarantine", "list").must(t, 1); !strings.Contains(r.stderr, "PERMISSION_DENIED") {
		t.Fatalf("analyst quarantine list:\n%s", r.stderr)
	}
	if r := run("ops", "quarantine", "list").must(t, 0); !strings.Contains(r.stdout, "(quarantine empty)") {
		t.Fatalf("admin quarantine list:\n%s", r.stdout)
	}
	// Without a client certificate the node refuses the connection.
	cix(t, "", "--addr", d.Addr(), "info").must(t, 1)

	cix(t, "", "cert", "issue", "--role", "auditor", "--name", "bob").must(t, 2)
	cix(t, "", "cert", "issue", "--role", "analyst", "--name", "Bob Smith").must(t, 2)
	cix(t, "", "cert", "--role", "analyst", "--name", "bob").must(t, 2)
	t.Setenv("VAULT_TOKEN", "")
	if r := cix(t, "", "cert", "issue", "--role", "analyst", "--name", "bob", "--out", out).must(t, 1); !strings.Contains(r.stderr, "VAULT_TOKEN") {
		t.Fatalf("without a token: %s", r.stderr)
	}
	// A node's token cannot issue client certificates.
	t.Setenv("VAULT_TOKEN", v.ClientWithPolicies(t, vault.NodePolicy(demoNode)).Token())
	if r := cix(t, "", "cert", "issue", "--role", "analyst", "--name", "bob", "--out", out).must(t, 1); !strings.Contains(r.stderr, "permission denied") {
		t.Fatalf("with a node's token: %s", r.stderr)
	}
}
