package api

import (
	"context"
	"errors"
	"log/slog"

	"github.com/cix-exchange/cix/internal/alert"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/node"
	"github.com/cix-exchange/cix/internal/watch"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// toStatus maps a domain error to a gRPC status error. Internal details of NATS or the
// store are logged, never returned.
func toStatus(log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	var ve *alert.ValidationError
	switch {
	case errors.As(err, &ve):
		st := status.New(codes.InvalidArgument, ve.Error())
		br := &errdetails.BadRequest{}
		for _, v := range ve.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
		}
		if d, derr := st.WithDetails(br); derr == nil {
			st = d
		}
		return st.Err()
	case errors.Is(err, node.ErrPermission):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, node.ErrUnsupported):
		return status.Error(codes.Unimplemented, err.Error())
	case errors.Is(err, node.ErrFailedPrecondition):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, node.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, node.ErrOutOfRange):
		return status.Error(codes.OutOfRange, err.Error())
	case errors.Is(err, watch.ErrFull):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, node.ErrStoreFull):
		log.Warn("request failed: alert store full", "error", err)
		return status.Error(codes.ResourceExhausted, "the node's alert store is full: nothing was stored; retry with the same id once its operator has made space")
	case errors.Is(err, node.ErrNoSigningKey):
		log.Warn("request failed: no signing key", "error", err)
		return status.Error(codes.Unavailable, err.Error()+"; nothing was published, retry with the same id once the node has a valid key")
	case errors.Is(err, node.ErrUnavailable):
		log.Warn("request failed: unavailable", "error", err)
		return status.Error(codes.Unavailable, "alert store unavailable; retry with the same id")
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	log.Error("request failed", "error", err)
	return status.Error(codes.Internal, "internal error")
}

// itemError is toStatus for one item of a bulk operation.
func itemError(log *slog.Logger, err error) *nodev1.ItemError {
	st := status.Convert(toStatus(log, err))
	ie := &nodev1.ItemError{Code: uint32(st.Code()), Message: st.Message()}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				ie.FieldViolations = append(ie.FieldViolations, &nodev1.FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		}
	}
	return ie
}
