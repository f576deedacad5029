package trust_test

import (
	"crypto/x509"
	"testing"

	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/trust"
)

// TestSetAnchorsTakesEffectAtOnce: a key verified (and cached) under an anchor stops
// verifying when the anchor is removed and verifies again when it returns; an anchor
// of another administration is refused.
func TestSetAnchorsTakesEffectAtOnce(t *testing.T) {
	nl, be := keystore(t, "NL", "nl-1"), keystore(t, "BE", "be-1")
	v, err := trust.NewVerifier(nil, nl.Anchor(), be.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("pae")
	sig, id, chain := sign(t, nl, msg)
	if _, err := v.Verify(msg, sig, id, chain); err != nil {
		t.Fatal(err)
	}
	if err := v.SetAnchors("NL", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(msg, sig, id, chain); envelope.ReasonOf(err) != envelope.ReasonUnknownKey {
		t.Fatalf("after removing NL's anchor: %v", err)
	}
	if got := v.Administrations(); len(got) != 1 || got[0] != "BE" {
		t.Fatalf("administrations %v", got)
	}
	if err := v.SetAnchors("NL", []*x509.Certificate{be.Anchor()}); err == nil {
		t.Fatal("BE's anchor accepted as NL's")
	}
	if err := v.SetAnchors("NL", []*x509.Certificate{nl.Anchor()}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(msg, sig, id, chain); err != nil {
		t.Fatalf("anchor restored: %v", err)
	}
}
