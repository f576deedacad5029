package alert

import (
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
)

// MaxNoticeText is the maximum length in characters of a recall's reason and of an
// acknowledgement's detail.
const MaxNoticeText = 1000

// ValidateNotice checks a notice about an alert (recall or reclassification) as the node
// does before signing it and as receivers do after verifying its signature. It returns
// nil or a *ValidationError whose field paths start with "notice.".
func ValidateNotice(n *alertv1.AlertNotice) error {
	v := &validator{}
	if n == nil {
		v.add("notice", "is required")
		return v.result("notice")
	}
	v.uuid("notice.id", n.GetId())
	v.uuid("notice.alert_id", n.GetAlertId())
	if o := n.GetOrigin(); o == nil {
		v.add("notice.origin", "is required")
	} else {
		v.country("notice.origin.administration", o.GetAdministration(), true)
		v.text("notice.origin.node", o.GetNode(), MaxShortText, true)
	}
	v.timestamp("notice.issued_at", n.GetIssuedAt(), true)
	switch a := n.GetAction().(type) {
	case *alertv1.AlertNotice_Recall:
		v.text("notice.recall.reason", a.Recall.GetReason(), MaxNoticeText, true)
		v.enum("notice.recall.code", int32(a.Recall.GetCode()), alertv1.RecallReason_name, true)
	case *alertv1.AlertNotice_Reclassify:
		r := a.Reclassify
		v.classification("notice.reclassify", r.GetTlp(), r.GetCode(), r.GetRestrictions())
	default:
		v.add("notice.action", "exactly one of recall or reclassify is required")
	}
	return v.result("notice")
}

// ValidateAck checks a receiving node's acknowledgement of a notice. Field paths start
// with "ack.".
func ValidateAck(a *alertv1.NoticeAck) error {
	v := &validator{}
	if a == nil {
		v.add("ack", "is required")
		return v.result("acknowledgement")
	}
	v.uuid("ack.notice_id", a.GetNoticeId())
	v.uuid("ack.alert_id", a.GetAlertId())
	v.country("ack.origin", a.GetOrigin(), true)
	v.country("ack.receiver_administration", a.GetReceiverAdministration(), true)
	v.text("ack.receiver_node", a.GetReceiverNode(), MaxShortText, true)
	v.timestamp("ack.applied_at", a.GetAppliedAt(), true)
	v.enum("ack.outcome", int32(a.GetOutcome()), alertv1.NoticeOutcome_name, true)
	v.text("ack.detail", a.GetDetail(), MaxNoticeText, false)
	return v.result("acknowledgement")
}

// result is nil or the violations found, as a *ValidationError about subject.
func (v *validator) result(subject string) error {
	if len(v.vs) == 0 {
		return nil
	}
	return &ValidationError{Subject: subject, Violations: v.vs}
}
