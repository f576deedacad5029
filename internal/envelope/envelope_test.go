package envelope_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/cix-exchange/cix/internal/envelope"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	envelopev1 "github.com/cix-exchange/cix/internal/gen/cix/envelope/v1"
	"google.golang.org/protobuf/proto"
)

// rawKey is a bare ed25519 signer and verifier: the envelope package's own tests do not
// need certificates (package trust has those).
type rawKey struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	id   string
}

func newRawKey(t testing.TB, id string) *rawKey {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &rawKey{pub: pub, priv: priv, id: id}
}

func (k *rawKey) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(k.priv, msg), nil }
func (k *rawKey) KeyID() string                   { return k.id }
func (k *rawKey) Chain() [][]byte                 { return [][]byte{[]byte("cert-" + k.id)} }

func (k *rawKey) Verify(pae, sig []byte, keyid string, chain [][]byte) (string, error) {
	if keyid != k.id {
		return "", envelope.Refuse(envelope.ReasonUnknownKey, "unknown key "+keyid, nil)
	}
	if !ed25519.Verify(k.pub, pae, sig) {
		return "", envelope.Refuse(envelope.ReasonBadSignature, "bad", nil)
	}
	return k.id, nil
}

func TestPAE(t *testing.T) {
	// The DSSE specification's test vector.
	got := envelope.PAE("http://example.com/HelloWorld", []byte("hello world"))
	want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"
	if string(got) != want {
		t.Fatalf("PAE = %q, want %q", got, want)
	}
	if got := envelope.PAE("", nil); string(got) != "DSSEv1 0  0 " {
		t.Fatalf("empty PAE = %q", got)
	}
}

func TestSealOpen(t *testing.T) {
	k := newRawKey(t, "k1")
	payload := []byte("the exact bytes")
	env, err := envelope.Seal(envelope.PayloadTypeAlert, payload, k)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := envelope.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	opened, err := envelope.Open[string](raw, envelope.PayloadTypeAlert, k)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !bytes.Equal(opened.Envelope.Payload, payload) || opened.Signer != "k1" {
		t.Fatalf("opened %q signer %q", opened.Envelope.Payload, opened.Signer)
	}
	if sig := env.Signatures[0]; sig.Keyid != "k1" || len(sig.Sig) != ed25519.SignatureSize || len(sig.Certificates) != 1 {
		t.Fatalf("signature %+v", sig)
	}
}

func TestOpenRefusals(t *testing.T) {
	k := newRawKey(t, "k1")
	other := newRawKey(t, "k2")
	seal := func(typ string, payload []byte, s envelope.Signer) *envelopev1.Envelope {
		env, err := envelope.Seal(typ, payload, s)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	marshal := func(env *envelopev1.Envelope) []byte {
		b, err := envelope.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tampered := seal(envelope.PayloadTypeAlert, []byte("payload"), k)
	tampered.Payload[0] ^= 1
	swapped := seal(envelope.PayloadTypeAlert, []byte("payload"), k)
	swapped.PayloadType = "application/vnd.cix.other.v1+proto"
	typeSignedOther := seal("application/vnd.cix.other.v1+proto", []byte("payload"), k)
	unsigned := seal(envelope.PayloadTypeAlert, []byte("payload"), k)
	unsigned.Signatures = nil
	foreign := seal(envelope.PayloadTypeAlert, []byte("payload"), other)
	// A valid signature moved onto a longer payload: the PAE lengths differ.
	extended := seal(envelope.PayloadTypeAlert, []byte("payload"), k)
	extended.Payload = append(extended.Payload, 'x')

	for _, tc := range []struct {
		name string
		raw  []byte
		want envelope.Reason
	}{
		{"garbage", []byte{0xff, 0xff, 0xff}, envelope.ReasonMalformedEnvelope},
		{"oversize", make([]byte, envelope.MaxEnvelopeSize+1), envelope.ReasonMalformedEnvelope},
		{"tampered payload", marshal(tampered), envelope.ReasonBadSignature},
		{"swapped payload type", marshal(swapped), envelope.ReasonWrongPayloadType},
		{"signed as another type", marshal(typeSignedOther), envelope.ReasonWrongPayloadType},
		{"no signature", marshal(unsigned), envelope.ReasonBadSignature},
		{"unknown key", marshal(foreign), envelope.ReasonUnknownKey},
		{"extended payload", marshal(extended), envelope.ReasonBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := envelope.Open[string](tc.raw, envelope.PayloadTypeAlert, k)
			if got := envelope.ReasonOf(err); got != tc.want {
				t.Fatalf("reason %v (%v), want %v", got, err, tc.want)
			}
		})
	}
}

func TestOpenAnySignatureSuffices(t *testing.T) {
	k, other := newRawKey(t, "k1"), newRawKey(t, "k2")
	env, err := envelope.Seal(envelope.PayloadTypeAlert, []byte("p"), other, k)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := envelope.Marshal(env)
	opened, err := envelope.Open[string](raw, envelope.PayloadTypeAlert, k)
	if err != nil || opened.Signer != "k1" {
		t.Fatalf("opened %v err %v", opened, err)
	}
}

func TestReasonOf(t *testing.T) {
	if envelope.ReasonOf(errors.New("x")) != 0 {
		t.Fatal("plain error has a reason")
	}
	wrapped := errors.Join(errors.New("ctx"), envelope.Refuse(envelope.ReasonOriginMismatch, "d", nil))
	if envelope.ReasonOf(wrapped) != envelope.ReasonOriginMismatch {
		t.Fatal("wrapped reason lost")
	}
	if envelope.ReasonOriginMismatch.String() != "origin_mismatch" {
		t.Fatal(envelope.ReasonOriginMismatch.String())
	}
}

// FuzzOpen feeds arbitrary bytes to Open: it must never panic, and whenever it succeeds
// the payload it returns must be exactly the payload of the bytes given, carrying a
// signature that verifies.
func FuzzOpen(f *testing.F) {
	k := newRawKey(f, "k1")
	env, _ := envelope.Seal(envelope.PayloadTypeAlert, []byte("seed payload"), k)
	good, _ := envelope.Marshal(env)
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00})
	swapped := proto.Clone(env).(*envelopev1.Envelope)
	swapped.PayloadType = "x"
	b, _ := envelope.Marshal(swapped)
	f.Add(b)
	f.Add(manySignatures(f, env, 17)) // above EnvelopeLimits.Repeated
	f.Fuzz(func(t *testing.T, raw []byte) {
		opened, err := envelope.Open[string](raw, envelope.PayloadTypeAlert, k)
		if err != nil {
			if envelope.ReasonOf(err) == 0 {
				t.Fatalf("refusal without reason: %v", err)
			}
			return
		}
		var e envelopev1.Envelope
		if proto.Unmarshal(raw, &e) != nil || !bytes.Equal(e.Payload, opened.Envelope.Payload) {
			t.Fatal("opened payload differs from the bytes received")
		}
		ok := false
		for _, s := range e.Signatures {
			if ed25519.Verify(k.pub, envelope.PAE(e.PayloadType, e.Payload), s.Sig) {
				ok = true
			}
		}
		if !ok {
			t.Fatal("Open accepted an envelope with no valid signature")
		}
	})
}

