package daemon_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/daemon"
	fed "github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/freeport"
	"github.com/cix-exchange/cix/internal/natsembed"
	"github.com/cix-exchange/cix/internal/sealed"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// TestFederatedExternalLeafPrivateAccount: a federated node joining a separate leaf
// server through nats.urls (the leaf started from the configuration `cix federation
// leaf-config --private-nkey` generates) keeps its feed and quarantine in the leaf's
// private account, not in the account bound to the hub; without private credentials
// the node refuses to start, naming the field.
func TestFederatedExternalLeafPrivateAccount(t *testing.T) {
	dir := t.TempDir()
	var man strings.Builder
	man.WriteString("federation: cix-test\nmembers:\n")
	for _, c := range []string{"NL", "BE"} {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := kp.Seed()
		pub, _ := kp.PublicKey()
		t.Setenv("CIX_TEST_EXTLEAF_SEED_"+c, string(seed))
		ageID, err := sealed.Generate()
		if err != nil {
			t.Fatal(err)
		}
		if c == "NL" {
			if err := sealed.WriteFile(sealed.IdentityFile(filepath.Join(dir, "NL", "keys")), ageID); err != nil {
				t.Fatal(err)
			}
		}
		fmt.Fprintf(&man, "  - code: %s\n    name: Customs %s\n    nodes: [n1]\n    leaf_nkeys: [%s]\n    age_recipient: %s\n", c, c, pub, ageID.Recipient())
	}
	manifestFile := filepath.Join(dir, "manifest.yaml")
	if err := os.WriteFile(manifestFile, []byte(man.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := fed.Load(manifestFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trust.OpenDevKeystore(filepath.Join(dir, "NL", "keys"), "NL", "n1", nil); err != nil {
		t.Fatal(err)
	}

	// The node's user in the private account: the leaf configuration holds its public
	// key, the node's seed file the rest.
	private, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pseed, _ := private.Seed()
	ppub, _ := private.PublicKey()
	seedFile := filepath.Join(dir, "private.seed")
	if err := os.WriteFile(seedFile, append(pseed, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	leafConf, err := fed.LeafConfig(m, "NL", fed.LeafOptions{
		HubURLs:      []string{"nats-leaf://127.0.0.1:" + strconv.Itoa(freeport.MustPort())}, // no hub: not needed here
		ClientListen: "127.0.0.1:" + strconv.Itoa(freeport.MustPort()),
		StoreDir:     filepath.Join(dir, "leaf"), NkeySeedEnv: "CIX_TEST_EXTLEAF_SEED_NL", PrivateNkey: ppub,
	})
	if err != nil {
		t.Fatal(err)
	}
	leafFile := filepath.Join(dir, "leaf.conf")
	if err := os.WriteFile(leafFile, []byte(leafConf), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, err := natsembed.StartFile(leafFile, func(o *server.Options) { o.LeafNode.ReconnectInterval = 0 })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { natsembed.Stop(leaf) })

	cfg := config.Default()
	cfg.Administration, cfg.Node, cfg.DataDir = "NL", "n1", filepath.Join(dir, "NL")
	cfg.GRPC.Listen = "127.0.0.1:0"
	cfg.NATS.URLs = []string{leaf.ClientURL()}
	cfg.Federation.Manifest = manifestFile

	// Without private credentials: refused, naming the field.
	if d, err := daemon.Start(context.Background(), cfg, testLog(t)); err == nil {
		d.Stop()
		t.Fatal("a federated node joining nats.urls started without private credentials")
	} else if !strings.Contains(err.Error(), "nats.private_credentials") {
		t.Fatalf("refused with %v; want the field nats.private_credentials named", err)
	}

	cfg.NATS.PrivateCredentials = seedFile
	d, err := daemon.Start(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatalf("start NL: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("stop NL: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	pc := d.PrivateConn()
	if pc == nil {
		t.Fatal("NL has no private connection with an external leaf")
	}
	pjs, err := jetstream.New(pc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"CIX_FEED_NL_N1", "CIX_QUARANTINE_NL_N1"} {
		if _, err := pjs.Stream(ctx, name); err != nil {
			t.Errorf("%s not in the private account: %v", name, err)
		}
	}
	if _, err := pjs.Stream(ctx, fed.OutboundStream("NL")); err == nil {
		t.Errorf("the outbound stream is in the private account")
	}

	// $JS.API.STREAM.NAMES in the hub-bound account, as any client of it sees it.
	raw, err := nats.Connect(leaf.ClientURL(), nats.Name("raw NL"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	bound, err := jetstream.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	names := bound.StreamNames(ctx)
	for n := range names.Name() {
		listed[n] = true
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	if !listed[fed.OutboundStream("NL")] {
		t.Errorf("the hub-bound account lists %v, not the outbound stream", listed)
	}
	for n := range listed {
		if strings.Contains(n, "FEED") || strings.Contains(n, "QUARANTINE") || strings.Contains(n, "STATE") || strings.HasPrefix(n, "KV_") {
			t.Errorf("the hub-bound account lists the private stream %s", n)
		}
	}
}
