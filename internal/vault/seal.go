package vault

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/hashicorp/vault/api"
)

// Seal is the administration seal: a non-exportable ed25519 key in Vault Transit
// (TransitMount/keys/SealKey) that signs the rare administration-level documents. Every
// signature names the key version that made it, in a key id of the form
//
//	seal:<ADMIN>:v<N>
//
// (administration and Transit key version; Vault's mount and key names are deployment
// details and stay out of signed data). Rotation adds a version; old versions keep
// verifying until Retire raises the minimum version.
type Seal struct {
	client *api.Client
	admin  string
	mount  string
	key    string
}

// NewSeal returns the seal of administration admin, using client's token (which needs
// the admin-seal policy to sign, or operator rights to rotate and retire).
func NewSeal(client *api.Client, admin string) *Seal {
	return &Seal{client: client, admin: admin, mount: TransitMount, key: SealKey}
}

// SealKeyID returns the key id of version v of admin's seal (trust.SealKeyID).
func SealKeyID(admin string, v int) string { return trust.SealKeyID(admin, v) }

// ParseSealKeyID splits a seal key id into administration and version.
func ParseSealKeyID(keyid string) (admin string, version int, err error) {
	return trust.ParseSealKeyID(keyid)
}

// Sign signs msg with the seal's key version (0: the latest) and returns the signature
// and the version that made it. Transit ed25519 signs msg itself, without prehashing.
func (s *Seal) Sign(ctx context.Context, msg []byte, version int) ([]byte, int, error) {
	req := map[string]any{"input": base64.StdEncoding.EncodeToString(msg)}
	if version > 0 {
		req["key_version"] = version
	}
	r, err := s.client.Logical().WriteWithContext(ctx, s.mount+"/sign/"+s.key, req)
	if err != nil {
		return nil, 0, fmt.Errorf("seal sign: %w", err)
	}
	sig, _ := dataString(r, "signature")
	v, raw, err := parseTransitSignature(sig)
	if err != nil {
		return nil, 0, fmt.Errorf("seal sign: %w", err)
	}
	if version > 0 && v != version {
		return nil, 0, fmt.Errorf("seal sign: asked for version %d, got %d", version, v)
	}
	return raw, v, nil
}

