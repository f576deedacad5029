// Package daemon assembles and runs a cix node (cixd) from a configuration: NATS
// (embedded or external), identity, verifier, bus, feed, node and gRPC server, each
// started in order and stopped in reverse. The demo and the tests start nodes through it
// exactly as cixd does.
package daemon

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cix-exchange/cix/internal/api"
	"github.com/cix-exchange/cix/internal/assist"
	"github.com/cix-exchange/cix/internal/attach"
	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/feed"
	"github.com/cix-exchange/cix/internal/idlemem"
	"github.com/cix-exchange/cix/internal/index"
	"github.com/cix-exchange/cix/internal/metrics"
	"github.com/cix-exchange/cix/internal/natsembed"
	"github.com/cix-exchange/cix/internal/node"
	"github.com/cix-exchange/cix/internal/revocation"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/cix-exchange/cix/internal/vault"
	"github.com/cix-exchange/cix/internal/watch"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// Daemon is a running node.
type Daemon struct {
	cfg config.Config
	log *slog.Logger
	ns  *server.Server // embedded server, nil when joining external ones
	// manifest is the federation manifest, nil on the single shared stream.
	manifest *federation.Manifest
	// directory follows the signed member directory; nil without a secretariat key.
	directory *directoryFollower
	nc        *nats.Conn
	closed    chan struct{} // closed by NATS once nc is closed (after Drain)
	// pc is the connection to the leaf's private account (federation.PrivateAccount, not
	// bound to the hub) holding the node's private streams: in-process to the embedded
	// leaf, or to the external one (nats.urls) with nats.private_credentials; nil outside
	// federation mode, where nc holds everything. pclosed is closed once pc is.
	pc      *nats.Conn
	pclosed chan struct{}
	ks      *trust.DevKeystore // dev keystore, nil with Vault
	id      trust.Identity
	anchor  string // PEM file of the administration's anchor
	vault   *vaultIdentity
	node    *node.Node
	watch   *watch.Service
	// bus is the node's alert bus (its inbound stream's sources are watched, sources.go).
	bus    *bus.Bus
	assist *assist.Service // mutual assistance, federation mode only
	// attach is the node's attachment store (federation mode with an age identity),
	// nil when Options.Attachments gave another.
	attach *attach.Store
	// readStream is the stream the node receives from: CIX_ALERTS, or CIX_IN_<ADMIN> in
	// federation mode.
	readStream string
	index      *index.Index // nil when index.enabled is false
	srv        *api.Server
	lis        net.Listener
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	errMu      sync.Mutex
	err        error
	done       chan struct{}

	// creds are the NATS credentials from Vault and credsWatch follows their rotations;
	// both nil unless nats.credentials is vault.
	creds      *natsCreds
	credsWatch *vault.CredsWatcher

	// metrics is the node's registry, served by metricsSrv (nil unless metrics.listen
	// is set); obs follows the dependencies for metrics and health (observe.go).
	metrics    *metrics.Metrics
	metricsSrv *metrics.Server
	obs        *observer
}

// Options are what a configuration file cannot say: hooks for tests and embedders.
type Options struct {
	// Now is the clock of the mutual assistance flags (OVERDUE, CONFIRMATION_OVERDUE);
	// time.Now by default. Tests move it to pass deadlines.
	Now func() time.Time
	// Attachments replaces the node's attachment store of mutual assistance messages
	// (tests); nil: the node's own (internal/attach, in federation mode with an age
	// identity; without an identity attachment calls answer FailedPrecondition).
	Attachments attach.Attachments
}

// Start starts a node. It returns once the node serves gRPC and receives alerts; Stop
// or cancelling ctx stops it.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger) (*Daemon, error) {
	return StartWith(ctx, cfg, log, Options{})
}

