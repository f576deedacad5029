package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/daemon"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/trust"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// testNode is a node started as cixd starts it, with real gRPC clients.
type testNode struct {
	d      *daemon.Daemon
	cfg    config.Config
	conn   *grpc.ClientConn
	client nodev1.NodeServiceClient
	admin  nodev1.AdminServiceClient
	ks     *trust.DevKeystore // the node's own keystore, opened again for forging tests
}

type nodeOpt func(*config.Config)

// startNode starts a node of admin. With no URLs it runs its own embedded NATS server
// with a loopback listener, as a dev node does; otherwise it joins those servers.
func startNode(t *testing.T, admin string, urls []string, anchors []string, opts ...nodeOpt) *testNode {
	t.Helper()
	cfg := nodeConfig(t, admin, urls, anchors, opts...)
	// The keystore is created before the node so its anchor path is known; the node
	// opens the same one.
	var ks *trust.DevKeystore
	if cfg.Trust.Keystore == "dev" {
		var err error
		if ks, err = trust.OpenDevKeystore(cfg.KeystoreDir(), admin, cfg.Node, nil); err != nil {
			t.Fatal(err)
		}
	}
	d, err := daemon.Start(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatalf("start %s: %v", admin, err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("stop %s: %v", admin, err)
		}
	})
	return dialNode(t, d, cfg, ks)
}

// dialNode connects a gRPC client to a started node (closed at the test's end).
func dialNode(t *testing.T, d *daemon.Daemon, cfg config.Config, ks *trust.DevKeystore) *testNode {
	t.Helper()
	conn, err := grpc.NewClient(d.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &testNode{d: d, cfg: cfg, conn: conn, client: nodev1.NewNodeServiceClient(conn), admin: nodev1.NewAdminServiceClient(conn), ks: ks}
}

// nodeConfig is the configuration startNode starts a node of admin with: node n1, its
// data in a temporary directory, free loopback ports, then opts.
func nodeConfig(t *testing.T, admin string, urls []string, anchors []string, opts ...nodeOpt) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Administration, cfg.Node, cfg.DataDir = admin, "n1", filepath.Join(t.TempDir(), admin)
	cfg.GRPC.Listen = "127.0.0.1:0"
	cfg.NATS.URLs = urls
	cfg.NATS.EmbeddedListen = "127.0.0.1:0"
	cfg.Trust.Anchors = anchors
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// testLog discards logs, or writes them to the test log with -v.
func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// pair starts NL as a dev node with its embedded NATS server and BE joining it, each
// trusting the other's anchor.
func pair(t *testing.T, opts ...nodeOpt) (nl, be *testNode) {
	t.Helper()
	ns := federation(t, opts, "NL", "BE")
	return ns[0], ns[1]
}

// federation starts a node of each administration, the first as a dev node with its
// embedded NATS server and the others joining it, each trusting every other's anchor.
func federation(t *testing.T, opts []nodeOpt, admins ...string) []*testNode {
	t.Helper()
	// The joiners' anchors must exist before the first node starts: create them first.
	dirs, anchors := map[string]string{}, map[string]string{}
	for _, a := range admins[1:] {
		dirs[a] = filepath.Join(t.TempDir(), a)
		ks, err := trust.OpenDevKeystore(filepath.Join(dirs[a], "keys"), a, "n1", nil)
		if err != nil {
			t.Fatal(err)
		}
		anchors[a] = ks.AnchorPath()
	}
	others := func(admin string) []string {
		var out []string
		for _, a := range admins[1:] {
			if a != admin {
				out = append(out, anchors[a])
			}
		}
		return out
	}
	first := startNode(t, admins[0], nil, others(admins[0]), opts...)
	ns := []*testNode{first}
	for _, a := range admins[1:] {
		ns = append(ns, startNode(t, a, []string{first.d.NATSURL()}, append(others(a), first.d.AnchorPath()),
			append(opts, func(c *config.Config) { c.DataDir = dirs[a] })...))
	}
	return ns
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, wait time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", wait, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// subscription collects a Subscribe stream's events in the background.
type subscription struct {
	events chan *nodev1.SubscribeResponse
	cancel context.CancelFunc
	done   chan error
}

func subscribe(t *testing.T, n *testNode, req *nodev1.SubscribeRequest) *subscription {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := n.client.Subscribe(ctx, req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &subscription{events: make(chan *nodev1.SubscribeResponse, 10000), cancel: cancel, done: make(chan error, 1)}
	if req.GetCursor() == "" && req.GetStart() != nodev1.StartPosition_START_POSITION_EARLIEST {
		// A subscription to new alerts starts at the feed's end as the node sees it when
		// the call reaches it, which it marks with CaughtUp: wait for that, or an alert
		// published right after this returns could precede the subscription's start.
		ev, err := stream.Recv()
		if err != nil || ev.GetCaughtUp() == nil {
			cancel()
			t.Fatalf("subscription to new alerts did not start with caught_up: %v %v", ev, err)
		}
		s.events <- ev
	}
	go func() {
		for {
			ev, err := stream.Recv()
			if err != nil {
				s.done <- err
				close(s.events)
				return
			}
			s.events <- ev
		}
	}()
	t.Cleanup(cancel)
	return s
}

// next returns the next event, failing the test after wait.
func (s *subscription) next(t *testing.T, wait time.Duration) *nodev1.SubscribeResponse {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatalf("subscription ended: %v", <-s.done)
		}
		return ev
	case <-time.After(wait):
		t.Fatalf("no event within %v", wait)
		return nil
	}
}

// nextAlert skips CaughtUp markers and returns the next alert event; a gap fails the test.
func (s *subscription) nextAlert(t *testing.T, wait time.Duration) *nodev1.VerifiedAlert {
	t.Helper()
	for {
		ev := s.next(t, wait)
		switch e := ev.Event.(type) {
		case *nodev1.SubscribeResponse_Alert:
			return e.Alert
		case *nodev1.SubscribeResponse_Gap:
			t.Fatalf("unexpected gap %v", e.Gap)
		}
	}
}

// quiet asserts that no alert event arrives before a sentinel with the given id.
func (s *subscription) untilID(t *testing.T, id string, wait time.Duration) []*nodev1.VerifiedAlert {
	t.Helper()
	var got []*nodev1.VerifiedAlert
	for {
		a := s.nextAlert(t, wait)
		if a.GetAlert().GetId() == id {
			return got
		}
		got = append(got, a)
	}
}

func timestamp(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
