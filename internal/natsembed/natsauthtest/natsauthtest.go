// Package natsauthtest builds NATS decentralized-auth chains for tests: an operator with
// a signing key, a system account, accounts (JetStream enabled or not) with signing keys,
// and users with their .creds content. Operator.Configure sets up a nats-server (for
// example through natsembed.Options.Configure) to trust the operator and resolve its
// accounts from memory, and StartServer starts such a server; Account.Push updates a running server after a change such as a
// revocation.
package natsauthtest

import (
	"testing"

	"github.com/cix-exchange/cix/internal/natsembed"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Operator is a test operator: its identity key, a signing key that signs its accounts,
// and its system account.
type Operator struct {
	t        testing.TB
	claims   *jwt.OperatorClaims
	signer   nkeys.KeyPair
	resolver *server.MemAccResolver
	// System is the system account.
	System *Account
}

// Account is an account of an operator. Its users are signed by its signing key.
type Account struct {
	op     *Operator
	kp     nkeys.KeyPair
	signer nkeys.KeyPair
	// Claims are the account's claims; change them and call Push to apply the change.
	Claims *jwt.AccountClaims
	// Public is the account's public key, its name on the server.
	Public string
}

// User is a user of an account.
type User struct {
	// Name is the user's name in its JWT.
	Name string
	// Public is the user's public key (the JWT subject).
	Public string
	// Creds is the content of the user's .creds file (JWT and seed): a secret.
	Creds []byte
	// JWT is the user JWT and Seed the user's nkey seed (a secret), as in Creds.
	JWT  string
	Seed []byte
}

// Option authenticates a nats.go connection as the user.
func (u User) Option() nats.Option { return nats.UserJWTAndSeed(u.JWT, string(u.Seed)) }

// NewOperator creates an operator named name with a signing key and a system account.
func NewOperator(t testing.TB, name string) *Operator {
	t.Helper()
	kp := must(t, nkeys.CreateOperator)
	signer := must(t, nkeys.CreateOperator)
	claims := jwt.NewOperatorClaims(publicKey(t, kp))
	claims.Name = name
	claims.SigningKeys.Add(publicKey(t, signer))
	o := &Operator{t: t, claims: claims, signer: signer, resolver: &server.MemAccResolver{}}
	o.System = o.NewAccount("SYS", false)
	claims.SystemAccount = o.System.Public
	if _, err := claims.Encode(kp); err != nil { // validates the claims
		t.Fatalf("operator JWT: %v", err)
	}
	return o
}

// NewAccount creates an account named name, signed by the operator's signing key and
// stored in its resolver. With jetstream it may use JetStream without limits.
func (o *Operator) NewAccount(name string, jetstream bool) *Account {
	o.t.Helper()
	kp := must(o.t, nkeys.CreateAccount)
	signer := must(o.t, nkeys.CreateAccount)
	a := &Account{op: o, kp: kp, signer: signer, Public: publicKey(o.t, kp)}
	a.Claims = jwt.NewAccountClaims(a.Public)
	a.Claims.Name = name
	a.Claims.SigningKeys.Add(publicKey(o.t, signer))
	if jetstream {
		a.Claims.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	}
	a.store()
	return a
}

// Configure makes a server trust the operator and resolve its accounts from memory, with
// its system account. Use it as natsembed.Options.Configure.
func (o *Operator) Configure(opts *server.Options) {
	opts.TrustedOperators = []*jwt.OperatorClaims{o.claims}
	opts.AccountResolver = o.resolver
	opts.SystemAccount = o.System.Public
}

// StartServer starts an embedded server (natsembed) for t trusting the operator, with
// JetStream in a temporary directory and a client listener on a free loopback port, and
// stops it when t ends.
func (o *Operator) StartServer(t testing.TB, name string) *server.Server {
	t.Helper()
	s, err := natsembed.Start(natsembed.Options{Name: name, StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Configure: o.Configure})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { natsembed.Stop(s) })
	return s
}

// NewUser creates a user of the account, signed by the account's signing key.
func (a *Account) NewUser(name string) User {
	a.op.t.Helper()
	kp := must(a.op.t, nkeys.CreateUser)
	pub := publicKey(a.op.t, kp)
	uc := jwt.NewUserClaims(pub)
	uc.Name = name
	uc.IssuerAccount = a.Public
	tok, err := uc.Encode(a.signer)
	if err != nil {
		a.op.t.Fatalf("user JWT %s: %v", name, err)
	}
	seed, err := kp.Seed()
	if err != nil {
		a.op.t.Fatal(err)
	}
	creds, err := jwt.FormatUserConfig(tok, seed)
	if err != nil {
		a.op.t.Fatal(err)
	}
	return User{Name: name, Public: pub, Creds: creds, JWT: tok, Seed: seed}
}

// Revoke revokes the user's JWTs issued until now; Push applies it to a server.
func (a *Account) Revoke(u User) { a.Claims.Revoke(u.Public) }

// Push re-signs the account's claims, stores them in the resolver and applies them to
// the running server s: connections of revoked users are closed.
func (a *Account) Push(s *server.Server) {
	a.op.t.Helper()
	a.store()
	acc, err := s.LookupAccount(a.Public)
	if err != nil {
		a.op.t.Fatalf("account %s: %v", a.Claims.Name, err)
	}
	s.UpdateAccountClaims(acc, a.Claims)
}

func (a *Account) store() {
	a.op.t.Helper()
	tok, err := a.Claims.Encode(a.op.signer)
	if err != nil {
		a.op.t.Fatalf("account JWT %s: %v", a.Claims.Name, err)
	}
	if err := a.op.resolver.Store(a.Public, tok); err != nil {
		a.op.t.Fatal(err)
	}
}

func must(t testing.TB, create func() (nkeys.KeyPair, error)) nkeys.KeyPair {
	t.Helper()
	kp, err := create()
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func publicKey(t testing.TB, kp nkeys.KeyPair) string {
	t.Helper()
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}
