package daemon_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/envelope"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// live subscribes from new alerts and waits until the subscription is live, so that
// what is published next reaches it.
func live(t *testing.T, n *testNode, req *nodev1.SubscribeRequest) *subscription {
	t.Helper()
	s := subscribe(t, n, req)
	if ev := s.next(t, wait); ev.GetCaughtUp() == nil {
		t.Fatalf("first event %v, want caught_up", ev)
	}
	return s
}

// nextNotice returns the next event about a notice, skipping CaughtUp markers; an alert
// or a gap fails the test.
func (s *subscription) nextNotice(t *testing.T) *nodev1.SubscribeResponse {
	t.Helper()
	for {
		ev := s.next(t, wait)
		switch ev.Event.(type) {
		case *nodev1.SubscribeResponse_Recalled, *nodev1.SubscribeResponse_Reclassified:
			return ev
		case *nodev1.SubscribeResponse_CaughtUp:
		default:
			t.Fatalf("event %v, want a recall or reclassification", ev)
		}
	}
}

// history replays n's feed from the start with filter until the caught_up marker and
// returns the ids of the alerts delivered and the notice events.
func history(t *testing.T, n *testNode, filter *nodev1.Filter) (alerts []string, notices []*nodev1.SubscribeResponse) {
	t.Helper()
	s := subscribe(t, n, &nodev1.SubscribeRequest{Filter: filter, Start: nodev1.StartPosition_START_POSITION_EARLIEST})
	defer s.cancel()
	for {
		ev := s.next(t, wait)
		switch e := ev.Event.(type) {
		case *nodev1.SubscribeResponse_CaughtUp:
			return alerts, notices
		case *nodev1.SubscribeResponse_Alert:
			alerts = append(alerts, e.Alert.GetAlert().GetId())
		case *nodev1.SubscribeResponse_Gap:
			t.Fatalf("gap %v", e.Gap)
		default:
			notices = append(notices, ev)
		}
	}
}

func get(t *testing.T, n *testNode, id string) *nodev1.VerifiedAlert {
	t.Helper()
	g, err := n.client.Get(context.Background(), &nodev1.GetRequest{Id: id})
	if err != nil {
		t.Fatalf("get %s at %s: %v", id, n.cfg.Administration, err)
	}
	return g.GetAlert()
}

func held(n *testNode, id string) bool {
	_, err := n.client.Get(context.Background(), &nodev1.GetRequest{Id: id})
	return err == nil
}

func recall(t *testing.T, n *testNode, alertID, reason string) *alertv1.AlertNotice {
	t.Helper()
	r, err := n.client.Recall(context.Background(), &nodev1.RecallRequest{AlertId: alertID, Reason: reason})
	if err != nil || r.GetDuplicate() {
		t.Fatalf("recall %s: %v %v", alertID, r, err)
	}
	return r.GetNotice()
}

func reclassify(t *testing.T, n *testNode, alertID string, tlp alertv1.Tlp, code alertv1.HandlingCode) *alertv1.AlertNotice {
	t.Helper()
	r, err := n.client.Reclassify(context.Background(), &nodev1.ReclassifyRequest{
		AlertId: alertID, Handling: &alertv1.Reclassification{Tlp: tlp, Code: code},
	})
	if err != nil || r.GetDuplicate() {
		t.Fatalf("reclassify %s: %v %v", alertID, r, err)
	}
	return r.GetNotice()
}

