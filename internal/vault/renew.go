package vault

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cix-exchange/cix/internal/trust"
	"github.com/hashicorp/vault/api"
)

// ErrNoValidCertificate is returned when a certificate kept by Vault PKI (the node's
// signing certificate, its TLS server certificate) is not valid now: it expired while
// Vault could not renew it.
var ErrNoValidCertificate = errors.New("no valid certificate")

// Renewal says when certificates obtained from Vault PKI are renewed. The zero value
// takes the defaults.
type Renewal struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Tick is the longest Run waits before looking at the clock again (default 10s); it
	// waits less when a renewal or a retry is due sooner.
	Tick time.Duration
	// RetryMin and RetryMax bound the backoff between failed renewals (default 1s, 5m).
	RetryMin, RetryMax time.Duration
	// Log receives renewals and failures (default slog.Default()).
	Log *slog.Logger
}

func (r Renewal) withDefaults() Renewal {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Tick <= 0 {
		r.Tick = 10 * time.Second
	}
	if r.RetryMin <= 0 {
		r.RetryMin = time.Second
	}
	if r.RetryMax < r.RetryMin {
		r.RetryMax = max(5*time.Minute, r.RetryMin)
	}
	if r.Log == nil {
		r.Log = slog.Default()
	}
	return r
}

// minWait is the shortest pause of Run between two looks at the clock.
const minWait = 10 * time.Millisecond

// issued is a certificate obtained from Vault, with its in-memory key in value.
type issued[T any] struct {
	value               *T
	keyID               string // trust.KeyID of the leaf
	notBefore, notAfter time.Time
}

// renewer keeps a certificate obtained from Vault in force. It gets one at start and a
// new one (with a new key) at two thirds of each one's lifetime. When that fails, it
// retries with backoff while the current certificate stays in use; once that has
// expired, valid fails. Identity and TLSCertificate embed a renewer each, which gives
// them Run, Renew and Status.
type renewer[T any] struct {
	name  string // prefix of errors, e.g. "vault identity"
	what  string // what is renewed, e.g. "node certificate"
	rcfg  Renewal
	log   *slog.Logger
	issue func(context.Context) (*issued[T], error)
	cur   atomic.Pointer[issued[T]]
	kick  chan struct{} // asks Run to look at the clock now

	mu          sync.Mutex
	issuedAt    time.Time // when the certificate in force was received, by cfg.Now
	renewals    int
	lastRenewal time.Time
	lastErr     error
	lastErrAt   time.Time
	failures    int
	nextTry     time.Time
}

// newRenewer returns the renewer of a certificate of node of admin; name prefixes its
// errors, what names the certificate in errors and logs.
func newRenewer[T any](name, what string, cfg Renewal, admin, node string, issue func(context.Context) (*issued[T], error)) *renewer[T] {
	return &renewer[T]{name: name, what: what, rcfg: cfg, log: cfg.Log.With("admin", admin, "node", node), issue: issue,
		kick: make(chan struct{}, 1)}
}

// nodeCertConfig checks the administration and node of a node certificate's
// configuration and fills in its defaults: mount, role (defaultRole) and renewal.
func nodeCertConfig(name, admin, node string, mount, role *string, defaultRole func(string) string, r *Renewal) error {
	if !adminRE.MatchString(admin) || !trust.ValidNodeName(node) {
		return fmt.Errorf("%s: invalid administration %q or node %q", name, admin, node)
	}
	if *mount == "" {
		*mount = PKIMount
	}
	if *role == "" {
		*role = defaultRole(node)
	}
	*r = r.withDefaults()
	return nil
}

// valid returns the certificate in force, or ErrNoValidCertificate once it expired.
func (r *renewer[T]) valid() (*issued[T], error) {
	c := r.cur.Load()
	if c == nil {
		return nil, fmt.Errorf("%s: %w", r.name, ErrNoValidCertificate)
	}
	if r.rcfg.Now().After(c.notAfter) {
		r.poke()
		r.mu.Lock()
		last := r.lastErr
		r.mu.Unlock()
		return nil, fmt.Errorf("%s: %w: %s expired at %s; last renewal error: %v",
			r.name, ErrNoValidCertificate, r.what, c.notAfter.UTC().Format(time.RFC3339), last)
	}
	return c, nil
}

// poke makes Run look at the clock without waiting for its next tick.
func (r *renewer[T]) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run renews the certificate at two thirds of its lifetime, retrying failures with
// backoff, until ctx ends.
func (r *renewer[T]) Run(ctx context.Context) error {
	for {
		t := time.NewTimer(r.wait())
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-r.kick:
			t.Stop()
		}
		r.maybeRenew(ctx)
	}
}

// wait is how long run sleeps: until the next renewal or retry is due, at least minWait
// and at most Tick (the clock may jump).
func (r *renewer[T]) wait() time.Duration {
	now := r.rcfg.Now()
	r.mu.Lock()
	next := r.renewAtLocked()
	if r.nextTry.After(next) {
		next = r.nextTry
	}
	r.mu.Unlock()
	return min(max(next.Sub(now), minWait), r.rcfg.Tick)
}

func (r *renewer[T]) maybeRenew(ctx context.Context) {
	now := r.rcfg.Now()
	r.mu.Lock()
	due := !now.Before(r.renewAtLocked()) && !now.Before(r.nextTry)
	r.mu.Unlock()
	if !due {
		return
	}
	if err := r.Renew(ctx); err != nil && ctx.Err() == nil {
		st := r.Status()
		r.log.Warn(r.what+" renewal failed", "err", err, "failures", st.Failures,
			"time_to_expiry", st.TimeToExpiry, "state", st.State)
	}
}

