package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/daemon"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/natsembed/natsauthtest"
	"github.com/cix-exchange/cix/internal/synth"
	"github.com/cix-exchange/cix/internal/vault"
	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// natsUser is the user the node's connection (named "cixd <ADMIN>/<node>") is
// authenticated as on s, "" if it has none, and how many such connections there are.
func natsUser(t *testing.T, s *server.Server, n *testNode) (user string, conns int) {
	t.Helper()
	cz, err := s.Connz(&server.ConnzOptions{Username: true, Limit: 1024})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cz.Conns {
		if c.Name == "cixd "+n.cfg.Administration+"/"+n.cfg.Node {
			user, conns = c.AuthorizedUser, conns+1
		}
	}
	return user, conns
}

// publisher publishes generated alerts at a node one after the other until stopped,
// retrying each with the same id while the node answers Unavailable (as a client must:
// the stream deduplicates by id).
type publisher struct {
	mu   sync.Mutex
	ids  []string
	stop chan struct{}
	done chan error
}

func startPublisher(n *testNode) *publisher {
	p := &publisher{stop: make(chan struct{}), done: make(chan error, 1)}
	gen := synth.New(11, n.cfg.Administration)
	go func() {
		for {
			select {
			case <-p.stop:
				p.done <- nil
				return
			default:
			}
			a := gen.Next()
			if a.GetSupersedes() != "" {
				continue
			}
			a.Id = uuid.NewString()
			if err := publishRetrying(n, a); err != nil {
				p.done <- err
				return
			}
			p.mu.Lock()
			p.ids = append(p.ids, a.GetId())
			p.mu.Unlock()
		}
	}()
	return p
}

