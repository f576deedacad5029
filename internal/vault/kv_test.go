package vault_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/vault"
)

func TestNATSCreds(t *testing.T) {
	e := newEnv(t)
	node := nodes[0]
	_, err := vault.ReadNATSCreds(ctx(t), e.srv.Client, node)
	if err == nil || !strings.Contains(err.Error(), vault.NodeCredsKV(node)) {
		t.Fatalf("read credentials that were never written: %v, want an error naming %s", err, vault.NodeCredsKV(node))
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

	// The callback accepts every version except those whose content says "bad".
	var mu sync.Mutex
	var seen []vault.NATSCreds
	w := vault.NewCredsWatcher(c, node, got.Version, 20*time.Millisecond, testLog(t), func(_ context.Context, nc vault.NATSCreds) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, nc)
		if strings.Contains(string(nc.Creds), "bad") {
			return errors.New("not a creds file")
		}
		return nil
	})
	if st := w.Status(); st.Version != v1 || st.Err != "" {
		t.Fatalf("initial status %+v", st)
	}
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	write := func(content string) int {
		t.Helper()
		v, err := vault.WriteNATSCreds(ctx(t), e.srv.Client, node, []byte(content))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// status waits for the watcher to have offered n versions and to report want.
	status := func(what string, n int, want func(vault.CredsStatus) bool) {
		t.Helper()
		waitFor(t, 10*time.Second, what, func() error {
			mu.Lock()
			defer mu.Unlock()
			if st := w.Status(); len(seen) != n || !want(st) {
				return fmt.Errorf("offered %d versions, status %+v", len(seen), st)
			}
			return nil
		})
	}

	v2 := write("-----BEGIN NATS USER JWT-----\nv2\n")
	status("rotation to v2", 1, func(st vault.CredsStatus) bool {
		return st.Version == v2 && st.Rotations == 1 && st.Err == ""
	})
	mu.Lock()
	if seen[0].Version != v2 || string(seen[0].Creds) != "-----BEGIN NATS USER JWT-----\nv2\n" {
		t.Errorf("offered %+v", seen[0])
	}
	mu.Unlock()

	// A refused version leaves v2 in use and is reported until a good one comes.
	v3 := write("bad")
	status("v3 refused", 2, func(st vault.CredsStatus) bool {
		return st.Version == v2 && strings.Contains(st.Err, fmt.Sprintf("version %d refused: not a creds file", v3))
	})
	v4 := write("-----BEGIN NATS USER JWT-----\nv4\n")
	status("rotation to v4", 3, func(st vault.CredsStatus) bool {
		return st.Version == v4 && st.Rotations == 2 && st.Err == ""
	})

	// A failing read (the latest version deleted) is reported, then clears with the next
	// version; nothing is offered meanwhile.
	if err := e.srv.Client.KVv2(vault.KVMount).Delete(ctx(t), vault.NodeCredsPath(node)); err != nil {
		t.Fatal(err)
	}
	status("deleted version reported", 3, func(st vault.CredsStatus) bool {
		return st.Version == v4 && strings.Contains(st.Err, vault.NodeCredsKV(node))
	})
	v5 := write("-----BEGIN NATS USER JWT-----\nv5\n")
	status("rotation to v5", 4, func(st vault.CredsStatus) bool {
		return st.Version == v5 && st.Err == ""
	})
}
