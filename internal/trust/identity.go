package trust

import (
	"context"
	"crypto/ed25519"
	"time"
)

// Identity is what a node signs with. Backends (the development keystore here, Vault PKI
// later) rotate keys behind it: callers ask for the current key for each batch of work and
// never keep one past its NotAfter.
type Identity interface {
	// Administration is the ISO 3166-1 alpha-2 code of the node's administration.
	Administration() string
	// Node is the node's name.
	Node() string
	// Current returns the signing key in force. It fails when no valid key is available
	// (for example a certificate that expired while its issuer was unreachable).
	Current(ctx context.Context) (*SigningKey, error)
}

// Identity states reported by a StatusReporter.
const (
	StateOK       = "ok"
	StateDegraded = "degraded"
	StateExpired  = "expired"
)

// StatusReporter is implemented by identities whose keys are renewed by a service that
// can be unavailable (Vault): they report whether renewal is failing.
type StatusReporter interface {
	// IdentityStatus returns StateOK, StateDegraded or StateExpired and, unless ok, why.
	IdentityStatus() (state, detail string)
}

// SigningKey is a node key with its certificate chain. It implements envelope.Signer.
type SigningKey struct {
	priv      ed25519.PrivateKey
	keyID     string
	chain     [][]byte
	principal Principal
}

// NewSigningKey wraps a private key and its DER chain (leaf first).
func NewSigningKey(priv ed25519.PrivateKey, chain [][]byte, admin, node string, notAfter time.Time) *SigningKey {
	id := KeyID(chain[0])
	return &SigningKey{
		priv: priv, keyID: id, chain: chain,
		principal: Principal{Administration: admin, Node: node, KeyID: id, NotAfter: notAfter},
	}
}

// NewSealKey wraps the private key of version v of admin's seal and its DER chain (leaf
// first). Its key id names the version (SealKeyID), as seal signatures must.
func NewSealKey(priv ed25519.PrivateKey, chain [][]byte, admin string, v int, notAfter time.Time) *SigningKey {
	return &SigningKey{
		priv: priv, keyID: SealKeyID(admin, v), chain: chain,
		principal: Principal{Administration: admin, SealVersion: v, KeyID: KeyID(chain[0]), NotAfter: notAfter},
	}
}

// Sign signs msg with Ed25519.
func (k *SigningKey) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(k.priv, msg), nil }

// KeyID is the hex SHA-256 of the leaf certificate.
func (k *SigningKey) KeyID() string { return k.keyID }

// Chain is the DER certificate chain, leaf first.
func (k *SigningKey) Chain() [][]byte { return k.chain }

// Principal describes the key's certified identity.
func (k *SigningKey) Principal() Principal { return k.principal }
