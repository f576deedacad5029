package daemon_test

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/daemon"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/cix-exchange/cix/internal/vault"
	"github.com/cix-exchange/cix/internal/vault/vaulttest"
	"google.golang.org/protobuf/proto"
)

// vaultAdmin is an administration's real Vault, bootstrapped for its node n1.
type vaultAdmin struct {
	admin      string
	srv        *vaulttest.Server
	boot       *vault.BootstrapResult
	anchorPath string
}

func startVault(t *testing.T, admin string, opts ...vault.BootstrapOption) *vaultAdmin {
	t.Helper()
	v := vaulttest.Start(t)
	boot, err := vault.Bootstrap(context.Background(), v.Client, admin, []string{"n1"}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	anchorPath := filepath.Join(t.TempDir(), admin+"-anchor.pem")
	if err := os.WriteFile(anchorPath, boot.AnchorPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return &vaultAdmin{admin: admin, srv: v, boot: boot, anchorPath: anchorPath}
}

// startNode starts n1 on keystore vault (see vaultNode).
func (va *vaultAdmin) startNode(t *testing.T, urls, anchors []string, opts ...nodeOpt) *testNode {
	t.Helper()
	return startNode(t, va.admin, urls, anchors, append([]nodeOpt{va.vaultNode(t)}, opts...)...)
}

// vaultNode puts n1 on keystore vault: it logs in with AppRole and a wrapped secret id
// read from a file, from VAULT_ADDR.
func (va *vaultAdmin) vaultNode(t *testing.T) nodeOpt {
	t.Helper()
	wrapped, err := va.boot.NodeSecretID(context.Background(), "n1", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(t.TempDir(), "secret-id")
	if err := os.WriteFile(secretFile, []byte(wrapped), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VAULT_ADDR", va.srv.Addr)
	t.Setenv("VAULT_TOKEN", "")
	return func(c *config.Config) {
		c.Trust.Keystore, c.Trust.OwnAnchor = "vault", va.anchorPath
		c.Vault = config.Vault{Auth: "approle", RoleID: va.boot.NodeRoleIDs["n1"], SecretIDFile: secretFile, WrappedSecretID: true}
	}
}

// plaintextGRPC turns mutual TLS off, for tests of something else.
func plaintextGRPC(c *config.Config) { c.GRPC.TLS.Mode = config.TLSOff }

// clientCert has a client certificate with role issued as an operator would: with a
// token holding only the client certificate issuers' policy.
func (va *vaultAdmin) clientCert(t *testing.T, role trust.Role) *tls.Certificate {
	t.Helper()
	c := va.srv.ClientWithPolicies(t, vault.ClientIssuerPolicy)
	cc, err := vault.IssueClientCertificate(context.Background(), c, vault.ClientCertRequest{Role: role, Name: "test-" + string(role)})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(cc.CertPEM, cc.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &pair
}

// TestVaultIdentityEndToEnd: NL's node logs in to a real Vault with AppRole, has its key
// certified by NL's Vault PKI (the key never touches disk), and BE verifies what it signs
// against NL's Vault anchor.
func TestVaultIdentityEndToEnd(t *testing.T) {
	ctx := context.Background()
	va := startVault(t, "NL")
	dir := t.TempDir()
	beKS, err := trust.OpenDevKeystore(filepath.Join(dir, "BE", "keys"), "BE", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	nl := va.startNode(t, nil, []string{beKS.AnchorPath()}, func(c *config.Config) {
		c.GRPC.TLS.Mode = config.TLSOff // mutual TLS is tested on its own
	})
	be := startNode(t, "BE", []string{nl.d.NATSURL()}, []string{va.anchorPath}, func(c *config.Config) {
		c.DataDir = filepath.Join(dir, "BE")
	})
	if _, err := os.Stat(filepath.Join(nl.cfg.KeystoreDir(), "node-n1.key")); err == nil {
		t.Fatal("the Vault-backed node wrote a key file")
	}

	sub := subscribe(t, be, &nodev1.SubscribeRequest{})
	a := synth.ValidSeizure()
	publish(t, nl, proto.Clone(a).(*alertv1.Alert))
	got := sub.nextAlert(t, wait)
	if got.GetAlert().GetId() != a.GetId() || got.GetSigner().GetAdministration() != "NL" {
		t.Fatalf("received %v", got)
	}
	// The chain in the envelope is leaf + Vault intermediate, and it chains to the anchor.
	if n := len(got.GetEnvelope().GetSignatures()[0].GetCertificates()); n != 2 {
		t.Fatalf("chain of %d certificates, want leaf and intermediate", n)
	}
	info, err := nl.admin.GetNodeInfo(ctx, &nodev1.GetNodeInfoRequest{})
	if err != nil || info.GetKeyid() != got.GetSigner().GetKeyid() || info.GetIdentityState() != "ok" {
		t.Fatalf("node info %v %v", info, err)
	}
}

// TestVaultMutualTLS: a node on the vault keystore serves mutual TLS by default, with
// its server certificate from Vault PKI; clients with certificates from the same Vault
// have the rights of their role, and none other is admitted.
func TestVaultMutualTLS(t *testing.T) {
	nlVault, beVault := startVault(t, "NL"), startVault(t, "BE")
	nl := nlVault.startNode(t, nil, nil)
	if nl.cfg.TLSMode() != config.TLSVault {
		t.Fatalf("default TLS mode with the vault keystore: %q", nl.cfg.TLSMode())
	}
	checkRolesPerRPC(t, nl.d.Addr(), nlVault.boot.Anchor, nlVault.clientCert(t, trust.RolePublisher),
		nlVault.clientCert(t, trust.RoleAnalyst), beVault.clientCert(t, trust.RoleAnalyst))
	if _, err := os.Stat(nl.cfg.TLSDir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the node wrote TLS files: %v", err)
	}
}

// TestVaultTLSRenewal: with server certificates of a few seconds, the node serves a new
// one (new serial) without restarting, and new connections verify it.
func TestVaultTLSRenewal(t *testing.T) {
	va := startVault(t, "NL", vault.WithTLSCertTTL(8*time.Second))
	nl := va.startNode(t, nil, nil)
	cert := va.clientCert(t, trust.RoleAnalyst)
	roots := x509.NewCertPool()
	roots.AddCert(va.boot.Anchor)
	// served makes a new connection, which verifies the server's chain against the
	// anchor, and returns the chain.
	served := func() ([]*x509.Certificate, error) {
		c, err := tls.Dial("tcp", nl.d.Addr(), &tls.Config{
			MinVersion: tls.VersionTLS13, RootCAs: roots, Certificates: []tls.Certificate{*cert},
		})
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates, nil
	}
	first, err := served()
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 || !first[1].Equal(va.boot.Intermediate) {
		t.Fatalf("served a chain of %d, want leaf and node CA", len(first))
	}
	var renewed *x509.Certificate
	eventually(t, 60*time.Second, "a renewed server certificate", func() bool {
		chain, err := served()
		if err != nil {
			t.Fatalf("new connection: %v", err)
		}
		if chain[0].SerialNumber.Cmp(first[0].SerialNumber) != 0 {
			renewed = chain[0]
			return true
		}
		return false
	})
	if renewed.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(first[0].PublicKey) {
		t.Fatal("renewed certificate has the same key")
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s, err := tlsClient(t, nl.d.Addr(), va.boot.Anchor, cert).Subscribe(ctx, &nodev1.SubscribeRequest{})
	if err == nil {
		_, err = s.Recv()
	}
	if err != nil {
		t.Fatalf("gRPC over a new connection after renewal: %v", err)
	}
}

// TestVaultTLSHostNotAllowed: a node asking for a server certificate for a name that
// its Vault role does not allow does not start, and says why.
func TestVaultTLSHostNotAllowed(t *testing.T) {
	va := startVault(t, "NL")
	cfg := nodeConfig(t, "NL", nil, nil, va.vaultNode(t), func(c *config.Config) {
		c.GRPC.TLS.Hosts = []string{"localhost", "nl-2.cix.example"}
	})
	d, err := daemon.Start(context.Background(), cfg, testLog(t))
	if err == nil {
		d.Stop()
		t.Fatal("started with a server name outside its Vault role")
	}
	if !strings.Contains(err.Error(), "grpc tls") || !strings.Contains(err.Error(), "nl-2.cix.example") {
		t.Fatalf("error %v, want the refused name", err)
	}
}
