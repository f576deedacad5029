package bus_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/natsembed/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

const trimManifest = `
federation: cix-test
members:
  - code: NL
    name: Douane Nederland
    nodes: [nl-1]
  - code: BE
    name: Douane België
    nodes: [be-1]
    domain: belgium
groups:
  - name: benelux
    members: [NL, BE]
`

var trimKinds = []string{"seizure", "risk", bus.NoticeKind}

// openFederatedBus opens NL's bus on the federation layout, on one server without a hub:
// the inbound stream sources NL's own outbound stream (BE's sources never connect).
func openFederatedBus(t *testing.T) (*bus.Bus, jetstream.JetStream) {
	t.Helper()
	m, err := federation.Parse([]byte(trimManifest))
	if err != nil {
		t.Fatal(err)
	}
	nc, js := natstest.JetStream(t)
	b, err := bus.Open(context.Background(), nc, bus.Config{Federation: m, Administration: "NL"})
	if err != nil {
		t.Fatal(err)
	}
	return b, js
}

// inboundSubjects lists the inbound stream's messages as subjects, in stream order.
func inboundSubjects(t *testing.T, ctx context.Context, js jetstream.JetStream) []string {
	t.Helper()
	st, err := js.Stream(ctx, federation.InboundStream("NL"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue // removed
		}
		out = append(out, m.Subject)
	}
	return out
}

