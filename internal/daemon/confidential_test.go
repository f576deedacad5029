package daemon_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/cix-exchange/cix/internal/envelope"
	fed "github.com/cix-exchange/cix/internal/federation"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/sealed"
	"github.com/cix-exchange/cix/internal/synth"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// onWire returns the alert NL's node stored in its outbound stream under the message
// id subject (the alert's subject with its id): the exact bytes the hub relays.
func onWire(t *testing.T, js jetstream.JetStream, subject string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := js.Stream(ctx, fed.OutboundStream("NL"))
	if err != nil {
		t.Fatal(err)
	}
	return outboundAlert(t, st, subject).Data
}

// sealedOf decodes a sealed alert envelope.
func sealedOf(t *testing.T, raw []byte) *alertv1.SealedAlert {
	t.Helper()
	env := mustEnvelope(t, raw)
	if env.GetPayloadType() != envelope.PayloadTypeSealedAlert {
		t.Fatalf("payload type %q, want %q", env.GetPayloadType(), envelope.PayloadTypeSealedAlert)
	}
	sa := &alertv1.SealedAlert{}
	if err := proto.Unmarshal(env.GetPayload(), sa); err != nil {
		t.Fatal(err)
	}
	return sa
}

// quarantinedAt waits until n quarantines a message on subject for reason and returns
// the detail.
func quarantinedAt(t *testing.T, n *testNode, subject string, reason nodev1.QuarantineReason) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var detail string
	eventually(t, wait, "quarantined "+reason.String()+" on "+subject, func() bool {
		r, err := n.admin.ListQuarantine(ctx, &nodev1.ListQuarantineRequest{})
		if err != nil {
			return false
		}
		for _, q := range r.GetMessages() {
			if q.GetSubject() == subject && q.GetReason() == reason {
				detail = q.GetDetail()
				return true
			}
		}
		return false
	})
	return detail
}

