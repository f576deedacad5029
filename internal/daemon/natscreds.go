package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cix-exchange/cix/internal/trust"
	"github.com/cix-exchange/cix/internal/vault"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// userCreds is a parsed NATS .creds file: the user JWT and the user's key pair.
type userCreds struct {
	jwt     string
	kp      nkeys.KeyPair
	user    string // the user's public key (the JWT's subject)
	account string // the account that issued the user
}

// parseCreds parses the content of a .creds file and checks that the seed is the JWT
// subject's and that the JWT has not expired. Errors never quote the content.
func parseCreds(b []byte, now time.Time) (*userCreds, error) {
	tok, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		return nil, fmt.Errorf("user JWT: %w", err)
	}
	uc, err := jwt.DecodeUserClaims(tok)
	if err != nil {
		return nil, fmt.Errorf("user JWT: %w", err)
	}
	if uc.Expires > 0 && now.Unix() > uc.Expires {
		return nil, fmt.Errorf("user JWT of %s expired at %s", uc.Subject, time.Unix(uc.Expires, 0).UTC().Format(time.RFC3339))
	}
	kp, err := jwt.ParseDecoratedUserNKey(b)
	if err != nil {
		return nil, fmt.Errorf("user seed: %w", err)
	}
	pub, err := kp.PublicKey()
	if err == nil && pub != uc.Subject {
		err = fmt.Errorf("the seed is of user %s, the JWT of %s", pub, uc.Subject)
	}
	if err != nil {
		kp.Wipe()
		return nil, fmt.Errorf("user seed: %w", err)
	}
	c := &userCreds{jwt: tok, kp: kp, user: uc.Subject, account: uc.IssuerAccount}
	if c.account == "" { // signed by the account key itself, not one of its signing keys
		c.account = uc.Issuer
	}
	return c, nil
}

// options authenticates a connection with c: the nonce is signed in memory.
func (c *userCreds) options() nats.Option {
	return nats.UserJWT(func() (string, error) { return c.jwt, nil }, c.kp.Sign)
}

// natsCreds holds the node's NATS credentials from Vault, in memory only. The
// connection's callbacks read the current ones at each (re)connect; a rotation swaps
// them.
type natsCreds struct {
	mu      sync.Mutex
	cur     *userCreds
	version int // KV version of cur
}

// option authenticates with whatever credentials are current at (re)connect time.
func (n *natsCreds) option() nats.Option {
	return nats.UserJWT(func() (string, error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.cur == nil {
			return "", errors.New("NATS credentials wiped")
		}
		return n.cur.jwt, nil
	}, func(nonce []byte) ([]byte, error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.cur == nil {
			return nil, errors.New("NATS credentials wiped")
		}
		return n.cur.kp.Sign(nonce)
	})
}

func (n *natsCreds) current() (c *userCreds, version int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cur, n.version
}

// swap puts c in use and wipes the seed it replaces.
func (n *natsCreds) swap(c *userCreds, version int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cur != nil {
		n.cur.kp.Wipe()
	}
	n.cur, n.version = c, version
}

// wipe forgets the credentials (at shutdown).
func (n *natsCreds) wipe() { n.swap(nil, 0) }

// readNATSCreds reads and parses the node's first credentials from Vault.
func readNATSCreds(ctx context.Context, sess *vault.Session, node string) (*natsCreds, error) {
	v, err := vault.ReadNATSCreds(ctx, sess.Client(), node)
	if err != nil {
		return nil, err
	}
	c, err := parseCreds(v.Creds, time.Now())
	if err != nil {
		return nil, fmt.Errorf("NATS credentials in Vault KV %s (version %d): %w", vault.NodeCredsKV(node), v.Version, err)
	}
	return &natsCreds{cur: c, version: v.Version}, nil
}

// rotateNATSCreds is the CredsWatcher's callback. It refuses credentials that do not
// parse, belong to another account (the node's streams and consumers live in its
// account) or that the servers refuse; otherwise it swaps them in and makes the
// connection reconnect, which authenticates with them. Publishes in flight during the
// reconnect fail as unavailable, and clients retry them with the same id; the durable
// consumers resume where they were.
func (d *Daemon) rotateNATSCreds(_ context.Context, v vault.NATSCreds) error {
	c, err := parseCreds(v.Creds, time.Now())
	if err != nil {
		return err
	}
	cur, _ := d.creds.current()
	if cur != nil && c.account != cur.account {
		c.kp.Wipe()
		return fmt.Errorf("user %s is in account %s, the node's is %s", c.user, c.account, cur.account)
	}
	if err := d.checkNATSCreds(c); err != nil {
		c.kp.Wipe()
		return fmt.Errorf("the NATS servers refuse user %s: %w", c.user, err)
	}
	d.creds.swap(c, v.Version)
	d.log.Info("nats reconnecting with rotated credentials", "version", v.Version, "user", c.user, "account", c.account)
	if err := d.nc.ForceReconnect(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("reconnect: %w", err)
	}
	return nil
}

// checkNATSCreds connects once with c and disconnects, so that credentials the servers
// refuse are never put in use.
func (d *Daemon) checkNATSCreds(c *userCreds) error {
	nc, err := nats.Connect(joinURLs(d.cfg.NATS.URLs), c.options(),
		nats.Name(d.natsName()+" credentials check"), nats.NoReconnect(), nats.Timeout(10*time.Second))
	if err != nil {
		return err
	}
	nc.Close()
	return nil
}

// natsCredsStatus is what GetNodeInfo reports about credentials from Vault.
func (d *Daemon) natsCredsStatus() (state, detail string, version int) {
	st := d.credsWatch.Status()
	if st.Err == "" {
		return trust.StateOK, "", st.Version
	}
	return trust.StateDegraded, fmt.Sprintf("%s; version %d stays in use", st.Err, st.Version), st.Version
}
