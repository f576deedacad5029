package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cix-exchange/cix/internal/envelope"
	envelopev1 "github.com/cix-exchange/cix/internal/gen/cix/envelope/v1"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/cix-exchange/cix/internal/vault/vaulttest"
	"google.golang.org/protobuf/proto"
)

// TestGetEnvelopeVerifiesWithOpenSSL publishes at NL, gets the alert at BE with
// --envelope-dir and runs the printed openssl commands against NL's anchor. NL's
// development keystore certifies its node key with the anchor itself: no intermediates.
func TestGetEnvelopeVerifiesWithOpenSSL(t *testing.T) {
	openssl := needOpenSSL(t)
	fed := testFederation(t, "NL", "BE")
	checkEnvelopeWithOpenSSL(t, openssl, fed.nodes[0], fed.nodes[1], false)
}

// TestGetEnvelopeVaultChainVerifiesWithOpenSSL: NL's node is on keystore vault, its key
// certified by a real Vault's PKI, so its chain is leaf and node CA. The export writes
// the node CA to chain-0.pem and the printed openssl recipe passes it as -untrusted.
func TestGetEnvelopeVaultChainVerifiesWithOpenSSL(t *testing.T) {
	openssl := needOpenSSL(t)
	v := vaulttest.Start(t)
	fed := testVaultFederation(t, map[string]*vaulttest.Server{"NL": v}, "NL", "BE")
	nl, be := fed.nodes[0], fed.nodes[1]
	if nl.vault == nil || be.vault != nil {
		t.Fatal("NL is not on Vault, or BE is")
	}
	// No private key on disk for the Vault node; the check does find the dev keystore's.
	if found, err := keyFiles(nl.dataDir); err != nil || len(found) != 0 {
		t.Fatalf("key files under NL's data dir: %v %v", found, err)
	}
	if found, err := keyFiles(be.dataDir); err != nil || len(found) == 0 {
		t.Fatalf("no key files found under BE's dev data dir: %v %v", found, err)
	}
	checkEnvelopeWithOpenSSL(t, openssl, nl, be, true)
}

func needOpenSSL(t *testing.T) string {
	t.Helper()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not on PATH")
	}
	return openssl
}

