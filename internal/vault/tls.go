package vault

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cix-exchange/cix/internal/trust"
	"github.com/hashicorp/vault/api"
)

// TLSConfig configures a node's gRPC server certificate from Vault PKI.
type TLSConfig struct {
	// Administration and Node name the node.
	Administration, Node string
	// Mount is the PKI mount (default PKIMount) and Role the role signing the CSRs
	// (default TLSServerRole(Node)).
	Mount, Role string
	// Hosts are the DNS names and IP addresses the certificate names (default
	// DefaultTLSHosts). The role must allow every one.
	Hosts []string
	// TTL is the requested certificate lifetime; zero takes the role's (72h by default).
	TTL time.Duration
	// Anchor, when set, is the administration's trust anchor: every issued chain must
	// verify under it, for server authentication and each host, before it is served.
	Anchor *x509.Certificate
	// Renewal says when the certificate is renewed and where that is logged.
	Renewal
}

// TLSCertificate is a node's gRPC server certificate kept by Vault PKI, for
// tls.Config.GetCertificate. As with Identity, its ed25519 key is generated in memory
// (never written to disk, never sent to Vault), its CSR is signed by the node's server
// role at start and at two thirds of each certificate's lifetime, and failed renewals
// are retried with backoff while the current certificate is served. The chain served is
// the leaf and the administration's node CA, so that a client trusting only the
// administration's anchor verifies it.
//
// Run renews until its context ends, Renew renews now, and Status reports the
// certificate in force and the renewal state.
type TLSCertificate struct {
	*renewer[tls.Certificate]
	client *api.Client
	cfg    TLSConfig
	dns    []string
	ips    []net.IP
}

// NewTLSCertificate obtains the node's first server certificate from Vault with client,
// whose token must allow signing at the node's server role.
func NewTLSCertificate(ctx context.Context, client *api.Client, cfg TLSConfig) (*TLSCertificate, error) {
	if err := nodeCertConfig("vault tls", cfg.Administration, cfg.Node, &cfg.Mount, &cfg.Role, TLSServerRole, &cfg.Renewal); err != nil {
		return nil, err
	}
	if len(cfg.Hosts) == 0 {
		cfg.Hosts = DefaultTLSHosts
	}
	dns, ips, err := nodeHosts(cfg.Hosts, cfg.Node)
	if err != nil {
		return nil, fmt.Errorf("vault tls: %w", err)
	}
	c := &TLSCertificate{client: client, cfg: cfg, dns: dns}
	for _, ip := range ips {
		c.ips = append(c.ips, net.ParseIP(ip))
	}
	c.renewer = newRenewer("vault tls", "TLS server certificate", cfg.Renewal, cfg.Administration, cfg.Node, c.issue)
	if err := c.Renew(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// GetCertificate implements tls.Config.GetCertificate: the certificate in force, with
// its chain. Once that has expired (Vault unreachable for a third of its lifetime), it
// fails the handshake rather than serve it, and makes Run try to renew at once.
func (c *TLSCertificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	cur, err := c.valid()
	if err != nil {
		return nil, err
	}
	return cur.value, nil
}

func (c *TLSCertificate) issue(ctx context.Context) (*issued[tls.Certificate], error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	ips := make([]string, len(c.ips))
	for i, ip := range c.ips {
		ips[i] = ip.String()
	}
	params := map[string]any{"alt_names": strings.Join(c.dns, ","), "ip_sans": strings.Join(ips, ",")}
	var cn string
	if len(c.dns) > 0 {
		cn = c.dns[0]
		params["common_name"] = cn
	}
	sc, err := signCSR(ctx, c.client, c.cfg.Mount, c.cfg.Role, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: cn}, DNSNames: c.dns, IPAddresses: c.ips,
	}, priv, ttlParam(params, c.cfg.TTL))
	if err != nil {
		return nil, err
	}
	if err := c.check(sc); err != nil {
		return nil, err
	}
	leaf := sc.leaf
	cert := &tls.Certificate{Certificate: sc.chain, PrivateKey: priv, Leaf: leaf}
	return &issued[tls.Certificate]{value: cert, keyID: trust.KeyID(leaf.Raw), notBefore: leaf.NotBefore, notAfter: leaf.NotAfter}, nil
}

// check refuses a certificate that is not a server certificate for exactly our names,
// or, with an anchor, does not chain to it.
func (c *TLSCertificate) check(sc signedChain) error {
	leaf := sc.leaf
	if !slices.Equal(sorted(leaf.DNSNames), sorted(c.dns)) || len(leaf.IPAddresses) != len(c.ips) || len(leaf.URIs) != 0 {
		return fmt.Errorf("issued certificate names %v %v %v, want %v %v", leaf.DNSNames, leaf.IPAddresses, leaf.URIs, c.dns, c.ips)
	}
	for _, ip := range c.ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return fmt.Errorf("issued certificate names %v, want %v", leaf.IPAddresses, c.ips)
		}
	}
	if c.cfg.Anchor == nil {
		return nil
	}
	if err := verifyChain(sc, c.cfg.Anchor, x509.ExtKeyUsageServerAuth); err != nil {
		return fmt.Errorf("issued chain does not verify under the %s anchor: %w", c.cfg.Administration, err)
	}
	for _, h := range c.cfg.Hosts {
		if err := leaf.VerifyHostname(strings.ReplaceAll(h, "@NODE@", c.cfg.Node)); err != nil {
			return err
		}
	}
	return nil
}

