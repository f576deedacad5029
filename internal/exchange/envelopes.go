package exchange

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/envelope"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	envelopev1 "github.com/cix-exchange/cix/internal/gen/cix/envelope/v1"
	"github.com/cix-exchange/cix/internal/node"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/cix-exchange/cix/internal/wirelimit"
)

// EnvelopeLine is one line of an envelope export: the DSSE envelope in its JSON form
// (payload and signatures base64), with each signature's certificate chain (DER in
// base64, leaf first) as a cix addition that DSSE tools ignore.
type EnvelopeLine struct {
	PayloadType string          `json:"payloadType"`
	Payload     []byte          `json:"payload"`
	Signatures  []LineSignature `json:"signatures"`
}

// LineSignature is one signature of an EnvelopeLine.
type LineSignature struct {
	KeyID        string   `json:"keyid"`
	Sig          []byte   `json:"sig"`
	Certificates [][]byte `json:"certificates,omitempty"`
}

// WriteEnvelope writes env as one JSON line.
func WriteEnvelope(w io.Writer, env *envelopev1.Envelope) error {
	l := EnvelopeLine{PayloadType: env.GetPayloadType(), Payload: env.GetPayload()}
	for _, s := range env.GetSignatures() {
		l.Signatures = append(l.Signatures, LineSignature{KeyID: s.GetKeyid(), Sig: s.GetSig(), Certificates: s.GetCertificates()})
	}
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Verified is the outcome of verifying one line of an envelope export.
type Verified struct {
	Line   int
	Alert  *alertv1.Alert  // set when the line verified
	Signer trust.Principal // who signed it
	Err    error           // why it did not verify
	Reason envelope.Reason // the refusal's reason, when Err is an *envelope.Error
}

// VerifyEnvelopes verifies every line of an envelope export with v, offline, as a
// receiving node verifies an alert: a signature over PAE(payloadType, payload) by a
// node key certified under the anchor of the administration the certificate names,
// the alert's origin that administration and node, and the alert valid. With no
// storage time at hand, the certificate must have been valid at the alert's
// issued_at, or at at when it is not zero. Revocation notices are not consulted.
func VerifyEnvelopes(r io.Reader, v *trust.Verifier, at time.Time) []Verified {
	var out []Verified
	end := readLines(r, func(n int, line []byte) bool {
		res := Verified{Line: n}
		res.Alert, res.Signer, res.Err = verifyLine(line, v, at)
		if res.Err != nil {
			res.Alert, res.Reason = nil, envelope.ReasonOf(res.Err)
		}
		out = append(out, res)
		return true
	})
	if end != nil {
		out = append(out, Verified{Line: end.Row, Err: fmt.Errorf("%s", end.Reason), Reason: envelope.ReasonMalformedEnvelope})
	}
	return out
}

func verifyLine(line []byte, v *trust.Verifier, at time.Time) (*alertv1.Alert, trust.Principal, error) {
	var l EnvelopeLine
	if err := json.Unmarshal(line, &l); err != nil {
		return nil, trust.Principal{}, envelope.Refuse(envelope.ReasonMalformedEnvelope, "not a JSON envelope line", err)
	}
	env := &envelopev1.Envelope{PayloadType: l.PayloadType, Payload: l.Payload}
	for _, s := range l.Signatures {
		env.Signatures = append(env.Signatures, &envelopev1.Signature{Keyid: s.KeyID, Sig: s.Sig, Certificates: s.Certificates})
	}
	raw, err := envelope.Marshal(env)
	if err != nil {
		return nil, trust.Principal{}, envelope.Refuse(envelope.ReasonMalformedEnvelope, "not an envelope", err)
	}
	// The subject and the time come from the (not yet verified) payload: verification
	// then checks the payload against them, as a node checks an alert against the
	// subject it arrived on.
	claimed := &alertv1.Alert{}
	derr := wirelimit.Unmarshal(l.Payload, claimed, "alert", envelope.PayloadLimits)
	subject := bus.AlertSubject(claimed.GetOrigin().GetAdministration(), alert.KindName(alert.Kind(claimed)), claimed.GetId())
	if _, _, _, serr := bus.ParseAlertSubject(subject); derr != nil || serr != nil {
		// Not an alert: say first whether the signature holds.
		if _, err := envelope.Open(raw, envelope.PayloadTypeAlert, v.At(time.Now())); err != nil {
			return nil, trust.Principal{}, err
		}
		return nil, trust.Principal{}, envelope.Refuse(envelope.ReasonUndecodablePayload, "payload is not a cix.alert.v1.Alert with an id, origin and body", derr)
	}
	if at.IsZero() {
		at = claimed.GetIssuedAt().AsTime()
	}
	ver, err := node.VerifyAlert(v, subject, raw, at, time.Now())
	if err != nil {
		return nil, trust.Principal{}, err
	}
	return ver.Alert, ver.Signer, nil
}