// acks lists n's acknowledgements as "notice receiver outcome" lines, sorted.
func acks(t *testing.T, n *testNode, req *nodev1.ListAcknowledgementsRequest) []string {
	t.Helper()
	res, err := n.client.ListAcknowledgements(context.Background(), req)
	if err != nil {
		t.Fatalf("list acknowledgements at %s: %v", n.cfg.Administration, err)
	}
	var out []string
	for _, a := range res.GetAcknowledgements() {
		ack := a.GetAck()
		if a.GetSigner().GetAdministration() != ack.GetReceiverAdministration() || a.GetSigner().GetNode() != ack.GetReceiverNode() ||
			ack.GetOrigin() != n.cfg.Administration || ack.GetAppliedAt() == nil || a.GetStoredAt() == nil {
			t.Fatalf("acknowledgement %v", a)
		}
		out = append(out, fmt.Sprintf("%s %s %s", ack.GetNoticeId(), ack.GetReceiverAdministration(), ack.GetOutcome()))
	}
	slices.Sort(out)
	return out
}

// ackLines are the lines acks returns for notice id acknowledged by receivers.
func ackLines(id string, outcome alertv1.NoticeOutcome, receivers ...string) []string {
	var out []string
	for _, r := range receivers {
		out = append(out, fmt.Sprintf("%s %s %s", id, r, outcome))
	}
	slices.Sort(out)
	return out
}

func waitAcks(t *testing.T, n *testNode, req *nodev1.ListAcknowledgementsRequest, want []string) {
	t.Helper()
	var got []string
	eventually(t, wait, fmt.Sprintf("acknowledgements %v at %s", want, n.cfg.Administration), func() bool {
		got = acks(t, n, req)
		return slices.Equal(got, want)
	})
}

// forgedNotice signs a recall of alertID claiming origin admin with ks, and returns it,
// the subject of admin it would be published on, and its envelope.
func forgedNotice(t *testing.T, ks *trust.DevKeystore, admin, alertID string) (*alertv1.AlertNotice, string, []byte) {
	t.Helper()
	nt := &alertv1.AlertNotice{
		Id: uuid.NewString(), AlertId: alertID, Origin: &alertv1.Origin{Administration: admin, Node: "n1"},
		IssuedAt: timestamppb.Now(),
		Action:   &alertv1.AlertNotice_Recall{Recall: &alertv1.Recall{Reason: "forged", Code: alertv1.RecallReason_RECALL_REASON_OTHER}},
	}
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(nt)
	if err != nil {
		t.Fatal(err)
	}
	return nt, bus.AlertSubject(admin, bus.NoticeKind, nt.GetId()), signedBy(t, ks, envelope.PayloadTypeNotice, payload)
}

