package vault_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/vault"
)

func TestNATSCreds(t *testing.T) {
	e := newEnv(t)
	node := nodes[0]
	if _, err := vault.ReadNATSCreds(ctx(t), e.srv.Client, node); err == nil {
		t.Fatal("read credentials that were never written")
	}
	v1, err := vault.WriteNATSCreds(ctx(t), e.srv.Client, node, []byte("-----BEGIN NATS USER JWT-----\nv1\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := e.nodeSession(t, node).Client()
	got, err := vault.ReadNATSCreds(ctx(t), c, node)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != v1 || string(got.Creds) != "-----BEGIN NATS USER JWT-----\nv1\n" {
		t.Fatalf("read %+v", got)
	}

	var mu sync.Mutex
	var seen []vault.NATSCreds
	w := vault.NewCredsWatcher(c, node, got.Version, 20*time.Millisecond, testLog(t), func(_ context.Context, nc vault.NATSCreds) {
		mu.Lock()
		seen = append(seen, nc)
		mu.Unlock()
	})
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	v2, err := vault.WriteNATSCreds(ctx(t), e.srv.Client, node, []byte("-----BEGIN NATS USER JWT-----\nv2\n"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "rotation callback", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 1 || seen[0].Version != v2 || string(seen[0].Creds) != "-----BEGIN NATS USER JWT-----\nv2\n" {
			return fmt.Errorf("seen %d rotations", len(seen))
		}
		return nil
	})
}
