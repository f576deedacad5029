package node

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"filippo.io/age"
	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/federation"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"github.com/cix-exchange/cix/internal/sealed"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/cix-exchange/cix/internal/wirelimit"
	"google.golang.org/protobuf/proto"
)

// ErrFailedPrecondition: the request is valid but the state of the federation or of the
// alerts it refers to forbids it (a recipient without an encryption key, an amendment of
// another administration's TLP:RED alert). Its message says why.
var ErrFailedPrecondition = errors.New("failed precondition")

// Recipient is what reading sealed alerts takes: the receiving administration, its age
// identity and the federation manifest (for the scopes it belongs to).
type Recipient struct {
	Administration string
	Identity       *age.X25519Identity
	Federation     *federation.Manifest
}

// sealAlert encrypts a to the administrations of its audience (the origin included),
// wraps the ciphertext with what routing needs and signs it.
func (n *Node) sealAlert(ctx context.Context, a *alertv1.Alert) ([]byte, *trust.Principal, error) {
	au := a.GetAudience()
	var to []age.Recipient
	fed := n.fed.Load()
	for _, c := range fed.Recipients(n.id.Administration(), au.GetGroups(), au.GetAdministrations()) {
		m := fed.Member(c)
		if m == nil || m.AgeRecipient == "" {
			return nil, nil, fmt.Errorf("%w: alert.audience: %s has no age_recipient in the manifest of federation %s, so nothing can be encrypted to it",
				ErrFailedPrecondition, c, fed.Federation)
		}
		r, err := sealed.ParseRecipient(m.AgeRecipient)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: age_recipient of %s: %v", ErrFailedPrecondition, c, err)
		}
		to = append(to, r)
	}
	pt, err := proto.MarshalOptions{Deterministic: true}.Marshal(a)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal alert: %w", err)
	}
	ct, err := sealed.Encrypt(pt, to...)
	if err != nil {
		return nil, nil, err
	}
	return n.sign(ctx, envelope.PayloadTypeSealedAlert, &alertv1.SealedAlert{
		Origin: a.GetOrigin(), Id: a.GetId(), Kind: alert.KindName(alert.Kind(a)), Audience: au, Ciphertext: ct,
	})
}

// openSealed checks a sealed alert's routing fields against the subject it arrived on,
// decrypts it as r and checks that the alert inside is the one the fields describe.
// Every failure is an *envelope.Error.
func openSealed(r *Recipient, payload []byte, p trust.Principal, subject, sOrigin string, scope federation.Scope, sKind, sID string) (*alertv1.Alert, error) {
	sa := &alertv1.SealedAlert{}
	if err := envelope.DecodePayload(payload, sa, "sealed_alert"); err != nil {
		return nil, err
	}
	if err := checkOrigin("sealed alert", sa.GetOrigin(), p, sOrigin); err != nil {
		return nil, err
	}
	if sa.GetKind() != sKind || !subjectNamesID(subject, sID, sa.GetId()) {
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, fmt.Sprintf(
			"subject names %s %s, sealed alert is %s %s", sKind, sID, clipStr(sa.GetKind()), clipStr(sa.GetId())), nil)
	}
	if alert.AllMembers(sa.GetAudience()) || !audienceNames(sa.GetAudience(), scope) {
		return nil, envelope.Refuse(envelope.ReasonAudienceMismatch, fmt.Sprintf(
			"published on scope %s, which the signed audience of the sealed alert does not name", scope), nil)
	}
	if r == nil || r.Identity == nil {
		return nil, envelope.Refuse(envelope.ReasonUndecodablePayload, "sealed alert, and this node holds no age identity to decrypt it", nil)
	}
	a, err := decryptAlert(sa.GetCiphertext(), r.Identity)
	if err != nil {
		if errors.Is(err, sealed.ErrNotRecipient) {
			return nil, envelope.Refuse(envelope.ReasonUndecodablePayload, fmt.Sprintf(
				"sealed alert is not encrypted to %s's age key (age_recipient of the manifest)", r.Administration), err)
		}
		return nil, envelope.Refuse(envelope.ReasonUndecodablePayload, "sealed alert does not decrypt", err)
	}
	if a.GetId() != sa.GetId() || alert.KindName(alert.Kind(a)) != sa.GetKind() ||
		!proto.Equal(a.GetOrigin(), sa.GetOrigin()) || !proto.Equal(a.GetAudience(), sa.GetAudience()) {
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, "the decrypted alert's id, kind, origin or audience differs from the sealed alert's", nil)
	}
	return a, nil
}

// decryptAlert decrypts and decodes a sealed alert's ciphertext.
func decryptAlert(ct []byte, id *age.X25519Identity) (*alertv1.Alert, error) {
	pt, err := sealed.Decrypt(ct, id, envelope.MaxEnvelopeSize)
	if err != nil {
		return nil, err
	}
	a := &alertv1.Alert{}
	if err := wirelimit.Unmarshal(pt, a, "alert", envelope.PayloadLimits); err != nil {
		return nil, fmt.Errorf("decrypted payload is not a cix.alert.v1.Alert: %w", err)
	}
	return a, nil
}

// scopeIncludes reports whether admin may receive what origin publishes on scope.
func scopeIncludes(m *federation.Manifest, scope federation.Scope, origin, admin string) bool {
	switch {
	case admin == origin || scope.Kind == federation.ScopeAll:
		return true
	case scope.Kind == federation.ScopeMember:
		return scope.Name == admin
	case scope.Kind == federation.ScopeGroup:
		g := m.Group(scope.Name)
		return g != nil && slices.Contains(g.Members, admin)
	}
	return false
}
