package vault_test

import (
	"crypto/ed25519"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/trust"
	"github.com/cix-exchange/cix/internal/vault"
	"github.com/cix-exchange/cix/internal/vault/vaulttest"
)

func TestBootstrapIdempotent(t *testing.T) {
	srv := vaulttest.Start(t)
	first, err := vault.Bootstrap(ctx(t), srv.Client, admin, nodes[:1])
	if err != nil {
		t.Fatal(err)
	}
	a := first.Anchor
	if _, ok := a.PublicKey.(ed25519.PublicKey); !ok || !a.IsCA || a.MaxPathLen != 1 ||
		len(a.Subject.Country) != 1 || a.Subject.Country[0] != admin || a.CheckSignatureFrom(a) != nil {
		t.Fatalf("anchor: ca=%v pathlen=%d subject=%s", a.IsCA, a.MaxPathLen, a.Subject)
	}
	if _, err := trust.NewVerifier(nil, a); err != nil {
		t.Fatalf("anchor refused by trust.Verifier: %v", err)
	}
	if first.Intermediate.CheckSignatureFrom(a) != nil || !first.Intermediate.IsCA {
		t.Fatal("intermediate not a CA certified by the anchor")
	}
	if cs, err := trust.ParseCertificatesPEM(first.AnchorPEM); err != nil || !cs[0].Equal(a) {
		t.Fatalf("AnchorPEM: %v", err)
	}

	// Again, with one more node: same anchor, intermediate and role ids.
	second, err := vault.Bootstrap(ctx(t), srv.Client, admin, nodes)
	if err != nil {
		t.Fatalf("second bootstrap: %v", err)
	}
	if !second.Anchor.Equal(a) || !second.Intermediate.Equal(first.Intermediate) {
		t.Fatal("second bootstrap replaced the anchor or the intermediate")
	}
	if second.NodeRoleIDs[nodes[0]] != first.NodeRoleIDs[nodes[0]] || second.SealRoleID != first.SealRoleID {
		t.Fatal("role ids changed")
	}
	if second.NodeRoleIDs[nodes[1]] == "" {
		t.Fatal("new node has no role id")
	}

	// The same Vault cannot become another administration's.
	if _, err := vault.Bootstrap(ctx(t), srv.Client, "BE", []string{"be-1"}); err == nil ||
		!strings.Contains(err.Error(), "root") {
		t.Fatalf("bootstrap as BE over NL: %v", err)
	}
	for _, tc := range []struct{ admin, node string }{{"nl", "nl-1"}, {"NLD", "x"}, {admin, "Bad_Name"}, {admin, ""}} {
		if _, err := vault.Bootstrap(ctx(t), srv.Client, tc.admin, []string{tc.node}); err == nil {
			t.Errorf("bootstrap %q %q accepted", tc.admin, tc.node)
		}
	}
}

