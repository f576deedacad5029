package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/daemon"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/natsembed"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/nats-io/nats-server/v2/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// cluster is a hub and the administration nodes of one run: A (NL) publishes, B (BE)
// joins later and receives.
type cluster struct {
	dir      string
	log      *slog.Logger
	hub      *server.Server
	a, b     *member
	beAnchor string
}

// member is a running node and its gRPC clients.
type member struct {
	d     *daemon.Daemon
	conn  *grpc.ClientConn
	node  nodev1.NodeServiceClient
	admin nodev1.AdminServiceClient
}

// startCluster starts the hub and node A. B's keystore is created first so that A can
// be given its anchor, as cixd operators exchange anchor files.
func startCluster(ctx context.Context, dir string, log *slog.Logger) (c *cluster, err error) {
	c = &cluster{dir: dir, log: log}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	c.hub, err = natsembed.Start(natsembed.Options{Name: "cix-bench-hub", StoreDir: filepath.Join(dir, "hub"), Listen: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	beKS, err := trust.OpenDevKeystore(filepath.Join(dir, "B", "keys"), "BE", "b", nil)
	if err != nil {
		return nil, err
	}
	c.beAnchor = beKS.AnchorPath()
	c.a, err = startMember(ctx, nodeConfig("NL", "a", filepath.Join(dir, "A"), c.hub.ClientURL(), c.beAnchor), log)
	if err != nil {
		return nil, fmt.Errorf("start node A: %w", err)
	}
	return c, nil
}

// startB starts node B, which receives everything the hub's alert stream holds.
func (c *cluster) startB(ctx context.Context) error {
	b, err := startMember(ctx, nodeConfig("BE", "b", filepath.Join(c.dir, "B"), c.hub.ClientURL(), c.a.d.AnchorPath()), c.log)
	if err != nil {
		return fmt.Errorf("start node B: %w", err)
	}
	c.b = b
	return nil
}

func nodeConfig(admin, name, dir, hubURL, anchor string) config.Config {
	cfg := config.Default()
	cfg.Administration, cfg.Node, cfg.DataDir = admin, name, dir
	cfg.GRPC.Listen = "127.0.0.1:0"
	cfg.NATS.URLs = []string{hubURL}
	cfg.Trust.Anchors = []string{anchor}
	return cfg
}

func startMember(ctx context.Context, cfg config.Config, log *slog.Logger) (*member, error) {
	d, err := daemon.Start(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	m, err := dial(d.Addr())
	if err != nil {
		_ = d.Stop()
		return nil, err
	}
	m.d = d
	return m, nil
}

func dial(addr string) (*member, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &member{conn: conn, node: nodev1.NewNodeServiceClient(conn), admin: nodev1.NewAdminServiceClient(conn)}, nil
}

func (m *member) stop() error {
	if m == nil {
		return nil
	}
	m.conn.Close()
	if m.d == nil {
		return nil
	}
	return m.d.Stop()
}

// close stops B, A and the hub, in that order, and removes the run's data.
func (c *cluster) close() error {
	errB := c.b.stop()
	errA := c.a.stop()
	if c.hub != nil {
		natsembed.Stop(c.hub)
	}
	_ = os.RemoveAll(c.dir)
	if errB != nil {
		return fmt.Errorf("node B: %w", errB)
	}
	if errA != nil {
		return fmt.Errorf("node A: %w", errA)
	}
	return nil
}

// feedCount returns how many alerts the node's feed holds and how many messages it
// quarantined.
func (m *member) feedCount(ctx context.Context) (feed, quarantined uint64, err error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := m.admin.GetNodeInfo(cctx, &nodev1.GetNodeInfoRequest{})
	if err != nil {
		return 0, 0, err
	}
	return info.GetFeedAlerts(), info.GetQuarantined(), nil
}

// waitFeed polls the node until its feed holds want alerts and returns when it did. A
// quarantined message fails: every generated alert is valid. It fails when the feed
// makes no progress for stallTimeout.
func (m *member) waitFeed(ctx context.Context, want uint64) (time.Time, error) {
	var last uint64
	lastChange := time.Now()
	for {
		n, q, err := m.feedCount(ctx)
		now := time.Now()
		if err != nil {
			return now, fmt.Errorf("node info: %w", err)
		}
		if q > 0 {
			return now, fmt.Errorf("%d alerts quarantined (see the node's log)", q)
		}
		if n >= want {
			return now, nil
		}
		if n != last {
			last, lastChange = n, now
		} else if now.Sub(lastChange) > stallTimeout {
			return now, fmt.Errorf("feed stalled at %d of %d alerts for %v", n, want, stallTimeout)
		}
		select {
		case <-ctx.Done():
			return now, ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// stallTimeout is how long a wait may see no progress before the bench gives up.
const stallTimeout = 60 * time.Second

// pollInterval is how often node counters are polled while waiting; it bounds the
// error of the polled durations (catch-up takes seconds) and keeps the polling's own
// cost small.
const pollInterval = 25 * time.Millisecond

// waitIndexed polls the node until its search index has read its feed up to the feed's
// newest position and returns when it had. The index follows the feed on its own (and
// yields while the receiver is behind), so a phase that ends when the feed is complete
// may leave indexing to the next phase; waiting here charges it to the phase that caused
// it. It fails when the index makes no progress for stallTimeout; a node with the index
// disabled returns at once.
func (m *member) waitIndexed(ctx context.Context) (time.Time, error) {
	idx := m.d.Index()
	if idx == nil {
		return time.Now(), nil
	}
	last, err := m.d.Node().FeedLast(ctx)
	if err != nil {
		return time.Now(), err
	}
	var seen uint64
	lastChange := time.Now()
	for {
		c, now := idx.Cursor(), time.Now()
		if c >= last {
			return now, nil
		}
		if c != seen {
			seen, lastChange = c, now
		} else if now.Sub(lastChange) > stallTimeout {
			return now, fmt.Errorf("index stalled at feed position %d of %d for %v", c, last, stallTimeout)
		}
		select {
		case <-ctx.Done():
			return now, ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}
