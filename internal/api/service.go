package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"strings"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	trustv1 "github.com/cix-exchange/cix/internal/gen/cix/trust/v1"
	"github.com/cix-exchange/cix/internal/node"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Node is what the services need of a node.
type Node interface {
	Publish(ctx context.Context, a *alertv1.Alert) (node.PublishResult, error)
	Prepare(ctx context.Context, a *alertv1.Alert) (*node.Sealed, error)
	PublishSealed(s *node.Sealed) *node.Pending
	Wait(ctx context.Context, p *node.Pending) (node.PublishResult, error)
	Get(ctx context.Context, id string) (*nodev1.VerifiedAlert, error)
	Subscribe(ctx context.Context, req *nodev1.SubscribeRequest, send func(*nodev1.SubscribeResponse) error) error
	Recall(ctx context.Context, alertID, noticeID, reason string, code alertv1.RecallReason) (node.NoticeResult, error)
	Reclassify(ctx context.Context, alertID, noticeID string, h *alertv1.Reclassification) (node.NoticeResult, error)
	ListAcknowledgements(ctx context.Context, alertID, noticeID string) ([]*nodev1.Acknowledgement, error)
	ListQuarantine(ctx context.Context, pageSize uint32, pageToken string) (*node.QuarantinePage, error)
	NodeInfo(ctx context.Context) (*nodev1.GetNodeInfoResponse, error)
	PublishRevocation(ctx context.Context, raw []byte) (*trustv1.Revocation, bool, error)
	ListRevocations() []*trustv1.Revocation
}

// NodeService implements cix.node.v1.NodeService.
type NodeService struct {
	nodev1.UnimplementedNodeServiceServer
	node Node
	log  *slog.Logger
	// window bounds the PublishStream items signed but not yet answered.
	window int
	// metrics counts deliveries; nil counts nothing.
	metrics Metrics
}

// Publish implements NodeService.Publish.
func (s *NodeService) Publish(ctx context.Context, req *nodev1.PublishRequest) (*nodev1.PublishResponse, error) {
	r, err := s.node.Publish(ctx, req.GetAlert())
	if err != nil {
		return nil, toStatus(s.log, err)
	}
	return &nodev1.PublishResponse{Id: r.ID, Sequence: r.Sequence, Duplicate: r.Duplicate}, nil
}

// PublishStream implements NodeService.PublishStream in three stages: a reader hands
// items to signing workers (all cores: signing is the costly step), a sender starts
// writing them in the order received, so the stream stores a client's alerts in its
// order, and this goroutine answers them in that order, with at most window items
// between reading and answering.
func (s *NodeService) PublishStream(stream grpc.BidiStreamingServer[nodev1.PublishStreamRequest, nodev1.PublishStreamResponse]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	type item struct {
		alert    *alertv1.Alert
		sealed   *node.Sealed
		err      error
		prepared chan struct{}
	}
	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan *item, s.window)
	ordered := make(chan *item, s.window)
	inflight := make(chan *node.Pending, s.window)
	recvErr := make(chan error, 1)
	go func() { // reader
		defer close(ordered)
		defer close(jobs)
		for {
			req, err := stream.Recv()
			var refused *decodeError
			if err != nil && !errors.As(err, &refused) {
				if !errors.Is(err, io.EOF) {
					recvErr <- err
				}
				return
			}
			it := &item{alert: req.GetAlert(), prepared: make(chan struct{})}
			if refused != nil { // an item that does not decode is answered, the stream goes on
				it.err = refused
				close(it.prepared)
			}
			select {
			case ordered <- it: // first, so that the window bounds what is being signed
			case <-ctx.Done():
				return
			}
			if refused == nil {
				jobs <- it // never blocks for long: ordered bounds the items out
			}
		}
	}()
	for range workers { // signing workers
		go func() {
			for it := range jobs {
				it.sealed, it.err = s.node.Prepare(ctx, it.alert)
				close(it.prepared)
			}
		}()
	}
	go func() { // sender, in order
		defer close(inflight)
		for it := range ordered {
			<-it.prepared
			p := node.Failed(it.alert.GetId(), it.err)
			if it.err == nil {
				p = s.node.PublishSealed(it.sealed)
			}
			select {
			case inflight <- p:
			case <-ctx.Done():
				return
			}
		}
	}()
	var index uint64
	for p := range inflight {
		res := &nodev1.PublishStreamResponse{Index: index}
		r, err := s.node.Wait(ctx, p)
		res.Id = r.ID
		if err != nil {
			res.Error = itemError(s.log, err)
		} else {
			res.Result = &nodev1.PublishResponse{Id: r.ID, Sequence: r.Sequence, Duplicate: r.Duplicate}
		}
		if err := stream.Send(res); err != nil {
			return err
		}
		index++
	}
	select {
	case err := <-recvErr:
		if status.Code(err) == codes.Canceled || ctx.Err() != nil {
			return status.Error(codes.Canceled, "stream cancelled")
		}
		return err
	default:
		return nil
	}
}

// Get implements NodeService.Get.
func (s *NodeService) Get(ctx context.Context, req *nodev1.GetRequest) (*nodev1.GetResponse, error) {
	a, err := s.node.Get(ctx, req.GetId())
	if err != nil {
		return nil, toStatus(s.log, err)
	}
	return &nodev1.GetResponse{Alert: a}, nil
}

