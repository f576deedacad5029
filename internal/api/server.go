package api

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	analystv1 "github.com/cix-exchange/cix/internal/gen/cix/analyst/v1"
	assistancev1 "github.com/cix-exchange/cix/internal/gen/cix/assistance/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	searchv1 "github.com/cix-exchange/cix/internal/gen/cix/search/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// MaxMessageSize bounds every gRPC message the node receives.
const MaxMessageSize = 4 << 20

// Server is a node's gRPC server.
type Server struct {
	GRPC   *grpc.Server
	Health *health.Server
	// services registered with Health, for SetServing.
	services []string
}

// ServerOptions configure the gRPC server.
type ServerOptions struct {
	// Administration of the node: with TLS, only its clients are served.
	Administration string
	// TLS, when set, requires client certificates and enforces Policy by role. Nil
	// serves plaintext and admits every caller (development on loopback).
	TLS *tls.Config
	// Watchlist serves WatchService; nil leaves the service out.
	Watchlist Watchlist
	// Search, when set, is served as SearchService (the node's index).
	Search Searcher
	// Health, when set, answers AdminService.GetHealth.
	Health HealthReporter
	// Metrics, when set, counts alerts delivered to subscribers.
	Metrics Metrics
	// Assistance serves AssistanceService; nil (a node outside federation mode) answers
	// every one of its RPCs with FailedPrecondition.
	Assistance Assistance
}

// NewServer assembles the gRPC server of a node: NodeService, AdminService,
// ExchangeService, WatchService (with a watchlist), SearchService (with an index), health
// and reflection, with logging, authorisation by role, requests checked and decoded by
// requestCodec (refusals answered InvalidArgument naming the field) and panic recovery
// (recovery innermost, so a panic becomes an Internal status that is logged like any
// other).
func NewServer(n Node, log *slog.Logger, o ServerOptions) *Server {
	auth := authorizer{admin: o.Administration, tls: o.TLS != nil}
	codec := newRequestCodec()
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.ForceServerCodecV2(codec),
		grpc.ChainUnaryInterceptor(unaryLog(log), auth.unary(), codec.checkDecodedUnary(), unaryRecover(log)),
		grpc.ChainStreamInterceptor(streamLog(log), auth.stream(), codec.checkDecodedStream(), streamRecover(log)),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}
	if o.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	g := grpc.NewServer(opts...)
	nodev1.RegisterNodeServiceServer(g, &NodeService{node: n, log: log, window: 1024, metrics: o.Metrics})
	nodev1.RegisterAdminServiceServer(g, &AdminService{node: n, log: log, health: o.Health})
	analystv1.RegisterExchangeServiceServer(g, &ExchangeService{node: n, log: log})
	if o.Watchlist != nil {
		analystv1.RegisterWatchServiceServer(g, &WatchService{watch: o.Watchlist, log: log})
	}
	assistancev1.RegisterAssistanceServiceServer(g, &AssistanceService{a: o.Assistance, log: log})
	h := health.NewServer()
	healthpb.RegisterHealthServer(g, h)
	reflection.Register(g)
	h.SetServingStatus(nodev1.NodeService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	h.SetServingStatus(nodev1.AdminService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	h.SetServingStatus(analystv1.ExchangeService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	h.SetServingStatus(assistancev1.AssistanceService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	if o.Watchlist != nil {
		h.SetServingStatus(analystv1.WatchService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	}
	if o.Search != nil {
		searchv1.RegisterSearchServiceServer(g, &SearchService{index: o.Search, log: log})
		h.SetServingStatus(searchv1.SearchService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	}
	srv := &Server{GRPC: g, Health: h}
	for name := range g.GetServiceInfo() {
		srv.services = append(srv.services, name)
	}
	return srv
}

// SetServing sets what grpc.health.v1 reports for the server ("") and every service:
// SERVING or NOT_SERVING.
func (s *Server) SetServing(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.Health.SetServingStatus("", st)
	for _, name := range s.services {
		s.Health.SetServingStatus(name, st)
	}
}

// Stop stops the server gracefully, forcing it after timeout.
func (s *Server) Stop(timeout time.Duration) {
	s.Health.Shutdown()
	done := make(chan struct{})
	go func() { s.GRPC.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		s.GRPC.Stop()
		<-done
	}
}

func panicError(log *slog.Logger, method string, p any) error {
	log.Error("panic in handler", "method", method, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	return status.Error(codes.Internal, "internal error")
}

func unaryRecover(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = panicError(log, info.FullMethod, p)
			}
		}()
		return h(ctx, req)
	}
}

func streamRecover(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = panicError(log, info.FullMethod, p)
			}
		}()
		return h(srv, ss)
	}
}

func unaryLog(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := h(ctx, req)
		log.Debug("rpc", "method", info.FullMethod, "code", status.Code(err).String(), "duration", time.Since(start))
		return resp, err
	}
}

func streamLog(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		start := time.Now()
		err := h(srv, ss)
		log.Debug("rpc stream", "method", info.FullMethod, "code", status.Code(err).String(), "duration", time.Since(start))
		return err
	}
}
