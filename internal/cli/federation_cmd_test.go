package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	fedconf "github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/sealed"
	"github.com/nats-io/nkeys"
)

const exampleManifest = "../../deploy/nats/manifest.example.yaml"

func TestFederationHubConfig(t *testing.T) {
	m, err := fedconf.Load(exampleManifest)
	if err != nil {
		t.Fatal(err)
	}
	want, err := fedconf.HubConfig(m, fedconf.HubOptions{ServerName: "hub-9", LeafnodeListen: "127.0.0.1:7499"})
	if err != nil {
		t.Fatal(err)
	}
	r := cix(t, "", "federation", "hub-config", exampleManifest, "--server-name", "hub-9", "--leafnode-listen", "127.0.0.1:7499").must(t, 0)
	if r.stdout != want {
		t.Fatalf("stdout is not the generated configuration:\n%s", r.stdout)
	}
	out := filepath.Join(t.TempDir(), "hub.conf")
	cix(t, "", "federation", "hub-config", "--out", out, exampleManifest, "--server-name", "hub-9", "--leafnode-listen", "127.0.0.1:7499").must(t, 0)
	if b, err := os.ReadFile(out); err != nil || string(b) != want {
		t.Fatalf("--out wrote %d bytes, %v", len(b), err)
	}
}

func TestFederationLeafConfigAndKey(t *testing.T) {
	dir := t.TempDir()
	seedFile := filepath.Join(dir, "leaf.seed")
	r := cix(t, "", "federation", "leaf-key", "--out", seedFile).must(t, 0)
	pub := strings.TrimSpace(r.stdout)
	seed, err := os.ReadFile(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := kp.PublicKey(); p != pub || !nkeys.IsValidPublicUserKey(pub) {
		t.Fatalf("printed %q, seed's public key %q", pub, p)
	}
	if fi, err := os.Stat(seedFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("seed file mode %v, %v", fi.Mode(), err)
	}
	if strings.Contains(r.stdout+r.stderr, strings.TrimSpace(string(seed))) {
		t.Fatal("the seed was printed")
	}
	cix(t, "", "federation", "leaf-key", "--out", seedFile).must(t, 1) // never overwrites

	r = cix(t, "", "federation", "leaf-config", exampleManifest, "--admin", "BE", "--hub", "tls://hub-1:7422", "--hub", "tls://hub-2:7422").must(t, 0)
	for _, s := range []string{`domain: "be"`, `urls: ["tls://hub-1:7422", "tls://hub-2:7422"]`, "nkey: $CIX_LEAF_NKEY_SEED"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("leaf configuration lacks %q:\n%s", s, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "LOCAL") {
		t.Errorf("private account without --private-nkey:\n%s", r.stdout)
	}

	// The private account for a node joining through nats.urls: a given public key, or
	// a generated pair whose seed goes to a file and is never printed.
	r = cix(t, "", "federation", "leaf-config", exampleManifest, "--admin", "BE", "--hub", "tls://hub-1:7422", "--private-nkey", pub).must(t, 0)
	if !strings.Contains(r.stdout, "LOCAL {") || !strings.Contains(r.stdout, `users: [{nkey: "`+pub+`"}]`) {
		t.Errorf("leaf configuration lacks the private account of %s:\n%s", pub, r.stdout)
	}
	cix(t, "", "federation", "leaf-config", exampleManifest, "--admin", "BE", "--hub", "tls://hub-1:7422", "--private-nkey", "SU-not-a-public-key").must(t, 1)
	privFile := filepath.Join(dir, "private.seed")
	r = cix(t, "", "federation", "leaf-config", exampleManifest, "--admin", "BE", "--hub", "tls://hub-1:7422", "--private-key-out", privFile).must(t, 0)
	pseed, err := os.ReadFile(privFile)
	if err != nil {
		t.Fatal(err)
	}
	pkp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(pseed))))
	if err != nil {
		t.Fatal(err)
	}
	ppub, _ := pkp.PublicKey()
	if !strings.Contains(r.stdout, `users: [{nkey: "`+ppub+`"}]`) || !strings.Contains(r.stderr, ppub) {
		t.Errorf("generated private user %s not in the configuration or not printed:\n%s\n%s", ppub, r.stdout, r.stderr)
	}
	if fi, err := os.Stat(privFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private seed file mode %v, %v", fi.Mode(), err)
	}
	if strings.Contains(r.stdout+r.stderr, strings.TrimSpace(string(pseed))) {
		t.Fatal("the private seed was printed")
	}
}

func TestFederationUsageAndManifestErrors(t *testing.T) {
	for _, args := range [][]string{
		{"federation"}, {"federation", "nope"}, {"federation", "hub-config"},
		{"federation", "leaf-config", exampleManifest, "--hub", "tls://h:1"},
		{"federation", "leaf-config", exampleManifest, "--admin", "NL"},
		{"federation", "leaf-key"},
	} {
		r := cix(t, "", args...).must(t, 2)
		if !strings.HasPrefix(r.stderr, "cix: ") {
			t.Errorf("%q: stderr %q", args, r.stderr)
		}
	}
	bad := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(bad, []byte("federation: x\nmembers:\n  - code: XX\n    name: n\n    nodes: [a]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := cix(t, "", "federation", "hub-config", bad).must(t, 1)
	if !strings.Contains(r.stderr, `members[0].code: "XX" is not an ISO 3166-1 alpha-2 code`) {
		t.Fatalf("stderr %q", r.stderr)
	}
	r = cix(t, "", "federation", "leaf-config", exampleManifest, "--admin", "FR", "--hub", "tls://h:1").must(t, 1)
	if !strings.Contains(r.stderr, `"FR" is not a member`) {
		t.Fatalf("stderr %q", r.stderr)
	}
}

func TestFederationAgeKey(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys", "age.key")
	r := cix(t, "", "federation", "age-key", "--out", file).must(t, 0)
	recipient := strings.TrimSpace(r.stdout)
	id, err := sealed.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if id.Recipient().String() != recipient || !strings.HasPrefix(recipient, "age1") {
		t.Fatalf("printed %q, the file holds the identity of %s", recipient, id.Recipient())
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode().Perm(), err)
	}
	if strings.Contains(r.stdout+r.stderr, "AGE-SECRET-KEY") {
		t.Error("the identity was printed")
	}
	cix(t, "", "federation", "age-key", "--out", file).must(t, 1) // never replaced
	cix(t, "", "federation", "age-key").must(t, 2)                // nowhere to put it
	cix(t, "", "federation", "age-key", "--vault").must(t, 2)     // no node
}
