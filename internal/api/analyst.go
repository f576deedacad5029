package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/cix-exchange/cix/internal/exchange"
	analystv1 "github.com/cix-exchange/cix/internal/gen/cix/analyst/v1"
	"github.com/cix-exchange/cix/internal/trust"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Watchlist is what WatchService needs of the node's watchlist (package watch).
type Watchlist interface {
	Create(ctx context.Context, kind analystv1.WatchKind, value, label, owner string) (*analystv1.WatchEntry, error)
	Delete(ctx context.Context, id, owner string, anyOwner bool) error
	List(mine bool, owner string, pageSize uint32, pageToken string) ([]*analystv1.WatchEntry, string, error)
	Hits(ctx context.Context, req *analystv1.WatchHitsRequest, owner string, send func(*analystv1.WatchHitsResponse) error) error
}

// owner is the client name of the caller's certificate, "" without TLS, and whether
// the caller may act on every owner's entries (admin, or no TLS).
func owner(ctx context.Context) (name string, admin bool) {
	c, ok := ClientFrom(ctx)
	if !ok {
		return "", true
	}
	return c.Name, c.Role == trust.RoleAdmin
}

// WatchService implements cix.analyst.v1.WatchService.
type WatchService struct {
	analystv1.UnimplementedWatchServiceServer
	watch Watchlist
	log   *slog.Logger
}

// CreateWatch implements WatchService.CreateWatch.
func (s *WatchService) CreateWatch(ctx context.Context, req *analystv1.CreateWatchRequest) (*analystv1.CreateWatchResponse, error) {
	name, _ := owner(ctx)
	e, err := s.watch.Create(ctx, req.GetKind(), req.GetValue(), req.GetLabel(), name)
	if err != nil {
		return nil, toStatus(s.log, err)
	}
	s.log.Info("watch entry created", "id", e.GetId(), "kind", e.GetKind().String(), "caller", callerName(ctx))
	return &analystv1.CreateWatchResponse{Entry: e}, nil
}

// DeleteWatch implements WatchService.DeleteWatch.
func (s *WatchService) DeleteWatch(ctx context.Context, req *analystv1.DeleteWatchRequest) (*analystv1.DeleteWatchResponse, error) {
	name, admin := owner(ctx)
	if err := s.watch.Delete(ctx, req.GetId(), name, admin); err != nil {
		return nil, toStatus(s.log, err)
	}
	s.log.Info("watch entry deleted", "id", req.GetId(), "caller", callerName(ctx))
	return &analystv1.DeleteWatchResponse{}, nil
}

// ListWatches implements WatchService.ListWatches.
func (s *WatchService) ListWatches(ctx context.Context, req *analystv1.ListWatchesRequest) (*analystv1.ListWatchesResponse, error) {
	name, _ := owner(ctx)
	es, next, err := s.watch.List(req.GetMine(), name, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, toStatus(s.log, err)
	}
	return &analystv1.ListWatchesResponse{Entries: es, NextPageToken: next}, nil
}

// WatchHits implements WatchService.WatchHits.
func (s *WatchService) WatchHits(req *analystv1.WatchHitsRequest, stream grpc.ServerStreamingServer[analystv1.WatchHitsResponse]) error {
	name, _ := owner(stream.Context())
	err := s.watch.Hits(stream.Context(), req, name, stream.Send)
	if err != nil && stream.Context().Err() != nil {
		return nil
	}
	return toStatus(s.log, err)
}

// ExchangeService implements cix.analyst.v1.ExchangeService.
type ExchangeService struct {
	analystv1.UnimplementedExchangeServiceServer
	node Node
	log  *slog.Logger
}

// exportChunk is the size of the chunks of an export.
const exportChunk = 64 << 10

// chunker sends what is written to it in chunks.
type chunker struct {
	send   func(*analystv1.ExportResponse) error
	buf    bytes.Buffer
	alerts uint64
}

func (c *chunker) Write(p []byte) (int, error) {
	c.buf.Write(p)
	for c.buf.Len() >= exportChunk {
		if err := c.flush(exportChunk); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *chunker) flush(n int) error {
	return c.send(&analystv1.ExportResponse{Data: bytes.Clone(c.buf.Next(n)), Alerts: c.alerts})
}

// Export implements ExchangeService.Export.
func (s *ExchangeService) Export(req *analystv1.ExportRequest, stream grpc.ServerStreamingServer[analystv1.ExportResponse]) error {
	ctx := stream.Context()
	c := &chunker{send: stream.Send}
	n, err := exchange.Export(ctx, s.node, req.GetFormat(), req.GetFilter(), c, func(n uint64) { c.alerts = n })
	if err != nil {
		if ctx.Err() != nil {
			return status.Error(codes.Canceled, "cancelled")
		}
		return toStatus(s.log, err)
	}
	if err := c.flush(c.buf.Len()); err != nil {
		return err
	}
	s.log.Info("export", "format", req.GetFormat().String(), "alerts", n, "caller", callerName(ctx))
	return nil
}

// Import implements ExchangeService.Import.
func (s *ExchangeService) Import(stream grpc.ClientStreamingServer[analystv1.ImportRequest, analystv1.ImportResponse]) error {
	ctx := stream.Context()
	var data bytes.Buffer
	var first *analystv1.ImportRequest
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if first == nil {
			first = req
		}
		if data.Len()+len(req.GetData()) > exchange.MaxImportBytes {
			return status.Errorf(codes.InvalidArgument, "file larger than %d bytes: split it", exchange.MaxImportBytes)
		}
		data.Write(req.GetData())
	}
	var rows []exchange.Row
	switch first.GetFormat() {
	case analystv1.ImportFormat_IMPORT_FORMAT_CSV:
		rows = exchange.ReadCSV(&data)
	case analystv1.ImportFormat_IMPORT_FORMAT_JSONL:
		rows = exchange.ReadJSONL(&data)
	default:
		return status.Errorf(codes.InvalidArgument, "format: unknown import format %d", first.GetFormat())
	}
	var keepGood bool
	switch first.GetMode() {
	case analystv1.ImportMode_IMPORT_MODE_UNSPECIFIED, analystv1.ImportMode_IMPORT_MODE_ALL_OR_NOTHING:
	case analystv1.ImportMode_IMPORT_MODE_KEEP_GOOD:
		keepGood = true
	default:
		return status.Errorf(codes.InvalidArgument, "mode: unknown import mode %d", first.GetMode())
	}
	res, err := exchange.Import(ctx, s.node, rows, keepGood)
	s.log.Info("import", "format", first.GetFormat().String(), "rows", res.GetRows(), "published", len(res.GetAccepted()),
		"errors", len(res.GetErrors()), "caller", callerName(ctx), "error", err)
	if err != nil {
		st := status.Convert(toStatus(s.log, err))
		return status.Error(st.Code(), fmt.Sprintf("%s; %d rows were published before the failure", st.Message(), len(res.GetAccepted())))
	}
	return stream.SendAndClose(res)
}
