package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/daemon"
	"github.com/cix-exchange/cix/internal/envelope"
	fedconf "github.com/cix-exchange/cix/internal/federation"
	envelopev1 "github.com/cix-exchange/cix/internal/gen/cix/envelope/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/natsembed"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/cix-exchange/cix/internal/vault"
	"github.com/cix-exchange/cix/internal/vault/vaulttest"
	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// demoNode is the node name of every administration in a loopback federation.
const demoNode = "demo"

// federation is a cix federation inside this process, on loopback only: one embedded
// NATS server standing for the federation's servers, and one node per administration
// started as cixd starts it, each trusting the others' anchors. The demo and the tests
// use it.
type federation struct {
	dir   string
	ns    *server.Server
	nodes []*fedNode
	// hub, on the federation layout (startHubFederation), is the hub every node's leaf
	// server connects to; ns is then nil. manifest is the federation's manifest and
	// group the demo's group (its first two administrations).
	hub      *server.Server
	manifest *fedconf.Manifest
	group    string
}

// fedNode is a running node with a gRPC client connection to it.
type fedNode struct {
	admin   string
	dataDir string
	d       *daemon.Daemon
	conn    *grpc.ClientConn
	node    nodev1.NodeServiceClient
	adm     nodev1.AdminServiceClient
	anchor  string // PEM file of the administration's trust anchor
	// vault is the administration's Vault when the node's identity comes from it (trust
	// keystore vault), else nil.
	vault *fedVault
}

// fedVault is an administration's Vault as prepared for its node.
type fedVault struct {
	addr string
	boot *vault.BootstrapResult
}

// wrapTTL is how long a node's wrapped secret id can be unwrapped: the node does so at
// start, right after the id is created.
const wrapTTL = 5 * time.Minute

