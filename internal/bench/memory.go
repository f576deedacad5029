package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/cix-exchange/cix/internal/config"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/nats-io/nats-server/v2/server"
	"google.golang.org/protobuf/proto"
)

// memResult is one run of the memory scenario.
type memResult struct {
	base      uint64 // RSS before publishing
	half      uint64 // RSS with the first half stored
	rss, peak uint64 // RSS and peak RSS with all stored
	heapInuse uint64 // Go heap in use when rss was read
	goHeld    uint64 // what the Go runtime holds from the system then (Sys - HeapReleased)
	halfLive  uint64 // live Go heap with the first half stored
	live      uint64 // live Go heap with all stored
}

// memoryRun starts a node process (in federation mode with the hub of a manifest of NL
// and BE running in this process, the node's leaf server connected to it; B never
// starts), publishes n alerts to it over PublishStream in two halves (encoded as they are sent, to keep the bench's own memory flat), waits each
// time until the node has them in its own feed as well, and reads its resident memory.
// The growth between the halves is the marginal memory per alert, free of the fixed
// costs the first alerts bring (buffers, caches, connections).
func (b *bencher) memoryRun(ctx context.Context, dir string, src *alertSource, n int, heapProfile string) (memResult, error) {
	var r memResult
	nodeDir := filepath.Join(dir, "A")
	cfg := config.Default()
	cfg.Administration, cfg.Node, cfg.DataDir = "NL", "a", nodeDir
	cfg.GRPC.Listen, cfg.NATS.EmbeddedListen = "127.0.0.1:0", "127.0.0.1:0"
	env := b.opt.nodeEnv
	var hub *server.Server
	if b.opt.mode == modeFederation {
		fed, err := benchFederation(filepath.Join(dir, "federation"))
		if err != nil {
			return r, err
		}
		if _, err := fed.WriteDevIdentity("NL", filepath.Join(nodeDir, "keys")); err != nil {
			return r, err
		}
		if err := fed.StartHub(); err != nil {
			return r, err
		}
		defer fed.StopHub()
		hub = fed.Hub
		cfg = fed.NodeConfig("NL", nodeDir)
		// The seed goes to the node's environment only.
		seed, err := fed.SeedEnviron("NL")
		if err != nil {
			return r, err
		}
		env = append(slices.Clone(env), seed)
	}
	cfg.Log.Level = b.nodeLogLevel() // with -v the memory it returns when idle shows
	p, err := startNodeProcess(ctx, cfg, env, b.stderr)
	if err != nil {
		return r, err
	}
	defer p.stop()
	if _, err := p.waitFeed(ctx, 0); err != nil {
		return r, err
	}
	if hub != nil {
		// The base includes the leaf connection, which also shows that the node runs in
		// federation mode.
		if err := waitLeaves(ctx, hub, 1); err != nil {
			return r, err
		}
	}
	if r.base, _, err = p.proc.rss(); err != nil {
		return r, err
	}
	half := n / 2
	for _, part := range []int{half, n - half} {
		var encErr error
		_, err = publishStream(ctx, p.node, part, func(int) []byte {
			b, err := proto.Marshal(&nodev1.PublishStreamRequest{Alert: src.next()})
			if err != nil && encErr == nil {
				encErr = err
			}
			return b
		}, 0, nil, nil)
		if err != nil {
			return r, err
		}
		if encErr != nil {
			return r, encErr
		}
		if _, err := p.waitFeed(ctx, uint64(src.n)); err != nil {
			return r, err
		}
		if err := sleep(ctx, b.opt.settle); err != nil {
			return r, err
		}
		if r.rss, r.peak, err = p.proc.rss(); err != nil {
			return r, err
		}
		gm, err := p.proc.goMem()
		if err != nil {
			return r, fmt.Errorf("node process memory statistics: %w", err)
		}
		r.heapInuse, r.live, r.goHeld = gm.HeapInuse, gm.HeapLive, gm.Sys-gm.HeapReleased
		if r.half == 0 {
			r.half, r.halfLive = r.rss, r.live
		}
	}
	if heapProfile != "" {
		if _, err := p.proc.command("heap " + heapProfile); err != nil {
			return r, fmt.Errorf("heap profile: %w", err)
		}
	}
	if err := p.stop(); err != nil {
		return r, fmt.Errorf("node process: %w", err)
	}
	return r, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// nodeLogLevel is the log level of the nodes: warnings, and with -v their info lines.
func (b *bencher) nodeLogLevel() string {
	if b.opt.verbose {
		return "info"
	}
	return "warn"
}
