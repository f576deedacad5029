package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"filippo.io/age"
	"github.com/cix-exchange/cix/internal/attach"
	"github.com/cix-exchange/cix/internal/feed"
	"github.com/nats-io/nats.go/jetstream"
)

// attachTempDir is where the attachment store keeps a ciphertext while it computes its
// digest (never plaintext), under the data directory.
func (d *Daemon) attachTempDir() string { return filepath.Join(d.cfg.DataDir, "attach-tmp") }

// openAttachments opens the administration's attachment store: the bucket
// CIX_ATTACH_<ADMIN> in the private account (private), the inbound and outbound
// streams bound to the hub (hub), recipients read from the federation manifest in force
// (the member directory may replace it while the node runs), the node's age identity,
// the size limit assistance.max_attachment_mb, and the node's quarantine for what its
// receiver refuses.
func (d *Daemon) openAttachments(ctx context.Context, private, hub jetstream.JetStream, id age.Identity, quarantine func(context.Context, []feed.Quarantined) error) (*attach.Store, error) {
	tmp := d.attachTempDir()
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("attachments: temporary directory: %w", err)
	}
	// A ciphertext left by a node stopped in the middle of a Put is of no use: the
	// client's upload failed and is repeated.
	if stale, err := filepath.Glob(filepath.Join(tmp, "cix-attach-*.age")); err == nil {
		for _, f := range stale {
			_ = os.Remove(f)
		}
	}
	return attach.New(ctx, attach.Options{
		Administration: d.cfg.Administration,
		Private:        private,
		Bus:            hub,
		Recipient: func(admin string) (age.Recipient, error) {
			return attach.ManifestRecipients(d.node.Federation())(admin)
		},
		Identity:   id,
		MaxSize:    int64(d.cfg.Assistance.MaxAttachmentMB) << 20,
		Replicas:   d.cfg.NATS.Replicas,
		TempDir:    tmp,
		Quarantine: quarantine,
		Logger:     d.log,
	})
}
