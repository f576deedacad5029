package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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

// ReadNATSCreds reads the node's NATS credentials from KVMount (latest version). Errors
// name the secret (NodeCredsKV) and the field.
func ReadNATSCreds(ctx context.Context, client *api.Client, node string) (NATSCreds, error) {
	s, err := client.KVv2(KVMount).Get(ctx, NodeCredsPath(node))
	if err != nil {
		return NATSCreds{}, fmt.Errorf("read NATS credentials of %s from Vault KV %s: %w", node, NodeCredsKV(node), err)
	}
	c, _ := s.Data[NATSCredsField].(string)
	if c == "" {
		return NATSCreds{}, fmt.Errorf("read NATS credentials of %s from Vault KV %s: field %q empty or missing",
			node, NodeCredsKV(node), NATSCredsField)
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

// CredsWatcher polls a node's NATS credentials and hands each new version to a
// callback, which may refuse it. It keeps the status of the credentials for health
// reporting.
type CredsWatcher struct {
	client   *api.Client
	node     string
	interval time.Duration
	log      *slog.Logger
	changed  func(context.Context, NATSCreds) error

	seen    int   // latest version read, accepted or not; only the poll goroutine
	refused error // why seen was refused, nil if it was accepted; only the poll goroutine

	mu     sync.Mutex
	status CredsStatus
}

// CredsStatus describes the NATS credentials for health reporting.
type CredsStatus struct {
	// Version is the KV version in use.
	Version int
	// Rotations counts versions accepted since the watcher started.
	Rotations int
	// Err is empty when the last poll read the secret and its latest version is in use;
	// otherwise it says why not (Vault unreachable, secret missing, version refused).
	Err string
}

// NewCredsWatcher returns a watcher calling changed with each version of node's
// credentials newer than since, the version in use (0: also the first one read). When
// changed returns an error the version is refused: the status reports it until a later
// version is accepted, and the version is not offered again. interval is the polling
// period (default 1 minute).
func NewCredsWatcher(client *api.Client, node string, since int, interval time.Duration, log *slog.Logger,
	changed func(context.Context, NATSCreds) error) *CredsWatcher {
	if interval <= 0 {
		interval = time.Minute
	}
	if log == nil {
		log = slog.Default()
	}
	return &CredsWatcher{client: client, node: node, interval: interval, log: log.With("node", node, "kv", NodeCredsKV(node)),
		changed: changed, seen: since, status: CredsStatus{Version: since}}
}

// Run polls until ctx ends. Read failures (Vault unreachable) are logged, reported in
// Status and retried at the next poll; the credentials in use stay valid meanwhile.
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

// Status reports the version in use and whether the last poll found a problem.
func (w *CredsWatcher) Status() CredsStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

func (w *CredsWatcher) poll(ctx context.Context) {
	c, err := ReadNATSCreds(ctx, w.client, w.node)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("NATS credentials poll failed; keeping the credentials in use", "error", err)
			w.report(0, err)
		}
		return
	}
	if c.Version == w.seen {
		w.report(0, w.refused)
		return
	}
	w.seen = c.Version
	if err := w.changed(ctx, c); err != nil {
		w.refused = fmt.Errorf("version %d refused: %w", c.Version, err)
		w.log.Warn("NATS credentials rotation refused; keeping the credentials in use", "version", c.Version,
			"in_use", w.Status().Version, "error", err)
		w.report(0, w.refused)
		return
	}
	w.log.Info("NATS credentials rotated", "version", c.Version, "previous", w.Status().Version)
	w.refused = nil
	w.report(c.Version, nil)
}

// report records the outcome of a poll: accepted is the version now in use (0: none new).
func (w *CredsWatcher) report(accepted int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if accepted != 0 {
		w.status.Version = accepted
		w.status.Rotations++
	}
	w.status.Err = ""
	if err != nil {
		w.status.Err = err.Error()
	}
}
