package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/daemon"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/localfed"
	"github.com/cix-exchange/cix/internal/natsembed"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/nats-io/nats-server/v2/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Modes of the cluster.
const (
	// modeFederation: the hub runs the configuration federation.HubConfig generates for
	// a manifest of NL and BE, and each node runs its embedded leaf server of the hub
	// (docs/transport.md, "Federation topology"): A publishes into CIX_OUT_NL on its own
	// leaf, B reads CIX_IN_BE on its own, sourced across the hub.
	modeFederation = "federation"
	// modeShared: the older layout, one embedded server whose stream CIX_ALERTS both
	// nodes share as clients.
	modeShared = "shared"
)

// Where the nodes run.
const (
	// nodesProcess: each node is its own process, as deployed; the hub and the client
	// stay in the bench's process.
	nodesProcess = "process"
	// nodesInProcess: the nodes run in the bench's process, beside the hub and the
	// client, sharing one Go runtime (its scheduler and garbage collector).
	nodesInProcess = "inprocess"
)

// clusterOptions say how to lay out a cluster.
type clusterOptions struct {
	mode   string // modeFederation or modeShared
	nodes  string // nodesProcess or nodesInProcess
	log    *slog.Logger
	stderr io.Writer // node processes' standard error
	// logLevel is the node processes' log level.
	logLevel string
	// env is added to the node processes' environment.
	env []string
}

// cluster is a hub and the administration nodes of one run: A (NL) publishes, B (BE)
// joins later and receives.
type cluster struct {
	dir string
	opt clusterOptions
	hub *server.Server
	// fed is the federation in federation mode, nil in shared mode.
	fed              *localfed.Federation
	a, b             *member
	aAnchor, bAnchor string
	// prof is what node processes profile in the current phase (none when zero).
	prof profiling
}

// member is a running node and its gRPC clients.
type member struct {
	name string // A or B
	// The node: in this process (d) or its own (proc).
	d     *daemon.Daemon
	proc  *nodeProcess
	conn  *grpc.ClientConn
	node  nodev1.NodeServiceClient
	admin nodev1.AdminServiceClient
}

// benchFederation prepares, under dir, the manifest of the bench's federation: NL with
// node a, BE with node b, each with a leaf nkey and an age recipient. It starts nothing.
func benchFederation(dir string) (*localfed.Federation, error) {
	return localfed.New(localfed.Options{
		Dir: dir, Name: "cix-bench", HubName: "cix-bench-hub", Members: []string{"NL", "BE"},
		Nodes: map[string]string{"NL": "a", "BE": "b"}, SeedEnvPrefix: "CIXBENCH_LEAF_SEED_",
	})
}

// startCluster starts the hub and node A. Both keystores are created first so that each
// node can be given the other's anchor, as operators exchange anchor files.
func startCluster(ctx context.Context, dir string, opt clusterOptions) (c *cluster, err error) {
	c = &cluster{dir: dir, opt: opt}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	aKeys, bKeys := filepath.Join(dir, "A", "keys"), filepath.Join(dir, "B", "keys")
	if opt.mode == modeFederation {
		if c.fed, err = benchFederation(filepath.Join(dir, "federation")); err != nil {
			return nil, err
		}
		if c.aAnchor, err = c.fed.WriteDevIdentity("NL", aKeys); err != nil {
			return nil, err
		}
		if c.bAnchor, err = c.fed.WriteDevIdentity("BE", bKeys); err != nil {
			return nil, err
		}
		if err = c.fed.StartHub(); err != nil {
			return nil, err
		}
		c.hub = c.fed.Hub
	} else {
		c.hub, err = natsembed.Start(natsembed.Options{Name: "cix-bench-hub", StoreDir: filepath.Join(dir, "hub"), Listen: "127.0.0.1:0"})
		if err != nil {
			return nil, err
		}
		for _, k := range []struct {
			admin, node, dir string
			anchor           *string
		}{{"NL", "a", aKeys, &c.aAnchor}, {"BE", "b", bKeys, &c.bAnchor}} {
			ks, err := trust.OpenDevKeystore(k.dir, k.admin, k.node, nil)
			if err != nil {
				return nil, err
			}
			*k.anchor = ks.AnchorPath()
		}
	}
	c.a, err = c.startNode(ctx, "NL", "A", c.bAnchor)
	if err != nil {
		return nil, fmt.Errorf("start node A: %w", err)
	}
	return c, nil
}

