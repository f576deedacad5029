package assist

import (
	"context"
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/cix-exchange/cix/internal/envelope"
	pb "github.com/cix-exchange/cix/internal/gen/cix/assistance/v1"
	"github.com/cix-exchange/cix/internal/sealed"
	"github.com/cix-exchange/cix/internal/trust"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type party struct {
	admin  string
	key    *trust.SigningKey
	anchor *x509.Certificate
	age    *age.X25519Identity
}

func newParty(t *testing.T, admin string) party {
	t.Helper()
	ks, err := trust.OpenDevKeystore(filepath.Join(t.TempDir(), admin), admin, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ks.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	id, err := sealed.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return party{admin: admin, key: key, anchor: ks.Anchor(), age: id}
}

// sealAndSign is what a node does with an own transition: seal to both, sign.
func sealAndSign(t *testing.T, signer party, from, to string, tr *pb.Transition, recips ...age.Recipient) []byte {
	t.Helper()
	st, err := Seal(tr, from, to, recips...)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Seal(PayloadType, payload, signer.key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := envelope.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerify(t *testing.T) {
	nl, be, de := newParty(t, "NL"), newParty(t, "BE"), newParty(t, "DE")
	v, err := trust.NewVerifier(nil, nl.anchor, be.anchor, de.anchor)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	submit := func(mod func(*pb.Transition)) *pb.Transition {
		tr := &pb.Transition{RequestId: "5b0e0c1e-8a51-4f57-9d3c-6f1a2b3c4d5e", ClientId: "c1", MsgId: MsgID("NL", "c1"), Action: pb.Action_ACTION_SUBMIT,
			ActorAdministration: "NL", ActorNode: "n1", IssuedAt: timestamppb.New(now), RequestingAdministration: "NL", RequestedAdministration: "BE",
			Content: &pb.Transition_Request{Request: content()}}
		if mod != nil {
			mod(tr)
		}
		return tr
	}
	both := []age.Recipient{be.age.Recipient(), nl.age.Recipient()}
	good := submit(nil)
	raw := sealAndSign(t, nl, "NL", "BE", good, both...)
	o, err := Verify(v, be.age, "BE", Subject("NL", "BE", good.GetMsgId()), raw, now)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(o.T, good) || o.Signer.Administration != "NL" {
		t.Fatalf("opened %v signed by %v", o.T, o.Signer)
	}
	// The sender can read its own transition (to rebuild its history).
	if _, err := sealedDecrypt(o.Sealed.GetCiphertext(), nl.age); err != nil {
		t.Fatalf("the sender cannot decrypt: %v", err)
	}
	for _, tc := range []struct {
		name    string
		subject string
		raw     []byte
		self    string
		id      *age.X25519Identity
		reason  envelope.Reason
	}{
		{"not an assist subject", "cix.out.NL.to.BE.risk." + good.GetMsgId(), raw, "BE", be.age, envelope.ReasonInvalidContent},
		{"to someone else", Subject("NL", "DE", good.GetMsgId()), raw, "DE", de.age, envelope.ReasonAudienceMismatch},
		{"under another origin", Subject("DE", "BE", good.GetMsgId()), raw, "BE", be.age, envelope.ReasonOriginMismatch},
		{"another message id", Subject("NL", "BE", "0123"), raw, "BE", be.age, envelope.ReasonInvalidContent},
		{"signed by DE as NL", Subject("NL", "BE", good.GetMsgId()), sealAndSign(t, de, "NL", "BE", good, both...), "BE", be.age, envelope.ReasonOriginMismatch},
		{"not encrypted to BE", Subject("NL", "BE", good.GetMsgId()), sealAndSign(t, nl, "NL", "BE", good, nl.age.Recipient()), "BE", be.age, envelope.ReasonUndecodablePayload},
		{"actor is not the signer", Subject("NL", "BE", good.GetMsgId()),
			sealAndSign(t, nl, "NL", "BE", submit(func(tr *pb.Transition) { tr.ActorNode = "n2" }), both...), "BE", be.age, envelope.ReasonOriginMismatch},
		{"message id not derived", Subject("NL", "BE", "abcd"),
			sealAndSign(t, nl, "NL", "BE", submit(func(tr *pb.Transition) { tr.MsgId = "abcd" }), both...), "BE", be.age, envelope.ReasonInvalidContent},
		{"a request between others", Subject("NL", "BE", good.GetMsgId()),
			sealAndSign(t, nl, "NL", "BE", submit(func(tr *pb.Transition) { tr.RequestedAdministration = "DE" }), both...), "BE", be.age, envelope.ReasonAudienceMismatch},
		{"issued after storage", Subject("NL", "BE", good.GetMsgId()),
			sealAndSign(t, nl, "NL", "BE", submit(func(tr *pb.Transition) { tr.IssuedAt = timestamppb.New(now.Add(time.Hour)) }), both...), "BE", be.age, envelope.ReasonInvalidContent},
		{"content missing", Subject("NL", "BE", good.GetMsgId()),
			sealAndSign(t, nl, "NL", "BE", submit(func(tr *pb.Transition) { tr.Content = nil }), both...), "BE", be.age, envelope.ReasonInvalidContent},
		{"content invalid", Subject("NL", "BE", good.GetMsgId()),
			sealAndSign(t, nl, "NL", "BE", submit(func(tr *pb.Transition) { tr.GetRequest().Parties = nil }), both...), "BE", be.age, envelope.ReasonInvalidContent},
		// Refused by the wire limits before the transition is decoded, not by validation.
		{"huge repeated field", Subject("NL", "BE", good.GetMsgId()),
			sealAndSign(t, nl, "NL", "BE", submit(func(tr *pb.Transition) { tr.GetRequest().Parties = make([]*pb.Party, 5000) }), both...), "BE", be.age, envelope.ReasonUndecodablePayload},
		{"tampered", Subject("NL", "BE", good.GetMsgId()), append(append([]byte{}, raw[:len(raw)-1]...), raw[len(raw)-1]^1), "BE", be.age, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(v, tc.id, tc.self, tc.subject, tc.raw, now)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := envelope.ReasonOf(err); tc.reason != 0 && got != tc.reason {
				t.Fatalf("reason %v (%v), want %v", got, err, tc.reason)
			} else if got == 0 {
				t.Fatalf("refused without a reason: %v", err)
			}
		})
	}
}
