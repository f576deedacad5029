package daemon_test

import (
	"context"
	"crypto/x509"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/assist"
	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/daemon"
	"github.com/cix-exchange/cix/internal/envelope"
	fed "github.com/cix-exchange/cix/internal/federation"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	pb "github.com/cix-exchange/cix/internal/gen/cix/assistance/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/sealed"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// testClock is the clock of the nodes' assistance flags: the system clock moved by an
// offset the test sets.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }
func assistClient(n *testNode) pb.AssistanceServiceClient {
	return pb.NewAssistanceServiceClient(n.conn)
}

const assistWait = 60 * time.Second

func requestContent(to string, u pb.Urgency) *pb.RequestContent {
	return &pb.RequestContent{
		RequestingAuthority: "FIOD Rotterdam", RequestedAuthority: "AAD&A Antwerpen", RequestedAdministration: to,
		LegalBasis: "naples-ii-art-10", NatureOfProceedings: pb.ProceedingsNature_PROCEEDINGS_NATURE_CRIMINAL,
		ObjectAndReason: "Verify the exporter of container CSQU3054383", LegalProvisions: []string{"Naples II art. 10"},
		Parties:        []*pb.Party{{Kind: pb.PartyKind_PARTY_KIND_COMPANY, Name: "Acme Trading BV", Identifier: "NL123456789", Country: "NL"}},
		SummaryOfFacts: "Undervalued textiles declared at Rotterdam.", Confidentiality: "Do not contact the company.",
		RequestedTimeLimit: timestamppb.New(time.Now().Add(14 * 24 * time.Hour)), Urgency: u,
	}
}

func actx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), assistWait)
	t.Cleanup(cancel)
	return ctx
}

// submitted creates and submits a request from nl to code and returns its id.
func submitted(t *testing.T, nl pb.AssistanceServiceClient, to string, u pb.Urgency) string {
	t.Helper()
	ctx := actx(t)
	cr, err := nl.CreateRequest(ctx, &pb.CreateRequestRequest{ClientId: uuid.NewString(), Content: requestContent(to, u)})
	if err != nil {
		t.Fatal(err)
	}
	if st := cr.GetRequest().GetState(); st != pb.RequestState_REQUEST_STATE_DRAFT {
		t.Fatalf("created request is %v, want DRAFT", st)
	}
	id := cr.GetRequest().GetRequestId()
	if _, err := nl.SubmitRequest(ctx, &pb.SubmitRequestRequest{RequestId: id, ClientId: uuid.NewString()}); err != nil {
		t.Fatal(err)
	}
	return id
}

// waitState waits until c shows request id in state want and returns it.
func waitState(t *testing.T, who string, c pb.AssistanceServiceClient, id string, want pb.RequestState) *pb.Request {
	t.Helper()
	return waitStateFor(t, who, c, id, want, assistWait)
}

// waitStateFor is waitState with its own deadline.
func waitStateFor(t *testing.T, who string, c pb.AssistanceServiceClient, id string, want pb.RequestState, wait time.Duration) *pb.Request {
	t.Helper()
	var last *pb.Request
	var lastErr error
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r, err := c.GetRequest(ctx, &pb.GetRequestRequest{RequestId: id})
		cancel()
		if err == nil && r.GetRequest().GetState() == want {
			return r.GetRequest()
		}
		last, lastErr = r.GetRequest(), err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: request %s is %v (%v), want %v", who, id, last.GetState(), lastErr, want)
	return nil
}

func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v (%v), want %v", status.Code(err), err, code)
	}
}

func canonical(r *pb.Request) []*pb.HistoryEntry {
	var out []*pb.HistoryEntry
	for _, h := range r.GetHistory() {
		if h.GetSupersededBy() == "" {
			out = append(out, h)
		}
	}
	return out
}

// sameHistory fails unless both sides hold the same canonical transitions in the same
// order (hashes, chain links, actions, signers) and it is n long.
func sameHistory(t *testing.T, a, b *pb.Request, n int) {
	t.Helper()
	ha, hb := canonical(a), canonical(b)
	if len(ha) != n || len(hb) != n {
		t.Fatalf("histories of %d and %d transitions, want %d", len(ha), len(hb), n)
	}
	for i := range ha {
		x, y := ha[i], hb[i]
		if x.GetSha256() != y.GetSha256() || x.GetPrevSha256() != y.GetPrevSha256() || x.GetAction() != y.GetAction() ||
			x.GetKeyId() != y.GetKeyId() || x.GetSignerNode() != y.GetSignerNode() || !proto.Equal(x.GetTransition(), y.GetTransition()) {
			t.Fatalf("transition %d differs:\n%v\n%v", i, x, y)
		}
		if i > 0 && x.GetPrevSha256() != ha[i-1].GetSha256() {
			t.Fatalf("transition %d names %s, not the previous one %s", i, x.GetPrevSha256(), ha[i-1].GetSha256())
		}
	}
}

