package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/cli"
	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/daemon"
	fed "github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/freeport"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/natsembed"
	"github.com/cix-exchange/cix/internal/sealed"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/cix-exchange/cix/internal/vault"
)

// TestFederatedAgeIdentityFromVault: NL's operator stores the administration's age
// identity in NL's real Vault with `cix federation age-key --vault --node n1`; NL's node,
// on the vault keystore, reads it from KV kv-cix/nodes/n1/age with its own AppRole
// policy, refuses to start when the manifest publishes another recipient, and otherwise
// reads what BE seals to NL, while BE reads what NL seals to BE.
func TestFederatedAgeIdentityFromVault(t *testing.T) {
	va := startVault(t, "NL")
	t.Setenv("VAULT_ADDR", va.srv.Addr)
	t.Setenv("VAULT_TOKEN", va.srv.Token)
	var stdout, stderr bytes.Buffer
	if code := cli.Run(context.Background(), []string{"federation", "age-key", "--vault", "--node", "n1"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("cix federation age-key --vault: exit %d: %s", code, stderr.String())
	}
	nlRecipient := strings.TrimSpace(stdout.String())
	if _, err := sealed.ParseRecipient(nlRecipient); err != nil {
		t.Fatalf("age-key printed %q: %v", nlRecipient, err)
	}
	if strings.Contains(stdout.String()+stderr.String(), "AGE-SECRET-KEY") {
		t.Fatal("age-key --vault printed the identity")
	}
	if s, err := vault.ReadAgeIdentity(context.Background(), va.srv.Client, "n1"); err != nil || !strings.HasPrefix(s, "AGE-SECRET-KEY-") {
		t.Fatalf("Vault KV %s: %v", vault.NodeAgeKV("n1"), err)
	}

	dir := t.TempDir()
	beID, err := sealed.Generate()
	if err != nil {
		t.Fatal(err)
	}
	beKeys := filepath.Join(dir, "BE", "keys")
	beKS, err := trust.OpenDevKeystore(beKeys, "BE", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sealed.WriteFile(sealed.IdentityFile(beKeys), beID); err != nil {
		t.Fatal(err)
	}
	manifest := func(nlRec string) string {
		var b strings.Builder
		b.WriteString("federation: cix-test\nmembers:\n")
		for _, c := range []struct{ code, rec string }{{"NL", nlRec}, {"BE", beID.Recipient().String()}} {
			seed, pub := newUserKey(t)
			t.Setenv("CIX_TEST_AGEVAULT_SEED_"+c.code, seed)
			fmt.Fprintf(&b, "  - code: %s\n    name: Customs %s\n    nodes: [n1]\n    leaf_nkeys: [%s]\n    age_recipient: %s\n", c.code, c.code, pub, c.rec)
		}
		f := filepath.Join(t.TempDir(), "manifest.yaml")
		writeFile(t, f, b.String())
		return f
	}
	hubLeaf := freeport.MustPort()
	nodeCfg := func(admin, manifestFile string) config.Config {
		cfg := config.Default()
		cfg.Administration, cfg.Node, cfg.DataDir = admin, "n1", filepath.Join(t.TempDir(), admin)
		cfg.GRPC.Listen = "127.0.0.1:0"
		cfg.NATS.EmbeddedListen = "127.0.0.1:0"
		cfg.Federation = config.Federation{
			Manifest: manifestFile, HubURLs: []string{"nats-leaf://127.0.0.1:" + strconv.Itoa(hubLeaf)},
			LeafNkeySeedEnv: "CIX_TEST_AGEVAULT_SEED_" + admin,
		}
		return cfg
	}

	t.Run("refused when the manifest publishes another recipient", func(t *testing.T) {
		other, err := sealed.Generate()
		if err != nil {
			t.Fatal(err)
		}
		cfg := nodeCfg("NL", manifest(other.Recipient().String()))
		va.vaultNode(t)(&cfg)
		cfg.GRPC.TLS.Mode = config.TLSOff
		if d, err := daemon.Start(context.Background(), cfg, testLog(t)); err == nil {
			d.Stop()
			t.Fatal("NL started with an age identity the manifest does not publish")
		} else if !strings.Contains(err.Error(), vault.NodeAgeKV("n1")) || !strings.Contains(err.Error(), nlRecipient) {
			t.Fatalf("refused with %v; want the Vault KV path and the recipient found there named", err)
		}
	})

	manifestFile := manifest(nlRecipient)
	m, err := fed.Load(manifestFile)
	if err != nil {
		t.Fatal(err)
	}
	hub, err := fed.HubConfig(m, fed.HubOptions{
		ClientListen: "127.0.0.1:" + strconv.Itoa(freeport.MustPort()), LeafnodeListen: "127.0.0.1:" + strconv.Itoa(hubLeaf),
	})
	if err != nil {
		t.Fatal(err)
	}
	hubFile := filepath.Join(dir, "hub.conf")
	writeFile(t, hubFile, hub)
	hs, err := natsembed.StartFile(hubFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { natsembed.Stop(hs) })

	nl := startNode(t, "NL", nil, []string{beKS.AnchorPath()}, va.vaultNode(t), plaintextGRPC, func(c *config.Config) {
		n := nodeCfg("NL", manifestFile)
		c.Federation, c.NATS.URLs = n.Federation, nil
	})
	be := startNode(t, "BE", nil, []string{va.anchorPath}, func(c *config.Config) {
		n := nodeCfg("BE", manifestFile)
		c.Federation, c.DataDir = n.Federation, filepath.Join(dir, "BE")
	})
	eventually(t, 60*time.Second, "2 leaf nodes at the hub", func() bool { return hs.NumLeafNodes() == 2 })

	subNL, subBE := subscribe(t, nl, &nodev1.SubscribeRequest{}), subscribe(t, be, &nodev1.SubscribeRequest{})
	toNL := alertFor(&alertv1.Audience{Administrations: []string{"NL"}})
	toBE := alertFor(&alertv1.Audience{Administrations: []string{"BE"}})
	publish(t, be, toNL)
	publish(t, nl, toBE)
	// NL decrypts BE's alert and its own (sealed to NL too) with the identity from Vault.
	receivedSetWithin(t, "NL", subNL, 60*time.Second, toNL.GetId(), toBE.GetId())
	receivedSetWithin(t, "BE", subBE, 60*time.Second, toNL.GetId(), toBE.GetId())
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	got, err := nl.client.Get(ctx, &nodev1.GetRequest{Id: toNL.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetAlert().GetAlert().GetRisk().String() != toNL.GetRisk().String() {
		t.Fatalf("NL read %v, BE sent %v", got.GetAlert().GetAlert(), toNL)
	}
}
