// Package localfed assembles a federation on loopback in one process, on the layout of
// docs/transport.md ("Federation topology"): a manifest whose members have generated
// leaf nkeys and age identities, the hub started from the configuration
// federation.HubConfig generates, and node configurations in federation mode, each node
// running its embedded leaf server connected to the hub with its own nkey. `cix demo`
// and cixbench use it; it is not for production (the seeds and age identities are
// generated and kept in memory, the hub listens on loopback without TLS).
package localfed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/freeport"
	"github.com/cix-exchange/cix/internal/natsembed"
	"github.com/cix-exchange/cix/internal/sealed"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// Options describe the federation.
type Options struct {
	// Dir receives manifest.yaml and hub.conf.
	Dir string
	// Name is the federation's name in the manifest.
	Name string
	// HubName is the hub server's name.
	HubName string
	// Members are the administrations' codes, in order.
	Members []string
	// Node is the node name of every member not in Nodes.
	Node string
	// Nodes names a member's node by its code, overriding Node.
	Nodes map[string]string
	// Groups of the manifest, name to member codes.
	Groups []Group
	// SeedEnvPrefix names the environment variables holding the leaf seeds while a
	// node starts: SeedEnvPrefix + code.
	SeedEnvPrefix string
}

// Group is a group of the manifest.
type Group struct {
	Name    string
	Members []string
}

// Member is one administration's generated secrets.
type Member struct {
	Code string
	// Seed is the leaf user's nkey seed; its public key is in the manifest.
	Seed []byte
	// Age is the administration's age identity; its recipient is in the manifest.
	Age *age.X25519Identity
}

// Federation is a manifest with its members' secrets and, once started, its hub.
type Federation struct {
	opt          Options
	ManifestFile string
	Manifest     *federation.Manifest
	// Hub is nil until StartHub.
	Hub *server.Server
	// LeafURL is the hub's leafnode URL (nats-leaf://127.0.0.1:PORT).
	LeafURL string
	members map[string]*Member
}

// New generates each member's leaf nkey and age identity and writes the manifest to
// Dir/manifest.yaml. It starts nothing.
func New(o Options) (*Federation, error) {
	if len(o.Members) == 0 {
		return nil, errors.New("localfed: no members")
	}
	f := &Federation{opt: o, members: make(map[string]*Member, len(o.Members))}
	var man strings.Builder
	fmt.Fprintf(&man, "federation: %s\nmembers:\n", o.Name)
	for _, code := range o.Members {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return nil, err
		}
		seed, err := kp.Seed()
		if err != nil {
			return nil, err
		}
		pub, err := kp.PublicKey()
		if err != nil {
			return nil, err
		}
		id, err := sealed.Generate()
		if err != nil {
			return nil, err
		}
		f.members[code] = &Member{Code: code, Seed: seed, Age: id}
		fmt.Fprintf(&man, "  - code: %s\n    name: Customs %s\n    nodes: [%s]\n    leaf_nkeys: [%s]\n    age_recipient: %s\n",
			code, code, f.node(code), pub, id.Recipient())
	}
	if len(o.Groups) > 0 {
		fmt.Fprintf(&man, "groups:\n")
		for _, g := range o.Groups {
			fmt.Fprintf(&man, "  - name: %s\n    members: [%s]\n", g.Name, strings.Join(g.Members, ", "))
		}
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	f.ManifestFile = filepath.Join(o.Dir, "manifest.yaml")
	if err := os.WriteFile(f.ManifestFile, []byte(man.String()), 0o600); err != nil {
		return nil, err
	}
	var err error
	if f.Manifest, err = federation.Load(f.ManifestFile); err != nil {
		return nil, err
	}
	return f, nil
}

// node is the node name of member code.
func (f *Federation) node(code string) string {
	if n := f.opt.Nodes[code]; n != "" {
		return n
	}
	return f.opt.Node
}

