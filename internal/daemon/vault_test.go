package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/config"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/cix-exchange/cix/internal/vault"
	"github.com/cix-exchange/cix/internal/vault/vaulttest"
	"google.golang.org/protobuf/proto"
)

// TestVaultIdentityEndToEnd: NL's node logs in to a real Vault with AppRole, has its key
// certified by NL's Vault PKI (the key never touches disk), and BE verifies what it signs
// against NL's Vault anchor.
func TestVaultIdentityEndToEnd(t *testing.T) {
	v, boot := bootstrapVault(t, "NL", "n1")
	ctx := context.Background()
	dir := t.TempDir()
	anchorPath, onVault := vaultKeystore(t, v, boot, "n1")

	beKS, err := trust.OpenDevKeystore(filepath.Join(dir, "BE", "keys"), "BE", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	nl := startNode(t, "NL", nil, []string{beKS.AnchorPath()}, onVault)
	be := startNode(t, "BE", []string{nl.d.NATSURL()}, []string{anchorPath}, func(c *config.Config) {
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

// bootstrapVault starts a dev Vault bootstrapped for admin with one node.
func bootstrapVault(t *testing.T, admin, node string) (*vaulttest.Server, *vault.BootstrapResult) {
	t.Helper()
	v := vaulttest.Start(t)
	boot, err := vault.Bootstrap(context.Background(), v.Client, admin, []string{node})
	if err != nil {
		t.Fatal(err)
	}
	return v, boot
}

// vaultKeystore prepares what a node needs to log in to v, bootstrapped by boot, with
// AppRole and a wrapped secret id: the administration's anchor (its path is returned)
// and the secret id file, and points VAULT_ADDR at v. The option puts the node on the
// vault keystore, with plaintext gRPC (mutual TLS is tested on its own).
func vaultKeystore(t *testing.T, v *vaulttest.Server, boot *vault.BootstrapResult, node string) (anchorPath string, opt nodeOpt) {
	t.Helper()
	dir := t.TempDir()
	anchorPath = filepath.Join(dir, boot.Administration+"-anchor.pem")
	if err := os.WriteFile(anchorPath, boot.AnchorPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	wrapped, err := boot.NodeSecretID(context.Background(), node, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(dir, "secret-id")
	if err := os.WriteFile(secretFile, []byte(wrapped), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VAULT_ADDR", v.Addr)
	t.Setenv("VAULT_TOKEN", "")
	return anchorPath, func(c *config.Config) {
		c.Trust.Keystore, c.Trust.OwnAnchor = "vault", anchorPath
		c.GRPC.TLS.Mode = config.TLSOff
		c.Vault = config.Vault{Auth: "approle", RoleID: boot.NodeRoleIDs[node], SecretIDFile: secretFile, WrappedSecretID: true}
	}
}
