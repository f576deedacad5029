package assist

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/natsembed/natstest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestNextWaitOverBeforeFetch: a wait that is over before the fetch is sent (a loaded
// machine can deschedule the consumer between the two) is a timeout like any other, not
// a consumer failure; nats.go refuses such a fetch as an invalid option.
func TestNextWaitOverBeforeFetch(t *testing.T) {
	_, js := natstest.JetStream(t)
	ctx := context.Background()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "NEXT", Subjects: []string{"next.>"}})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := next(ctx, cons, -time.Second); !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("wait over before the fetch: got %v, want nats.ErrTimeout", err)
	}
	if _, err := next(ctx, cons, 50*time.Millisecond); !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("empty stream: got %v, want nats.ErrTimeout", err)
	}
	if _, err := js.Publish(ctx, "next.1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	m, err := next(ctx, cons, 5*time.Second)
	if err != nil || string(m.Data()) != "x" {
		t.Fatalf("next with a message waiting: %v, %v", m, err)
	}
	stopped, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := next(stopped, cons, time.Second); errors.Is(err, nats.ErrTimeout) || err == nil {
		t.Fatalf("stopped context: got %v, want an error other than a timeout", err)
	}
}
