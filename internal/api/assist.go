package api

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/cix-exchange/cix/internal/assist"
	pb "github.com/cix-exchange/cix/internal/gen/cix/assistance/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Assistance is what AssistanceService needs of the node's mutual assistance service
// (package assist).
type Assistance interface {
	Create(ctx context.Context, clientID string, c *pb.RequestContent) (*pb.Request, bool, error)
	UpdateDraft(ctx context.Context, id string, c *pb.RequestContent) (*pb.Request, error)
	Act(ctx context.Context, requestID, clientID string, a pb.Action, fill func(*pb.Transition) error) (assist.Result, error)
	Get(ctx context.Context, id string) (*pb.Request, error)
	List(ctx context.Context, f assist.Filter, pageSize uint32, pageToken string) ([]*pb.Request, string, error)
	Export(ctx context.Context, id string) ([]*pb.ExportedEnvelope, error)
	Watch(ctx context.Context, cursor, requestID string, send func(*pb.WatchRequestsResponse) error) error
	Upload(ctx context.Context, id, name, mediaType string, body io.Reader) (*pb.AttachmentRef, error)
	OpenAttachment(ctx context.Context, id, sha string) (*pb.AttachmentRef, io.ReadCloser, error)
}

// AssistanceService implements cix.assistance.v1.AssistanceService. Without a backend
// (a node not in federation mode) every RPC is FailedPrecondition.
type AssistanceService struct {
	pb.UnimplementedAssistanceServiceServer
	a   Assistance
	log *slog.Logger
}

var errNoFederation = status.Error(codes.FailedPrecondition, "mutual assistance needs federation mode (federation.manifest)")