// TestRecallPropagatesToThreeNodes: NL recalls an alert; BE and DE stop delivering it
// (a live subscriber gets the recall, a new one from the start does not get the alert),
// Get shows it recalled, and NL lists their signed acknowledgements. Retrying the
// recall with the same notice id stores one notice.
func TestRecallPropagatesToThreeNodes(t *testing.T) {
	ns := federation(t, nil, "NL", "BE", "DE")
	nl, receivers := ns[0], ns[1:]
	ctx := context.Background()
	var subs []*subscription
	for _, r := range receivers {
		subs = append(subs, live(t, r, &nodev1.SubscribeRequest{}))
	}
	a := newAlert("NL")
	publish(t, nl, a)
	for _, s := range subs {
		if got := s.nextAlert(t, wait); got.GetAlert().GetId() != a.GetId() {
			t.Fatalf("got %s", got.GetAlert().GetId())
		}
	}

	req := &nodev1.RecallRequest{AlertId: a.GetId(), NoticeId: uuid.NewString(), Reason: "reported twice", Code: alertv1.RecallReason_RECALL_REASON_ISSUED_IN_ERROR}
	first, err := nl.client.Recall(ctx, req)
	if err != nil || first.GetDuplicate() {
		t.Fatalf("recall: %v %v", first, err)
	}
	nt := first.GetNotice()
	if nt.GetId() != req.GetNoticeId() || nt.GetOrigin().GetAdministration() != "NL" || nt.GetOrigin().GetNode() != "n1" || nt.GetIssuedAt() == nil {
		t.Fatalf("notice %v", nt)
	}
	again, err := nl.client.Recall(ctx, req)
	if err != nil || !again.GetDuplicate() || again.GetSequence() != first.GetSequence() || !proto.Equal(again.GetNotice(), nt) {
		t.Fatalf("retry: %v %v", again, err)
	}
	other := proto.CloneOf(req)
	other.Reason = "another reason"
	_, err = nl.client.Recall(ctx, other)
	assertFields(t, err, "notice_id")

	for i, s := range subs {
		r := s.nextNotice(t).GetRecalled()
		if r.GetAlertId() != a.GetId() || r.GetNotice().GetId() != nt.GetId() || r.GetNotice().GetRecall().GetReason() != "reported twice" || r.GetCursor() == "" {
			t.Fatalf("%s: recall event %v", receivers[i].cfg.Administration, r)
		}
	}
	end := sentinel(t, nl)
	for i, r := range receivers {
		if got := subs[i].untilID(t, end, wait); len(got) != 0 {
			t.Fatalf("%s delivered %v after the recall", r.cfg.Administration, got[0].GetAlert().GetId())
		}
		alerts, notices := history(t, r, nil)
		if !slices.Equal(alerts, []string{end}) || len(notices) != 1 || notices[0].GetRecalled().GetNotice().GetId() != nt.GetId() {
			t.Fatalf("%s history: alerts %v, notices %v", r.cfg.Administration, alerts, notices)
		}
		g := get(t, r, a.GetId())
		if g.GetRecalled().GetId() != nt.GetId() || g.GetHandling().GetTlp() != a.GetHandling().GetTlp() || g.GetReclassified() != nil {
			t.Fatalf("%s: Get %v", r.cfg.Administration, g)
		}
	}
	eventually(t, wait, "NL applies its own recall", func() bool { return get(t, nl, a.GetId()).GetRecalled() != nil })

	want := ackLines(nt.GetId(), alertv1.NoticeOutcome_NOTICE_OUTCOME_APPLIED, "BE", "DE")
	waitAcks(t, nl, &nodev1.ListAcknowledgementsRequest{AlertId: a.GetId()}, want)
	if got := acks(t, nl, &nodev1.ListAcknowledgementsRequest{NoticeId: nt.GetId()}); !slices.Equal(got, want) {
		t.Fatalf("by notice: %v", got)
	}
	// The alert stream holds the notice once.
	st, err := jsOf(t, nl).Stream(ctx, bus.AlertsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(bus.AlertSubject("NL", bus.NoticeKind, "*")))
	if err != nil || len(info.State.Subjects) != 1 {
		t.Fatalf("notices on the alert stream: %v %v", info.State.Subjects, err)
	}
}

