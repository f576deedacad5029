package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/envelope"
	fed "github.com/cix-exchange/cix/internal/federation"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	trustv1 "github.com/cix-exchange/cix/internal/gen/cix/trust/v1"
	"github.com/cix-exchange/cix/internal/sealed"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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

// directory signs version of the directory with manifest text and the anchors of codes,
// with the secretariat key of f (or key, when set).
func (f *fedNet) directory(version uint64, manifest string, key string, codes ...string) []byte {
	f.t.Helper()
	if key == "" {
		key = f.secretariat
	}
	s, err := fed.LoadSecretariatSigner(key)
	if err != nil {
		f.t.Fatal(err)
	}
	d := fed.Directory{Federation: "cix-test", Version: version, IssuedAt: time.Now().UTC(), Manifest: manifest, Anchors: map[string]string{}}
	for _, c := range codes {
		b, err := os.ReadFile(f.anchors[c])
		if err != nil {
			f.t.Fatal(err)
		}
		d.Anchors[c] = string(b)
	}
	raw, err := fed.SignDirectory(d, s)
	if err != nil {
		f.t.Fatal(err)
	}
	return raw
}

func (f *fedNet) waitDirectory(version uint64, codes ...string) {
	f.t.Helper()
	for _, c := range codes {
		eventually(f.t, wait, fmt.Sprintf("%s applies directory v%d", c, version), func() bool {
			return f.node(c).d.DirectoryVersion() == version
		})
	}
}

