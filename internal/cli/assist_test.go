package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	pb "github.com/cix-exchange/cix/internal/gen/cix/assistance/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The tests in this file are small unit tests of the client side of "cix assist": flag
// and file parsing into the request the node receives, output, retries with the same
// client id, and error printing. They run the CLI against fakeAssist, an in-process
// AssistanceService registered on a real grpc.Server over a real loopback listener.
// The service itself (states, signatures, delivery) is tested with real nodes in
// internal/assist and internal/daemon.

// fakeAssist records every request it receives and answers from canned data.
type fakeAssist struct {
	pb.UnimplementedAssistanceServiceServer
	mu       sync.Mutex
	calls    []proto.Message
	requests map[string]*pb.Request // by request id
	byClient map[string]proto.Message
	nCreated int
	list     []*pb.Request // ListRequests, two per page
	history  []*pb.HistoryEntry
	files    map[string][]byte // attachments by sha256
	chunks   []int             // sizes of the chunks of the last upload
	events   []*pb.WatchRequestsResponse
	live     chan *pb.WatchRequestsResponse // of the latest WatchRequests call
}

// startFakeAssist serves a fakeAssist on a loopback port until the test ends.
func startFakeAssist(t *testing.T) (*fakeAssist, string) {
	t.Helper()
	f := &fakeAssist{requests: map[string]*pb.Request{}, byClient: map[string]proto.Message{}, files: map[string][]byte{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterAssistanceServiceServer(srv, f)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return f, lis.Addr().String()
}

func (f *fakeAssist) record(m proto.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, proto.Clone(m))
}

// last returns the last request received of m's type.
func (f *fakeAssist) last(t *testing.T, m proto.Message) proto.Message {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.calls) - 1; i >= 0; i-- {
		if f.calls[i].ProtoReflect().Descriptor() == m.ProtoReflect().Descriptor() {
			return f.calls[i]
		}
	}
	t.Fatalf("the node received no %s", m.ProtoReflect().Descriptor().Name())
	return nil
}

// count returns how many requests of m's type the node received.
func (f *fakeAssist) count(m proto.Message) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.ProtoReflect().Descriptor() == m.ProtoReflect().Descriptor() {
			n++
		}
	}
	return n
}

// replay returns the response stored for clientID, marked replayed, or nil; the same
// client id for another RPC is FailedPrecondition, as on the real node.
func (f *fakeAssist) replay(clientID string, res proto.Message) (proto.Message, error) {
	prev, ok := f.byClient[clientID]
	if !ok {
		return nil, nil
	}
	if prev.ProtoReflect().Descriptor() != res.ProtoReflect().Descriptor() {
		return nil, status.Errorf(codes.FailedPrecondition, "client_id %s was used for another action", clientID)
	}
	out := proto.Clone(prev)
	fd := out.ProtoReflect().Descriptor().Fields().ByName("replayed")
	out.ProtoReflect().Set(fd, protoreflect.ValueOfBool(true))
	return out, nil
}

func (f *fakeAssist) CreateRequest(_ context.Context, req *pb.CreateRequestRequest) (*pb.CreateRequestResponse, error) {
	f.record(req)
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.GetClientId() == "" {
		return nil, fieldError("client_id", "required")
	}
	res := &pb.CreateRequestResponse{}
	if prev, err := f.replay(req.GetClientId(), res); prev != nil || err != nil {
		if err != nil {
			return nil, err
		}
		return prev.(*pb.CreateRequestResponse), nil
	}
	f.nCreated++
	r := &pb.Request{RequestId: fmt.Sprintf("req-%d", f.nCreated), Direction: pb.Direction_DIRECTION_OUTGOING,
		Counterpart: req.GetContent().GetRequestedAdministration(), RequestingAdministration: "NL",
		RequestedAdministration: req.GetContent().GetRequestedAdministration(), State: pb.RequestState_REQUEST_STATE_DRAFT,
		Content: req.GetContent()}
	f.requests[r.GetRequestId()] = r
	res.Request = r
	f.byClient[req.GetClientId()] = res
	return res, nil
}

func (f *fakeAssist) UpdateDraft(_ context.Context, req *pb.UpdateDraftRequest) (*pb.UpdateDraftResponse, error) {
	f.record(req)
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.requests[req.GetRequestId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no request %s", req.GetRequestId())
	}
	r.Content = req.GetContent()
	return &pb.UpdateDraftResponse{Request: r}, nil
}

func (f *fakeAssist) GetRequest(_ context.Context, req *pb.GetRequestRequest) (*pb.GetRequestResponse, error) {
	f.record(req)
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.requests[req.GetRequestId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no request %s", req.GetRequestId())
	}
	r = proto.Clone(r).(*pb.Request)
	r.History = f.history
	return &pb.GetRequestResponse{Request: r}, nil
}

// fieldError is an InvalidArgument with BadRequest field violations (field, description
// pairs), as the node's API returns them.
func fieldError(fv ...string) error {
	br := &errdetails.BadRequest{}
	var msg []string
	for i := 0; i+1 < len(fv); i += 2 {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: fv[i], Description: fv[i+1]})
		msg = append(msg, fv[i]+": "+fv[i+1])
	}
	st, err := status.New(codes.InvalidArgument, "request incomplete: "+strings.Join(msg, "; ")).WithDetails(br)
	if err != nil {
		panic(err)
	}
	return st.Err()
}

// transition applies an action to a stored request, with replay by client id; check
// may refuse it first.
func (f *fakeAssist) transition(id, clientID string, a pb.Action, to pb.RequestState, res transitionResponse, check func(*pb.Request) error) (proto.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if clientID == "" {
		return nil, fieldError("client_id", "required")
	}
	if prev, err := f.replay(clientID, res); prev != nil || err != nil {
		return prev, err
	}
	r, ok := f.requests[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no request %s", id)
	}
	if check != nil {
		if err := check(r); err != nil {
			return nil, err
		}
	}
	r.State = to
	r.LastAction = a
	r.TransitionCount++
	sum := sha256.Sum256([]byte(id + clientID))
	entry := &pb.HistoryEntry{MsgId: "msg-" + clientID, Action: a, ActorAdministration: "NL", Sha256: hex.EncodeToString(sum[:]), StateAfter: to}
	m := res.ProtoReflect()
	m.Set(m.Descriptor().Fields().ByName("request"), protoreflect.ValueOfMessage(proto.Clone(r).ProtoReflect()))
	m.Set(m.Descriptor().Fields().ByName("transition"), protoreflect.ValueOfMessage(entry.ProtoReflect()))
	f.byClient[clientID] = res
	return res, nil
}

