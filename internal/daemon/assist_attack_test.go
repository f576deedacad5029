package daemon_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cix-exchange/cix/internal/assist"
	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/envelope"
	fed "github.com/cix-exchange/cix/internal/federation"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	pb "github.com/cix-exchange/cix/internal/gen/cix/assistance/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// assistQuarantinedAt waits until code's node quarantined a message on subject and returns it.
func assistQuarantinedAt(t *testing.T, f *fedNet, code, subject string) *nodev1.QuarantinedMessage {
	t.Helper()
	var found *nodev1.QuarantinedMessage
	eventually(t, outageWait, code+" quarantines "+subject, func() bool {
		r, err := f.node(code).admin.ListQuarantine(actx(t), &nodev1.ListQuarantineRequest{PageSize: 1000})
		if err != nil {
			return false
		}
		for _, q := range r.GetMessages() {
			if q.GetSubject() == subject {
				found = q
				return true
			}
		}
		return false
	})
	return found
}

func wantReason(t *testing.T, q *nodev1.QuarantinedMessage, want nodev1.QuarantineReason, detail string) {
	t.Helper()
	if q.GetReason() != want || !strings.Contains(q.GetDetail(), detail) {
		t.Fatalf("quarantined as %v (%s), want %v mentioning %q", q.GetReason(), q.GetDetail(), want, detail)
	}
}