// TestReclassificationPropagates: a downgrade and an upgrade of TLP reach BE and DE;
// subscribers' TLP filters follow the classification in force, in history and live.
func TestReclassificationPropagates(t *testing.T) {
	ns := federation(t, nil, "NL", "BE", "DE")
	nl, be, de := ns[0], ns[1], ns[2]
	tlp := func(ts ...alertv1.Tlp) *nodev1.Filter { return &nodev1.Filter{Tlps: ts} }
	amber := live(t, be, &nodev1.SubscribeRequest{Filter: tlp(alertv1.Tlp_TLP_AMBER)})
	green := live(t, be, &nodev1.SubscribeRequest{Filter: tlp(alertv1.Tlp_TLP_GREEN)})
	a := newAlert("NL")
	if a.GetHandling().GetTlp() != alertv1.Tlp_TLP_AMBER {
		t.Fatalf("example is TLP %v, want AMBER", a.GetHandling().GetTlp())
	}
	publish(t, nl, a)
	if got := amber.nextAlert(t, wait); got.GetAlert().GetId() != a.GetId() {
		t.Fatalf("amber got %s", got.GetAlert().GetId())
	}

	down := reclassify(t, nl, a.GetId(), alertv1.Tlp_TLP_GREEN, alertv1.HandlingCode_HANDLING_CODE_H0)
	// The AMBER subscriber learns the alert left its labels; the GREEN one gets it now.
	if ev := amber.nextNotice(t).GetReclassified(); ev.GetNotice().GetId() != down.GetId() ||
		ev.GetHandling().GetTlp() != alertv1.Tlp_TLP_GREEN || ev.GetAlert() != nil {
		t.Fatalf("amber: %v", ev)
	}
	ev := green.nextNotice(t).GetReclassified()
	if ev.GetAlert().GetAlert().GetId() != a.GetId() || ev.GetAlert().GetHandling().GetTlp() != alertv1.Tlp_TLP_GREEN ||
		ev.GetAlert().GetAlert().GetHandling().GetTlp() != alertv1.Tlp_TLP_AMBER || ev.GetAlert().GetReclassified().GetId() != down.GetId() {
		t.Fatalf("green: %v", ev)
	}
	classifiedAs := func(n *testNode, want alertv1.Tlp, notice string) {
		t.Helper()
		eventually(t, wait, fmt.Sprintf("%s classifies the alert %v", n.cfg.Administration, want), func() bool {
			g := get(t, n, a.GetId())
			return g.GetHandling().GetTlp() == want && g.GetReclassified().GetId() == notice
		})
		for _, f := range []alertv1.Tlp{alertv1.Tlp_TLP_GREEN, alertv1.Tlp_TLP_AMBER, alertv1.Tlp_TLP_RED} {
			alerts, _ := history(t, n, tlp(f))
			if slices.Contains(alerts, a.GetId()) != (f == want) {
				t.Fatalf("%s: history with TLP %v delivers %v", n.cfg.Administration, f, alerts)
			}
		}
		if g := get(t, n, a.GetId()); g.GetAlert().GetHandling().GetTlp() != alertv1.Tlp_TLP_AMBER {
			t.Fatalf("the signed alert changed: %v", g.GetAlert().GetHandling())
		}
	}
	for _, n := range ns {
		classifiedAs(n, alertv1.Tlp_TLP_GREEN, down.GetId())
	}

	up := reclassify(t, nl, a.GetId(), alertv1.Tlp_TLP_RED, alertv1.HandlingCode_HANDLING_CODE_H2)
	if ev := green.nextNotice(t).GetReclassified(); ev.GetHandling().GetTlp() != alertv1.Tlp_TLP_RED || ev.GetAlert() != nil {
		t.Fatalf("green after the upgrade: %v", ev)
	}
	for _, n := range []*testNode{be, de} {
		classifiedAs(n, alertv1.Tlp_TLP_RED, up.GetId())
	}
	want := append(ackLines(down.GetId(), alertv1.NoticeOutcome_NOTICE_OUTCOME_APPLIED, "BE", "DE"),
		ackLines(up.GetId(), alertv1.NoticeOutcome_NOTICE_OUTCOME_APPLIED, "BE", "DE")...)
	slices.Sort(want)
	waitAcks(t, nl, &nodev1.ListAcknowledgementsRequest{AlertId: a.GetId()}, want)
}