// checkContent refuses a request whose content lacks mandatory fields, naming each.
func checkContent(r *pb.Request) error {
	c := r.GetContent()
	var fv []string
	if c.GetLegalBasis() == "" {
		fv = append(fv, "content.legal_basis", "required")
	}
	if c.GetUrgency() == pb.Urgency_URGENCY_UNSPECIFIED {
		fv = append(fv, "content.urgency", "required")
	}
	if len(c.GetParties()) == 0 {
		fv = append(fv, "content.parties", "at least one person or company is required")
	}
	if len(fv) > 0 {
		return fieldError(fv...)
	}
	return nil
}

func (f *fakeAssist) SubmitRequest(_ context.Context, req *pb.SubmitRequestRequest) (*pb.SubmitRequestResponse, error) {
	f.record(req)
	res, err := f.transition(req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_SUBMIT, pb.RequestState_REQUEST_STATE_SUBMITTED, &pb.SubmitRequestResponse{}, checkContent)
	return asResp[*pb.SubmitRequestResponse](res, err)
}

func (f *fakeAssist) AcknowledgeRequest(_ context.Context, req *pb.AcknowledgeRequestRequest) (*pb.AcknowledgeRequestResponse, error) {
	f.record(req)
	res, err := f.transition(req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_ACKNOWLEDGE, pb.RequestState_REQUEST_STATE_RECEIVED, &pb.AcknowledgeRequestResponse{}, nil)
	return asResp[*pb.AcknowledgeRequestResponse](res, err)
}

func (f *fakeAssist) RequestCorrection(_ context.Context, req *pb.RequestCorrectionRequest) (*pb.RequestCorrectionResponse, error) {
	f.record(req)
	res, err := f.transition(req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_REQUEST_CORRECTION, pb.RequestState_REQUEST_STATE_INCOMPLETE, &pb.RequestCorrectionResponse{}, nil)
	return asResp[*pb.RequestCorrectionResponse](res, err)
}

func (f *fakeAssist) AmendRequest(_ context.Context, req *pb.AmendRequestRequest) (*pb.AmendRequestResponse, error) {
	f.record(req)
	res, err := f.transition(req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_AMEND, pb.RequestState_REQUEST_STATE_AMENDED, &pb.AmendRequestResponse{}, nil)
	return asResp[*pb.AmendRequestResponse](res, err)
}

func (f *fakeAssist) AcceptRequest(_ context.Context, req *pb.AcceptRequestRequest) (*pb.AcceptRequestResponse, error) {
	f.record(req)
	res, err := f.transition(req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_ACCEPT, pb.RequestState_REQUEST_STATE_IN_PROGRESS, &pb.AcceptRequestResponse{}, nil)
	return asResp[*pb.AcceptRequestResponse](res, err)
}

func (f *fakeAssist) PostponeRequest(_ context.Context, req *pb.PostponeRequestRequest) (*pb.PostponeRequestResponse, error) {
	f.record(req)
	res, err := f.transition(req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_POSTPONE, pb.RequestState_REQUEST_STATE_POSTPONED, &pb.PostponeRequestResponse{}, nil)
	return asResp[*pb.PostponeRequestResponse](res, err)
}

func (f *fakeAssist) MarkPendingAuthorisation(_ context.Context, req *pb.MarkPendingAuthorisationRequest) (*pb.MarkPendingAuthorisationResponse, error) {
	f.record(req)
	res, err := f.transition(req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_PENDING_AUTHORISATION, pb.RequestState_REQUEST_STATE_PENDING_AUTHORISATION, &pb.MarkPendingAuthorisationResponse{}, nil)
	return asResp[*pb.MarkPendingAuthorisationResponse](res, err)
}

func (f *fakeAssist) SendPartialAnswer(_ context.Context, req *pb.SendPartialAnswerRequest) (*pb.SendPartialAnswerResponse, error) {
	f.record(req)
	res, err := f.transition(req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_PARTIAL_ANSWER, pb.RequestState_REQUEST_STATE_PARTIALLY_ANSWERED, &pb.SendPartialAnswerResponse{}, nil)
	return asResp[*pb.SendPartialAnswerResponse](res, err)
}

func (f *fakeAssist) AnswerRequest(_ context.Context, req *pb.AnswerRequestRequest) (*pb.AnswerRequestResponse, error) {
	f.record(req)
	res, err := f.transition(req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_ANSWER, pb.RequestState_REQUEST_STATE_ANSWERED, &pb.AnswerRequestResponse{}, nil)
	return asResp[*pb.AnswerRequestResponse](res, err)
}

func (f *fakeAssist) RefuseRequest(_ context.Context, req *pb.RefuseRequestRequest) (*pb.RefuseRequestResponse, error) {
	f.record(req)
	res, err := f.transition(req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_REFUSE, pb.RequestState_REQUEST_STATE_REFUSED, &pb.RefuseRequestResponse{}, nil)
	return asResp[*pb.RefuseRequestResponse](res, err)
}

func (f *fakeAssist) WithdrawRequest(_ context.Context, req *pb.WithdrawRequestRequest) (*pb.WithdrawRequestResponse, error) {
	f.record(req)
	res, err := f.transition(req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_WITHDRAW, pb.RequestState_REQUEST_STATE_WITHDRAWN, &pb.WithdrawRequestResponse{}, nil)
	return asResp[*pb.WithdrawRequestResponse](res, err)
}

func (f *fakeAssist) CloseRequest(_ context.Context, req *pb.CloseRequestRequest) (*pb.CloseRequestResponse, error) {
	f.record(req)
	res, err := f.transition(req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_CLOSE, pb.RequestState_REQUEST_STATE_CLOSED, &pb.CloseRequestResponse{}, nil)
	return asResp[*pb.CloseRequestResponse](res, err)
}

