package trust_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/trust"
)

// TestRevocationsApplyFromTheirEffectiveTime: each kind of revocation refuses what is
// stored from its effective time on, with ReasonRevokedKey, and nothing earlier; a node
// key never verifies as a seal nor a seal as a node key.
func TestRevocationsApplyFromTheirEffectiveTime(t *testing.T) {
	nl := keystore(t, "NL", "nl-1")
	seal, err := nl.Seal()
	if err != nil {
		t.Fatal(err)
	}
	v, err := trust.NewVerifier(nil, nl.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("pae")
	key, err := nl.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	nodeSig, _ := key.Sign(msg)
	sealSig, _ := seal.Sign(msg)
	issued := time.Now()
	T := issued.Add(time.Hour) // effective time of every revocation below
	verifyNode := func(at time.Time) error {
		_, err := v.At(at).Verify(msg, nodeSig, key.KeyID(), key.Chain())
		return err
	}
	verifySeal := func(at time.Time) error {
		_, err := v.SealAt(at).Verify(msg, sealSig, seal.KeyID(), seal.Chain())
		return err
	}
	if verifyNode(T) != nil || verifySeal(T) != nil {
		t.Fatalf("before any revocation: %v %v", verifyNode(T), verifySeal(T))
	}
	if _, err := v.SealAt(T).Verify(msg, nodeSig, key.KeyID(), key.Chain()); envelope.ReasonOf(err) != envelope.ReasonUnknownKey {
		t.Fatalf("node key as a seal: %v", err)
	}
	if _, err := v.At(T).Verify(msg, sealSig, seal.KeyID(), seal.Chain()); envelope.ReasonOf(err) != envelope.ReasonUnknownKey {
		t.Fatalf("seal as a node key: %v", err)
	}
	if _, err := v.SealAt(T).Verify(msg, sealSig, "seal:NL:v2", seal.Chain()); envelope.ReasonOf(err) != envelope.ReasonUnknownKey {
		t.Fatalf("seal signature naming another version: %v", err)
	}

	// A node-wide revocation effective before the key was issued spares it.
	if err := v.Revoke(trust.Revoked{Administration: "NL", Node: "nl-1", EffectiveAt: issued.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := verifyNode(T); err != nil {
		t.Fatalf("key issued after a node-wide revocation: %v", err)
	}
	for name, r := range map[string]trust.Revoked{
		"one key":   {Administration: "NL", Node: "nl-1", KeyID: key.KeyID(), EffectiveAt: T},
		"node-wide": {Administration: "NL", Node: "nl-1", EffectiveAt: T},
	} {
		t.Run(name, func(t *testing.T) {
			v, _ := trust.NewVerifier(nil, nl.Anchor())
			verify := func(at time.Time) error {
				_, err := v.At(at).Verify(msg, nodeSig, key.KeyID(), key.Chain())
				return err
			}
			if err := v.Revoke(r); err != nil {
				t.Fatal(err)
			}
			if err := verify(T.Add(-time.Second)); err != nil {
				t.Fatalf("stored before: %v", err)
			}
			for _, at := range []time.Time{T, T.Add(time.Minute)} {
				if err := verify(at); envelope.ReasonOf(err) != envelope.ReasonRevokedKey {
					t.Fatalf("stored at %v: %v", at.Sub(T), err)
				}
			}
			if why, err := v.Revoked(key.Chain(), T); err != nil || why == "" {
				t.Fatalf("Revoked: %q %v", why, err)
			}
		})
	}
	// Retiring seal versions below 2 refuses v1 from T on.
	if err := v.Revoke(trust.Revoked{Administration: "NL", SealMinVersion: 2, EffectiveAt: T}); err != nil {
		t.Fatal(err)
	}
	if err := verifySeal(T.Add(-time.Second)); err != nil {
		t.Fatalf("seal before retirement: %v", err)
	}
	if err := verifySeal(T); envelope.ReasonOf(err) != envelope.ReasonRevokedKey {
		t.Fatalf("seal after retirement: %v", err)
	}
	// Another administration's revocations do not touch NL.
	if err := v.Revoke(trust.Revoked{Administration: "BE", Node: "nl-1", EffectiveAt: issued}); err != nil {
		t.Fatal(err)
	}
	if err := verifyNode(T.Add(-time.Second)); err != nil {
		t.Fatalf("BE revocation applied to NL: %v", err)
	}
}

func TestRevokedValidation(t *testing.T) {
	now := time.Now()
	for _, r := range []trust.Revoked{
		{Administration: "nl", Node: "n1", EffectiveAt: now},
		{Administration: "NL", Node: "n1"},
		{Administration: "NL", Node: "N1", EffectiveAt: now},
		{Administration: "NL", Node: "n1", KeyID: "abc", EffectiveAt: now},
		{Administration: "NL", Node: "n1", SealMinVersion: 2, EffectiveAt: now},
		{Administration: "NL", SealMinVersion: -1, EffectiveAt: now},
	} {
		if r.Validate() == nil {
			t.Errorf("%+v accepted", r)
		}
	}
	if err := (trust.Revoked{Administration: "NL", SealMinVersion: 3, EffectiveAt: now}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDevSealReopens(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "NL")
	ks, err := trust.OpenDevKeystore(dir, "NL", "nl-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ks.Seal()
	if err != nil {
		t.Fatal(err)
	}
	b, err := trust.OpenDevSeal(dir, "NL")
	if err != nil || b.KeyID() != "seal:NL:v1" || string(a.Chain()[0]) != string(b.Chain()[0]) {
		t.Fatalf("reopened seal differs: %v", err)
	}
	if _, err := trust.OpenDevSeal(dir, "BE"); err == nil {
		t.Fatal("NL keystore opened as BE's seal")
	}
}
