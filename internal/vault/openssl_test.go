package vault_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/cix-exchange/cix/internal/vault"
)

// TestOpenSSLVerifiesVaultIdentity checks a signature of a Vault-certified node key with
// openssl alone: the chain to the administration's anchor (the intermediate given as
// untrusted), the node's URI SAN, and the ed25519 signature over the DSSE PAE.
func TestOpenSSLVerifiesVaultIdentity(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("no openssl")
	}
	e := newEnv(t)
	id, err := vault.NewIdentity(ctx(t), e.nodeSession(t, "nl-1").Client(), vault.IdentityConfig{Administration: admin, Node: "nl-1"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := id.Current(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	pae := envelope.PAE(envelope.PayloadTypeAlert, []byte("payload"))
	sig, _ := key.Sign(pae)
	dir := t.TempDir()
	files := map[string][]byte{
		"NL-anchor.pem": e.res.AnchorPEM, "cert-0.pem": trust.EncodePEM(key.Chain()[0]),
		"chain-0.pem": trust.EncodePEM(key.Chain()[1:]...), "pae.bin": pae, "sig-0.bin": sig,
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(openssl, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("verify", "-CAfile", "NL-anchor.pem", "-untrusted", "chain-0.pem", "cert-0.pem")
	if out := run("x509", "-in", "cert-0.pem", "-noout", "-ext", "subjectAltName"); !strings.Contains(out, "URI:urn:cix:node:NL:nl-1") {
		t.Fatalf("subjectAltName: %s", out)
	}
	if err := os.WriteFile(filepath.Join(dir, "pub.pem"), []byte(run("x509", "-in", "cert-0.pem", "-pubkey", "-noout")), 0o600); err != nil {
		t.Fatal(err)
	}
	run("pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "pae.bin", "-sigfile", "sig-0.bin")

	// Without the intermediate, the leaf does not chain to the anchor.
	cmd := exec.Command(openssl, "verify", "-CAfile", "NL-anchor.pem", "cert-0.pem")
	cmd.Dir = dir
	if err := cmd.Run(); err == nil {
		t.Fatal("leaf verified without its intermediate")
	}
}
