package daemon_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/daemon"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/natsembed"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

// syncBuffer is a bytes.Buffer safe to read while Run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

var addrRE = regexp.MustCompile(`serving gRPC on (\S+)`)

// TestRunWithConfigFileJoinsExternalNATS runs cixd's main with a configuration file that
// points at an external NATS server, as a production node would.
func TestRunWithConfigFileJoinsExternalNATS(t *testing.T) {
	ns, err := natsembed.Start(natsembed.Options{Name: "federation", StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { natsembed.Stop(ns) })
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "cixd.yaml")
	cfg := "administration: DE\nnode: de-1\ndata_dir: " + filepath.Join(dir, "data") +
		"\ngrpc:\n  listen: 127.0.0.1:0\nnats:\n  urls: [" + ns.ClientURL() + "]\nlog:\n  level: warn\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	exit := make(chan int, 1)
	go func() { exit <- daemon.Run(ctx, []string{"-config", cfgPath}, &stdout, &stderr) }()

	var addr string
	eventually(t, wait, "cixd to print its address", func() bool {
		m := addrRE.FindStringSubmatch(stdout.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: nodev1.NodeService_ServiceDesc.ServiceName})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health %v %v", hc, err)
	}
	// Reflection lists the node's services (grpcurl and similar tools rely on it).
	rs, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	lr, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	services := map[string]bool{}
	for _, s := range lr.GetListServicesResponse().GetService() {
		services[s.GetName()] = true
	}
	if !services["cix.node.v1.NodeService"] || !services["cix.node.v1.AdminService"] || !services["grpc.health.v1.Health"] {
		t.Fatalf("reflection lists %v", services)
	}
	_ = rs.CloseSend()
	info, err := nodev1.NewAdminServiceClient(conn).GetNodeInfo(ctx, &nodev1.GetNodeInfoRequest{})
	if err != nil || info.GetAdministration() != "DE" || info.GetNode() != "de-1" {
		t.Fatalf("info %v %v", info, err)
	}
	// The node's streams live on the external server.
	if jsz, err := ns.Jsz(nil); err != nil || jsz.Streams < 3 {
		t.Fatalf("external server holds %d streams (%v), want the alert stream, feed and quarantine", jsz.Streams, err)
	}
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(wait):
		t.Fatal("cixd did not stop")
	}
}

func TestRunRejectsBadConfiguration(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(p, []byte("nats:\n  servers: [nats://x:1]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	if code := daemon.Run(context.Background(), []string{"-config", p}, &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !bytes.Contains([]byte(stderr.String()), []byte("servers")) {
		t.Fatalf("error does not name the unknown key: %s", stderr.String())
	}
}