func asResp[T proto.Message](m proto.Message, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	return m.(T), nil
}

func (f *fakeAssist) ListRequests(_ context.Context, req *pb.ListRequestsRequest) (*pb.ListRequestsResponse, error) {
	f.record(req)
	f.mu.Lock()
	defer f.mu.Unlock()
	start := 0
	if req.GetPageToken() != "" {
		if _, err := fmt.Sscanf(req.GetPageToken(), "page-%d", &start); err != nil {
			return nil, status.Error(codes.InvalidArgument, "bad page token")
		}
	}
	end := min(start+2, len(f.list))
	res := &pb.ListRequestsResponse{Requests: f.list[start:end]}
	if end < len(f.list) {
		res.NextPageToken = fmt.Sprintf("page-%d", end)
	}
	return res, nil
}

func (f *fakeAssist) WatchRequests(req *pb.WatchRequestsRequest, stream grpc.ServerStreamingServer[pb.WatchRequestsResponse]) error {
	f.record(req)
	live := make(chan *pb.WatchRequestsResponse, 8)
	f.mu.Lock()
	events := f.events
	f.live = live
	f.mu.Unlock()
	for _, ev := range events {
		if err := stream.Send(ev); err != nil {
			return err
		}
	}
	for {
		select {
		case ev := <-live:
			if err := stream.Send(ev); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		}
	}
}

func (f *fakeAssist) UploadAttachment(stream grpc.ClientStreamingServer[pb.UploadAttachmentRequest, pb.UploadAttachmentResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	h := first.GetHeader()
	if h == nil {
		return fieldError("header", "the first message must be the header")
	}
	f.record(first)
	var data []byte
	var chunks []int
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		data = append(data, m.GetChunk()...)
		chunks = append(chunks, len(m.GetChunk()))
	}
	sum := sha256.Sum256(data)
	ref := &pb.AttachmentRef{Name: h.GetName(), MediaType: h.GetMediaType(), Size: int64(len(data)), Sha256: hex.EncodeToString(sum[:]),
		CipherSha256: strings.Repeat("c", 64), CipherSize: int64(len(data)) + 200}
	f.mu.Lock()
	f.files[ref.GetSha256()] = data
	f.chunks = chunks
	f.mu.Unlock()
	return stream.SendAndClose(&pb.UploadAttachmentResponse{Ref: ref})
}

