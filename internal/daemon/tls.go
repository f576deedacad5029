package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/cix-exchange/cix/internal/api"
	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/trust"
)

// devTLSLifetime is the lifetime of the development TLS certificates.
const devTLSLifetime = 30 * 24 * time.Hour

// serverTLS builds the gRPC server's TLS configuration for cfg's mode; nil means
// plaintext. ks is the dev keystore (mode dev), v the Vault identity (mode vault).
func serverTLS(cfg config.Config, ks *trust.DevKeystore, v *vaultIdentity) (*tls.Config, error) {
	switch cfg.TLSMode() {
	case config.TLSOff:
		return nil, nil
	case config.TLSDev:
		return devTLS(cfg, ks)
	case config.TLSFiles:
		fc, err := api.NewFileCertificate(cfg.GRPC.TLS.CertFile, cfg.GRPC.TLS.KeyFile)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(cfg.GRPC.TLS.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("client CA %s: no PEM certificate", cfg.GRPC.TLS.ClientCAFile)
		}
		return api.ServerTLS(fc.GetCertificate, pool), nil
	case config.TLSVault:
		// Clients present their leaf and the node CA; only the administration's own
		// anchor is trusted.
		pool := x509.NewCertPool()
		pool.AddCert(v.anchor)
		return api.ServerTLS(v.tls.GetCertificate, pool), nil
	}
	return nil, fmt.Errorf("grpc.tls.mode %q", cfg.TLSMode())
}

// devTLS certifies a server key for the listen address under the development anchor and
// writes a client certificate per role (and ca.pem) under data_dir/tls for the cix
// command line.
func devTLS(cfg config.Config, ks *trust.DevKeystore) (*tls.Config, error) {
	host, _, _ := net.SplitHostPort(cfg.GRPC.Listen)
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if host != "" && host != "0.0.0.0" && host != "::" {
		hosts = append(hosts, host)
	} else if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	certPEM, keyPEM, err := ks.IssueServerCert(hosts, devTLSLifetime)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	dir := cfg.TLSDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), trust.EncodePEM(ks.Anchor().Raw), 0o644); err != nil {
		return nil, err
	}
	for _, role := range trust.Roles {
		certPath, keyPath := filepath.Join(dir, string(role)+".pem"), filepath.Join(dir, string(role)+".key")
		if fresh(certPath) {
			continue
		}
		c, k, err := ks.IssueClientCert(role, "dev-"+string(role), devTLSLifetime)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(keyPath, k, 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(certPath, c, 0o644); err != nil {
			return nil, err
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ks.Anchor())
	return api.ServerTLS(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }, pool), nil
}

// fresh reports whether a PEM certificate file exists and has more than a week left.
func fresh(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	cs, err := trust.ParseCertificatesPEM(b)
	return err == nil && time.Until(cs[0].NotAfter) > 7*24*time.Hour
}
