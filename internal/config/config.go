// Package config is cixd's configuration: defaults, then a YAML file, then command-line
// flags. Unknown keys in the file are an error, and Validate checks the result once.
// Secrets never appear here: files and environment variables name where they are.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/cix-exchange/cix/internal/trust"
	"gopkg.in/yaml.v3"
)

// Config is the whole configuration of a node.
type Config struct {
	// Administration is the node's ISO 3166-1 alpha-2 code.
	Administration string `yaml:"administration"`
	// Node is the node's name: lower-case letters, digits and hyphens.
	Node string `yaml:"node"`
	// DataDir holds the development keystore and the embedded NATS server's data.
	DataDir string  `yaml:"data_dir"`
	GRPC    GRPC    `yaml:"grpc"`
	NATS    NATS    `yaml:"nats"`
	Trust   Trust   `yaml:"trust"`
	Vault   Vault   `yaml:"vault"`
	Index   Index   `yaml:"index"`
	Log     Log     `yaml:"log"`
	Metrics Metrics `yaml:"metrics"`
	Health  Health  `yaml:"health"`
	Memory  Memory  `yaml:"memory"`
	// Federation puts the node on the federation layout (docs/transport.md); without a
	// manifest the node uses the single shared stream CIX_ALERTS.
	Federation Federation `yaml:"federation"`
	// Assistance configures mutual assistance requests (federation mode only).
	Assistance Assistance `yaml:"assistance"`
}

// Assistance configures the mutual assistance service (docs/assistance.md).
type Assistance struct {
	// Policy is the deadline policy file (YAML); empty: the built-in defaults (urgent with
	// data directly accessible 8h, urgent 3 days, others 7 days, oral confirmation 24h).
	Policy string `yaml:"policy"`
	// MaxAttachmentMB bounds one attachment's size; 25 by default, at most 1024.
	MaxAttachmentMB int `yaml:"max_attachment_mb"`
}

// Metrics configures the Prometheus listener.
type Metrics struct {
	// Listen is the HTTP address serving /metrics (host:port); empty serves none.
	Listen string `yaml:"listen"`
}

// Health configures when the node reports itself NOT_SERVING on grpc.health.v1.
type Health struct {
	// NATSDownAfter is how long NATS may stay disconnected before the node stops
	// serving (reconnects are usually quicker); 10s by default.
	NATSDownAfter Duration `yaml:"nats_down_after"`
}

// Memory configures how the node gives memory back to the system.
type Memory struct {
	// IdleRelease: once the node has allocated little for this long after a burst of
	// work (ingest, catch-up, a replay), it collects garbage and returns the free heap
	// to the system (runtime/debug.FreeOSMemory), instead of keeping what the burst
	// needed; 30s by default, 0 never. It costs two collections per burst (130-250 ms
	// with a million alerts held) and, at rest, per 16 MB of garbage of heartbeats and
	// polls (every minute or two); nothing while the node works (internal/idlemem).
	IdleRelease Duration `yaml:"idle_release"`
}

// Federation configures a node of a federation of administrations: its administration
// is a member of the manifest, it publishes into its own outbound stream and reads its
// inbound stream, both in its administration's JetStream domain on a leaf server of the
// hub. With nats.urls the node connects to that leaf server; without, it runs the leaf
// server itself (embedded), generated from the manifest as `cix federation leaf-config`
// does.
type Federation struct {
	// Manifest is the federation manifest file; empty: no federation.
	Manifest string `yaml:"manifest"`
	// HubURLs are the hub's leafnode URLs the embedded leaf server connects to (required
	// with the embedded server, refused with nats.urls).
	HubURLs []string `yaml:"hub_urls"`
	// LeafNkeySeedEnv names the environment variable that holds the embedded leaf's
	// user nkey seed at start (its public key is in the manifest's leaf_nkeys). The seed
	// is read by nats-server's configuration parser and never written to a file.
	LeafNkeySeedEnv string `yaml:"leaf_nkey_seed_env"`
	// SecretariatKey is the federation secretariat's public key (PKIX PEM, or a
	// certificate): the node then follows the signed member directory and applies each
	// newer version live (docs/transport.md, "Member directory"). Empty: the manifest
	// file is used as it was at start.
	SecretariatKey string `yaml:"secretariat_key"`
}

// Federated reports whether the node is on the federation layout.
func (c Config) Federated() bool { return c.Federation.Manifest != "" }

