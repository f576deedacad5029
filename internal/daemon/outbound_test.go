package daemon_test

import (
	"context"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/config"
	fed "github.com/cix-exchange/cix/internal/federation"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestFederatedAlertsShareASubject: the outbound stream holds the alerts of one scope and
// kind on one subject (cix.out.<ORIGIN>.<scope>.<kind>._), the id in the message id
// only; receivers read them; a repeat is never delivered twice: the node answers a
// publish of an id it holds as a duplicate, within the duplicate window and after it,
// and stores nothing; a raw re-publish by a client of the origin's account after the
// window is stored again and transported, and every receiver's feed drops it.
func TestFederatedAlertsShareASubject(t *testing.T) {
	const window = time.Second
	f := startFedNet(t, withConfig(func(_ string, c *config.Config) { c.NATS.DuplicateWindow = config.Duration(window) }))
	nl, be := f.node("NL"), f.node("BE")
	sub := subscribe(t, be, &nodev1.SubscribeRequest{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
	defer cancel()

	var ids []string
	for range 5 {
		ids = append(ids, publish(t, nl, alertFor(nil)).Id)
	}
	for range 2 {
		ids = append(ids, publish(t, nl, alertFor(&alertv1.Audience{Groups: []string{"benelux"}})).Id)
	}
	receivedSet(t, "BE", sub, ids...)

	js, err := jetstream.New(f.rawConn("NL"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := js.Stream(ctx, fed.OutboundStream("NL"))
	if err != nil {
		t.Fatal(err)
	}
	allSubject, groupSubject := fed.OutboundAlertSubject("NL", fed.AllMembers(), "risk"), fed.OutboundAlertSubject("NL", fed.ToGroup("benelux"), "risk")
	alertsOn := func() map[string]uint64 {
		t.Helper()
		info, err := out.Info(ctx, jetstream.WithSubjectFilter("cix.out.NL.>"))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]uint64{}
		for s, n := range info.State.Subjects {
			if _, _, kind, _, err := fed.ParseOutboundSubject(s); err == nil && (kind == "risk" || kind == "seizure") {
				got[s] = n
			}
		}
		return got
	}
	if got := alertsOn(); len(got) != 2 || got[allSubject] != 5 || got[groupSubject] != 2 {
		t.Fatalf("NL's outbound stream holds alerts on %v, want 5 on %s and 2 on %s", got, allSubject, groupSubject)
	}
	// Each alert is found by its message id, its bytes are what BE received.
	first, err := be.client.Get(ctx, &nodev1.GetRequest{Id: ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	m := outboundAlert(t, out, fed.OutboundSubject("NL", fed.AllMembers(), "risk", ids[0]))

	t.Run("a publish of a held id is a duplicate, within the window and after it", func(t *testing.T) {
		again := alertFor(nil)
		again.Id = ids[0]
		r := publish(t, nl, again)
		if !r.GetDuplicate() {
			t.Fatalf("publish again within the window: %v, want duplicate", r)
		}
		// Past the duplicate window: the stream no longer knows the message id.
		time.Sleep(window + 500*time.Millisecond)
		r = publish(t, nl, again)
		if !r.GetDuplicate() || r.GetId() != ids[0] {
			t.Fatalf("publish again after the window: %v, want duplicate", r)
		}
		if got := alertsOn(); got[allSubject] != 5 {
			t.Fatalf("NL's outbound stream holds %d alerts for all members after the repeats, want 5", got[allSubject])
		}
	})

	t.Run("a raw re-publish after the window is transported, not delivered twice", func(t *testing.T) {
		time.Sleep(window + 500*time.Millisecond)
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data}); err != nil {
			t.Fatal(err)
		}
		if got := alertsOn(); got[allSubject] != 6 {
			t.Fatalf("NL's outbound stream holds %d alerts for all members after the raw repeat, want 6", got[allSubject])
		}
		end := publish(t, nl, alertFor(nil)).Id
		for _, a := range sub.untilID(t, end, wait) {
			if a.GetAlert().GetId() != end {
				t.Fatalf("BE delivered %s again before %s", a.GetAlert().GetId(), end)
			}
		}
		r, err := be.client.Get(ctx, &nodev1.GetRequest{Id: ids[0]})
		if err != nil || r.GetAlert().GetCursor() != first.GetAlert().GetCursor() {
			t.Fatalf("BE's Get after the replay: cursor %v (%v), want %s", r.GetAlert().GetCursor(), err, first.GetAlert().GetCursor())
		}
		q, err := be.admin.ListQuarantine(ctx, &nodev1.ListQuarantineRequest{})
		if err != nil || len(q.GetMessages()) != 0 {
			t.Fatalf("BE quarantined %d messages (%v)", len(q.GetMessages()), err)
		}
	})

	t.Run("a refused alert is quarantined with its message id", func(t *testing.T) {
		env := mustEnvelope(t, m.Data)
		env.Payload[len(env.Payload)/2] ^= 1
		msgID := fed.OutboundSubject("NL", fed.AllMembers(), "risk", uuid.NewString())
		if _, err := js.Publish(ctx, allSubject, remarshal(t, env), jetstream.WithMsgID(msgID)); err != nil {
			t.Fatal(err)
		}
		eventually(t, wait, "BE quarantines the tampered alert with its message id", func() bool {
			for _, q := range quarantined(t, be) {
				if q.GetMessageId() == msgID {
					return q.GetSubject() == allSubject && q.GetReason() == nodev1.QuarantineReason_QUARANTINE_REASON_BAD_SIGNATURE
				}
			}
			return false
		})
	})
}
