package vault

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/url"
	"time"

	"github.com/cix-exchange/cix/internal/trust"
	"github.com/hashicorp/vault/api"
)

// IdentityConfig configures a Vault PKI identity.
type IdentityConfig struct {
	// Administration and Node name the identity: the certificate's URI SAN is
	// urn:cix:node:<Administration>:<Node>.
	Administration, Node string
	// Mount is the PKI mount (default PKIMount) and Role the role signing the CSRs
	// (default NodeRole(Node)).
	Mount, Role string
	// TTL is the requested certificate lifetime; zero takes the role's (about 24h).
	TTL time.Duration
	// Anchor, when set, is the administration's trust anchor: every issued chain is
	// checked with trust.Verifier before it is used.
	Anchor *x509.Certificate
	// Renewal says when the certificate is renewed (the clock, Run's tick, the backoff
	// after failures) and where that is logged.
	Renewal
}

// Identity is a node identity certified by Vault PKI; it implements trust.Identity. The
// private key lives only in memory: at start and at two thirds of each certificate's
// lifetime, a fresh ed25519 key is generated and its CSR signed by the node's PKI role.
// Alerts are signed locally; Vault is only needed for renewals. When a renewal fails,
// it is retried with backoff while the current certificate stays in use; once that has
// expired, Current fails.
//
// Run renews until its context ends, Renew renews now, and Status reports the
// certificate in force and the renewal state.
type Identity struct {
	*renewer[trust.SigningKey]
	client *api.Client
	cfg    IdentityConfig
	uri    *url.URL
	verify *trust.Verifier
}

var _ trust.Identity = (*Identity)(nil)

// NewIdentity obtains the node's first certificate from Vault with client, whose token
// must allow signing at the node's role.
func NewIdentity(ctx context.Context, client *api.Client, cfg IdentityConfig) (*Identity, error) {
	if err := nodeCertConfig("vault identity", cfg.Administration, cfg.Node, &cfg.Mount, &cfg.Role, NodeRole, &cfg.Renewal); err != nil {
		return nil, err
	}
	id := &Identity{client: client, cfg: cfg, uri: trust.NodeURI(cfg.Administration, cfg.Node)}
	if cfg.Anchor != nil {
		v, err := trust.NewVerifier(cfg.Now, cfg.Anchor)
		if err != nil {
			return nil, fmt.Errorf("vault identity: %w", err)
		}
		id.verify = v
	}
	id.renewer = newRenewer("vault identity", "node certificate", cfg.Renewal, cfg.Administration, cfg.Node, id.issue)
	if err := id.Renew(ctx); err != nil {
		return nil, err
	}
	return id, nil
}

// Administration implements trust.Identity.
func (id *Identity) Administration() string { return id.cfg.Administration }

// Node implements trust.Identity.
func (id *Identity) Node() string { return id.cfg.Node }

// Current implements trust.Identity: the key in force, or ErrNoValidCertificate once its
// certificate expired.
func (id *Identity) Current(context.Context) (*trust.SigningKey, error) {
	c, err := id.valid()
	if err != nil {
		return nil, err
	}
	return c.value, nil
}

// issue generates a key, has its CSR signed and checks the result.
func (id *Identity) issue(ctx context.Context) (*issued[trust.SigningKey], error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	sc, err := signCSR(ctx, id.client, id.cfg.Mount, id.cfg.Role, &x509.CertificateRequest{
		Subject: pkix.Name{Country: []string{id.cfg.Administration}, CommonName: NodeCommonName(id.cfg.Node)},
		URIs:    []*url.URL{id.uri},
	}, priv, ttlParam(map[string]any{
		"uri_sans": id.uri.String(), "common_name": NodeCommonName(id.cfg.Node), "exclude_cn_from_sans": true,
	}, id.cfg.TTL))
	if err != nil {
		return nil, err
	}
	if err := id.check(sc.leaf, priv, sc.chain); err != nil {
		return nil, err
	}
	key := trust.NewSigningKey(priv, sc.chain, id.cfg.Administration, id.cfg.Node, sc.leaf.NotAfter)
	return &issued[trust.SigningKey]{value: key, keyID: key.KeyID(), notBefore: sc.leaf.NotBefore, notAfter: sc.leaf.NotAfter}, nil
}

// check refuses a certificate that does not certify exactly our identity.
func (id *Identity) check(leaf *x509.Certificate, priv ed25519.PrivateKey, chain [][]byte) error {
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != id.uri.String() {
		return fmt.Errorf("issued certificate names %v, want %s", leaf.URIs, id.uri)
	}
	if id.verify == nil {
		return nil
	}
	msg := []byte("cix vault identity self-check")
	p, err := id.verify.At(leaf.NotBefore.Add(time.Second)).Verify(msg, ed25519.Sign(priv, msg), trust.KeyID(leaf.Raw), chain)
	if err != nil {
		return fmt.Errorf("issued chain does not verify under the %s anchor: %w", id.cfg.Administration, err)
	}
	if p.Administration != id.cfg.Administration || p.Node != id.cfg.Node {
		return fmt.Errorf("issued chain certifies %s/%s", p.Administration, p.Node)
	}
	return nil
}
