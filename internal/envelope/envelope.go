package envelope

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	envelopev1 "github.com/cix-exchange/cix/internal/gen/cix/envelope/v1"
	"github.com/cix-exchange/cix/internal/wirelimit"
	"google.golang.org/protobuf/proto"
)

// Payload types, one per message type and version. The type is authenticated by the
// signature, so a payload signed as one type cannot be replayed as another.
const (
	PayloadTypeAlert = "application/vnd.cix.alert.v1+proto"
	// PayloadTypeSealedAlert is an alert encrypted to the administrations of its audience
	// (cix.alert.v1.SealedAlert, whose ciphertext is an age file of the Alert), signed by
	// a node key. The signature covers the ciphertext: anyone can verify it, only the
	// recipients can read the alert.
	PayloadTypeSealedAlert = "application/vnd.cix.sealed-alert.v1+age"
	// PayloadTypeRevocation is a revocation notice sealed by an administration.
	PayloadTypeRevocation = "application/vnd.cix.revocation.v1+proto"
	// PayloadTypeNotice is a recall or reclassification of an alert by its originator
	// (cix.alert.v1.AlertNotice), signed by a node key.
	PayloadTypeNotice = "application/vnd.cix.notice.v1+proto"
	// PayloadTypeNoticeAck is a receiving node's acknowledgement of a notice
	// (cix.alert.v1.NoticeAck), signed by its node key.
	PayloadTypeNoticeAck = "application/vnd.cix.notice-ack.v1+proto"
	// PayloadTypeDirectory is the federation's member directory (canonical JSON),
	// signed by the federation secretariat's key.
	PayloadTypeDirectory = "application/vnd.cix.directory.v1+json"
	// PayloadTypeAssistance is one transition of a mutual assistance request
	// (cix.assistance.v1.SealedTransition, whose ciphertext is an age file of the
	// Transition encrypted to both administrations), signed by the acting node's key.
	PayloadTypeAssistance = "application/vnd.cix.assistance.v1+age"
)

// MaxEnvelopeSize bounds what Open accepts, before any decoding.
const MaxEnvelopeSize = 1 << 20

// MaxSignatures bounds the signatures Open looks at.
const MaxSignatures = 8

// EnvelopeLimits bound an envelope on the wire before Open decodes it (it is not
// verified yet, so anyone who can publish could send it): a few signatures, each with a
// chain of a few certificates.
var EnvelopeLimits = wirelimit.Limits{Repeated: 16, Elements: 256, Depth: 4}

// PayloadLimits bound a verified payload before it is decoded (wirelimit.Default: no
// repeated field above 1,000 elements, 32,768 elements in all, 32 levels).
var PayloadLimits = wirelimit.Default

// DecodePayload decodes a verified payload into m after checking it against
// PayloadLimits, so that a payload of half a million empty repeated elements is refused
// without being decoded. Its refusals are *Error with ReasonUndecodablePayload, whose
// detail names the field when it is known (root starts the path, as "alert").
func DecodePayload(payload []byte, m proto.Message, root string) error {
	if err := wirelimit.Unmarshal(payload, m, root, PayloadLimits); err != nil {
		return Refuse(ReasonUndecodablePayload, fmt.Sprintf("payload is not a %s", m.ProtoReflect().Descriptor().FullName()), err)
	}
	return nil
}

// PAE returns the DSSE pre-authentication encoding of payloadType and payload:
//
//	"DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload
func PAE(payloadType string, payload []byte) []byte {
	return AppendPAE(make([]byte, 0, 32+len(payloadType)+len(payload)), payloadType, payload)
}

// AppendPAE appends PAE(payloadType, payload) to dst and returns the extended buffer.
func AppendPAE(dst []byte, payloadType string, payload []byte) []byte {
	dst = append(dst, "DSSEv1 "...)
	dst = strconv.AppendInt(dst, int64(len(payloadType)), 10)
	dst = append(dst, ' ')
	dst = append(dst, payloadType...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(payload)), 10)
	dst = append(dst, ' ')
	return append(dst, payload...)
}

// Signer signs a PAE. Implementations are the node's certified keys (package trust).
type Signer interface {
	// Sign returns the signature of msg.
	Sign(msg []byte) ([]byte, error)
	// KeyID is the hint receivers use to find the key: the hex SHA-256 of the leaf
	// certificate.
	KeyID() string
	// Chain is the DER certificate chain of the key, leaf first.
	Chain() [][]byte
}

// Seal signs payload as payloadType with every signer and returns the envelope.
func Seal(payloadType string, payload []byte, signers ...Signer) (*envelopev1.Envelope, error) {
	if len(signers) == 0 {
		return nil, errors.New("seal envelope: no signer")
	}
	pae := PAE(payloadType, payload)
	env := &envelopev1.Envelope{Payload: payload, PayloadType: payloadType}
	for _, s := range signers {
		sig, err := s.Sign(pae)
		if err != nil {
			return nil, fmt.Errorf("seal envelope: %w", err)
		}
		env.Signatures = append(env.Signatures, &envelopev1.Signature{
			Sig: sig, Keyid: s.KeyID(), Certificates: s.Chain(),
		})
	}
	return env, nil
}

