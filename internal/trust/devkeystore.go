package trust

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Lifetimes of the development keystore's certificates.
const (
	devAnchorLifetime = 10 * 365 * 24 * time.Hour
	devNodeLifetime   = 30 * 24 * time.Hour
	devNodeRenewAfter = 20 * 24 * time.Hour
)

// DevKeystore is the zero-configuration identity of a development node: an
// administration anchor and a node key, both kept as files under a directory (mode 0600).
// It is for development and demos only; production nodes get their identity from Vault.
//
// Layout under Dir: anchor.pem (the administration's trust anchor, to give to other
// nodes), anchor.key, node-<name>.pem and node-<name>.key, and seal-v1.pem and
// seal-v1.key, the development administration seal (made on first use by Seal).
type DevKeystore struct {
	dir    string
	admin  string
	node   string
	now    func() time.Time
	anchor *x509.Certificate
	// anchorKey certifies node keys and, for development TLS, server and client
	// certificates.
	anchorKey ed25519.PrivateKey
	key       *SigningKey
}

// OpenDevKeystore loads the keystore under dir, creating the anchor and the node key on
// first use and renewing the node certificate when it nears expiry.
func OpenDevKeystore(dir, admin, node string, now func() time.Time) (*DevKeystore, error) {
	if now == nil {
		now = time.Now
	}
	if !adminRE.MatchString(admin) {
		return nil, fmt.Errorf("dev keystore: administration %q is not an ISO 3166 alpha-2 code", admin)
	}
	if !ValidNodeName(node) {
		return nil, fmt.Errorf("dev keystore: invalid node name %q", node)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("dev keystore: %w", err)
	}
	ks := &DevKeystore{dir: dir, admin: admin, node: node, now: now}
	anchorKey, err := ks.loadOrCreateAnchor()
	if err != nil {
		return nil, fmt.Errorf("dev keystore: %w", err)
	}
	ks.anchorKey = anchorKey
	if err := ks.loadOrCreateNode(anchorKey); err != nil {
		return nil, fmt.Errorf("dev keystore: %w", err)
	}
	return ks, nil
}

// Administration implements Identity.
func (ks *DevKeystore) Administration() string { return ks.admin }

// Node implements Identity.
func (ks *DevKeystore) Node() string { return ks.node }

// Current implements Identity.
func (ks *DevKeystore) Current(context.Context) (*SigningKey, error) {
	if ks.now().After(ks.key.principal.NotAfter) {
		return nil, errors.New("dev keystore: node certificate expired; restart the node to renew it")
	}
	return ks.key, nil
}

// OpenDevSeal returns the development seal of the keystore under dir without touching
// node keys: for operators' commands (cix trust revoke) run next to a dev node.
func OpenDevSeal(dir, admin string) (*SigningKey, error) {
	ks := &DevKeystore{dir: dir, admin: admin, now: time.Now}
	cert, key, err := loadPair(ks.AnchorPath(), filepath.Join(dir, "anchor.key"))
	if err != nil {
		return nil, fmt.Errorf("dev keystore %s: %w", dir, err)
	}
	if a, err := anchorAdministration(cert); err != nil || a != admin {
		return nil, fmt.Errorf("dev keystore %s: not an anchor of %s", dir, admin)
	}
	ks.anchor, ks.anchorKey = cert, key
	return ks.Seal()
}