// TestAmendmentPropagatesToThreeNodes: an amendment reaches BE and DE after the alert it
// amends, and every node marks the amended alert superseded by it; an "amendment" by
// another administration does not pass for the originator's.
func TestAmendmentPropagatesToThreeNodes(t *testing.T) {
	ns := federation(t, nil, "NL", "BE", "DE")
	nl, be, de := ns[0], ns[1], ns[2]
	subs := []*subscription{live(t, be, &nodev1.SubscribeRequest{}), live(t, de, &nodev1.SubscribeRequest{})}
	orig := newAlert("NL")
	publish(t, nl, orig)
	amend := proto.CloneOf(orig)
	amend.Id, amend.Supersedes, amend.Version = uuid.NewString(), orig.GetId(), 2
	amend.GetSeizure().GetGoods()[0].Description = "cocaine, corrected weight"
	publish(t, nl, amend)
	fake := newAlert("BE")
	fake.Supersedes, fake.Version = orig.GetId(), 2
	publish(t, be, fake)
	for _, s := range subs {
		for _, want := range []*alertv1.Alert{orig, amend, fake} {
			got := s.nextAlert(t, wait).GetAlert()
			if got.GetId() != want.GetId() || got.GetSupersedes() != want.GetSupersedes() || got.GetVersion() != want.GetVersion() {
				t.Fatalf("got %v, want %v", got, want)
			}
		}
	}
	for _, n := range ns {
		eventually(t, wait, "superseded_by at "+n.cfg.Administration, func() bool {
			return held(n, fake.GetId()) && get(t, n, orig.GetId()).GetSupersededBy() == amend.GetId()
		})
		if s := get(t, n, amend.GetId()).GetSupersededBy(); s != "" {
			t.Fatalf("%s: the amendment is superseded by %s", n.cfg.Administration, s)
		}
	}
}

// TestRecallOnlyByTheOriginator: BE and DE cannot recall or reclassify NL's alert at
// their nodes; notices and acknowledgements forged with BE's key and put on NATS by
// hand are quarantined everywhere and change nothing.
func TestRecallOnlyByTheOriginator(t *testing.T) {
	ns := federation(t, nil, "NL", "BE", "DE")
	nl, be, de := ns[0], ns[1], ns[2]
	ctx := context.Background()
	a := newAlert("NL")
	publish(t, nl, a)
	for _, n := range []*testNode{be, de} {
		eventually(t, wait, n.cfg.Administration+" holds the alert", func() bool { return held(n, a.GetId()) })
		if _, err := n.client.Recall(ctx, &nodev1.RecallRequest{AlertId: a.GetId(), Reason: "not mine"}); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("recall at %s: %v", n.cfg.Administration, err)
		}
		_, err := n.client.Reclassify(ctx, &nodev1.ReclassifyRequest{AlertId: a.GetId(), Handling: &alertv1.Reclassification{
			Tlp: alertv1.Tlp_TLP_CLEAR, Code: alertv1.HandlingCode_HANDLING_CODE_H0,
		}})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("reclassify at %s: %v", n.cfg.Administration, err)
		}
	}
	if _, err := nl.client.Recall(ctx, &nodev1.RecallRequest{AlertId: uuid.NewString(), Reason: "unknown"}); status.Code(err) != codes.NotFound {
		t.Fatalf("recall of an unknown alert: %v", err)
	}
	_, err := nl.client.Recall(ctx, &nodev1.RecallRequest{AlertId: "x", NoticeId: "y", Reason: " "})
	assertFields(t, err, "alert_id", "notice_id", "reason")
	_, err = nl.client.Reclassify(ctx, &nodev1.ReclassifyRequest{AlertId: a.GetId()})
	assertFields(t, err, "handling")
	_, err = nl.client.Reclassify(ctx, &nodev1.ReclassifyRequest{AlertId: a.GetId(), Handling: &alertv1.Reclassification{
		Tlp: alertv1.Tlp_TLP_GREEN, Code: alertv1.HandlingCode_HANDLING_CODE_H3,
	}})
	assertFields(t, err, "handling.restrictions")
	_, err = nl.client.ListAcknowledgements(ctx, &nodev1.ListAcknowledgementsRequest{})
	assertFields(t, err, "alert_id")

	js := jsOf(t, nl)
	// BE's key signs a recall claiming NL's origin, on NL's subject; and a recall of NL's
	// alert in BE's own name.
	_, asNL, rawAsNL := forgedNotice(t, be.ks, "NL", a.GetId())
	_, asBE, rawAsBE := forgedNotice(t, be.ks, "BE", a.GetId())
	// BE's key signs an acknowledgement of an NL notice in DE's name.
	ack := &alertv1.NoticeAck{
		NoticeId: uuid.NewString(), AlertId: a.GetId(), Origin: "NL", ReceiverAdministration: "DE", ReceiverNode: "n1",
		AppliedAt: timestamppb.Now(), Outcome: alertv1.NoticeOutcome_NOTICE_OUTCOME_APPLIED,
	}
	ackPayload, err := proto.Marshal(ack)
	if err != nil {
		t.Fatal(err)
	}
	ackSubject := bus.AckSubject("NL", "DE", ack.GetNoticeId())
	for subject, raw := range map[string][]byte{
		asNL: rawAsNL, asBE: rawAsBE, ackSubject: signedBy(t, be.ks, envelope.PayloadTypeNoticeAck, ackPayload),
	} {
		if _, err := js.Publish(ctx, subject, raw); err != nil {
			t.Fatal(err)
		}
	}
	end := sentinel(t, nl)
	for _, n := range ns {
		eventually(t, wait, "forged notices quarantined at "+n.cfg.Administration, func() bool {
			q := quarantinedBySubject(t, n)
			return q[asNL] != nil && q[asBE] != nil && (n != nl || q[ackSubject] != nil)
		})
		for subject, m := range quarantinedBySubject(t, n) {
			if m.GetReason() != nodev1.QuarantineReason_QUARANTINE_REASON_ORIGIN_MISMATCH {
				t.Fatalf("%s: %s quarantined as %v (%s)", n.cfg.Administration, subject, m.GetReason(), m.GetDetail())
			}
		}
		eventually(t, wait, n.cfg.Administration+" holds the sentinel", func() bool { return held(n, end) })
		if g := get(t, n, a.GetId()); g.GetRecalled() != nil {
			t.Fatalf("%s: recalled by a forged notice", n.cfg.Administration)
		}
		if alerts, notices := history(t, n, nil); !slices.Equal(alerts, []string{a.GetId(), end}) || len(notices) != 0 {
			t.Fatalf("%s history: %v %v", n.cfg.Administration, alerts, notices)
		}
	}
	if got := acks(t, nl, &nodev1.ListAcknowledgementsRequest{NoticeId: ack.GetNoticeId()}); len(got) != 0 {
		t.Fatalf("forged acknowledgement listed: %v", got)
	}
}

