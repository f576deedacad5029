package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/metrics"
	"github.com/nats-io/nats.go"
)

// Sources of the inbound stream (federation layout). nats-server sets up a source's
// consumer in the origin's domain with a request that waits 30 s for its answer
// (stream.go, trySetupSourceConsumer, srcConsumerWaitTime); a request sent while the
// hub is away, or before the hub routes the new scope, is lost, and the source then
// waits out the 30 s and a backoff (10 s after the first failure) before asking again,
// while nothing arrives. The node watches its sources and, when one has heard nothing
// from its origin for sourceStallAfter while the leaf is connected to the hub, removes
// it and adds it back (bus.RestartSources), which sets up its consumer at once from
// where it stopped. At most once per sourceRestartEvery per source.
//
// A source that has never heard from its origin (nats-server reports its activity as
// -1: a new member's or a new scope's source, or every source of a node started while
// the hub was away) counts as stalled once the hub has been reachable for
// sourceNeverHeardAfter and it has still heard nothing.
const (
	// sourceStallAfter: longer than nats-server's own source health check (10 s).
	sourceStallAfter      = 20 * time.Second
	sourceNeverHeardAfter = 10 * time.Second
	sourceRestartEvery    = 45 * time.Second
)

// sourceRestartsOff is set in tests that measure nats-server's own recovery
// (SetSourceRestarts); on by default.
var sourceRestartsOff atomic.Bool

// registerSources adds the per-source gauges of the inbound stream.
func (o *observer) registerSources(m *metrics.Metrics) {
	if o.d.manifest == nil {
		return
	}
	gauge := func(f func(s sourceRow) float64) func() map[string]float64 {
		return func() map[string]float64 {
			o.mu.Lock()
			defer o.mu.Unlock()
			out := map[string]float64{}
			for _, s := range o.sources {
				out[s.Key] = f(sourceRow{s.Lag, s.Inactive})
			}
			return out
		}
	}
	m.GaugeMap("cix_source_lag_messages", "Messages of another member's outbound stream (per source of the inbound stream: stream and scope filter) not received yet, as of the source's last contact; sampled every 5s.",
		"source", gauge(func(s sourceRow) float64 { return float64(s.lag) }))
	m.GaugeMap("cix_source_inactive_seconds", "Seconds since a source of the inbound stream last heard from its origin (messages or heartbeats, every second while it runs), -1 if it never did; sampled every 5s.",
		"source", gauge(func(s sourceRow) float64 {
			if s.inactive < 0 {
				return -1
			}
			return s.inactive.Seconds()
		}))
	m.Counter("cix_source_restarts_total", "Sources of the inbound stream the node restarted because they heard nothing while the hub was reachable.", func() float64 {
		return float64(o.restarts.Load())
	})
}

type sourceRow struct {
	lag      uint64
	inactive time.Duration
}

// hubReachable reports whether the node's leaf is connected to the hub, as far as the
// node can tell: with the embedded leaf, its leaf connection; with an external one, the
// node's own connection (the leaf's is not visible to it).
func (d *Daemon) hubReachable() bool {
	if d.nc.Status() != nats.CONNECTED {
		return false
	}
	if d.ns != nil {
		return d.ns.NumLeafNodes() > 0
	}
	return true
}

// sampleSources reads the inbound stream's sources and restarts the stalled ones.
func (o *observer) sampleSources(ctx context.Context) {
	d := o.d
	if d.manifest == nil || d.bus == nil || d.nc.Status() != nats.CONNECTED {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, probeTimeout)
	srcs, err := d.bus.Sources(sctx)
	cancel()
	if err != nil {
		d.log.Debug("sources of the inbound stream", "err", err)
		return
	}
	now := time.Now()
	reachable := d.hubReachable()
	var stalled []string
	o.mu.Lock()
	o.sources = srcs
	if o.nudged == nil {
		o.nudged = map[string]time.Time{}
	}
	switch {
	case !reachable:
		o.hubUpSince = time.Time{}
	case o.hubUpSince.IsZero():
		o.hubUpSince = now
	}
	if !sourceRestartsOff.Load() && reachable {
		for _, s := range srcs {
			silent := s.Inactive > sourceStallAfter ||
				(s.Inactive < 0 && now.Sub(o.hubUpSince) >= sourceNeverHeardAfter)
			if s.External && silent && now.Sub(o.nudged[s.Key]) > sourceRestartEvery {
				stalled = append(stalled, s.Key)
				o.nudged[s.Key] = now
			}
		}
	}
	o.mu.Unlock()
	if len(stalled) == 0 {
		return
	}
	slices.Sort(stalled)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.bus.RestartSources(rctx, stalled); err != nil {
		d.log.Warn("restarting stalled sources of the inbound stream", "sources", strings.Join(stalled, ", "), "err", err)
		return
	}
	o.restarts.Add(int64(len(stalled)))
	d.log.Info("restarted stalled sources of the inbound stream", "sources", strings.Join(stalled, ", "), "after", sourceStallAfter.String())
}

// sourcesDetail is the sources' part of GetHealth: each source's lag and inactivity.
func sourcesDetail(srcs []bus.SourceState) (string, bool) {
	var parts []string
	stalled := false
	for _, s := range srcs {
		p := fmt.Sprintf("%s: lag %d, last active %s ago", s.Key, s.Lag, s.Inactive.Round(time.Second))
		if s.Inactive < 0 {
			p = fmt.Sprintf("%s: lag %d, never heard from its origin", s.Key, s.Lag)
		}
		if s.Err != "" {
			p += ", error " + s.Err
		}
		if s.External && s.Inactive > sourceStallAfter {
			stalled = true
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; "), stalled
}