func publishRetrying(n *testNode, a *alertv1.Alert) error {
	deadline := time.Now().Add(wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		_, err := n.client.Publish(ctx, &nodev1.PublishRequest{Alert: a})
		cancel()
		if err == nil {
			return nil
		}
		if status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
			return fmt.Errorf("publish %s: %w", a.GetId(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// published is how many alerts have been acknowledged so far.
func (p *publisher) published() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ids)
}

// finish stops the publisher and returns the ids it published.
func (p *publisher) finish(t *testing.T) []string {
	t.Helper()
	close(p.stop)
	if err := <-p.done; err != nil {
		t.Fatal(err)
	}
	return p.ids
}

// TestNATSCredsFromVault: a node on the vault keystore joins a NATS server in operator
// mode (decentralized auth) with the user credentials it reads from its Vault KV secret.
// Rotating the secret makes it reconnect as the new user without a restart, while
// alerts published throughout are all stored and delivered once. Credentials the servers
// refuse, or of another account, are refused and reported; the node carries on with the
// credentials in use. No credentials reach the node's disk.
func TestNATSCredsFromVault(t *testing.T) {
	op := natsauthtest.NewOperator(t, "cix-test")
	acct := op.NewAccount("CIX", true)
	u1, u2 := acct.NewUser("nl-n1-1"), acct.NewUser("nl-n1-2")
	ns := op.StartServer(t, "cix-hub")

	va := startVault(t, "NL")
	v := va.srv
	ctx := context.Background()
	writeCreds := func(creds []byte) int {
		t.Helper()
		version, err := vault.WriteNATSCreds(ctx, v.Client, "n1", creds)
		if err != nil {
			t.Fatal(err)
		}
		return version
	}
	v1 := writeCreds(u1.Creds)
	nl := va.startNode(t, []string{ns.ClientURL()}, nil, plaintextGRPC, func(c *config.Config) {
		c.NATS.CredentialsPoll = config.Duration(50 * time.Millisecond)
	})
	if nl.cfg.NATSCredentials() != config.NATSCredsVault {
		t.Fatalf("credentials source %q, want vault by default", nl.cfg.NATSCredentials())
	}
	if user, n := natsUser(t, ns, nl); user != u1.Public || n != 1 {
		t.Fatalf("node connected as %q (%d connections), want user 1 %s", user, n, u1.Public)
	}
	info := func() *nodev1.GetNodeInfoResponse {
		t.Helper()
		info, err := nl.admin.GetNodeInfo(ctx, &nodev1.GetNodeInfoRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	if i := info(); i.GetNatsCredentialsState() != "ok" || i.GetNatsCredentialsVersion() != uint64(v1) {
		t.Fatalf("node info before rotation: %v", i)
	}

	sub := subscribe(t, nl, &nodev1.SubscribeRequest{})
	if ev := sub.next(t, wait); ev.GetCaughtUp() == nil { // the subscription starts before any publish
		t.Fatalf("first event of an empty feed is %v, want caught_up", ev)
	}
	pub := startPublisher(nl)
	eventually(t, wait, "alerts published before the rotation", func() bool { return pub.published() >= 5 })

	v2 := writeCreds(u2.Creds)
	eventually(t, wait, "the node reconnected as user 2", func() bool {
		user, n := natsUser(t, ns, nl)
		return user == u2.Public && n == 1
	})
	eventually(t, wait, "node info reports version 2", func() bool {
		i := info()
		return i.GetNatsCredentialsVersion() == uint64(v2) && i.GetNatsCredentialsState() == "ok"
	})
	after := pub.published()
	eventually(t, wait, "alerts published after the rotation", func() bool { return pub.published() >= after+5 })
	ids := pub.finish(t)

	// User 1 no longer matters: revoking it leaves the node connected as user 2.
	acct.Revoke(u1)
	acct.Push(ns)
	last := sentinel(t, nl)
	got := sub.untilID(t, last, wait)
	seen := make(map[string]int, len(got))
	for _, a := range got {
		seen[a.GetAlert().GetId()]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			_, gerr := nl.client.Get(ctx, &nodev1.GetRequest{Id: id})
			t.Errorf("alert %s delivered %d times, want once (in the feed: %v)", id, seen[id], gerr == nil)
		}
	}
	if len(got) != len(ids) {
		t.Errorf("%d alerts delivered, %d published", len(got), len(ids))
	}
	t.Logf("%d alerts published across the rotation (%d before it), each delivered once", len(ids), after)

	// Refused rotations: the revoked user 1, then a user of another account.
	refused := func(what string, creds []byte, reason string) {
		t.Helper()
		version := writeCreds(creds)
		eventually(t, wait, what+" reported", func() bool {
			i := info()
			return i.GetNatsCredentialsState() == "degraded" && i.GetNatsCredentialsVersion() == uint64(v2) &&
				strings.Contains(i.GetNatsCredentialsDetail(), fmt.Sprintf("version %d refused", version)) &&
				strings.Contains(i.GetNatsCredentialsDetail(), reason)
		})
		if user, n := natsUser(t, ns, nl); user != u2.Public || n != 1 {
			t.Fatalf("after %s the node is connected as %q (%d connections), want user 2", what, user, n)
		}
		sentinel(t, nl)
	}
	refused("revoked user", u1.Creds, "the NATS servers refuse user "+u1.Public)
	refused("user of another account", op.NewAccount("OTHER", true).NewUser("x").Creds, "is in account")

	// Nothing of the credentials was written under the node's data directory.
	for _, u := range []natsauthtest.User{u1, u2} {
		err := filepath.WalkDir(nl.cfg.DataDir, func(path string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err == nil && bytes.Contains(b, u.Seed) {
				return fmt.Errorf("%s holds the seed of %s", path, u.Name)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestNATSCredsMissingInVault: a node whose KV secret is missing, or lacks the creds
// field, does not start, and the error names the secret.
func TestNATSCredsMissingInVault(t *testing.T) {
	op := natsauthtest.NewOperator(t, "cix-test")
	ns := op.StartServer(t, "cix-hub")
	va := startVault(t, "NL")
	v := va.srv
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		secret map[string]any
		want   string
	}{
		{"missing secret", nil, "kv-cix/nodes/n1/nats"},
		{"wrong field", map[string]any{"cred": "x"}, `kv-cix/nodes/n1/nats: field "creds" empty or missing`},
		{"not a creds file", map[string]any{"creds": "x"}, "NATS credentials in Vault KV kv-cix/nodes/n1/nats (version 2): user JWT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.secret != nil {
				if _, err := v.Client.KVv2(vault.KVMount).Put(ctx, vault.NodeCredsPath("n1"), tc.secret); err != nil {
					t.Fatal(err)
				}
			}
			d, err := daemon.Start(ctx, nodeConfig(t, "NL", []string{ns.ClientURL()}, nil, va.vaultNode(t), plaintextGRPC), testLog(t))
			if err == nil {
				_ = d.Stop()
				t.Fatal("node started without NATS credentials")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want mention of %q", err, tc.want)
			}
			t.Logf("start refused: %v", err)
		})
	}
}
