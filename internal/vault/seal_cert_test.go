package vault_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/envelope"
	trustv1 "github.com/cix-exchange/cix/internal/gen/cix/trust/v1"
	"github.com/cix-exchange/cix/internal/revocation"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/cix-exchange/cix/internal/vault"
)

// TestCertifiedSealSignsRevocations: the seal's Transit key is certified by NL's PKI
// through a CSR signed in Transit, so receivers verify seal signatures with NL's anchor
// alone; after a rotation a retirement notice sealed by v2 makes what v1 seals from then
// on fail as revoked_key, while what v1 sealed before still verifies.
func TestCertifiedSealSignsRevocations(t *testing.T) {
	e := newEnv(t)
	holder := e.login(t, vault.SealRole, e.res.SealRoleID)
	seal := vault.NewSeal(holder.Client(), admin)
	ver, err := trust.NewVerifier(nil, e.res.Anchor)
	if err != nil {
		t.Fatal(err)
	}
	notice := func(s envelope.Signer, target *trustv1.Revocation) []byte {
		t.Helper()
		target.Administration = admin
		target.Reason = trustv1.RevocationReason_REVOCATION_REASON_SUPERSEDED
		raw, err := revocation.Make(target, s, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	nodeKey := &trustv1.Revocation{Target: &trustv1.Revocation_NodeKey{NodeKey: &trustv1.NodeKey{Node: "nl-1", KeyId: strings.Repeat("ab", 32)}}}

	v1, err := seal.CertifiedSigner(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(v1.Chain()[0])
	if err != nil {
		t.Fatal(err)
	}
	if v1.KeyID() != "seal:NL:v1" || len(v1.Chain()) != 2 || len(leaf.URIs) != 1 || leaf.URIs[0].String() != "urn:cix:seal:NL:v1" {
		t.Fatalf("seal certificate: key id %s, URIs %v, chain %d", v1.KeyID(), leaf.URIs, len(v1.Chain()))
	}
	byV1 := notice(v1, nodeKey)
	o, err := revocation.Verify(ver, byV1, time.Now())
	if err != nil || o.Seal.SealVersion != 1 || o.Revoked.KeyID != strings.Repeat("ab", 32) {
		t.Fatalf("notice sealed by v1: %+v %v", o, err)
	}
	sealedAt := time.Now()

	// The seal role certifies only NL's seal URIs, and a node may not use it at all.
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	for _, uri := range []string{"urn:cix:seal:BE:v1", "urn:cix:node:NL:nl-1"} {
		u, _ := url.Parse(uri)
		csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{u}}, key)
		if err != nil {
			t.Fatal(err)
		}
		_, err = holder.Client().Logical().WriteWithContext(ctx(t), vault.PKIMount+"/sign/"+vault.SealPKIRole, map[string]any{
			"csr": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr})), "uri_sans": uri,
		})
		if err == nil {
			t.Fatalf("seal role certified %s", uri)
		}
	}
	node := e.login(t, vault.NodeRole(nodes[0]), e.res.NodeRoleIDs[nodes[0]])
	if _, err := vault.NewSeal(node.Client(), admin).CertifiedSigner(ctx(t)); statusOf(err) != 403 {
		t.Fatalf("a node used the seal: %v", err)
	}

	// Rotate; v2 retires v1 from now on.
	if n, err := vault.NewSeal(e.srv.Client, admin).Rotate(ctx(t)); err != nil || n != 2 {
		t.Fatalf("rotate: v%d %v", n, err)
	}
	v2, err := seal.CertifiedSigner(ctx(t))
	if err != nil || v2.KeyID() != "seal:NL:v2" {
		t.Fatalf("v2 signer: %v", err)
	}
	retire := &trustv1.Revocation{Target: &trustv1.Revocation_Seal{Seal: &trustv1.SealRetirement{MinVersion: 2}}}
	if _, err := revocation.Verify(ver, notice(v1, retire), time.Now()); envelope.ReasonOf(err) != envelope.ReasonInvalidContent {
		t.Fatalf("v1 retiring itself: %v", err)
	}
	o, err = revocation.Verify(ver, notice(v2, retire), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ver.Revoke(o.Revoked); err != nil {
		t.Fatal(err)
	}
	if _, err := revocation.Verify(ver, notice(v1, nodeKey), time.Now()); envelope.ReasonOf(err) != envelope.ReasonRevokedKey {
		t.Fatalf("v1 after its retirement: %v", err)
	}
	if _, err := revocation.Verify(ver, byV1, sealedAt); err != nil {
		t.Fatalf("v1 notice stored before the retirement: %v", err)
	}
	if _, err := revocation.Verify(ver, notice(v2, nodeKey), time.Now()); err != nil {
		t.Fatalf("v2: %v", err)
	}
}
