package daemon

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"time"

	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/cix-exchange/cix/internal/vault"
)

// vaultIdentity is a node identity certified by the administration's Vault PKI, with,
// in grpc.tls.mode vault, the node's gRPC server certificate.
type vaultIdentity struct {
	session  *vault.Session
	identity *reportingIdentity
	tls      *vault.TLSCertificate // nil unless grpc.tls.mode is vault
	anchor   *x509.Certificate
}

// runners are the renewal loops to run while the node runs, by name.
func (v *vaultIdentity) runners() map[string]func(context.Context) error {
	r := map[string]func(context.Context) error{"vault identity": v.identity.Run}
	if v.tls != nil {
		r["vault tls"] = v.tls.Run
	}
	return r
}

// reportingIdentity adds trust.StatusReporter to the Vault identity, so GetNodeInfo says
// when renewal fails (Vault unreachable) before the key expires.
type reportingIdentity struct{ *vault.Identity }

func (r reportingIdentity) IdentityStatus() (state, detail string) {
	st := r.Status()
	switch st.State {
	case vault.StateOK:
		return trust.StateOK, ""
	case vault.StateExpired:
		return trust.StateExpired, "certificate expired; last renewal error: " + st.LastError
	default:
		return trust.StateDegraded, fmt.Sprintf("%d renewals failed, certificate valid for %s; last error: %s",
			st.Failures, st.TimeToExpiry.Round(time.Second), st.LastError)
	}
}

// startVaultIdentity logs in to Vault and has a first node key certified and, in
// grpc.tls.mode vault, a first server certificate issued. The pinned own anchor checks
// every chain Vault returns.
func startVaultIdentity(ctx context.Context, cfg config.Config, log *slog.Logger) (*vaultIdentity, error) {
	anchors, err := trust.LoadAnchors(cfg.Trust.OwnAnchor)
	if err != nil {
		return nil, err
	}
	anchor := anchors[0]
	if len(anchor.Subject.Country) != 1 || anchor.Subject.Country[0] != cfg.Administration {
		return nil, fmt.Errorf("trust.own_anchor %s is not an anchor of %s", cfg.Trust.OwnAnchor, cfg.Administration)
	}
	sess, err := vault.Login(ctx, vault.AuthConfig{
		Method: cfg.Vault.Auth, Address: cfg.Vault.Address, RoleID: cfg.Vault.RoleID,
		SecretIDFile: cfg.Vault.SecretIDFile, SecretIDEnv: cfg.Vault.SecretIDEnv, WrappedSecretID: cfg.Vault.WrappedSecretID,
	}, log)
	if err != nil {
		return nil, fmt.Errorf("vault login: %w", err)
	}
	id, err := vault.NewIdentity(ctx, sess.Client(), vault.IdentityConfig{
		Administration: cfg.Administration, Node: cfg.Node, Mount: cfg.Vault.PKIMount, Role: cfg.Vault.PKIRole,
		Anchor: anchor, Renewal: vault.Renewal{Log: log},
	})
	if err != nil {
		sess.Stop()
		return nil, fmt.Errorf("vault identity: %w", err)
	}
	v := &vaultIdentity{session: sess, identity: &reportingIdentity{id}, anchor: anchor}
	if cfg.TLSMode() == config.TLSVault {
		v.tls, err = vault.NewTLSCertificate(ctx, sess.Client(), vault.TLSConfig{
			Administration: cfg.Administration, Node: cfg.Node, Mount: cfg.Vault.PKIMount, Role: cfg.Vault.TLSRole,
			Hosts: cfg.GRPC.TLS.Hosts, Anchor: anchor, Renewal: vault.Renewal{Log: log},
		})
		if err != nil {
			sess.Stop()
			return nil, fmt.Errorf("grpc tls: %w", err)
		}
	}
	return v, nil
}