// TestFederatedMemberDirectory: the secretariat's signed directory, published in one
// member's all-members scope, is applied at every running node without restart: v2
// adds FR (its anchor, its scopes); once the hub runs the regenerated configuration and
// FR's node joins, the inbound streams the running nodes updated live carry FR's alerts
// both ways. An older version and one signed by another key are quarantined and change
// nothing; v3 removes DE's anchor and DE's alerts stop verifying at once.
func TestFederatedMemberDirectory(t *testing.T) {
	f := startFedNet(t)
	nl, be, de := f.node("NL"), f.node("BE"), f.node("DE")
	ctx := context.Background()
	members := []string{"NL", "BE", "DE"}
	toFR := alertFor(&alertv1.Audience{Administrations: []string{"FR"}})
	if _, err := nl.client.Publish(ctx, &nodev1.PublishRequest{Alert: toFR}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("alert to FR before FR joined: %v", err)
	}

	// v2: FR joins.
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	t.Setenv("CIX_TEST_LEAF_SEED_FR", string(seed))
	frKS, err := trust.OpenDevKeystore(filepath.Join(f.dir, "FR", "keys"), "FR", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.anchors["FR"] = frKS.AnchorPath()
	frAge, err := sealed.Generate() // FR's age key: alerts addressed to FR are sealed to it
	if err != nil {
		t.Fatal(err)
	}
	if err := sealed.WriteFile(sealed.IdentityFile(filepath.Join(f.dir, "FR", "keys")), frAge); err != nil {
		t.Fatal(err)
	}
	v2 := strings.Replace(f.manifest, "groups:", fmt.Sprintf("  - code: FR\n    name: Douane FR\n    nodes: [n1]\n    leaf_nkeys: [%s]\n    age_recipient: %s\ngroups:",
		pub, frAge.Recipient()), 1)
	f.injectOut("NL", fed.DirectorySubject("NL", 2), f.directory(2, v2, "", "NL", "BE", "DE", "FR"))
	f.waitDirectory(2, members...)
	toFRID := publish(t, nl, toFR).Id // the audience check knows FR now

	// The hub runs the regenerated configuration; FR's node starts from v2. The other
	// nodes are not restarted.
	m2, err := fed.Parse([]byte(v2))
	if err != nil {
		t.Fatal(err)
	}
	hub, err := fed.HubConfig(m2, f.hubOpts)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.hubFile, []byte(hub), 0o600); err != nil {
		t.Fatal(err)
	}
	f.stopHub()
	f.startHub()
	f.waitLeaves(3)
	v2File := filepath.Join(f.dir, "manifest-v2.yaml")
	if err := os.WriteFile(v2File, []byte(v2), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := f.cfgs["NL"]
	cfg.Administration, cfg.DataDir = "FR", filepath.Join(f.dir, "FR")
	cfg.Federation.Manifest, cfg.Federation.LeafNkeySeedEnv = v2File, "CIX_TEST_LEAF_SEED_FR"
	cfg.Trust.Anchors = []string{f.anchors["NL"], f.anchors["BE"], f.anchors["DE"]}
	f.cfgs["FR"] = cfg
	fr := f.startNode("FR")
	f.waitLeaves(4)
	subs := map[string]*subscription{}
	for _, c := range members {
		subs[c] = subscribe(t, f.node(c), &nodev1.SubscribeRequest{})
	}
	fromFR := publish(t, fr, alertFor(nil)).Id
	// After a hub restart a source's consumer may be re-created only after nats-server's
	// 30 s consumer-create timeout (docs/transport.md): wait longer than that.
	start := time.Now()
	for _, c := range members {
		got := map[string]bool{}
		for !got[fromFR] {
			got[subs[c].nextAlert(t, 90*time.Second).GetAlert().GetId()] = true
		}
		t.Logf("%s, not restarted, received FR's alert %v after FR published it", c, time.Since(start))
	}
	frSub := subscribe(t, fr, &nodev1.SubscribeRequest{Start: nodev1.StartPosition_START_POSITION_EARLIEST})
	got := map[string]bool{}
	for !got[toFRID] {
		got[frSub.nextAlert(t, 90*time.Second).GetAlert().GetId()] = true
	}

	// An older version (genuine, v1) and a v3 signed by another key: quarantined,
	// nothing changes.
	otherKey := filepath.Join(t.TempDir(), "other.key")
	if _, err := fed.GenerateSecretariatKey(otherKey, otherKey+".pub"); err != nil {
		t.Fatal(err)
	}
	f.injectOut("BE", fed.DirectorySubject("BE", 1), f.directory(1, f.manifest, "", "NL", "BE", "DE"))
	f.injectOut("BE", fed.DirectorySubject("BE", 3), f.directory(3, f.manifest, otherKey, "NL", "BE"))
	want := map[string]nodev1.QuarantineReason{
		fed.DirectorySubject("BE", 1): nodev1.QuarantineReason_QUARANTINE_REASON_INVALID_CONTENT,
		fed.DirectorySubject("BE", 3): nodev1.QuarantineReason_QUARANTINE_REASON_UNKNOWN_KEY,
	}
	for _, c := range append(members, "FR") {
		n := f.node(c)
		eventually(t, wait, c+" quarantines the old and the forged directory", func() bool {
			q := quarantinedBySubject(t, n)
			for s, r := range want {
				if q[s].GetReason() != r {
					return false
				}
			}
			return true
		})
		if v := n.d.DirectoryVersion(); v != 2 {
			t.Fatalf("%s applies directory v%d after the refused ones", c, v)
		}
	}

	// v3 (genuine, relayed by BE): DE's anchor is removed. What DE signs from now on is
	// refused everywhere.
	f.injectOut("BE", fed.DirectorySubject("BE", 4), f.directory(4, v2, "", "NL", "BE", "FR"))
	f.waitDirectory(4, "NL", "BE", "DE", "FR")
	fromDE := publish(t, de, alertFor(nil)).Id
	for _, n := range []*testNode{nl, be, fr} {
		eventually(t, wait, n.cfg.Administration+" refuses DE's alert", func() bool {
			for _, q := range quarantined(t, n) {
				if bytes.Contains(q.GetRaw(), []byte(fromDE)) { // alerts share their subject
					return q.GetReason() == nodev1.QuarantineReason_QUARANTINE_REASON_UNKNOWN_KEY
				}
			}
			return false
		})
	}
}
