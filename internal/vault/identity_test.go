package vault_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/cix-exchange/cix/internal/vault"
)

func TestIdentityChainVerifies(t *testing.T) {
	e := newEnv(t)
	s := e.nodeSession(t, "nl-1")
	id, err := vault.NewIdentity(ctx(t), s.Client(), vault.IdentityConfig{
		Administration: admin, Node: "nl-1", Anchor: e.res.Anchor, Renewal: vault.Renewal{Log: testLog(t)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var _ trust.Identity = id
	key, err := id.Current(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	chain := key.Chain()
	if len(chain) != 2 {
		t.Fatalf("chain of %d certificates, want leaf and intermediate", len(chain))
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := leaf.PublicKey.(ed25519.PublicKey); !ok || leaf.IsCA || len(leaf.DNSNames) != 0 ||
		len(leaf.URIs) != 1 || leaf.URIs[0].String() != "urn:cix:node:NL:nl-1" ||
		len(leaf.Subject.Country) != 1 || leaf.Subject.Country[0] != admin || leaf.Subject.CommonName != "cix node nl-1" ||
		leaf.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Fatalf("leaf: subject %s uris %v dns %v usage %v", leaf.Subject, leaf.URIs, leaf.DNSNames, leaf.KeyUsage)
	}
	if life := leaf.NotAfter.Sub(time.Now()); life < 23*time.Hour || life > 24*time.Hour+time.Minute {
		t.Fatalf("leaf lifetime %v, want about 24h", life)
	}

	// Alerts sealed with it open at a receiver trusting only the NL anchor.
	v, err := trust.NewVerifier(nil, e.res.Anchor)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Seal(envelope.PayloadTypeAlert, []byte("payload"), key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := envelope.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	op, err := envelope.Open(raw, envelope.PayloadTypeAlert, v)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if p := op.Signer; p.Administration != admin || p.Node != "nl-1" || p.KeyID != key.KeyID() {
		t.Fatalf("principal %+v", p)
	}
	if st := id.Status(); st.State != vault.StateOK || st.KeyID != key.KeyID() || st.Renewals != 1 {
		t.Fatalf("status %+v", st)
	}
}

// TestNodePolicy: a node's token certifies only its own identity and reads only its
// own secrets.
func TestNodePolicy(t *testing.T) {
	e := newEnv(t)
	c := e.nodeSession(t, "nl-1").Client()
	if _, err := vault.WriteNATSCreds(ctx(t), e.srv.Client, "nl-2", []byte("creds of nl-2")); err != nil {
		t.Fatal(err)
	}
	sign := func(role string, uri string, key any, extra ...string) error {
		t.Helper()
		u, _ := url.Parse(uri)
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
			Subject: pkix.Name{Country: []string{admin}}, URIs: []*url.URL{u}}, key)
		if err != nil {
			t.Fatal(err)
		}
		req := map[string]any{
			"csr": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), "uri_sans": uri,
		}
		for i := 0; i+1 < len(extra); i += 2 {
			req[extra[i]] = extra[i+1]
		}
		_, err = c.Logical().WriteWithContext(ctx(t), vault.PKIMount+"/sign/"+role, req)
		return err
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	if err := sign("node-nl-1", "urn:cix:node:NL:nl-1", edKey); err != nil {
		t.Fatalf("own role: %v", err)
	}
	wantStatus(t, "sign at another node's role", sign("node-nl-2", "urn:cix:node:NL:nl-2", edKey), 403)
	wantStatus(t, "another node's name at own role", sign("node-nl-1", "urn:cix:node:NL:nl-2", edKey), 400)
	wantStatus(t, "another administration's name", sign("node-nl-1", "urn:cix:node:BE:nl-1", edKey), 400)
	wantStatus(t, "ECDSA key", sign("node-nl-1", "urn:cix:node:NL:nl-1", ecKey), 400)
	wantStatus(t, "another node's common name", sign("node-nl-1", "urn:cix:node:NL:nl-1", edKey, "common_name", "cix node nl-2"), 400)
	wantStatus(t, "a DNS name", sign("node-nl-1", "urn:cix:node:NL:nl-1", edKey, "alt_names", "nl-1.example"), 400)
	wantStatus(t, "an IP address", sign("node-nl-1", "urn:cix:node:NL:nl-1", edKey, "ip_sans", "127.0.0.1"), 400)

	_, err := c.Logical().WriteWithContext(ctx(t), vault.PKIMount+"/issue/node-nl-1", map[string]any{"uri_sans": "urn:cix:node:NL:nl-1"})
	wantStatus(t, "issue (Vault-generated key)", err, 403)
	_, err = vault.ReadNATSCreds(ctx(t), c, "nl-2")
	wantStatus(t, "read another node's secrets", err, 403)
	_, err = vault.WriteNATSCreds(ctx(t), c, "nl-1", []byte("x"))
	wantStatus(t, "write own secrets", err, 403)
	_, err = c.Logical().WriteWithContext(ctx(t), vault.TransitMount+"/sign/"+vault.SealKey, map[string]any{"input": "eA=="})
	wantStatus(t, "transit sign", err, 403)
	_, err = c.Logical().ReadWithContext(ctx(t), "sys/mounts")
	wantStatus(t, "list mounts", err, 403)
	_, err = c.Logical().WriteWithContext(ctx(t), vault.RootMount+"/root/sign-intermediate", map[string]any{"csr": "x"})
	wantStatus(t, "root CA", err, 403)

	// An identity pointed at another node's role fails at start.
	if _, err := vault.NewIdentity(ctx(t), c, vault.IdentityConfig{Administration: admin, Node: "nl-2"}); statusOf(errors.Unwrap(err)) != 403 && statusOf(err) != 403 {
		t.Fatalf("identity of nl-2 with nl-1's token: %v", err)
	}
}

// runIdentity starts id.Run and stops it when the test ends.
func runIdentity(t *testing.T, id *vault.Identity) {
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- id.Run(c) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func newIdentity(t *testing.T, e *env, clock *fakeClock) *vault.Identity {
	t.Helper()
	s := e.nodeSession(t, "nl-1")
	id, err := vault.NewIdentity(ctx(t), s.Client(), vault.IdentityConfig{
		Administration: admin, Node: "nl-1", Anchor: e.res.Anchor, Renewal: fastRenewal(t, clock),
	})
	if err != nil {
		t.Fatal(err)
	}
	runIdentity(t, id)
	return id
}

func keyID(t *testing.T, id *vault.Identity) string {
	t.Helper()
	k, err := id.Current(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return k.KeyID()
}

func TestIdentityRenewsBeforeExpiry(t *testing.T) {
	e := newEnv(t)
	clock := &fakeClock{}
	id := newIdentity(t, e, clock)
	first := keyID(t, id)
	st := id.Status()
	if life, left := st.NotAfter.Sub(st.LastRenewal), st.NotAfter.Sub(st.RenewAt); left < life/3-time.Second || left > life/3+time.Second {
		t.Fatalf("renew at %v, %v before the end of %v: want two thirds of the lifetime", st.RenewAt, left, life)
	}
	clock.Advance(st.RenewAt.Sub(clock.Now()) - time.Minute)
	time.Sleep(100 * time.Millisecond) // ten ticks of Run
	if keyID(t, id) != first || id.Status().Renewals != 1 {
		t.Fatal("renewed before two thirds of the lifetime")
	}
	clock.Advance(2 * time.Minute)
	waitFor(t, 10*time.Second, "renewal", func() error {
		if st := id.Status(); st.Renewals != 2 {
			return fmt.Errorf("renewals %d", st.Renewals)
		}
		return nil
	})
	if keyID(t, id) == first {
		t.Fatal("renewal kept the key")
	}
}

// TestIdentityVaultOutage: renewal failures keep the current key and report degraded;
// Vault back, renewal succeeds; a certificate that expires during an outage stops
// Current.
func TestIdentityVaultOutage(t *testing.T) {
	e := newEnv(t)
	clock := &fakeClock{}
	id := newIdentity(t, e, clock)
	first := keyID(t, id)

	e.srv.Stop()
	clock.Advance(id.Status().RenewAt.Sub(clock.Now()) + time.Minute)
	waitFor(t, 30*time.Second, "degraded", func() error {
		if st := id.Status(); st.State != vault.StateDegraded || st.Failures < 1 || st.LastError == "" {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if keyID(t, id) != first {
		t.Fatal("key changed while vault was down")
	}
	t.Logf("degraded: %s", id.Status().LastError)

	if err := e.srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "renewal after vault is back", func() error {
		if st := id.Status(); st.State != vault.StateOK || st.Renewals != 2 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	second := keyID(t, id)
	if second == first {
		t.Fatal("no new key")
	}

	// Outage again, until the certificate has expired.
	e.srv.Stop()
	clock.Advance(id.Status().NotAfter.Sub(clock.Now()) + time.Minute)
	_, err := id.Current(ctx(t))
	if !errors.Is(err, vault.ErrNoValidCertificate) {
		t.Fatalf("Current after expiry: %v", err)
	}
	if st := id.Status(); st.State != vault.StateExpired || st.TimeToExpiry > 0 {
		t.Fatalf("status after expiry %+v", st)
	}
}
