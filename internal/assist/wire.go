package assist

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"filippo.io/age"
	"github.com/cix-exchange/cix/internal/attach"
	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/federation"
	pb "github.com/cix-exchange/cix/internal/gen/cix/assistance/v1"
	"github.com/cix-exchange/cix/internal/node"
	"github.com/cix-exchange/cix/internal/sealed"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/cix-exchange/cix/internal/wirelimit"
	"google.golang.org/protobuf/proto"
)

// Kind is the subject kind of assistance messages: cix.out.<FROM>.to.<TO>.assist.<msg_id>.
const Kind = node.KindAssist

// PayloadType is the envelope payload type of a SealedTransition.
const PayloadType = envelope.PayloadTypeAssistance

// Subject is where from publishes a transition to to.
func Subject(from, to, msgID string) string {
	return federation.OutboundSubject(from, federation.ToMember(to), Kind, msgID)
}

// MsgID is the message id of a transition: derived from the acting administration and
// the caller's client_id, so a retried call names the same message.
func MsgID(admin, clientID string) string {
	h := sha256.Sum256([]byte("cix-assist-v1\x00" + admin + "\x00" + clientID))
	return hex.EncodeToString(h[:16])
}

// Seal encrypts the deterministic encoding of t to the recipients (the counterpart
// and the acting administration) and wraps it with the routing fields.
func Seal(t *pb.Transition, from, to string, recipients ...age.Recipient) (*pb.SealedTransition, error) {
	pt, err := proto.MarshalOptions{Deterministic: true}.Marshal(t)
	if err != nil {
		return nil, err
	}
	ct, err := sealed.Encrypt(pt, recipients...)
	if err != nil {
		return nil, err
	}
	return &pb.SealedTransition{From: from, To: to, RequestId: t.GetRequestId(), MsgId: t.GetMsgId(), Ciphertext: ct}, nil
}

// Recipients are the age recipients of from and to in the manifest.
func Recipients(m *federation.Manifest, codes ...string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, c := range codes {
		mem := m.Member(c)
		if mem == nil {
			return nil, fmt.Errorf("%s is not a member of federation %s", c, m.Federation)
		}
		if mem.AgeRecipient == "" {
			return nil, fmt.Errorf("%s has no age_recipient in the manifest of federation %s", c, m.Federation)
		}
		r, err := sealed.ParseRecipient(mem.AgeRecipient)
		if err != nil {
			return nil, fmt.Errorf("age_recipient of %s: %w", c, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Opened is an envelope opened and decrypted, not yet checked against a history.
type Opened struct {
	Sealed *pb.SealedTransition
	T      *pb.Transition
	Signer trust.Principal
}

// clockSkew is how far after the stream stored it a transition's issued_at may be.
const clockSkew = 5 * time.Minute

// Verify verifies the envelope raw received on subject by self (signature under a chain
// valid at storedAt, signer = subject origin = from, to = self = subject scope, message
// ids, decryption, actor = signer, parties, content) and returns the transition. Every
// failure is an *envelope.Error with the quarantine reason.
func Verify(v *trust.Verifier, id age.Identity, self, subject string, raw []byte, storedAt time.Time) (*Opened, error) {
	origin, scope, kind, sid, err := federation.ParseOutboundSubject(subject)
	if err != nil || kind != Kind || scope.Kind != federation.ScopeMember {
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, "not an assistance subject", err)
	}
	if scope.Name != self {
		return nil, envelope.Refuse(envelope.ReasonAudienceMismatch, fmt.Sprintf("addressed to %s, not %s", scope.Name, self), nil)
	}
	opened, err := envelope.Open(raw, PayloadType, v.At(storedAt))
	if err != nil {
		return nil, err
	}
	p := opened.Signer
	st := &pb.SealedTransition{}
	if err := envelope.DecodePayload(opened.Envelope.GetPayload(), st, "sealed_transition"); err != nil {
		return nil, err
	}
	switch {
	case p.Administration != origin:
		return nil, envelope.Refuse(envelope.ReasonOriginMismatch, fmt.Sprintf("published under origin %s but signed by %s", origin, p.Administration), nil)
	case st.GetFrom() != p.Administration:
		return nil, envelope.Refuse(envelope.ReasonOriginMismatch, fmt.Sprintf("sealed transition claims to be from %q but is signed by %s", clip(st.GetFrom()), p.Administration), nil)
	case st.GetTo() != self:
		return nil, envelope.Refuse(envelope.ReasonAudienceMismatch, fmt.Sprintf("sealed transition is to %q, arrived at %s", clip(st.GetTo()), self), nil)
	case st.GetMsgId() != sid:
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, fmt.Sprintf("subject names message %s, sealed transition %q", sid, clip(st.GetMsgId())), nil)
	}
	if id == nil {
		return nil, envelope.Refuse(envelope.ReasonUndecodablePayload, "this node holds no age identity", nil)
	}
	t, err := decryptTransition(st, id)
	if err != nil {
		if errors.Is(err, sealed.ErrNotRecipient) {
			return nil, envelope.Refuse(envelope.ReasonUndecodablePayload, fmt.Sprintf("not encrypted to %s's age key", self), err)
		}
		return nil, err
	}
	switch {
	case t.GetRequestId() != st.GetRequestId() || t.GetMsgId() != st.GetMsgId():
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, "the decrypted transition's request or message id differs from the sealed transition's", nil)
	case t.GetActorAdministration() != p.Administration || t.GetActorNode() != p.Node:
		return nil, envelope.Refuse(envelope.ReasonOriginMismatch, fmt.Sprintf("transition claims actor %s/%s but is signed by %s/%s",
			clip(t.GetActorAdministration()), clip(t.GetActorNode()), p.Administration, p.Node), nil)
	case t.GetMsgId() != MsgID(p.Administration, t.GetClientId()):
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, "message id is not derived from the actor and client_id", nil)
	case !(t.GetRequestingAdministration() == p.Administration && t.GetRequestedAdministration() == self) &&
		!(t.GetRequestedAdministration() == p.Administration && t.GetRequestingAdministration() == self):
		return nil, envelope.Refuse(envelope.ReasonAudienceMismatch, fmt.Sprintf("the request is between %q and %q, not %s and %s",
			clip(t.GetRequestingAdministration()), clip(t.GetRequestedAdministration()), p.Administration, self), nil)
	case !t.GetIssuedAt().IsValid():
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, "issued_at missing", nil)
	case t.GetIssuedAt().AsTime().After(storedAt.Add(clockSkew)):
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, "issued_at is after the stream stored the transition", nil)
	case !contentMatches(t):
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, fmt.Sprintf("%s without its content", ActionName(t.GetAction())), nil)
	}
	if err := ValidateTransition(t, self); err != nil {
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, "transition fails validation", err)
	}
	return &Opened{Sealed: st, T: t, Signer: p}, nil
}

