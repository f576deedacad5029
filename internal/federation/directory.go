package federation

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/cix-exchange/cix/internal/envelope"
	envelopev1 "github.com/cix-exchange/cix/internal/gen/cix/envelope/v1"
	"github.com/cix-exchange/cix/internal/trust"
	"google.golang.org/protobuf/proto"
)

// The member directory is the manifest as the federation secretariat signs it, with every
// member's trust anchors, a version and an issue time (docs/transport.md, "Member
// directory"). It travels in the all-members scope of the member that publishes it,
// under DirectorySubject, and every node applies the newest version that verifies with
// the secretariat's public key.

// Kinds of the outbound subjects that are not alerts.
const (
	// KindDirectory is the kind token of a member directory:
	// cix.out.<PUBLISHER>.all.directory.<version>.
	KindDirectory = "directory"
	// KindRevocation is the kind token of a revocation notice:
	// cix.out.<ADMIN>.all.revocation.<id>.
	KindRevocation = "revocation"
)

// DirectorySubject is where publisher puts version of the directory.
func DirectorySubject(publisher string, version uint64) string {
	return OutboundSubject(publisher, AllMembers(), KindDirectory, strconv.FormatUint(version, 10))
}

// DirectoryFilter matches every directory any member publishes.
const DirectoryFilter = OutSubjectPrefix + "*.all." + KindDirectory + ".*"

// RevocationSubject is where admin puts its revocation notice id.
func RevocationSubject(admin, id string) string {
	return OutboundSubject(admin, AllMembers(), KindRevocation, id)
}

// Directory is the signed document (its JSON is the envelope's payload).
type Directory struct {
	Federation string    `json:"federation"`
	Version    uint64    `json:"version"`
	IssuedAt   time.Time `json:"issued_at"`
	// Manifest is the manifest's YAML text, parsed strictly as a manifest file is.
	Manifest string `json:"manifest"`
	// Anchors are the members' trust anchors (PEM, one or more certificates), by code.
	// A member without an entry has no anchor: nothing it signs verifies.
	Anchors map[string]string `json:"anchors"`
}

// OpenedDirectory is a directory that verified.
type OpenedDirectory struct {
	Directory
	Parsed  *Manifest
	Certs   map[string][]*x509.Certificate
	Raw     []byte // the envelope
	KeyID   string // of the secretariat key that signed it
	Payload []byte
}

// SecretariatKeyID names a secretariat public key in signatures: "secretariat:" and the
// hex SHA-256 of the key.
func SecretariatKeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return "secretariat:" + hex.EncodeToString(h[:16])
}

// SecretariatSigner signs directories with the secretariat's private key.
type SecretariatSigner struct{ priv ed25519.PrivateKey }

// Sign implements envelope.Signer.
func (s SecretariatSigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.priv, msg), nil }

// KeyID implements envelope.Signer.
func (s SecretariatSigner) KeyID() string {
	return SecretariatKeyID(s.priv.Public().(ed25519.PublicKey))
}

// Chain implements envelope.Signer: the key is configured at every node, no chain.
func (s SecretariatSigner) Chain() [][]byte { return nil }

// GenerateSecretariatKey writes a new ed25519 key pair: the private key (PKCS#8 PEM, mode
// 0600) to privPath, the public key (PKIX PEM) to pubPath. For development; in
// production the secretariat keeps the private key in its own Vault or HSM.
func GenerateSecretariatKey(privPath, pubPath string) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	pk, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk}), 0o644); err != nil {
		return nil, err
	}
	return pub, nil
}