// LeafConfigFile is where the node writes its embedded leaf server's configuration.
func (c Config) LeafConfigFile() string { return filepath.Join(c.DataDir, "leaf.conf") }

// Index configures the node's search index (an embedded SQLite database of every
// verified alert, rebuilt from the feed when it is missing).
type Index struct {
	// Enabled runs the indexer and serves SearchService; true by default.
	Enabled bool `yaml:"enabled"`
	// Dir holds the database; empty means data_dir/index.
	Dir string `yaml:"dir"`
	// CacheMB bounds the page cache of each database connection (one writer, four
	// readers); 32 by default.
	CacheMB int `yaml:"cache_mb"`
}

// IndexDir is where the search index lives.
func (c Config) IndexDir() string {
	if c.Index.Dir != "" {
		return c.Index.Dir
	}
	return filepath.Join(c.DataDir, "index")
}

// Vault configures the Vault-backed identity (trust.keystore: vault). The address and CA
// come from the standard VAULT_ADDR, VAULT_CACERT, ... environment; secrets are never in
// this file: the token comes from VAULT_TOKEN, the secret id from a file or a variable.
type Vault struct {
	// Address of the Vault server; empty uses VAULT_ADDR.
	Address string `yaml:"address"`
	// Auth is approle (production) or token (development, VAULT_TOKEN).
	Auth string `yaml:"auth"`
	// RoleID is the node's AppRole role id (not a secret).
	RoleID string `yaml:"role_id"`
	// SecretIDFile or SecretIDEnv holds the AppRole secret id.
	SecretIDFile string `yaml:"secret_id_file"`
	SecretIDEnv  string `yaml:"secret_id_env"`
	// WrappedSecretID: the file or variable holds a response-wrapping token.
	WrappedSecretID bool `yaml:"wrapped_secret_id"`
	// PKIMount and PKIRole sign the node's CSRs (defaults pki-cix and node-<node>).
	PKIMount string `yaml:"pki_mount"`
	PKIRole  string `yaml:"pki_role"`
	// TLSRole signs the CSRs of the node's gRPC server certificates, grpc.tls.mode vault
	// (default tls-server-<node>, on PKIMount).
	TLSRole string `yaml:"tls_role"`
}

// GRPC configures the client API.
type GRPC struct {
	// Listen is the host:port of the gRPC server; port 0 picks a free one.
	Listen string `yaml:"listen"`
	TLS    TLS    `yaml:"tls"`
}

// TLS modes of the gRPC server.
const (
	// TLSOff serves plaintext and admits every caller: development on loopback.
	TLSOff = "off"
	// TLSDev is mutual TLS with certificates issued by the development keystore: a
	// server certificate and, under data_dir/tls, client certificates for each role.
	TLSDev = "dev"
	// TLSFiles is mutual TLS with the server certificate and key from files (reloaded
	// when they change) and client certificates verified against client_ca_file.
	TLSFiles = "files"
	// TLSVault is mutual TLS with the server certificate from the administration's Vault
	// PKI (an in-memory key, renewed before expiry) and client certificates verified
	// against the administration's own anchor (trust.own_anchor). It needs the vault
	// keystore, and is its default.
	TLSVault = "vault"
)

// TLS configures mutual TLS of the gRPC server. Clients' roles come from their
// certificates.
type TLS struct {
	// Mode is off, dev, files or vault. Empty means off with the dev keystore and vault
	// with the vault keystore: mutual TLS is on by default outside development.
	Mode string `yaml:"mode"`
	// CertFile and KeyFile are the server certificate and key (PEM), mode files.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile holds the CA certificates client certificates must chain to (the
	// administration's anchor), mode files.
	ClientCAFile string `yaml:"client_ca_file"`
	// Hosts are the DNS names and IP addresses of the server certificate, mode vault
	// (default localhost and 127.0.0.1). The node's Vault role must allow each.
	Hosts []string `yaml:"hosts"`
}

// TLSMode resolves the empty mode to its default.
func (c Config) TLSMode() string {
	if c.GRPC.TLS.Mode != "" {
		return c.GRPC.TLS.Mode
	}
	if c.Trust.Keystore == "vault" {
		return TLSVault
	}
	return TLSOff
}

// TLSDir is where mode dev writes the certificates of its clients.
func (c Config) TLSDir() string { return filepath.Join(c.DataDir, "tls") }