func (s *AssistanceService) status(err error) error {
	var ie *assist.IllegalError
	if errors.As(err, &ie) {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return toStatus(s.log, err)
}

// CreateRequest implements AssistanceService.CreateRequest.
func (s *AssistanceService) CreateRequest(ctx context.Context, req *pb.CreateRequestRequest) (*pb.CreateRequestResponse, error) {
	if s.a == nil {
		return nil, errNoFederation
	}
	r, replayed, err := s.a.Create(ctx, req.GetClientId(), req.GetContent())
	if err != nil {
		return nil, s.status(err)
	}
	s.log.Info("assistance request drafted", "request", r.GetRequestId(), "caller", callerName(ctx))
	return &pb.CreateRequestResponse{Request: r, Replayed: replayed}, nil
}

// UpdateDraft implements AssistanceService.UpdateDraft.
func (s *AssistanceService) UpdateDraft(ctx context.Context, req *pb.UpdateDraftRequest) (*pb.UpdateDraftResponse, error) {
	if s.a == nil {
		return nil, errNoFederation
	}
	r, err := s.a.UpdateDraft(ctx, req.GetRequestId(), req.GetContent())
	if err != nil {
		return nil, s.status(err)
	}
	return &pb.UpdateDraftResponse{Request: r}, nil
}

// act runs one action and logs it.
func (s *AssistanceService) act(ctx context.Context, requestID, clientID string, a pb.Action, fill func(*pb.Transition) error) (assist.Result, error) {
	if s.a == nil {
		return assist.Result{}, errNoFederation
	}
	res, err := s.a.Act(ctx, requestID, clientID, a, fill)
	if err != nil {
		return res, s.status(err)
	}
	s.log.Info("assistance transition", "request", requestID, "action", assist.ActionName(a), "replayed", res.Replayed, "caller", callerName(ctx))
	return res, nil
}

// SubmitRequest implements AssistanceService.SubmitRequest.
func (s *AssistanceService) SubmitRequest(ctx context.Context, req *pb.SubmitRequestRequest) (*pb.SubmitRequestResponse, error) {
	r, err := s.act(ctx, req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_SUBMIT, nil)
	if err != nil {
		return nil, err
	}
	return &pb.SubmitRequestResponse{Request: r.Request, Transition: r.Entry, Replayed: r.Replayed}, nil
}

// AcknowledgeRequest implements AssistanceService.AcknowledgeRequest.
func (s *AssistanceService) AcknowledgeRequest(ctx context.Context, req *pb.AcknowledgeRequestRequest) (*pb.AcknowledgeRequestResponse, error) {
	r, err := s.act(ctx, req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_ACKNOWLEDGE, func(t *pb.Transition) error {
		t.GetAcknowledgement().Reference = req.GetReference()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.AcknowledgeRequestResponse{Request: r.Request, Transition: r.Entry, Replayed: r.Replayed}, nil
}

// RequestCorrection implements AssistanceService.RequestCorrection.
func (s *AssistanceService) RequestCorrection(ctx context.Context, req *pb.RequestCorrectionRequest) (*pb.RequestCorrectionResponse, error) {
	r, err := s.act(ctx, req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_REQUEST_CORRECTION, func(t *pb.Transition) error {
		c := req.GetCorrection()
		if c == nil {
			c = &pb.CorrectionRequest{}
		}
		t.Content = &pb.Transition_Correction{Correction: c}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.RequestCorrectionResponse{Request: r.Request, Transition: r.Entry, Replayed: r.Replayed}, nil
}

// AmendRequest implements AssistanceService.AmendRequest.
func (s *AssistanceService) AmendRequest(ctx context.Context, req *pb.AmendRequestRequest) (*pb.AmendRequestResponse, error) {
	r, err := s.act(ctx, req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_AMEND, func(t *pb.Transition) error {
		t.Content = &pb.Transition_Request{Request: req.GetContent()}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.AmendRequestResponse{Request: r.Request, Transition: r.Entry, Replayed: r.Replayed}, nil
}

// AcceptRequest implements AssistanceService.AcceptRequest.
func (s *AssistanceService) AcceptRequest(ctx context.Context, req *pb.AcceptRequestRequest) (*pb.AcceptRequestResponse, error) {
	r, err := s.act(ctx, req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_ACCEPT, func(t *pb.Transition) error {
		t.Content = &pb.Transition_Acceptance{Acceptance: &pb.Acceptance{Note: req.GetNote()}}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.AcceptRequestResponse{Request: r.Request, Transition: r.Entry, Replayed: r.Replayed}, nil
}

// PostponeRequest implements AssistanceService.PostponeRequest.
func (s *AssistanceService) PostponeRequest(ctx context.Context, req *pb.PostponeRequestRequest) (*pb.PostponeRequestResponse, error) {
	r, err := s.act(ctx, req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_POSTPONE, func(t *pb.Transition) error {
		p := req.GetPostponement()
		if p == nil {
			p = &pb.Postponement{}
		}
		t.Content = &pb.Transition_Postponement{Postponement: p}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.PostponeRequestResponse{Request: r.Request, Transition: r.Entry, Replayed: r.Replayed}, nil
}

// MarkPendingAuthorisation implements AssistanceService.MarkPendingAuthorisation.
func (s *AssistanceService) MarkPendingAuthorisation(ctx context.Context, req *pb.MarkPendingAuthorisationRequest) (*pb.MarkPendingAuthorisationResponse, error) {
	r, err := s.act(ctx, req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_PENDING_AUTHORISATION, func(t *pb.Transition) error {
		d := req.GetDelayNotice()
		if d == nil {
			d = &pb.DelayNotice{}
		}
		t.Content = &pb.Transition_DelayNotice{DelayNotice: d}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.MarkPendingAuthorisationResponse{Request: r.Request, Transition: r.Entry, Replayed: r.Replayed}, nil
}

func replyFill(rep *pb.Reply) func(*pb.Transition) error {
	return func(t *pb.Transition) error {
		if rep == nil {
			rep = &pb.Reply{}
		}
		t.Content = &pb.Transition_Reply{Reply: rep}
		return nil
	}
}

// SendPartialAnswer implements AssistanceService.SendPartialAnswer.
func (s *AssistanceService) SendPartialAnswer(ctx context.Context, req *pb.SendPartialAnswerRequest) (*pb.SendPartialAnswerResponse, error) {
	r, err := s.act(ctx, req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_PARTIAL_ANSWER, replyFill(req.GetReply()))
	if err != nil {
		return nil, err
	}
	return &pb.SendPartialAnswerResponse{Request: r.Request, Transition: r.Entry, Replayed: r.Replayed}, nil
}

// AnswerRequest implements AssistanceService.AnswerRequest.
func (s *AssistanceService) AnswerRequest(ctx context.Context, req *pb.AnswerRequestRequest) (*pb.AnswerRequestResponse, error) {
	r, err := s.act(ctx, req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_ANSWER, replyFill(req.GetReply()))
	if err != nil {
		return nil, err
	}
	return &pb.AnswerRequestResponse{Request: r.Request, Transition: r.Entry, Replayed: r.Replayed}, nil
}

// RefuseRequest implements AssistanceService.RefuseRequest.
func (s *AssistanceService) RefuseRequest(ctx context.Context, req *pb.RefuseRequestRequest) (*pb.RefuseRequestResponse, error) {
	r, err := s.act(ctx, req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_REFUSE, func(t *pb.Transition) error {
		rf := req.GetRefusal()
		if rf == nil {
			rf = &pb.Refusal{}
		}
		t.Content = &pb.Transition_Refusal{Refusal: rf}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.RefuseRequestResponse{Request: r.Request, Transition: r.Entry, Replayed: r.Replayed}, nil
}

// WithdrawRequest implements AssistanceService.WithdrawRequest.
func (s *AssistanceService) WithdrawRequest(ctx context.Context, req *pb.WithdrawRequestRequest) (*pb.WithdrawRequestResponse, error) {
	r, err := s.act(ctx, req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_WITHDRAW, func(t *pb.Transition) error {
		t.Content = &pb.Transition_Withdrawal{Withdrawal: &pb.Withdrawal{Reason: req.GetReason()}}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.WithdrawRequestResponse{Request: r.Request, Transition: r.Entry, Replayed: r.Replayed}, nil
}

// CloseRequest implements AssistanceService.CloseRequest.
func (s *AssistanceService) CloseRequest(ctx context.Context, req *pb.CloseRequestRequest) (*pb.CloseRequestResponse, error) {
	r, err := s.act(ctx, req.GetRequestId(), req.GetClientId(), pb.Action_ACTION_CLOSE, func(t *pb.Transition) error {
		c := req.GetClosure()
		if c == nil {
			c = &pb.Closure{}
		}
		t.Content = &pb.Transition_Closure{Closure: c}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.CloseRequestResponse{Request: r.Request, Transition: r.Entry, Replayed: r.Replayed}, nil
}

// GetRequest implements AssistanceService.GetRequest.
func (s *AssistanceService) GetRequest(ctx context.Context, req *pb.GetRequestRequest) (*pb.GetRequestResponse, error) {
	if s.a == nil {
		return nil, errNoFederation
	}
	r, err := s.a.Get(ctx, req.GetRequestId())
	if err != nil {
		return nil, s.status(err)
	}
	return &pb.GetRequestResponse{Request: r}, nil
}

// ListRequests implements AssistanceService.ListRequests.
func (s *AssistanceService) ListRequests(ctx context.Context, req *pb.ListRequestsRequest) (*pb.ListRequestsResponse, error) {
	if s.a == nil {
		return nil, errNoFederation
	}
	rs, next, err := s.a.List(ctx, assist.Filter{Direction: req.GetDirection(), Counterpart: req.GetCounterpart(), State: req.GetState(),
		OverdueOnly: req.GetOverdueOnly()}, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, s.status(err)
	}
	return &pb.ListRequestsResponse{Requests: rs, NextPageToken: next}, nil
}

// WatchRequests implements AssistanceService.WatchRequests.
func (s *AssistanceService) WatchRequests(req *pb.WatchRequestsRequest, stream grpc.ServerStreamingServer[pb.WatchRequestsResponse]) error {
	if s.a == nil {
		return errNoFederation
	}
	err := s.a.Watch(stream.Context(), req.GetCursor(), req.GetRequestId(), stream.Send)
	if err != nil && stream.Context().Err() != nil {
		return nil
	}
	return s.status(err)
}

// ExportHistory implements AssistanceService.ExportHistory.
func (s *AssistanceService) ExportHistory(ctx context.Context, req *pb.ExportHistoryRequest) (*pb.ExportHistoryResponse, error) {
	if s.a == nil {
		return nil, errNoFederation
	}
	es, err := s.a.Export(ctx, req.GetRequestId())
	if err != nil {
		return nil, s.status(err)
	}
	return &pb.ExportHistoryResponse{RequestId: req.GetRequestId(), Envelopes: es}, nil
}

// uploadReader reads the chunks of an UploadAttachment stream.
type uploadReader struct {
	stream grpc.ClientStreamingServer[pb.UploadAttachmentRequest, pb.UploadAttachmentResponse]
	buf    []byte
}

func (u *uploadReader) Read(p []byte) (int, error) {
	for len(u.buf) == 0 {
		m, err := u.stream.Recv()
		if err != nil {
			return 0, err // io.EOF at the end
		}
		if m.GetHeader() != nil {
			return 0, status.Error(codes.InvalidArgument, "header: only the first message is the header")
		}
		u.buf = m.GetChunk()
	}
	n := copy(p, u.buf)
	u.buf = u.buf[n:]
	return n, nil
}

// UploadAttachment implements AssistanceService.UploadAttachment.
func (s *AssistanceService) UploadAttachment(stream grpc.ClientStreamingServer[pb.UploadAttachmentRequest, pb.UploadAttachmentResponse]) error {
	if s.a == nil {
		return errNoFederation
	}
	first, err := stream.Recv()
	if err != nil {
		return status.Error(codes.InvalidArgument, "header: required as the first message")
	}
	h := first.GetHeader()
	if h == nil {
		return status.Error(codes.InvalidArgument, "header: required as the first message")
	}
	ref, err := s.a.Upload(stream.Context(), h.GetRequestId(), h.GetName(), h.GetMediaType(), &uploadReader{stream: stream})
	if err != nil {
		return s.status(err)
	}
	return stream.SendAndClose(&pb.UploadAttachmentResponse{Ref: ref})
}

// GetAttachment implements AssistanceService.GetAttachment.
func (s *AssistanceService) GetAttachment(req *pb.GetAttachmentRequest, stream grpc.ServerStreamingServer[pb.GetAttachmentResponse]) error {
	if s.a == nil {
		return errNoFederation
	}
	ref, rc, err := s.a.OpenAttachment(stream.Context(), req.GetRequestId(), req.GetSha256())
	if err != nil {
		return s.status(err)
	}
	defer rc.Close()
	if err := stream.Send(&pb.GetAttachmentResponse{Part: &pb.GetAttachmentResponse_Ref{Ref: ref}}); err != nil {
		return err
	}
	buf := make([]byte, 256<<10)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if serr := stream.Send(&pb.GetAttachmentResponse{Part: &pb.GetAttachmentResponse_Chunk{Chunk: append([]byte(nil), buf[:n]...)}}); serr != nil {
				return serr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return s.status(err)
		}
	}
}
