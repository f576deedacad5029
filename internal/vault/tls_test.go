package vault_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/trust"
	"github.com/cix-exchange/cix/internal/vault"
	"github.com/hashicorp/vault/api"
)

func newTLSCertificate(t *testing.T, c *api.Client, e *env, r vault.Renewal) *vault.TLSCertificate {
	t.Helper()
	if r.Log == nil {
		r.Log = testLog(t)
	}
	tc, err := vault.NewTLSCertificate(ctx(t), c, vault.TLSConfig{Administration: admin, Node: "nl-1", Anchor: e.res.Anchor, Renewal: r})
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// served returns the certificate tc serves.
func served(t *testing.T, tc *vault.TLSCertificate) *tls.Certificate {
	t.Helper()
	c, err := tc.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTLSServerCertificate: the node's server certificate from Vault names the node's
// hosts only, is sent with the node CA, verifies for a client trusting only the anchor,
// and cannot pass for a node signing certificate.
func TestTLSServerCertificate(t *testing.T) {
	e := newEnv(t)
	tc := newTLSCertificate(t, e.nodeSession(t, "nl-1").Client(), e, vault.Renewal{})
	cert := served(t, tc)
	leaf := cert.Leaf
	if len(cert.Certificate) != 2 || !leaf.Equal(must(x509.ParseCertificate(cert.Certificate[0]))) ||
		!e.res.Intermediate.Equal(must(x509.ParseCertificate(cert.Certificate[1]))) {
		t.Fatalf("chain of %d certificates, want leaf and node CA", len(cert.Certificate))
	}
	if _, ok := leaf.PublicKey.(ed25519.PublicKey); !ok || leaf.IsCA || len(leaf.URIs) != 0 ||
		fmt.Sprint(leaf.DNSNames) != "[localhost]" || fmt.Sprint(leaf.IPAddresses) != "[127.0.0.1]" ||
		fmt.Sprint(leaf.ExtKeyUsage) != fmt.Sprint([]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) ||
		leaf.Subject.Country[0] != admin {
		t.Fatalf("leaf: subject %s dns %v ip %v uris %v eku %v", leaf.Subject, leaf.DNSNames, leaf.IPAddresses, leaf.URIs, leaf.ExtKeyUsage)
	}
	if life := leaf.NotAfter.Sub(time.Now()); life < 71*time.Hour || life > 72*time.Hour+time.Minute {
		t.Fatalf("lifetime %v, want about 72h", life)
	}

	// A standard TLS client trusting only the anchor verifies it, by name and address.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: tc.GetCertificate, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	roots := x509.NewCertPool()
	roots.AddCert(e.res.Anchor)
	for _, name := range []string{"localhost", "127.0.0.1"} {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: name, MinVersion: tls.VersionTLS13})
		if err != nil {
			t.Fatalf("handshake as %s: %v", name, err)
		}
		c.Close()
	}
	if c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "nl-2.example"}); err == nil {
		c.Close()
		t.Fatal("verified for a name it does not carry")
	}

	// Its key cannot sign alerts as the node.
	v, err := trust.NewVerifier(nil, e.res.Anchor)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("alert")
	sig := ed25519.Sign(cert.PrivateKey.(ed25519.PrivateKey), msg)
	if _, err := v.Verify(msg, sig, trust.KeyID(leaf.Raw), cert.Certificate); err == nil {
		t.Fatal("a TLS server certificate verified as a node signing certificate")
	}
	if st := tc.Status(); st.State != vault.StateOK || st.KeyID != trust.KeyID(leaf.Raw) || st.Renewals != 1 {
		t.Fatalf("status %+v", st)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestTLSServerCertificateRenewal: a fresh certificate (new key, new serial) is served
// from two thirds of the lifetime; during an outage the current one is served until it
// expires, and then none.
func TestTLSServerCertificateRenewal(t *testing.T) {
	e := newEnv(t)
	clock := &fakeClock{}
	tc := newTLSCertificate(t, e.nodeSession(t, "nl-1").Client(), e, fastRenewal(t, clock))
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tc.Run(c) }()
	t.Cleanup(func() { cancel(); <-done })

	first := served(t, tc).Leaf
	clock.Advance(tc.Status().RenewAt.Sub(clock.Now()) + time.Minute)
	waitFor(t, 10*time.Second, "renewal", func() error {
		if l := served(t, tc).Leaf; l.SerialNumber.Cmp(first.SerialNumber) == 0 {
			return errors.New("same serial")
		}
		return nil
	})
	second := served(t, tc)
	if second.Leaf.PublicKey.(ed25519.PublicKey).Equal(first.PublicKey) || tc.Status().Renewals != 2 {
		t.Fatal("renewal kept the key")
	}

	e.srv.Stop()
	clock.Advance(tc.Status().RenewAt.Sub(clock.Now()) + time.Minute)
	waitFor(t, 30*time.Second, "degraded", func() error {
		if st := tc.Status(); st.State != vault.StateDegraded || st.Failures < 1 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if served(t, tc).Leaf.SerialNumber.Cmp(second.Leaf.SerialNumber) != 0 {
		t.Fatal("certificate changed while Vault was down")
	}
	clock.Advance(tc.Status().NotAfter.Sub(clock.Now()) + time.Minute)
	if _, err := tc.GetCertificate(&tls.ClientHelloInfo{}); !errors.Is(err, vault.ErrNoValidCertificate) {
		t.Fatalf("expired certificate served: %v", err)
	}
}

// signAt asks c to have a CSR of a fresh ed25519 key signed at the role with params.
func signAt(t *testing.T, c *api.Client, role string, params map[string]any) error {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	req := map[string]any{"csr": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))}
	for k, v := range params {
		req[k] = v
	}
	_, err = c.Logical().WriteWithContext(ctx(t), vault.PKIMount+"/sign/"+role, req)
	return err
}