// NATS configures the connection to the federation.
type NATS struct {
	// URLs of external NATS servers to join. Empty: run an embedded server (dev mode).
	URLs []string `yaml:"urls"`
	// Credentials is where the node's NATS credentials for the external servers come
	// from: vault, file or none. Empty resolves as NATSCredentials says.
	Credentials string `yaml:"credentials"`
	// CredentialsFile is a NATS .creds file for the external servers (credentials file).
	CredentialsFile string `yaml:"credentials_file"`
	// CredentialsPoll is how often the node reads its credentials from Vault to pick up
	// a rotation (credentials vault).
	CredentialsPoll Duration `yaml:"credentials_poll"`
	// PrivateCredentials and PrivateNkeySeedEnv (exactly one, required in federation mode
	// with nats.urls, refused otherwise) give the node's user in the leaf server's private
	// account (federation.PrivateAccount, not bound to the hub; `cix federation
	// leaf-config --private-nkey`): a file holding its nkey seed (SU...), or the name of
	// an environment variable holding it. The node opens a second connection there for
	// its private streams (feed, quarantine, state, watchlist, directory cache), as it
	// does in-process with the embedded leaf.
	PrivateCredentials string `yaml:"private_credentials"`
	PrivateNkeySeedEnv string `yaml:"private_nkey_seed_env"`
	// EmbeddedListen is the client listener of the embedded server (dev mode only);
	// empty keeps it in-process.
	EmbeddedListen string `yaml:"embedded_listen"`
	// Replicas of the streams the node creates.
	Replicas int `yaml:"replicas"`
	// AlertRetention is how long the alert stream keeps alerts; 0 forever.
	AlertRetention Duration `yaml:"alert_retention"`
	// FeedRetention is how long the node's feed keeps verified alerts; 0 forever.
	FeedRetention Duration `yaml:"feed_retention"`
	// QuarantineRetention is how long refused messages are kept; 0 forever.
	QuarantineRetention Duration `yaml:"quarantine_retention"`
	// DuplicateWindow is the alert stream's duplicate detection window.
	DuplicateWindow Duration `yaml:"duplicate_window"`
}

// Sources of the node's NATS credentials (nats.credentials).
const (
	// NATSCredsVault reads the .creds content from the node's Vault KV secret and
	// follows its rotations; the credentials stay in memory.
	NATSCredsVault = "vault"
	// NATSCredsFile reads nats.credentials_file.
	NATSCredsFile = "file"
	// NATSCredsNone connects without credentials (the embedded server, or an external
	// server without authentication).
	NATSCredsNone = "none"
)

// NATSCredentials resolves nats.credentials: the value set, else none with the embedded
// server, else file when credentials_file is set, else vault with the vault keystore,
// else none.
func (c Config) NATSCredentials() string {
	switch {
	case c.NATS.Credentials != "":
		return c.NATS.Credentials
	case c.Embedded():
		return NATSCredsNone
	case c.NATS.CredentialsFile != "":
		return NATSCredsFile
	case c.Trust.Keystore == "vault":
		return NATSCredsVault
	default:
		return NATSCredsNone
	}
}

// Trust configures identity and verification.
type Trust struct {
	// Keystore is the identity backend: "dev" (keys under data_dir/keys) or "vault"
	// (in-memory keys certified by the administration's Vault PKI).
	Keystore string `yaml:"keystore"`
	// OwnAnchor is the PEM file of the node's own administration anchor; required with
	// the vault keystore (the dev keystore makes its own).
	OwnAnchor string `yaml:"own_anchor"`
	// Anchors are PEM files of other administrations' trust anchors. The node always
	// trusts its own administration's anchor.
	Anchors []string `yaml:"anchors"`
}

// Log configures logging.
type Log struct {
	// Level: debug, info, warn or error.
	Level string `yaml:"level"`
	// Format: text or json.
	Format string `yaml:"format"`
}

// Duration is a time.Duration written as "720h" or "30m" in YAML.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler: the form UnmarshalYAML reads.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Default returns the zero-configuration dev node's configuration.
func Default() Config {
	return Config{
		Administration: "NL",
		Node:           "dev",
		DataDir:        "cix-data",
		GRPC:           GRPC{Listen: "127.0.0.1:7400"},
		Trust:          Trust{Keystore: "dev"},
		Index:          Index{Enabled: true, CacheMB: 32},
		Log:            Log{Level: "info", Format: "text"},
		Health:         Health{NATSDownAfter: Duration(10 * time.Second)},
		Memory:         Memory{IdleRelease: Duration(30 * time.Second)},
		Assistance:     Assistance{MaxAttachmentMB: 25},
		NATS: NATS{
			EmbeddedListen: "127.0.0.1:4222", Replicas: 1, DuplicateWindow: Duration(5 * time.Second),
			CredentialsPoll: Duration(time.Minute),
		},
		Federation: Federation{LeafNkeySeedEnv: "CIX_LEAF_NKEY_SEED"},
	}
}

