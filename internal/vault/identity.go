package vault

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cix-exchange/cix/internal/trust"
	"github.com/hashicorp/vault/api"
)

// ErrNoValidCertificate is returned by Identity.Current when the node holds no
// certificate valid now (it expired while Vault could not renew it).
var ErrNoValidCertificate = errors.New("no valid node certificate")

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
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Tick is how often Run looks at the clock (default 10s).
	Tick time.Duration
	// RetryMin and RetryMax bound the backoff between failed renewals (default 1s, 5m).
	RetryMin, RetryMax time.Duration
	// Log receives renewals and failures (default slog.Default()).
	Log *slog.Logger
}

// Identity is a node identity certified by Vault PKI; it implements trust.Identity. The
// private key lives only in memory: at start and at two thirds of each certificate's
// lifetime, a fresh ed25519 key is generated and its CSR signed by the node's PKI role.
// Alerts are signed locally; Vault is only needed for renewals. When a renewal fails,
// it is retried with backoff while the current certificate stays in use; once that has
// expired, Current fails.
type Identity struct {
	client *api.Client
	cfg    IdentityConfig
	log    *slog.Logger
	uri    *url.URL
	verify *trust.Verifier

	key atomic.Pointer[trust.SigningKey]

	mu          sync.Mutex
	notBefore   time.Time // of the certificate in force
	issuedAt    time.Time // when it was received, by cfg.Now
	renewals    int
	lastRenewal time.Time
	lastErr     error
	lastErrAt   time.Time
	failures    int
	nextTry     time.Time
}

var _ trust.Identity = (*Identity)(nil)

// NewIdentity obtains the node's first certificate from Vault with client, whose token
// must allow signing at the node's role.
func NewIdentity(ctx context.Context, client *api.Client, cfg IdentityConfig) (*Identity, error) {
	if !adminRE.MatchString(cfg.Administration) || !trust.ValidNodeName(cfg.Node) {
		return nil, fmt.Errorf("vault identity: invalid administration %q or node %q", cfg.Administration, cfg.Node)
	}
	if cfg.Mount == "" {
		cfg.Mount = PKIMount
	}
	if cfg.Role == "" {
		cfg.Role = NodeRole(cfg.Node)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 10 * time.Second
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(5*time.Minute, cfg.RetryMin)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	id := &Identity{client: client, cfg: cfg, uri: trust.NodeURI(cfg.Administration, cfg.Node),
		log: cfg.Log.With("admin", cfg.Administration, "node", cfg.Node)}
	if cfg.Anchor != nil {
		v, err := trust.NewVerifier(cfg.Now, cfg.Anchor)
		if err != nil {
			return nil, fmt.Errorf("vault identity: %w", err)
		}
		id.verify = v
	}
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
	k := id.key.Load()
	if k == nil {
		return nil, fmt.Errorf("vault identity: %w", ErrNoValidCertificate)
	}
	if na := k.Principal().NotAfter; id.cfg.Now().After(na) {
		id.mu.Lock()
		last := id.lastErr
		id.mu.Unlock()
		return nil, fmt.Errorf("vault identity: %w: certificate expired at %s; last renewal error: %v",
			ErrNoValidCertificate, na.UTC().Format(time.RFC3339), last)
	}
	return k, nil
}

// Run renews the certificate at two thirds of its lifetime, retrying failures with
// backoff, until ctx ends.
func (id *Identity) Run(ctx context.Context) error {
	t := time.NewTicker(id.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			id.maybeRenew(ctx)
		}
	}
}

func (id *Identity) maybeRenew(ctx context.Context) {
	now := id.cfg.Now()
	id.mu.Lock()
	due := !now.Before(id.renewAtLocked()) && !now.Before(id.nextTry)
	id.mu.Unlock()
	if !due {
		return
	}
	if err := id.Renew(ctx); err != nil && ctx.Err() == nil {
		st := id.Status()
		id.log.Warn("node certificate renewal failed", "err", err, "failures", st.Failures,
			"time_to_expiry", st.TimeToExpiry, "state", st.State)
	}
}

// renewAtLocked is two thirds into the current certificate's remaining lifetime when it
// was received. (Counting from receipt rather than NotBefore ignores the backdating Vault
// applies to NotBefore and tolerates skew between the node's clock and Vault's.)
func (id *Identity) renewAtLocked() time.Time {
	k := id.key.Load()
	if k == nil {
		return time.Time{}
	}
	return id.issuedAt.Add(k.Principal().NotAfter.Sub(id.issuedAt) * 2 / 3)
}