// TestBootstrapScript runs deploy/vault/bootstrap.sh with the real vault CLI and checks
// that it configures Vault exactly as the Go bootstrap does, and that each accepts the
// other's result.
func TestBootstrapScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script, err := filepath.Abs("../../deploy/vault/bootstrap.sh")
	if err != nil {
		t.Fatal(err)
	}
	bySh, byGo := vaulttest.Start(t), vaulttest.Start(t)
	tlsHosts := []string{"@NODE@.cix.example", "localhost", "127.0.0.1", "::1"}
	out := t.TempDir()
	run := func() string {
		cmd := exec.Command(bash, script)
		cmd.Env = append(bySh.CLIEnv(), "ADMIN="+admin, "NODES="+strings.Join(nodes, " "), "OUT="+out, "VAULT="+bySh.Binary,
			"TLS_HOSTS="+strings.Join(tlsHosts, " "), "TLS_CERT_TTL=48h")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bootstrap.sh: %v\n%s", err, b)
		}
		return string(b)
	}
	t.Log(run())
	anchorFile := filepath.Join(out, admin+"-anchor.pem")
	pemBytes, err := os.ReadFile(anchorFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vault.Bootstrap(ctx(t), byGo.Client, admin, nodes, vault.WithTLSHosts(tlsHosts...), vault.WithTLSCertTTL(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if want, got := stateOf(t, byGo), stateOf(t, bySh); !reflect.DeepEqual(want, got) {
		for k := range want {
			if !reflect.DeepEqual(want[k], got[k]) {
				t.Errorf("%s:\n  go:     %v\n  script: %v", k, want[k], got[k])
			}
		}
		t.Fatal("bootstrap.sh and vault.Bootstrap configure Vault differently")
	}

	// The script is idempotent, and the Go bootstrap accepts its result (same anchor).
	run()
	again, err := os.ReadFile(anchorFile)
	if err != nil || string(again) != string(pemBytes) {
		t.Fatalf("second run changed the anchor (%v)", err)
	}
	res, err := vault.Bootstrap(ctx(t), bySh.Client, admin, nodes)
	if err != nil {
		t.Fatalf("Go bootstrap over the script's: %v", err)
	}
	if cs, err := trust.ParseCertificatesPEM(pemBytes); err != nil || !cs[0].Equal(res.Anchor) {
		t.Fatalf("anchors differ (%v)", err)
	}
	ids, err := os.ReadFile(filepath.Join(out, "role-ids.txt"))
	if err != nil || !strings.Contains(string(ids), "node-nl-1 "+res.NodeRoleIDs["nl-1"]) {
		t.Fatalf("role-ids.txt %q (%v)", ids, err)
	}
}

// stateOf reads what a bootstrap configured, without instance-specific values
// (addresses, ids, keys, times).
func stateOf(t *testing.T, srv *vaulttest.Server) map[string]any {
	t.Helper()
	c := srv.Client
	st := map[string]any{}
	read := func(path string, drop ...string) {
		s, err := c.Logical().ReadWithContext(ctx(t), path)
		if err != nil || s == nil {
			t.Fatalf("read %s: %v", path, err)
		}
		d := map[string]any{}
		for k, v := range s.Data {
			d[k] = v
		}
		for _, k := range drop {
			delete(d, k)
		}
		st[path] = normalize(d, srv.Addr)
	}
	mounts, err := c.Sys().ListMountsWithContext(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{vault.RootMount, vault.PKIMount, vault.TransitMount, vault.KVMount} {
		o := mounts[m+"/"]
		if o == nil {
			t.Fatalf("mount %s missing", m)
		}
		st["mount "+m] = []any{o.Type, o.Options["version"], o.Config.MaxLeaseTTL, o.Description}
	}
	auths, err := c.Sys().ListAuthWithContext(ctx(t))
	if err != nil || auths[vault.AppRoleMount+"/"] == nil {
		t.Fatalf("auth mount: %v", err)
	}
	st["auth "+vault.AppRoleMount] = auths[vault.AppRoleMount+"/"].Type
	for _, n := range nodes {
		read(vault.PKIMount + "/roles/" + vault.NodeRole(n))
		read(vault.PKIMount + "/roles/" + vault.TLSServerRole(n))
		read("auth/" + vault.AppRoleMount + "/role/" + vault.NodeRole(n))
		read("sys/policy/" + vault.NodePolicy(n))
	}
	for _, r := range trust.Roles {
		read(vault.PKIMount + "/roles/" + vault.TLSClientRole(r))
	}
	read("sys/policy/" + vault.ClientIssuerPolicy)
	read(vault.PKIMount + "/roles/" + vault.SealPKIRole)
	read("auth/" + vault.AppRoleMount + "/role/" + vault.SealRole)
	read("sys/policy/" + vault.SealPolicy)
	read(vault.TransitMount+"/keys/"+vault.SealKey, "keys", "name")
	read(vault.RootMount + "/config/urls")
	read(vault.PKIMount + "/config/urls")
	read(vault.PKIMount + "/config/crl")
	for _, m := range []string{vault.RootMount, vault.PKIMount} {
		s, err := c.Logical().ReadWithContext(ctx(t), m+"/cert/ca")
		if err != nil || s == nil {
			t.Fatalf("read CA of %s: %v", m, err)
		}
		cs, err := trust.ParseCertificatesPEM([]byte(s.Data["certificate"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		ca := cs[0]
		st["ca "+m] = []any{ca.Subject.String(), ca.Issuer.String(), ca.IsCA, ca.MaxPathLen, ca.MaxPathLenZero,
			ca.KeyUsage, ca.NotAfter.Sub(ca.NotBefore).Round(3600e9).String(), ca.PublicKeyAlgorithm.String(),
			ca.IssuingCertificateURL != nil, ca.CRLDistributionPoints != nil}
	}
	return st
}

// normalize replaces srv's address in strings so two servers compare equal.
func normalize(v any, addr string) any {
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, addr, "ADDR")
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = normalize(x[i], addr)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = normalize(e, addr)
		}
		return out
	}
	return v
}
