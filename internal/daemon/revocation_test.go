package daemon_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/envelope"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	trustv1 "github.com/cix-exchange/cix/internal/gen/cix/trust/v1"
	"github.com/cix-exchange/cix/internal/revocation"
	"github.com/cix-exchange/cix/internal/trust"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// revokeNotice seals a notice revoking key of NL's node with seal.
func revokeNotice(t *testing.T, seal envelope.Signer, admin string, target *trustv1.Revocation) []byte {
	t.Helper()
	n := proto.CloneOf(target)
	n.Administration = admin
	n.Reason = trustv1.RevocationReason_REVOCATION_REASON_KEY_COMPROMISE
	raw, err := revocation.Make(n, seal, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func quarantinedBySubject(t *testing.T, n *testNode) map[string]*nodev1.QuarantinedMessage {
	t.Helper()
	out := map[string]*nodev1.QuarantinedMessage{}
	for _, m := range quarantined(t, n) {
		out[m.GetSubject()] = m
	}
	return out
}

// quarantined lists n's quarantine, in order.
func quarantined(t *testing.T, n *testNode) []*nodev1.QuarantinedMessage {
	t.Helper()
	var out []*nodev1.QuarantinedMessage
	for tok := ""; ; {
		q, err := n.admin.ListQuarantine(context.Background(), &nodev1.ListQuarantineRequest{PageSize: 1000, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, q.GetMessages()...)
		if tok = q.GetNextPageToken(); tok == "" {
			return out
		}
	}
}

// TestRevokedNodeKeyStopsVerifyingEverywhere: NL's operators revoke NL's node key with
// NL's seal. From the effective time on, what the key signs is quarantined as
// revoked_key at BE and at a node that joins later (it learns the notice from the
// stream, not from NL); what it signed before keeps verifying; NL itself refuses to sign
// with the revoked key. Notices that are forged (another administration's seal, a node
// key instead of a seal, put straight on NATS) are quarantined and never applied.
func TestRevokedNodeKeyStopsVerifyingEverywhere(t *testing.T) {
	nl, be := pair(t)
	ctx := context.Background()
	sub := subscribe(t, be, &nodev1.SubscribeRequest{})
	before := newAlert("NL")
	publish(t, nl, before)
	if got := sub.nextAlert(t, wait); got.GetAlert().GetId() != before.GetId() {
		t.Fatalf("got %s", got.GetAlert().GetId())
	}

	nlSeal, err := trust.OpenDevSeal(nl.cfg.KeystoreDir(), "NL")
	if err != nil {
		t.Fatal(err)
	}
	beSeal, err := trust.OpenDevSeal(be.cfg.KeystoreDir(), "BE")
	if err != nil {
		t.Fatal(err)
	}
	key, err := nl.ks.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	target := &trustv1.Revocation{Target: &trustv1.Revocation_NodeKey{NodeKey: &trustv1.NodeKey{Node: "n1", KeyId: key.KeyID()}}}
	// BE's node publishes only BE's notices; a notice must be sealed, not node-signed.
	_, err = be.admin.PublishRevocation(ctx, &nodev1.PublishRevocationRequest{Envelope: revokeNotice(t, nlSeal, "NL", target)})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "origin_mismatch") {
		t.Fatalf("NL notice at BE: %v", err)
	}
	nodeSigned := revokeNotice(t, key, "NL", target)
	_, err = nl.admin.PublishRevocation(ctx, &nodev1.PublishRevocationRequest{Envelope: nodeSigned})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "cannot sign as the administration seal") {
		t.Fatalf("node-signed notice: %v", err)
	}

	// Forged notices straight on the trust stream.
	js := jsOf(t, nl)
	forgedByBE := revokeNotice(t, beSeal, "NL", target) // BE's seal, NL's notice
	forgedByKey := nodeSigned
	forgedSubjects := map[string]nodev1.QuarantineReason{}
	for _, f := range []struct {
		raw    []byte
		reason nodev1.QuarantineReason
	}{
		{forgedByBE, nodev1.QuarantineReason_QUARANTINE_REASON_ORIGIN_MISMATCH},
		{forgedByKey, nodev1.QuarantineReason_QUARANTINE_REASON_UNKNOWN_KEY},
	} {
		n := &trustv1.Revocation{}
		if err := proto.Unmarshal(mustEnvelope(t, f.raw).GetPayload(), n); err != nil {
			t.Fatal(err)
		}
		subj := revocation.Subject("NL", n.GetId())
		if _, err := js.Publish(ctx, subj, f.raw); err != nil {
			t.Fatal(err)
		}
		forgedSubjects[subj] = f.reason
	}
	for _, n := range []*testNode{nl, be} {
		eventually(t, wait, "forged notices quarantined at "+n.cfg.Administration, func() bool {
			return len(quarantinedBySubject(t, n)) == len(forgedSubjects)
		})
		for subj, m := range quarantinedBySubject(t, n) {
			if m.GetReason() != forgedSubjects[subj] {
				t.Fatalf("%s: %s quarantined as %v (%s), want %v", n.cfg.Administration, subj, m.GetReason(), m.GetDetail(), forgedSubjects[subj])
			}
		}
		l, err := n.admin.ListRevocations(ctx, &nodev1.ListRevocationsRequest{})
		if err != nil || len(l.GetRevocations()) != 0 {
			t.Fatalf("forged notices applied at %s: %v %v", n.cfg.Administration, l, err)
		}
	}
	// NL's key still signs: nothing was revoked yet.
	publish(t, nl, newAlert("NL"))
	sub.nextAlert(t, wait)

	// The genuine notice, effective from now, published at NL; publishing it again is a
	// duplicate.
	notice := revokeNotice(t, nlSeal, "NL", target)
	res, err := nl.admin.PublishRevocation(ctx, &nodev1.PublishRevocationRequest{Envelope: notice})
	if err != nil || res.GetDuplicate() || res.GetRevocation().GetNodeKey().GetKeyId() != key.KeyID() {
		t.Fatalf("publish notice: %v %v", res, err)
	}
	if res, err := nl.admin.PublishRevocation(ctx, &nodev1.PublishRevocationRequest{Envelope: notice}); err != nil || !res.GetDuplicate() {
		t.Fatalf("publish notice again: %v %v", res, err)
	}
	eventually(t, wait, "notice applied at BE", func() bool {
		l, err := be.admin.ListRevocations(ctx, &nodev1.ListRevocationsRequest{})
		return err == nil && len(l.GetRevocations()) == 1 && l.GetRevocations()[0].GetId() == res.GetRevocation().GetId()
	})

	// NL refuses to sign with the revoked key.
	_, err = nl.client.Publish(ctx, &nodev1.PublishRequest{Alert: newAlert("NL")})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("publish with a revoked key: %v", err)
	}
	// What the revoked key signs now, put on NATS by hand, is quarantined at BE and
	// never delivered.
	after := newAlert("NL")
	if _, err := js.Publish(ctx, subjectOf(after), signedBy(t, nl.ks, envelope.PayloadTypeAlert, marshal(t, after))); err != nil {
		t.Fatal(err)
	}
	end := sentinel(t, be)
	if got := sub.untilID(t, end, wait); len(got) != 0 {
		t.Fatalf("delivered after revocation: %v", got[0].GetAlert().GetId())
	}
	if m := quarantinedBySubject(t, be)[subjectOf(after)]; m.GetReason() != nodev1.QuarantineReason_QUARANTINE_REASON_REVOKED_KEY {
		t.Fatalf("after revocation: quarantined as %v", m)
	}
	// What it signed before still verifies.
	if _, err := be.client.Get(ctx, &nodev1.GetRequest{Id: before.GetId()}); err != nil {
		t.Fatalf("alert signed before the revocation: %v", err)
	}

	// DE joins later and replays everything: the notice from the trust stream first,
	// then the alerts: the old ones verify, the one stored after does not.
	de := startNode(t, "DE", []string{nl.d.NATSURL()}, []string{nl.d.AnchorPath(), be.d.AnchorPath()}, func(c *config.Config) {
		c.DataDir = filepath.Join(t.TempDir(), "DE")
	})
	l, err := de.admin.ListRevocations(ctx, &nodev1.ListRevocationsRequest{})
	if err != nil || len(l.GetRevocations()) != 1 {
		t.Fatalf("DE revocations at start: %v %v", l, err)
	}
	deSub := subscribe(t, de, &nodev1.SubscribeRequest{Start: nodev1.StartPosition_START_POSITION_EARLIEST})
	end = sentinel(t, be)
	var ids []string
	for _, a := range deSub.untilID(t, end, wait) {
		ids = append(ids, a.GetAlert().GetId())
	}
	if len(ids) != 3 || ids[0] != before.GetId() { // before, the one after the forged notices, BE's first sentinel
		t.Fatalf("DE delivered %v", ids)
	}
	eventually(t, wait, "DE quarantines the alert signed after the revocation", func() bool {
		m := quarantinedBySubject(t, de)[subjectOf(after)]
		return m.GetReason() == nodev1.QuarantineReason_QUARANTINE_REASON_REVOKED_KEY
	})
}
