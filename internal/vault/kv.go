package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/vault/api"
)

// NATSCredsField is the field of the KV secret NodeCredsPath(node) holding the content
// of a NATS .creds file (user JWT and nkey seed).
const NATSCredsField = "creds"

// NATSCreds is one version of a node's NATS credentials.
type NATSCreds struct {
	// Creds is the .creds file content. It is a secret: keep it in memory, never log it.
	Creds []byte
	// Version is the KV version it was read from.
	Version int
}

// ReadNATSCreds reads the node's NATS credentials from KVMount (latest version).
func ReadNATSCreds(ctx context.Context, client *api.Client, node string) (NATSCreds, error) {
	s, err := client.KVv2(KVMount).Get(ctx, NodeCredsPath(node))
	if err != nil {
		return NATSCreds{}, fmt.Errorf("read NATS credentials of %s: %w", node, err)
	}
	c, _ := s.Data[NATSCredsField].(string)
	if c == "" {
		return NATSCreds{}, fmt.Errorf("read NATS credentials of %s: field %q empty or missing", node, NATSCredsField)
	}
	v := 0
	if s.VersionMetadata != nil {
		v = s.VersionMetadata.Version
	}
	return NATSCreds{Creds: []byte(c), Version: v}, nil
}

// WriteNATSCreds stores new NATS credentials for node (an operator task; nodes may only
// read) and returns the new version.
func WriteNATSCreds(ctx context.Context, client *api.Client, node string, creds []byte) (int, error) {
	if len(creds) == 0 {
		return 0, errors.New("write NATS credentials: empty")
	}
	s, err := client.KVv2(KVMount).Put(ctx, NodeCredsPath(node), map[string]any{NATSCredsField: string(creds)})
	if err != nil {
		return 0, fmt.Errorf("write NATS credentials of %s: %w", node, err)
	}
	if s.VersionMetadata == nil {
		return 0, nil
	}
	return s.VersionMetadata.Version, nil
}

// CredsWatcher polls a node's NATS credentials and reports rotations.
type CredsWatcher struct {
	client   *api.Client
	node     string
	interval time.Duration
	log      *slog.Logger
	changed  func(context.Context, NATSCreds)
	version  int
}

// NewCredsWatcher returns a watcher calling changed with each new version of node's
// credentials newer than since (0: also the first one read). interval is the polling
// period (default 1 minute).
func NewCredsWatcher(client *api.Client, node string, since int, interval time.Duration, log *slog.Logger,
	changed func(context.Context, NATSCreds)) *CredsWatcher {
	if interval <= 0 {
		interval = time.Minute
	}
	if log == nil {
		log = slog.Default()
	}
	return &CredsWatcher{client: client, node: node, interval: interval, log: log.With("node", node),
		changed: changed, version: since}
}

// Run polls until ctx ends. Read failures (Vault unreachable) are logged and retried at
// the next poll; the credentials in use stay valid meanwhile.
func (w *CredsWatcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		w.poll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (w *CredsWatcher) poll(ctx context.Context) {
	c, err := ReadNATSCreds(ctx, w.client, w.node)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("NATS credentials poll failed", "err", err)
		}
		return
	}
	if c.Version == w.version {
		return
	}
	w.log.Info("NATS credentials rotated", "version", c.Version, "previous", w.version)
	w.version = c.Version
	w.changed(ctx, c)
}
