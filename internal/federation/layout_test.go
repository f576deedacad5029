package federation_test

import (
	"testing"

	"github.com/cix-exchange/cix/internal/federation"
)

// TestOutboundAlertSubject: an alert's outbound subject ends with AlertToken, parses as
// every outbound subject does, and its message id is the subject with the alert's id,
// one per scope; other kinds keep their id in the subject, which is their message id.
func TestOutboundAlertSubject(t *testing.T) {
	const id = "0b7e7e5e-6f1c-4d53-9a57-1c2f0a4e9b10"
	for _, s := range []federation.Scope{federation.AllMembers(), federation.ToGroup("benelux"), federation.ToMember("BE")} {
		subject := federation.OutboundAlertSubject("NL", s, "risk")
		origin, scope, kind, token, err := federation.ParseOutboundSubject(subject)
		if err != nil || origin != "NL" || scope != s || kind != "risk" || token != federation.AlertToken {
			t.Fatalf("%s parses as %s %v %s %s (%v)", subject, origin, scope, kind, token, err)
		}
		if !federation.IsAlertSubject(subject) {
			t.Errorf("%s is not an alert subject", subject)
		}
		if got, want := federation.OutboundMsgID(subject, id), federation.OutboundSubject("NL", s, "risk", id); got != want {
			t.Errorf("message id of %s: %s, want %s", subject, got, want)
		}
	}
	notice := federation.OutboundSubject("NL", federation.AllMembers(), "notice", id)
	if federation.IsAlertSubject(notice) || federation.OutboundMsgID(notice, id) != notice {
		t.Errorf("notice subject %s: alert subject %v, message id %s", notice, federation.IsAlertSubject(notice), federation.OutboundMsgID(notice, id))
	}
}
