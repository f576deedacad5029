package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/natsembed/natstest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestOutboundAlertsShareASubject: on the federation layout the alerts of a scope and
// kind share one subject of the outbound stream and are told apart by their message id;
// a message with its id in the subject (a notice) is still stored once, also after the
// duplicate window; an outbound stream of an earlier version (one message per subject)
// is reconfigured in place at Open and keeps its messages.
func TestOutboundAlertsShareASubject(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := federation.Parse([]byte(trimManifest))
	if err != nil {
		t.Fatal(err)
	}
	nc, js := natstest.JetStream(t)
	const window = 200 * time.Millisecond
	cfg := bus.Config{Federation: m, Administration: "NL", DuplicateWindow: window}

	// The outbound stream as an earlier version made it, with an alert on its own subject.
	old, err := federation.OutboundStreamConfig(m, "NL", federation.StreamOptions{DuplicateWindow: window})
	if err != nil {
		t.Fatal(err)
	}
	old.MaxMsgsPerSubject, old.DiscardNewPerSubject = 1, true
	if _, err := js.CreateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	earlier := federation.OutboundSubject("NL", federation.AllMembers(), "seizure", "a0")
	if _, err := js.Publish(ctx, earlier, []byte("a0"), jetstream.WithMsgID(earlier)); err != nil {
		t.Fatal(err)
	}

	b, err := bus.Open(ctx, nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, federation.OutboundStream("NL"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxMsgsPerSubject > 0 || info.Config.DiscardNewPerSubject || info.State.Msgs != 1 {
		t.Fatalf("outbound stream after Open: %d per subject, discard new per subject %v, %d messages; want no limit and the earlier message",
			info.Config.MaxMsgsPerSubject, info.Config.DiscardNewPerSubject, info.State.Msgs)
	}

	subject := federation.OutboundAlertSubject("NL", federation.AllMembers(), "seizure")
	a1, err := b.Publish(ctx, subject, "a1", []byte("a1"))
	if err != nil || a1.Duplicate {
		t.Fatalf("a1: %+v %v", a1, err)
	}
	a2, err := b.Wait(ctx, b.PublishAsync(subject, "a2", []byte("a2")))
	if err != nil || a2.Duplicate || a2.Sequence == a1.Sequence {
		t.Fatalf("a2: %+v %v (a1 at %d)", a2, err, a1.Sequence)
	}
	if again, err := b.Publish(ctx, subject, "a1", []byte("a1")); err != nil || !again.Duplicate || again.Sequence != a1.Sequence {
		t.Fatalf("a1 again within the window: %+v %v, want a duplicate at %d", again, err, a1.Sequence)
	}
	got, err := st.GetMsg(ctx, a2.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != subject || got.Header.Get(jetstream.MsgIDHeader) != federation.OutboundSubject("NL", federation.AllMembers(), "seizure", "a2") {
		t.Fatalf("a2 stored on %s with message id %q", got.Subject, got.Header.Get(jetstream.MsgIDHeader))
	}

	notice := federation.OutboundSubject("NL", federation.AllMembers(), bus.NoticeKind, "n1")
	n1, err := b.Publish(ctx, notice, "n1", []byte("n1"))
	if err != nil || n1.Duplicate {
		t.Fatalf("n1: %+v %v", n1, err)
	}
	time.Sleep(window + 100*time.Millisecond) // past the duplicate window
	late, err := b.Publish(ctx, notice, "n1", []byte("n1"))
	if err != nil || !late.Duplicate || late.Sequence != n1.Sequence {
		t.Fatalf("n1 after the window: %+v %v, want a duplicate at %d", late, err, n1.Sequence)
	}
	// A raw repeat asking for an empty subject is refused; one without is stored.
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: notice, Data: []byte("n1")}, jetstream.WithExpectLastSequencePerSubject(0)); !bus.IsSubjectTaken(err) {
		t.Fatalf("raw repeat of n1 expecting an empty subject: %v, want the subject taken", err)
	}
	if _, err := js.Publish(ctx, notice, []byte("n1")); err != nil {
		t.Fatalf("raw repeat of n1: %v", err)
	}
	if info, err = st.Info(ctx, jetstream.WithSubjectFilter("cix.out.NL.>")); err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{earlier: 1, subject: 2, notice: 2}
	if len(info.State.Subjects) != len(want) {
		t.Fatalf("outbound subjects %v, want %v", info.State.Subjects, want)
	}
	for s, n := range want {
		if info.State.Subjects[s] != n {
			t.Fatalf("outbound subjects %v, want %v", info.State.Subjects, want)
		}
	}
}
