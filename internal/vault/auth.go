package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
)

// Authentication methods of AuthConfig.Method.
const (
	AuthToken   = "token"
	AuthAppRole = "approle"
)

// AuthConfig says how a node logs in to Vault. The address, CA and TLS settings come
// from the standard VAULT_* environment variables (VAULT_ADDR, VAULT_CACERT, ...), as
// api.DefaultConfig reads them; Address overrides VAULT_ADDR. Secrets are never part of
// the configuration itself: the token comes from VAULT_TOKEN, the secret id from a file
// or an environment variable named here.
type AuthConfig struct {
	// Method is AuthAppRole (production) or AuthToken (development).
	Method string
	// Address overrides VAULT_ADDR when set.
	Address string
	// Token is the token of AuthToken; empty uses VAULT_TOKEN.
	Token string
	// RoleID is the AppRole role id (not a secret).
	RoleID string
	// SecretIDFile is a file holding the secret id; SecretIDEnv the name of an
	// environment variable holding it. Exactly one is set for AuthAppRole.
	SecretIDFile string
	SecretIDEnv  string
	// WrappedSecretID says the file or variable holds a response-wrapping token whose
	// unwrapped response carries the secret id.
	WrappedSecretID bool
	// MountPath is the AppRole mount (default AppRoleMount).
	MountPath string
	// RetryMin and RetryMax bound the backoff between failed logins (default 1s, 1m).
	RetryMin, RetryMax time.Duration
}

func (c *AuthConfig) validate() error {
	switch c.Method {
	case AuthToken:
	case AuthAppRole:
		if c.RoleID == "" {
			return errors.New("approle: role id missing")
		}
		if (c.SecretIDFile == "") == (c.SecretIDEnv == "") {
			return errors.New("approle: set exactly one of the secret id file and the secret id environment variable")
		}
	default:
		return fmt.Errorf("unknown auth method %q (want %s or %s)", c.Method, AuthToken, AuthAppRole)
	}
	if c.MountPath == "" {
		c.MountPath = AppRoleMount
	}
	if c.RetryMin <= 0 {
		c.RetryMin = time.Second
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(time.Minute, c.RetryMin)
	}
	return nil
}

// Session is a logged-in Vault client whose token is kept alive: renewed by the API's
// lifetime watcher and, when renewal ends (maximum TTL reached, or failures until the
// token expired), replaced by a new AppRole login, retried with backoff.
type Session struct {
	client *api.Client
	cfg    AuthConfig
	log    *slog.Logger
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	mu        sync.Mutex
	expires   time.Time // zero: never
	failure   string    // last login failure, cleared by a successful login
	logins    int
	rawSecret string // secret id source content last read
	secretID  string // secret id (unwrapped)
}

// Login authenticates to Vault as cfg says and keeps the token alive until Stop.
func Login(ctx context.Context, cfg AuthConfig, log *slog.Logger) (*Session, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("vault login: %w", err)
	}
	vc := api.DefaultConfig()
	if vc.Error != nil {
		return nil, fmt.Errorf("vault login: %w", vc.Error)
	}
	if cfg.Address != "" {
		vc.Address = cfg.Address
	}
	client, err := api.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("vault login: %w", err)
	}
	s := &Session{client: client, cfg: cfg, log: log.With("vault_addr", client.Address(), "auth", cfg.Method),
		stop: make(chan struct{}), done: make(chan struct{})}
	secret, err := s.login(ctx)
	if err != nil {
		return nil, fmt.Errorf("vault login: %w", err)
	}
	go s.keepAlive(secret)
	return s, nil
}

// Client is the authenticated API client. Its token is replaced in place on re-login,
// so callers keep using the same client.
func (s *Session) Client() *api.Client { return s.client }

// Stop ends token upkeep and waits for it. The token is not revoked.
func (s *Session) Stop() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
}

