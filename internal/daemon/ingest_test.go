package daemon_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/config"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestLostDeliveriesAreReadFromTheStream: alerts the ingest consumer delivered but that
// never reached the node (lost in transit when a connection drops, as on a reconnect)
// are stored anyway, in stream order, and not acknowledged unstored by the cumulative
// acknowledgement of later ones. Here the deliveries are lost on purpose: another
// connection fetches them from BE's durable consumer before BE starts and drops them.
func TestLostDeliveriesAreReadFromTheStream(t *testing.T) {
	beDir := t.TempDir()
	beKS, err := trust.OpenDevKeystore(filepath.Join(beDir, "BE", "keys"), "BE", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	nl := startNode(t, "NL", nil, []string{beKS.AnchorPath()})
	gen := synth.New(5, "NL")
	var ids []string
	for len(ids) < 5 {
		a := gen.Next()
		if a.GetSupersedes() != "" {
			continue
		}
		ids = append(ids, publish(t, nl, a).GetId())
	}

	nc, err := nats.Connect(nl.d.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	def := config.Default().NATS // the stream as the nodes configure it, so Open leaves it unchanged
	b, err := bus.Open(ctx, nc, bus.Config{Replicas: def.Replicas, DuplicateWindow: time.Duration(def.DuplicateWindow)})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := b.Consumer(ctx, "ingest_BE_n1")
	if err != nil {
		t.Fatal(err)
	}
	fetched, err := cons.Fetch(3, jetstream.FetchMaxWait(wait))
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for range fetched.Messages() {
		lost++
	}
	if lost != 3 || fetched.Error() != nil {
		t.Fatalf("fetched %d messages (%v), want 3", lost, fetched.Error())
	}

	be := startNode(t, "BE", []string{nl.d.NATSURL()}, []string{nl.d.AnchorPath()}, func(c *config.Config) {
		c.DataDir = filepath.Join(beDir, "BE")
	})
	// From the earliest alert: BE may have stored some before the subscription starts.
	sub := subscribe(t, be, &nodev1.SubscribeRequest{Start: nodev1.StartPosition_START_POSITION_EARLIEST})
	for i, id := range ids {
		if got := sub.nextAlert(t, wait).GetAlert().GetId(); got != id {
			t.Fatalf("alert %d: got %s, want %s (stream order)", i, got, id)
		}
	}
}