// startB starts node B, which receives everything A published: from the hub's alert
// stream in shared mode, through its inbound stream's source of NL's all-members scope
// in federation mode.
func (c *cluster) startB(ctx context.Context) error {
	b, err := c.startNode(ctx, "BE", "B", c.aAnchor)
	if err != nil {
		return fmt.Errorf("start node B: %w", err)
	}
	c.b = b
	return nil
}

// startNode starts the node of admin, member name of the run, under the run's
// directory, trusting the other administration's anchor: in this process or as its
// own, per the cluster's options. A node process started during a profiled phase
// starts its profiles at once.
func (c *cluster) startNode(ctx context.Context, admin, name, anchor string) (*member, error) {
	dir := filepath.Join(c.dir, name)
	var cfg config.Config
	if c.fed != nil {
		cfg = c.fed.NodeConfig(admin, dir)
	} else {
		cfg = config.Default()
		cfg.Administration, cfg.Node, cfg.DataDir = admin, strings.ToLower(name), dir
		cfg.GRPC.Listen = "127.0.0.1:0"
		cfg.NATS.URLs = []string{c.hub.ClientURL()}
	}
	cfg.Trust.Anchors = []string{anchor}
	var m *member
	var err error
	if c.opt.nodes == nodesProcess {
		cfg.Log.Level = c.opt.logLevel
		env := slices.Clone(c.opt.env)
		if c.fed != nil {
			// The leaf server's seed goes to the node's environment only.
			seed, err := c.fed.SeedEnviron(admin)
			if err != nil {
				return nil, err
			}
			env = append(env, seed)
		}
		if m, err = startNodeProcess(ctx, cfg, env, c.opt.stderr); err != nil {
			return nil, err
		}
	} else {
		if c.fed != nil {
			// The embedded leaf server reads its seed from the environment while it starts.
			unset, err := c.fed.SetSeedEnv(admin)
			if err != nil {
				return nil, err
			}
			defer unset()
		}
		if m, err = startMember(ctx, cfg, c.opt.log); err != nil {
			return nil, err
		}
	}
	m.name = name
	if err := m.startProfiles(c.prof); err != nil {
		_ = m.stop()
		return nil, err
	}
	return m, nil
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
	switch {
	case m.proc != nil:
		return m.proc.stop()
	case m.d != nil:
		return m.d.Stop()
	}
	return nil
}

// members are the cluster's running nodes.
func (c *cluster) members() []*member {
	var ms []*member
	for _, m := range []*member{c.a, c.b} {
		if m != nil {
			ms = append(ms, m)
		}
	}
	return ms
}

// usage is what this process and the node processes used so far. A node process whose
// figures cannot be read has exited; the phase fails on that anyway.
func (c *cluster) usage() usage {
	u := usage{cpu: processCPU(), nodes: c.opt.nodes == nodesProcess}
	for _, m := range c.members() {
		if m.proc == nil {
			continue
		}
		cpu, _ := m.proc.cpu()
		var r runtimeUsage
		_ = m.proc.commandJSON("usage", &r)
		u.cpu += cpu
		u.allocBytes += r.AllocBytes
		u.collections += r.Collections
	}
	return u
}

// startMeter starts measuring a phase.
func (c *cluster) startMeter() meter { return newMeter(c.usage) }

// profiling names the profiles node processes write in a phase: base paths as given
// to --cpuprofile, --trace and --allocprofile (empty: none), extended with the phase
// and the node.
type profiling struct{ phase, cpu, trace, allocs string }

