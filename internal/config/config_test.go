package config_test

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/config"
)

func resolve(t *testing.T, args ...string) (config.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("cixd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := config.NewFlags(fs)
	if err := fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	return f.Resolve()
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cixd.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAreADevNode(t *testing.T) {
	c, err := resolve(t)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Embedded() || c.GRPC.Listen != "127.0.0.1:7400" || c.Trust.Keystore != "dev" {
		t.Fatalf("defaults %+v", c)
	}
}

// A configuration written by Marshal loads back unchanged, durations included, through
// the strict decoder.
func TestMarshalLoadsBack(t *testing.T) {
	want := config.Default()
	want.Administration, want.Node, want.DataDir = "NL", "a", "/var/lib/cix"
	want.NATS.URLs = []string{"nats://hub-1:4222", "nats://hub-2:4222"}
	want.NATS.DuplicateWindow = config.Duration(90 * time.Second)
	want.Trust.Anchors = []string{"/etc/cix/be.pem"}
	want.Federation = config.Federation{Manifest: "/etc/cix/manifest.json", HubURLs: []string{"nats-leaf://hub:7422"}, LeafNkeySeedEnv: "CIX_SEED"}
	b, err := want.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var got config.Config
	if err := got.Load(b, "marshalled"); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	// Empty lists load as empty rather than nil: compare what the two configurations
	// say, then a few fields directly.
	again, err := got.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(b) {
		t.Fatalf("loaded back as\n%s\nwant\n%s", again, b)
	}
	if got.NATS.DuplicateWindow != want.NATS.DuplicateWindow || got.Federation.Manifest != want.Federation.Manifest ||
		!slices.Equal(got.NATS.URLs, want.NATS.URLs) || got.DataDir != want.DataDir {
		t.Fatalf("loaded back %+v, want %+v", got, want)
	}
}

func TestPrecedenceDefaultsFileFlags(t *testing.T) {
	p := writeFile(t, `
administration: BE
node: be-1
grpc:
  listen: 0.0.0.0:7500
nats:
  urls: [nats://hub:4222]
  feed_retention: 720h
log:
  level: debug
`)
	c, err := resolve(t, "-config", p, "-node", "be-2", "-trust-anchor", "/a.pem,/b.pem")
	if err != nil {
		t.Fatal(err)
	}
	if c.Administration != "BE" || c.Node != "be-2" || c.GRPC.Listen != "0.0.0.0:7500" || c.Embedded() ||
		time.Duration(c.NATS.FeedRetention) != 720*time.Hour || c.Log.Level != "debug" || c.Log.Format != "text" ||
		strings.Join(c.Trust.Anchors, ",") != "/a.pem,/b.pem" {
		t.Fatalf("resolved %+v", c)
	}
}

func TestUnknownKeysAndBadValuesAreErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
	}{
		{"unknown top-level key", "administraton: NL\n", "administraton"},
		{"unknown nested key", "nats:\n  url: nats://x\n", "url"},
		{"bad duration", "nats:\n  feed_retention: forever\n", "forever"},
		{"bad administration", "administration: Netherlands\n", "administration"},
		{"bad node", "node: Node_1\n", "node"},
		{"bad url", "nats:\n  urls: [hub:4222]\n", "nats.urls[0]"},
		{"bad level", "log:\n  level: loud\n", "log.level"},
		{"unknown keystore", "trust:\n  keystore: hsm\n", "trust.keystore"},
		{"vault without anchor", "trust:\n  keystore: vault\nvault:\n  auth: token\n", "trust.own_anchor"},
		{"unknown credentials source", "nats:\n  urls: [nats://hub:4222]\n  credentials: env\n", "nats.credentials"},
		{"vault credentials with dev keystore", "nats:\n  urls: [nats://hub:4222]\n  credentials: vault\n", "nats.credentials: vault needs trust.keystore vault"},
		{"file credentials without file", "nats:\n  urls: [nats://hub:4222]\n  credentials: file\n", "nats.credentials_file"},
		{"credentials with the embedded server", "nats:\n  credentials_file: /n.creds\n  credentials: file\n", "nats.credentials: file needs nats.urls"},
		{"file next to vault credentials", vaultNode + "nats:\n  urls: [nats://hub:4222]\n  credentials: vault\n  credentials_file: /n.creds\n", "nats.credentials_file"},
		{"no vault poll", vaultNode + "nats:\n  urls: [nats://hub:4222]\n  credentials_poll: 0s\n", "nats.credentials_poll"},
		{"approle without secret", "trust:\n  keystore: vault\n  own_anchor: /a.pem\nvault:\n  auth: approle\n  role_id: r\n", "vault.secret_id_file"},
		{"unknown tls mode", "grpc:\n  tls:\n    mode: on\n", "grpc.tls.mode"},
		{"tls vault with the dev keystore", "grpc:\n  tls:\n    mode: vault\n", "grpc.tls.mode"},
		{"tls files without files", "grpc:\n  tls:\n    mode: files\n", "grpc.tls.client_ca_file"},
		{"tls files ignored by mode vault", vaultNode + "grpc:\n  tls:\n    cert_file: /c.pem\n", "grpc.tls.cert_file"},
		{"negative idle release", "memory:\n  idle_release: -1s\n", "memory.idle_release"},
		{"bad tls host", vaultNode + "grpc:\n  tls:\n    hosts: [localhost, \"*.example\"]\n", "grpc.tls.hosts[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resolve(t, "-config", writeFile(t, tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want mention of %q", err, tc.want)
			}
		})
	}
}

