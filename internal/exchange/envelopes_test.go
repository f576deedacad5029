package exchange

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/envelope"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"github.com/cix-exchange/cix/internal/trust"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// sealed signs a as node n1 of the keystore's administration.
func sealed(t *testing.T, ks *trust.DevKeystore, a *alertv1.Alert) []byte {
	t.Helper()
	key, err := ks.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	payload, err := proto.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Seal(envelope.PayloadTypeAlert, payload, key)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteEnvelope(&b, env); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestVerifyEnvelopes: lines signed by a node verify under its anchor and say who
// signed; a flipped payload, a missing anchor, a forged origin and a time outside the
// certificate each fail with their reason.
func TestVerifyEnvelopes(t *testing.T) {
	nl, err := trust.OpenDevKeystore(t.TempDir(), "NL", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	be, err := trust.OpenDevKeystore(t.TempDir(), "BE", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := synth.ValidSeizure()
	good.Origin.Node, good.IssuedAt = "n1", timestamppb.New(now)
	risk := synth.ValidRisk()
	risk.Origin.Node, risk.IssuedAt = "n1", timestamppb.New(now)
	forged := synth.ValidRisk()
	forged.Origin.Node, forged.IssuedAt = "n1", timestamppb.New(now) // claims NL, signed by BE
	old := synth.ValidSeizure()
	old.Origin.Node = "n1" // issued 2026-01-15, before the certificate

	var tampered EnvelopeLine
	if err := json.Unmarshal(sealed(t, nl, risk), &tampered); err != nil {
		t.Fatal(err)
	}
	tampered.Payload[len(tampered.Payload)/2] ^= 1
	tb, _ := json.Marshal(tampered)

	file := string(sealed(t, nl, good)) + "\n" + string(tb) + "\n" + string(sealed(t, be, forged)) + string(sealed(t, nl, old)) + "not json\n"
	v, err := trust.NewVerifier(nil, nl.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	res := VerifyEnvelopes(strings.NewReader(file), v, time.Time{})
	want := []struct {
		line   int
		reason envelope.Reason
	}{{1, 0}, {3, envelope.ReasonBadSignature}, {4, envelope.ReasonUnknownKey}, {5, envelope.ReasonUnknownKey}, {6, envelope.ReasonMalformedEnvelope}}
	if len(res) != len(want) {
		t.Fatalf("%d results: %+v", len(res), res)
	}
	for i, w := range want {
		r := res[i]
		if r.Line != w.line || r.Reason != w.reason || (r.Err == nil) != (w.reason == 0) {
			t.Errorf("line %d: %+v, want line %d reason %v", i, r, w.line, w.reason)
		}
	}
	if res[0].Alert.GetId() != good.GetId() || res[0].Signer.Name() != "NL/n1" {
		t.Errorf("verified %v signer %v", res[0].Alert.GetId(), res[0].Signer)
	}
	if !strings.Contains(res[2].Err.Error(), "no trust anchor for administration BE") {
		t.Errorf("forged: %v", res[2].Err)
	}

	// Trusting BE too, its key still cannot sign for NL.
	v2, _ := trust.NewVerifier(nil, []*x509.Certificate{nl.Anchor(), be.Anchor()}...)
	if r := VerifyEnvelopes(strings.NewReader(string(sealed(t, be, forged))), v2, time.Time{}); r[0].Reason != envelope.ReasonOriginMismatch {
		t.Errorf("origin forged by BE: %+v", r[0])
	}
	// The old alert verifies when the caller gives a time its certificate covered.
	if r := VerifyEnvelopes(strings.NewReader(string(sealed(t, nl, old))), v, now); r[0].Err != nil {
		t.Errorf("with --at now: %v", r[0].Err)
	}
}