// LoadFile merges a YAML file into c. Unknown keys are an error.
func (c *Config) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return c.Load(b, path)
}

// Load merges YAML into c. Unknown keys are an error.
func (c *Config) Load(b []byte, name string) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %w", name, err)
	}
	return nil
}

// Marshal returns c as a configuration file: Load reads it back into the same Config.
func (c Config) Marshal() ([]byte, error) {
	return yaml.Marshal(c)
}

// Flags are cixd's command-line flags.
type Flags struct {
	fs     *flag.FlagSet
	config string
	c      Config
	urls   stringList
	anchs  stringList
}

type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// NewFlags declares the flags on fs.
func NewFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs}
	fs.StringVar(&f.config, "config", "", "YAML configuration `file` (defaults, then this file, then flags)")
	fs.StringVar(&f.c.Administration, "admin", "", "administration `code` (ISO 3166-1 alpha-2)")
	fs.StringVar(&f.c.Node, "node", "", "node `name`")
	fs.StringVar(&f.c.DataDir, "data-dir", "", "data `directory`")
	fs.StringVar(&f.c.GRPC.Listen, "grpc-listen", "", "gRPC listen `address` (host:port, port 0 for any)")
	fs.StringVar(&f.c.GRPC.TLS.Mode, "tls", "", "gRPC TLS `mode`: off, dev (certificates from the dev keystore), files or vault (certificates from Vault PKI)")
	fs.Var(&f.urls, "nats-url", "external NATS server `URL` (repeatable); none runs an embedded server")
	fs.StringVar(&f.c.NATS.EmbeddedListen, "nats-listen", "", "embedded NATS client listen `address`")
	fs.StringVar(&f.c.NATS.CredentialsFile, "nats-creds", "", "NATS credentials `file`")
	fs.Var(&f.anchs, "trust-anchor", "PEM `file` of another administration's trust anchor (repeatable)")
	fs.StringVar(&f.c.Log.Level, "log-level", "", "log `level`: debug, info, warn, error")
	fs.StringVar(&f.c.Log.Format, "log-format", "", "log `format`: text or json")
	fs.StringVar(&f.c.Metrics.Listen, "metrics-listen", "", "Prometheus /metrics listen `address` (host:port); empty serves none")
	return f
}

// Resolve builds the configuration from defaults, the file named by -config and the flags
// that were set, and validates it. Call it after fs.Parse.
func (f *Flags) Resolve() (Config, error) {
	c := Default()
	if f.config != "" {
		if err := c.LoadFile(f.config); err != nil {
			return Config{}, err
		}
	}
	f.fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "admin":
			c.Administration = f.c.Administration
		case "node":
			c.Node = f.c.Node
		case "data-dir":
			c.DataDir = f.c.DataDir
		case "grpc-listen":
			c.GRPC.Listen = f.c.GRPC.Listen
		case "tls":
			c.GRPC.TLS.Mode = f.c.GRPC.TLS.Mode
		case "nats-url":
			c.NATS.URLs = f.urls
		case "nats-listen":
			c.NATS.EmbeddedListen = f.c.NATS.EmbeddedListen
		case "nats-creds":
			c.NATS.CredentialsFile = f.c.NATS.CredentialsFile
		case "trust-anchor":
			c.Trust.Anchors = append(c.Trust.Anchors, f.anchs...)
		case "log-level":
			c.Log.Level = f.c.Log.Level
		case "log-format":
			c.Log.Format = f.c.Log.Format
		case "metrics-listen":
			c.Metrics.Listen = f.c.Metrics.Listen
		}
	})
	return c, c.Validate()
}

var adminRE = regexp.MustCompile(`^[A-Z]{2}$`)