// TestTLSPolicies: a node signs only its own server certificates, for its own names;
// only client certificate issuers sign client certificates, each role naming only its
// own role.
func TestTLSPolicies(t *testing.T) {
	e := newEnv(t)
	node := e.nodeSession(t, "nl-1").Client()
	server := map[string]any{"common_name": "localhost", "ip_sans": "127.0.0.1"}
	analystURI := map[string]any{"uri_sans": "urn:cix:client:NL:analyst:alice"}
	if err := signAt(t, node, vault.TLSServerRole("nl-1"), server); err != nil {
		t.Fatalf("own server role: %v", err)
	}
	wantStatus(t, "node: another node's server role", signAt(t, node, vault.TLSServerRole("nl-2"), server), 403)
	for _, r := range trust.Roles {
		wantStatus(t, "node: client role "+string(r), signAt(t, node, vault.TLSClientRole(r),
			map[string]any{"uri_sans": trust.ClientURI(admin, r, "x").String()}), 403)
	}
	wantStatus(t, "node: a name outside its hosts", signAt(t, node, vault.TLSServerRole("nl-1"), map[string]any{"common_name": "nl-2.example"}), 400)
	wantStatus(t, "node: a subdomain", signAt(t, node, vault.TLSServerRole("nl-1"), map[string]any{"common_name": "x.localhost"}), 400)
	wantStatus(t, "node: a URI SAN on a server certificate", signAt(t, node, vault.TLSServerRole("nl-1"),
		map[string]any{"common_name": "localhost", "uri_sans": "urn:cix:node:NL:nl-1"}), 400)
	_, err := node.Logical().WriteWithContext(ctx(t), vault.PKIMount+"/issue/"+vault.TLSServerRole("nl-1"), server)
	wantStatus(t, "node: issue (Vault-generated key)", err, 403)
	if _, err := vault.IssueClientCertificate(ctx(t), node, vault.ClientCertRequest{Role: trust.RoleAnalyst, Name: "alice"}); statusOf(err) != 403 {
		t.Fatalf("node issuing a client certificate: %v, want 403", err)
	}
	_, err = vault.NewTLSCertificate(ctx(t), node, vault.TLSConfig{Administration: admin, Node: "nl-2"})
	wantStatus(t, "node: TLS certificate of nl-2", err, 403)

	issuer := e.srv.ClientWithPolicies(t, vault.ClientIssuerPolicy)
	for _, r := range trust.Roles {
		cc, err := vault.IssueClientCertificate(ctx(t), issuer, vault.ClientCertRequest{Role: r, Name: "alice", TTL: time.Hour})
		if err != nil {
			t.Fatalf("issue %s: %v", r, err)
		}
		certs, err := trust.ParseCertificatesPEM(cc.CertPEM)
		if err != nil || len(certs) != 2 || !certs[1].Equal(e.res.Intermediate) {
			t.Fatalf("%s: chain %v (%v)", r, len(certs), err)
		}
		anchor, err := trust.ParseCertificatesPEM(cc.AnchorPEM)
		if err != nil || !anchor[0].Equal(e.res.Anchor) {
			t.Fatalf("%s: anchor (%v)", r, err)
		}
		if _, err := tls.X509KeyPair(cc.CertPEM, cc.KeyPEM); err != nil {
			t.Fatalf("%s: key pair: %v", r, err)
		}
		leaf := certs[0]
		if cc.Identity != (trust.ClientIdentity{Administration: admin, Role: r, Name: "alice"}) ||
			fmt.Sprint(leaf.ExtKeyUsage) != fmt.Sprint([]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) ||
			len(leaf.DNSNames)+len(leaf.IPAddresses) != 0 || leaf.NotAfter.Sub(time.Now()) > time.Hour+time.Minute {
			t.Fatalf("%s: identity %+v, eku %v, dns %v, ip %v, until %v", r, cc.Identity, leaf.ExtKeyUsage, leaf.DNSNames, leaf.IPAddresses, leaf.NotAfter)
		}
	}
	wantStatus(t, "issuer: publisher name at the analyst role", signAt(t, issuer, vault.TLSClientRole(trust.RoleAnalyst),
		map[string]any{"uri_sans": "urn:cix:client:NL:publisher:alice"}), 400)
	wantStatus(t, "issuer: another administration at the analyst role", signAt(t, issuer, vault.TLSClientRole(trust.RoleAnalyst),
		map[string]any{"uri_sans": "urn:cix:client:BE:analyst:alice"}), 400)
	wantStatus(t, "issuer: a DNS name on a client certificate", signAt(t, issuer, vault.TLSClientRole(trust.RoleAnalyst),
		merge(analystURI, map[string]any{"alt_names": "localhost"})), 400)
	wantStatus(t, "issuer: a node certificate", signAt(t, issuer, vault.NodeRole("nl-1"),
		map[string]any{"uri_sans": "urn:cix:node:NL:nl-1"}), 403)
	wantStatus(t, "issuer: a server certificate", signAt(t, issuer, vault.TLSServerRole("nl-1"), server), 403)
	_, err = issuer.Logical().WriteWithContext(ctx(t), vault.PKIMount+"/issue/"+vault.TLSClientRole(trust.RoleAnalyst), analystURI)
	wantStatus(t, "issuer: issue (Vault-generated key)", err, 403)
	if _, err := vault.IssueClientCertificate(ctx(t), issuer, vault.ClientCertRequest{Role: "auditor", Name: "alice"}); err == nil {
		t.Fatal("unknown role accepted")
	}
	if _, err := vault.IssueClientCertificate(ctx(t), issuer, vault.ClientCertRequest{Role: trust.RoleAnalyst, Name: "Alice Smith"}); err == nil {
		t.Fatal("invalid name accepted")
	}
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