// waitInbound polls until the inbound stream holds n messages.
func waitInbound(t *testing.T, ctx context.Context, js jetstream.JetStream, n uint64) {
	t.Helper()
	st, err := js.Stream(ctx, federation.InboundStream("NL"))
	if err != nil {
		t.Fatal(err)
	}
	var held uint64
	for {
		info, err := st.Info(ctx)
		if err == nil {
			if held = info.State.Msgs; held == n {
				return
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("inbound stream: want %d messages, holds %d (%v)", n, held, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ack fetches n messages of the ingest consumer and acknowledges the last (AckAll).
func ack(t *testing.T, ctx context.Context, c jetstream.Consumer, n int) {
	t.Helper()
	var last jetstream.Msg
	for got := 0; got < n; {
		batch, err := c.Fetch(n-got, jetstream.FetchContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			last = m
			got++
		}
		if err := batch.Error(); err != nil && ctx.Err() != nil {
			t.Fatal(err)
		}
	}
	if err := last.DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestTrimInbound(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, js := openFederatedBus(t)
	n1, err := b.Consumer(ctx, bus.IngestConsumerPrefix+"NL_nl_1")
	if err != nil {
		t.Fatal(err)
	}
	pub := func(subject string) {
		t.Helper()
		if _, err := b.Publish(ctx, subject, subject, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// Messages other services read: never trimmed.
	keep := []string{
		federation.OutboundSubject("NL", federation.AllMembers(), "directory", "v1"),
		federation.OutboundSubject("NL", federation.ToMember("BE"), bus.AckKind, "n1"),
		federation.OutboundSubject("NL", federation.AllMembers(), "revocation", "r1"),
	}
	for _, s := range keep {
		pub(s)
	}
	var alerts []string
	for i := range 40 {
		var s string
		switch i % 4 {
		case 0, 1:
			s = federation.OutboundSubject("NL", federation.AllMembers(), "seizure", fmt.Sprintf("a%02d", i))
		case 2:
			s = federation.OutboundSubject("NL", federation.ToGroup("benelux"), "risk", fmt.Sprintf("a%02d", i))
		case 3:
			s = federation.OutboundSubject("NL", federation.ToMember("BE"), bus.NoticeKind, fmt.Sprintf("a%02d", i))
		}
		alerts = append(alerts, s)
		pub(s)
	}
	waitInbound(t, ctx, js, uint64(len(keep)+len(alerts)))

	// Nothing acknowledged: nothing removed.
	if n, err := b.TrimInbound(ctx, trimKinds); err != nil || n != 0 {
		t.Fatalf("trim before any acknowledgement: %d removed, %v", n, err)
	}
	// The three kept messages and 20 alerts acknowledged by the one node: those 20 go.
	ack(t, ctx, n1, len(keep)+20)
	n, err := b.TrimInbound(ctx, trimKinds)
	if err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(keep), alerts[20:]...)
	if got := inboundSubjects(t, ctx, js); n != 20 || !slices.Equal(got, want) {
		t.Fatalf("after acknowledging 20 alerts: %d removed, inbound holds\n%v\nwant\n%v", n, got, want)
	}

	// A second node's consumer, behind the first: the lowest floor decides.
	n2, err := b.Consumer(ctx, bus.IngestConsumerPrefix+"NL_nl_2")
	if err != nil {
		t.Fatal(err)
	}
	ack(t, ctx, n1, 10)
	if n, err := b.TrimInbound(ctx, trimKinds); err != nil || n != 0 {
		t.Fatalf("trim with a second consumer that acknowledged nothing: %d removed, %v", n, err)
	}
	ack(t, ctx, n2, len(keep)+5) // the 3 kept and alerts 20..24
	if _, err := b.TrimInbound(ctx, trimKinds); err != nil {
		t.Fatal(err)
	}
	want = append(slices.Clone(keep), alerts[25:]...)
	if got := inboundSubjects(t, ctx, js); !slices.Equal(got, want) {
		t.Fatalf("with a second consumer at alert 25: inbound holds\n%v\nwant\n%v", got, want)
	}

	// Everything acknowledged: the source's last message stays.
	ack(t, ctx, n1, 10)
	ack(t, ctx, n2, 15)
	if _, err := b.TrimInbound(ctx, trimKinds); err != nil {
		t.Fatal(err)
	}
	want = append(slices.Clone(keep), alerts[len(alerts)-1])
	if got := inboundSubjects(t, ctx, js); !slices.Equal(got, want) {
		t.Fatalf("all acknowledged: inbound holds\n%v\nwant\n%v", got, want)
	}

	// The source removed and added back resumes after that message: a new alert
	// arrives once, and nothing is sourced again.
	if err := b.RestartSources(ctx, []string{bus.SourceKey(federation.OutboundStream("NL"), "")}); err != nil {
		t.Fatal(err)
	}
	next := federation.OutboundSubject("NL", federation.AllMembers(), "seizure", "b00")
	pub(next)
	waitInbound(t, ctx, js, uint64(len(want)+1))
	want = append(want, next)
	if got := inboundSubjects(t, ctx, js); !slices.Equal(got, want) {
		t.Fatalf("after restarting the source: inbound holds\n%v\nwant\n%v", got, want)
	}
}

func TestTrimInboundWithoutIngestConsumer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, js := openFederatedBus(t)
	for i := range 5 {
		s := federation.OutboundSubject("NL", federation.AllMembers(), "seizure", fmt.Sprintf("a%d", i))
		if _, err := b.Publish(ctx, s, s, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	waitInbound(t, ctx, js, 5)
	if n, err := b.TrimInbound(ctx, trimKinds); err != nil || n != 0 {
		t.Fatalf("trim without an ingest consumer: %d removed, %v", n, err)
	}
	if got := inboundSubjects(t, ctx, js); len(got) != 5 {
		t.Fatalf("inbound holds %v, want all 5", got)
	}
}

// A node of an earlier version created its inbound stream without OptStartSeq on its
// sources; opening the bus updates them, keeps what the stream holds, and the source
// goes on from where it was (nothing sourced twice).
func TestOpenUpdatesInboundSourcesOfAnEarlierVersion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := federation.Parse([]byte(trimManifest))
	if err != nil {
		t.Fatal(err)
	}
	nc, js := natstest.JetStream(t)
	cfg := bus.Config{Federation: m, Administration: "NL"}
	b, err := bus.Open(ctx, nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, federation.InboundStream("NL"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := info.Config
	for _, s := range old.Sources {
		s.OptStartSeq = 0
	}
	if _, err := js.UpdateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	pub := func(b *bus.Bus, id string) {
		t.Helper()
		s := federation.OutboundSubject("NL", federation.AllMembers(), "seizure", id)
		if _, err := b.Publish(ctx, s, s, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		pub(b, fmt.Sprintf("a%d", i))
	}
	waitInbound(t, ctx, js, 3)
	b2, err := bus.Open(ctx, nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if info, err = st.Info(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range info.Config.Sources {
		if s.OptStartSeq != 1 {
			t.Errorf("source %s %s: OptStartSeq %d after the update, want 1", s.Name, s.FilterSubject, s.OptStartSeq)
		}
	}
	pub(b2, "a3")
	waitInbound(t, ctx, js, 4)
	want := []string{"a0", "a1", "a2", "a3"}
	for i, s := range inboundSubjects(t, ctx, js) {
		if _, _, _, id, _ := federation.ParseOutboundSubject(s); i >= len(want) || id != want[i] {
			t.Fatalf("inbound stream after the update: %v", inboundSubjects(t, ctx, js))
		}
	}
}
