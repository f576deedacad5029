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

// tlsClient connects to addr with a client certificate (nil: none) trusting anchor only.
func tlsClient(t *testing.T, addr string, anchor *x509.Certificate, cert *tls.Certificate) nodev1.NodeServiceClient {
	t.Helper()
	return nodev1.NewNodeServiceClient(tlsConn(t, addr, anchor, cert))
}

// tlsConn is the connection of tlsClient.
func tlsConn(t *testing.T, addr string, anchor *x509.Certificate, cert *tls.Certificate) *grpc.ClientConn {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(anchor)
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
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

// checkRolesPerRPC checks mutual TLS at the node serving addr under anchor: the
// publisher publishes, the analyst subscribes and gets what was published, and each is
// refused the other's RPCs with PermissionDenied (the analyst may not recall, but lists
// acknowledgements); without a certificate, or with one of
// another administration (foreign), the handshake is refused.
func checkRolesPerRPC(t *testing.T, addr string, anchor *x509.Certificate, publisher, analyst, foreign *tls.Certificate) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	publish := func(c nodev1.NodeServiceClient) (string, error) {
		a := synth.ValidSeizure()
		_, err := c.Publish(ctx, &nodev1.PublishRequest{Alert: a})
		return a.GetId(), err
	}
	subscribe := func(c nodev1.NodeServiceClient) error {
		s, err := c.Subscribe(ctx, &nodev1.SubscribeRequest{})
		if err == nil {
			_, err = s.Recv() // the caught_up marker, or the refusal
		}
		return err
	}
	pub, an := tlsClient(t, addr, anchor, publisher), tlsClient(t, addr, anchor, analyst)
	id, err := publish(pub)
	if err != nil {
		t.Fatalf("publisher publishing: %v", err)
	}
	if err := subscribe(an); err != nil {
		t.Fatalf("analyst subscribing: %v", err)
	}
	eventually(t, wait, "analyst getting the published alert", func() bool {
		res, err := an.Get(ctx, &nodev1.GetRequest{Id: id})
		if c := status.Code(err); c != codes.OK && c != codes.NotFound {
			t.Fatalf("analyst getting: %v", err)
		}
		return res.GetAlert().GetAlert().GetId() == id
	})
	if _, err := publish(an); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("analyst publishing: %v, want PermissionDenied", err)
	}
	if err := subscribe(pub); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("publisher subscribing: %v, want PermissionDenied", err)
	}
	// Recalls are the publishers'; acknowledgements are for everyone to read.
	if _, err := an.Recall(ctx, &nodev1.RecallRequest{AlertId: id, Reason: "test"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("analyst recalling: %v, want PermissionDenied", err)
	}
	if _, err := pub.Recall(ctx, &nodev1.RecallRequest{AlertId: id, Reason: "test"}); err != nil {
		t.Fatalf("publisher recalling: %v", err)
	}
	if _, err := an.ListAcknowledgements(ctx, &nodev1.ListAcknowledgementsRequest{AlertId: id}); err != nil {
		t.Fatalf("analyst listing acknowledgements: %v", err)
	}
	// No client certificate: the handshake fails, nothing is served.
	if _, err := publish(tlsClient(t, addr, anchor, nil)); status.Code(err) != codes.Unavailable {
		t.Fatalf("without a certificate: %v, want Unavailable (handshake refused)", err)
	}
	// A certificate of another administration does not chain to the node's anchor.
	if _, err := publish(tlsClient(t, addr, anchor, foreign)); status.Code(err) != codes.Unavailable {
		t.Fatalf("certificate of another administration: %v, want Unavailable (handshake refused)", err)
	}
}

func TestMutualTLSRolesPerRPC(t *testing.T) {
	nl := startNode(t, "NL", nil, nil, func(c *config.Config) { c.GRPC.TLS.Mode = config.TLSDev })
	be, err := trust.OpenDevKeystore(filepath.Join(t.TempDir(), "be"), "BE", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkRolesPerRPC(t, nl.d.Addr(), nl.ks.Anchor(), clientCert(t, nl.ks, trust.RolePublisher),
		clientCert(t, nl.ks, trust.RoleAnalyst), clientCert(t, be, trust.RolePublisher))

	// The dev mode wrote a client certificate per role for the command line.
	pair, err := tls.LoadX509KeyPair(filepath.Join(nl.cfg.TLSDir(), "admin.pem"), filepath.Join(nl.cfg.TLSDir(), "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s, err := tlsClient(t, nl.d.Addr(), nl.ks.Anchor(), &pair).Subscribe(ctx, &nodev1.SubscribeRequest{})
	if err == nil {
		_, err = s.Recv()
	}
	if err != nil {
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
