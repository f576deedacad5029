package natsauthtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/natsembed/natsauthtest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func connect(url string, u natsauthtest.User, opts ...nats.Option) (*nats.Conn, error) {
	return nats.Connect(url, append(opts, u.Option(), nats.NoReconnect())...)
}

// TestChain: users of a JetStream account connect and use JetStream; a revoked user is
// disconnected once the account is pushed and refused afterwards; a user of another
// operator is refused.
func TestChain(t *testing.T) {
	op := natsauthtest.NewOperator(t, "test")
	acct := op.NewAccount("A", true)
	alice, bob := acct.NewUser("alice"), acct.NewUser("bob")
	s := op.StartServer(t, "auth-test")

	nc, err := connect(s.ClientURL(), alice)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatalf("JetStream in the account: %v", err)
	}

	closed := make(chan struct{})
	nb, err := connect(s.ClientURL(), bob, nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()
	acct.Revoke(bob)
	acct.Push(s)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("revoked user still connected")
	}
	if nb, err := connect(s.ClientURL(), bob); err == nil {
		nb.Close()
		t.Fatal("revoked user connected")
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Fatalf("other user of the account after the push: %v", err)
	}

	stranger := natsauthtest.NewOperator(t, "other").NewAccount("A", true).NewUser("mallory")
	if nm, err := connect(s.ClientURL(), stranger); err == nil {
		nm.Close()
		t.Fatal("user of another operator connected")
	}
}
