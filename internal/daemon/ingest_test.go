package daemon_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/daemon"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
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

// TestFeedWriteFailureAcknowledgesNothingUnstored: the pipelined receiver acknowledges
// a batch only after its feed writes succeeded. While the feed cannot store (its byte
// limit reached), the alerts delivered to the ingest consumer stay unacknowledged
// (the ack floor stays at the last stored alert); once space is back, the failed batch
// is written again and everything is stored once and acknowledged.
func TestFeedWriteFailureAcknowledgesNothingUnstored(t *testing.T) {
	cfg := nodeConfig(t, "NL", nil, nil)
	if _, err := trust.OpenDevKeystore(cfg.KeystoreDir(), "NL", cfg.Node, nil); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	d, err := daemon.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	conn, err := grpc.NewClient(d.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	nl := &testNode{d: d, cfg: cfg, conn: conn, client: nodev1.NewNodeServiceClient(conn)}
	ctx := context.Background()
	js := jsOf(t, nl)
	fst, err := js.Stream(ctx, "CIX_FEED_NL_N1")
	if err != nil {
		t.Fatal(err)
	}
	feedMsgs := func() uint64 {
		info, err := fst.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	first := publish(t, nl, newAlert("NL"))
	eventually(t, wait, "the first alert in the feed", func() bool { return feedMsgs() == 1 })
	cons, err := js.Consumer(ctx, bus.AlertsStream, "ingest_NL_n1") // the receiver has created it
	if err != nil {
		t.Fatal(err)
	}

	lift := fillStream(t, js, fst)
	for range 5 {
		publish(t, nl, newAlert("NL"))
	}
	eventually(t, wait, "a failed feed write", func() bool {
		return strings.Contains(logs.String(), "storing ingest batch failed")
	})
	ci, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ci.AckFloor.Stream != first.GetSequence() || ci.NumAckPending == 0 {
		t.Fatalf("feed full: ack floor %d (want %d, the last stored alert), %d pending", ci.AckFloor.Stream, first.GetSequence(), ci.NumAckPending)
	}
	if n := feedMsgs(); n != 1 {
		t.Fatalf("feed full: %d alerts in the feed", n)
	}

	lift()
	eventually(t, wait, "the failed batch stored and acknowledged", func() bool {
		ci, err := cons.Info(ctx)
		return err == nil && feedMsgs() == 6 && ci.AckFloor.Stream == first.GetSequence()+5 && ci.NumAckPending == 0
	})
}