// LoadSecretariatSigner reads a PKCS#8 PEM ed25519 private key.
func LoadSecretariatSigner(path string) (SecretariatSigner, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return SecretariatSigner{}, fmt.Errorf("secretariat key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return SecretariatSigner{}, fmt.Errorf("secretariat key %s: no PRIVATE KEY PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return SecretariatSigner{}, fmt.Errorf("secretariat key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return SecretariatSigner{}, fmt.Errorf("secretariat key %s: not ed25519", path)
	}
	return SecretariatSigner{priv: priv}, nil
}

// LoadSecretariatKey reads the secretariat's public key: a PKIX "PUBLIC KEY" PEM block,
// or a certificate whose key is ed25519.
func LoadSecretariatKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("federation.secretariat_key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("federation.secretariat_key %s: no PEM block", path)
	}
	var k any
	switch blk.Type {
	case "PUBLIC KEY":
		k, err = x509.ParsePKIXPublicKey(blk.Bytes)
	case "CERTIFICATE":
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(blk.Bytes); err == nil {
			k = c.PublicKey
		}
	default:
		err = fmt.Errorf("PEM block %q, want PUBLIC KEY or CERTIFICATE", blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("federation.secretariat_key %s: %w", path, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("federation.secretariat_key %s: not an ed25519 key", path)
	}
	return pub, nil
}

// SignDirectory checks d (as VerifyDirectory would) and signs it: the envelope for the
// wire.
func SignDirectory(d Directory, s SecretariatSigner) ([]byte, error) {
	payload, err := json.Marshal(d) // struct fields in order, map keys sorted: canonical
	if err != nil {
		return nil, err
	}
	if _, _, err := checkDirectory(payload); err != nil {
		return nil, err
	}
	env, err := envelope.Seal(envelope.PayloadTypeDirectory, payload, s)
	if err != nil {
		return nil, err
	}
	return envelope.Marshal(env)
}

type secretariatVerifier struct{ pub ed25519.PublicKey }

func (v secretariatVerifier) Verify(pae, sig []byte, keyid string, _ [][]byte) (string, error) {
	if want := SecretariatKeyID(v.pub); keyid != want {
		return "", envelope.Refuse(envelope.ReasonUnknownKey, fmt.Sprintf("signed by %q, not the federation secretariat key %s", clip(keyid), want), nil)
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(v.pub, pae, sig) {
		return "", envelope.Refuse(envelope.ReasonBadSignature, "signature does not verify with the secretariat key", nil)
	}
	return keyid, nil
}

// VerifyDirectory opens a directory envelope signed by the secretariat key pub and
// checks its content. Errors are *envelope.Error with the reason to quarantine it under.
// Whether its version is newer than the one in use is the caller's check.
func VerifyDirectory(raw []byte, pub ed25519.PublicKey) (*OpenedDirectory, error) {
	o, err := envelope.Open(raw, envelope.PayloadTypeDirectory, secretariatVerifier{pub})
	if err != nil {
		return nil, err
	}
	d, m, err := checkDirectory(o.Envelope.GetPayload())
	if err != nil {
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, "directory fails validation", err)
	}
	od := &OpenedDirectory{Directory: d, Parsed: m, Certs: map[string][]*x509.Certificate{}, Raw: raw, KeyID: o.Signer, Payload: o.Envelope.GetPayload()}
	for code, p := range d.Anchors {
		od.Certs[code], _ = trust.ParseCertificatesPEM([]byte(p)) // checked
	}
	return od, nil
}

// PeekDirectory decodes a directory envelope's payload without verifying its
// signature (the nodes do): for tools that need its version.
func PeekDirectory(raw []byte) (Directory, error) {
	env := &envelopev1.Envelope{}
	if err := proto.Unmarshal(raw, env); err != nil {
		return Directory{}, fmt.Errorf("not a signed directory: %w", err)
	}
	if env.GetPayloadType() != envelope.PayloadTypeDirectory {
		return Directory{}, fmt.Errorf("payload type %q is not a member directory", clip(env.GetPayloadType()))
	}
	d, _, err := checkDirectory(env.GetPayload())
	return d, err
}

// checkDirectory decodes a directory payload strictly and validates it.
func checkDirectory(payload []byte) (Directory, *Manifest, error) {
	var d Directory
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return d, nil, fmt.Errorf("directory: %w", err)
	}
	if d.Version == 0 {
		return d, nil, errors.New("directory version: must be at least 1")
	}
	if d.IssuedAt.IsZero() {
		return d, nil, errors.New("directory issued_at: required")
	}
	m, err := Parse([]byte(d.Manifest))
	if err != nil {
		return d, nil, fmt.Errorf("directory manifest: %w", err)
	}
	if m.Federation != d.Federation {
		return d, nil, fmt.Errorf("directory federation %q, manifest's %q", d.Federation, m.Federation)
	}
	codes := make([]string, 0, len(d.Anchors))
	for c := range d.Anchors {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		if m.Member(c) == nil {
			return d, nil, fmt.Errorf("directory anchors.%s: not a member", clip(c))
		}
		certs, err := trust.ParseCertificatesPEM([]byte(d.Anchors[c]))
		if err != nil || len(certs) == 0 {
			return d, nil, fmt.Errorf("directory anchors.%s: no certificate: %v", c, err)
		}
		for _, a := range certs {
			adm, err := trust.AnchorAdministration(a)
			if err != nil {
				return d, nil, fmt.Errorf("directory anchors.%s: %w", c, err)
			}
			if adm != c {
				return d, nil, fmt.Errorf("directory anchors.%s: the certificate is the anchor of %s", c, adm)
			}
		}
	}
	return d, m, nil
}