// StartWith is Start with options.
func StartWith(ctx context.Context, cfg config.Config, log *slog.Logger, o Options) (d *Daemon, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	log = log.With("administration", cfg.Administration, "node", cfg.Node)
	d = &Daemon{cfg: cfg, log: log, cancel: cancel, done: make(chan struct{}), closed: make(chan struct{}), pclosed: make(chan struct{}), metrics: metrics.New()}
	defer func(started *Daemon) { // not d: returning nil, err sets d to nil
		if err != nil {
			cancel()
			started.close()
		}
	}(d)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	var own *x509.Certificate
	switch cfg.Trust.Keystore {
	case "vault":
		if d.vault, err = startVaultIdentity(ctx, cfg, log); err != nil {
			return nil, err
		}
		d.id, own, d.anchor = d.vault.identity, d.vault.anchor, cfg.Trust.OwnAnchor
		if cfg.NATSCredentials() == config.NATSCredsVault {
			if d.creds, err = readNATSCreds(ctx, d.vault.session, cfg.Node); err != nil {
				return nil, err
			}
		}
	default:
		if d.ks, err = trust.OpenDevKeystore(cfg.KeystoreDir(), cfg.Administration, cfg.Node, nil); err != nil {
			return nil, err
		}
		d.id, own, d.anchor = d.ks, d.ks.Anchor(), d.ks.AnchorPath()
	}
	anchors, err := trust.LoadAnchors(cfg.Trust.Anchors...)
	if err != nil {
		return nil, err
	}
	ver, err := trust.NewVerifier(nil, append([]*x509.Certificate{own}, anchors...)...)
	if err != nil {
		return nil, err
	}
	if cfg.Federated() {
		if d.manifest, err = federation.Load(cfg.Federation.Manifest); err != nil {
			return nil, err
		}
		if d.manifest.Member(cfg.Administration) == nil {
			return nil, fmt.Errorf("federation.manifest: %s is not a member of federation %s", cfg.Administration, d.manifest.Federation)
		}
	}
	if err := d.connect(); err != nil {
		return nil, err
	}
	b, err := bus.Open(ctx, d.nc, bus.Config{
		Replicas: cfg.NATS.Replicas, MaxAge: time.Duration(cfg.NATS.AlertRetention),
		DuplicateWindow: time.Duration(cfg.NATS.DuplicateWindow),
		Federation:      d.manifest, Administration: cfg.Administration,
	})
	if err != nil {
		return nil, err
	}
	d.readStream, d.bus = b.ReadStream(), b
	// The private streams (feed, quarantine, state, watchlist, directory cache) go to the
	// private account when there is one; the bus and the revocation notices (which travel
	// on the inbound and outbound streams) stay in the account bound to the hub.
	pjs := b.JetStream()
	if d.pc != nil {
		if pjs, err = jetstream.New(d.pc, jetstream.WithPublishAsyncMaxPending(4096)); err != nil {
			return nil, fmt.Errorf("private jetstream: %w", err)
		}
	}
	f, err := feed.Open(ctx, pjs, feed.Config{
		Node: cfg.Administration + "-" + cfg.Node, Replicas: cfg.NATS.Replicas,
		MaxAge: time.Duration(cfg.NATS.FeedRetention), QuarantineMaxAge: time.Duration(cfg.NATS.QuarantineRetention),
	})
	if err != nil {
		return nil, err
	}
	rcfg := revocation.Config{
		Replicas: cfg.NATS.Replicas, Consumer: "trust_" + cfg.Administration + "_" + strings.ReplaceAll(cfg.Node, "-", "_"),
	}
	if d.manifest != nil { // notices cross administrations in the all-members scope
		rcfg.Inbound, rcfg.Outbound = b.ReadStream(), federation.OutboundStream(cfg.Administration)
	}
	rev, err := revocation.Open(ctx, b.JetStream(), ver, f, cfg.Administration, rcfg, log)
	if err != nil {
		return nil, err
	}
	if err := rev.Start(ctx); err != nil {
		return nil, err
	}
	readyCtx, readyCancel := context.WithTimeout(ctx, 30*time.Second)
	err = rev.Ready(readyCtx)
	readyCancel()
	if err != nil {
		return nil, err
	}
	nopts := node.Options{Identity: d.id, Verifier: ver, Bus: b, Feed: f, Revocations: rev, Logger: log, Federation: d.manifest}
	if d.manifest != nil {
		if nopts.AgeIdentity, err = d.loadAgeIdentity(ctx, cfg); err != nil {
			return nil, err
		}
	}
	nopts.Metrics = d.metrics
	if d.creds != nil {
		_, version := d.creds.current()
		d.credsWatch = vault.NewCredsWatcher(d.vault.session.Client(), cfg.Node, version,
			time.Duration(cfg.NATS.CredentialsPoll), log, d.rotateNATSCreds)
		nopts.NATSCredentials = d.natsCredsStatus
	}
	if d.node, err = node.New(nopts); err != nil {
		return nil, err
	}
	if err := d.node.LoadNotices(ctx); err != nil {
		return nil, err
	}
	if d.manifest != nil && cfg.Federation.SecretariatKey != "" {
		pub, err := federation.LoadSecretariatKey(cfg.Federation.SecretariatKey)
		if err != nil {
			return nil, err
		}
		if d.directory, err = startDirectory(ctx, pub, cfg.Administration, cfg.Node, d.manifest.Federation,
			ver, d.node, b, pjs, f, cfg.NATS.Replicas, log); err != nil {
			return nil, err
		}
	}
	if d.watch, err = watch.Open(ctx, pjs, d.node, watch.Config{
		Administration: cfg.Administration, Node: cfg.Node, Replicas: cfg.NATS.Replicas,
	}, log); err != nil {
		return nil, err
	}
	if d.manifest != nil {
		policy, err := assist.LoadPolicy(cfg.Assistance.Policy)
		if err != nil {
			return nil, err
		}
		// What the assistance service and the attachment store refuse goes to the node's
		// quarantine, counted like the receiver's refusals.
		quarantine := func(ctx context.Context, qs []feed.Quarantined) error {
			err := f.Quarantine(ctx, qs)
			if err == nil {
				for _, q := range qs {
					d.metrics.Quarantined(q.Reason)
				}
			}
			return err
		}
		attachments := o.Attachments
		if attachments == nil && nopts.AgeIdentity != nil {
			if d.attach, err = d.openAttachments(ctx, pjs, b.JetStream(), nopts.AgeIdentity, quarantine); err != nil {
				return nil, err
			}
			attachments = d.attach
		}
		if d.assist, err = assist.Open(ctx, assist.Config{
			Administration: cfg.Administration, Node: cfg.Node, Signer: d.node, Verifier: ver,
			Manifest: d.node.Federation, AgeIdentity: nopts.AgeIdentity, Out: b, In: b.JetStream(), InStream: b.ReadStream(),
			Log: pjs, Replicas: cfg.NATS.Replicas, Policy: policy, Now: o.Now, Logger: log,
			Quarantine:  quarantine,
			Attachments: attachments,
		}); err != nil {
			return nil, err
		}
	}
	tlsCfg, err := serverTLS(cfg, d.ks, d.vault)
	if err != nil {
		return nil, fmt.Errorf("grpc tls: %w", err)
	}
	if d.lis, err = net.Listen("tcp", cfg.GRPC.Listen); err != nil {
		return nil, fmt.Errorf("grpc listen: %w", err)
	}
	opts := api.ServerOptions{Administration: cfg.Administration, TLS: tlsCfg, Watchlist: d.watch}
	opts.Health, opts.Metrics = d, d.metrics
	if d.assist != nil {
		opts.Assistance = d.assist
	}
	if cfg.Index.Enabled {
		if d.index, err = index.Open(ctx, cfg.IndexDir(), index.Options{CacheKiB: cfg.Index.CacheMB << 10, Logger: log}); err != nil {
			return nil, err
		}
		opts.Search = d.index
	}
	d.srv = api.NewServer(d.node, log, opts)
	if err := d.startObserver(ctx, b.JetStream()); err != nil {
		return nil, err
	}
	if d.vault != nil {
		for name, run := range d.vault.runners() {
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				if err := run(ctx); err != nil && ctx.Err() == nil {
					d.fail(fmt.Errorf("%s: %w", name, err))
				}
			}()
		}
	}
	if d.credsWatch != nil {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			_ = d.credsWatch.Run(ctx) // failures are reported in its status, never fatal
		}()
	}
	d.wg.Add(3)
	go func() {
		defer d.wg.Done()
		if err := d.node.Run(ctx); err != nil {
			d.fail(fmt.Errorf("receive alerts: %w", err))
		}
	}()
	go func() {
		defer d.wg.Done()
		if err := d.watch.Run(ctx); err != nil {
			d.fail(fmt.Errorf("watchlist: %w", err))
		}
	}()
	go func() {
		defer d.wg.Done()
		if err := d.srv.GRPC.Serve(d.lis); err != nil && !errors.Is(err, net.ErrClosed) {
			d.fail(fmt.Errorf("grpc: %w", err))
		}
	}()
	if d.attach != nil { // receives the counterparts' files; the assistance service reads them
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if err := d.attach.Run(ctx); err != nil {
				d.fail(fmt.Errorf("attachments: %w", err))
			}
		}()
	}
	if d.assist != nil {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if err := d.assist.Run(ctx); err != nil {
				d.fail(fmt.Errorf("mutual assistance: %w", err))
			}
		}()
	}
	if d.manifest != nil { // the inbound stream keeps what the feed does not hold yet
		t := &inboundTrim{d: d}
		t.register()
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			t.run(ctx)
		}()
	}
	if idle := time.Duration(cfg.Memory.IdleRelease); idle > 0 {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			idlemem.Run(ctx, idlemem.Options{Idle: idle, Logger: log})
		}()
	}
	if d.index != nil { // after the node; its failures are logged and retried, never fatal
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			_ = index.NewIndexer(d.index, d.node, index.IndexerOptions{Logger: log}).Run(ctx)
		}()
	}
	go func() {
		<-ctx.Done()
		d.srv.Stop(10 * time.Second)
		d.wg.Wait()
		d.close()
		close(d.done)
	}()
	log.Info("node started", "grpc", d.Addr(), "tls", cfg.TLSMode(),
		"nats", d.NATSURL(), "nats_credentials", cfg.NATSCredentials(), "keystore", cfg.Trust.Keystore, "anchor", d.anchor,
		"trusted", ver.Administrations())
	return d, nil
}