// vaultNode is a valid node on the vault keystore.
const vaultNode = "trust:\n  keystore: vault\n  own_anchor: /a.pem\nvault:\n  auth: token\n"

// TestTLSModeDefaults: mutual TLS is on by default outside development, with
// certificates from Vault when the keystore is Vault.
func TestTLSModeDefaults(t *testing.T) {
	c, err := resolve(t)
	if err != nil || c.TLSMode() != config.TLSOff {
		t.Fatalf("dev node: mode %q (%v)", c.TLSMode(), err)
	}
	c, err = resolve(t, "-config", writeFile(t, vaultNode+"grpc:\n  tls:\n    hosts: [cix.example, 10.0.0.7, \"::1\"]\n"))
	if err != nil || c.TLSMode() != config.TLSVault || len(c.GRPC.TLS.Hosts) != 3 {
		t.Fatalf("vault node: mode %q hosts %v (%v)", c.TLSMode(), c.GRPC.TLS.Hosts, err)
	}
	c, err = resolve(t, "-config", writeFile(t, vaultNode+"grpc:\n  tls:\n    mode: files\n    cert_file: /c\n    key_file: /k\n    client_ca_file: /ca\n"))
	if err != nil || c.TLSMode() != config.TLSFiles {
		t.Fatalf("vault node with files: mode %q (%v)", c.TLSMode(), err)
	}
	if c, err = resolve(t, "-config", writeFile(t, vaultNode), "-tls", "off"); err != nil || c.TLSMode() != config.TLSOff {
		t.Fatalf("vault node with -tls off: mode %q (%v)", c.TLSMode(), err)
	}
}

