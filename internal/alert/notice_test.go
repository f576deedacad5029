package alert_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestValidateNotice(t *testing.T) {
	recall := func() *alertv1.AlertNotice {
		return &alertv1.AlertNotice{
			Id: "6f1c1c9e-3b7a-4a57-9a53-0d4f4f1e2a11", AlertId: synth.ValidRiskID,
			Origin:   &alertv1.Origin{Administration: "NL", Node: "n1"},
			IssuedAt: timestamppb.New(synth.ExampleIssuedAt),
			Action: &alertv1.AlertNotice_Recall{Recall: &alertv1.Recall{
				Reason: "issued for the wrong operation", Code: alertv1.RecallReason_RECALL_REASON_ISSUED_IN_ERROR,
			}},
		}
	}
	reclassify := func() *alertv1.AlertNotice {
		n := recall()
		n.Action = &alertv1.AlertNotice_Reclassify{Reclassify: &alertv1.Reclassification{
			Tlp: alertv1.Tlp_TLP_GREEN, Code: alertv1.HandlingCode_HANDLING_CODE_H0,
		}}
		return n
	}
	tests := []struct {
		name   string
		base   func() *alertv1.AlertNotice
		mutate func(n *alertv1.AlertNotice)
		want   []string
	}{
		{"valid recall", recall, func(*alertv1.AlertNotice) {}, nil},
		{"valid reclassification", reclassify, func(*alertv1.AlertNotice) {}, nil},
		{"ids", recall, func(n *alertv1.AlertNotice) { n.Id, n.AlertId = "x", "" }, []string{"notice.id", "notice.alert_id"}},
		{"no origin", recall, func(n *alertv1.AlertNotice) { n.Origin = nil }, []string{"notice.origin"}},
		{"bad origin", recall, func(n *alertv1.AlertNotice) { n.Origin = &alertv1.Origin{Administration: "XX"} },
			[]string{"notice.origin.administration", "notice.origin.node"}},
		{"no issued_at", recall, func(n *alertv1.AlertNotice) { n.IssuedAt = nil }, []string{"notice.issued_at"}},
		{"no action", recall, func(n *alertv1.AlertNotice) { n.Action = nil }, []string{"notice.action"}},
		{"recall without reason", recall, func(n *alertv1.AlertNotice) { n.GetRecall().Reason, n.GetRecall().Code = "", 0 },
			[]string{"notice.recall.reason", "notice.recall.code"}},
		{"recall reason too long", recall, func(n *alertv1.AlertNotice) { n.GetRecall().Reason = strings.Repeat("é", 1001) },
			[]string{"notice.recall.reason"}},
		{"recall unknown code", recall, func(n *alertv1.AlertNotice) { n.GetRecall().Code = 99 }, []string{"notice.recall.code"}},
		{"reclassify without tlp", reclassify, func(n *alertv1.AlertNotice) { n.GetReclassify().Tlp = 0 }, []string{"notice.reclassify.tlp"}},
		{"reclassify H3 without restrictions", reclassify, func(n *alertv1.AlertNotice) {
			n.GetReclassify().Code = alertv1.HandlingCode_HANDLING_CODE_H3
		}, []string{"notice.reclassify.restrictions"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.base()
			tc.mutate(n)
			if got := fields(alert.ValidateNotice(n)); !slices.Equal(got, tc.want) {
				t.Fatalf("violations %v, want %v", got, tc.want)
			}
		})
	}
	if got := fields(alert.ValidateNotice(nil)); !slices.Equal(got, []string{"notice"}) {
		t.Fatalf("nil notice: %v", got)
	}
}

func TestValidateAck(t *testing.T) {
	valid := &alertv1.NoticeAck{
		NoticeId: "6f1c1c9e-3b7a-4a57-9a53-0d4f4f1e2a11", AlertId: synth.ValidRiskID, Origin: "NL",
		ReceiverAdministration: "BE", ReceiverNode: "n1", AppliedAt: timestamppb.New(synth.ExampleIssuedAt),
		Outcome: alertv1.NoticeOutcome_NOTICE_OUTCOME_APPLIED,
	}
	if err := alert.ValidateAck(valid); err != nil {
		t.Fatal(err)
	}
	bad := proto.CloneOf(valid)
	bad.Origin, bad.ReceiverNode, bad.Outcome, bad.AppliedAt = "nl", "", 0, nil
	want := []string{"ack.origin", "ack.receiver_node", "ack.applied_at", "ack.outcome"}
	if got := fields(alert.ValidateAck(bad)); !slices.Equal(got, want) {
		t.Fatalf("violations %v, want %v", got, want)
	}
}