// Healthy reports whether the session holds a token that has not expired, and why not.
func (s *Session) Healthy() (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure != "" {
		return false, s.failure
	}
	if !s.expires.IsZero() && time.Now().After(s.expires) {
		return false, "vault token expired at " + s.expires.UTC().Format(time.RFC3339)
	}
	return true, ""
}

// TokenExpiry is when the session's token expires unless renewed; zero when it never
// expires.
func (s *Session) TokenExpiry() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expires
}

// Logins counts the successful logins (1 after Login).
func (s *Session) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// login authenticates once and installs the token in s.client.
func (s *Session) login(ctx context.Context) (*api.Secret, error) {
	var secret *api.Secret
	var err error
	if s.cfg.Method == AuthToken {
		secret, err = s.tokenLogin(ctx)
	} else {
		secret, err = s.appRoleLogin(ctx)
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.failure = ""
	s.logins++
	s.expires = time.Time{}
	if ttl := secret.Auth.LeaseDuration; ttl > 0 {
		s.expires = time.Now().Add(time.Duration(ttl) * time.Second)
	}
	s.mu.Unlock()
	s.log.Info("vault login", "ttl", time.Duration(secret.Auth.LeaseDuration)*time.Second, "renewable", secret.Auth.Renewable)
	return secret, nil
}

func (s *Session) tokenLogin(ctx context.Context) (*api.Secret, error) {
	if s.cfg.Token != "" {
		s.client.SetToken(s.cfg.Token)
	}
	if s.client.Token() == "" {
		return nil, errors.New("token auth: no token (set VAULT_TOKEN)")
	}
	look, err := s.client.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("token auth: look up token: %w", err)
	}
	ttl, _ := look.TokenTTL()
	renewable, _ := look.TokenIsRenewable()
	// Shape the lookup as a login response, which the lifetime watcher understands.
	return &api.Secret{Auth: &api.SecretAuth{
		ClientToken: s.client.Token(), LeaseDuration: int(ttl.Seconds()), Renewable: renewable,
	}}, nil
}

func (s *Session) appRoleLogin(ctx context.Context) (*api.Secret, error) {
	id, err := s.readSecretID(ctx)
	if err != nil {
		return nil, err
	}
	auth, err := approle.NewAppRoleAuth(s.cfg.RoleID, &approle.SecretID{FromString: id}, approle.WithMountPath(s.cfg.MountPath))
	if err != nil {
		return nil, fmt.Errorf("approle: %w", err)
	}
	anon, err := s.anonymous()
	if err != nil {
		return nil, err
	}
	secret, err := auth.Login(ctx, anon)
	if err != nil {
		return nil, fmt.Errorf("approle login: %w", err)
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return nil, errors.New("approle login: no token in response")
	}
	s.client.SetToken(secret.Auth.ClientToken)
	return secret, nil
}

// anonymous returns a client for s's address without a token, for unauthenticated
// endpoints (login, unwrap): the node's policy does not grant them to its token.
func (s *Session) anonymous() (*api.Client, error) {
	c, err := s.client.Clone()
	if err != nil {
		return nil, fmt.Errorf("clone vault client: %w", err)
	}
	c.ClearToken()
	return c, nil
}

// readSecretID reads the secret id from its file or variable. A wrapped secret id is
// unwrapped once and kept in memory: a wrapping token is single-use, so later logins
// (after the token's maximum TTL) reuse the unwrapped id unless the source holds a new
// wrapping token. (approle.WithWrappingToken would unwrap on every login and fail the
// second time.)
func (s *Session) readSecretID(ctx context.Context) (string, error) {
	var raw string
	if s.cfg.SecretIDFile != "" {
		b, err := os.ReadFile(s.cfg.SecretIDFile)
		if err != nil {
			return "", fmt.Errorf("approle: read secret id: %w", err)
		}
		raw = strings.TrimSpace(string(b))
	} else {
		raw = strings.TrimSpace(os.Getenv(s.cfg.SecretIDEnv))
	}
	if raw == "" {
		return "", errors.New("approle: empty secret id")
	}
	s.mu.Lock()
	cached, last := s.secretID, s.rawSecret
	s.mu.Unlock()
	if raw == last && cached != "" {
		return cached, nil
	}
	id := raw
	if s.cfg.WrappedSecretID {
		var err error
		if id, err = s.unwrap(ctx, raw); err != nil {
			return "", err
		}
	}
	s.mu.Lock()
	s.rawSecret, s.secretID = raw, id
	s.mu.Unlock()
	return id, nil
}