// verifyOffline checks an exported history as a third party holding the anchors and
// one administration's age key would: each envelope's digest, signature, the decrypted
// transition's chain link and actor.
func verifyOffline(t *testing.T, f *fedNet, exp *pb.ExportHistoryResponse, reader string, want []*pb.HistoryEntry) {
	t.Helper()
	var anchors []*x509.Certificate
	for _, c := range []string{"NL", "BE", "DE"} {
		a, err := trust.LoadAnchors(f.anchors[c])
		if err != nil {
			t.Fatal(err)
		}
		anchors = append(anchors, a...)
	}
	v, err := trust.NewVerifier(nil, anchors...)
	if err != nil {
		t.Fatal(err)
	}
	if len(exp.GetEnvelopes()) != len(want) {
		t.Fatalf("exported %d envelopes, want %d", len(exp.GetEnvelopes()), len(want))
	}
	prev := ""
	for i, e := range exp.GetEnvelopes() {
		if assist.Digest(e.GetEnvelope()) != e.GetSha256() || e.GetSha256() != want[i].GetSha256() {
			t.Fatalf("envelope %d: digest %s, listed %s, history %s", i, assist.Digest(e.GetEnvelope()), e.GetSha256(), want[i].GetSha256())
		}
		o, err := envelope.Open(e.GetEnvelope(), envelope.PayloadTypeAssistance, v.At(time.Now()))
		if err != nil {
			t.Fatalf("envelope %d does not verify: %v", i, err)
		}
		st := &pb.SealedTransition{}
		if err := proto.Unmarshal(o.Envelope.GetPayload(), st); err != nil {
			t.Fatal(err)
		}
		pt, err := sealed.Decrypt(st.GetCiphertext(), f.ageIDs[reader], 1<<20)
		if err != nil {
			t.Fatalf("envelope %d: %s cannot decrypt: %v", i, reader, err)
		}
		tr := &pb.Transition{}
		if err := proto.Unmarshal(pt, tr); err != nil {
			t.Fatal(err)
		}
		if tr.GetPrevSha256() != prev || tr.GetActorAdministration() != o.Signer.Administration || st.GetFrom() != o.Signer.Administration {
			t.Fatalf("envelope %d: prev %s (want %s), actor %s, signer %s", i, tr.GetPrevSha256(), prev, tr.GetActorAdministration(), o.Signer.Administration)
		}
		prev = e.GetSha256()
	}
}

func item(title string, code alertv1.HandlingCode) *pb.ReplyItem {
	return &pb.ReplyItem{Title: title, Text: "Exporter registered since 2019, 3 declarations.", Handling: &alertv1.Handling{Tlp: alertv1.Tlp_TLP_AMBER, Code: code}}
}

func TestAssistanceHappyPathNLToBE(t *testing.T) {
	f := startFedNet(t)
	nl, be, de := assistClient(f.node("NL")), assistClient(f.node("BE")), assistClient(f.node("DE"))
	rawBE, rawDE := capture(t, f.rawConn("BE"), "BE"), capture(t, f.rawConn("DE"), "DE")
	ctx := actx(t)

	cr, err := nl.CreateRequest(ctx, &pb.CreateRequestRequest{ClientId: "create-1", Content: requestContent("BE", pb.Urgency_URGENCY_NORMAL)})
	if err != nil {
		t.Fatal(err)
	}
	id := cr.GetRequest().GetRequestId()
	again, err := nl.CreateRequest(ctx, &pb.CreateRequestRequest{ClientId: "create-1", Content: requestContent("BE", pb.Urgency_URGENCY_NORMAL)})
	if err != nil || !again.GetReplayed() || again.GetRequest().GetRequestId() != id {
		t.Fatalf("CreateRequest retried: %v replayed=%v id %s, want the first draft %s", err, again.GetReplayed(), again.GetRequest().GetRequestId(), id)
	}
	sub, err := nl.SubmitRequest(ctx, &pb.SubmitRequestRequest{RequestId: id, ClientId: "submit-1"})
	if err != nil {
		t.Fatal(err)
	}
	// Idempotent: the same client_id returns the first transition and sends nothing.
	sub2, err := nl.SubmitRequest(ctx, &pb.SubmitRequestRequest{RequestId: id, ClientId: "submit-1"})
	if err != nil || !sub2.GetReplayed() || sub2.GetTransition().GetSha256() != sub.GetTransition().GetSha256() {
		t.Fatalf("SubmitRequest retried: %v, replayed=%v", err, sub2.GetReplayed())
	}
	_, err = nl.WithdrawRequest(ctx, &pb.WithdrawRequestRequest{RequestId: id, ClientId: "submit-1"})
	wantCode(t, err, codes.FailedPrecondition)

	// DELIVERED on both sides (automatic), not yet RECEIVED.
	waitState(t, "BE", be, id, pb.RequestState_REQUEST_STATE_DELIVERED)
	waitState(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_DELIVERED)
	// Only the requested side acknowledges, and only once delivered.
	_, err = nl.AcknowledgeRequest(ctx, &pb.AcknowledgeRequestRequest{RequestId: id, ClientId: uuid.NewString()})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = be.AcceptRequest(ctx, &pb.AcceptRequestRequest{RequestId: id, ClientId: uuid.NewString()})
	wantCode(t, err, codes.FailedPrecondition)

	ack, err := be.AcknowledgeRequest(ctx, &pb.AcknowledgeRequestRequest{RequestId: id, ClientId: "ack-1", Reference: "BE-2026-0042"})
	if err != nil {
		t.Fatal(err)
	}
	dl := ack.GetRequest().GetDeadline().AsTime()
	if got := dl.Sub(ack.GetTransition().GetIssuedAt().AsTime()); got != 168*time.Hour {
		t.Fatalf("deadline %v after acknowledgement, want the default 168h for a normal request", got)
	}
	got := waitState(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_RECEIVED)
	if !got.GetDeadline().AsTime().Equal(dl) {
		t.Fatalf("NL shows deadline %v, BE %v", got.GetDeadline().AsTime(), dl)
	}
	if _, err := be.AcceptRequest(ctx, &pb.AcceptRequestRequest{RequestId: id, ClientId: "accept-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := be.AnswerRequest(ctx, &pb.AnswerRequestRequest{RequestId: id, ClientId: "answer-1", Reply: &pb.Reply{Items: []*pb.ReplyItem{
		item("Company record", alertv1.HandlingCode_HANDLING_CODE_H1), item("Declarations", alertv1.HandlingCode_HANDLING_CODE_H2)}}}); err != nil {
		t.Fatal(err)
	}
	ans := waitState(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_ANSWERED)
	if len(ans.GetReplies()) != 2 || ans.GetReplies()[1].GetHandling().GetCode() != alertv1.HandlingCode_HANDLING_CODE_H2 {
		t.Fatalf("NL holds replies %v", ans.GetReplies())
	}
	// Answered: the requested side can no longer refuse; closing is the requester's.
	_, err = be.RefuseRequest(ctx, &pb.RefuseRequestRequest{RequestId: id, ClientId: uuid.NewString(), Refusal: &pb.Refusal{Reason: pb.RefusalReason_REFUSAL_REASON_OTHER, Text: "x"}})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = be.CloseRequest(ctx, &pb.CloseRequestRequest{RequestId: id, ClientId: uuid.NewString()})
	wantCode(t, err, codes.FailedPrecondition)
	if _, err := nl.CloseRequest(ctx, &pb.CloseRequestRequest{RequestId: id, ClientId: "close-1", Closure: &pb.Closure{Outcome: pb.OutcomeRating_OUTCOME_RATING_USEFUL, Feedback: "Led to a seizure."}}); err != nil {
		t.Fatal(err)
	}
	b := waitState(t, "BE", be, id, pb.RequestState_REQUEST_STATE_CLOSED)
	n := waitState(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_CLOSED)
	sameHistory(t, n, b, 6) // SUBMIT DELIVER ACKNOWLEDGE ACCEPT ANSWER CLOSE
	wantActions := []pb.Action{pb.Action_ACTION_SUBMIT, pb.Action_ACTION_DELIVER, pb.Action_ACTION_ACKNOWLEDGE, pb.Action_ACTION_ACCEPT, pb.Action_ACTION_ANSWER, pb.Action_ACTION_CLOSE}
	for i, h := range canonical(n) {
		if h.GetAction() != wantActions[i] {
			t.Fatalf("transition %d is %v, want %v", i, h.GetAction(), wantActions[i])
		}
	}
	if n.GetDirection() != pb.Direction_DIRECTION_OUTGOING || b.GetDirection() != pb.Direction_DIRECTION_INCOMING || n.GetCounterpart() != "BE" || b.GetCounterpart() != "NL" {
		t.Fatalf("directions %v/%s and %v/%s", n.GetDirection(), n.GetCounterpart(), b.GetDirection(), b.GetCounterpart())
	}
	for _, who := range []struct {
		c      pb.AssistanceServiceClient
		reader string
	}{{nl, "NL"}, {be, "BE"}} {
		exp, err := who.c.ExportHistory(ctx, &pb.ExportHistoryRequest{RequestId: id})
		if err != nil {
			t.Fatal(err)
		}
		verifyOffline(t, f, exp, who.reader, canonical(n))
	}

	// Listing by direction and counterpart.
	l, err := be.ListRequests(ctx, &pb.ListRequestsRequest{Direction: pb.Direction_DIRECTION_INCOMING, Counterpart: "NL"})
	if err != nil || len(l.GetRequests()) != 1 || l.GetRequests()[0].GetRequestId() != id {
		t.Fatalf("BE incoming from NL: %v %v", l.GetRequests(), err)
	}
	if l, err := be.ListRequests(ctx, &pb.ListRequestsRequest{Direction: pb.Direction_DIRECTION_OUTGOING}); err != nil || len(l.GetRequests()) != 0 {
		t.Fatalf("BE outgoing: %v %v", l.GetRequests(), err)
	}

	// A third administration never sees it: not on its API, not on its wire.
	_, err = de.GetRequest(ctx, &pb.GetRequestRequest{RequestId: id})
	wantCode(t, err, codes.NotFound)
	if l, err := de.ListRequests(ctx, &pb.ListRequestsRequest{}); err != nil || len(l.GetRequests()) != 0 {
		t.Fatalf("DE lists %v (%v)", l.GetRequests(), err)
	}
	eventually(t, assistWait, "BE's raw subscription to see the request (else DE's proves nothing)", func() bool {
		return len(rawBE.containing(id)) > 0
	})
	if s := rawDE.containing(id); len(s) > 0 {
		t.Fatalf("DE's account carried the request on %v", s)
	}
	for _, h := range canonical(n) {
		if s := rawDE.containing(h.GetMsgId()); len(s) > 0 {
			t.Fatalf("DE's account carried transition %s on %v", h.GetMsgId(), s)
		}
	}

	// Restarted, BE rebuilds the same history from its log.
	if err := f.node("BE").d.Stop(); err != nil {
		t.Fatal(err)
	}
	be = assistClient(f.startNode("BE"))
	b2 := waitState(t, "BE restarted", be, id, pb.RequestState_REQUEST_STATE_CLOSED)
	sameHistory(t, n, b2, 6)
}

