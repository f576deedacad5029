package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
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
	PublishAsync(ctx context.Context, a *alertv1.Alert) *node.Pending
	Wait(ctx context.Context, p *node.Pending) (node.PublishResult, error)
	Get(ctx context.Context, id string) (*nodev1.VerifiedAlert, error)
	Subscribe(ctx context.Context, req *nodev1.SubscribeRequest, send func(*nodev1.SubscribeResponse) error) error
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
}

// Publish implements NodeService.Publish.
func (s *NodeService) Publish(ctx context.Context, req *nodev1.PublishRequest) (*nodev1.PublishResponse, error) {
	r, err := s.node.Publish(ctx, req.GetAlert())
	if err != nil {
		return nil, toStatus(s.log, err)
	}
	return &nodev1.PublishResponse{Id: r.ID, Sequence: r.Sequence, Duplicate: r.Duplicate}, nil
}

// PublishStream implements NodeService.PublishStream: a reader signs and starts writing
// items while a writer answers them in order, with at most window items in between.
func (s *NodeService) PublishStream(stream grpc.BidiStreamingServer[nodev1.PublishStreamRequest, nodev1.PublishStreamResponse]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	inflight := make(chan *node.Pending, s.window)
	recvErr := make(chan error, 1)
	go func() {
		defer close(inflight)
		for {
			req, err := stream.Recv()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					recvErr <- err
				}
				return
			}
			select {
			case inflight <- s.node.PublishAsync(ctx, req.GetAlert()):
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
	err := s.node.Subscribe(stream.Context(), req, stream.Send)
	if err != nil && stream.Context().Err() != nil {
		return nil
	}
	return toStatus(s.log, err)
}

// AdminService implements cix.node.v1.AdminService.
type AdminService struct {
	nodev1.UnimplementedAdminServiceServer
	node Node
	log  *slog.Logger
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
			Reason: quarantineReason(q.Reason), Detail: q.Detail, Subject: q.Subject, Raw: q.Raw,
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
