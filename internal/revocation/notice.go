// Package revocation makes, verifies, distributes and applies revocation notices: an
// administration's statement, sealed with its administration seal, that one of its node
// keys, every older key of a node, or old versions of its seal must no longer be trusted.
//
// Notices travel on the CIX_TRUST stream (subjects cix.trust.v1.<ADMIN>.revocation.<id>),
// which keeps them for good, so a node that was offline learns them when it returns;
// nothing is fetched from the issuer's Vault. Every node replays the stream at start
// before it verifies any alert, then follows it, and applies each notice it can verify
// to its trust.Verifier. A notice that fails verification is quarantined with its reason
// like any other message.
package revocation

import (
	"fmt"
	"regexp"
	"time"

	"github.com/cix-exchange/cix/internal/envelope"
	trustv1 "github.com/cix-exchange/cix/internal/gen/cix/trust/v1"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// MaxComment bounds a notice's comment, in characters.
const MaxComment = 1000

// idRE accepts canonical lower-case UUIDs: ids become subject tokens.
var idRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// Make completes n (a fresh id and issued_at when unset), checks it and seals it with
// the administration seal. It returns the serialised envelope.
func Make(n *trustv1.Revocation, seal envelope.Signer, now time.Time) ([]byte, error) {
	n = proto.CloneOf(n)
	if n.GetId() == "" {
		n.Id = uuid.NewString()
	}
	if n.GetIssuedAt() == nil {
		n.IssuedAt = timestamppb.New(now)
	}
	if _, err := Check(n); err != nil {
		return nil, err
	}
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	env, err := envelope.Seal(envelope.PayloadTypeRevocation, payload, seal)
	if err != nil {
		return nil, err
	}
	return envelope.Marshal(env)
}

// Check validates a notice and returns what it revokes.
func Check(n *trustv1.Revocation) (trust.Revoked, error) {
	bad := func(field, format string, a ...any) (trust.Revoked, error) {
		return trust.Revoked{}, &FieldError{Field: field, Reason: fmt.Sprintf(format, a...)}
	}
	if !idRE.MatchString(n.GetId()) {
		return bad("id", "%q is not a lower-case UUID", clip(n.GetId()))
	}
	if n.GetIssuedAt() == nil || !n.GetIssuedAt().IsValid() {
		return bad("issued_at", "required")
	}
	if n.GetReason() == trustv1.RevocationReason_REVOCATION_REASON_UNSPECIFIED {
		return bad("reason", "required")
	}
	if _, ok := trustv1.RevocationReason_name[int32(n.GetReason())]; !ok {
		return bad("reason", "unknown value %d", n.GetReason())
	}
	if len([]rune(n.GetComment())) > MaxComment {
		return bad("comment", "longer than %d characters", MaxComment)
	}
	r := trust.Revoked{Administration: n.GetAdministration(), EffectiveAt: n.GetIssuedAt().AsTime()}
	if e := n.GetEffectiveAt(); e != nil {
		if !e.IsValid() {
			return bad("effective_at", "not a valid time")
		}
		r.EffectiveAt = e.AsTime()
	}
	field := "target"
	switch t := n.GetTarget().(type) {
	case *trustv1.Revocation_NodeKey:
		r.Node, r.KeyID, field = t.NodeKey.GetNode(), t.NodeKey.GetKeyId(), "node_key"
		if r.KeyID == "" {
			return bad("node_key.key_id", "required")
		}
	case *trustv1.Revocation_Node:
		r.Node, field = t.Node.GetNode(), "node"
	case *trustv1.Revocation_Seal:
		r.SealMinVersion, field = int(t.Seal.GetMinVersion()), "seal"
		if r.SealMinVersion < 2 {
			return bad("seal.min_version", "%d: retiring needs a version of at least 2", r.SealMinVersion)
		}
	default:
		return bad("target", "required: node_key, node or seal")
	}
	if err := r.Validate(); err != nil {
		if r.Administration == "" || !trust.ValidAdministration(r.Administration) {
			field = "administration"
		}
		return bad(field, "%v", err)
	}
	return r, nil
}

// FieldError says which field of a notice is wrong.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return "revocation " + e.Field + ": " + e.Reason }

// Opened is a verified notice.
type Opened struct {
	Notice  *trustv1.Revocation
	Revoked trust.Revoked
	// Seal is the seal signature that verified.
	Seal trust.Principal
}

// Verify verifies a serialised notice stored at storedAt: the envelope must carry a
// revocation sealed by a seal of the notice's own administration, valid and not retired
// at storedAt. Errors are *envelope.Error with the quarantine reason.
func Verify(v *trust.Verifier, raw []byte, storedAt time.Time) (*Opened, error) {
	o, err := envelope.Open(raw, envelope.PayloadTypeRevocation, v.SealAt(storedAt))
	if err != nil {
		return nil, err
	}
	n := &trustv1.Revocation{}
	if err := envelope.DecodePayload(o.Envelope.GetPayload(), n, "revocation"); err != nil {
		return nil, err
	}
	r, err := Check(n)
	if err != nil {
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, err.Error(), nil)
	}
	if r.Administration != o.Signer.Administration {
		return nil, envelope.Refuse(envelope.ReasonOriginMismatch,
			fmt.Sprintf("notice of %s sealed by %s", r.Administration, o.Signer.Name()), nil)
	}
	if r.SealMinVersion > o.Signer.SealVersion {
		return nil, envelope.Refuse(envelope.ReasonInvalidContent,
			fmt.Sprintf("retirement below v%d sealed by %s, which it retires", r.SealMinVersion, o.Signer.Name()), nil)
	}
	return &Opened{Notice: n, Revoked: r, Seal: o.Signer}, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
