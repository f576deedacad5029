package daemon_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/envelope"
	fed "github.com/cix-exchange/cix/internal/federation"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestFederatedRecallAndReclassification: on the federation layout NL recalls a
// benelux alert and an all-members alert and reclassifies the all-members one. Each
// notice travels in the scopes of its alert: BE stops delivering both, DE never had the
// group alert and stops delivering the all-members one, the reclassification reaches
// both, and NL lists BE's and DE's signed acknowledgements. A notice NL signs on a scope its alert was not sent to is quarantined
// (audience_mismatch) by a member that holds the alert.
func TestFederatedRecallAndReclassification(t *testing.T) {
	f := startFedNet(t)
	nl, be, de := f.node("NL"), f.node("BE"), f.node("DE")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	group := publish(t, nl, alertFor(&alertv1.Audience{Groups: []string{"benelux"}})).Id
	all := publish(t, nl, alertFor(nil)).Id
	for _, n := range []*testNode{nl, be} {
		eventually(t, wait, n.cfg.Administration+" holds both alerts", func() bool { return held(n, group) && held(n, all) })
	}
	eventually(t, wait, "DE holds the all-members alert", func() bool { return held(de, all) })

	// Reclassify the all-members alert; it propagates to every member.
	rc := reclassify(t, nl, all, alertv1.Tlp_TLP_GREEN, alertv1.HandlingCode_HANDLING_CODE_H1)
	for _, n := range []*testNode{nl, be, de} {
		eventually(t, wait, n.cfg.Administration+" applies the reclassification", func() bool {
			g := get(t, n, all)
			return g.GetReclassified().GetId() == rc.GetId() && g.GetHandling().GetTlp() == alertv1.Tlp_TLP_GREEN
		})
	}

	// Widening: a notice signed by NL about the benelux alert, published on the
	// all-members scope, is refused by BE, which holds the alert.
	ks, err := trust.OpenDevKeystore(filepath.Join(f.dir, "NL", "keys"), "NL", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	wide := &alertv1.AlertNotice{
		Id: uuid.NewString(), AlertId: group, Origin: &alertv1.Origin{Administration: "NL", Node: "n1"},
		IssuedAt: timestamppb.Now(),
		Action:   &alertv1.AlertNotice_Recall{Recall: &alertv1.Recall{Reason: "widened", Code: alertv1.RecallReason_RECALL_REASON_OTHER}},
	}
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(wide)
	if err != nil {
		t.Fatal(err)
	}
	wideSubject := fed.OutboundSubject("NL", fed.AllMembers(), bus.NoticeKind, wide.GetId())
	f.injectOut("NL", wideSubject, signedBy(t, ks, envelope.PayloadTypeNotice, payload))
	quarantinedAt(t, be, wideSubject, nodev1.QuarantineReason_QUARANTINE_REASON_AUDIENCE_MISMATCH)
	if g := get(t, be, group); g.GetRecalled() != nil {
		t.Fatalf("BE applied a notice on a scope its alert was not sent to: %v", g.GetRecalled())
	}

	// Recall both.
	rg := recall(t, nl, group, "benelux only")
	ra := recall(t, nl, all, "everyone")
	for _, n := range []*testNode{nl, be} {
		eventually(t, wait, n.cfg.Administration+" shows both recalled", func() bool {
			return get(t, n, group).GetRecalled().GetId() == rg.GetId() && get(t, n, all).GetRecalled().GetId() == ra.GetId()
		})
	}
	eventually(t, wait, "DE shows the all-members alert recalled", func() bool {
		return get(t, de, all).GetRecalled().GetId() == ra.GetId()
	})
	if _, err := de.client.Get(ctx, &nodev1.GetRequest{Id: group}); status.Code(err) != codes.NotFound {
		t.Errorf("DE Get of the benelux alert: %v, want NotFound", err)
	}
	// Neither is delivered any more from the start.
	for _, n := range []*testNode{be, de} {
		alerts, _ := history(t, n, nil)
		for _, id := range alerts {
			if id == group || id == all {
				t.Errorf("%s still delivers recalled alert %s", n.cfg.Administration, id)
			}
		}
	}
	// Each receiver's signed acknowledgement comes back to NL in its bilateral scope.
	applied := alertv1.NoticeOutcome_NOTICE_OUTCOME_APPLIED
	ofAll := append(ackLines(ra.GetId(), applied, "BE", "DE"), ackLines(rc.GetId(), applied, "BE", "DE")...)
	slices.Sort(ofAll)
	// The first message in a bilateral scope travels through a source that may still be
	// waiting for its consumer on the other leaf (nats-server retries consumer creation
	// after a 30 s timeout; docs/transport.md): a longer deadline.
	start := time.Now()
	var got []string
	eventually(t, time.Minute, "acknowledgements of BE and DE at NL", func() bool {
		got = acks(t, nl, &nodev1.ListAcknowledgementsRequest{AlertId: all})
		return slices.Equal(got, ofAll)
	})
	t.Logf("acknowledgements listed at NL %v after the recall", time.Since(start).Round(time.Millisecond))
	waitAcks(t, nl, &nodev1.ListAcknowledgementsRequest{NoticeId: rg.GetId()}, ackLines(rg.GetId(), applied, "BE"))
	waitAcks(t, nl, &nodev1.ListAcknowledgementsRequest{NoticeId: ra.GetId()}, ackLines(ra.GetId(), applied, "BE", "DE"))
	// A retry with the same notice id stores nothing new.
	again, err := nl.client.Recall(ctx, &nodev1.RecallRequest{AlertId: group, NoticeId: rg.GetId(), Reason: "benelux only"})
	if err != nil || !again.GetDuplicate() {
		t.Errorf("retried recall: %v %v, want duplicate", again, err)
	}
}