// Member returns the secrets of member code, or nil.
func (f *Federation) Member(code string) *Member { return f.members[code] }

// StartHub writes Dir/hub.conf with federation.HubConfig, listeners on free loopback
// ports, and starts the hub from it.
func (f *Federation) StartHub() error {
	clientPort, err := freeport.Port()
	if err != nil {
		return err
	}
	leafPort, err := freeport.Port()
	if err != nil {
		return err
	}
	conf, err := federation.HubConfig(f.Manifest, federation.HubOptions{
		ServerName: f.opt.HubName, ClientListen: fmt.Sprintf("127.0.0.1:%d", clientPort),
		LeafnodeListen: fmt.Sprintf("127.0.0.1:%d", leafPort),
	})
	if err != nil {
		return err
	}
	file := filepath.Join(f.opt.Dir, "hub.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		return err
	}
	if f.Hub, err = natsembed.StartFile(file, nil); err != nil {
		return fmt.Errorf("start the hub: %w", err)
	}
	f.LeafURL = fmt.Sprintf("nats-leaf://127.0.0.1:%d", leafPort)
	return nil
}

// StopHub stops the hub, if it runs.
func (f *Federation) StopHub() {
	if f.Hub != nil {
		natsembed.Stop(f.Hub)
		f.Hub = nil
	}
}

// SeedEnv is the environment variable holding code's leaf seed while its node starts.
func (f *Federation) SeedEnv(code string) string { return f.opt.SeedEnvPrefix + code }

// SetSeedEnv puts code's leaf seed into this process's environment, where the node's
// embedded leaf server reads it at start; the returned function removes it again.
func (f *Federation) SetSeedEnv(code string) (unset func(), err error) {
	m := f.members[code]
	if m == nil {
		return nil, fmt.Errorf("localfed: %q is not a member", code)
	}
	name := f.SeedEnv(code)
	if err := os.Setenv(name, string(m.Seed)); err != nil {
		return nil, err
	}
	return func() { _ = os.Unsetenv(name) }, nil
}

// SeedEnviron is code's leaf seed as an environment entry (NAME=SEED) for a node
// started as its own process, which reads it at start.
func (f *Federation) SeedEnviron(code string) (string, error) {
	m := f.members[code]
	if m == nil {
		return "", fmt.Errorf("localfed: %q is not a member", code)
	}
	return f.SeedEnv(code) + "=" + string(m.Seed), nil
}

// NodeConfig is the configuration of code's node in federation mode under dataDir:
// loopback listeners on free ports, the manifest, the hub's leafnode URL and the seed's
// environment variable. StartHub must have run. The trust anchors are the caller's.
func (f *Federation) NodeConfig(code, dataDir string) config.Config {
	cfg := config.Default()
	cfg.Administration, cfg.Node, cfg.DataDir = code, f.node(code), dataDir
	cfg.GRPC.Listen = "127.0.0.1:0"
	cfg.NATS.EmbeddedListen = "127.0.0.1:0"
	cfg.Federation = config.Federation{
		Manifest: f.ManifestFile, HubURLs: []string{f.LeafURL}, LeafNkeySeedEnv: f.SeedEnv(code),
	}
	return cfg
}

// WriteDevIdentity creates code's development keystore in keysDir (a node's
// config.KeystoreDir) with its age identity next to it, and returns the path of the
// administration's trust anchor, for the other members' trust.anchors.
func (f *Federation) WriteDevIdentity(code, keysDir string) (anchor string, err error) {
	m := f.members[code]
	if m == nil {
		return "", fmt.Errorf("localfed: %q is not a member", code)
	}
	ks, err := trust.OpenDevKeystore(keysDir, code, f.node(code), nil)
	if err != nil {
		return "", err
	}
	if err := sealed.WriteFile(sealed.IdentityFile(keysDir), m.Age); err != nil {
		return "", err
	}
	return ks.AnchorPath(), nil
}