// Seal returns the development administration seal (version 1), certified under the
// anchor and created on first use. With Vault, the seal is a Transit key instead.
func (ks *DevKeystore) Seal() (*SigningKey, error) {
	certPath, keyPath := filepath.Join(ks.dir, "seal-v1.pem"), filepath.Join(ks.dir, "seal-v1.key")
	cert, key, err := loadPair(certPath, keyPath)
	if err == nil {
		a, v, ok, ierr := sealIdentity(cert)
		if ierr == nil && ok && a == ks.admin && v == 1 && ks.now().Before(cert.NotAfter) && cert.CheckSignatureFrom(ks.anchor) == nil {
			return NewSealKey(key, [][]byte{cert.Raw}, ks.admin, 1, cert.NotAfter), nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("dev keystore: %w", err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	now := ks.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject: pkix.Name{
			Country: []string{ks.admin}, Organization: []string{"cix administration " + ks.admin + " (development)"},
			CommonName: "cix " + ks.admin + " administration seal v1",
		},
		URIs:      []*url.URL{SealURI(ks.admin, 1)},
		NotBefore: now.Add(-time.Minute), NotAfter: ks.anchor.NotAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ks.anchor, pub, ks.anchorKey)
	if err != nil {
		return nil, fmt.Errorf("dev keystore: certify seal: %w", err)
	}
	if err := writePair(certPath, keyPath, der, priv); err != nil {
		return nil, fmt.Errorf("dev keystore: %w", err)
	}
	return NewSealKey(priv, [][]byte{der}, ks.admin, 1, tmpl.NotAfter), nil
}

// Anchor is the administration's trust anchor certificate.
func (ks *DevKeystore) Anchor() *x509.Certificate { return ks.anchor }

// AnchorPath is the PEM file of the anchor, to hand to other nodes.
func (ks *DevKeystore) AnchorPath() string { return filepath.Join(ks.dir, "anchor.pem") }

func (ks *DevKeystore) loadOrCreateAnchor() (ed25519.PrivateKey, error) {
	certPath, keyPath := ks.AnchorPath(), filepath.Join(ks.dir, "anchor.key")
	cert, key, err := loadPair(certPath, keyPath)
	if err == nil {
		if a, aerr := anchorAdministration(cert); aerr != nil || a != ks.admin {
			return nil, fmt.Errorf("%s is not an anchor of %s", certPath, ks.admin)
		}
		ks.anchor = cert
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	now := ks.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject: pkix.Name{
			Country: []string{ks.admin}, Organization: []string{"cix administration " + ks.admin + " (development)"},
			CommonName: "cix " + ks.admin + " development trust anchor",
		},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(devAnchorLifetime),
		IsCA: true, BasicConstraintsValid: true, MaxPathLen: 1,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("create anchor: %w", err)
	}
	if err := writePair(certPath, keyPath, der, priv); err != nil {
		return nil, err
	}
	ks.anchor, _ = x509.ParseCertificate(der)
	return priv, nil
}

func (ks *DevKeystore) loadOrCreateNode(anchorKey ed25519.PrivateKey) error {
	certPath := filepath.Join(ks.dir, "node-"+ks.node+".pem")
	keyPath := filepath.Join(ks.dir, "node-"+ks.node+".key")
	cert, key, err := loadPair(certPath, keyPath)
	switch {
	case err == nil:
		a, n, ierr := nodeIdentity(cert)
		fresh := ks.now().Before(cert.NotBefore.Add(devNodeRenewAfter))
		if ierr == nil && a == ks.admin && n == ks.node && fresh && cert.CheckSignatureFrom(ks.anchor) == nil {
			ks.key = NewSigningKey(key, [][]byte{cert.Raw}, a, n, cert.NotAfter)
			return nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	now := ks.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject: pkix.Name{
			Country: []string{ks.admin}, Organization: []string{"cix administration " + ks.admin + " (development)"},
			CommonName: "cix node " + ks.node,
		},
		URIs:      []*url.URL{NodeURI(ks.admin, ks.node)},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(devNodeLifetime),
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ks.anchor, pub, anchorKey)
	if err != nil {
		return fmt.Errorf("certify node key: %w", err)
	}
	if err := writePair(certPath, keyPath, der, priv); err != nil {
		return err
	}
	ks.key = NewSigningKey(priv, [][]byte{der}, ks.admin, ks.node, tmpl.NotAfter)
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}

func loadPair(certPath, keyPath string) (*x509.Certificate, ed25519.PrivateKey, error) {
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	certs, err := ParseCertificatesPEM(cb)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	blk, _ := pem.Decode(kb)
	if blk == nil {
		return nil, nil, fmt.Errorf("%s: no PEM key", keyPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not an ed25519 key", keyPath)
	}
	return certs[0], priv, nil
}

func writePair(certPath, keyPath string, der []byte, priv ed25519.PrivateKey) error {
	kder, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certPath, EncodePEM(der), 0o644)
}

// IssueServerCert certifies a fresh TLS server key for hosts (DNS names or IP
// addresses) under the administration's anchor. It returns PEM certificate and key.
func (ks *DevKeystore) IssueServerCert(hosts []string, lifetime time.Duration) (certPEM, keyPEM []byte, err error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{Country: []string{ks.admin}, CommonName: "cix node " + ks.node + " gRPC"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ks.issue(tmpl, lifetime)
}

// IssueClientCert certifies a fresh TLS client key with a role under the
// administration's anchor. It returns PEM certificate and key.
func (ks *DevKeystore) IssueClientCert(role Role, name string, lifetime time.Duration) (certPEM, keyPEM []byte, err error) {
	if !ValidRole(role) || !ValidNodeName(name) {
		return nil, nil, fmt.Errorf("dev keystore: invalid client %q with role %q", name, role)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{Country: []string{ks.admin}, CommonName: name},
		URIs:        []*url.URL{ClientURI(ks.admin, role, name)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ks.issue(tmpl, lifetime)
}

func (ks *DevKeystore) issue(tmpl *x509.Certificate, lifetime time.Duration) (certPEM, keyPEM []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := ks.now()
	tmpl.SerialNumber = serial()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Minute), now.Add(lifetime)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ks.anchor, pub, ks.anchorKey)
	if err != nil {
		return nil, nil, fmt.Errorf("dev keystore: issue certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	return EncodePEM(der), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}
