package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	analystv1 "github.com/cix-exchange/cix/internal/gen/cix/analyst/v1"
	assistancev1 "github.com/cix-exchange/cix/internal/gen/cix/assistance/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	searchv1 "github.com/cix-exchange/cix/internal/gen/cix/search/v1"
	"github.com/cix-exchange/cix/internal/trust"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Policy says which roles may call each RPC. An RPC missing from it is refused to every
// role, so a new RPC is closed until someone decides who may call it. The proto comment
// of each RPC states the same.
var Policy = map[string][]trust.Role{
	nodev1.NodeService_Publish_FullMethodName:              {trust.RolePublisher, trust.RoleAdmin},
	nodev1.NodeService_PublishStream_FullMethodName:        {trust.RolePublisher, trust.RoleAdmin},
	nodev1.NodeService_Get_FullMethodName:                  {trust.RoleAnalyst, trust.RolePublisher, trust.RoleAdmin},
	nodev1.NodeService_Subscribe_FullMethodName:            {trust.RoleAnalyst, trust.RoleAdmin},
	nodev1.NodeService_Recall_FullMethodName:               {trust.RolePublisher, trust.RoleAdmin},
	nodev1.NodeService_Reclassify_FullMethodName:           {trust.RolePublisher, trust.RoleAdmin},
	nodev1.NodeService_ListAcknowledgements_FullMethodName: {trust.RoleAnalyst, trust.RolePublisher, trust.RoleAdmin},
	nodev1.AdminService_ListQuarantine_FullMethodName:      {trust.RoleAdmin},
	nodev1.AdminService_GetNodeInfo_FullMethodName:         trust.Roles,
	nodev1.AdminService_PublishRevocation_FullMethodName:   {trust.RoleAdmin},
	nodev1.AdminService_ListRevocations_FullMethodName:     trust.Roles,
	nodev1.AdminService_GetHealth_FullMethodName:           trust.Roles,
	analystv1.WatchService_CreateWatch_FullMethodName:      {trust.RoleAnalyst, trust.RoleAdmin},
	analystv1.WatchService_DeleteWatch_FullMethodName:      {trust.RoleAnalyst, trust.RoleAdmin},
	analystv1.WatchService_ListWatches_FullMethodName:      {trust.RoleAnalyst, trust.RoleAdmin},
	analystv1.WatchService_WatchHits_FullMethodName:        {trust.RoleAnalyst, trust.RoleAdmin},
	analystv1.ExchangeService_Export_FullMethodName:        {trust.RoleAnalyst, trust.RoleAdmin},
	analystv1.ExchangeService_Import_FullMethodName:        {trust.RolePublisher, trust.RoleAdmin},
	searchv1.SearchService_Search_FullMethodName:           {trust.RoleAnalyst, trust.RoleAdmin},
	searchv1.SearchService_GetHistory_FullMethodName:       {trust.RoleAnalyst, trust.RoleAdmin},
	searchv1.SearchService_Statistics_FullMethodName:       {trust.RoleAnalyst, trust.RoleAdmin},
	// Mutual assistance: the contact points (assistance-officer) do everything; admin
	// may read.
	assistancev1.AssistanceService_CreateRequest_FullMethodName:            officer,
	assistancev1.AssistanceService_UpdateDraft_FullMethodName:              officer,
	assistancev1.AssistanceService_SubmitRequest_FullMethodName:            officer,
	assistancev1.AssistanceService_AcknowledgeRequest_FullMethodName:       officer,
	assistancev1.AssistanceService_RequestCorrection_FullMethodName:        officer,
	assistancev1.AssistanceService_AmendRequest_FullMethodName:             officer,
	assistancev1.AssistanceService_AcceptRequest_FullMethodName:            officer,
	assistancev1.AssistanceService_PostponeRequest_FullMethodName:          officer,
	assistancev1.AssistanceService_MarkPendingAuthorisation_FullMethodName: officer,
	assistancev1.AssistanceService_SendPartialAnswer_FullMethodName:        officer,
	assistancev1.AssistanceService_AnswerRequest_FullMethodName:            officer,
	assistancev1.AssistanceService_RefuseRequest_FullMethodName:            officer,
	assistancev1.AssistanceService_WithdrawRequest_FullMethodName:          officer,
	assistancev1.AssistanceService_CloseRequest_FullMethodName:             officer,
	assistancev1.AssistanceService_UploadAttachment_FullMethodName:         officer,
	assistancev1.AssistanceService_GetAttachment_FullMethodName:            officer,
	assistancev1.AssistanceService_GetRequest_FullMethodName:               officerOrAdmin,
	assistancev1.AssistanceService_ListRequests_FullMethodName:             officerOrAdmin,
	assistancev1.AssistanceService_WatchRequests_FullMethodName:            officerOrAdmin,
	assistancev1.AssistanceService_ExportHistory_FullMethodName:            officerOrAdmin,
	"/grpc.health.v1.Health/Check":                                         trust.Roles,
	"/grpc.health.v1.Health/Watch":                                         trust.Roles,
	"/grpc.health.v1.Health/List":                                          trust.Roles,
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":            trust.Roles,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo":       trust.Roles,
}

