package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/natsembed/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

func openBus(t *testing.T, cfg bus.Config) (*bus.Bus, jetstream.JetStream) {
	t.Helper()
	nc, js := natstest.JetStream(t)
	b, err := bus.Open(context.Background(), nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b, js
}

func TestPublishIdempotentByID(t *testing.T) {
	b, js := openBus(t, bus.Config{})
	ctx := context.Background()
	subj := bus.AlertSubject("NL", "seizure", "id-1")
	first, err := b.Publish(ctx, subj, "id-1", []byte("a"))
	if err != nil || first.Duplicate {
		t.Fatalf("first %v %v", first, err)
	}
	// Within the duplicate window: the server's msg-id dedup answers.
	again, err := b.Publish(ctx, subj, "id-1", []byte("a"))
	if err != nil || !again.Duplicate || again.Sequence != first.Sequence {
		t.Fatalf("again %v %v", again, err)
	}
	// Outside it (simulated with another msg id): the one-per-subject limit refuses the
	// write and the bus reports the stored sequence.
	if _, err := js.Publish(ctx, subj, []byte("b"), jetstream.WithMsgID("other")); !bus.IsSubjectTaken(err) {
		t.Fatalf("raw second write: %v", err)
	}
	late, err := b.Wait(ctx, b.PublishAsync(subj, "id-1-late", []byte("c")))
	if err != nil || !late.Duplicate || late.Sequence != first.Sequence {
		t.Fatalf("late %v %v", late, err)
	}
	st, _ := js.Stream(ctx, bus.AlertsStream)
	info, _ := st.Info(ctx)
	if info.State.Msgs != 1 {
		t.Fatalf("stream holds %d messages, want 1", info.State.Msgs)
	}
}

func TestPublishUnavailable(t *testing.T) {
	b, _ := openBus(t, bus.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// A subject outside the stream gets no ack: the caller sees ErrUnavailable.
	if _, err := b.Publish(ctx, "cix.nowhere.x", "id", []byte("a")); err == nil {
		t.Fatal("publish outside the stream succeeded")
	}
}

func TestParseAlertSubject(t *testing.T) {
	for _, tc := range []struct {
		in               string
		origin, kind, id string
		ok               bool
	}{
		{"cix.alert.v1.NL.seizure.abc", "NL", "seizure", "abc", true},
		{"cix.alert.v1.NL.risk.0b7c", "NL", "risk", "0b7c", true},
		{"cix.alert.v1.nl.seizure.abc", "", "", "", false},
		{"cix.alert.v1.NLD.seizure.abc", "", "", "", false},
		{"cix.alert.v1.NL.Seizure.abc", "", "", "", false},
		{"cix.alert.v1.NL.seizure", "", "", "", false},
		{"cix.alert.v1.NL.seizure.a.b", "", "", "", false},
		{"cix.alert.v2.NL.seizure.abc", "", "", "", false},
		{"", "", "", "", false},
	} {
		o, k, id, err := bus.ParseAlertSubject(tc.in)
		if (err == nil) != tc.ok || o != tc.origin || k != tc.kind || id != tc.id {
			t.Errorf("ParseAlertSubject(%q) = %q %q %q %v", tc.in, o, k, id, err)
		}
	}
}

// FuzzParseAlertSubject: parsing never panics, and what it accepts round-trips.
func FuzzParseAlertSubject(f *testing.F) {
	f.Add("cix.alert.v1.NL.seizure.0b7c0b7c-0000-4000-8000-000000000000")
	f.Add("cix.alert.v1..seizure.")
	f.Add("cix.alert.v1.NL.risk.a.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		o, k, id, err := bus.ParseAlertSubject(s)
		if err != nil {
			return
		}
		if bus.AlertSubject(o, k, id) != s {
			t.Fatalf("%q parsed as %q %q %q does not round-trip", s, o, k, id)
		}
	})
}

func TestAcksNewestPerNoticeAndReceiver(t *testing.T) {
	b, _ := openBus(t, bus.Config{})
	ctx := context.Background()
	notice := "6f1c1c9e-3b7a-4a57-9a53-0d4f4f1e2a11"
	for _, p := range []struct{ receiver, msgID, data string }{
		{"BE", "1", "be kept"}, {"DE", "2", "de applied"}, {"BE", "3", "be applied"},
		{"BE", "3", "be applied, retried"}, // same msg id: deduplicated
	} {
		if err := b.PublishAck(ctx, bus.AckSubject("NL", p.receiver, notice), p.msgID, []byte(p.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.PublishAck(ctx, bus.AckSubject("BE", "NL", notice), "4", []byte("to BE")); err != nil {
		t.Fatal(err)
	}
	acks, err := b.Acks(ctx, "NL", notice)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range acks {
		got = append(got, a.Subject+"="+string(a.Data))
	}
	want := []string{bus.AckSubject("NL", "BE", notice) + "=be applied", bus.AckSubject("NL", "DE", notice) + "=de applied"}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("acks %v, want %v", got, want)
	}
	if m, err := b.LastAck(ctx, bus.AckSubject("NL", "FR", notice)); m != nil || err != nil {
		t.Fatalf("missing ack: %v %v", m, err)
	}
}

func TestParseAckSubject(t *testing.T) {
	o, r, id, err := bus.ParseAckSubject("cix.ack.v1.NL.BE.abc")
	if err != nil || o != "NL" || r != "BE" || id != "abc" {
		t.Fatalf("%q %q %q %v", o, r, id, err)
	}
	for _, bad := range []string{"cix.ack.v1.NL.BE", "cix.ack.v1.nl.BE.abc", "cix.ack.v1.NL.BEL.abc", "cix.alert.v1.NL.BE.abc", "cix.ack.v1.NL.BE.a.b"} {
		if _, _, _, err := bus.ParseAckSubject(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