// unwrap checks that a wrapping token was minted for an AppRole secret id of our mount
// (a substituted token would show another creation path) and unwraps it.
func (s *Session) unwrap(ctx context.Context, tok string) (string, error) {
	anon, err := s.anonymous()
	if err != nil {
		return "", err
	}
	look, err := anon.Logical().WriteWithContext(ctx, "sys/wrapping/lookup", map[string]any{"token": tok})
	if err != nil {
		return "", fmt.Errorf("approle: look up wrapping token: %w", err)
	}
	path, _ := dataString(look, "creation_path")
	prefix := "auth/" + strings.Trim(s.cfg.MountPath, "/") + "/role/"
	if !strings.HasPrefix(path, prefix) || !strings.HasSuffix(path, "/secret-id") {
		return "", fmt.Errorf("approle: wrapping token was created at %q, not for a secret id of %s", path, s.cfg.MountPath)
	}
	u, err := anon.Logical().UnwrapWithContext(ctx, tok)
	if err != nil {
		return "", fmt.Errorf("approle: unwrap secret id: %w", err)
	}
	id, _ := dataString(u, "secret_id")
	if id == "" {
		return "", errors.New("approle: unwrapped response holds no secret_id")
	}
	return id, nil
}

// keepAlive renews the token while it can and logs in again when renewal ends.
func (s *Session) keepAlive(secret *api.Secret) {
	defer close(s.done)
	for {
		if !s.watch(secret) {
			return
		}
		if s.cfg.Method == AuthToken {
			s.setFailure("vault token can no longer be renewed; token auth cannot log in again")
			<-s.stop
			return
		}
		var ok bool
		if secret, ok = s.relogin(); !ok {
			return
		}
	}
}

// watch runs a lifetime watcher on the token until renewal ends; false means stopped.
func (s *Session) watch(secret *api.Secret) bool {
	if secret.Auth.LeaseDuration == 0 { // a token that never expires (dev root token)
		<-s.stop
		return false
	}
	w, err := s.client.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: secret})
	if err != nil {
		s.log.Error("vault token watcher", "err", err)
		return true
	}
	go w.Start()
	defer w.Stop()
	for {
		select {
		case <-s.stop:
			return false
		case r := <-w.RenewCh():
			if r != nil && r.Secret != nil && r.Secret.Auth != nil {
				s.mu.Lock()
				s.expires = r.RenewedAt.Add(time.Duration(r.Secret.Auth.LeaseDuration) * time.Second)
				s.mu.Unlock()
				s.log.Debug("vault token renewed", "ttl", time.Duration(r.Secret.Auth.LeaseDuration)*time.Second)
			}
		case err := <-w.DoneCh():
			if err != nil {
				s.log.Warn("vault token renewal failed; logging in again", "err", err)
			} else {
				s.log.Info("vault token reached its maximum lifetime; logging in again")
			}
			return true
		}
	}
}

// relogin logs in again with backoff until it succeeds or the session stops.
func (s *Session) relogin() (*api.Secret, bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	wait := s.cfg.RetryMin
	for {
		lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
		secret, err := s.login(lctx)
		lcancel()
		if err == nil {
			return secret, true
		}
		s.setFailure("vault login failed: " + err.Error())
		s.log.Warn("vault login failed", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(wait):
		}
		wait = min(2*wait, s.cfg.RetryMax)
	}
}

func (s *Session) setFailure(reason string) {
	s.mu.Lock()
	s.failure = reason
	s.mu.Unlock()
}