// SideOf is the side administration admin holds in the request of t.
func SideOf(t *pb.Transition, admin string) Side {
	if t.GetRequestingAdministration() == admin {
		return Requesting
	}
	return Requested
}

// RefOf converts an API reference.
func RefOf(r *pb.AttachmentRef) (attach.Ref, error) {
	out := attach.Ref{Name: r.GetName(), MediaType: r.GetMediaType(), Size: r.GetSize(), CipherSize: r.GetCipherSize()}
	a, err := hex.DecodeString(r.GetSha256())
	if err != nil || len(a) != 32 {
		return out, errors.New("sha256: 64 hex digits required")
	}
	c, err := hex.DecodeString(r.GetCipherSha256())
	if err != nil || len(c) != 32 {
		return out, errors.New("cipher_sha256: 64 hex digits required")
	}
	copy(out.SHA256[:], a)
	copy(out.CipherSHA256[:], c)
	return out, nil
}

// APIRef converts a reference for the API.
func APIRef(r attach.Ref) *pb.AttachmentRef {
	return &pb.AttachmentRef{Name: r.Name, MediaType: r.MediaType, Size: r.Size, Sha256: hex.EncodeToString(r.SHA256[:]),
		CipherSha256: hex.EncodeToString(r.CipherSHA256[:]), CipherSize: r.CipherSize}
}

// Refs lists the attachment references of a transition.
func Refs(t *pb.Transition) []*pb.AttachmentRef {
	out := append([]*pb.AttachmentRef(nil), t.GetRequest().GetAttachments()...)
	for _, it := range t.GetReply().GetItems() {
		out = append(out, it.GetAttachments()...)
	}
	return out
}

func sealedDecrypt(ct []byte, id age.Identity) ([]byte, error) {
	return sealed.Decrypt(ct, id, envelope.MaxEnvelopeSize)
}

// decryptTransition decrypts a sealed transition with id and decodes it within the
// payload wire limits (envelope.PayloadLimits), as the receiver does for alerts: both
// the receiver (Verify) and the log replay use it. Its refusals are *envelope.Error
// (ReasonUndecodablePayload) wrapping the cause, so sealed.ErrNotRecipient stays visible.
func decryptTransition(st *pb.SealedTransition, id age.Identity) (*pb.Transition, error) {
	pt, err := sealedDecrypt(st.GetCiphertext(), id)
	if err != nil {
		return nil, envelope.Refuse(envelope.ReasonUndecodablePayload, "does not decrypt", err)
	}
	t := &pb.Transition{}
	if err := wirelimit.Unmarshal(pt, t, "transition", envelope.PayloadLimits); err != nil {
		return nil, envelope.Refuse(envelope.ReasonUndecodablePayload, "decrypted payload is not a cix.assistance.v1.Transition", err)
	}
	return t, nil
}
