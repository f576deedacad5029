package trust

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cix-exchange/cix/internal/envelope"
)

// maxChain bounds the certificates a verifier looks at in one signature.
const maxChain = 4

// Verifier checks envelope signatures against administration trust anchors. It is safe
// for concurrent use.
type Verifier struct {
	now func() time.Time

	mu      sync.RWMutex
	anchors map[string]*x509.CertPool // by administration
	admins  []string
	cache   map[string]*cachedChain // by key id
	revoked *revocations
}

type cachedChain struct {
	chain     [][]byte
	key       ed25519.PublicKey
	principal Principal
	notBefore time.Time // of the whole chain
	issuedAt  time.Time // the leaf's NotBefore
}

// NewVerifier returns a verifier trusting anchors. now defaults to time.Now.
func NewVerifier(now func() time.Time, anchors ...*x509.Certificate) (*Verifier, error) {
	if now == nil {
		now = time.Now
	}
	v := &Verifier{now: now, anchors: map[string]*x509.CertPool{}, cache: map[string]*cachedChain{}, revoked: newRevocations()}
	for _, a := range anchors {
		if err := v.AddAnchor(a); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// AddAnchor trusts a further administration anchor.
func (v *Verifier) AddAnchor(a *x509.Certificate) error {
	admin, err := anchorAdministration(a)
	if err != nil {
		return fmt.Errorf("add trust anchor %q: %w", a.Subject.String(), err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	pool, ok := v.anchors[admin]
	if !ok {
		pool = x509.NewCertPool()
		v.anchors[admin] = pool
		v.admins = append(v.admins, admin)
		sort.Strings(v.admins)
	}
	pool.AddCert(a)
	return nil
}

// SetAnchors replaces the trust anchors of admin with anchors (none: nothing of admin
// verifies any more) and forgets the chains of admin verified under the old ones, so a
// removed anchor stops verifying at once. Every anchor must be one of admin.
func (v *Verifier) SetAnchors(admin string, anchors []*x509.Certificate) error {
	pool := x509.NewCertPool()
	for _, a := range anchors {
		got, err := anchorAdministration(a)
		if err != nil {
			return fmt.Errorf("set trust anchors of %s: %w", admin, err)
		}
		if got != admin {
			return fmt.Errorf("set trust anchors of %s: %q is an anchor of %s", admin, a.Subject.String(), got)
		}
		pool.AddCert(a)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	_, had := v.anchors[admin]
	switch {
	case len(anchors) == 0:
		delete(v.anchors, admin)
		v.admins = slices.DeleteFunc(v.admins, func(s string) bool { return s == admin })
	default:
		v.anchors[admin] = pool
		if !had {
			v.admins = append(v.admins, admin)
			sort.Strings(v.admins)
		}
	}
	for id, c := range v.cache {
		if c.principal.Administration == admin {
			delete(v.cache, id)
		}
	}
	return nil
}

// Administrations lists the administrations with a trust anchor.
func (v *Verifier) Administrations() []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return append([]string(nil), v.admins...)
}

// Verify implements envelope.Verifier: it checks that chain certifies a node of an
// administration under that administration's own anchor, valid and not revoked now, and
// that sig is that node key's signature of pae.
func (v *Verifier) Verify(pae, sig []byte, keyid string, chain [][]byte) (Principal, error) {
	return v.verifyAt(v.now(), false, pae, sig, keyid, chain)
}

// SealAt returns a verifier of administration seal signatures at time t (when the
// message was stored): the chain must certify a seal version of an administration under
// its anchor, valid and not retired at t, and keyid must name that version. Node keys
// do not verify as seals, nor seals as node keys.
func (v *Verifier) SealAt(t time.Time) envelope.Verifier[Principal] { return verifierAt{v, t, true} }

// At returns a view of v that checks certificate validity at time t instead of now: the
// time a message was signed or stored, so that alerts replayed long after their node
// certificate expired still verify, while what a key signed outside its validity does
// not.
func (v *Verifier) At(t time.Time) envelope.Verifier[Principal] { return verifierAt{v, t, false} }

type verifierAt struct {
	v    *Verifier
	t    time.Time
	seal bool
}

func (a verifierAt) Verify(pae, sig []byte, keyid string, chain [][]byte) (Principal, error) {
	return a.v.verifyAt(a.t, a.seal, pae, sig, keyid, chain)
}

func (v *Verifier) verifyAt(now time.Time, seal bool, pae, sig []byte, keyid string, chain [][]byte) (Principal, error) {
	c, err := v.chain(keyid, chain)
	if err != nil {
		return Principal{}, err
	}
	p := c.principal
	switch {
	case seal && p.SealVersion == 0:
		return Principal{}, envelope.Refuse(envelope.ReasonUnknownKey,
			fmt.Sprintf("key of node %s/%s cannot sign as the administration seal", p.Administration, p.Node), nil)
	case !seal && p.SealVersion != 0:
		return Principal{}, envelope.Refuse(envelope.ReasonUnknownKey,
			fmt.Sprintf("seal %s can sign only administration documents", SealKeyID(p.Administration, p.SealVersion)), nil)
	case seal && keyid != SealKeyID(p.Administration, p.SealVersion):
		return Principal{}, envelope.Refuse(envelope.ReasonUnknownKey,
			fmt.Sprintf("key id %q does not name the certified seal %s", truncateID(keyid), SealKeyID(p.Administration, p.SealVersion)), nil)
	}
	if now.Before(c.notBefore) || now.After(c.principal.NotAfter) {
		return Principal{}, envelope.Refuse(envelope.ReasonUnknownKey,
			fmt.Sprintf("certificate of %s valid %s to %s, not at %s", p.Name(),
				c.notBefore.UTC().Format(time.RFC3339), c.principal.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)), nil)
	}
	if why := v.revoked.check(c, now); why != "" {
		return Principal{}, envelope.Refuse(envelope.ReasonRevokedKey, why, nil)
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(c.key, pae, sig) {
		return Principal{}, envelope.Refuse(envelope.ReasonBadSignature,
			fmt.Sprintf("signature does not verify with key %s of %s", short(p.KeyID), p.Name()), nil)
	}
	return p, nil
}

func truncateID(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// chain returns the verified, cached chain for keyid, verifying it on first sight.
func (v *Verifier) chain(keyid string, chain [][]byte) (*cachedChain, error) {
	if len(chain) == 0 {
		return nil, envelope.Refuse(envelope.ReasonUnknownKey, "signature carries no certificate", nil)
	}
	if len(chain) > maxChain {
		return nil, envelope.Refuse(envelope.ReasonUnknownKey, fmt.Sprintf("certificate chain of %d exceeds %d", len(chain), maxChain), nil)
	}
	// The key id is only a hint: the cache entry is used only when the presented chain
	// is byte-for-byte the one verified before.
	id := KeyID(chain[0])
	v.mu.RLock()
	c, ok := v.cache[id]
	v.mu.RUnlock()
	if ok && sameChain(c.chain, chain) {
		return c, nil
	}
	c, err := v.verifyChain(id, chain)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	if len(v.cache) > 100_000 { // bound memory under a flood of distinct chains
		clear(v.cache)
	}
	v.cache[id] = c
	v.mu.Unlock()
	return c, nil
}

func (v *Verifier) verifyChain(id string, chain [][]byte) (*cachedChain, error) {
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, envelope.Refuse(envelope.ReasonUnknownKey, "unparsable certificate", err)
	}
	key, ok := leaf.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, envelope.Refuse(envelope.ReasonUnknownKey, "certificate key is not ed25519", nil)
	}
	admin, sealVersion, isSeal, err := sealIdentity(leaf)
	node := ""
	if err == nil && !isSeal {
		admin, node, err = nodeIdentity(leaf)
	}
	if err != nil {
		return nil, envelope.Refuse(envelope.ReasonUnknownKey, "not a node or seal certificate", err)
	}
	v.mu.RLock()
	roots := v.anchors[admin]
	v.mu.RUnlock()
	if roots == nil {
		return nil, envelope.Refuse(envelope.ReasonUnknownKey, fmt.Sprintf("no trust anchor for administration %s", admin), nil)
	}
	inter := x509.NewCertPool()
	for _, der := range chain[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, envelope.Refuse(envelope.ReasonUnknownKey, "unparsable intermediate certificate", err)
		}
		inter.AddCert(c)
	}
	// Validity is checked per use (Verify), so the chain is verified at the leaf's own
	// validity start: an anchor or intermediate must have covered it then.
	at := leaf.NotBefore.Add(time.Second)
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, envelope.Refuse(envelope.ReasonUnknownKey,
			fmt.Sprintf("certificate of %s does not chain to the %s trust anchor",
				Principal{Administration: admin, Node: node, SealVersion: sealVersion}.Name(), admin), err)
	}
	// The key is usable only while every certificate of its chain is valid.
	notBefore, notAfter := leaf.NotBefore, leaf.NotAfter
	for _, c := range chains[0] {
		if c.NotBefore.After(notBefore) {
			notBefore = c.NotBefore
		}
		if c.NotAfter.Before(notAfter) {
			notAfter = c.NotAfter
		}
	}
	return &cachedChain{
		chain: cloneChain(chain), key: key, notBefore: notBefore, issuedAt: leaf.NotBefore,
		principal: Principal{Administration: admin, Node: node, SealVersion: sealVersion, KeyID: id, NotAfter: notAfter},
	}, nil
}

func sameChain(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func cloneChain(c [][]byte) [][]byte {
	out := make([][]byte, len(c))
	for i := range c {
		out[i] = bytes.Clone(c[i])
	}
	return out
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