// Marshal serialises an envelope for the wire.
func Marshal(env *envelopev1.Envelope) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("marshal envelope: %w", err)
	}
	return b, nil
}

// Reason classifies why an envelope was refused.
type Reason int

// Reasons, mapped one to one onto the API's QuarantineReason.
const (
	ReasonMalformedEnvelope Reason = iota + 1
	ReasonWrongPayloadType
	ReasonBadSignature
	ReasonUnknownKey
	ReasonOriginMismatch
	ReasonUndecodablePayload
	ReasonInvalidContent
	ReasonRevokedKey
	ReasonAudienceMismatch
	// ReasonChainBroken: an assistance transition names a previous transition this node
	// does not hold for the same request (or starts a request that exists).
	ReasonChainBroken
	// ReasonIllegalTransition: an assistance transition that its side may not take from
	// the state its previous transition leads to.
	ReasonIllegalTransition
)

var reasonNames = map[Reason]string{
	ReasonMalformedEnvelope:  "malformed_envelope",
	ReasonWrongPayloadType:   "wrong_payload_type",
	ReasonBadSignature:       "bad_signature",
	ReasonUnknownKey:         "unknown_key",
	ReasonOriginMismatch:     "origin_mismatch",
	ReasonUndecodablePayload: "undecodable_payload",
	ReasonInvalidContent:     "invalid_content",
	ReasonRevokedKey:         "revoked_key",
	ReasonAudienceMismatch:   "audience_mismatch",
	ReasonChainBroken:        "chain_broken",
	ReasonIllegalTransition:  "illegal_transition",
}

// String returns the reason's stable snake_case name, used in logs and metrics.
func (r Reason) String() string {
	if n, ok := reasonNames[r]; ok {
		return n
	}
	return "reason_" + strconv.Itoa(int(r))
}

// Error is a refusal of a received message.
type Error struct {
	Reason Reason
	Detail string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Reason, e.Detail, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Reason, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// Message is the refusal without its reason: the detail and the cause.
func (e *Error) Message() string {
	if e.Err != nil {
		return e.Detail + ": " + e.Err.Error()
	}
	return e.Detail
}

// Refuse builds an *Error.
func Refuse(r Reason, detail string, err error) *Error {
	return &Error{Reason: r, Detail: detail, Err: err}
}

// ReasonOf returns the Reason of err, or 0 when err is not an *Error.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return 0
}

// Verifier checks one signature of an envelope and says who made it.
type Verifier[P any] interface {
	// Verify checks sig over pae with the key certified by chain (keyid is a hint).
	// It returns an *Error with ReasonUnknownKey when the chain is not trusted and
	// ReasonBadSignature when the signature does not verify.
	Verify(pae, sig []byte, keyid string, chain [][]byte) (P, error)
}

// Opened is a verified envelope.
type Opened[P any] struct {
	// Envelope is the decoded envelope; Envelope.Payload is the verified payload.
	Envelope *envelopev1.Envelope
	// Signer is what the verifier returned for the first signature that verified.
	Signer P
}

// Open decodes raw as an envelope, checks that its payload type is wantType and verifies
// its signatures with v. It succeeds when at least one signature verifies; the payload it
// returns is exactly the bytes that were verified.
func Open[P any](raw []byte, wantType string, v Verifier[P]) (*Opened[P], error) {
	return OpenAny(raw, v, wantType)
}

// OpenAny is Open for an envelope whose payload type is one of wantTypes; the caller
// tells them apart by Opened.Envelope.PayloadType.
func OpenAny[P any](raw []byte, v Verifier[P], wantTypes ...string) (*Opened[P], error) {
	if len(raw) > MaxEnvelopeSize {
		return nil, Refuse(ReasonMalformedEnvelope, fmt.Sprintf("envelope of %d bytes exceeds %d", len(raw), MaxEnvelopeSize), nil)
	}
	env := &envelopev1.Envelope{}
	if err := wirelimit.Unmarshal(raw, env, "envelope", EnvelopeLimits); err != nil {
		return nil, Refuse(ReasonMalformedEnvelope, "not an envelope", err)
	}
	if !slices.Contains(wantTypes, env.GetPayloadType()) {
		return nil, Refuse(ReasonWrongPayloadType, fmt.Sprintf("payload type %q, want %q", truncate(env.GetPayloadType(), 128), strings.Join(wantTypes, `" or "`)), nil)
	}
	if len(env.GetSignatures()) == 0 {
		return nil, Refuse(ReasonBadSignature, "no signature", nil)
	}
	if len(env.GetSignatures()) > MaxSignatures {
		return nil, Refuse(ReasonMalformedEnvelope, fmt.Sprintf("%d signatures exceed %d", len(env.GetSignatures()), MaxSignatures), nil)
	}
	pae := PAE(env.GetPayloadType(), env.GetPayload())
	var first error
	for _, s := range env.GetSignatures() {
		p, err := v.Verify(pae, s.GetSig(), s.GetKeyid(), s.GetCertificates())
		if err == nil {
			return &Opened[P]{Envelope: env, Signer: p}, nil
		}
		if first == nil {
			first = err
		}
	}
	if ReasonOf(first) == 0 {
		first = Refuse(ReasonBadSignature, "signature rejected", first)
	}
	return nil, first
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