// tlsFiles are the file settings of mode files, by key.
func (c Config) tlsFiles() []struct{ key, v string } {
	return []struct{ key, v string }{
		{"grpc.tls.cert_file", c.GRPC.TLS.CertFile}, {"grpc.tls.key_file", c.GRPC.TLS.KeyFile},
		{"grpc.tls.client_ca_file", c.GRPC.TLS.ClientCAFile},
	}
}

// Embedded reports whether the node runs its own NATS server.
func (c Config) Embedded() bool { return len(c.NATS.URLs) == 0 }

// KeystoreDir is where the development keystore lives.
func (c Config) KeystoreDir() string { return filepath.Join(c.DataDir, "keys") }

// NATSStoreDir is where the embedded NATS server keeps JetStream data.
func (c Config) NATSStoreDir() string { return filepath.Join(c.DataDir, "nats") }

// Validate checks the configuration and reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if !adminRE.MatchString(c.Administration) {
		bad("administration", "%q is not an ISO 3166-1 alpha-2 code", c.Administration)
	}
	if !trust.ValidNodeName(c.Node) {
		bad("node", "%q: use lower-case letters, digits and hyphens (at most 63)", c.Node)
	}
	if c.DataDir == "" {
		bad("data_dir", "required")
	}
	if _, _, err := net.SplitHostPort(c.GRPC.Listen); err != nil {
		bad("grpc.listen", "%q is not host:port", c.GRPC.Listen)
	}
	switch c.TLSMode() {
	case TLSOff:
	case TLSDev:
		if c.Trust.Keystore != "dev" {
			bad("grpc.tls.mode", "dev needs the dev keystore")
		}
	case TLSFiles:
		for _, f := range c.tlsFiles() {
			if f.v == "" {
				bad(f.key, "required for mutual TLS (mode files)")
			}
		}
	case TLSVault:
		if c.Trust.Keystore != "vault" {
			bad("grpc.tls.mode", "vault needs the vault keystore")
		}
		// Files would be ignored: say so rather than serve another certificate.
		for _, f := range c.tlsFiles() {
			if f.v != "" {
				bad(f.key, "only used with grpc.tls.mode files; the mode is vault")
			}
		}
		for i, h := range c.GRPC.TLS.Hosts {
			if !trust.ValidHost(h) {
				bad(fmt.Sprintf("grpc.tls.hosts[%d]", i), "%q is neither a host name nor an IP address", h)
			}
		}
	default:
		bad("grpc.tls.mode", "%q: want off, dev, files or vault", c.GRPC.TLS.Mode)
	}
	for i, u := range c.NATS.URLs {
		if !strings.Contains(u, "://") {
			bad(fmt.Sprintf("nats.urls[%d]", i), "%q is not a URL (nats://host:port)", u)
		}
	}
	if c.NATS.EmbeddedListen != "" {
		if _, _, err := net.SplitHostPort(c.NATS.EmbeddedListen); err != nil {
			bad("nats.embedded_listen", "%q is not host:port", c.NATS.EmbeddedListen)
		}
	}
	if c.NATS.Replicas < 1 || c.NATS.Replicas > 5 {
		bad("nats.replicas", "%d: want 1 to 5", c.NATS.Replicas)
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{
		{"nats.alert_retention", c.NATS.AlertRetention}, {"nats.feed_retention", c.NATS.FeedRetention},
		{"nats.quarantine_retention", c.NATS.QuarantineRetention}, {"nats.duplicate_window", c.NATS.DuplicateWindow},
	} {
		if d.v < 0 {
			bad(d.key, "negative duration")
		}
	}
	c.validateNATSCredentials(bad)
	c.validateFederation(bad)
	if c.Assistance.MaxAttachmentMB < 1 || c.Assistance.MaxAttachmentMB > 1024 {
		bad("assistance.max_attachment_mb", "%d: between 1 and 1024", c.Assistance.MaxAttachmentMB)
	}
	if c.Assistance.Policy != "" {
		if st, err := os.Stat(c.Assistance.Policy); err != nil {
			bad("assistance.policy", "%v", err)
		} else if st.IsDir() {
			bad("assistance.policy", "%s is a directory", c.Assistance.Policy)
		}
	}
	switch c.Trust.Keystore {
	case "dev":
	case "vault":
		if c.Trust.OwnAnchor == "" {
			bad("trust.own_anchor", "required with the vault keystore")
		}
		switch c.Vault.Auth {
		case "token":
		case "approle":
			if c.Vault.RoleID == "" {
				bad("vault.role_id", "required with approle")
			}
			if (c.Vault.SecretIDFile == "") == (c.Vault.SecretIDEnv == "") {
				bad("vault.secret_id_file", "set exactly one of secret_id_file and secret_id_env")
			}
		default:
			bad("vault.auth", "%q: want approle or token", c.Vault.Auth)
		}
	default:
		bad("trust.keystore", "%q: want dev or vault", c.Trust.Keystore)
	}
	if c.Index.CacheMB < 1 || c.Index.CacheMB > 65536 {
		bad("index.cache_mb", "%d: want 1 to 65536", c.Index.CacheMB)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q: want text or json", c.Log.Format)
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			bad("metrics.listen", "%q: want host:port", c.Metrics.Listen)
		}
	}
	if c.Health.NATSDownAfter <= 0 {
		bad("health.nats_down_after", "want a positive duration")
	}
	if c.Memory.IdleRelease < 0 {
		bad("memory.idle_release", "want a duration, or 0 for never")
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	return nil
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c Config) validateFederation(bad func(key, format string, args ...any)) {
	f := c.Federation
	if !c.Federated() || c.Embedded() {
		if c.NATS.PrivateCredentials != "" {
			bad("nats.private_credentials", "only in federation mode with nats.urls")
		}
		if c.NATS.PrivateNkeySeedEnv != "" {
			bad("nats.private_nkey_seed_env", "only in federation mode with nats.urls")
		}
	}
	if !c.Federated() {
		if len(f.HubURLs) > 0 {
			bad("federation.hub_urls", "set, but federation.manifest is not")
		}
		if f.SecretariatKey != "" {
			bad("federation.secretariat_key", "set, but federation.manifest is not")
		}
		return
	}
	for i, u := range f.HubURLs {
		if !strings.Contains(u, "://") {
			bad(fmt.Sprintf("federation.hub_urls[%d]", i), "%q is not a URL (nats-leaf://host:port)", u)
		}
	}
	if !c.Embedded() {
		switch n := c.NATS; {
		case n.PrivateCredentials == "" && n.PrivateNkeySeedEnv == "":
			bad("nats.private_credentials", "required in federation mode with nats.urls (or nats.private_nkey_seed_env): "+
				"the node's private streams go to the leaf server's private account, not to the one bound to the hub (cix federation leaf-config --private-nkey)")
		case n.PrivateCredentials != "" && n.PrivateNkeySeedEnv != "":
			bad("nats.private_credentials", "set exactly one of private_credentials and private_nkey_seed_env")
		case n.PrivateNkeySeedEnv != "" && !envNameRE.MatchString(n.PrivateNkeySeedEnv):
			bad("nats.private_nkey_seed_env", "%q is not an environment variable name", n.PrivateNkeySeedEnv)
		}
		if len(f.HubURLs) > 0 {
			bad("federation.hub_urls", "only for the embedded leaf server; with nats.urls the node joins a leaf server that connects to the hub itself")
		}
		return
	}
	if len(f.HubURLs) == 0 {
		bad("federation.hub_urls", "required: the embedded leaf server connects to the hub")
	}
	if !envNameRE.MatchString(f.LeafNkeySeedEnv) {
		bad("federation.leaf_nkey_seed_env", "%q is not an environment variable name", f.LeafNkeySeedEnv)
	}
}

func (c Config) validateNATSCredentials(bad func(key, format string, args ...any)) {
	mode := c.NATSCredentials()
	if mode != NATSCredsNone && c.Embedded() {
		bad("nats.credentials", "%s needs nats.urls: the embedded server takes no credentials", mode)
	}
	switch mode {
	case NATSCredsNone:
		if c.NATS.Credentials == NATSCredsNone && c.NATS.CredentialsFile != "" {
			bad("nats.credentials_file", "set, but nats.credentials is none")
		}
	case NATSCredsFile:
		if c.NATS.CredentialsFile == "" {
			bad("nats.credentials_file", "required with nats.credentials file")
		}
	case NATSCredsVault:
		if c.Trust.Keystore != "vault" {
			bad("nats.credentials", "vault needs trust.keystore vault")
		}
		if c.NATS.CredentialsFile != "" {
			bad("nats.credentials_file", "set, but nats.credentials is vault")
		}
		if c.NATS.CredentialsPoll <= 0 {
			bad("nats.credentials_poll", "must be positive")
		}
	default:
		bad("nats.credentials", "%q: want vault, file or none", c.NATS.Credentials)
	}
}