// parseTransitSignature splits "vault:v<N>:<base64>".
func parseTransitSignature(s string) (int, []byte, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[0] != "vault" || !strings.HasPrefix(parts[1], "v") {
		return 0, nil, fmt.Errorf("unexpected transit signature %q", s)
	}
	v, err := strconv.Atoi(parts[1][1:])
	if err != nil || v < 1 {
		return 0, nil, fmt.Errorf("unexpected transit key version in %q", s)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != ed25519.SignatureSize {
		return 0, nil, fmt.Errorf("undecodable transit signature %q", s)
	}
	return v, raw, nil
}

// Signer returns an envelope.Signer bound to the seal's latest version. Its Sign calls
// Transit with ctx (envelope.Signer has no context) and checks each signature against
// the version's public key.
func (s *Seal) Signer(ctx context.Context) (*SealSigner, error) {
	ks, err := s.Keys(ctx)
	if err != nil {
		return nil, err
	}
	return &SealSigner{ctx: ctx, seal: s, version: ks.Latest, pub: ks.Keys[ks.Latest]}, nil
}

// SealSigner signs with one version of the seal. It implements envelope.Signer. Its
// chain is empty (receivers then need the published SealKeys) unless it comes from
// CertifiedSigner.
type SealSigner struct {
	ctx     context.Context // for Transit calls: envelope.Signer.Sign takes no context
	seal    *Seal
	version int
	pub     ed25519.PublicKey
	chain   [][]byte
}

// Sign implements envelope.Signer.
func (s *SealSigner) Sign(msg []byte) ([]byte, error) {
	sig, _, err := s.seal.Sign(s.ctx, msg, s.version)
	if err != nil {
		return nil, err
	}
	if !ed25519.Verify(s.pub, msg, sig) {
		return nil, fmt.Errorf("seal sign: signature does not verify with version %d", s.version)
	}
	return sig, nil
}

// KeyID implements envelope.Signer: seal:<ADMIN>:v<N>.
func (s *SealSigner) KeyID() string { return SealKeyID(s.seal.admin, s.version) }

// Chain implements envelope.Signer: the seal certificate and its issuer from
// CertifiedSigner, else none.
func (s *SealSigner) Chain() [][]byte { return s.chain }

// CertifiedSigner returns a signer bound to the seal's latest version whose signatures
// carry a certificate of that version (URI SAN urn:cix:seal:<ADMIN>:v<N>) issued by the
// administration's PKI (role SealPKIRole), so that every receiver verifies them with
// the administration's trust anchor, as it verifies node keys. The certificate request
// is signed through Transit: the seal's private key never leaves Vault.
func (s *Seal) CertifiedSigner(ctx context.Context) (*SealSigner, error) {
	signer, err := s.Signer(ctx)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: fmt.Sprintf("cix %s administration seal v%d", s.admin, signer.version)},
		URIs:    []*url.URL{trust.SealURI(s.admin, signer.version)},
	}, cryptoSigner{signer})
	if err != nil {
		return nil, fmt.Errorf("seal certificate request: %w", err)
	}
	r, err := s.client.Logical().WriteWithContext(ctx, PKIMount+"/sign/"+SealPKIRole, map[string]any{
		"csr":      string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr})),
		"uri_sans": trust.SealURI(s.admin, signer.version).String(), "exclude_cn_from_sans": true,
	})
	if err != nil {
		return nil, fmt.Errorf("certify seal v%d: %w", signer.version, err)
	}
	leaf, err := certFromData(r, "certificate")
	if err != nil {
		return nil, fmt.Errorf("certify seal v%d: %w", signer.version, err)
	}
	issuer, err := certFromData(r, "issuing_ca")
	if err != nil {
		return nil, fmt.Errorf("certify seal v%d: %w", signer.version, err)
	}
	if pub, ok := leaf.PublicKey.(ed25519.PublicKey); !ok || !pub.Equal(signer.pub) {
		return nil, fmt.Errorf("certify seal v%d: the certificate is not for the seal's key", signer.version)
	}
	signer.chain = [][]byte{leaf.Raw, issuer.Raw}
	return signer, nil
}

// cryptoSigner lets crypto/x509 sign a certificate request with the seal: Ed25519 signs
// the message itself (no prehash), which is what Transit's ed25519 keys do.
type cryptoSigner struct{ s *SealSigner }

func (c cryptoSigner) Public() crypto.PublicKey { return c.s.pub }

func (c cryptoSigner) Sign(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.Hash(0) {
		return nil, errors.New("seal signs ed25519 messages without prehash only")
	}
	return c.s.Sign(msg)
}

// Version is the key version the signer uses.
func (s *SealSigner) Version() int { return s.version }

// SealKeys are the published public keys of an administration's seal.
type SealKeys struct {
	Administration string `json:"administration"`
	// Keys are the public keys by version.
	Keys map[int]ed25519.PublicKey `json:"keys"`
	// MinVersion is the oldest version still accepted; older ones are retired.
	MinVersion int `json:"min_version"`
	// Latest is the version that signs now.
	Latest int `json:"latest"`
}

