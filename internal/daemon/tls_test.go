package daemon_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/cli"
	"github.com/cix-exchange/cix/internal/config"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"github.com/cix-exchange/cix/internal/trust"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// tlsClient connects to n with a client certificate (nil: none) trusting n's anchor.
func tlsClient(t *testing.T, n *testNode, cert *tls.Certificate) nodev1.NodeServiceClient {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(n.ks.Anchor())
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	conn, err := grpc.NewClient(n.d.Addr(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return nodev1.NewNodeServiceClient(conn)
}

func clientCert(t *testing.T, ks *trust.DevKeystore, role trust.Role) *tls.Certificate {
	t.Helper()
	c, k, err := ks.IssueClientCert(role, "test-"+string(role), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return &pair
}

func TestMutualTLSRolesPerRPC(t *testing.T) {
	nl := startNode(t, "NL", nil, nil, func(c *config.Config) { c.GRPC.TLS.Mode = config.TLSDev })
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	publish := func(c nodev1.NodeServiceClient) error {
		a := synth.ValidSeizure()
		_, err := c.Publish(ctx, &nodev1.PublishRequest{Alert: a})
		return err
	}
	subscribe := func(c nodev1.NodeServiceClient) error {
		s, err := c.Subscribe(ctx, &nodev1.SubscribeRequest{})
		if err == nil {
			_, err = s.Recv() // the caught_up marker, or the refusal
		}
		return err
	}
	publisher := tlsClient(t, nl, clientCert(t, nl.ks, trust.RolePublisher))
	analyst := tlsClient(t, nl, clientCert(t, nl.ks, trust.RoleAnalyst))
	if err := publish(publisher); err != nil {
		t.Fatalf("publisher publishing: %v", err)
	}
	if err := subscribe(analyst); err != nil {
		t.Fatalf("analyst subscribing: %v", err)
	}
	if err := publish(analyst); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("analyst publishing: %v, want PermissionDenied", err)
	}
	if err := subscribe(publisher); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("publisher subscribing: %v, want PermissionDenied", err)
	}

	// No client certificate: the handshake fails, nothing is served.
	if err := publish(tlsClient(t, nl, nil)); status.Code(err) != codes.Unavailable {
		t.Fatalf("without a certificate: %v, want Unavailable (handshake refused)", err)
	}
	// A certificate of another administration does not chain to NL's anchor.
	be, err := trust.OpenDevKeystore(filepath.Join(t.TempDir(), "be"), "BE", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := publish(tlsClient(t, nl, clientCert(t, be, trust.RolePublisher))); status.Code(err) != codes.Unavailable {
		t.Fatalf("certificate of BE: %v, want Unavailable (handshake refused)", err)
	}

	// The dev mode wrote a client certificate per role for the command line.
	pair, err := tls.LoadX509KeyPair(filepath.Join(nl.cfg.TLSDir(), "admin.pem"), filepath.Join(nl.cfg.TLSDir(), "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := subscribe(tlsClient(t, nl, &pair)); err != nil {
		t.Fatalf("admin from data_dir/tls: %v", err)
	}
}

// TestCommandLineOverMutualTLS: cix with --ca/--cert/--key, as an operator would use the
// certificates the dev mode writes.
func TestCommandLineOverMutualTLS(t *testing.T) {
	nl := startNode(t, "NL", nil, nil, func(c *config.Config) { c.GRPC.TLS.Mode = config.TLSDev })
	dir := nl.cfg.TLSDir()
	run := func(role string, args ...string) (int, string) {
		var out, errb syncBuffer
		full := append([]string{"--addr", nl.d.Addr(), "--ca", filepath.Join(dir, "ca.pem"),
			"--cert", filepath.Join(dir, role+".pem"), "--key", filepath.Join(dir, role+".key")}, args...)
		code := cli.Run(context.Background(), full, strings.NewReader(""), &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := run("admin", "info"); code != 0 || !strings.Contains(out, "NL/n1") {
		t.Fatalf("admin info: exit %d\n%s", code, out)
	}
	if code, out := run("analyst", "quarantine", "list"); code != 1 || !strings.Contains(out, "PERMISSION_DENIED") {
		t.Fatalf("analyst quarantine list: exit %d\n%s", code, out)
	}
}