func TestAssistanceSideStatesAndMandatoryFields(t *testing.T) {
	f := startFedNet(t)
	nl, be := assistClient(f.node("NL")), assistClient(f.node("BE"))
	ctx := actx(t)

	t.Run("submit needs every mandatory field", func(t *testing.T) {
		for field, clear := range map[string]func(*pb.RequestContent){
			"content.requesting_authority":  func(c *pb.RequestContent) { c.RequestingAuthority = "" },
			"content.requested_authority":   func(c *pb.RequestContent) { c.RequestedAuthority = "" },
			"content.legal_basis":           func(c *pb.RequestContent) { c.LegalBasis = "" },
			"content.nature_of_proceedings": func(c *pb.RequestContent) { c.NatureOfProceedings = 0 },
			"content.object_and_reason":     func(c *pb.RequestContent) { c.ObjectAndReason = "" },
			"content.legal_provisions":      func(c *pb.RequestContent) { c.LegalProvisions = nil },
			"content.parties":               func(c *pb.RequestContent) { c.Parties = nil },
			"content.summary_of_facts":      func(c *pb.RequestContent) { c.SummaryOfFacts = "" },
			"content.confidentiality":       func(c *pb.RequestContent) { c.Confidentiality = "" },
			"content.requested_time_limit":  func(c *pb.RequestContent) { c.RequestedTimeLimit = nil },
			"content.urgency":               func(c *pb.RequestContent) { c.Urgency = 0 },
		} {
			c := requestContent("BE", pb.Urgency_URGENCY_NORMAL)
			clear(c)
			cr, err := nl.CreateRequest(ctx, &pb.CreateRequestRequest{ClientId: uuid.NewString(), Content: c})
			if err != nil {
				t.Fatal(err)
			}
			_, err = nl.SubmitRequest(ctx, &pb.SubmitRequestRequest{RequestId: cr.GetRequest().GetRequestId(), ClientId: uuid.NewString()})
			assertFields(t, err, field)
		}
		_, err := nl.CreateRequest(ctx, &pb.CreateRequestRequest{Content: requestContent("BE", pb.Urgency_URGENCY_NORMAL)})
		assertFields(t, err, "client_id")
		_, err = nl.CreateRequest(ctx, &pb.CreateRequestRequest{ClientId: uuid.NewString(), Content: requestContent("FR", pb.Urgency_URGENCY_NORMAL)})
		assertFields(t, err, "content.requested_administration")
	})

	t.Run("incomplete, amended, postponed, pending authorisation, partial answer, refused", func(t *testing.T) {
		id := submitted(t, nl, "BE", pb.Urgency_URGENCY_URGENT)
		waitState(t, "BE", be, id, pb.RequestState_REQUEST_STATE_DELIVERED)
		if _, err := be.AcknowledgeRequest(ctx, &pb.AcknowledgeRequestRequest{RequestId: id, ClientId: uuid.NewString()}); err != nil {
			t.Fatal(err)
		}
		_, err := be.RequestCorrection(ctx, &pb.RequestCorrectionRequest{RequestId: id, ClientId: uuid.NewString()})
		assertFields(t, err, "correction.reasons")
		if _, err := be.RequestCorrection(ctx, &pb.RequestCorrectionRequest{RequestId: id, ClientId: uuid.NewString(),
			Correction: &pb.CorrectionRequest{Reasons: []string{"Name the exporter's EORI"}, Fields: []string{"content.parties"}}}); err != nil {
			t.Fatal(err)
		}
		waitState(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_INCOMPLETE)
		bad := requestContent("BE", pb.Urgency_URGENCY_URGENT)
		bad.SummaryOfFacts = ""
		_, err = nl.AmendRequest(ctx, &pb.AmendRequestRequest{RequestId: id, ClientId: uuid.NewString(), Content: bad})
		assertFields(t, err, "content.summary_of_facts")
		other := requestContent("DE", pb.Urgency_URGENCY_URGENT)
		_, err = nl.AmendRequest(ctx, &pb.AmendRequestRequest{RequestId: id, ClientId: uuid.NewString(), Content: other})
		assertFields(t, err, "content.requested_administration")
		amended := requestContent("BE", pb.Urgency_URGENCY_URGENT)
		amended.Parties[0].Identifier = "NL123456789000"
		if _, err := nl.AmendRequest(ctx, &pb.AmendRequestRequest{RequestId: id, ClientId: uuid.NewString(), Content: amended}); err != nil {
			t.Fatal(err)
		}
		r := waitState(t, "BE", be, id, pb.RequestState_REQUEST_STATE_AMENDED)
		if r.GetContent().GetParties()[0].GetIdentifier() != "NL123456789000" {
			t.Fatalf("BE shows content %v, not the amended one", r.GetContent())
		}
		if _, err := be.AcceptRequest(ctx, &pb.AcceptRequestRequest{RequestId: id, ClientId: uuid.NewString()}); err != nil {
			t.Fatal(err)
		}
		_, err = be.PostponeRequest(ctx, &pb.PostponeRequestRequest{RequestId: id, ClientId: uuid.NewString()})
		assertFields(t, err, "postponement.reasons")
		if _, err := be.PostponeRequest(ctx, &pb.PostponeRequestRequest{RequestId: id, ClientId: uuid.NewString(),
			Postponement: &pb.Postponement{Reasons: []string{"Ongoing national investigation"}}}); err != nil {
			t.Fatal(err)
		}
		waitState(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_POSTPONED)
		_, err = be.MarkPendingAuthorisation(ctx, &pb.MarkPendingAuthorisationRequest{RequestId: id, ClientId: uuid.NewString(),
			DelayNotice: &pb.DelayNotice{Reasons: []string{"Judge must authorise"}}})
		assertFields(t, err, "delay_notice.expected_duration")
		_, err = be.MarkPendingAuthorisation(ctx, &pb.MarkPendingAuthorisationRequest{RequestId: id, ClientId: uuid.NewString(),
			DelayNotice: &pb.DelayNotice{ExpectedDuration: durationpb.New(48 * time.Hour)}})
		assertFields(t, err, "delay_notice.reasons")
		if _, err := be.MarkPendingAuthorisation(ctx, &pb.MarkPendingAuthorisationRequest{RequestId: id, ClientId: uuid.NewString(),
			DelayNotice: &pb.DelayNotice{ExpectedDuration: durationpb.New(48 * time.Hour), Reasons: []string{"Judge must authorise"}}}); err != nil {
			t.Fatal(err)
		}
		waitState(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_PENDING_AUTHORISATION)
		_, err = be.SendPartialAnswer(ctx, &pb.SendPartialAnswerRequest{RequestId: id, ClientId: uuid.NewString(),
			Reply: &pb.Reply{Items: []*pb.ReplyItem{{Title: "Company record", Text: "x"}}}})
		assertFields(t, err, "reply.items[0].handling")
		h3 := item("Bank data", alertv1.HandlingCode_HANDLING_CODE_H3)
		_, err = be.SendPartialAnswer(ctx, &pb.SendPartialAnswerRequest{RequestId: id, ClientId: uuid.NewString(), Reply: &pb.Reply{Items: []*pb.ReplyItem{h3}}})
		assertFields(t, err, "reply.items[0].handling.restrictions")
		h3.Handling.Restrictions = "Only for the FIOD investigation 2026-17"
		if _, err := be.SendPartialAnswer(ctx, &pb.SendPartialAnswerRequest{RequestId: id, ClientId: uuid.NewString(), Reply: &pb.Reply{Items: []*pb.ReplyItem{h3}}}); err != nil {
			t.Fatal(err)
		}
		r = waitState(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_PARTIALLY_ANSWERED)
		if len(r.GetReplies()) != 1 || r.GetReplies()[0].GetHandling().GetRestrictions() == "" {
			t.Fatalf("NL holds replies %v", r.GetReplies())
		}
		_, err = be.RefuseRequest(ctx, &pb.RefuseRequestRequest{RequestId: id, ClientId: uuid.NewString()})
		assertFields(t, err, "refusal.reason", "refusal.text")
		_, err = be.RefuseRequest(ctx, &pb.RefuseRequestRequest{RequestId: id, ClientId: uuid.NewString(), Refusal: &pb.Refusal{Reason: pb.RefusalReason_REFUSAL_REASON_AUTHORISATION_REFUSED}})
		assertFields(t, err, "refusal.text")
		if _, err := be.RefuseRequest(ctx, &pb.RefuseRequestRequest{RequestId: id, ClientId: uuid.NewString(),
			Refusal: &pb.Refusal{Reason: pb.RefusalReason_REFUSAL_REASON_AUTHORISATION_REFUSED, Text: "The judge refused."}}); err != nil {
			t.Fatal(err)
		}
		n := waitState(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_REFUSED)
		// Terminal: nothing more.
		_, err = be.AnswerRequest(ctx, &pb.AnswerRequestRequest{RequestId: id, ClientId: uuid.NewString(), Reply: &pb.Reply{Items: []*pb.ReplyItem{item("x", alertv1.HandlingCode_HANDLING_CODE_H0)}}})
		wantCode(t, err, codes.FailedPrecondition)
		_, err = nl.WithdrawRequest(ctx, &pb.WithdrawRequestRequest{RequestId: id, ClientId: uuid.NewString()})
		wantCode(t, err, codes.FailedPrecondition)
		b, err := be.GetRequest(ctx, &pb.GetRequestRequest{RequestId: id})
		if err != nil {
			t.Fatal(err)
		}
		sameHistory(t, n, b.GetRequest(), 10)
	})

	t.Run("withdrawn", func(t *testing.T) {
		id := submitted(t, nl, "BE", pb.Urgency_URGENCY_NORMAL)
		waitState(t, "BE", be, id, pb.RequestState_REQUEST_STATE_DELIVERED)
		waitState(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_DELIVERED)
		_, err := be.WithdrawRequest(ctx, &pb.WithdrawRequestRequest{RequestId: id, ClientId: uuid.NewString()})
		wantCode(t, err, codes.FailedPrecondition) // the requester's action
		if _, err := nl.WithdrawRequest(ctx, &pb.WithdrawRequestRequest{RequestId: id, ClientId: uuid.NewString(), Reason: "Case closed nationally"}); err != nil {
			t.Fatal(err)
		}
		waitState(t, "BE", be, id, pb.RequestState_REQUEST_STATE_WITHDRAWN)
		_, err = be.AnswerRequest(ctx, &pb.AnswerRequestRequest{RequestId: id, ClientId: uuid.NewString(), Reply: &pb.Reply{Items: []*pb.ReplyItem{item("x", alertv1.HandlingCode_HANDLING_CODE_H0)}}})
		wantCode(t, err, codes.FailedPrecondition)
		if st, _ := status.FromError(err); !containsAll(st.Message(), "ANSWER", "WITHDRAWN") {
			t.Fatalf("message %q does not name the action and the state", st.Message())
		}
		_, err = be.AcknowledgeRequest(ctx, &pb.AcknowledgeRequestRequest{RequestId: id, ClientId: uuid.NewString()})
		wantCode(t, err, codes.FailedPrecondition)
	})

	t.Run("drafts", func(t *testing.T) {
		cr, err := nl.CreateRequest(ctx, &pb.CreateRequestRequest{ClientId: uuid.NewString(), Content: &pb.RequestContent{RequestedAdministration: "BE"}})
		if err != nil {
			t.Fatal(err)
		}
		id := cr.GetRequest().GetRequestId()
		// Nothing is sent for a draft.
		_, err = be.GetRequest(ctx, &pb.GetRequestRequest{RequestId: id})
		wantCode(t, err, codes.NotFound)
		if _, err := nl.UpdateDraft(ctx, &pb.UpdateDraftRequest{RequestId: id, Content: requestContent("BE", pb.Urgency_URGENCY_NORMAL)}); err != nil {
			t.Fatal(err)
		}
		if _, err := nl.SubmitRequest(ctx, &pb.SubmitRequestRequest{RequestId: id, ClientId: uuid.NewString()}); err != nil {
			t.Fatal(err)
		}
		_, err = nl.UpdateDraft(ctx, &pb.UpdateDraftRequest{RequestId: id, Content: requestContent("BE", pb.Urgency_URGENCY_NORMAL)})
		wantCode(t, err, codes.FailedPrecondition)
		_, err = nl.SubmitRequest(ctx, &pb.SubmitRequestRequest{RequestId: id, ClientId: uuid.NewString()})
		wantCode(t, err, codes.FailedPrecondition)
	})

	t.Run("attachments of a request the node does not hold", func(t *testing.T) {
		// The node's own attachment store is wired: an unknown request is NotFound.
		s, err := nl.GetAttachment(ctx, &pb.GetAttachmentRequest{RequestId: uuid.NewString(), Sha256: strings.Repeat("0", 64)})
		if err == nil {
			_, err = s.Recv()
		}
		wantCode(t, err, codes.NotFound)
		wantCode(t, uploadErr(t, nl, uuid.NewString(), "scan.pdf", 10), codes.NotFound)
	})
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

func TestAssistanceDeadlineOverdueAndDelayNotice(t *testing.T) {
	clock := &testClock{}
	f := startFedNetWith(t, func(string) daemon.Options { return daemon.Options{Now: clock.Now} })
	nl, be := assistClient(f.node("NL")), assistClient(f.node("BE"))
	ctx := actx(t)
	id := submitted(t, nl, "BE", pb.Urgency_URGENCY_URGENT_DIRECT_ACCESS)
	waitState(t, "BE", be, id, pb.RequestState_REQUEST_STATE_DELIVERED)
	ack, err := be.AcknowledgeRequest(ctx, &pb.AcknowledgeRequestRequest{RequestId: id, ClientId: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	if d := ack.GetRequest().GetDeadline().AsTime().Sub(ack.GetTransition().GetIssuedAt().AsTime()); d != 8*time.Hour {
		t.Fatalf("deadline %v after acknowledgement, want 8h (urgent, data directly accessible)", d)
	}
	if _, err := be.AcceptRequest(ctx, &pb.AcceptRequestRequest{RequestId: id, ClientId: uuid.NewString()}); err != nil {
		t.Fatal(err)
	}
	waitState(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_IN_PROGRESS)
	overdue := func(c pb.AssistanceServiceClient) bool {
		r, err := c.GetRequest(ctx, &pb.GetRequestRequest{RequestId: id})
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(r.GetRequest().GetFlags(), pb.Flag_FLAG_OVERDUE)
	}
	if overdue(nl) || overdue(be) {
		t.Fatal("OVERDUE before the deadline")
	}
	clock.Advance(9 * time.Hour)
	if !overdue(nl) || !overdue(be) {
		t.Fatal("not OVERDUE on both sides after the deadline")
	}
	for _, c := range []pb.AssistanceServiceClient{nl, be} {
		l, err := c.ListRequests(ctx, &pb.ListRequestsRequest{OverdueOnly: true})
		if err != nil || len(l.GetRequests()) != 1 || l.GetRequests()[0].GetRequestId() != id {
			t.Fatalf("overdue listing: %v %v", l.GetRequests(), err)
		}
	}
	// A delay notice (pending judicial authorisation, 72h) moves the effective deadline.
	if _, err := be.MarkPendingAuthorisation(ctx, &pb.MarkPendingAuthorisationRequest{RequestId: id, ClientId: uuid.NewString(),
		DelayNotice: &pb.DelayNotice{ExpectedDuration: durationpb.New(72 * time.Hour), Reasons: []string{"Judge must authorise"}}}); err != nil {
		t.Fatal(err)
	}
	n := waitState(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_PENDING_AUTHORISATION)
	if overdue(nl) || overdue(be) {
		t.Fatal("still OVERDUE after the delay notice")
	}
	if !n.GetEffectiveDeadline().AsTime().After(n.GetDeadline().AsTime()) {
		t.Fatalf("effective deadline %v not after deadline %v", n.GetEffectiveDeadline().AsTime(), n.GetDeadline().AsTime())
	}
	clock.Advance(80 * time.Hour)
	if !overdue(nl) || !overdue(be) {
		t.Fatal("not OVERDUE on both sides after the delay notice ran out")
	}

	// An oral urgent request: a draft past the confirmation period is flagged, and so is
	// its late written confirmation.
	c := requestContent("BE", pb.Urgency_URGENCY_URGENT)
	c.OralRequestAt = timestamppb.New(clock.Now().Add(-time.Hour))
	cr, err := nl.CreateRequest(ctx, &pb.CreateRequestRequest{ClientId: uuid.NewString(), Content: c})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(cr.GetRequest().GetFlags(), pb.Flag_FLAG_CONFIRMATION_OVERDUE) {
		t.Fatal("CONFIRMATION_OVERDUE within the confirmation period")
	}
	clock.Advance(24 * time.Hour)
	r, err := nl.GetRequest(ctx, &pb.GetRequestRequest{RequestId: cr.GetRequest().GetRequestId()})
	if err != nil || !slices.Contains(r.GetRequest().GetFlags(), pb.Flag_FLAG_CONFIRMATION_OVERDUE) {
		t.Fatalf("flags %v (%v), want CONFIRMATION_OVERDUE", r.GetRequest().GetFlags(), err)
	}
}

func TestAssistanceSubmittedWhileHubDown(t *testing.T) {
	f := startFedNet(t)
	nl, be := assistClient(f.node("NL")), assistClient(f.node("BE"))
	ctx := actx(t)
	f.stopHub()
	id := submitted(t, nl, "BE", pb.Urgency_URGENCY_NORMAL)
	r, err := nl.GetRequest(ctx, &pb.GetRequestRequest{RequestId: id})
	if err != nil || r.GetRequest().GetState() != pb.RequestState_REQUEST_STATE_SUBMITTED {
		t.Fatalf("NL with the hub down: %v (%v), want SUBMITTED", r.GetRequest().GetState(), err)
	}
	_, err = be.GetRequest(ctx, &pb.GetRequestRequest{RequestId: id})
	wantCode(t, err, codes.NotFound)
	f.startHub()
	f.waitLeaves(3)
	// Delivered by BE's node, not yet received by its contact point.
	waitState(t, "BE", be, id, pb.RequestState_REQUEST_STATE_DELIVERED)
	waitState(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_DELIVERED)
	if _, err := be.AcknowledgeRequest(ctx, &pb.AcknowledgeRequestRequest{RequestId: id, ClientId: uuid.NewString()}); err != nil {
		t.Fatal(err)
	}
	waitState(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_RECEIVED)
}

// forge publishes into NL's outbound stream, as a client of NL's leaf account could, a
// transition to BE signed with key and sealed to NL and BE.
func forge(t *testing.T, f *fedNet, key envelope.Signer, from string, tr *pb.Transition) string {
	t.Helper()
	st, err := assist.Seal(tr, from, "BE", f.ageIDs["BE"].Recipient(), f.ageIDs["NL"].Recipient())
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
	js, err := jetstream.New(f.rawConn("NL"))
	if err != nil {
		t.Fatal(err)
	}
	subject := assist.Subject("NL", "BE", tr.GetMsgId())
	if _, err := js.Publish(actx(t), subject, data, jetstream.WithMsgID(subject), jetstream.WithExpectStream(fed.OutboundStream("NL"))); err != nil {
		t.Fatal(err)
	}
	return subject
}

func TestAssistanceForgedTransitionsQuarantined(t *testing.T) {
	f := startFedNet(t)
	nl, be := assistClient(f.node("NL")), assistClient(f.node("BE"))
	ctx := actx(t)
	id := submitted(t, nl, "BE", pb.Urgency_URGENCY_NORMAL)
	before := waitState(t, "BE", be, id, pb.RequestState_REQUEST_STATE_DELIVERED)
	head := before.GetHeadSha256()

	nlKS, err := trust.OpenDevKeystore(filepath.Join(f.dir, "NL", "keys"), "NL", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	nlKey, err := nlKS.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deKS, err := trust.OpenDevKeystore(filepath.Join(f.dir, "DE", "keys"), "DE", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	deKey, err := deKS.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	withdraw := func(actorAdmin, clientID, prev string) *pb.Transition {
		return &pb.Transition{RequestId: id, MsgId: assist.MsgID(actorAdmin, clientID), ClientId: clientID, Action: pb.Action_ACTION_WITHDRAW,
			ActorAdministration: actorAdmin, ActorNode: "n1", IssuedAt: timestamppb.Now(), PrevSha256: prev,
			RequestingAdministration: "NL", RequestedAdministration: "BE", Content: &pb.Transition_Withdrawal{Withdrawal: &pb.Withdrawal{}}}
	}
	cases := []struct {
		name   string
		key    envelope.Signer
		tr     *pb.Transition
		reason nodev1.QuarantineReason
	}{
		// Signed by DE's key, claiming to be NL's, on NL's subject.
		{"signed by another administration", deKey, withdraw("NL", "forged-1", head), nodev1.QuarantineReason_QUARANTINE_REASON_ORIGIN_MISMATCH},
		// NL's own key, chained on a transition BE does not hold.
		{"broken hash chain", nlKey, withdraw("NL", "forged-2", assist.Digest([]byte("no such transition"))), nodev1.QuarantineReason_QUARANTINE_REASON_CHAIN_BROKEN},
		// NL's own key, an action of the requested side.
		{"action of the other side", nlKey, func() *pb.Transition {
			tr := withdraw("NL", "forged-3", head)
			tr.Action, tr.Content = pb.Action_ACTION_ACKNOWLEDGE, &pb.Transition_Acknowledgement{Acknowledgement: &pb.Acknowledgement{Deadline: timestamppb.Now()}}
			return tr
		}(), nodev1.QuarantineReason_QUARANTINE_REASON_ILLEGAL_TRANSITION},
		// NL's own key, claiming to be the requested side of NL's own request.
		{"roles swapped", nlKey, func() *pb.Transition {
			tr := withdraw("NL", "forged-4", head)
			tr.RequestingAdministration, tr.RequestedAdministration = "BE", "NL"
			tr.Action, tr.Content = pb.Action_ACTION_ACKNOWLEDGE, &pb.Transition_Acknowledgement{Acknowledgement: &pb.Acknowledgement{Deadline: timestamppb.Now()}}
			return tr
		}(), nodev1.QuarantineReason_QUARANTINE_REASON_INVALID_CONTENT},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			subject := forge(t, f, tc.key, "NL", tc.tr)
			eventually(t, assistWait, "BE quarantines "+subject, func() bool {
				r, err := f.node("BE").admin.ListQuarantine(ctx, &nodev1.ListQuarantineRequest{})
				if err != nil {
					return false
				}
				for _, q := range r.GetMessages() {
					if q.GetSubject() == subject {
						if q.GetReason() != tc.reason {
							t.Fatalf("quarantined as %v (%s), want %v", q.GetReason(), q.GetDetail(), tc.reason)
						}
						return true
					}
				}
				return false
			})
			r, err := be.GetRequest(ctx, &pb.GetRequestRequest{RequestId: id})
			if err != nil {
				t.Fatal(err)
			}
			if r.GetRequest().GetState() != pb.RequestState_REQUEST_STATE_DELIVERED || r.GetRequest().GetHeadSha256() != head || len(r.GetRequest().GetHistory()) != 2 {
				t.Fatalf("BE's request changed: %v head %s, %d transitions", r.GetRequest().GetState(), r.GetRequest().GetHeadSha256(), len(r.GetRequest().GetHistory()))
			}
		})
	}
	// A genuine transition still goes through after the forgeries.
	if _, err := be.AcknowledgeRequest(ctx, &pb.AcknowledgeRequestRequest{RequestId: id, ClientId: uuid.NewString()}); err != nil {
		t.Fatal(err)
	}
	waitState(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_RECEIVED)
}

func TestAssistanceNeedsFederationMode(t *testing.T) {
	n := startNode(t, "NL", nil, nil)
	_, err := assistClient(n).ListRequests(actx(t), &pb.ListRequestsRequest{})
	wantCode(t, err, codes.FailedPrecondition)
	if st, _ := status.FromError(err); !strings.Contains(st.Message(), "federation.manifest") {
		t.Fatalf("message %q does not say what is missing", st.Message())
	}
}

// The roles of AssistanceService under mutual TLS: assistance-officer calls everything,
// admin reads requests (not attachments), publisher and analyst are refused every read
// and every write. The node is not in federation mode,
// so an admitted call answers FailedPrecondition and a refused one PermissionDenied.
func TestAssistanceRoles(t *testing.T) {
	n := startNode(t, "NL", nil, nil, func(c *config.Config) { c.GRPC.TLS.Mode = config.TLSDev })
	ctx := actx(t)
	for _, tc := range []struct {
		role        trust.Role
		read, write codes.Code
	}{
		{trust.RoleAssistanceOfficer, codes.FailedPrecondition, codes.FailedPrecondition},
		{trust.RoleAdmin, codes.FailedPrecondition, codes.PermissionDenied},
		{trust.RolePublisher, codes.PermissionDenied, codes.PermissionDenied},
		{trust.RoleAnalyst, codes.PermissionDenied, codes.PermissionDenied},
	} {
		c := pb.NewAssistanceServiceClient(tlsConn(t, n.d.Addr(), n.ks.Anchor(), clientCert(t, n.ks, tc.role)))
		_, err := c.ListRequests(ctx, &pb.ListRequestsRequest{})
		if status.Code(err) != tc.read {
			t.Errorf("%s ListRequests: %v, want %v", tc.role, err, tc.read)
		}
		_, err = c.GetRequest(ctx, &pb.GetRequestRequest{RequestId: uuid.NewString()})
		if status.Code(err) != tc.read {
			t.Errorf("%s GetRequest: %v, want %v", tc.role, err, tc.read)
		}
		_, err = c.CreateRequest(ctx, &pb.CreateRequestRequest{ClientId: "x"})
		if status.Code(err) != tc.write {
			t.Errorf("%s CreateRequest: %v, want %v", tc.role, err, tc.write)
		}
		_, err = c.AnswerRequest(ctx, &pb.AnswerRequestRequest{RequestId: uuid.NewString(), ClientId: "y"})
		if status.Code(err) != tc.write {
			t.Errorf("%s AnswerRequest: %v, want %v", tc.role, err, tc.write)
		}
		// Every way of reading assistance: history, export, watch, attachments.
		_, err = c.ExportHistory(ctx, &pb.ExportHistoryRequest{RequestId: uuid.NewString()})
		if status.Code(err) != tc.read {
			t.Errorf("%s ExportHistory: %v, want %v", tc.role, err, tc.read)
		}
		if w, err := c.WatchRequests(ctx, &pb.WatchRequestsRequest{}); err == nil {
			_, err = w.Recv()
			if status.Code(err) != tc.read {
				t.Errorf("%s WatchRequests: %v, want %v", tc.role, err, tc.read)
			}
		} else if status.Code(err) != tc.read {
			t.Errorf("%s WatchRequests: %v, want %v", tc.role, err, tc.read)
		}
		if g, err := c.GetAttachment(ctx, &pb.GetAttachmentRequest{RequestId: uuid.NewString(), Sha256: strings.Repeat("a", 64)}); err == nil {
			_, err = g.Recv()
			if status.Code(err) != tc.write {
				t.Errorf("%s GetAttachment: %v, want %v", tc.role, err, tc.write)
			}
		} else if status.Code(err) != tc.write {
			t.Errorf("%s GetAttachment: %v, want %v", tc.role, err, tc.write)
		}
	}
}

// A fork: NL withdraws while the hub is down, so BE's node delivers the SUBMIT not
// knowing of the WITHDRAW. Both transitions are chained on SUBMIT; both sides keep both
// and choose the same winner (the earlier WITHDRAW), with DELIVER superseded.
func TestAssistanceForkConvergesAndIsWatched(t *testing.T) {
	f := startFedNet(t)
	nl, be := assistClient(f.node("NL")), assistClient(f.node("BE"))
	ctx := actx(t)
	f.stopHub()
	id := submitted(t, nl, "BE", pb.Urgency_URGENCY_NORMAL)
	if _, err := nl.WithdrawRequest(ctx, &pb.WithdrawRequestRequest{RequestId: id, ClientId: uuid.NewString(), Reason: "sent by mistake"}); err != nil {
		t.Fatal(err)
	}
	f.startHub()
	f.waitLeaves(3)
	var sides []*pb.Request
	for _, s := range []struct {
		who string
		c   pb.AssistanceServiceClient
	}{{"NL", nl}, {"BE", be}} {
		var r *pb.Request
		eventually(t, assistWait, s.who+" holds SUBMIT, WITHDRAW and DELIVER", func() bool {
			g, err := s.c.GetRequest(ctx, &pb.GetRequestRequest{RequestId: id})
			if err != nil {
				return false
			}
			r = g.GetRequest()
			return len(r.GetHistory()) == 3
		})
		if r.GetState() != pb.RequestState_REQUEST_STATE_WITHDRAWN || !slices.Contains(r.GetFlags(), pb.Flag_FLAG_CONFLICT) {
			t.Fatalf("%s: %v flags %v, want WITHDRAWN with CONFLICT", s.who, r.GetState(), r.GetFlags())
		}
		last := r.GetHistory()[2]
		if last.GetAction() != pb.Action_ACTION_DELIVER || last.GetSupersededBy() != r.GetHistory()[1].GetSha256() || last.GetStateAfter() != 0 {
			t.Fatalf("%s: superseded entry %v", s.who, last)
		}
		sides = append(sides, r)
	}
	sameHistory(t, sides[0], sides[1], 2)

	// WatchRequests replays NL's changes (draft, SUBMIT, WITHDRAW, DELIVER with its
	// conflict), then caught_up; from a cursor it resumes right after it.
	events := func(cursor string) []*pb.WatchRequestsResponse {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		w, err := nl.WatchRequests(wctx, &pb.WatchRequestsRequest{Cursor: cursor, RequestId: id})
		if err != nil {
			t.Fatal(err)
		}
		var out []*pb.WatchRequestsResponse
		for {
			ev, err := w.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if ev.GetCaughtUp() != nil {
				return out
			}
			out = append(out, ev)
		}
	}
	all := events("")
	var actions []pb.Action
	conflicts := 0
	for _, ev := range all {
		if ev.GetConflict() != nil {
			conflicts++
			continue
		}
		if e := ev.GetChanged().GetEntry(); e != nil {
			actions = append(actions, e.GetAction())
		}
	}
	if !slices.Equal(actions, []pb.Action{pb.Action_ACTION_SUBMIT, pb.Action_ACTION_WITHDRAW, pb.Action_ACTION_DELIVER}) || conflicts != 1 {
		t.Fatalf("watched actions %v, %d conflicts", actions, conflicts)
	}
	if ev := all[0].GetChanged(); ev == nil || ev.GetEntry() != nil {
		t.Fatalf("first event %v, want the draft", all[0])
	}
	rest := events(all[1].GetChanged().GetCursor())
	if len(rest) != len(all)-2 || !proto.Equal(rest[0], all[2]) {
		t.Fatalf("resumed watch: %d events, want %d starting with %v", len(rest), len(all)-2, all[2])
	}
}
