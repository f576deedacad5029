package daemon_test

import (
	"context"
	"testing"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/envelope"
	fed "github.com/cix-exchange/cix/internal/federation"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	trustv1 "github.com/cix-exchange/cix/internal/gen/cix/trust/v1"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/nats-io/nats.go/jetstream"
)

// outSubject is the all-members subject of a's origin.
func outSubject(a *alertv1.Alert) string {
	return fed.OutboundSubject(a.GetOrigin().GetAdministration(), fed.AllMembers(), alert.KindName(alert.Kind(a)), a.GetId())
}

// injectOut publishes raw on subject into the outbound stream of code's leaf, as a
// client of that administration's account can.
func (f *fedNet) injectOut(code, subject string, raw []byte) {
	f.t.Helper()
	js, err := jetstream.New(f.rawConn(code))
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := js.Publish(context.Background(), subject, raw, jetstream.WithMsgID(subject)); err != nil {
		f.t.Fatalf("inject %s: %v", subject, err)
	}
}

// TestFederatedRevocationReachesEveryMember: NL revokes its node key with its seal at
// its own node. The notice crosses administrations in the all-members scope; BE and DE
// apply it without restart and quarantine as revoked_key what the key signs after, while
// what it signed before stays delivered.
func TestFederatedRevocationReachesEveryMember(t *testing.T) {
	f := startFedNet(t)
	nl, be, de := f.node("NL"), f.node("BE"), f.node("DE")
	ctx := context.Background()
	subs := map[string]*subscription{"BE": subscribe(t, be, &nodev1.SubscribeRequest{}), "DE": subscribe(t, de, &nodev1.SubscribeRequest{})}
	before := publish(t, nl, alertFor(nil)).Id
	for c, s := range subs {
		receivedSet(t, c, s, before)
	}

	ks, err := trust.OpenDevKeystore(nl.cfg.KeystoreDir(), "NL", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ks.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seal, err := trust.OpenDevSeal(nl.cfg.KeystoreDir(), "NL")
	if err != nil {
		t.Fatal(err)
	}
	notice := revokeNotice(t, seal, "NL", &trustv1.Revocation{Target: &trustv1.Revocation_NodeKey{NodeKey: &trustv1.NodeKey{Node: "n1", KeyId: key.KeyID()}}})
	res, err := nl.admin.PublishRevocation(ctx, &nodev1.PublishRevocationRequest{Envelope: notice})
	if err != nil || res.GetDuplicate() {
		t.Fatalf("publish notice: %v %v", res, err)
	}
	if res, err := nl.admin.PublishRevocation(ctx, &nodev1.PublishRevocationRequest{Envelope: notice}); err != nil || !res.GetDuplicate() {
		t.Fatalf("publish notice again: %v %v", res, err)
	}
	for _, n := range []*testNode{nl, be, de} {
		eventually(t, wait, "notice applied at "+n.cfg.Administration, func() bool {
			l, err := n.admin.ListRevocations(ctx, &nodev1.ListRevocationsRequest{})
			return err == nil && len(l.GetRevocations()) == 1 && l.GetRevocations()[0].GetId() == res.GetRevocation().GetId()
		})
	}

	// What the revoked key signs now, put into NL's outbound stream by hand (NL's node
	// refuses to sign with it), is quarantined at BE and DE and never delivered.
	after := alertFor(nil)
	after.Origin = &alertv1.Origin{Administration: "NL", Node: "n1"}
	f.injectOut("NL", outSubject(after), signedBy(t, ks, envelope.PayloadTypeAlert, marshal(t, after)))
	for _, n := range []*testNode{be, de} {
		c := n.cfg.Administration
		eventually(t, wait, c+" quarantines the alert signed after the revocation", func() bool {
			return quarantinedBySubject(t, n)[outSubject(after)].GetReason() == nodev1.QuarantineReason_QUARANTINE_REASON_REVOKED_KEY
		})
		if _, err := n.client.Get(ctx, &nodev1.GetRequest{Id: before}); err != nil {
			t.Fatalf("%s: alert signed before the revocation: %v", c, err)
		}
	}
	// The revocation notice itself is not an alert: nobody quarantined it.
	for _, n := range []*testNode{nl, be, de} {
		for subj := range quarantinedBySubject(t, n) {
			if subj != outSubject(after) {
				t.Errorf("%s quarantined %s", n.cfg.Administration, subj)
			}
		}
	}
}
