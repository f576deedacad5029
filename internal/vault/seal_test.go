package vault_test

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"

	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/vault"
)

const docType = "application/vnd.cix.test-document.v1+json"

func TestSeal(t *testing.T) {
	e := newEnv(t)
	holder := e.login(t, vault.SealRole, e.res.SealRoleID) // least privilege: sign, read keys
	seal := vault.NewSeal(holder.Client(), admin)
	operator := vault.NewSeal(e.srv.Client, admin) // rotation and retirement

	sealDoc := func(doc string) ([]byte, string) {
		t.Helper()
		s, err := seal.Signer(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		env, err := envelope.Seal(docType, []byte(doc), s)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := envelope.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		return raw, s.KeyID()
	}
	open := func(raw []byte) (vault.SealPrincipal, error) {
		t.Helper()
		keys, err := seal.Keys(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		op, err := envelope.Open(raw, docType, keys)
		if err != nil {
			return vault.SealPrincipal{}, err
		}
		return op.Signer, nil
	}

	// Version 1 signs; the signature is plain ed25519 over the PAE.
	v1doc, v1id := sealDoc("trust material v1")
	if v1id != "seal:NL:v1" {
		t.Fatalf("key id %q", v1id)
	}
	keys, err := seal.Keys(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	sig, v, err := seal.Sign(ctx(t), []byte("message"), 0)
	if err != nil || v != 1 || !ed25519.Verify(keys.Keys[1], []byte("message"), sig) {
		t.Fatalf("transit signature does not verify with crypto/ed25519 (v%d, %v)", v, err)
	}
	if p, err := open(v1doc); err != nil || p.Version != 1 || p.Administration != admin {
		t.Fatalf("open v1: %+v %v", p, err)
	}

	// The holder may not rotate; the operator may.
	if _, err := seal.Rotate(ctx(t)); statusOf(err) != 403 {
		t.Fatalf("seal holder rotated the key: %v", err)
	}
	if n, err := operator.Rotate(ctx(t)); err != nil || n != 2 {
		t.Fatalf("rotate: v%d %v", n, err)
	}
	v2doc, v2id := sealDoc("trust material v2")
	if v2id != "seal:NL:v2" {
		t.Fatalf("after rotation key id %q", v2id)
	}
	for name, doc := range map[string][]byte{"v1": v1doc, "v2": v2doc} {
		if _, err := open(doc); err != nil {
			t.Fatalf("%s after rotation: %v", name, err)
		}
	}

	// Retiring v1 refuses what it signed; v2 keeps verifying.
	if err := operator.Retire(ctx(t), 2); err != nil {
		t.Fatal(err)
	}
	if _, err := open(v1doc); envelope.ReasonOf(err) != envelope.ReasonUnknownKey {
		t.Fatalf("v1 after retirement: %v", err)
	}
	if _, err := open(v2doc); err != nil {
		t.Fatalf("v2 after retirement: %v", err)
	}

	// Published keys survive a JSON round trip and still decide the same way.
	keys, err = seal.Keys(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(keys)
	if err != nil {
		t.Fatal(err)
	}
	var pub vault.SealKeys
	if err := json.Unmarshal(b, &pub); err != nil {
		t.Fatal(err)
	}
	if pub.MinVersion != 2 || pub.Latest != 2 {
		t.Fatalf("published %s", b)
	}
	if _, err := envelope.Open(v2doc, docType, &pub); err != nil {
		t.Fatal(err)
	}
	if _, err := envelope.Open(v1doc, docType, &pub); envelope.ReasonOf(err) != envelope.ReasonUnknownKey {
		t.Fatalf("v1 with published keys: %v", err)
	}
	// Keys of another administration do not verify NL's seal.
	be := pub
	be.Administration = "BE"
	if _, err := envelope.Open(v2doc, docType, &be); envelope.ReasonOf(err) != envelope.ReasonUnknownKey {
		t.Fatalf("NL seal under BE keys: %v", err)
	}
}

func TestSealVerifyRefusals(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	keys := &vault.SealKeys{Administration: admin, Keys: map[int]ed25519.PublicKey{2: pub, 3: pub}, MinVersion: 2, Latest: 3}
	msg := []byte("pae")
	sig := ed25519.Sign(priv, msg)
	for _, tc := range []struct {
		keyid string
		sig   []byte
		want  envelope.Reason
	}{
		{"seal:NL:v2", sig, 0},
		{"seal:NL:v3", sig, 0},
		{"seal:NL:v1", sig, envelope.ReasonUnknownKey}, // retired
		{"seal:NL:v4", sig, envelope.ReasonUnknownKey}, // not published
		{"seal:BE:v2", sig, envelope.ReasonUnknownKey},
		{"seal:NL:v02", sig, envelope.ReasonUnknownKey},
		{"seal:NL:v-1", sig, envelope.ReasonUnknownKey},
		{"seal:NL:2", sig, envelope.ReasonUnknownKey},
		{"abcdef", sig, envelope.ReasonUnknownKey},
		{"seal:NL:v2", sig[:10], envelope.ReasonBadSignature},
		{"seal:NL:v2", make([]byte, ed25519.SignatureSize), envelope.ReasonBadSignature},
	} {
		_, err := keys.Verify(msg, tc.sig, tc.keyid, nil)
		if envelope.ReasonOf(err) != tc.want || (tc.want == 0) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.keyid, err, tc.want)
		}
	}
	if a, v, err := vault.ParseSealKeyID(vault.SealKeyID("BE", 12)); err != nil || a != "BE" || v != 12 {
		t.Fatalf("round trip: %s %d %v", a, v, err)
	}
}

// FuzzSealVerify: any key id, signature and message is either refused with a reason or
// verifies under a published, unretired key; a key id that parses prints back the same.
func FuzzSealVerify(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	keys := &vault.SealKeys{Administration: admin, Keys: map[int]ed25519.PublicKey{1: pub, 2: pub}, MinVersion: 2, Latest: 2}
	f.Add("seal:NL:v2", ed25519.Sign(priv, []byte("m")), []byte("m"))
	f.Add("seal:NL:v1", ed25519.Sign(priv, []byte("m")), []byte("m"))
	f.Add("seal:BE:v10", []byte{1, 2}, []byte(""))
	f.Add("seal::v", []byte(nil), []byte("x"))
	f.Fuzz(func(t *testing.T, keyid string, sig, msg []byte) {
		p, err := keys.Verify(msg, sig, keyid, nil)
		if err != nil {
			if envelope.ReasonOf(err) == 0 {
				t.Fatalf("refusal without reason: %v", err)
			}
		} else if p.KeyID != keyid || p.Version < keys.MinVersion || !ed25519.Verify(keys.Keys[p.Version], msg, sig) {
			t.Fatalf("accepted %q as %+v", keyid, p)
		}
		if a, v, err := vault.ParseSealKeyID(keyid); err == nil && vault.SealKeyID(a, v) != keyid {
			t.Fatalf("%q parses as %s v%d", keyid, a, v)
		}
	})
}