func (f *fakeAssist) GetAttachment(req *pb.GetAttachmentRequest, stream grpc.ServerStreamingServer[pb.GetAttachmentResponse]) error {
	f.record(req)
	f.mu.Lock()
	data, ok := f.files[req.GetSha256()]
	f.mu.Unlock()
	if !ok {
		return status.Errorf(codes.NotFound, "request %s references no attachment %s", req.GetRequestId(), req.GetSha256())
	}
	if err := stream.Send(&pb.GetAttachmentResponse{Part: &pb.GetAttachmentResponse_Ref{Ref: &pb.AttachmentRef{
		Name: "x", Size: int64(len(data)), Sha256: req.GetSha256()}}}); err != nil {
		return err
	}
	for len(data) > 0 {
		n := min(len(data), 100<<10)
		if err := stream.Send(&pb.GetAttachmentResponse{Part: &pb.GetAttachmentResponse_Chunk{Chunk: data[:n]}}); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

func (f *fakeAssist) ExportHistory(_ context.Context, req *pb.ExportHistoryRequest) (*pb.ExportHistoryResponse, error) {
	f.record(req)
	return &pb.ExportHistoryResponse{RequestId: req.GetRequestId(), Envelopes: []*pb.ExportedEnvelope{
		{MsgId: "m1", Sha256: strings.Repeat("a", 64), Envelope: []byte(`{"payloadType":"application/vnd.cix.assistance.v1+age"}`), Subject: "cix.out.NL.to.BE.assist.m1"},
		{MsgId: "m2", Sha256: strings.Repeat("b", 64), PrevSha256: strings.Repeat("a", 64), Envelope: []byte(`{"second":true}`), Subject: "cix.out.BE.to.NL.assist.m2"},
	}}, nil
}

// The request file of the tests: snake_case and camelCase names, an unquoted YAML
// time, a party with details.
const requestYAML = `
requesting_authority: FIOD Rotterdam, team 4
requestedAuthority: AAD&A Antwerpen
natureOfProceedings: PROCEEDINGS_NATURE_CRIMINAL
object_and_reason: Verify the declared origin of 40 containers of bananas
legalProvisions: ["Naples II art. 10"]
parties:
  - kind: PARTY_KIND_COMPANY
    name: Sunrise Distribution BV
    identifier: NL123456789
    role: importer
summaryOfFacts: Cocaine found in a false floor of MSCU1234566.
confidentiality: Do not contact the companies concerned.
requestedTimeLimit: 2026-12-31T00:00:00Z
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAssistCreateFileFlagsAndRetry: the file and the flags together reach the node as
// one RequestContent with every mandatory field; a retry with the same client id is
// answered with the first result; without --client-id a fresh one is printed and sent.
func TestAssistCreateFileFlagsAndRetry(t *testing.T) {
	f, addr := startFakeAssist(t)
	file := writeFile(t, "request.yaml", requestYAML)
	args := []string{"--addr", addr, "assist", "create", "--file", file, "--to", "be", "--legal-basis", "naples-ii-art-10",
		"--urgency", "urgent", "--person", "Jan Jansen", "--provision", "Art. 3 CCC", "--client-id", "c-1"}
	r := cix(t, "", args...).must(t, 0)
	if r.stdout != "request req-1: DRAFT (outgoing, NL to BE), nothing sent yet\nnext: cix assist submit req-1\n" || r.stderr != "" {
		t.Fatalf("create:\n%s\nstderr: %s", r.stdout, r.stderr)
	}
	want := &pb.CreateRequestRequest{ClientId: "c-1", Content: &pb.RequestContent{
		RequestingAuthority: "FIOD Rotterdam, team 4", RequestedAuthority: "AAD&A Antwerpen", RequestedAdministration: "BE",
		LegalBasis: "naples-ii-art-10", NatureOfProceedings: pb.ProceedingsNature_PROCEEDINGS_NATURE_CRIMINAL,
		ObjectAndReason: "Verify the declared origin of 40 containers of bananas", LegalProvisions: []string{"Naples II art. 10", "Art. 3 CCC"},
		Parties: []*pb.Party{
			{Kind: pb.PartyKind_PARTY_KIND_COMPANY, Name: "Sunrise Distribution BV", Identifier: "NL123456789", Role: "importer"},
			{Kind: pb.PartyKind_PARTY_KIND_PERSON, Name: "Jan Jansen"},
		},
		SummaryOfFacts: "Cocaine found in a false floor of MSCU1234566.", Confidentiality: "Do not contact the companies concerned.",
		RequestedTimeLimit: timestamppb.New(time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)), Urgency: pb.Urgency_URGENCY_URGENT,
	}}
	if d := cmpDiff(want, f.last(t, &pb.CreateRequestRequest{})); d != "" {
		t.Fatalf("the node received (-want +got):\n%s", d)
	}

	// Retry with the same client id: the first result, nothing new.
	r = cix(t, "", args...).must(t, 0)
	if !strings.HasPrefix(r.stdout, "request req-1: DRAFT") || !strings.Contains(r.stdout, "(replayed: this client id was used before") {
		t.Fatalf("retry:\n%s", r.stdout)
	}
	if f.count(&pb.CreateRequestRequest{}) != 2 || f.nCreated != 1 {
		t.Fatalf("retry: %d calls, %d requests created", f.count(&pb.CreateRequestRequest{}), f.nCreated)
	}

	// No --client-id: a fresh one, printed before the call, is the one sent.
	r = cix(t, "", "--addr", addr, "assist", "create", "--to", "DE", "--json").must(t, 0)
	m := regexp.MustCompile(`^client id ([0-9a-f-]{36}) \(to retry this call safely, repeat it with --client-id ([0-9a-f-]{36})\)\n$`).FindStringSubmatch(r.stderr)
	if m == nil || m[1] != m[2] {
		t.Fatalf("stderr %q", r.stderr)
	}
	if got := f.last(t, &pb.CreateRequestRequest{}).(*pb.CreateRequestRequest).GetClientId(); got != m[1] {
		t.Fatalf("client id sent %q, printed %q", got, m[1])
	}
	var res pb.CreateRequestResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &res); err != nil || res.GetRequest().GetRequestId() != "req-2" {
		t.Fatalf("create --json (%v):\n%s", err, r.stdout)
	}

	// The same client id for another action is the node's FailedPrecondition.
	r = cix(t, "", "--addr", addr, "assist", "submit", "req-1", "--client-id", "c-1").must(t, 1)
	if !strings.HasPrefix(r.stderr, "cix: assist submit: FAILED_PRECONDITION: client_id c-1 was used for another action") {
		t.Fatalf("stderr %q", r.stderr)
	}
}

// TestAssistInputErrors: bad files and flag values are refused before anything is sent.
func TestAssistInputErrors(t *testing.T) {
	f, addr := startFakeAssist(t)
	bad := writeFile(t, "bad.yaml", "legalBasis: x\nsurname: Jansen\n")
	r := cix(t, "", "--addr", addr, "assist", "create", "--file", bad).must(t, 1)
	if !strings.Contains(r.stderr, "not a cix.assistance.v1.RequestContent") || !strings.Contains(r.stderr, "surname") {
		t.Fatalf("unknown field: %q", r.stderr)
	}
	for _, args := range [][]string{
		{"create", "--urgency", "soon"}, {"create", "--nature", "civil"}, {"create", "--time-limit", "tomorrow"},
		{"create", "extra"}, {"submit"}, {"refuse", "req-1", "--code", "because"}, {"answer", "req-1", "--tlp", "purple", "--title", "x"}, {"partial", "req-1", "--attach", "x.pdf"},
		{"list", "--state", "asleep"}, {"download", "req-1", strings.Repeat("a", 64)}, {"nope"}, {},
	} {
		r := cix(t, "", append([]string{"--addr", addr, "assist"}, args...)...).must(t, 2)
		if !strings.HasPrefix(r.stderr, "cix: ") || !strings.Contains(r.stderr, "cix help assist") {
			t.Errorf("%q: stderr %q", args, r.stderr)
		}
	}
	if f.count(&pb.CreateRequestRequest{}) != 0 || f.count(&pb.RefuseRequestRequest{}) != 0 {
		t.Fatal("a refused command line reached the node")
	}
	r = cix(t, "", "assist", "create", "-h").must(t, 0)
	if !strings.HasPrefix(r.stdout, "Usage: cix assist create [--file F]") || !strings.Contains(r.stdout, "-legal-basis ID") {
		t.Fatalf("create -h:\n%s", r.stdout)
	}
}

// TestAssistSubmitFieldErrors: the node's field violations are printed one per line.
func TestAssistSubmitFieldErrors(t *testing.T) {
	_, addr := startFakeAssist(t)
	cix(t, "", "--addr", addr, "assist", "create", "--to", "BE", "--client-id", "c-1").must(t, 0)
	r := cix(t, "", "--addr", addr, "assist", "submit", "req-1", "--client-id", "c-2").must(t, 1)
	want := "cix: assist submit: INVALID_ARGUMENT: request incomplete\n" +
		"  content.legal_basis: required\n  content.urgency: required\n" +
		"  content.parties: at least one person or company is required\n"
	if r.stderr != want {
		t.Fatalf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
	// Completed with update (from the draft's content, one flag at a time), it goes.
	cix(t, "", "--addr", addr, "assist", "update", "req-1", "--legal-basis", "naples-ii-art-10", "--urgency", "normal").must(t, 0)
	cix(t, "", "--addr", addr, "assist", "update", "req-1", "--company", "Sunrise Distribution BV").must(t, 0)
	r = cix(t, "", "--addr", addr, "assist", "submit", "req-1", "--client-id", "c-2").must(t, 0)
	if !strings.HasPrefix(r.stdout, "request req-1: SUBMITTED (outgoing, NL to BE)\ntransition: SUBMIT, msg msg-c-2, sha256 ") {
		t.Fatalf("submit:\n%s", r.stdout)
	}
}

// TestAssistTransitions: every transition subcommand sends its RPC with the payload from
// its flags and file.
func TestAssistTransitions(t *testing.T) {
	f, addr := startFakeAssist(t)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	assistNow = func() time.Time { return now }
	t.Cleanup(func() { assistNow = time.Now })
	cix(t, "", "--addr", addr, "assist", "create", "--file", writeFile(t, "r.yaml", requestYAML), "--to", "BE", "--legal-basis", "naples-ii-art-10",
		"--urgency", "urgent-direct-access", "--client-id", "c-0").must(t, 0)
	reply := writeFile(t, "reply.json", `{"items": [{"title": "Import declarations", "text": "12 declarations, 2025-2026",
		"handling": {"tlp": "TLP_AMBER", "code": "HANDLING_CODE_H1"}}], "note": "more to follow"}`)
	doc := writeFile(t, "report.pdf", "%PDF-1.7 report")
	docSum := sha256.Sum256([]byte("%PDF-1.7 report"))
	docRef := &pb.AttachmentRef{Name: "report.pdf", MediaType: "application/pdf", Size: 15, Sha256: hex.EncodeToString(docSum[:]),
		CipherSha256: strings.Repeat("c", 64), CipherSize: 215}
	amendedContent := proto.Clone(f.requests["req-1"].GetContent()).(*pb.RequestContent)
	amendedContent.SummaryOfFacts = "Corrected summary."
	amendedContent.Attachments = []*pb.AttachmentRef{docRef}

	for _, tc := range []struct {
		args  []string
		want  proto.Message
		state string
	}{
		{[]string{"submit", "req-1"}, &pb.SubmitRequestRequest{RequestId: "req-1"}, "SUBMITTED"},
		{[]string{"ack", "req-1", "--reference", "BE-2026-17"}, &pb.AcknowledgeRequestRequest{RequestId: "req-1", Reference: "BE-2026-17"}, "RECEIVED"},
		{[]string{"correct", "req-1", "--reason", "no EORI", "--reason", "which period?", "--field", "content.parties"},
			&pb.RequestCorrectionRequest{RequestId: "req-1", Correction: &pb.CorrectionRequest{Reasons: []string{"no EORI", "which period?"}, Fields: []string{"content.parties"}}}, "INCOMPLETE"},
		{[]string{"amend", "req-1", "--summary", "Corrected summary.", "--attach", doc},
			&pb.AmendRequestRequest{RequestId: "req-1", Content: amendedContent}, "AMENDED"},
		{[]string{"accept", "req-1", "--note", "on it"}, &pb.AcceptRequestRequest{RequestId: "req-1", Note: "on it"}, "IN_PROGRESS"},
		{[]string{"postpone", "req-1", "--reason", "staff", "--until", "48h"},
			&pb.PostponeRequestRequest{RequestId: "req-1", Postponement: &pb.Postponement{Reasons: []string{"staff"}, Until: timestamppb.New(now.Add(48 * time.Hour))}}, "POSTPONED"},
		{[]string{"pending-authorisation", "req-1", "--expected", "240h", "--reason", "prosecutor's authorisation"},
			&pb.MarkPendingAuthorisationRequest{RequestId: "req-1", DelayNotice: &pb.DelayNotice{ExpectedDuration: durationpb.New(240 * time.Hour), Reasons: []string{"prosecutor's authorisation"}}}, "PENDING_AUTHORISATION"},
		{[]string{"partial", "req-1", "--file", reply},
			&pb.SendPartialAnswerRequest{RequestId: "req-1", Reply: &pb.Reply{Note: "more to follow", Items: []*pb.ReplyItem{{Title: "Import declarations", Text: "12 declarations, 2025-2026",
				Handling: &alertv1.Handling{Tlp: alertv1.Tlp_TLP_AMBER, Code: alertv1.HandlingCode_HANDLING_CODE_H1}}}}}, "PARTIALLY_ANSWERED"},
		{[]string{"answer", "req-1", "--title", "Inspection report", "--tlp", "amber+strict", "--handling", "h3", "--restrictions", "no onward sharing", "--attach", doc},
			&pb.AnswerRequestRequest{RequestId: "req-1", Reply: &pb.Reply{Items: []*pb.ReplyItem{{Title: "Inspection report",
				Handling:    &alertv1.Handling{Tlp: alertv1.Tlp_TLP_AMBER_STRICT, Code: alertv1.HandlingCode_HANDLING_CODE_H3, Restrictions: "no onward sharing"},
				Attachments: []*pb.AttachmentRef{docRef}}}}}, "ANSWERED"},
		{[]string{"refuse", "req-1", "--code", "ongoing-proceedings", "--text", "investigation in BE"},
			&pb.RefuseRequestRequest{RequestId: "req-1", Refusal: &pb.Refusal{Reason: pb.RefusalReason_REFUSAL_REASON_ONGOING_PROCEEDINGS, Text: "investigation in BE"}}, "REFUSED"},
		{[]string{"withdraw", "req-1", "--reason", "case closed"}, &pb.WithdrawRequestRequest{RequestId: "req-1", Reason: "case closed"}, "WITHDRAWN"},
		{[]string{"close", "req-1", "--outcome", "partly_useful", "--feedback", "seizure confirmed"},
			&pb.CloseRequestRequest{RequestId: "req-1", Closure: &pb.Closure{Outcome: pb.OutcomeRating_OUTCOME_RATING_PARTLY_USEFUL, Feedback: "seizure confirmed"}}, "CLOSED"},
	} {
		clientID := "cid-" + tc.args[0]
		r := cix(t, "", append([]string{"--addr", addr, "assist"}, append(tc.args, "--client-id", clientID)...)...).must(t, 0)
		if !strings.HasPrefix(r.stdout, "request req-1: "+tc.state+" ") {
			t.Errorf("%s: stdout\n%s", tc.args[0], r.stdout)
		}
		want := proto.Clone(tc.want)
		want.ProtoReflect().Set(want.ProtoReflect().Descriptor().Fields().ByName("client_id"), protoreflect.ValueOfString(clientID))
		if d := cmpDiff(want, f.last(t, tc.want)); d != "" {
			t.Errorf("%s: the node received (-want +got):\n%s", tc.args[0], d)
		}
	}
	// The document was uploaded whole for amend and answer.
	if got := f.files[docRef.GetSha256()]; string(got) != "%PDF-1.7 report" {
		t.Fatalf("uploaded %q", got)
	}
	// --json on a transition: the response, parseable.
	r := cix(t, "", "--addr", addr, "assist", "accept", "req-1", "--client-id", "cid-accept", "--json").must(t, 0)
	var res pb.AcceptRequestResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &res); err != nil || !res.GetReplayed() || res.GetTransition().GetMsgId() != "msg-cid-accept" {
		t.Fatalf("accept --json retried (%v):\n%s", err, r.stdout)
	}
}

// assistListing is what the fake node lists: outgoing in progress, incoming overdue,
// answered, a draft.
func assistListing(now time.Time) []*pb.Request {
	ts := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(d)) }
	return []*pb.Request{
		{RequestId: "11111111-1111-4111-8111-111111111111", Direction: pb.Direction_DIRECTION_OUTGOING, Counterpart: "BE",
			RequestingAdministration: "NL", RequestedAdministration: "BE", State: pb.RequestState_REQUEST_STATE_IN_PROGRESS,
			Deadline: ts(3*time.Hour + 12*time.Minute + 30*time.Second), EffectiveDeadline: ts(3*time.Hour + 12*time.Minute + 30*time.Second),
			UpdatedAt: ts(-time.Hour)},
		{RequestId: "22222222-2222-4222-8222-222222222222", Direction: pb.Direction_DIRECTION_INCOMING, Counterpart: "DE",
			RequestingAdministration: "DE", RequestedAdministration: "NL", State: pb.RequestState_REQUEST_STATE_RECEIVED,
			Flags: []pb.Flag{pb.Flag_FLAG_OVERDUE}, Deadline: ts(-2 * time.Hour), EffectiveDeadline: ts(-2 * time.Hour), UpdatedAt: ts(-3 * time.Hour)},
		{RequestId: "33333333-3333-4333-8333-333333333333", Direction: pb.Direction_DIRECTION_OUTGOING, Counterpart: "FR",
			State: pb.RequestState_REQUEST_STATE_ANSWERED, Deadline: ts(-50 * time.Hour), UpdatedAt: ts(-49 * time.Hour)},
		{RequestId: "44444444-4444-4444-8444-444444444444", Direction: pb.Direction_DIRECTION_OUTGOING, Counterpart: "BE",
			State: pb.RequestState_REQUEST_STATE_DRAFT, Flags: []pb.Flag{pb.Flag_FLAG_CONFIRMATION_OVERDUE}, UpdatedAt: ts(-26 * time.Hour)},
	}
}

// TestAssistListGet: the table with direction, state, flags and deadline (absolute and
// relative), all pages; get with content and history; --json parses.
func TestAssistListGet(t *testing.T) {
	f, addr := startFakeAssist(t)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	assistNow = func() time.Time { return now }
	t.Cleanup(func() { assistNow = time.Now })
	f.list = assistListing(now)

	r := cix(t, "", "--addr", addr, "assist", "list", "--direction", "outgoing", "--counterpart", "be", "--state", "in-progress", "--overdue").must(t, 0)
	want := `REQUEST                               DIRECTION  COUNTERPART  STATE        FLAGS                 DEADLINE                              UPDATED
11111111-1111-4111-8111-111111111111  outgoing   BE           IN_PROGRESS  -                     2026-11-27 15:12 UTC (in 3h12m)       2026-11-27 11:00
22222222-2222-4222-8222-222222222222  incoming   DE           RECEIVED     OVERDUE               2026-11-27 10:00 UTC (overdue by 2h)  2026-11-27 09:00
33333333-3333-4333-8333-333333333333  outgoing   FR           ANSWERED     -                     2026-11-25 10:00 UTC                  2026-11-25 11:00
44444444-4444-4444-8444-444444444444  outgoing   BE           DRAFT        CONFIRMATION_OVERDUE  -                                     2026-11-26 10:00
`
	if r.stdout != want {
		t.Fatalf("list:\n%s\nwant:\n%s", r.stdout, want)
	}
	wantReq := &pb.ListRequestsRequest{Direction: pb.Direction_DIRECTION_OUTGOING, Counterpart: "BE", State: pb.RequestState_REQUEST_STATE_IN_PROGRESS,
		OverdueOnly: true, PageToken: "page-2"}
	if d := cmpDiff(wantReq, f.last(t, &pb.ListRequestsRequest{})); d != "" || f.count(&pb.ListRequestsRequest{}) != 2 {
		t.Fatalf("list requests (-want +got):\n%s", d)
	}
	r = cix(t, "", "--addr", addr, "assist", "list", "--json").must(t, 0)
	var lres pb.ListRequestsResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &lres); err != nil || len(lres.GetRequests()) != 4 {
		t.Fatalf("list --json (%v):\n%s", err, r.stdout)
	}

	// get: a request with content, a reply, an attachment and a fork in its history.
	req := proto.Clone(f.list[1]).(*pb.Request)
	req.Content = &pb.RequestContent{RequestingAuthority: "Zoll Hamburg", LegalBasis: "naples-ii-art-10", Urgency: pb.Urgency_URGENCY_URGENT,
		Parties: []*pb.Party{{Kind: pb.PartyKind_PARTY_KIND_PERSON, Name: "Jan Jansen", DateOfBirth: "1980-02-03", Country: "NL"}}}
	req.Replies = []*pb.ReplyItem{{Title: "Declarations", Text: "none found", Handling: &alertv1.Handling{Tlp: alertv1.Tlp_TLP_GREEN, Code: alertv1.HandlingCode_HANDLING_CODE_H0}}}
	req.Attachments = []*pb.Attachment{{Ref: &pb.AttachmentRef{Name: "scan.png", MediaType: "image/png", Size: 2048, Sha256: strings.Repeat("d", 64)}, Available: true}}
	f.requests[req.GetRequestId()] = req
	sha := func(c string) string { return strings.Repeat(c, 64) }
	f.history = []*pb.HistoryEntry{
		{Action: pb.Action_ACTION_SUBMIT, ActorAdministration: "DE", SignerNode: "hh1", IssuedAt: timestamppb.New(now.Add(-30 * time.Hour)), Sha256: sha("1"),
			StateAfter: pb.RequestState_REQUEST_STATE_SUBMITTED, Transition: &pb.Transition{Content: &pb.Transition_Request{Request: req.Content}}},
		{Action: pb.Action_ACTION_DELIVER, ActorAdministration: "NL", SignerNode: "demo", IssuedAt: timestamppb.New(now.Add(-29 * time.Hour)), Sha256: sha("2"), PrevSha256: sha("1"),
			StateAfter: pb.RequestState_REQUEST_STATE_DELIVERED},
		{Action: pb.Action_ACTION_WITHDRAW, ActorAdministration: "DE", SignerNode: "hh1", IssuedAt: timestamppb.New(now.Add(-29 * time.Hour).Add(time.Minute)), Sha256: sha("3"), PrevSha256: sha("1"),
			SupersededBy: sha("2"), Transition: &pb.Transition{Content: &pb.Transition_Withdrawal{Withdrawal: &pb.Withdrawal{Reason: "sent twice"}}}},
		{Action: pb.Action_ACTION_ACKNOWLEDGE, ActorAdministration: "NL", SignerNode: "demo", IssuedAt: timestamppb.New(now.Add(-28 * time.Hour)), Sha256: sha("4"), PrevSha256: sha("2"),
			StateAfter: pb.RequestState_REQUEST_STATE_RECEIVED, Transition: &pb.Transition{Content: &pb.Transition_Acknowledgement{Acknowledgement: &pb.Acknowledgement{
				Deadline: timestamppb.New(now.Add(-2 * time.Hour)), PolicyEntry: "naples-ii-art-10", Reference: "NL-17"}}}},
	}
	r = cix(t, "", "--addr", addr, "assist", "get", req.GetRequestId()).must(t, 0)
	for _, want := range []string{
		"state:                 RECEIVED\n", "flags:                 OVERDUE\n", "deadline:              2026-11-27 10:00 UTC (overdue by 2h)\n",
		"direction:             incoming, DE to NL\n",
		"  requesting authority:    Zoll Hamburg\n", "  urgency:                 urgent\n",
		"  parties:                 person Jan Jansen (born 1980-02-03, country NL)\n",
		"  1. Declarations [TLP:GREEN H0]\n     none found\n",
		"  scan.png (image/png, 2048 bytes, sha256 dddddddddddd), available (cix assist download " + req.GetRequestId() + " " + sha("d") + " --out FILE)\n",
		"  ACTION       ACTOR    ISSUED            SHA256    PREV      STATE AFTER             DETAIL\n",
		"  SUBMIT       DE/hh1   2026-11-26 06:00  11111111  -         SUBMITTED               legal basis naples-ii-art-10, urgent\n",
		"  DELIVER      NL/demo  2026-11-26 07:00  22222222  11111111  DELIVERED\n",
		"  WITHDRAW     DE/hh1   2026-11-26 07:01  33333333  11111111  superseded by 22222222  sent twice\n",
		"  ACKNOWLEDGE  NL/demo  2026-11-26 08:00  44444444  22222222  RECEIVED                deadline 2026-11-27 10:00 (naples-ii-art-10), ref NL-17\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("get lacks %q:\n%s", want, r.stdout)
		}
	}
	r = cix(t, "", "--addr", addr, "assist", "get", "--json", req.GetRequestId()).must(t, 0)
	var gres pb.GetRequestResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &gres); err != nil || len(gres.GetRequest().GetHistory()) != 4 || gres.GetRequest().GetHistory()[2].GetSupersededBy() != sha("2") {
		t.Fatalf("get --json (%v):\n%s", err, r.stdout)
	}
	r = cix(t, "", "--addr", addr, "assist", "get", "nope").must(t, 1)
	if r.stderr != "cix: assist get: NOT_FOUND: no request nope\n" {
		t.Fatalf("get nope: %q", r.stderr)
	}
}

// TestAssistWatch: past changes then stop, as JSON lines and as text; --follow prints
// live changes until interrupted; the cursor to resume from goes to stderr.
func TestAssistWatch(t *testing.T) {
	f, addr := startFakeAssist(t)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	assistNow = func() time.Time { return now }
	t.Cleanup(func() { assistNow = time.Now })
	rs := assistListing(now)
	changed := func(r *pb.Request, a pb.Action, cursor string) *pb.WatchRequestsResponse {
		return &pb.WatchRequestsResponse{Event: &pb.WatchRequestsResponse_Changed{Changed: &pb.RequestChanged{Request: r, Cursor: cursor,
			Entry: &pb.HistoryEntry{Action: a, ActorAdministration: r.GetRequestingAdministration(), IssuedAt: r.GetUpdatedAt(), StateAfter: r.GetState()}}}}
	}
	f.events = []*pb.WatchRequestsResponse{
		changed(rs[0], pb.Action_ACTION_ACCEPT, "5"),
		{Event: &pb.WatchRequestsResponse_Conflict{Conflict: &pb.RequestConflict{RequestId: rs[1].GetRequestId(), WinnerSha256: strings.Repeat("2", 64), SupersededSha256: strings.Repeat("3", 64), Cursor: "6"}}},
		{Event: &pb.WatchRequestsResponse_CaughtUp{CaughtUp: &pb.WatchCaughtUp{Cursor: "6"}}},
	}
	r := cix(t, "", "--addr", addr, "assist", "watch", "--json", "--request", rs[0].GetRequestId(), "--cursor", "4").must(t, 0)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || r.stderr != "resume with: cix assist watch --cursor 6\n" {
		t.Fatalf("watch --json:\n%s\nstderr %q", r.stdout, r.stderr)
	}
	for _, l := range lines {
		var ev pb.WatchRequestsResponse
		if err := protojson.Unmarshal([]byte(l), &ev); err != nil || ev.GetEvent() == nil {
			t.Fatalf("line %q: %v", l, err)
		}
	}
	if d := cmpDiff(&pb.WatchRequestsRequest{Cursor: "4", RequestId: rs[0].GetRequestId()}, f.last(t, &pb.WatchRequestsRequest{})); d != "" {
		t.Fatalf("watch request (-want +got):\n%s", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errb, done := background(ctx, "--addr", addr, "assist", "watch", "--follow")
	eventually(t, "the past changes", func() bool { return strings.Count(out.String(), "\n") == 2 })
	f.mu.Lock()
	live := f.live
	f.mu.Unlock()
	live <- changed(rs[1], pb.Action_ACTION_ACKNOWLEDGE, "7")
	eventually(t, "the live change", func() bool { return strings.Count(out.String(), "\n") == 3 })
	cancel()
	if code := exitOf(t, done); code != 0 {
		t.Fatalf("watch --follow exit %d: %s", code, errb.String())
	}
	want := "2026-11-27 11:00  11111111-1111-4111-8111-111111111111  outgoing BE  ACCEPT by NL -> IN_PROGRESS  now: flags -, deadline 2026-11-27 15:12 UTC (in 3h12m)\n" +
		"CONFLICT  22222222-2222-4222-8222-222222222222  transition 33333333 superseded by 22222222\n" +
		"2026-11-27 09:00  22222222-2222-4222-8222-222222222222  incoming DE  ACKNOWLEDGE by DE -> RECEIVED  now: flags OVERDUE, deadline 2026-11-27 10:00 UTC (overdue by 2h)\n"
	if out.String() != want || errb.String() != "resume with: cix assist watch --cursor 7\n" {
		t.Fatalf("watch --follow:\n%s\nwant:\n%s\nstderr %q", out.String(), want, errb.String())
	}
}

// TestAssistUploadDownloadExport: a file of several chunks goes up whole; download
// writes it to --out and refuses to overwrite without --force; export writes the
// envelopes.
func TestAssistUploadDownloadExport(t *testing.T) {
	f, addr := startFakeAssist(t)
	data := make([]byte, 2*uploadChunk+1234)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "scan.png")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	r := cix(t, "", "--addr", addr, "assist", "upload", "req-1", src, "--json").must(t, 0)
	var up pb.UploadAttachmentResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &up); err != nil {
		t.Fatalf("upload --json (%v):\n%s", err, r.stdout)
	}
	sum := sha256.Sum256(data)
	if up.GetRef().GetSha256() != hex.EncodeToString(sum[:]) || up.GetRef().GetName() != "scan.png" || up.GetRef().GetMediaType() != "image/png" {
		t.Fatalf("ref %v", up.GetRef())
	}
	if hdr := f.last(t, &pb.UploadAttachmentRequest{}).(*pb.UploadAttachmentRequest).GetHeader(); hdr.GetRequestId() != "req-1" {
		t.Fatalf("header %v", hdr)
	}
	if fmt.Sprint(f.chunks) != fmt.Sprint([]int{uploadChunk, uploadChunk, 1234}) {
		t.Fatalf("chunks %v", f.chunks)
	}

	dir := t.TempDir()
	out := filepath.Join(dir, "got.png")
	sha := up.GetRef().GetSha256()
	r = cix(t, "", "--addr", addr, "assist", "download", "req-1", sha, "--out", out).must(t, 0)
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes (%v), want %d", len(got), err, len(data))
	}
	if !strings.HasPrefix(r.stderr, "wrote "+out+": ") {
		t.Fatalf("stderr %q", r.stderr)
	}
	if err := os.WriteFile(out, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = cix(t, "", "--addr", addr, "assist", "download", "req-1", sha, "--out", out).must(t, 1)
	if r.stderr != "cix: "+out+" exists: not overwritten (use --force)\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
	if got, _ := os.ReadFile(out); string(got) != "mine" {
		t.Fatalf("overwritten without --force")
	}
	cix(t, "", "--addr", addr, "assist", "download", "req-1", sha, "--out", out, "--force").must(t, 0)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatalf("not overwritten with --force")
	}
	// An unknown attachment: the node's error, and no file.
	missing := filepath.Join(dir, "missing.bin")
	r = cix(t, "", "--addr", addr, "assist", "download", "req-1", strings.Repeat("0", 64), "--out", missing).must(t, 1)
	if !strings.HasPrefix(r.stderr, "cix: assist download: NOT_FOUND: ") {
		t.Fatalf("stderr %q", r.stderr)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left in %s: %v", dir, ents)
	}

	edir := filepath.Join(t.TempDir(), "env")
	r = cix(t, "", "--addr", addr, "assist", "export", "req-1", "--dir", edir).must(t, 0)
	if !regexp.MustCompile(`(?m)^2 +m2 +bbbbbbbbbbbb +aaaaaaaaaaaa +- +15 +cix\.out\.BE\.to\.NL\.assist\.m2$`).MatchString(r.stdout) {
		t.Fatalf("export:\n%s", r.stdout)
	}
	if b, err := os.ReadFile(filepath.Join(edir, "02-m2.dsse.json")); err != nil || string(b) != `{"second":true}` {
		t.Fatalf("02-m2.dsse.json: %q %v", b, err)
	}
	r = cix(t, "", "--addr", addr, "assist", "export", "req-1", "--json").must(t, 0)
	var ex pb.ExportHistoryResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &ex); err != nil || len(ex.GetEnvelopes()) != 2 || !json.Valid(ex.GetEnvelopes()[0].GetEnvelope()) {
		t.Fatalf("export --json (%v):\n%s", err, r.stdout)
	}
}

// TestShortDuration pins the relative deadline format.
func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second: "<1m", 45 * time.Minute: "45m", 2 * time.Hour: "2h", 3*time.Hour + 12*time.Minute + 59*time.Second: "3h12m",
		50 * time.Hour: "2d2h", 72 * time.Hour: "3d",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func cmpDiff(want, got proto.Message) string {
	if proto.Equal(want, got) {
		return ""
	}
	w, _ := prettyJSON(want)
	g, _ := prettyJSON(got)
	return fmt.Sprintf("want %s\ngot  %s", w, g)
}