func (d *Daemon) connect() error {
	opts := []nats.Option{
		nats.Name(d.natsName()),
		nats.ClosedHandler(func(*nats.Conn) { close(d.closed) }),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				d.log.Warn("nats disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { d.log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	if d.cfg.Embedded() {
		var err error
		var private nkeys.KeyPair // the private account's user, federation mode only
		if d.manifest != nil {
			if private, err = nkeys.CreateUser(); err != nil {
				return fmt.Errorf("private account nkey: %w", err)
			}
			pub, _ := private.PublicKey()
			if d.ns, err = d.startLeaf(pub); err == nil {
				d.awaitHub(leafHubWait)
			}
		} else {
			d.ns, err = natsembed.Start(natsembed.Options{
				Name: "cix-" + d.cfg.Administration + "-" + d.cfg.Node, StoreDir: d.cfg.NATSStoreDir(), Listen: d.cfg.NATS.EmbeddedListen,
			})
		}
		if err != nil {
			return err
		}
		opts = append(opts, nats.InProcessServer(d.ns))
		d.nc, err = nats.Connect("", opts...)
		if err != nil {
			return fmt.Errorf("connect to embedded nats: %w", err)
		}
		if private != nil {
			pub, _ := private.PublicKey()
			d.pc, err = nats.Connect("", nats.Name(d.natsName()+" private"), nats.InProcessServer(d.ns),
				nats.Nkey(pub, private.Sign), nats.ClosedHandler(func(*nats.Conn) { close(d.pclosed) }))
			if err != nil {
				return fmt.Errorf("connect to the embedded leaf's private account: %w", err)
			}
		}
		return nil
	}
	switch d.cfg.NATSCredentials() {
	case config.NATSCredsFile:
		opts = append(opts, nats.UserCredentials(d.cfg.NATS.CredentialsFile))
	case config.NATSCredsVault:
		opts = append(opts, d.creds.option())
	}
	opts = append(opts, nats.RetryOnFailedConnect(false))
	nc, err := nats.Connect(joinURLs(d.cfg.NATS.URLs), opts...)
	if err != nil {
		return fmt.Errorf("connect to nats %v: %w", d.cfg.NATS.URLs, err)
	}
	d.nc = nc
	if d.manifest != nil {
		return d.connectPrivate()
	}
	return nil
}

// connectPrivate opens d.pc to the external leaf server's private account
// (federation.PrivateAccount, not bound to the hub) with the node's nkey from
// nats.private_credentials or nats.private_nkey_seed_env, for the private streams.
func (d *Daemon) connectPrivate() error {
	var auth nats.Option
	switch {
	case d.cfg.NATS.PrivateCredentials != "":
		o, err := nats.NkeyOptionFromSeed(d.cfg.NATS.PrivateCredentials)
		if err != nil {
			return fmt.Errorf("nats.private_credentials: %w", err)
		}
		auth = o
	case d.cfg.NATS.PrivateNkeySeedEnv != "":
		seed := strings.TrimSpace(os.Getenv(d.cfg.NATS.PrivateNkeySeedEnv))
		if seed == "" {
			return fmt.Errorf("nats.private_nkey_seed_env: the variable %s holding the private account's nkey seed is not set", d.cfg.NATS.PrivateNkeySeedEnv)
		}
		kp, err := nkeys.FromSeed([]byte(seed))
		if err != nil {
			return fmt.Errorf("nats.private_nkey_seed_env: %w", err)
		}
		pub, err := kp.PublicKey()
		if err != nil || !nkeys.IsValidPublicUserKey(pub) {
			return errors.New("nats.private_nkey_seed_env: the seed is not a user nkey seed (SU...)")
		}
		auth = nats.Nkey(pub, kp.Sign)
	default: // refused by config.Validate
		return errors.New("nats.private_credentials: required in federation mode with nats.urls")
	}
	pc, err := nats.Connect(joinURLs(d.cfg.NATS.URLs), auth,
		nats.Name(d.natsName()+" private"), nats.ClosedHandler(func(*nats.Conn) { close(d.pclosed) }),
		nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond), nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				d.log.Warn("nats disconnected (private account)", "error", err)
			}
		}))
	if err != nil {
		return fmt.Errorf("connect to the leaf server's private account %v: %w", d.cfg.NATS.URLs, err)
	}
	d.pc = pc
	return nil
}