// Renew certifies a fresh key now. On failure the current key stays in force and the
// next automatic attempt is delayed by the backoff.
func (id *Identity) Renew(ctx context.Context) error {
	key, notBefore, err := id.issue(ctx)
	now := id.cfg.Now()
	id.mu.Lock()
	defer id.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("vault identity: renew node certificate: %w", err)
		id.lastErr, id.lastErrAt = err, now
		id.failures++
		backoff := id.cfg.RetryMin << min(id.failures-1, 20)
		id.nextTry = now.Add(min(backoff, id.cfg.RetryMax))
		return err
	}
	id.key.Store(key)
	id.notBefore, id.issuedAt, id.lastRenewal = notBefore, now, now
	id.renewals++
	id.failures, id.lastErr, id.nextTry = 0, nil, time.Time{}
	p := key.Principal()
	id.log.Info("node certificate issued", "key_id", p.KeyID, "not_after", p.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// issue generates a key, has its CSR signed and checks the result.
func (id *Identity) issue(ctx context.Context) (*trust.SigningKey, time.Time, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, time.Time{}, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{Country: []string{id.cfg.Administration}, CommonName: NodeCommonName(id.cfg.Node)},
		URIs:    []*url.URL{id.uri},
	}, priv)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("create CSR: %w", err)
	}
	req := map[string]any{
		"csr":                  string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr})),
		"uri_sans":             id.uri.String(),
		"common_name":          NodeCommonName(id.cfg.Node),
		"exclude_cn_from_sans": true,
		"format":               "pem",
	}
	if id.cfg.TTL > 0 {
		req["ttl"] = id.cfg.TTL.String()
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := id.client.Logical().WriteWithContext(ctx, id.cfg.Mount+"/sign/"+id.cfg.Role, req)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("sign CSR at %s/sign/%s: %w", id.cfg.Mount, id.cfg.Role, err)
	}
	leaf, err := certFromData(s, "certificate")
	if err != nil {
		return nil, time.Time{}, err
	}
	chain := [][]byte{leaf.Raw}
	for _, p := range caChain(s) {
		cs, err := trust.ParseCertificatesPEM([]byte(p))
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("CA chain: %w", err)
		}
		for _, c := range cs {
			if c.CheckSignatureFrom(c) == nil { // the root is the anchor receivers hold
				continue
			}
			chain = append(chain, c.Raw)
		}
	}
	if err := id.check(leaf, pub, priv, chain); err != nil {
		return nil, time.Time{}, err
	}
	return trust.NewSigningKey(priv, chain, id.cfg.Administration, id.cfg.Node, leaf.NotAfter), leaf.NotBefore, nil
}

// check refuses a certificate that does not certify exactly our key and identity.
func (id *Identity) check(leaf *x509.Certificate, pub ed25519.PublicKey, priv ed25519.PrivateKey, chain [][]byte) error {
	lp, ok := leaf.PublicKey.(ed25519.PublicKey)
	if !ok || !lp.Equal(pub) {
		return errors.New("issued certificate does not certify the key of the CSR")
	}
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

func caChain(s *api.Secret) []string {
	var out []string
	if l, ok := s.Data["ca_chain"].([]any); ok {
		for _, v := range l {
			if p, ok := v.(string); ok {
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		if p, ok := dataString(s, "issuing_ca"); ok {
			out = append(out, p)
		}
	}
	return out
}

// Identity states reported by IdentityStatus.State.
const (
	StateOK       = "ok"       // certificate valid, last renewal attempt succeeded
	StateDegraded = "degraded" // certificate valid, renewal failing
	StateExpired  = "expired"  // no valid certificate: publishing stops
)

// IdentityStatus describes the identity for health reporting.
type IdentityStatus struct {
	State        string
	KeyID        string
	NotBefore    time.Time
	NotAfter     time.Time
	RenewAt      time.Time
	TimeToExpiry time.Duration
	// Renewals counts issued certificates; LastRenewal is when the last was issued.
	Renewals    int
	LastRenewal time.Time
	// Failures counts consecutive failed renewals; LastError is the latest.
	Failures    int
	LastError   string
	LastErrorAt time.Time
	NextAttempt time.Time
}

// Status reports the certificate in force and the renewal state.
func (id *Identity) Status() IdentityStatus {
	now := id.cfg.Now()
	id.mu.Lock()
	defer id.mu.Unlock()
	st := IdentityStatus{
		State: StateOK, NotBefore: id.notBefore, RenewAt: id.renewAtLocked(), Renewals: id.renewals,
		LastRenewal: id.lastRenewal, Failures: id.failures, LastErrorAt: id.lastErrAt, NextAttempt: id.nextTry,
	}
	if id.lastErr != nil {
		st.LastError = id.lastErr.Error()
		st.State = StateDegraded
	}
	if k := id.key.Load(); k != nil {
		p := k.Principal()
		st.KeyID, st.NotAfter, st.TimeToExpiry = p.KeyID, p.NotAfter, p.NotAfter.Sub(now)
	}
	if st.TimeToExpiry <= 0 {
		st.State = StateExpired
	}
	return st
}