// startProfiles starts the profiles p asks for in the node, if it is a node process.
func (m *member) startProfiles(p profiling) error {
	if m.proc == nil || p.phase == "" {
		return nil
	}
	for _, k := range []struct{ kind, base string }{{"cpu", p.cpu}, {"trace", p.trace}, {"allocs", p.allocs}} {
		if k.base == "" {
			continue
		}
		if _, err := m.proc.command("profile " + k.kind + " " + profilePath(k.base, p.phase, m.name)); err != nil {
			return fmt.Errorf("node %s: %s profile: %w", m.name, k.kind, err)
		}
	}
	return nil
}

// profile makes the node processes, and those that start until stopProfiles, write
// the profiles p names.
func (c *cluster) profile(p profiling) error {
	c.prof = p
	for _, m := range c.members() {
		if err := m.startProfiles(p); err != nil {
			return err
		}
	}
	return nil
}

// stopProfiles ends the node processes' profiles.
func (c *cluster) stopProfiles() error {
	var errs []error
	if c.prof.phase != "" {
		for _, m := range c.members() {
			if m.proc != nil {
				if _, err := m.proc.command("profile stop"); err != nil {
					errs = append(errs, fmt.Errorf("node %s: %w", m.name, err))
				}
			}
		}
	}
	c.prof = profiling{}
	return errors.Join(errs...)
}

// close stops B, A and the hub, in that order, and removes the run's data.
func (c *cluster) close() error {
	errB := c.b.stop()
	errA := c.a.stop()
	if c.fed != nil {
		c.fed.StopHub()
	} else if c.hub != nil {
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
	return pollUntil(ctx, "feed", want, func() (uint64, error) {
		n, q, err := m.feedCount(ctx)
		if err != nil {
			return 0, fmt.Errorf("node info: %w", err)
		}
		if q > 0 {
			return 0, fmt.Errorf("%d alerts quarantined (see the node's log)", q)
		}
		return n, nil
	})
}

// pollUntil reads a counter every pollInterval until it reaches want and returns when it
// did. It fails when read fails or the counter does not move for stallTimeout.
func pollUntil(ctx context.Context, what string, want uint64, read func() (uint64, error)) (time.Time, error) {
	var last uint64
	lastChange := time.Now()
	for {
		n, err := read()
		now := time.Now()
		if err != nil {
			return now, err
		}
		if n >= want {
			return now, nil
		}
		if n != last {
			last, lastChange = n, now
		} else if now.Sub(lastChange) > stallTimeout {
			return now, fmt.Errorf("%s stalled at %d of %d for %v", what, n, want, stallTimeout)
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
	p, err := m.indexPosition(ctx)
	if err != nil || !p.Enabled {
		return time.Now(), err
	}
	return pollUntil(ctx, "index (feed position)", p.FeedLast, func() (uint64, error) {
		p, err := m.indexPosition(ctx)
		return p.Cursor, err
	})
}

// indexPosition reads how far the node's search index has read its feed.
func (m *member) indexPosition(ctx context.Context) (indexPosition, error) {
	var p indexPosition
	if m.proc != nil {
		return p, m.proc.commandJSON("indexed", &p)
	}
	idx := m.d.Index()
	if idx == nil {
		return p, nil
	}
	last, err := m.d.Node().FeedLast(ctx)
	if err != nil {
		return p, err
	}
	return indexPosition{Enabled: true, Cursor: idx.Cursor(), FeedLast: last}, nil
}

// waitLeaves polls the hub until n leaf servers are connected to it. It fails when
// their number does not grow for stallTimeout.
func waitLeaves(ctx context.Context, hub *server.Server, n int) error {
	_, err := pollUntil(ctx, "leaf servers connected to the hub", uint64(n), func() (uint64, error) {
		return uint64(hub.NumLeafNodes()), nil
	})
	return err
}
