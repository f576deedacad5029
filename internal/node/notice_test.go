package node_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/envelope"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"github.com/cix-exchange/cix/internal/node"
	"github.com/cix-exchange/cix/internal/synth"
	"github.com/cix-exchange/cix/internal/trust"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const noticeID = "6f1c1c9e-3b7a-4a57-9a53-0d4f4f1e2a11"

// signed seals m as payloadType with ks's current key.
func signed(t testing.TB, ks *trust.DevKeystore, payloadType string, m proto.Message) []byte {
	t.Helper()
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ks.Current(context.Background())
	env, err := envelope.Seal(payloadType, payload, key)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := envelope.Marshal(env)
	return raw
}

func nlRecall(now time.Time) *alertv1.AlertNotice {
	return &alertv1.AlertNotice{
		Id: noticeID, AlertId: synth.ValidSeizureID, Origin: &alertv1.Origin{Administration: "NL", Node: "n1"},
		IssuedAt: timestamppb.New(now),
		Action:   &alertv1.AlertNotice_Recall{Recall: &alertv1.Recall{Reason: "issued in error", Code: alertv1.RecallReason_RECALL_REASON_ISSUED_IN_ERROR}},
	}
}

func TestVerifyNotice(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	subject := bus.AlertSubject("NL", bus.NoticeKind, noticeID)
	raw := signed(t, f.ks, envelope.PayloadTypeNotice, nlRecall(now))
	v, err := node.VerifyNotice(f.ver, subject, raw, now, now)
	if err != nil || v.Notice.GetAlertId() != synth.ValidSeizureID || v.Signer.Administration != "NL" || v.Alert != nil {
		t.Fatalf("verified %+v %v", v, err)
	}
	claimsBE := nlRecall(now)
	claimsBE.Origin.Administration = "BE"
	noAction := nlRecall(now)
	noAction.Action = nil
	late := signed(t, f.ks, envelope.PayloadTypeNotice, nlRecall(now.Add(10*time.Minute)))
	for _, c := range []struct {
		name    string
		subject string
		raw     []byte
		want    envelope.Reason
	}{
		{"signed as an alert", subject, signed(t, f.ks, envelope.PayloadTypeAlert, nlRecall(now)), envelope.ReasonWrongPayloadType},
		{"claims another origin", bus.AlertSubject("BE", bus.NoticeKind, noticeID), signed(t, f.ks, envelope.PayloadTypeNotice, claimsBE), envelope.ReasonOriginMismatch},
		{"on another origin's subject", bus.AlertSubject("BE", bus.NoticeKind, noticeID), raw, envelope.ReasonOriginMismatch},
		{"subject names another id", bus.AlertSubject("NL", bus.NoticeKind, synth.ValidRiskID), raw, envelope.ReasonInvalidContent},
		{"no action", subject, signed(t, f.ks, envelope.PayloadTypeNotice, noAction), envelope.ReasonInvalidContent},
		{"issued in the future", subject, late, envelope.ReasonInvalidContent},
	} {
		if _, err := node.VerifyNotice(f.ver, c.subject, c.raw, now, now); envelope.ReasonOf(err) != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := node.VerifyNotice(f.ver, subject, late, now, now.Add(20*time.Minute)); envelope.ReasonOf(err) != envelope.ReasonInvalidContent {
		t.Fatalf("issued after the stream stored it: %v", err)
	}
}

func TestVerifyAck(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	ack := &alertv1.NoticeAck{
		NoticeId: noticeID, AlertId: synth.ValidSeizureID, Origin: "BE", ReceiverAdministration: "NL", ReceiverNode: "n1",
		AppliedAt: timestamppb.New(now), Outcome: alertv1.NoticeOutcome_NOTICE_OUTCOME_APPLIED,
	}
	subject := bus.AckSubject("BE", "NL", noticeID)
	raw := signed(t, f.ks, envelope.PayloadTypeNoticeAck, ack)
	if v, err := node.VerifyAck(f.ver, subject, raw, now); err != nil || v.Ack.GetOutcome() != ack.GetOutcome() {
		t.Fatalf("verified %+v %v", v, err)
	}
	asDE := proto.CloneOf(ack)
	asDE.ReceiverAdministration = "DE"
	for _, c := range []struct {
		name    string
		subject string
		raw     []byte
		want    envelope.Reason
	}{
		{"in another receiver's name", bus.AckSubject("BE", "DE", noticeID), signed(t, f.ks, envelope.PayloadTypeNoticeAck, asDE), envelope.ReasonOriginMismatch},
		{"on another receiver's subject", bus.AckSubject("BE", "DE", noticeID), raw, envelope.ReasonOriginMismatch},
		{"addressed to another origin", bus.AckSubject("FR", "NL", noticeID), raw, envelope.ReasonInvalidContent},
		{"of another notice", bus.AckSubject("BE", "NL", synth.ValidRiskID), raw, envelope.ReasonInvalidContent},
		{"signed as a notice", subject, signed(t, f.ks, envelope.PayloadTypeNotice, ack), envelope.ReasonWrongPayloadType},
	} {
		if _, err := node.VerifyAck(f.ver, c.subject, c.raw, now); envelope.ReasonOf(err) != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// A key of an administration without a trusted anchor.
	fr, err := trust.OpenDevKeystore(filepath.Join(t.TempDir(), "fr"), "FR", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	frAck := proto.CloneOf(ack)
	frAck.ReceiverAdministration = "FR"
	if _, err := node.VerifyAck(f.ver, bus.AckSubject("BE", "FR", noticeID), signed(t, fr, envelope.PayloadTypeNoticeAck, frAck), now); envelope.ReasonOf(err) != envelope.ReasonUnknownKey {
		t.Fatalf("untrusted receiver: %v", err)
	}
}

// FuzzVerifyNotice: arbitrary subjects and bytes never panic, every refusal has a
// reason, and only what the NL key signed as an NL notice is accepted.
func FuzzVerifyNotice(f *testing.F) {
	fx := newFixture(f)
	now := time.Now()
	raw := signed(f, fx.ks, envelope.PayloadTypeNotice, nlRecall(now))
	f.Add(bus.AlertSubject("NL", bus.NoticeKind, noticeID), raw)
	f.Add(bus.AlertSubject("NL", bus.NoticeKind, noticeID), raw[:len(raw)/2])
	f.Add("cix.alert.v1.NL.notice.x", []byte{0x0a, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, subject string, b []byte) {
		v, err := node.VerifyNotice(fx.ver, subject, b, now, now)
		if err != nil {
			if envelope.ReasonOf(err) == 0 {
				t.Fatalf("refusal without a reason: %v", err)
			}
			return
		}
		if v.Signer.Administration != "NL" || v.Notice.GetOrigin().GetAdministration() != "NL" || alert.ValidateNotice(v.Notice) != nil {
			t.Fatalf("accepted %+v", v.Notice)
		}
	})
}