var (
	officer        = []trust.Role{trust.RoleAssistanceOfficer}
	officerOrAdmin = []trust.Role{trust.RoleAssistanceOfficer, trust.RoleAdmin}
)

// authorizer enforces Policy on callers authenticated by mutual TLS. Without TLS (a
// development node on loopback) every caller is admitted.
type authorizer struct {
	admin string // the node's administration: clients must belong to it
	tls   bool
}

type clientKey struct{}

// ClientFrom returns the authenticated client of a request, if TLS is on.
func ClientFrom(ctx context.Context) (trust.ClientIdentity, bool) {
	c, ok := ctx.Value(clientKey{}).(trust.ClientIdentity)
	return c, ok
}

func (a authorizer) authorize(ctx context.Context, method string) (context.Context, error) {
	if !a.tls {
		return ctx, nil
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no peer")
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return nil, status.Error(codes.Unauthenticated, "a client certificate is required")
	}
	id, err := trust.ParseClientIdentity(ti.State.VerifiedChains[0][0])
	if err != nil {
		return nil, status.Errorf(codes.PermissionDenied, "client certificate: %v", err)
	}
	if id.Administration != a.admin {
		return nil, status.Errorf(codes.PermissionDenied, "client of administration %s; this node serves %s", id.Administration, a.admin)
	}
	if !slices.Contains(Policy[method], id.Role) {
		return nil, status.Errorf(codes.PermissionDenied, "role %s may not call %s", id.Role, method)
	}
	return context.WithValue(ctx, clientKey{}, id), nil
}

func (a authorizer) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		ctx, err := a.authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

func (a authorizer) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		ctx, err := a.authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return h(srv, &wrappedStream{ServerStream: ss, ctx: ctx})
	}
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }

// ServerTLS returns a TLS configuration requiring client certificates that chain to
// clientCAs, with the server certificate from getCert (which may rotate it).
func ServerTLS(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error), clientCAs *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: getCert,
		ClientAuth:     tls.RequireAndVerifyClientCert,
		ClientCAs:      clientCAs,
	}
}

// FileCertificate serves a certificate and key from PEM files and reloads them when
// they change on disk, so a renewed certificate takes effect without a restart.
type FileCertificate struct {
	certFile, keyFile string
	check             time.Duration

	mu      sync.Mutex
	cert    *tls.Certificate
	modTime time.Time
	checked time.Time
}

// NewFileCertificate loads certFile and keyFile.
func NewFileCertificate(certFile, keyFile string) (*FileCertificate, error) {
	f := &FileCertificate{certFile: certFile, keyFile: keyFile, check: 5 * time.Second}
	if err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *FileCertificate) load() error {
	st, err := os.Stat(f.certFile)
	if err != nil {
		return fmt.Errorf("tls certificate: %w", err)
	}
	c, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return fmt.Errorf("tls certificate: %w", err)
	}
	f.cert, f.modTime = &c, st.ModTime()
	return nil
}

// GetCertificate implements tls.Config.GetCertificate. It looks at the files at most
// every few seconds; a broken new file keeps the previous certificate in service.
func (f *FileCertificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := time.Now(); now.Sub(f.checked) >= f.check {
		f.checked = now
		if st, err := os.Stat(f.certFile); err == nil && !st.ModTime().Equal(f.modTime) {
			_ = f.load()
		}
	}
	return f.cert, nil
}
