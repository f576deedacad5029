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
	"google.golang.org/protobuf/proto"
)

// TestGetEnvelopeVerifiesWithOpenSSL publishes at NL, gets the alert at BE with
// --envelope-dir and runs the printed openssl commands against NL's anchor.
func TestGetEnvelopeVerifiesWithOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not on PATH")
	}
	fed := testFederation(t, "NL", "BE")
	nl, be := fed.nodes[0], fed.nodes[1]
	a := seizures(21, 1)[0]
	cix(t, jsonLines(t, a), "--addr", nl.d.Addr(), "publish", "-").must(t, 0)
	va := waitForAlert(t, be, a.GetId())

	dir := filepath.Join(t.TempDir(), "env")
	r := cix(t, "", "--addr", be.d.Addr(), "get", "--envelope-dir", dir, a.GetId()).must(t, 0)
	for _, want := range []string{
		"id:       " + a.GetId(), "kind:     seizure", "signer:   NL/demo keyid " + va.GetSigner().GetKeyid(),
		"cursor:   " + va.GetCursor(), `"nationalCaseReference": "` + a.GetNationalCaseReference() + `"`,
		"wrote payload.bin, pae.bin, envelope.pb, sig-0.bin, cert-0.pem to " + dir,
		"ANCHOR.pem: the trust anchor of NL",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, c := range openSSLCommands {
		if !strings.Contains(r.stdout, "  "+c+"\n") {
			t.Errorf("output lacks the command %q", c)
		}
	}

	// The files are what the envelope holds.
	env := va.GetEnvelope()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
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

	// Run the printed commands, with NL's anchor as ANCHOR.pem.
	sh := func(cmd string) (string, error) {
		cmd = strings.ReplaceAll(cmd, "ANCHOR.pem", nl.anchor)
		cmd = strings.Replace(cmd, "openssl", openssl, 1)
		c := exec.Command("sh", "-c", cmd)
		c.Dir = dir
		out, err := c.CombinedOutput()
		return string(out), err
	}
	for _, c := range openSSLCommands {
		out, err := sh(c)
		if err != nil {
			t.Fatalf("%s: %v\n%s", c, err, out)
		}
		t.Logf("%s: %s", c, strings.TrimSpace(out))
	}
	// The checks can fail: a flipped byte of the signed bytes, or another anchor.
	pae := read("pae.bin")
	pae[len(pae)-1] ^= 0x01
	if err := os.WriteFile(filepath.Join(dir, "pae.bin"), pae, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := sh(openSSLCommands[1]); err == nil {
		t.Fatalf("signature verified over tampered bytes:\n%s", out)
	}
	if out, err := sh(strings.ReplaceAll(openSSLCommands[2], "ANCHOR.pem", be.anchor)); err == nil {
		t.Fatalf("NL's certificate verified under BE's anchor:\n%s", out)
	}

	// --json prints the whole VerifiedAlert; the openssl notes go to stderr.
	r = cix(t, "", "--addr", be.d.Addr(), "get", "--json", "--envelope-dir", dir, a.GetId()).must(t, 0)
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil || m["envelope"] == nil || m["signer"] == nil {
		t.Fatalf("--json output (%v):\n%s", err, r.stdout)
	}
	if !strings.Contains(r.stderr, openSSLCommands[1]) {
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