// TestNoticeBeforeItsAlert: a notice that arrives before its alert is kept (receivers
// acknowledge "alert unknown") and applied when the alert arrives; a kept notice of
// another administration is refused and quarantined then.
func TestNoticeBeforeItsAlert(t *testing.T) {
	ns := federation(t, nil, "NL", "BE", "DE")
	nl, be := ns[0], ns[1]
	ctx := context.Background()
	js := jsOf(t, nl)
	a := newAlert("NL") // not published yet
	genuine, subject, raw := forgedNotice(t, nl.ks, "NL", a.GetId())
	if _, err := js.Publish(ctx, subject, raw); err != nil {
		t.Fatal(err)
	}
	unknown := alertv1.NoticeOutcome_NOTICE_OUTCOME_ALERT_UNKNOWN
	waitAcks(t, nl, &nodev1.ListAcknowledgementsRequest{NoticeId: genuine.GetId()}, ackLines(genuine.GetId(), unknown, "BE", "DE"))
	bad, badSubject, badRaw := forgedNotice(t, be.ks, "BE", a.GetId())
	if _, err := js.Publish(ctx, badSubject, badRaw); err != nil {
		t.Fatal(err)
	}
	waitAcks(t, be, &nodev1.ListAcknowledgementsRequest{NoticeId: bad.GetId()}, ackLines(bad.GetId(), unknown, "DE", "NL"))

	publish(t, nl, a)
	end := sentinel(t, nl)
	for _, n := range ns {
		eventually(t, wait, n.cfg.Administration+" holds the sentinel", func() bool { return held(n, end) })
		if alerts, _ := history(t, n, nil); !slices.Equal(alerts, []string{end}) {
			t.Fatalf("%s delivered %v", n.cfg.Administration, alerts)
		}
		if g := get(t, n, a.GetId()); g.GetRecalled().GetId() != genuine.GetId() {
			t.Fatalf("%s: recalled by %v", n.cfg.Administration, g.GetRecalled())
		}
		eventually(t, wait, "the kept notice of BE quarantined at "+n.cfg.Administration, func() bool {
			m := quarantinedBySubject(t, n)[badSubject]
			return m.GetReason() == nodev1.QuarantineReason_QUARANTINE_REASON_ORIGIN_MISMATCH
		})
	}
	waitAcks(t, nl, &nodev1.ListAcknowledgementsRequest{NoticeId: genuine.GetId()},
		ackLines(genuine.GetId(), alertv1.NoticeOutcome_NOTICE_OUTCOME_APPLIED, "BE", "DE"))
	waitAcks(t, be, &nodev1.ListAcknowledgementsRequest{NoticeId: bad.GetId()},
		ackLines(bad.GetId(), alertv1.NoticeOutcome_NOTICE_OUTCOME_REFUSED, "DE", "NL"))
}