// TestNATSCredentialsSource: a node on the vault keystore joining external servers takes
// its NATS credentials from Vault unless told otherwise; a credentials file keeps
// meaning file; the embedded server takes none.
func TestNATSCredentialsSource(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		args       []string
		want       string
	}{
		{"dev node", "", nil, config.NATSCredsNone},
		{"dev keystore, external", "", []string{"-nats-url", "nats://hub:4222"}, config.NATSCredsNone},
		{"dev keystore, file", "", []string{"-nats-url", "nats://hub:4222", "-nats-creds", "/n.creds"}, config.NATSCredsFile},
		{"vault keystore, embedded", vaultNode, nil, config.NATSCredsNone},
		{"vault keystore, external", vaultNode, []string{"-nats-url", "nats://hub:4222"}, config.NATSCredsVault},
		{"vault keystore, file", vaultNode, []string{"-nats-url", "nats://hub:4222", "-nats-creds", "/n.creds"}, config.NATSCredsFile},
		{"vault keystore, explicitly none", vaultNode + "nats:\n  credentials: none\n", []string{"-nats-url", "nats://hub:4222"}, config.NATSCredsNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"-config", writeFile(t, tc.file)}, args...)
			}
			c, err := resolve(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.NATSCredentials(); got != tc.want {
				t.Fatalf("credentials %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFlagValidation(t *testing.T) {
	if _, err := resolve(t, "-admin", "nl"); err == nil {
		t.Fatal("lower-case administration accepted")
	}
	if _, err := resolve(t, "-config", "/does/not/exist.yaml"); err == nil {
		t.Fatal("missing file accepted")
	}
}

// FuzzLoad: arbitrary YAML never panics the loader or the validator.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("administration: NL\nnats:\n  urls: [nats://a:1]\n"))
	f.Add([]byte("nats: {feed_retention: 1h, replicas: 3}\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := config.Default()
		if err := c.Load(b, "fuzz"); err != nil {
			return
		}
		_ = c.Validate()
	})
}

// TestFederatedExternalLeafNeedsPrivateCredentials: a federated node joining a leaf
// server through nats.urls must name its user in the leaf's private account, or its
// private streams would land in the account bound to the hub.
func TestFederatedExternalLeafNeedsPrivateCredentials(t *testing.T) {
	base := config.Default()
	base.Administration, base.Node = "NL", "n1"
	base.Federation.Manifest = "/etc/cix/manifest.yaml"
	base.NATS.URLs = []string{"nats://127.0.0.1:4222"}
	for _, tc := range []struct {
		name    string
		set     func(*config.Config)
		wantErr string // empty: valid
	}{
		{"none", func(*config.Config) {}, "nats.private_credentials: required in federation mode with nats.urls"},
		{"file", func(c *config.Config) { c.NATS.PrivateCredentials = "/etc/cix/private.seed" }, ""},
		{"env", func(c *config.Config) { c.NATS.PrivateNkeySeedEnv = "CIX_PRIVATE_NKEY_SEED" }, ""},
		{"both", func(c *config.Config) {
			c.NATS.PrivateCredentials, c.NATS.PrivateNkeySeedEnv = "/etc/cix/private.seed", "CIX_PRIVATE_NKEY_SEED"
		}, "nats.private_credentials: set exactly one"},
		{"bad env", func(c *config.Config) { c.NATS.PrivateNkeySeedEnv = "1-X" }, "nats.private_nkey_seed_env"},
		{"embedded leaf", func(c *config.Config) {
			c.NATS.URLs, c.NATS.PrivateCredentials = nil, "/etc/cix/private.seed"
			c.Federation.HubURLs, c.Federation.LeafNkeySeedEnv = []string{"nats-leaf://hub:7422"}, "CIX_LEAF_NKEY_SEED"
		}, "nats.private_credentials: only in federation mode with nats.urls"},
		{"not federated", func(c *config.Config) {
			c.Federation.Manifest, c.NATS.PrivateNkeySeedEnv = "", "CIX_PRIVATE_NKEY_SEED"
		}, "nats.private_nkey_seed_env: only in federation mode with nats.urls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			c.NATS.URLs = append([]string(nil), base.NATS.URLs...)
			tc.set(&c)
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestExampleConfigParses: the example in deploy/ names only keys the node knows.
func TestExampleConfigParses(t *testing.T) {
	c := config.Default()
	if err := c.LoadFile("../../deploy/cixd/cixd.example.yaml"); err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Memory.IdleRelease) != 30*time.Second {
		t.Fatalf("memory.idle_release = %v, want 30s", time.Duration(c.Memory.IdleRelease))
	}
}