// Subscribe implements NodeService.Subscribe.
func (s *NodeService) Subscribe(req *nodev1.SubscribeRequest, stream grpc.ServerStreamingServer[nodev1.SubscribeResponse]) error {
	send := stream.Send
	if s.metrics != nil {
		send = func(ev *nodev1.SubscribeResponse) error {
			err := stream.Send(ev)
			if err == nil && ev.GetAlert() != nil {
				s.metrics.Delivered()
			}
			return err
		}
	}
	err := s.node.Subscribe(stream.Context(), req, send)
	if err != nil && stream.Context().Err() != nil {
		return nil
	}
	return toStatus(s.log, err)
}

// Recall implements NodeService.Recall.
func (s *NodeService) Recall(ctx context.Context, req *nodev1.RecallRequest) (*nodev1.RecallResponse, error) {
	r, err := s.node.Recall(ctx, req.GetAlertId(), req.GetNoticeId(), req.GetReason(), req.GetCode())
	if err != nil {
		return nil, toStatus(s.log, err)
	}
	s.logNotice(ctx, r)
	return &nodev1.RecallResponse{Notice: r.Notice, Sequence: r.Sequence, Duplicate: r.Duplicate}, nil
}

// Reclassify implements NodeService.Reclassify.
func (s *NodeService) Reclassify(ctx context.Context, req *nodev1.ReclassifyRequest) (*nodev1.ReclassifyResponse, error) {
	r, err := s.node.Reclassify(ctx, req.GetAlertId(), req.GetNoticeId(), req.GetHandling())
	if err != nil {
		return nil, toStatus(s.log, err)
	}
	s.logNotice(ctx, r)
	return &nodev1.ReclassifyResponse{Notice: r.Notice, Sequence: r.Sequence, Duplicate: r.Duplicate}, nil
}

// logNotice records who issued a notice.
func (s *NodeService) logNotice(ctx context.Context, r node.NoticeResult) {
	s.log.Info("notice issued", "id", r.Notice.GetId(), "alert_id", r.Notice.GetAlertId(), "duplicate", r.Duplicate, "caller", callerName(ctx))
}

// ListAcknowledgements implements NodeService.ListAcknowledgements.
func (s *NodeService) ListAcknowledgements(ctx context.Context, req *nodev1.ListAcknowledgementsRequest) (*nodev1.ListAcknowledgementsResponse, error) {
	acks, err := s.node.ListAcknowledgements(ctx, req.GetAlertId(), req.GetNoticeId())
	if err != nil {
		return nil, toStatus(s.log, err)
	}
	return &nodev1.ListAcknowledgementsResponse{Acknowledgements: acks}, nil
}

// AdminService implements cix.node.v1.AdminService.
type AdminService struct {
	nodev1.UnimplementedAdminServiceServer
	node   Node
	log    *slog.Logger
	health HealthReporter // nil: GetHealth is Unimplemented
}

// ListQuarantine implements AdminService.ListQuarantine.
func (s *AdminService) ListQuarantine(ctx context.Context, req *nodev1.ListQuarantineRequest) (*nodev1.ListQuarantineResponse, error) {
	p, err := s.node.ListQuarantine(ctx, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, toStatus(s.log, err)
	}
	out := &nodev1.ListQuarantineResponse{NextPageToken: p.Next, Counts: p.Counts}
	for _, q := range p.Messages {
		out.Messages = append(out.Messages, &nodev1.QuarantinedMessage{
			Sequence: q.Sequence, QuarantinedAt: timestamppb.New(q.QuarantinedAt),
			Reason: quarantineReason(q.Reason), Detail: q.Detail, Subject: q.Subject, MessageId: q.MsgID, Raw: q.Raw,
		})
	}
	return out, nil
}

// GetNodeInfo implements AdminService.GetNodeInfo.
func (s *AdminService) GetNodeInfo(ctx context.Context, _ *nodev1.GetNodeInfoRequest) (*nodev1.GetNodeInfoResponse, error) {
	info, err := s.node.NodeInfo(ctx)
	return info, toStatus(s.log, err)
}

// PublishRevocation implements AdminService.PublishRevocation.
func (s *AdminService) PublishRevocation(ctx context.Context, req *nodev1.PublishRevocationRequest) (*nodev1.PublishRevocationResponse, error) {
	r, dup, err := s.node.PublishRevocation(ctx, req.GetEnvelope())
	if err != nil {
		return nil, toStatus(s.log, err)
	}
	s.log.Info("revocation published", "id", r.GetId(), "duplicate", dup, "caller", callerName(ctx))
	return &nodev1.PublishRevocationResponse{Revocation: r, Duplicate: dup}, nil
}

// callerName names the authenticated client for logs ("-" without TLS).
func callerName(ctx context.Context) string {
	if c, ok := ClientFrom(ctx); ok {
		return c.Administration + ":" + string(c.Role) + ":" + c.Name
	}
	return "-"
}

// ListRevocations implements AdminService.ListRevocations.
func (s *AdminService) ListRevocations(context.Context, *nodev1.ListRevocationsRequest) (*nodev1.ListRevocationsResponse, error) {
	return &nodev1.ListRevocationsResponse{Revocations: s.node.ListRevocations()}, nil
}

// quarantineReason maps envelope.Reason names onto the API enum.
func quarantineReason(name string) nodev1.QuarantineReason {
	if v, ok := nodev1.QuarantineReason_value["QUARANTINE_REASON_"+strings.ToUpper(name)]; ok {
		return nodev1.QuarantineReason(v)
	}
	return nodev1.QuarantineReason_QUARANTINE_REASON_UNSPECIFIED
}
