package cli

import (
	"os"
	"path/filepath"
	"testing"

	fedconf "github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/trust"
)

func TestFederationDirectoryKeygenAndSign(t *testing.T) {
	dir := t.TempDir()
	key, pub, out := filepath.Join(dir, "s.key"), filepath.Join(dir, "s.pub"), filepath.Join(dir, "dir.v2")
	cix(t, "", "federation", "directory", "keygen", "--key", key, "--pub", pub).must(t, 0)
	cix(t, "", "federation", "directory", "keygen", "--key", key, "--pub", pub).must(t, 1) // never overwrites
	ks, err := trust.OpenDevKeystore(filepath.Join(dir, "nl"), "NL", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	cix(t, "", "federation", "directory", "sign", "--manifest", exampleManifest, "--key", key, "--version", "2",
		"--anchor", "NL="+ks.AnchorPath(), "--out", out).must(t, 0)
	cix(t, "", "federation", "directory", "sign", "--manifest", exampleManifest, "--key", key, "--version", "2",
		"--anchor", "BE="+ks.AnchorPath(), "--out", out+".bad").must(t, 1) // NL's anchor as BE's
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	k, err := fedconf.LoadSecretariatKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	o, err := fedconf.VerifyDirectory(raw, k)
	if err != nil || o.Version != 2 || len(o.Certs["NL"]) != 1 {
		t.Fatalf("signed directory: %v %+v", err, o)
	}
	cix(t, "", "federation", "directory", "publish", out).must(t, 2) // --nats and --origin required
}