// checkEnvelopeWithOpenSSL publishes an alert at nl, exports it at be with get
// --envelope-dir and checks the files, then runs the printed openssl commands with nl's
// anchor: they must pass, and fail on a flipped byte or under be's anchor. chain says
// nl's signatures carry intermediates (chain-0.pem).
func checkEnvelopeWithOpenSSL(t *testing.T, openssl string, nl, be *fedNode, chain bool) {
	t.Helper()
	a := seizures(21, 1)[0]
	cix(t, jsonLines(t, a), "--addr", nl.d.Addr(), "publish", "-").must(t, 0)
	va := waitForAlert(t, be, a.GetId())

	dir := filepath.Join(t.TempDir(), "env")
	r := cix(t, "", "--addr", be.d.Addr(), "get", "--envelope-dir", dir, a.GetId()).must(t, 0)
	written := "wrote payload.bin, pae.bin, envelope.pb, sig-0.bin, cert-0.pem to " + dir
	if chain {
		written = "wrote payload.bin, pae.bin, envelope.pb, sig-0.bin, cert-0.pem, chain-0.pem to " + dir
	}
	for _, want := range []string{
		"id:       " + a.GetId(), "kind:     seizure", "signer:   NL/demo keyid " + va.GetSigner().GetKeyid(),
		"cursor:   " + va.GetCursor(), `"nationalCaseReference": "` + a.GetNationalCaseReference() + `"`,
		written, "ANCHOR.pem: the trust anchor of NL",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	commands := openSSLCommands(chain)
	for _, c := range commands {
		if !strings.Contains(r.stdout, "  "+c+"\n") {
			t.Errorf("output lacks the command %q", c)
		}
	}
	if strings.Contains(r.stdout, "-untrusted") != chain {
		t.Errorf("-untrusted in the recipe: %v, want %v", !chain, chain)
	}

	// The files are what the envelope holds.
	env := va.GetEnvelope()
	read := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	write := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(read("payload.bin"), env.GetPayload()) || !bytes.Equal(read("sig-0.bin"), env.GetSignatures()[0].GetSig()) ||
		!bytes.Equal(read("pae.bin"), envelope.PAE(envelope.PayloadTypeAlert, env.GetPayload())) || len(read("sig-0.bin")) != 64 {
		t.Fatal("exported files differ from the envelope")
	}
	if !strings.HasPrefix(string(read("pae.bin")), "DSSEv1 34 application/vnd.cix.alert.v1+proto ") {
		t.Fatalf("pae.bin starts %q", read("pae.bin")[:50])
	}
	var decoded envelopev1.Envelope
	if err := proto.Unmarshal(read("envelope.pb"), &decoded); err != nil || !proto.Equal(&decoded, env) {
		t.Fatalf("envelope.pb: %v", err)
	}
	certs := env.GetSignatures()[0].GetCertificates()
	if !bytes.Equal(read("cert-0.pem"), trust.EncodePEM(certs[0])) {
		t.Fatal("cert-0.pem is not the leaf")
	}
	if chain {
		if len(certs) != 2 {
			t.Fatalf("Vault chain of %d certificates, want leaf and node CA", len(certs))
		}
		if !bytes.Equal(read("chain-0.pem"), trust.EncodePEM(certs[1:]...)) {
			t.Fatal("chain-0.pem is not the intermediates")
		}
	} else if _, err := os.Stat(filepath.Join(dir, "chain-0.pem")); !os.IsNotExist(err) {
		t.Fatalf("chain-0.pem written for a chain without intermediates: %v", err)
	}

	// Run the printed commands, with NL's anchor as ANCHOR.pem.
	sh := func(cmd string) (string, error) {
		cmd = strings.ReplaceAll(cmd, "ANCHOR.pem", nl.anchor)
		cmd = strings.Replace(cmd, "openssl", openssl, 1)
		c := exec.Command("sh", "-c", cmd)
		c.Dir = dir
		out, err := c.CombinedOutput()
		return string(out), err
	}
	for _, c := range commands {
		out, err := sh(c)
		if err != nil {
			t.Fatalf("%s: %v\n%s", c, err, out)
		}
		t.Logf("%s: %s", c, strings.TrimSpace(out))
	}
	verify := commands[2]
	if chain {
		// Without the intermediate, the leaf does not chain to the anchor.
		if out, err := sh(openSSLCommands(false)[2]); err == nil {
			t.Fatalf("the leaf verified without its intermediate:\n%s", out)
		}
	}
	// The checks can fail: a flipped byte of the signed bytes, of a certificate's
	// signature, or another anchor.
	pae := read("pae.bin")
	pae[len(pae)-1] ^= 0x01
	write("pae.bin", pae)
	if out, err := sh(commands[1]); err == nil {
		t.Fatalf("signature verified over tampered bytes:\n%s", out)
	}
	pemFiles := []string{"cert-0.pem"}
	if chain {
		pemFiles = append(pemFiles, "chain-0.pem")
	}
	for _, name := range pemFiles {
		orig := read(name)
		cs, err := trust.ParseCertificatesPEM(orig)
		if err != nil {
			t.Fatal(err)
		}
		der := bytes.Clone(cs[0].Raw)
		der[len(der)-1] ^= 0x01 // the last byte of the issuer's signature
		var ders [][]byte
		ders = append(ders, der)
		for _, c := range cs[1:] {
			ders = append(ders, c.Raw)
		}
		write(name, trust.EncodePEM(ders...))
		if out, err := sh(verify); err == nil {
			t.Fatalf("chain verified with a flipped byte in %s:\n%s", name, out)
		}
		write(name, orig)
	}
	if out, err := sh(verify); err != nil {
		t.Fatalf("restored files: %v\n%s", err, out)
	}
	if out, err := sh(strings.ReplaceAll(verify, "ANCHOR.pem", be.anchor)); err == nil {
		t.Fatalf("NL's certificate verified under BE's anchor:\n%s", out)
	}

	// --json prints the whole VerifiedAlert; the openssl notes go to stderr.
	r = cix(t, "", "--addr", be.d.Addr(), "get", "--json", "--envelope-dir", dir, a.GetId()).must(t, 0)
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil || m["envelope"] == nil || m["signer"] == nil {
		t.Fatalf("--json output (%v):\n%s", err, r.stdout)
	}
	if !strings.Contains(r.stderr, commands[1]) || !strings.Contains(r.stderr, verify) {
		t.Fatalf("stderr:\n%s", r.stderr)
	}
}

func TestGetErrors(t *testing.T) {
	nl := testFederation(t, "NL").nodes[0]
	r := cix(t, "", "--addr", nl.d.Addr(), "get", "not-a-uuid").must(t, 1)
	if !strings.HasPrefix(r.stderr, "cix: get: INVALID_ARGUMENT: ") || !strings.Contains(r.stderr, "\n  id: ") {
		t.Fatalf("stderr:\n%s", r.stderr)
	}
	r = cix(t, "", "--addr", nl.d.Addr(), "get", "0b7ab3d6-3a5c-4b1e-9d7e-1f2a3b4c5d6e").must(t, 1)
	if !strings.HasPrefix(r.stderr, "cix: get: NOT_FOUND: ") {
		t.Fatalf("stderr:\n%s", r.stderr)
	}
	cix(t, "", "get").must(t, 2)
}
