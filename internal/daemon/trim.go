package daemon

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/bus"
)

// inboundTrimEvery is how often the node removes from its inbound stream what it has
// stored (bus.TrimInbound). Small steps keep each purge short: nats-server holds the
// stream's lock while it removes.
const inboundTrimEvery = 2 * time.Second

// inboundTrim removes, every inboundTrimEvery, the alerts and notices every ingest
// consumer has acknowledged from the inbound stream (federation layout). A failure is
// logged once, and its end once; nothing is lost by a missed trim, the next one takes
// it.
type inboundTrim struct {
	d       *Daemon
	removed atomic.Uint64
}

func (t *inboundTrim) register() {
	t.d.metrics.Counter("cix_inbound_trimmed_messages_total",
		"Alerts and notices removed from the inbound stream once every ingest consumer had stored them in its feed (federation layout).",
		func() float64 { return float64(t.removed.Load()) })
}

func (t *inboundTrim) run(ctx context.Context) {
	kinds := append(alert.KindNames(), bus.NoticeKind)
	tick := time.NewTicker(inboundTrimEvery)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := t.d.bus.TrimInbound(rctx, kinds)
		cancel()
		t.removed.Add(n)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				t.d.log.Warn("trim inbound stream", "error", err)
			}
			failing = true
		case failing:
			t.d.log.Info("trim inbound stream: works again")
			failing = false
		}
	}
}