// manySignatures is env with n copies of its first signature, serialised.
func manySignatures(t testing.TB, env *envelopev1.Envelope, n int) []byte {
	t.Helper()
	e := proto.CloneOf(env)
	for len(e.Signatures) < n {
		e.Signatures = append(e.Signatures, &envelopev1.Signature{})
	}
	b, err := proto.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// verifyCounter counts the signatures Open asks it to verify.
type verifyCounter struct {
	*rawKey
	calls int
}

func (v *verifyCounter) Verify(pae, sig []byte, keyid string, chain [][]byte) (string, error) {
	v.calls++
	return v.rawKey.Verify(pae, sig, keyid, chain)
}

// TestOpenRefusesHugeRepeatedFieldsBeforeDecoding: an envelope of 1 MiB holding
// ~500,000 empty signatures (anyone who can publish could send it: nothing is verified
// yet) is refused as malformed_envelope naming the field, before any signature is looked
// at; so is a signature with more certificates than a chain has.
func TestOpenRefusesHugeRepeatedFieldsBeforeDecoding(t *testing.T) {
	k := newRawKey(t, "k1")
	env, err := envelope.Seal(envelope.PayloadTypeAlert, []byte("payload"), k)
	if err != nil {
		t.Fatal(err)
	}
	huge := manySignatures(t, env, 500000)
	if len(huge) > envelope.MaxEnvelopeSize {
		t.Fatalf("%d bytes", len(huge))
	}
	chain := proto.CloneOf(env)
	chain.Signatures[0].Certificates = make([][]byte, 17)
	long, _ := envelope.Marshal(chain)
	for name, tc := range map[string]struct {
		raw   []byte
		field string
	}{
		"500000 signatures": {huge, "envelope.signatures: more than 16 elements"},
		"17 certificates":   {long, "envelope.signatures[0].certificates: more than 16 elements"},
		"17 signatures":     {manySignatures(t, env, 17), "envelope.signatures: more than 16"},
	} {
		v := &verifyCounter{rawKey: k}
		_, err := envelope.Open[string](tc.raw, envelope.PayloadTypeAlert, v)
		if envelope.ReasonOf(err) != envelope.ReasonMalformedEnvelope || !strings.Contains(err.Error(), tc.field) || v.calls != 0 {
			t.Fatalf("%s: %v after %d verifications, want malformed_envelope naming %q", name, err, v.calls, tc.field)
		}
		t.Logf("%s: %v", name, err)
	}
	// Up to the limit, Open decodes and still refuses more than MaxSignatures.
	if _, err := envelope.Open[string](manySignatures(t, env, 16), envelope.PayloadTypeAlert, k); envelope.ReasonOf(err) != envelope.ReasonMalformedEnvelope || !strings.Contains(err.Error(), "16 signatures exceed 8") {
		t.Fatalf("16 signatures: %v", err)
	}
}

// TestDecodePayloadLimits: a verified payload with a huge repeated field is refused as
// undecodable_payload naming the field, and m is left as it was (nothing decoded).
func TestDecodePayloadLimits(t *testing.T) {
	a := &alertv1.Alert{Id: "x", Body: &alertv1.Alert_Seizure{Seizure: &alertv1.SeizureAlert{}}}
	for len(a.GetSeizure().GetGoods()) < 480000 {
		a.GetSeizure().Goods = append(a.GetSeizure().Goods, &alertv1.Goods{})
	}
	b, err := proto.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	got := &alertv1.Alert{}
	err = envelope.DecodePayload(b, got, "alert")
	if envelope.ReasonOf(err) != envelope.ReasonUndecodablePayload || !strings.Contains(err.Error(), "alert.seizure.goods: more than 1000 elements") {
		t.Fatalf("%v", err)
	}
	if proto.Size(got) != 0 {
		t.Fatal("decoded the refused payload")
	}
	t.Log(err)
	a.GetSeizure().Goods = a.GetSeizure().Goods[:1000]
	b, _ = proto.Marshal(a)
	if err := envelope.DecodePayload(b, got, "alert"); err != nil || len(got.GetSeizure().GetGoods()) != 1000 {
		t.Fatalf("1000 goods: %v", err)
	}
}
