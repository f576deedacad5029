package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/daemon"
	"github.com/cix-exchange/cix/internal/envelope"
	envelopev1 "github.com/cix-exchange/cix/internal/gen/cix/envelope/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/natsembed"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// demoNode is the node name of every administration in a loopback federation.
const demoNode = "demo"

// federation is a cix federation inside this process, on loopback only: one embedded
// NATS server standing for the federation's servers, and one node per administration
// started as cixd starts it, each trusting the others' anchors. The demo and the tests
// use it.
type federation struct {
	dir   string
	ns    *server.Server
	nodes []*fedNode
}

// fedNode is a running node with a gRPC client connection to it.
type fedNode struct {
	admin  string
	d      *daemon.Daemon
	conn   *grpc.ClientConn
	node   nodev1.NodeServiceClient
	adm    nodev1.AdminServiceClient
	anchor string // PEM file of the administration's trust anchor
}

// startFederation starts the server and the nodes of admins with their data under dir.
// Each node's keystore is created first, so that every anchor path is known before any
// node starts. On error, whatever started is stopped.
func startFederation(ctx context.Context, dir string, admins []string, log *slog.Logger) (f *federation, err error) {
	f = &federation{dir: dir}
	defer func() {
		if err != nil {
			_ = f.stop()
		}
	}()
	f.ns, err = natsembed.Start(natsembed.Options{
		Name: "cix-federation", StoreDir: filepath.Join(dir, "nats"), Listen: "127.0.0.1:0",
	})
	if err != nil {
		return nil, err
	}
	anchors := make(map[string]string, len(admins))
	for _, a := range admins {
		ks, err := trust.OpenDevKeystore(filepath.Join(dir, a, "keys"), a, demoNode, nil)
		if err != nil {
			return nil, err
		}
		anchors[a] = ks.AnchorPath()
	}
	for _, a := range admins {
		cfg := config.Default()
		cfg.Administration, cfg.Node, cfg.DataDir = a, demoNode, filepath.Join(dir, a)
		cfg.GRPC.Listen = "127.0.0.1:0"
		cfg.NATS.URLs = []string{f.ns.ClientURL()}
		cfg.Log.Level = "warn"
		for _, o := range admins {
			if o != a {
				cfg.Trust.Anchors = append(cfg.Trust.Anchors, anchors[o])
			}
		}
		d, err := daemon.Start(ctx, cfg, log.With("node", a+"/"+demoNode))
		if err != nil {
			return nil, fmt.Errorf("start node %s: %w", a, err)
		}
		n := &fedNode{admin: a, d: d, anchor: anchors[a]}
		f.nodes = append(f.nodes, n)
		if n.conn, err = dial(d.Addr(), tlsFiles{}); err != nil {
			return nil, err
		}
		n.node, n.adm = nodev1.NewNodeServiceClient(n.conn), nodev1.NewAdminServiceClient(n.conn)
	}
	return f, nil
}

// stop closes the clients, stops the nodes in reverse order, then the server.
func (f *federation) stop() error {
	var errs []error
	for i := len(f.nodes) - 1; i >= 0; i-- {
		n := f.nodes[i]
		if n.conn != nil {
			_ = n.conn.Close()
		}
		if err := n.d.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", n.admin, err))
		}
	}
	f.nodes = nil
	if f.ns != nil {
		natsembed.Stop(f.ns)
		f.ns = nil
	}
	return errors.Join(errs...)
}

// publishTampered flips one bit in the payload of a copy of env and publishes the
// result straight into the federation's alert stream, as a new alert of origin and kind,
// bypassing every node. It returns the subject. Receiving nodes must quarantine it.
func publishTampered(ctx context.Context, natsURL string, env *envelopev1.Envelope, origin, kind string) (string, error) {
	t := proto.Clone(env).(*envelopev1.Envelope)
	if len(t.Payload) == 0 {
		return "", errors.New("tamper: empty payload")
	}
	t.Payload[len(t.Payload)/2] ^= 0x01
	raw, err := envelope.Marshal(t)
	if err != nil {
		return "", err
	}
	nc, err := nats.Connect(natsURL, nats.Name("cix demo tamperer"))
	if err != nil {
		return "", fmt.Errorf("tamper: connect to %s: %w", natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return "", fmt.Errorf("tamper: %w", err)
	}
	subject := bus.AlertSubject(origin, kind, uuid.NewString())
	if _, err := js.Publish(ctx, subject, raw, jetstream.WithExpectStream(bus.AlertsStream)); err != nil {
		return "", fmt.Errorf("tamper: publish on %s: %w", subject, err)
	}
	return subject, nil
}

// findQuarantined returns the quarantined message received on subject, or nil.
func findQuarantined(ctx context.Context, client nodev1.AdminServiceClient, subject string) (*nodev1.QuarantinedMessage, error) {
	res, err := listQuarantine(ctx, client, 1000)
	if err != nil {
		return nil, err
	}
	for _, m := range res.GetMessages() {
		if m.GetSubject() == subject {
			return m, nil
		}
	}
	return nil, nil
}

// poll calls cond every 50ms until it reports true, fails, or timeout passes; what
// says what was still missing.
func poll(ctx context.Context, timeout time.Duration, what func() string, cond func(ctx context.Context) (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		cctx, cancel := context.WithDeadline(ctx, deadline)
		ok, err := cond(cctx)
		cancel()
		switch {
		case ok:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case time.Now().After(deadline):
			if err != nil {
				return fmt.Errorf("timed out after %v waiting for %s: %w", timeout, what(), err)
			}
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
