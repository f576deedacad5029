package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"

	"github.com/cix-exchange/cix/internal/wirelimit"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the codec delegated to
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// requestCodec is the server's protobuf codec (grpc.ForceServerCodecV2, for this server
// only). It checks each request against wirelimit.Default before decoding it (no
// repeated field above 1,000 elements, 32,768 elements in all, 32 levels), so that a
// request of 4 MiB of empty repeated elements is not turned into ~600 MiB of structs.
//
// grpc-go answers every error of a codec with Internal, before any interceptor runs.
// So a request that is refused or does not decode is not an error here: the codec
// leaves the message empty with one unknown field holding the refusal, behind a random
// token of this codec, and the interceptors (checkDecodedUnary, checkDecodedStream)
// answer it as InvalidArgument with a BadRequest naming the field. The refusal lives in
// the message, so nothing is kept for a request that never reaches them.
type requestCodec struct {
	proto  encoding.CodecV2
	limits wirelimit.Limits
	token  []byte
}

// refusalField carries the refusal: the highest field number, which no cix message uses.
const refusalField = protowire.MaxValidNumber

func newRequestCodec() *requestCodec {
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	return &requestCodec{proto: encoding.GetCodecV2("proto"), limits: wirelimit.Default, token: token}
}

func (c *requestCodec) Name() string { return "proto" }

func (c *requestCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c *requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	err := wirelimit.Unmarshal(buf.ReadOnlyData(), m, "", c.limits)
	if err == nil {
		return nil
	}
	var we *wirelimit.Error
	field, reason := "", err.Error()
	if errors.As(err, &we) {
		field = we.Field
		if reason = we.Reason; we.Err != nil {
			reason += ": " + we.Err.Error()
		}
	}
	proto.Reset(m)
	mark := append(append(append(bytes.Clone(c.token), field...), 0), reason...)
	m.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, refusalField, protowire.BytesType), mark))
	return nil
}

// decodeError is a request refused by the codec.
type decodeError struct{ st *status.Status }

func (e *decodeError) Error() string              { return e.st.Err().Error() }
func (e *decodeError) GRPCStatus() *status.Status { return e.st }

// refusal returns the codec's refusal of req, nil when req decoded.
func (c *requestCodec) refusal(req any) error {
	m, ok := req.(proto.Message)
	if !ok {
		return nil
	}
	u := m.ProtoReflect().GetUnknown()
	if len(u) == 0 {
		return nil
	}
	num, typ, n := protowire.ConsumeTag(u)
	if n < 0 || num != refusalField || typ != protowire.BytesType {
		return nil
	}
	v, n := protowire.ConsumeBytes(u[n:])
	if n < 0 || !bytes.HasPrefix(v, c.token) {
		return nil
	}
	field, reason, _ := strings.Cut(string(v[len(c.token):]), "\x00")
	msg := "request does not decode: " + reason
	if field != "" {
		msg = "request does not decode: " + field + ": " + reason
	}
	st := status.New(codes.InvalidArgument, msg)
	if field != "" {
		br := &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: reason}}}
		if d, err := st.WithDetails(br); err == nil {
			st = d
		}
	}
	return &decodeError{st: st}
}

// checkDecodedUnary answers a request the codec refused. It comes before authorisation
// in the chain so that every refusal is answered.
func (c *requestCodec) checkDecodedUnary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if err := c.refusal(req); err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

// checkDecodedStream makes RecvMsg return the codec's refusal of a streamed message as a
// *decodeError; the stream itself stays usable (a bulk stream answers the item and goes
// on).
func (c *requestCodec) checkDecodedStream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, &checkedStream{ServerStream: ss, c: c})
	}
}

type checkedStream struct {
	grpc.ServerStream
	c *requestCodec
}

func (s *checkedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.c.refusal(m)
}