// verifyChain checks that sc's chain certifies its leaf under anchor for usage, at the
// start of the leaf's validity (the node's clock may differ from Vault's).
func verifyChain(sc signedChain, anchor *x509.Certificate, usage x509.ExtKeyUsage) error {
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(anchor)
	for _, der := range sc.chain[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		inter.AddCert(c)
	}
	_, err := sc.leaf.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage},
		CurrentTime: sc.leaf.NotBefore.Add(time.Second),
	})
	return err
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// ClientCertificate is a gRPC client certificate issued by Vault PKI, in PEM, as
// `cix --ca --cert --key` reads it.
type ClientCertificate struct {
	// Identity is what the certificate certifies (its URI SAN).
	Identity trust.ClientIdentity
	// CertPEM is the leaf followed by the administration's node CA: what the client
	// presents, so that a node trusting only the anchor verifies it.
	CertPEM []byte
	// KeyPEM is the private key (PKCS #8). It was generated here and never sent to Vault.
	KeyPEM []byte
	// AnchorPEM is the administration's trust anchor, to which the nodes' server
	// certificates chain.
	AnchorPEM []byte
	// NotAfter is the end of the certificate's validity.
	NotAfter time.Time
}

// ClientCertRequest says which client certificate IssueClientCertificate issues.
type ClientCertRequest struct {
	// Role and Name are certified as urn:cix:client:<ADMIN>:<Role>:<Name>.
	Role trust.Role
	Name string
	// TTL is the requested lifetime; zero takes the role's (30 days by default).
	TTL time.Duration
	// Mount is the PKI mount signing client certificates (default PKIMount); its CA
	// names the administration. RootMount holds the administration's anchor (default
	// RootMount).
	Mount, RootMount string
}

// IssueClientCertificate generates an ed25519 key and has Vault sign a client
// certificate for it under TLSClientRole(req.Role). client's token needs
// ClientIssuerPolicy.
func IssueClientCertificate(ctx context.Context, client *api.Client, req ClientCertRequest) (*ClientCertificate, error) {
	cc, err := issueClientCertificate(ctx, client, req)
	if err != nil {
		return nil, fmt.Errorf("issue client certificate: %w", err)
	}
	return cc, nil
}

func issueClientCertificate(ctx context.Context, client *api.Client, req ClientCertRequest) (*ClientCertificate, error) {
	if !trust.ValidRole(req.Role) {
		return nil, fmt.Errorf("unknown role %q (want one of %v)", req.Role, trust.Roles)
	}
	if !trust.ValidNodeName(req.Name) {
		return nil, fmt.Errorf("invalid name %q: use lower-case letters, digits and hyphens (at most 63)", req.Name)
	}
	if req.Mount == "" {
		req.Mount = PKIMount
	}
	if req.RootMount == "" {
		req.RootMount = RootMount
	}
	// The CA certificates are public (unauthenticated endpoints).
	ca, err := readCA(ctx, client, req.Mount)
	if err != nil {
		return nil, err
	}
	anchor, err := readCA(ctx, client, req.RootMount)
	if err != nil {
		return nil, err
	}
	if len(ca.Subject.Country) != 1 || !adminRE.MatchString(ca.Subject.Country[0]) {
		return nil, fmt.Errorf("the CA of %s (%s) names no administration", req.Mount, ca.Subject)
	}
	admin := ca.Subject.Country[0]
	if !anchor.IsCA || len(anchor.Subject.Country) != 1 || anchor.Subject.Country[0] != admin || ca.CheckSignatureFrom(anchor) != nil {
		return nil, fmt.Errorf("the CA of %s (%s) is not an anchor of %s certifying %s", req.RootMount, anchor.Subject, admin, req.Mount)
	}
	uri := trust.ClientURI(admin, req.Role, req.Name)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	sc, err := signCSR(ctx, client, req.Mount, TLSClientRole(req.Role), &x509.CertificateRequest{URIs: []*url.URL{uri}}, priv,
		ttlParam(map[string]any{"uri_sans": uri.String()}, req.TTL))
	if err != nil {
		return nil, err
	}
	if err := verifyChain(sc, anchor, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, fmt.Errorf("issued chain does not verify under the %s anchor: %w", admin, err)
	}
	id, err := trust.ParseClientIdentity(sc.leaf)
	if err != nil || id != (trust.ClientIdentity{Administration: admin, Role: req.Role, Name: req.Name}) {
		return nil, fmt.Errorf("issued certificate names %v (%v), want %s", sc.leaf.URIs, err, uri)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return &ClientCertificate{
		Identity: id, CertPEM: trust.EncodePEM(sc.chain...), AnchorPEM: trust.EncodePEM(anchor.Raw),
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), NotAfter: sc.leaf.NotAfter,
	}, nil
}

// readCA reads the CA certificate of a PKI mount.
func readCA(ctx context.Context, client *api.Client, mount string) (*x509.Certificate, error) {
	s, err := client.Logical().ReadWithContext(ctx, mount+"/cert/ca")
	if err != nil {
		return nil, fmt.Errorf("read the CA of %s: %w", mount, err)
	}
	c, err := certFromData(s, "certificate")
	if err != nil {
		return nil, fmt.Errorf("CA of %s: %w", mount, err)
	}
	return c, nil
}