// startLeaf starts the embedded server as the administration's leaf server of the hub,
// from the configuration federation.LeafConfig generates (written to the data
// directory; the nkey seed stays in the environment variable it names): JetStream in
// the administration's own domain, the cix streams in the local account bound to the
// administration's account at the hub, and the node's private streams in a second
// account (federation.PrivateAccount) that is not bound to the hub, whose one user is
// privateNkey (the node's in-process connection; its seed never leaves the node).
func (d *Daemon) startLeaf(privateNkey string) (*server.Server, error) {
	listen := d.cfg.NATS.EmbeddedListen
	if listen == "" {
		listen = federation.DefaultLeafClientListen // not opened: in-process only, below
	}
	conf, err := federation.LeafConfig(d.manifest, d.cfg.Administration, federation.LeafOptions{
		HubURLs:      d.cfg.Federation.HubURLs,
		ServerName:   "cix-" + strings.ToLower(d.cfg.Administration) + "-" + d.cfg.Node,
		ClientListen: listen,
		StoreDir:     d.cfg.NATSStoreDir(),
		NkeySeedEnv:  d.cfg.Federation.LeafNkeySeedEnv,
		PrivateNkey:  privateNkey,
	})
	if err != nil {
		return nil, err
	}
	if os.Getenv(d.cfg.Federation.LeafNkeySeedEnv) == "" {
		return nil, fmt.Errorf("federation.leaf_nkey_seed_env: the variable %s holding the leaf's nkey seed is not set", d.cfg.Federation.LeafNkeySeedEnv)
	}
	file := d.cfg.LeafConfigFile()
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("leaf config: %w", err)
	}
	return natsembed.StartFile(file, func(o *server.Options) {
		switch {
		case d.cfg.NATS.EmbeddedListen == "":
			o.DontListen = true
		case o.Port == 0:
			o.Port = server.RANDOM_PORT
		}
		o.LeafNode.ReconnectInterval = time.Second
	})
}

