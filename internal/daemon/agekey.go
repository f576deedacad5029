package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"filippo.io/age"
	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/sealed"
	"github.com/cix-exchange/cix/internal/vault"
)

// loadAgeIdentity returns the administration's age identity on the federation layout:
// from Vault KV with the vault keystore, else from the dev keystore's file. It must be
// the identity of the recipient the manifest publishes for the administration. Without
// a recipient in the manifest the node runs without one (all-members alerts only), and
// with the dev keystore a missing file is then no error.
func (d *Daemon) loadAgeIdentity(ctx context.Context, cfg config.Config) (*age.X25519Identity, error) {
	want := d.manifest.Member(cfg.Administration).AgeRecipient
	var id *age.X25519Identity
	var where string
	if d.vault != nil {
		where = vault.NodeAgeKV(cfg.Node)
		s, err := vault.ReadAgeIdentity(ctx, d.vault.session.Client(), cfg.Node)
		if err != nil {
			if want == "" {
				return nil, nil
			}
			return nil, fmt.Errorf("federation: %w", err)
		}
		if id, err = sealed.ParseIdentity(s); err != nil {
			return nil, fmt.Errorf("federation: Vault KV %s: %w", where, err)
		}
	} else {
		where = sealed.IdentityFile(cfg.KeystoreDir())
		var err error
		id, err = sealed.ReadFile(where)
		if errors.Is(err, fs.ErrNotExist) && want == "" {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("federation: %w (create it with cix federation age-key --out %s and publish the recipient in the manifest)", err, where)
		}
	}
	if got := id.Recipient().String(); got != want {
		return nil, fmt.Errorf("federation: the age identity in %s is of recipient %s, but the manifest publishes %q for %s",
			where, got, want, cfg.Administration)
	}
	return id, nil
}
