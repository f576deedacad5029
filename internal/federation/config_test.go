package federation_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/federation"
	"github.com/nats-io/nats-server/v2/server"
)

const exampleManifest = "../../deploy/nats/manifest.example.yaml"

// writeTLS writes a self-signed certificate (its own CA) and its key under dir.
func writeTLS(t *testing.T, dir string) *federation.TLS {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hub-1.cix.example"},
		DNSNames: []string{"hub-1.cix.example"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := &federation.TLS{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"), CAFile: filepath.Join(dir, "cert.pem")}
	if err := os.WriteFile(c.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// load parses a configuration with nats-server's own parser, as nats-server -c does.
func load(t *testing.T, text string) *server.Options {
	t.Helper()
	return loadIn(t, t.TempDir(), text)
}

// loadIn is load with the configuration file in dir.
func loadIn(t *testing.T, dir, text string) *server.Options {
	t.Helper()
	file := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatalf("nats-server refuses the configuration: %v\n%s", err, text)
	}
	return opts
}

// TestProductionHubConfigLoads generates the example's hub configuration (3-server
// cluster, TLS everywhere) with real certificate files and reads it back with
// nats-server's parser.
func TestProductionHubConfigLoads(t *testing.T) {
	m, err := federation.Load(exampleManifest)
	if err != nil {
		t.Fatal(err)
	}
	m.Hub.TLS = writeTLS(t, t.TempDir())
	t.Setenv("HUB_NAME", "hub-2")
	text, err := federation.HubConfig(m, federation.HubOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o := load(t, text)
	if o.ServerName != "hub-2" || o.SystemAccount != federation.SystemAccount || o.JetStream {
		t.Errorf("server name %q, system account %q, JetStream %v", o.ServerName, o.SystemAccount, o.JetStream)
	}
	var accounts []string
	for _, a := range o.Accounts {
		accounts = append(accounts, a.Name)
	}
	slices.Sort(accounts)
	if want := []string{"BE", "DE", "NL", "SYS"}; !slices.Equal(accounts, want) {
		t.Errorf("accounts %v, want %v", accounts, want)
	}
	users := map[string]string{}
	for _, u := range o.Nkeys {
		users[u.Nkey] = u.Account.Name
	}
	for _, mb := range m.Members {
		for _, k := range mb.LeafNkeys {
			if users[k] != mb.Code {
				t.Errorf("leaf key of %s is in account %q", mb.Code, users[k])
			}
		}
	}
	for _, k := range m.Hub.OperatorNkeys {
		if users[k] != federation.SystemAccount {
			t.Errorf("operator key in account %q", users[k])
		}
	}
	if o.LeafNode.Port != 7422 || o.LeafNode.TLSConfig == nil || o.LeafNode.TLSConfig.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Errorf("leafnode listener port %d, TLS %+v: want mutual TLS", o.LeafNode.Port, o.LeafNode.TLSConfig)
	}
	if o.Cluster.Name != "cix-hub" || len(o.Routes) != 3 || o.Cluster.TLSConfig == nil || o.Cluster.TLSConfig.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Errorf("cluster %q, %d routes, TLS %+v", o.Cluster.Name, len(o.Routes), o.Cluster.TLSConfig)
	}
	if o.TLSConfig == nil || o.HTTPHost != "127.0.0.1" || o.HTTPPort != 8222 {
		t.Errorf("client TLS %v, monitoring %s:%d", o.TLSConfig != nil, o.HTTPHost, o.HTTPPort)
	}
}

func TestHubConfigRefusesAMemberWithoutLeafKey(t *testing.T) {
	m, err := federation.Parse([]byte(validManifest))
	if err != nil {
		t.Fatal(err)
	}
	_, err = federation.HubConfig(m, federation.HubOptions{})
	if err == nil || !strings.Contains(err.Error(), "members[0].leaf_nkeys: NL has no leaf key") {
		t.Fatalf("error %v", err)
	}
}

// TestLeafConfigSeedFromEnvironment: the leaf's seed is named in the file as a variable
// and nats-server takes it from its environment.
func TestLeafConfigSeedFromEnvironment(t *testing.T) {
	m, seeds := testManifest(t)
	t.Setenv("CIX_TEST_LEAF_SEED", seeds["BE"])
	text, err := federation.LeafConfig(m, "BE", federation.LeafOptions{
		HubURLs: []string{"tls://hub-1.cix.example:7422", "tls://hub-2.cix.example:7422"}, NkeySeedEnv: "CIX_TEST_LEAF_SEED",
		TLS: writeTLS(t, t.TempDir()), StoreDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, seeds["BE"]) {
		t.Fatal("the seed is in the file")
	}
	o := load(t, text)
	if len(o.LeafNode.Remotes) != 1 {
		t.Fatalf("%d remotes", len(o.LeafNode.Remotes))
	}
	r := o.LeafNode.Remotes[0]
	if r.Nkey != seeds["BE"] || r.LocalAccount != federation.LocalAccount || len(r.URLs) != 2 || r.TLSConfig == nil {
		t.Errorf("remote: seed set %v, account %q, %d URLs, TLS %v", r.Nkey == seeds["BE"], r.LocalAccount, len(r.URLs), r.TLSConfig != nil)
	}
	if o.JetStreamDomain != "be" || !o.JetStream || o.Host != "127.0.0.1" || o.NoAuthUser != "cix" {
		t.Errorf("domain %q, JetStream %v, host %q, no-auth user %q", o.JetStreamDomain, o.JetStream, o.Host, o.NoAuthUser)
	}
}

// TestLeafConfigWithLocalAuthorization includes the administration's own client
// authorization (here a static account standing in for what nsc writes) and binds the
// remote to the named account.
func TestLeafConfigWithLocalAuthorization(t *testing.T) {
	m, seeds := testManifest(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "auth.conf"), []byte("accounts { STREAMS: { jetstream: enabled, users: [{user: node, password: secret}] } }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text, err := federation.LeafConfig(m, "DE", federation.LeafOptions{
		HubURLs: []string{"nats-leaf://127.0.0.1:7422"}, NkeySeed: seeds["DE"], ClientListen: "0.0.0.0:4222",
		LocalAuthInclude: "auth.conf", LocalAccount: "STREAMS", StoreDir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	o := loadIn(t, dir, text)
	if r := o.LeafNode.Remotes[0]; r.LocalAccount != "STREAMS" {
		t.Errorf("remote bound to %q", r.LocalAccount)
	}
	if len(o.Users) != 1 || o.Users[0].Account.Name != "STREAMS" || o.NoAuthUser != "" {
		t.Errorf("users %v, no-auth user %q", o.Users, o.NoAuthUser)
	}
}

// TestLeafConfigPrivateAccount: with a private nkey the leaf has a second account with
// JetStream whose one user is that nkey, and the hub remote stays bound to CIX.
func TestLeafConfigPrivateAccount(t *testing.T) {
	m, seeds := testManifest(t)
	pub := pubOf(t, seeds["BE"]) // any user public key
	text, err := federation.LeafConfig(m, "NL", federation.LeafOptions{
		HubURLs: []string{"nats-leaf://127.0.0.1:7422"}, NkeySeed: seeds["NL"], PrivateNkey: pub, StoreDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	o := load(t, text)
	if r := o.LeafNode.Remotes[0]; r.LocalAccount != federation.LocalAccount {
		t.Errorf("remote bound to %q", r.LocalAccount)
	}
	if len(o.Nkeys) != 1 || o.Nkeys[0].Nkey != pub || o.Nkeys[0].Account.Name != federation.PrivateAccount {
		t.Fatalf("nkey users %+v", o.Nkeys)
	}
	if o.NoAuthUser != "cix" || len(o.Users) != 1 || o.Users[0].Account.Name != federation.LocalAccount {
		t.Errorf("users %v, no-auth user %q", o.Users, o.NoAuthUser)
	}
}

func TestLeafConfigRefuses(t *testing.T) {
	m, seeds := testManifest(t)
	hub := []string{"nats-leaf://hub:7422"}
	for _, tc := range []struct {
		name, admin, want string
		o                 federation.LeafOptions
	}{
		{"not a member", "FR", `"FR" is not a member`, federation.LeafOptions{HubURLs: hub, NkeySeed: seeds["NL"]}},
		{"no hub", "NL", "at least one hub URL", federation.LeafOptions{NkeySeed: seeds["NL"]}},
		{"no credentials", "NL", "exactly one of the nkey seed", federation.LeafOptions{HubURLs: hub}},
		{"both credentials", "NL", "exactly one of the nkey seed", federation.LeafOptions{HubURLs: hub, NkeySeed: seeds["NL"], NkeySeedEnv: "X"}},
		{"public key as seed", "NL", "not a user seed", federation.LeafOptions{HubURLs: hub, NkeySeed: pubOf(t, seeds["NL"])}},
		{"variable name", "NL", "not a variable name", federation.LeafOptions{HubURLs: hub, NkeySeedEnv: "A-B"}},
		{"open listener without authorization", "NL", "must listen on loopback", federation.LeafOptions{HubURLs: hub, NkeySeed: seeds["NL"], ClientListen: "0.0.0.0:4222"}},
		{"include without account", "NL", "go together", federation.LeafOptions{HubURLs: hub, NkeySeed: seeds["NL"], LocalAuthInclude: "auth.conf"}},
		{"absolute include", "NL", "relative to the leaf configuration's folder", federation.LeafOptions{HubURLs: hub, NkeySeed: seeds["NL"], LocalAuthInclude: "/etc/nats/auth.conf", LocalAccount: "A"}},
		{"private nkey not a user key", "NL", "not a public user key", federation.LeafOptions{HubURLs: hub, NkeySeed: seeds["NL"], PrivateNkey: seeds["NL"]}},
		{"private account with include", "NL", "not with a local authorization include", federation.LeafOptions{HubURLs: hub, NkeySeed: seeds["NL"], LocalAuthInclude: "auth.conf", LocalAccount: "A", PrivateNkey: pubOf(t, seeds["BE"])}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := federation.LeafConfig(m, tc.admin, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestDeployExamplesAreGenerated keeps deploy/nats in step with the generators: the
// files there are exactly what the commands in the example manifest's header write.
func TestDeployExamplesAreGenerated(t *testing.T) {
	m, err := federation.Load(exampleManifest)
	if err != nil {
		t.Fatal(err)
	}
	hub, err := federation.HubConfig(m, federation.HubOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"hub.conf": hub}
	// The public keys of the nodes' users in the leaves' private accounts (leaf-config
	// --private-key-out, seeds not kept).
	private := map[string]string{
		"NL": "UCZIZ2QSIT237WFYVIHOM64L2C5DSHSPFS3LWJUW7WWPVBCIMN265BX7",
		"BE": "UBZBMDQFTKYW6BT3SRJJHZ27YPPAUSHFZ7CDTNSNCYYWRLKBR4OC2LZH",
		"DE": "UDILG55323DBJNK6TRNDF7R2AXJUJ35MDCNQX5P77X7GEL26IUUK6KIR",
	}
	for _, mb := range m.Members {
		leaf, err := federation.LeafConfig(m, mb.Code, federation.LeafOptions{
			HubURLs:     []string{"tls://hub-1.cix.example:7422", "tls://hub-2.cix.example:7422", "tls://hub-3.cix.example:7422"},
			NkeySeedEnv: "CIX_LEAF_NKEY_SEED", StoreDir: "/data/jetstream", PrivateNkey: private[mb.Code],
			TLS: &federation.TLS{CAFile: "/etc/nats/tls/ca.pem", CertFile: "/etc/nats/tls/leaf.pem", KeyFile: "/etc/nats/tls/leaf-key.pem"},
		})
		if err != nil {
			t.Fatal(err)
		}
		want["leaf-"+mb.Code+".conf"] = leaf
	}
	for name, text := range want {
		got, err := os.ReadFile(filepath.Join("../../deploy/nats", name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != text {
			t.Errorf("deploy/nats/%s differs from what the manifest generates: regenerate it (commands in %s)", name, filepath.Base(exampleManifest))
		}
	}
}
