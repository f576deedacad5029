package localfed_test

import (
	"path/filepath"
	"testing"

	"github.com/cix-exchange/cix/internal/localfed"
	"github.com/cix-exchange/cix/internal/sealed"
	"github.com/nats-io/nkeys"
)

// TestNew checks that the manifest publishes each member's generated leaf key and age
// recipient, and that a node configuration from it is valid and runs on the hub.
func TestNew(t *testing.T) {
	dir := t.TempDir()
	f, err := localfed.New(localfed.Options{
		Dir: dir, Name: "t", HubName: "t-hub", Members: []string{"NL", "BE"}, Node: "n",
		Nodes: map[string]string{"BE": "b"}, Groups: []localfed.Group{{Name: "benelux", Members: []string{"NL", "BE"}}},
		SeedEnvPrefix: "LOCALFED_TEST_SEED_",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"NL", "BE"} {
		m, mm := f.Member(code), f.Manifest.Member(code)
		if m == nil || mm == nil {
			t.Fatalf("%s: member %v, in manifest %v", code, m, mm)
		}
		kp, err := nkeys.FromSeed(m.Seed)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := kp.PublicKey()
		if len(mm.LeafNkeys) != 1 || mm.LeafNkeys[0] != pub {
			t.Errorf("%s: manifest leaf nkeys %v, want [%s]", code, mm.LeafNkeys, pub)
		}
		if mm.AgeRecipient != m.Age.Recipient().String() {
			t.Errorf("%s: manifest age recipient %q, want %q", code, mm.AgeRecipient, m.Age.Recipient())
		}
	}
	if g := f.Manifest.Group("benelux"); g == nil || len(g.Members) != 2 {
		t.Errorf("group benelux: %+v", g)
	}
	keys := filepath.Join(dir, "BE", "keys")
	if _, err := f.WriteDevIdentity("BE", keys); err != nil {
		t.Fatal(err)
	}
	if id, err := sealed.ReadFile(sealed.IdentityFile(keys)); err != nil || id.Recipient().String() != f.Member("BE").Age.Recipient().String() {
		t.Errorf("age identity file: %v, %v", id, err)
	}
	if err := f.StartHub(); err != nil {
		t.Fatal(err)
	}
	defer f.StopHub()
	cfg := f.NodeConfig("BE", filepath.Join(dir, "BE"))
	if cfg.Node != "b" || cfg.Federation.HubURLs[0] != f.LeafURL || cfg.Federation.LeafNkeySeedEnv != "LOCALFED_TEST_SEED_BE" {
		t.Errorf("node config %+v", cfg.Federation)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("node config: %v", err)
	}
}