// Issue 8's attacks applied to mutual assistance, on the wire (as a client of NL's or
// DE's leaf account could publish) and at the API. Each subtest shows the attack
// refused and the requests unchanged.
func TestAssistanceAttacks(t *testing.T) {
	f := startFedNet(t)
	nl, be, de := assistClient(f.node("NL")), assistClient(f.node("BE")), assistClient(f.node("DE"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*outageWait)
	defer cancel()
	id := submitted(t, nl, "BE", pb.Urgency_URGENCY_NORMAL)
	before := waitState(t, "BE", be, id, pb.RequestState_REQUEST_STATE_DELIVERED)
	exp, err := nl.ExportHistory(ctx, &pb.ExportHistoryRequest{RequestId: id})
	if err != nil {
		t.Fatal(err)
	}
	submit := exp.GetEnvelopes()[0] // NL's SUBMIT, exactly as signed and stored
	if submit.GetSha256() != before.GetHistory()[0].GetSha256() {
		t.Fatalf("exported first envelope %s, BE's history starts with %s", submit.GetSha256(), before.GetHistory()[0].GetSha256())
	}
	jsNL, err := jetstream.New(f.rawConn("NL"))
	if err != nil {
		t.Fatal(err)
	}
	outNL, err := jsNL.Stream(ctx, fed.OutboundStream("NL"))
	if err != nil {
		t.Fatal(err)
	}
	publish := func(js jetstream.JetStream, subject, msgID string, data []byte) error {
		_, err := js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data}, jetstream.WithMsgID(msgID))
		return err
	}
	// unchanged: BE still holds the request as it was (SUBMIT, DELIVER).
	unchanged := func(t *testing.T) {
		t.Helper()
		r := assistHistory(t, be, id)
		if r.GetState() != pb.RequestState_REQUEST_STATE_DELIVERED || r.GetHeadSha256() != before.GetHeadSha256() || len(r.GetHistory()) != 2 {
			t.Fatalf("BE's request changed: %v head %s, %d transitions", r.GetState(), r.GetHeadSha256(), len(r.GetHistory()))
		}
	}

	t.Run("replay of an old transition on its own subject", func(t *testing.T) {
		// A publisher that asks for an empty subject, as the node does, is refused
		// outside the duplicate window too (another Nats-Msg-Id).
		_, err := jsNL.PublishMsg(ctx, &nats.Msg{Subject: submit.GetSubject(), Data: submit.GetEnvelope()},
			jetstream.WithMsgID("replay-"+uuid.NewString()), jetstream.WithExpectLastSequencePerSubject(0))
		if !bus.IsSubjectTaken(err) {
			t.Fatalf("replay with the node's expectation: %v, want refused (subject taken)", err)
		}
		// A raw replay without it is stored (the outbound stream keeps any number of
		// messages per subject: its alerts share one) and reaches BE, which does not
		// apply it again (its log holds the transition).
		if err := publish(jsNL, submit.GetSubject(), "replay-"+uuid.NewString(), submit.GetEnvelope()); err != nil {
			t.Fatal(err)
		}
		sentinel := submitted(t, nl, "BE", pb.Urgency_URGENCY_NORMAL)
		waitStateFor(t, "BE", be, sentinel, pb.RequestState_REQUEST_STATE_DELIVERED, outageWait)
		unchanged(t)
	})

	t.Run("replay after the original left the stream", func(t *testing.T) {
		// The original deleted from NL's outbound stream (expiry, an operator): the
		// replay is stored and reaches BE, whose node holds the transition already and
		// does not apply it again (receivers keep what they have seen: the log).
		orig, err := outNL.GetLastMsgForSubject(ctx, submit.GetSubject())
		if err != nil {
			t.Fatal(err)
		}
		if err := outNL.DeleteMsg(ctx, orig.Sequence); err != nil {
			t.Fatal(err)
		}
		if err := publish(jsNL, submit.GetSubject(), "replay-"+uuid.NewString(), submit.GetEnvelope()); err != nil {
			t.Fatal(err)
		}
		// A sentinel on the same route: once BE holds it, BE has read the replay.
		sentinel := submitted(t, nl, "BE", pb.Urgency_URGENCY_NORMAL)
		waitStateFor(t, "BE", be, sentinel, pb.RequestState_REQUEST_STATE_DELIVERED, outageWait)
		jsBE, err := jetstream.New(f.rawConn("BE"))
		if err != nil {
			t.Fatal(err)
		}
		in, err := jsBE.Stream(ctx, fed.InboundStream("BE"))
		if err != nil {
			t.Fatal(err)
		}
		ii, err := in.Info(ctx, jetstream.WithSubjectFilter(submit.GetSubject()))
		if err != nil {
			t.Fatal(err)
		}
		if n := ii.State.Subjects[submit.GetSubject()]; n != 3 {
			t.Fatalf("BE's inbound stream holds the SUBMIT %d times, want 3 (both replays reached BE)", n)
		}
		unchanged(t)
		w, err := be.WatchRequests(ctx, &pb.WatchRequestsRequest{RequestId: id})
		if err != nil {
			t.Fatal(err)
		}
		var entries []string
		for {
			ev, err := w.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if ev.GetCaughtUp() != nil {
				break
			}
			if e := ev.GetChanged().GetEntry(); e != nil {
				entries = append(entries, e.GetSha256())
			}
		}
		if len(entries) != 2 || entries[0] != submit.GetSha256() {
			t.Fatalf("BE's watch announced %v, want SUBMIT and DELIVER once each", entries)
		}
	})

	t.Run("replay under another subject", func(t *testing.T) {
		subject := assist.Subject("NL", "BE", assist.MsgID("NL", uuid.NewString()))
		if err := publish(jsNL, subject, subject, submit.GetEnvelope()); err != nil {
			t.Fatal(err)
		}
		wantReason(t, assistQuarantinedAt(t, f, "BE", subject), nodev1.QuarantineReason_QUARANTINE_REASON_INVALID_CONTENT, "subject names message")
		unchanged(t)
	})

	t.Run("transition addressed to someone else", func(t *testing.T) {
		// NL's genuine SUBMIT to BE, replayed by a client of NL's account into the scope
		// of DE: DE refuses it (and could not decrypt it) and holds no request.
		toDE := assist.Subject("NL", "DE", submit.GetMsgId())
		if err := publish(jsNL, toDE, toDE, submit.GetEnvelope()); err != nil {
			t.Fatal(err)
		}
		wantReason(t, assistQuarantinedAt(t, f, "DE", toDE), nodev1.QuarantineReason_QUARANTINE_REASON_AUDIENCE_MISMATCH, "is to \"BE\"")
		if _, err := de.GetRequest(ctx, &pb.GetRequestRequest{RequestId: id}); err == nil {
			t.Fatal("DE holds the request")
		} else {
			wantCode(t, err, codes.NotFound)
		}
		// Signed by NL, sealed for DE (routing field and recipients) but published to
		// BE: BE refuses it.
		ks, err := trust.OpenDevKeystore(f.dir+"/NL/keys", "NL", "n1", nil)
		if err != nil {
			t.Fatal(err)
		}
		key, err := ks.Current(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cid := "addressed-to-de"
		tr := &pb.Transition{RequestId: id, MsgId: assist.MsgID("NL", cid), ClientId: cid, Action: pb.Action_ACTION_WITHDRAW,
			ActorAdministration: "NL", ActorNode: "n1", IssuedAt: timestamppb.Now(), PrevSha256: before.GetHeadSha256(),
			RequestingAdministration: "NL", RequestedAdministration: "BE", Content: &pb.Transition_Withdrawal{Withdrawal: &pb.Withdrawal{}}}
		st, err := assist.Seal(tr, "NL", "DE", f.ageIDs["DE"].Recipient(), f.ageIDs["NL"].Recipient())
		if err != nil {
			t.Fatal(err)
		}
		payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		env, err := envelope.Seal(envelope.PayloadTypeAssistance, payload, key)
		if err != nil {
			t.Fatal(err)
		}
		data, err := envelope.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		toBE := assist.Subject("NL", "BE", tr.GetMsgId())
		if err := publish(jsNL, toBE, toBE, data); err != nil {
			t.Fatal(err)
		}
		wantReason(t, assistQuarantinedAt(t, f, "BE", toBE), nodev1.QuarantineReason_QUARANTINE_REASON_AUDIENCE_MISMATCH, "is to \"DE\"")
		unchanged(t)
	})

	t.Run("oversize transition", func(t *testing.T) {
		// On the wire: the outbound stream's message limit (1 MiB) refuses it.
		subject := assist.Subject("NL", "BE", assist.MsgID("NL", uuid.NewString()))
		err := publish(jsNL, subject, subject, make([]byte, envelope.MaxEnvelopeSize+1))
		if err == nil || !strings.Contains(err.Error(), "message size exceeds maximum") {
			t.Fatalf("oversize message on NL's outbound stream: %v, want refused for its size", err)
		}
		// At the API: a reply whose signed transition would exceed the envelope maximum
		// (60 items of 19,000 bytes each, every field within its own bound).
		if _, err := be.AcknowledgeRequest(ctx, &pb.AcknowledgeRequestRequest{RequestId: id, ClientId: uuid.NewString()}); err != nil {
			t.Fatal(err)
		}
		if _, err := be.AcceptRequest(ctx, &pb.AcceptRequestRequest{RequestId: id, ClientId: uuid.NewString()}); err != nil {
			t.Fatal(err)
		}
		var items []*pb.ReplyItem
		for range 60 {
			it := item("Declarations", alertv1.HandlingCode_HANDLING_CODE_H1)
			it.Text = strings.Repeat("x", 19000)
			items = append(items, it)
		}
		head := assistHistory(t, be, id).GetHeadSha256()
		_, err = be.AnswerRequest(ctx, &pb.AnswerRequestRequest{RequestId: id, ClientId: uuid.NewString(), Reply: &pb.Reply{Items: items}})
		wantCode(t, err, codes.InvalidArgument)
		if r := assistHistory(t, be, id); r.GetHeadSha256() != head || r.GetState() != pb.RequestState_REQUEST_STATE_IN_PROGRESS {
			t.Fatalf("BE's request after the refused answer: %v head %s", r.GetState(), r.GetHeadSha256())
		}
		t.Logf("oversize answer refused: %v", err)
	})
}