func TestFederatedConfidentiality(t *testing.T) {
	f := startFedNet(t)
	nl, be, de := f.node("NL"), f.node("BE"), f.node("DE")
	subBE, subDE := subscribe(t, be, &nodev1.SubscribeRequest{}), subscribe(t, de, &nodev1.SubscribeRequest{})
	rawDE := capture(t, f.rawConn("DE"), "DE")
	js, err := jetstream.New(f.rawConn("NL"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	secret := "SECRET-" + uuid.NewString()
	ga := alertFor(&alertv1.Audience{Groups: []string{"benelux"}})
	ga.NationalCaseReference = secret
	group := publish(t, nl, ga).Id
	aa := alertFor(nil)
	aa.NationalCaseReference = "OPEN-" + uuid.NewString()
	all := publish(t, nl, aa).Id

	// BE (member of benelux) reads the group alert, and the all-members one: two scopes,
	// two sources, so in either order. DE gets only the all-members one.
	beGot := map[string]string{}
	for range 2 {
		got := subBE.nextAlert(t, wait).GetAlert()
		beGot[got.GetId()] = got.GetNationalCaseReference()
	}
	if beGot[group] != secret || beGot[all] != aa.GetNationalCaseReference() {
		t.Fatalf("BE received %v, want the benelux alert %s readable and the all-members one %s", beGot, group, all)
	}
	if got := subDE.nextAlert(t, wait).GetAlert(); got.GetId() != all {
		t.Fatalf("DE received %s, want only the all-members alert %s", got.GetId(), all)
	}
	if _, err := de.client.Get(ctx, &nodev1.GetRequest{Id: group}); status.Code(err) != codes.NotFound {
		t.Errorf("DE Get of the benelux alert: %v, want NotFound", err)
	}
	// The origin holds its own copy readable.
	if r, err := nl.client.Get(ctx, &nodev1.GetRequest{Id: group}); err != nil || r.GetAlert().GetAlert().GetNationalCaseReference() != secret {
		t.Errorf("NL reads its own sealed alert: %v", err)
	}
	if s := rawDE.containing(secret); len(s) > 0 {
		t.Errorf("DE's account saw the secret on %v", s)
	}

	groupSubject := fed.OutboundSubject("NL", fed.ToGroup("benelux"), "risk", group)
	wire := onWire(t, js, groupSubject)
	t.Run("a captured copy is unreadable except to the recipients", func(t *testing.T) {
		if strings.Contains(string(wire), secret) || strings.Contains(string(wire), "bananas") {
			t.Fatal("the sealed alert's content is in clear on the wire")
		}
		sa := sealedOf(t, wire)
		if sa.GetId() != group || sa.GetKind() != "risk" || sa.GetOrigin().GetAdministration() != "NL" {
			t.Errorf("routing fields: %v", sa)
		}
		// The hub operator holds no member's identity: any other identity stands for it.
		hub, _ := sealed.Generate()
		for who, id := range map[string]*age.X25519Identity{"DE": f.ageIDs["DE"], "hub": hub} {
			if _, err := sealed.Decrypt(sa.GetCiphertext(), id, 1<<20); !errors.Is(err, sealed.ErrNotRecipient) {
				t.Errorf("%s decrypting the benelux alert: %v, want not a recipient", who, err)
			}
		}
		for _, who := range []string{"NL", "BE"} {
			pt, err := sealed.Decrypt(sa.GetCiphertext(), f.ageIDs[who], 1<<20)
			if err != nil || !strings.Contains(string(pt), secret) {
				t.Errorf("%s decrypting the benelux alert: %v", who, err)
			}
		}
		// No recipient is named in the ciphertext.
		for c, id := range f.ageIDs {
			if strings.Contains(string(wire), id.Recipient().String()) {
				t.Errorf("the ciphertext names %s's recipient", c)
			}
		}
	})

	t.Run("all-members alerts stay plaintext", func(t *testing.T) {
		raw := onWire(t, js, fed.OutboundSubject("NL", fed.AllMembers(), "risk", all))
		if env := mustEnvelope(t, raw); env.GetPayloadType() != envelope.PayloadTypeAlert || !strings.Contains(string(raw), aa.NationalCaseReference) {
			t.Errorf("all-members alert: payload type %q, content in clear %v", env.GetPayloadType(), strings.Contains(string(raw), aa.NationalCaseReference))
		}
	})

	t.Run("tampered ciphertext is quarantined", func(t *testing.T) {
		env := mustEnvelope(t, wire)
		env.Payload[len(env.Payload)-1] ^= 1
		// Published on a subject with an alert id, as a node of an earlier version does
		// (still read), so that the quarantine names it alone.
		subject := fed.OutboundSubject("NL", fed.ToGroup("benelux"), "risk", uuid.NewString())
		if _, err := js.Publish(ctx, subject, remarshal(t, env), jetstream.WithMsgID(subject)); err != nil {
			t.Fatal(err)
		}
		quarantinedAt(t, be, subject, nodev1.QuarantineReason_QUARANTINE_REASON_BAD_SIGNATURE)
	})

	t.Run("sealed to the wrong recipients is quarantined", func(t *testing.T) {
		// Signed by NL's real key, but encrypted to NL alone and sent to benelux.
		ks, err := trust.OpenDevKeystore(filepath.Join(f.dir, "NL", "keys"), "NL", "n1", nil)
		if err != nil {
			t.Fatal(err)
		}
		a := alertFor(&alertv1.Audience{Groups: []string{"benelux"}})
		a.Origin, a.IssuedAt = &alertv1.Origin{Administration: "NL", Node: "n1"}, timestamppb.Now()
		ct, err := sealed.Encrypt(marshal(t, a), f.ageIDs["NL"].Recipient())
		if err != nil {
			t.Fatal(err)
		}
		payload, err := proto.Marshal(&alertv1.SealedAlert{Origin: a.Origin, Id: a.Id, Kind: "risk", Audience: a.Audience, Ciphertext: ct})
		if err != nil {
			t.Fatal(err)
		}
		subject := fed.OutboundSubject("NL", fed.ToGroup("benelux"), "risk", a.Id)
		if _, err := js.Publish(ctx, subject, signedBy(t, ks, envelope.PayloadTypeSealedAlert, payload), jetstream.WithMsgID(subject)); err != nil {
			t.Fatal(err)
		}
		detail := quarantinedAt(t, be, subject, nodev1.QuarantineReason_QUARANTINE_REASON_UNDECODABLE_PAYLOAD)
		if !strings.Contains(detail, "not encrypted to BE's age key") {
			t.Errorf("detail %q does not say BE is not a recipient", detail)
		}
	})
}

func TestFederatedHandlingRules(t *testing.T) {
	f := startFedNet(t)
	nl, be := f.node("NL"), f.node("BE")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	benelux := &alertv1.Audience{Groups: []string{"benelux"}}

	withPersons := func(au *alertv1.Audience, approved bool) *alertv1.Alert {
		a := synth.ValidSeizure()
		a.Id, a.Origin, a.Audience = uuid.NewString(), nil, au
		a.Handling.PersonalData, a.Handling.PersonalDataAllMembersApproved = true, approved
		a.GetSeizure().Persons = []*alertv1.Person{{Role: alertv1.PersonRole_PERSON_ROLE_DRIVER, FamilyName: "Jansen"}}
		return a
	}
	t.Run("personal data to all members needs approval", func(t *testing.T) {
		_, err := nl.client.Publish(ctx, &nodev1.PublishRequest{Alert: withPersons(nil, false)})
		assertFields(t, err, "alert.handling.personal_data_all_members_approved")
		publish(t, nl, withPersons(nil, true))
		publish(t, nl, withPersons(benelux, false))
	})

	t.Run("TLP:RED is not for all members", func(t *testing.T) {
		a := alertFor(nil)
		a.Handling.Tlp = alertv1.Tlp_TLP_RED
		_, err := nl.client.Publish(ctx, &nodev1.PublishRequest{Alert: a})
		assertFields(t, err, "alert.handling.tlp")
	})

	t.Run("RED and H2 alerts are not re-published by a receiver", func(t *testing.T) {
		red := alertFor(benelux)
		red.Handling.Tlp = alertv1.Tlp_TLP_RED
		redID := publish(t, nl, red).Id
		h2 := alertFor(nil)
		h2.Handling.Code = alertv1.HandlingCode_HANDLING_CODE_H2
		h2ID := publish(t, nl, h2).Id
		eventually(t, wait, "BE holds both", func() bool { // on two scopes: no order between them
			_, err1 := be.client.Get(ctx, &nodev1.GetRequest{Id: redID})
			_, err2 := be.client.Get(ctx, &nodev1.GetRequest{Id: h2ID})
			return err1 == nil && err2 == nil
		})
		for _, tc := range []struct{ id, why string }{{redID, "TLP:RED of NL"}, {h2ID, "H2"}} {
			amend := alertFor(nil)
			amend.Supersedes, amend.Version = tc.id, 2
			_, err := be.client.Publish(ctx, &nodev1.PublishRequest{Alert: amend})
			if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "alert.supersedes") || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("BE amends NL's %s alert: %v, want FailedPrecondition naming alert.supersedes", tc.why, err)
			}
		}
		// The origin may amend its own.
		own := alertFor(benelux)
		own.Supersedes, own.Version = redID, 2
		own.Handling.Tlp = alertv1.Tlp_TLP_RED
		publish(t, nl, own)
	})
}