// TestReceiverRestartKeepsRecallState: a receiver restarted after a recall still holds
// the alert recalled, does not deliver it again, and does not send its acknowledgement
// twice.
func TestReceiverRestartKeepsRecallState(t *testing.T) {
	// A short duplicate window: a repeated acknowledgement would be stored again.
	short := func(c *config.Config) { c.NATS.DuplicateWindow = config.Duration(100 * time.Millisecond) }
	nl, be := pair(t, short)
	ctx := context.Background()
	a, b := newAlert("NL"), newAlert("NL")
	publish(t, nl, a)
	publish(t, nl, b)
	nt := recall(t, nl, a.GetId(), "wrong container")
	waitAcks(t, nl, &nodev1.ListAcknowledgementsRequest{NoticeId: nt.GetId()}, ackLines(nt.GetId(), alertv1.NoticeOutcome_NOTICE_OUTCOME_APPLIED, "BE"))
	acksStream, err := jsOf(t, nl).Stream(ctx, bus.AcksStream)
	if err != nil {
		t.Fatal(err)
	}
	ackSeq := func() uint64 {
		m, err := acksStream.GetLastMsgForSubject(ctx, bus.AckSubject("NL", "BE", nt.GetId()))
		if err != nil {
			t.Fatal(err)
		}
		return m.Sequence
	}
	before := ackSeq()

	if err := be.d.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // past the duplicate window
	be = startNode(t, "BE", []string{nl.d.NATSURL()}, be.cfg.Trust.Anchors, short, func(c *config.Config) { c.DataDir = be.cfg.DataDir })
	if g := get(t, be, a.GetId()); g.GetRecalled().GetId() != nt.GetId() {
		t.Fatalf("after restart: recalled %v", g.GetRecalled())
	}
	end := sentinel(t, nl)
	eventually(t, wait, "BE holds the sentinel", func() bool { return held(be, end) })
	if alerts, notices := history(t, be, nil); !slices.Equal(alerts, []string{b.GetId(), end}) || len(notices) != 1 {
		t.Fatalf("after restart: alerts %v, notices %v", alerts, notices)
	}
	// The acknowledgements queued again at start are sent in order: once a later
	// notice's is stored, the earlier one has been looked at, and was not sent again.
	later := recall(t, nl, b.GetId(), "also wrong")
	waitAcks(t, nl, &nodev1.ListAcknowledgementsRequest{NoticeId: later.GetId()}, ackLines(later.GetId(), alertv1.NoticeOutcome_NOTICE_OUTCOME_APPLIED, "BE"))
	if after := ackSeq(); after != before {
		t.Fatalf("acknowledgement sent again after restart: sequence %d, was %d", after, before)
	}
}