// leafHubWait bounds how long a starting leaf waits for its hub connection.
const leafHubWait = 5 * time.Second

// awaitHub waits a little for the leaf's connection to the hub before the node creates
// its streams: an inbound stream's sources created while the hub is unreachable retry
// only after nats-server's consumer-create timeout (30 s), so a node started together
// with its hub would receive nothing for that long. A node whose hub is down still
// starts (it publishes into its own domain and catches up later).
func (d *Daemon) awaitHub(wait time.Duration) {
	deadline := time.Now().Add(wait)
	for d.ns.NumLeafNodes() == 0 {
		if time.Now().After(deadline) {
			d.log.Warn("hub not reachable yet; starting without it", "waited", wait)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// natsName is the node's connection name, as the servers' monitoring shows it.
func (d *Daemon) natsName() string { return "cixd " + d.cfg.Administration + "/" + d.cfg.Node }

func joinURLs(urls []string) string {
	s := ""
	for i, u := range urls {
		if i > 0 {
			s += ","
		}
		s += u
	}
	return s
}

func (d *Daemon) fail(err error) {
	d.errMu.Lock()
	if d.err == nil {
		d.err = err
	}
	d.errMu.Unlock()
	d.log.Error("node failed", "error", err)
	d.cancel()
}

func (d *Daemon) close() {
	if d.metricsSrv != nil {
		d.metricsSrv.Close()
	}
	if d.index != nil { // the indexer has stopped: before the node's NATS connection
		if err := d.index.Close(); err != nil {
			d.log.Warn("close index", "error", err)
		}
	}
	if d.nc != nil {
		if d.nc.Drain() == nil {
			select { // Drain finishes asynchronously; NATS closes the connection at the end
			case <-d.closed:
			case <-time.After(2 * time.Second):
			}
		}
		d.nc.Close()
	}
	if d.pc != nil {
		if d.pc.Drain() == nil {
			select {
			case <-d.pclosed:
			case <-time.After(2 * time.Second):
			}
		}
		d.pc.Close()
	}
	if d.creds != nil {
		d.creds.wipe()
	}
	if d.ns != nil {
		natsembed.Stop(d.ns)
	}
	if d.lis != nil {
		_ = d.lis.Close()
	}
	if d.vault != nil {
		d.vault.session.Stop()
	}
}

// Addr is the gRPC address the node serves.
func (d *Daemon) Addr() string { return d.lis.Addr().String() }

// NATSURL is the embedded server's client URL, or the external URLs.
func (d *Daemon) NATSURL() string {
	if d.ns == nil {
		return joinURLs(d.cfg.NATS.URLs)
	}
	if d.cfg.NATS.EmbeddedListen == "" {
		return "in-process"
	}
	return d.ns.ClientURL()
}

// AnchorPath is the PEM file of the administration's trust anchor, for other nodes.
func (d *Daemon) AnchorPath() string { return d.anchor }

// DirectoryVersion is the member directory version the node applies; 0 while it uses
// its manifest file (or follows no directory).
func (d *Daemon) DirectoryVersion() uint64 {
	if d.directory == nil {
		return 0
	}
	return d.directory.Version()
}

// Node is the running node.
func (d *Daemon) Node() *node.Node { return d.node }

// Watch is the node's watchlist.
func (d *Daemon) Watch() *watch.Service { return d.watch }

// Assist is the node's mutual assistance service, nil outside federation mode.
func (d *Daemon) Assist() *assist.Service { return d.assist }

// Index is the node's search index, nil when disabled.
func (d *Daemon) Index() *index.Index { return d.index }

// Stop stops the node and waits until everything it started has stopped. It returns the
// first failure the node had while running, if any.
func (d *Daemon) Stop() error {
	d.cancel()
	<-d.done
	return d.Err()
}

// Done is closed once the node has stopped.
func (d *Daemon) Done() <-chan struct{} { return d.done }

// Err is the first failure the node had while running.
func (d *Daemon) Err() error {
	d.errMu.Lock()
	defer d.errMu.Unlock()
	return d.err
}