// renewAtLocked is two thirds into the current certificate's remaining lifetime when it
// was received. (Counting from receipt rather than NotBefore ignores the backdating Vault
// applies to NotBefore and tolerates skew between the node's clock and Vault's.)
func (r *renewer[T]) renewAtLocked() time.Time {
	c := r.cur.Load()
	if c == nil {
		return time.Time{}
	}
	return r.issuedAt.Add(c.notAfter.Sub(r.issuedAt) * 2 / 3)
}

// Renew has a certificate for a fresh key issued now. On failure the current one stays
// in force and the next automatic attempt is delayed by the backoff.
func (r *renewer[T]) Renew(ctx context.Context) error {
	c, err := r.issue(ctx)
	now := r.rcfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("%s: renew %s: %w", r.name, r.what, err)
		r.lastErr, r.lastErrAt = err, now
		r.failures++
		backoff := r.rcfg.RetryMin << min(r.failures-1, 20)
		r.nextTry = now.Add(min(backoff, r.rcfg.RetryMax))
		return err
	}
	r.cur.Store(c)
	r.issuedAt, r.lastRenewal = now, now
	r.renewals++
	r.failures, r.lastErr, r.nextTry = 0, nil, time.Time{}
	r.log.Info(r.what+" issued", "key_id", c.keyID, "not_after", c.notAfter.UTC().Format(time.RFC3339))
	return nil
}

// Certificate states reported by IdentityStatus.State.
const (
	StateOK       = "ok"       // certificate valid, last renewal attempt succeeded
	StateDegraded = "degraded" // certificate valid, renewal failing
	StateExpired  = "expired"  // no valid certificate: publishing (or serving TLS) stops
)

// IdentityStatus describes a certificate kept by Vault PKI (Identity, TLSCertificate)
// for health reporting.
type IdentityStatus struct {
	State string
	// KeyID is the hex SHA-256 of the certificate in force (trust.KeyID).
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
func (r *renewer[T]) Status() IdentityStatus {
	now := r.rcfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	st := IdentityStatus{
		State: StateOK, RenewAt: r.renewAtLocked(), Renewals: r.renewals,
		LastRenewal: r.lastRenewal, Failures: r.failures, LastErrorAt: r.lastErrAt, NextAttempt: r.nextTry,
	}
	if r.lastErr != nil {
		st.LastError = r.lastErr.Error()
		st.State = StateDegraded
	}
	if c := r.cur.Load(); c != nil {
		st.KeyID, st.NotBefore, st.NotAfter, st.TimeToExpiry = c.keyID, c.notBefore, c.notAfter, c.notAfter.Sub(now)
	}
	if st.TimeToExpiry <= 0 {
		st.State = StateExpired
	}
	return st
}

// signedChain is what a PKI sign endpoint returned: the leaf, the chain a holder sends
// (the leaf, then the CA certificates above it except the self-signed root), and that
// root, the trust anchor relying parties hold already (nil if Vault sent none).
type signedChain struct {
	leaf  *x509.Certificate
	chain [][]byte
	root  *x509.Certificate
}

func signed(s *api.Secret) (signedChain, error) {
	leaf, err := certFromData(s, "certificate")
	if err != nil {
		return signedChain{}, err
	}
	out := signedChain{leaf: leaf, chain: [][]byte{leaf.Raw}}
	for _, p := range caChain(s) {
		cs, err := trust.ParseCertificatesPEM([]byte(p))
		if err != nil {
			return signedChain{}, fmt.Errorf("CA chain: %w", err)
		}
		for _, c := range cs {
			if c.CheckSignatureFrom(c) == nil { // the root is the anchor receivers hold
				out.root = c
				continue
			}
			out.chain = append(out.chain, c.Raw)
		}
	}
	return out, nil
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

// signCSR has Vault sign a CSR of key at mount/sign/role: tmpl is the request's content,
// params the endpoint's parameters (names, TTL) besides the CSR. It checks that the leaf
// certifies key.
func signCSR(ctx context.Context, client *api.Client, mount, role string, tmpl *x509.CertificateRequest,
	key ed25519.PrivateKey, params map[string]any) (signedChain, error) {
	csr, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return signedChain{}, fmt.Errorf("create CSR: %w", err)
	}
	req := merge(params, map[string]any{
		"csr":    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr})),
		"format": "pem",
	})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := client.Logical().WriteWithContext(ctx, mount+"/sign/"+role, req)
	if err != nil {
		return signedChain{}, fmt.Errorf("sign CSR at %s/sign/%s: %w", mount, role, err)
	}
	sc, err := signed(s)
	if err != nil {
		return signedChain{}, err
	}
	if lp, ok := sc.leaf.PublicKey.(ed25519.PublicKey); !ok || !lp.Equal(key.Public()) {
		return signedChain{}, errors.New("issued certificate does not certify the key of the CSR")
	}
	return sc, nil
}

// ttlParam adds the requested lifetime to sign parameters; zero takes the role's.
func ttlParam(params map[string]any, ttl time.Duration) map[string]any {
	if ttl > 0 {
		params["ttl"] = ttl.String()
	}
	return params
}