// startFederation starts the server and the nodes of admins with their data under dir.
// An administration with a server in vaults has its Vault bootstrapped there (PKI root
// and node CA, the node's AppRole) and its node on keystore vault: it logs in with
// AppRole and a wrapped secret id, and its key, generated in memory, is certified by that
// Vault's PKI; the others get a development keystore. Every anchor is known before any
// node starts. On error, whatever started is stopped (the Vault servers are the
// caller's).
func startFederation(ctx context.Context, dir string, admins []string, vaults map[string]*vaulttest.Server, log *slog.Logger) (f *federation, err error) {
	f = &federation{dir: dir}
	defer func() {
		if err != nil {
			_ = f.stop()
		}
	}()
	f.ns, err = natsembed.Start(natsembed.Options{
		Name: "cix-federation", StoreDir: filepath.Join(dir, "nats"), Listen: "127.0.0.1:0",
	})
	if err != nil {
		return nil, err
	}
	anchors := make(map[string]string, len(admins))
	vcfgs := make(map[string]config.Vault, len(admins))
	fvs := make(map[string]*fedVault, len(admins))
	for _, a := range admins {
		if v := vaults[a]; v != nil {
			fv, vcfg, anchor, err := prepareVault(ctx, dir, a, v)
			if err != nil {
				return nil, err
			}
			anchors[a], vcfgs[a], fvs[a] = anchor, vcfg, fv
			continue
		}
		ks, err := trust.OpenDevKeystore(filepath.Join(dir, a, "keys"), a, demoNode, nil)
		if err != nil {
			return nil, err
		}
		anchors[a] = ks.AnchorPath()
	}
	for _, a := range admins {
		cfg := config.Default()
		cfg.Administration, cfg.Node, cfg.DataDir = a, demoNode, filepath.Join(dir, a)
		cfg.GRPC.Listen = "127.0.0.1:0"
		cfg.NATS.URLs = []string{f.ns.ClientURL()}
		cfg.Log.Level = "warn"
		if err := f.startNode(ctx, cfg, admins, anchors, vcfgs[a], fvs[a], log); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// startNode starts administration cfg.Administration's demo node: on its own Vault when
// fv is set (with plaintext gRPC on loopback and no NATS credentials), trusting the other
// administrations' anchors; then it connects a client to it.
func (f *federation) startNode(ctx context.Context, cfg config.Config, admins []string, anchors map[string]string,
	vcfg config.Vault, fv *fedVault, log *slog.Logger) error {
	a := cfg.Administration
	if fv != nil {
		cfg.Trust.Keystore, cfg.Trust.OwnAnchor = "vault", anchors[a]
		// Plaintext gRPC on loopback for the demo; with the vault keystore the mode
		// would default to vault (mutual TLS, certificates from the node's Vault).
		cfg.GRPC.TLS.Mode = config.TLSOff
		// The demo's servers run without authentication: no NATS credentials (with
		// the vault keystore they would otherwise come from the node's Vault KV).
		cfg.NATS.Credentials = config.NATSCredsNone
		cfg.Vault = vcfg
	}
	for _, o := range admins {
		if o != a {
			cfg.Trust.Anchors = append(cfg.Trust.Anchors, anchors[o])
		}
	}
	d, err := daemon.Start(ctx, cfg, log.With("node", a+"/"+demoNode))
	if err != nil {
		return fmt.Errorf("start node %s: %w", a, err)
	}
	n := &fedNode{admin: a, dataDir: cfg.DataDir, d: d, anchor: anchors[a], vault: fv}
	f.nodes = append(f.nodes, n)
	if n.conn, err = dial(d.Addr(), tlsFiles{}); err != nil {
		return err
	}
	n.node, n.adm = nodev1.NewNodeServiceClient(n.conn), nodev1.NewAdminServiceClient(n.conn)
	return nil
}

// prepareVault bootstraps the Vault of admin for its node, as the administration's
// operators would (deploy/vault/bootstrap.sh): it writes the PKI root, the
// administration's trust anchor, to dir/<admin>-anchor.pem, and a wrapped secret id of
// the node's AppRole to dir/<admin>-secret-id, and returns the node's vault settings.
func prepareVault(ctx context.Context, dir, admin string, v *vaulttest.Server) (*fedVault, config.Vault, string, error) {
	boot, err := vault.Bootstrap(ctx, v.Client, admin, []string{demoNode})
	if err != nil {
		return nil, config.Vault{}, "", err
	}
	anchor := filepath.Join(dir, admin+"-anchor.pem")
	if err := os.WriteFile(anchor, boot.AnchorPEM, 0o644); err != nil {
		return nil, config.Vault{}, "", err
	}
	wrapped, err := boot.NodeSecretID(ctx, demoNode, wrapTTL)
	if err != nil {
		return nil, config.Vault{}, "", err
	}
	secret := filepath.Join(dir, admin+"-secret-id")
	if err := os.WriteFile(secret, []byte(wrapped+"\n"), 0o600); err != nil {
		return nil, config.Vault{}, "", err
	}
	// The address is per node: three administrations' Vaults in one process cannot
	// share VAULT_ADDR.
	vcfg := config.Vault{Address: v.Addr, Auth: vault.AuthAppRole, RoleID: boot.NodeRoleIDs[demoNode],
		SecretIDFile: secret, WrappedSecretID: true}
	return &fedVault{addr: v.Addr, boot: boot}, vcfg, anchor, nil
}

// launchVaults starts one Vault dev server per administration with the vault binary
// bin, concurrently. On error, those that started are closed.
func launchVaults(ctx context.Context, bin string, admins []string) (map[string]*vaulttest.Server, error) {
	type launched struct {
		admin string
		s     *vaulttest.Server
		err   error
	}
	ch := make(chan launched, len(admins))
	for _, a := range admins {
		go func() {
			s, err := vaulttest.Launch(ctx, bin)
			ch <- launched{a, s, err}
		}()
	}
	out := make(map[string]*vaulttest.Server, len(admins))
	var errs []error
	for range admins {
		l := <-ch
		if l.err != nil {
			errs = append(errs, fmt.Errorf("start the Vault of %s: %w", l.admin, l.err))
			continue
		}
		out[l.admin] = l.s
	}
	if len(errs) > 0 {
		_ = closeVaults(out)
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// closeVaults stops the Vault servers and waits for them to exit.
func closeVaults(vaults map[string]*vaulttest.Server) error {
	var errs []error
	for a, s := range vaults {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stop the Vault of %s: %w", a, err))
		}
	}
	return errors.Join(errs...)
}

// keyFiles returns the files named *.key under the directories.
func keyFiles(dirs ...string) ([]string, error) {
	var out []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return nil
			}
			if err != nil {
				return err
			}
			if !de.IsDir() && strings.HasSuffix(de.Name(), ".key") {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// stop closes the clients, stops the nodes in reverse order, then the server.
func (f *federation) stop() error {
	var errs []error
	for i := len(f.nodes) - 1; i >= 0; i-- {
		n := f.nodes[i]
		if n.conn != nil {
			_ = n.conn.Close()
		}
		if err := n.d.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", n.admin, err))
		}
	}
	f.nodes = nil
	if f.ns != nil {
		natsembed.Stop(f.ns)
		f.ns = nil
	}
	if f.hub != nil {
		natsembed.Stop(f.hub)
		f.hub = nil
	}
	return errors.Join(errs...)
}

// publishTampered flips one bit in the payload of a copy of env and publishes the
// result straight into the federation's alert stream, as a new alert of origin and kind,
// bypassing every node. It returns the subject. Receiving nodes must quarantine it.
func publishTampered(ctx context.Context, natsURL string, env *envelopev1.Envelope, origin, kind string) (string, error) {
	t := proto.Clone(env).(*envelopev1.Envelope)
	if len(t.Payload) == 0 {
		return "", errors.New("tamper: empty payload")
	}
	t.Payload[len(t.Payload)/2] ^= 0x01
	raw, err := envelope.Marshal(t)
	if err != nil {
		return "", err
	}
	nc, err := nats.Connect(natsURL, nats.Name("cix demo tamperer"))
	if err != nil {
		return "", fmt.Errorf("tamper: connect to %s: %w", natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return "", fmt.Errorf("tamper: %w", err)
	}
	subject := bus.AlertSubject(origin, kind, uuid.NewString())
	if _, err := js.Publish(ctx, subject, raw, jetstream.WithExpectStream(bus.AlertsStream)); err != nil {
		return "", fmt.Errorf("tamper: publish on %s: %w", subject, err)
	}
	return subject, nil
}

// findQuarantined returns the quarantined message received on subject, or with subject
// as its message id, or nil.
func findQuarantined(ctx context.Context, client nodev1.AdminServiceClient, subject string) (*nodev1.QuarantinedMessage, error) {
	res, err := listQuarantine(ctx, client, 1000)
	if err != nil {
		return nil, err
	}
	for _, m := range res.GetMessages() {
		if m.GetSubject() == subject || m.GetMessageId() == subject {
			return m, nil
		}
	}
	return nil, nil
}

// poll calls cond every 50ms until it reports true, fails, or timeout passes; what
// says what was still missing.
func poll(ctx context.Context, timeout time.Duration, what func() string, cond func(ctx context.Context) (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		cctx, cancel := context.WithDeadline(ctx, deadline)
		ok, err := cond(cctx)
		cancel()
		switch {
		case ok:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case time.Now().After(deadline):
			if err != nil {
				return fmt.Errorf("timed out after %v waiting for %s: %w", timeout, what(), err)
			}
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