// Keys reads the seal's public keys and its minimum version (Transit's
// min_decryption_version) from Vault.
func (s *Seal) Keys(ctx context.Context) (*SealKeys, error) {
	r, err := s.client.Logical().ReadWithContext(ctx, s.mount+"/keys/"+s.key)
	if err != nil {
		return nil, fmt.Errorf("seal keys: %w", err)
	}
	if r == nil {
		return nil, fmt.Errorf("seal keys: %s/keys/%s not found", s.mount, s.key)
	}
	ks := &SealKeys{Administration: s.admin, Keys: map[int]ed25519.PublicKey{}}
	if ks.MinVersion, err = dataInt(r, "min_decryption_version"); err != nil {
		return nil, fmt.Errorf("seal keys: %w", err)
	}
	if ks.Latest, err = dataInt(r, "latest_version"); err != nil {
		return nil, fmt.Errorf("seal keys: %w", err)
	}
	versions, _ := r.Data["keys"].(map[string]any)
	for v, info := range versions {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("seal keys: version %q", v)
		}
		m, _ := info.(map[string]any)
		b64, _ := m["public_key"].(string)
		pub, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("seal keys: public key of version %d is not ed25519", n)
		}
		ks.Keys[n] = ed25519.PublicKey(pub)
	}
	if _, ok := ks.Keys[ks.Latest]; !ok {
		return nil, fmt.Errorf("seal keys: no public key for latest version %d", ks.Latest)
	}
	return ks, nil
}

// Rotate adds a new key version, which signs from now on, and returns it.
func (s *Seal) Rotate(ctx context.Context) (int, error) {
	if _, err := s.client.Logical().WriteWithContext(ctx, s.mount+"/keys/"+s.key+"/rotate", nil); err != nil {
		return 0, fmt.Errorf("seal rotate: %w", err)
	}
	ks, err := s.Keys(ctx)
	if err != nil {
		return 0, err
	}
	return ks.Latest, nil
}

// Retire refuses every version below minVersion from now on: it raises Transit's
// min_decryption_version, which SealKeys publishes as MinVersion.
func (s *Seal) Retire(ctx context.Context, minVersion int) error {
	if _, err := s.client.Logical().WriteWithContext(ctx, s.mount+"/keys/"+s.key+"/config",
		map[string]any{"min_decryption_version": minVersion}); err != nil {
		return fmt.Errorf("seal retire below v%d: %w", minVersion, err)
	}
	return nil
}

// SealPrincipal is a verified seal signature.
type SealPrincipal struct {
	Administration string
	Version        int
	KeyID          string
}

// Verify implements envelope.Verifier for seal signatures: keyid must name a published,
// unretired version of this administration, whose key verifies sig over pae.
func (k *SealKeys) Verify(pae, sig []byte, keyid string, _ [][]byte) (SealPrincipal, error) {
	admin, v, err := ParseSealKeyID(keyid)
	if err != nil {
		return SealPrincipal{}, envelope.Refuse(envelope.ReasonUnknownKey, "not a seal key id", err)
	}
	if admin != k.Administration {
		return SealPrincipal{}, envelope.Refuse(envelope.ReasonUnknownKey,
			fmt.Sprintf("seal of %s, keys of %s", admin, k.Administration), nil)
	}
	if v < k.MinVersion {
		return SealPrincipal{}, envelope.Refuse(envelope.ReasonUnknownKey,
			fmt.Sprintf("seal key %s is retired (minimum version %d)", keyid, k.MinVersion), nil)
	}
	pub, ok := k.Keys[v]
	if !ok {
		return SealPrincipal{}, envelope.Refuse(envelope.ReasonUnknownKey, fmt.Sprintf("seal key %s is not published", keyid), nil)
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, pae, sig) {
		return SealPrincipal{}, envelope.Refuse(envelope.ReasonBadSignature, fmt.Sprintf("signature does not verify with %s", keyid), nil)
	}
	return SealPrincipal{Administration: admin, Version: v, KeyID: keyid}, nil
}

var _ envelope.Verifier[SealPrincipal] = (*SealKeys)(nil)
var _ envelope.Signer = (*SealSigner)(nil)

func dataInt(s *api.Secret, key string) (int, error) {
	switch v := s.Data[key].(type) {
	case json.Number:
		n, err := v.Int64()
		return int(n), err
	case float64:
		return int(v), nil
	case int:
		return v, nil
	}
	return 0, errors.New("missing or non-numeric " + key)
}
