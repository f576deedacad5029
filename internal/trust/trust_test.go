package trust_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/trust"
)

func keystore(t *testing.T, admin, node string) *trust.DevKeystore {
	t.Helper()
	ks, err := trust.OpenDevKeystore(filepath.Join(t.TempDir(), admin), admin, node, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func sign(t *testing.T, ks *trust.DevKeystore, msg []byte) (sig []byte, keyid string, chain [][]byte) {
	t.Helper()
	k, err := ks.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sig, _ = k.Sign(msg)
	return sig, k.KeyID(), k.Chain()
}

func TestVerifyChainToOwnAnchor(t *testing.T) {
	nl, be := keystore(t, "NL", "nl-1"), keystore(t, "BE", "be-1")
	v, err := trust.NewVerifier(nil, nl.Anchor(), be.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("alert")
	sig, id, chain := sign(t, nl, msg)
	p, err := v.Verify(msg, sig, id, chain)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.Administration != "NL" || p.Node != "nl-1" || p.KeyID != trust.KeyID(chain[0]) {
		t.Fatalf("principal %+v", p)
	}
	// Cached path gives the same answer, and still checks the signature.
	if _, err := v.Verify(msg, sig, id, chain); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify([]byte("other"), sig, id, chain); envelope.ReasonOf(err) != envelope.ReasonBadSignature {
		t.Fatalf("tampered message: %v", err)
	}
	if got := v.Administrations(); len(got) != 2 || got[0] != "BE" || got[1] != "NL" {
		t.Fatalf("administrations %v", got)
	}
}

func TestVerifyRefusals(t *testing.T) {
	nl := keystore(t, "NL", "nl-1")
	rogue := keystore(t, "NL", "nl-1") // same name, anchor nobody trusts
	fr := keystore(t, "FR", "fr-1")    // administration with no trusted anchor
	v, err := trust.NewVerifier(nil, nl.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("alert")
	for _, tc := range []struct {
		name string
		ks   *trust.DevKeystore
	}{{"rogue anchor", rogue}, {"untrusted administration", fr}} {
		t.Run(tc.name, func(t *testing.T) {
			sig, id, chain := sign(t, tc.ks, msg)
			if _, err := v.Verify(msg, sig, id, chain); envelope.ReasonOf(err) != envelope.ReasonUnknownKey {
				t.Fatalf("got %v, want unknown_key", err)
			}
		})
	}
	t.Run("keyid of a trusted key on a rogue chain", func(t *testing.T) {
		_, goodID, goodChain := sign(t, nl, msg)
		if _, err := v.Verify(msg, make([]byte, 64), goodID, goodChain); envelope.ReasonOf(err) != envelope.ReasonBadSignature {
			t.Fatalf("warm cache: %v", err)
		}
		sig, _, chain := sign(t, rogue, msg)
		if _, err := v.Verify(msg, sig, goodID, chain); envelope.ReasonOf(err) != envelope.ReasonUnknownKey {
			t.Fatalf("got %v, want unknown_key", err)
		}
	})
	t.Run("no chain", func(t *testing.T) {
		sig, id, _ := sign(t, nl, msg)
		if _, err := v.Verify(msg, sig, id, nil); envelope.ReasonOf(err) != envelope.ReasonUnknownKey {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("garbage certificate", func(t *testing.T) {
		sig, id, _ := sign(t, nl, msg)
		if _, err := v.Verify(msg, sig, id, [][]byte{{1, 2, 3}}); envelope.ReasonOf(err) != envelope.ReasonUnknownKey {
			t.Fatalf("got %v", err)
		}
	})
}

func TestVerifyValidityWindow(t *testing.T) {
	nl := keystore(t, "NL", "nl-1")
	now := time.Now()
	for _, tc := range []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"now", now, true},
		{"before the certificate", now.Add(-time.Hour), false},
		{"after expiry", now.Add(31 * 24 * time.Hour), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := trust.NewVerifier(func() time.Time { return tc.at }, nl.Anchor())
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("alert")
			sig, id, chain := sign(t, nl, msg)
			_, err = v.Verify(msg, sig, id, chain)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && envelope.ReasonOf(err) != envelope.ReasonUnknownKey {
				t.Fatalf("reason %v", envelope.ReasonOf(err))
			}
		})
	}
}

func TestAnchorMustBeAdministrationCA(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "no country"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	if _, err := trust.NewVerifier(nil, c); err == nil {
		t.Fatal("anchor without a country accepted")
	}
}

func TestDevKeystoreReopens(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ks")
	a, err := trust.OpenDevKeystore(dir, "BE", "be-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := trust.OpenDevKeystore(dir, "BE", "be-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	ka, _ := a.Current(context.Background())
	kb, _ := b.Current(context.Background())
	if ka.KeyID() != kb.KeyID() {
		t.Fatal("reopened keystore has another key")
	}
	st, err := os.Stat(filepath.Join(dir, "node-be-1.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v err %v", st.Mode(), err)
	}
	// Near expiry, reopening renews the node certificate under the same anchor.
	later := func() time.Time { return time.Now().Add(25 * 24 * time.Hour) }
	c, err := trust.OpenDevKeystore(dir, "BE", "be-1", later)
	if err != nil {
		t.Fatal(err)
	}
	kc, _ := c.Current(context.Background())
	if kc.KeyID() == ka.KeyID() || !c.Anchor().Equal(a.Anchor()) {
		t.Fatal("certificate not renewed under the same anchor")
	}
	if _, err := trust.OpenDevKeystore(dir, "NL", "be-1", nil); err == nil {
		t.Fatal("keystore of BE opened as NL")
	}
}
