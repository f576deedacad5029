package vault

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/cix-exchange/cix/internal/trust"
	"github.com/hashicorp/vault/api"
)

var adminRE = regexp.MustCompile(`^[A-Z]{2}$`)

// Defaults of Bootstrap; deploy/vault/bootstrap.sh uses the same values.
const (
	anchorTTL       = "87600h" // 10 years
	intermediateTTL = "43800h" // 5 years
	// DefaultCertTTL is the lifetime of node signing certificates.
	DefaultCertTTL = 24 * time.Hour
	// DefaultTLSCertTTL is the lifetime of nodes' gRPC server certificates.
	DefaultTLSCertTTL = 72 * time.Hour
	// DefaultClientCertTTL is the longest lifetime of gRPC client certificates.
	DefaultClientCertTTL = 30 * 24 * time.Hour
	// DefaultTokenTTL and DefaultTokenMaxTTL bound the tokens of AppRole logins.
	DefaultTokenTTL    = time.Hour
	DefaultTokenMaxTTL = 24 * time.Hour
)

// BootstrapOption adjusts Bootstrap.
type BootstrapOption func(*bootstrapOptions)

// DefaultTLSHosts are the names a node's gRPC server certificate may carry unless
// WithTLSHosts says otherwise: loopback, for development and tests.
var DefaultTLSHosts = []string{"localhost", "127.0.0.1"}

type bootstrapOptions struct {
	certTTL, tokenTTL, tokenMaxTTL time.Duration
	tlsCertTTL, clientCertTTL      time.Duration
	tlsHosts                       []string
	publicURL                      string
}

// WithCertTTL sets the lifetime (and maximum) of node signing certificates (default 24h).
func WithCertTTL(ttl time.Duration) BootstrapOption {
	return func(o *bootstrapOptions) { o.certTTL = ttl }
}

// WithTLSCertTTL sets the lifetime (and maximum) of the nodes' gRPC server
// certificates (default 72h).
func WithTLSCertTTL(ttl time.Duration) BootstrapOption {
	return func(o *bootstrapOptions) { o.tlsCertTTL = ttl }
}

// WithClientCertTTL sets the default and maximum lifetime of gRPC client certificates
// (default 30 days).
func WithClientCertTTL(ttl time.Duration) BootstrapOption {
	return func(o *bootstrapOptions) { o.clientCertTTL = ttl }
}

// WithTLSHosts sets the DNS names and IP addresses a node's gRPC server certificate may
// carry (default DefaultTLSHosts); @NODE@ in a name stands for the node's name, as in
// "@NODE@.cix.example". Vault cannot limit IP addresses to a list: with any IP address
// here, a node may have its server certificate name any IP address, so production
// nodes are best named by DNS names only.
func WithTLSHosts(hosts ...string) BootstrapOption {
	return func(o *bootstrapOptions) { o.tlsHosts = hosts }
}

// WithTokenTTL sets the TTL and maximum TTL of AppRole tokens (default 1h and 24h).
func WithTokenTTL(ttl, maxTTL time.Duration) BootstrapOption {
	return func(o *bootstrapOptions) { o.tokenTTL, o.tokenMaxTTL = ttl, maxTTL }
}

// WithPublicURL sets the Vault address published in certificates (CA issuer and CRL
// URLs); the default is the client's address.
func WithPublicURL(u string) BootstrapOption {
	return func(o *bootstrapOptions) { o.publicURL = strings.TrimRight(u, "/") }
}

// BootstrapResult is what an administration hands out after preparing its Vault.
type BootstrapResult struct {
	// Administration is the ISO 3166-1 alpha-2 code.
	Administration string
	// Anchor is the root CA certificate: the administration's trust anchor, which every
	// receiving node configures (AnchorPEM is the same in PEM).
	Anchor    *x509.Certificate
	AnchorPEM []byte
	// Intermediate certifies node keys; nodes send it with their leaf certificate.
	Intermediate *x509.Certificate
	// NodeRoleIDs are the AppRole role ids by node name; SealRoleID that of the seal.
	NodeRoleIDs map[string]string
	SealRoleID  string

	client *api.Client
}

// NodeSecretID creates a secret id for node's AppRole. With wrapTTL > 0 it returns a
// response-wrapping token (valid for wrapTTL, usable once) instead of the secret id.
func (r *BootstrapResult) NodeSecretID(ctx context.Context, node string, wrapTTL time.Duration) (string, error) {
	return NewSecretID(ctx, r.client, NodeRole(node), wrapTTL)
}

// SealSecretID creates a secret id for the administration seal's AppRole, wrapped when
// wrapTTL > 0.
func (r *BootstrapResult) SealSecretID(ctx context.Context, wrapTTL time.Duration) (string, error) {
	return NewSecretID(ctx, r.client, SealRole, wrapTTL)
}

// NewSecretID creates a secret id for an AppRole role of AppRoleMount. With wrapTTL > 0
// the response is wrapped and the wrapping token is returned.
func NewSecretID(ctx context.Context, client *api.Client, role string, wrapTTL time.Duration) (string, error) {
	c := client
	if wrapTTL > 0 {
		var err error
		if c, err = client.Clone(); err != nil {
			return "", fmt.Errorf("new secret id: %w", err)
		}
		c.SetToken(client.Token())
		ttl := wrapTTL.String()
		c.SetWrappingLookupFunc(func(string, string) string { return ttl })
	}
	s, err := c.Logical().WriteWithContext(ctx, "auth/"+AppRoleMount+"/role/"+role+"/secret-id", nil)
	if err != nil {
		return "", fmt.Errorf("new secret id for %s: %w", role, err)
	}
	if wrapTTL > 0 {
		if s == nil || s.WrapInfo == nil || s.WrapInfo.Token == "" {
			return "", fmt.Errorf("new secret id for %s: response not wrapped", role)
		}
		return s.WrapInfo.Token, nil
	}
	id, _ := dataString(s, "secret_id")
	if id == "" {
		return "", fmt.Errorf("new secret id for %s: no secret_id in response", role)
	}
	return id, nil
}

// Bootstrap prepares the Vault of administration admin for nodes, idempotently: PKI root
// (the trust anchor) and intermediate, per node two PKI roles (signing key, gRPC server
// certificate), a policy and an AppRole role, one PKI role per gRPC client role with the
// policy of client certificate issuers, the Transit seal key with its policy and role,
// and the KV mount of node secrets. Run
// again, it changes nothing but roles and policies (which it rewrites) and adds new
// nodes. An existing root of another administration is an error, never replaced.
//
// client needs a token allowed to manage mounts, auth methods and policies (a root or
// operator token). deploy/vault/bootstrap.sh performs the same steps with the vault CLI.
func Bootstrap(ctx context.Context, client *api.Client, admin string, nodes []string, opts ...BootstrapOption) (*BootstrapResult, error) {
	o := bootstrapOptions{
		certTTL: DefaultCertTTL, tokenTTL: DefaultTokenTTL, tokenMaxTTL: DefaultTokenMaxTTL,
		tlsCertTTL: DefaultTLSCertTTL, clientCertTTL: DefaultClientCertTTL, tlsHosts: DefaultTLSHosts,
		publicURL: strings.TrimRight(client.Address(), "/"),
	}
	for _, opt := range opts {
		opt(&o)
	}
	if !adminRE.MatchString(admin) {
		return nil, fmt.Errorf("bootstrap: administration %q is not an ISO 3166 alpha-2 code", admin)
	}
	for _, n := range nodes {
		if !trust.ValidNodeName(n) {
			return nil, fmt.Errorf("bootstrap: invalid node name %q", n)
		}
		if _, _, err := nodeHosts(o.tlsHosts, n); err != nil {
			return nil, fmt.Errorf("bootstrap: %w", err)
		}
	}
	b := &bootstrapper{c: client, admin: admin, o: o}
	res, err := b.run(ctx, nodes)
	if err != nil {
		return nil, fmt.Errorf("bootstrap vault of %s: %w", admin, err)
	}
	return res, nil
}

type bootstrapper struct {
	c     *api.Client
	admin string
	o     bootstrapOptions
}

func (b *bootstrapper) run(ctx context.Context, nodes []string) (*BootstrapResult, error) {
	mounts := []struct{ path, typ, maxTTL, version string }{
		{RootMount, "pki", anchorTTL, ""},
		{PKIMount, "pki", intermediateTTL, ""},
		{TransitMount, "transit", "", ""},
		{KVMount, "kv", "", "2"},
	}
	for _, m := range mounts {
		if err := b.mount(ctx, m.path, m.typ, m.maxTTL, m.version); err != nil {
			return nil, err
		}
	}
	if err := b.enableAppRole(ctx); err != nil {
		return nil, err
	}
	anchor, err := b.root(ctx)
	if err != nil {
		return nil, err
	}
	inter, err := b.intermediate(ctx, anchor)
	if err != nil {
		return nil, err
	}
	res := &BootstrapResult{
		Administration: b.admin, Anchor: anchor, AnchorPEM: trust.EncodePEM(anchor.Raw),
		Intermediate: inter, NodeRoleIDs: map[string]string{}, client: b.c,
	}
	for _, n := range nodes {
		if res.NodeRoleIDs[n], err = b.node(ctx, n); err != nil {
			return nil, err
		}
	}
	if err := b.clients(ctx); err != nil {
		return nil, err
	}
	if res.SealRoleID, err = b.seal(ctx); err != nil {
		return nil, err
	}
	return res, nil
}

func (b *bootstrapper) mount(ctx context.Context, path, typ, maxTTL, version string) error {
	mounts, err := b.c.Sys().ListMountsWithContext(ctx)
	if err != nil {
		return fmt.Errorf("list mounts: %w", err)
	}
	if m, ok := mounts[path+"/"]; ok {
		if m.Type != typ {
			return fmt.Errorf("mount %s exists with type %s, want %s", path, m.Type, typ)
		}
		if version != "" && m.Options["version"] != version {
			return fmt.Errorf("mount %s exists with version %q, want %s", path, m.Options["version"], version)
		}
		return nil
	}
	in := &api.MountInput{Type: typ, Description: "cix " + b.admin, Config: api.MountConfigInput{MaxLeaseTTL: maxTTL}}
	if version != "" {
		in.Options = map[string]string{"version": version}
	}
	if err := b.c.Sys().MountWithContext(ctx, path, in); err != nil {
		return fmt.Errorf("mount %s: %w", path, err)
	}
	return nil
}

func (b *bootstrapper) enableAppRole(ctx context.Context) error {
	auths, err := b.c.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return fmt.Errorf("list auth methods: %w", err)
	}
	if m, ok := auths[AppRoleMount+"/"]; ok {
		if m.Type != "approle" {
			return fmt.Errorf("auth mount %s exists with type %s", AppRoleMount, m.Type)
		}
		return nil
	}
	if err := b.c.Sys().EnableAuthWithOptionsWithContext(ctx, AppRoleMount, &api.EnableAuthOptions{Type: "approle"}); err != nil {
		return fmt.Errorf("enable approle: %w", err)
	}
	return nil
}

// urls returns the config/urls parameters of a PKI mount.
func (b *bootstrapper) urls(mount string) map[string]any {
	base := b.o.publicURL + "/v1/" + mount
	return map[string]any{"issuing_certificates": base + "/ca", "crl_distribution_points": base + "/crl"}
}

// root returns the administration's anchor, generating it on first run. The CA and CRL
// URLs are (re)written every run, before anything is issued.
func (b *bootstrapper) root(ctx context.Context) (*x509.Certificate, error) {
	if _, err := b.write(ctx, RootMount+"/config/urls", b.urls(RootMount)); err != nil {
		return nil, err
	}
	if c, err := b.caCert(ctx, RootMount); err != nil || c != nil {
		if err != nil {
			return nil, err
		}
		if len(c.Subject.Country) != 1 || c.Subject.Country[0] != b.admin || !c.IsCA {
			return nil, fmt.Errorf("%s holds a root of %v, not of %s", RootMount, c.Subject.Country, b.admin)
		}
		return c, nil
	}
	s, err := b.write(ctx, RootMount+"/root/generate/internal", map[string]any{
		"common_name": "cix " + b.admin + " trust anchor", "country": b.admin,
		"organization": "cix administration " + b.admin, "key_type": "ed25519", "ttl": anchorTTL,
		"max_path_length": 1, "exclude_cn_from_sans": true, "issuer_name": "anchor",
	})
	if err != nil {
		return nil, err
	}
	return certFromData(s, "certificate")
}

// intermediate returns the node CA, generating and certifying it on first run.
func (b *bootstrapper) intermediate(ctx context.Context, anchor *x509.Certificate) (*x509.Certificate, error) {
	if _, err := b.write(ctx, PKIMount+"/config/urls", b.urls(PKIMount)); err != nil {
		return nil, err
	}
	c, err := b.caCert(ctx, PKIMount)
	if err != nil {
		return nil, err
	}
	if c == nil {
		subject := map[string]any{
			"common_name": "cix " + b.admin + " node CA", "country": b.admin,
			"organization": "cix administration " + b.admin, "exclude_cn_from_sans": true,
		}
		s, err := b.write(ctx, PKIMount+"/intermediate/generate/internal", merge(subject, map[string]any{"key_type": "ed25519"}))
		if err != nil {
			return nil, err
		}
		csr, _ := dataString(s, "csr")
		s, err = b.write(ctx, RootMount+"/root/sign-intermediate", merge(subject, map[string]any{
			"csr": csr, "ttl": intermediateTTL, "max_path_length": 0, "format": "pem",
		}))
		if err != nil {
			return nil, err
		}
		pem, _ := dataString(s, "certificate")
		if _, err := b.write(ctx, PKIMount+"/intermediate/set-signed", map[string]any{"certificate": pem}); err != nil {
			return nil, err
		}
		if c, err = b.caCert(ctx, PKIMount); err != nil {
			return nil, err
		}
		if c == nil {
			return nil, fmt.Errorf("%s has no issuer after set-signed", PKIMount)
		}
	}
	if err := c.CheckSignatureFrom(anchor); err != nil {
		return nil, fmt.Errorf("%s issuer is not certified by the %s anchor: %w", PKIMount, b.admin, err)
	}
	if _, err := b.write(ctx, PKIMount+"/config/crl", map[string]any{"expiry": "72h", "disable": false}); err != nil {
		return nil, err
	}
	return c, nil
}

// caCert returns the default issuer of a PKI mount, or nil when it has none yet.
func (b *bootstrapper) caCert(ctx context.Context, mount string) (*x509.Certificate, error) {
	list, err := b.c.Logical().ListWithContext(ctx, mount+"/issuers")
	if err != nil {
		return nil, fmt.Errorf("list issuers of %s: %w", mount, err)
	}
	if list == nil || len(list.Data) == 0 {
		return nil, nil
	}
	s, err := b.c.Logical().ReadWithContext(ctx, mount+"/cert/ca")
	if err != nil {
		return nil, fmt.Errorf("read CA of %s: %w", mount, err)
	}
	c, err := certFromData(s, "certificate")
	if err != nil {
		return nil, fmt.Errorf("CA of %s: %w", mount, err)
	}
	if _, ok := c.PublicKey.(ed25519.PublicKey); !ok {
		return nil, fmt.Errorf("CA of %s does not have an ed25519 key", mount)
	}
	return c, nil
}

// roleParams are the parameters of a PKI role that signs CSRs of ed25519 keys for ttl,
// with the names and subject of the request (never those of the CSR), digital signature
// only, and nothing else allowed: allow sets what the role does allow.
func (b *bootstrapper) roleParams(ttl time.Duration, allow map[string]any) map[string]any {
	return merge(map[string]any{
		"key_type": "ed25519", "allowed_uri_sans": []string{}, "allowed_uri_sans_template": false,
		"allow_any_name": false, "allowed_domains": []string{}, "allow_bare_domains": false, "allow_subdomains": false,
		"allow_glob_domains": false, "allow_wildcard_certificates": false, "allow_localhost": false, "allow_ip_sans": false,
		"allowed_other_sans": []string{}, "allowed_serial_numbers": []string{}, "enforce_hostnames": false,
		"require_cn": false, "use_csr_common_name": false, "use_csr_sans": false, "country": b.admin,
		"organization": "cix administration " + b.admin, "ou": []string{}, "ttl": ttl.String(), "max_ttl": ttl.String(),
		"key_usage": []string{"DigitalSignature"}, "ext_key_usage": []string{},
		"server_flag": false, "client_flag": false, "code_signing_flag": false,
		"email_protection_flag": false, "basic_constraints_valid_for_non_ca": true, "no_store": false,
	}, allow)
}

// nodeRoleParams are the PKI role restricting a node's signing certificates to its own
// URI SAN and the common name "cix node <node>" (the only "domain" allowed, as a bare
// name; not a hostname, so it is not copied into the DNS SANs).
func (b *bootstrapper) nodeRoleParams(node string) map[string]any {
	return b.roleParams(b.o.certTTL, map[string]any{
		"allowed_uri_sans": trust.NodeURI(b.admin, node).String(), "allowed_domains": []string{NodeCommonName(node)},
		"allow_bare_domains": true,
	})
}

// tlsServerRoleParams are the PKI role of a node's gRPC server certificates: server
// authentication for the node's host names and addresses exactly (no subdomain, no
// wildcard), and no URI SAN, so a server certificate never passes for a node's signing
// certificate.
func (b *bootstrapper) tlsServerRoleParams(node string) map[string]any {
	dns, ips, _ := nodeHosts(b.o.tlsHosts, node)
	return b.roleParams(b.o.tlsCertTTL, map[string]any{
		"allowed_domains": dns, "allow_bare_domains": true, "enforce_hostnames": true, "allow_ip_sans": len(ips) > 0,
		"server_flag": true,
	})
}

// tlsClientRoleParams are the PKI role of client certificates with role: client
// authentication for URI SANs urn:cix:client:<ADMIN>:<role>:<name> only, so that a
// certificate of one role cannot be signed under another role's name.
func (b *bootstrapper) tlsClientRoleParams(role trust.Role) map[string]any {
	return b.roleParams(b.o.clientCertTTL, map[string]any{
		"allowed_uri_sans": trust.ClientURI(b.admin, role, "*").String(), "ou": []string{string(role)},
		"client_flag": true,
	})
}

// nodeHosts splits a node's TLS host names (@NODE@ replaced) into DNS names and IP
// addresses.
func nodeHosts(hosts []string, node string) (dns, ips []string, err error) {
	if len(hosts) == 0 {
		return nil, nil, errors.New("no TLS host names")
	}
	for _, h := range hosts {
		h = strings.ReplaceAll(h, "@NODE@", node)
		switch {
		case !trust.ValidHost(h):
			return nil, nil, fmt.Errorf("TLS host %q is neither a host name nor an IP address", h)
		case net.ParseIP(h) != nil:
			ips = append(ips, h)
		default:
			dns = append(dns, h)
		}
	}
	return dns, ips, nil
}

// appRoleParams are the parameters of an AppRole role bound to policy.
func (b *bootstrapper) appRoleParams(policy string) map[string]any {
	return map[string]any{
		"token_policies": []string{policy}, "token_no_default_policy": true, "token_type": "service",
		"token_ttl": b.o.tokenTTL.String(), "token_max_ttl": b.o.tokenMaxTTL.String(),
		"bind_secret_id": true, "secret_id_ttl": "0", "secret_id_num_uses": 0,
	}
}

// node creates node's PKI roles (signing key, gRPC server), policy and AppRole role
// and returns the role id.
func (b *bootstrapper) node(ctx context.Context, node string) (string, error) {
	if _, err := b.write(ctx, PKIMount+"/roles/"+NodeRole(node), b.nodeRoleParams(node)); err != nil {
		return "", err
	}
	if _, err := b.write(ctx, PKIMount+"/roles/"+TLSServerRole(node), b.tlsServerRoleParams(node)); err != nil {
		return "", err
	}
	return b.appRole(ctx, NodeRole(node), NodePolicy(node), "node", node)
}

// clients creates the PKI role of each client role and the policy of client
// certificate issuers.
func (b *bootstrapper) clients(ctx context.Context) error {
	for _, r := range trust.Roles {
		if _, err := b.write(ctx, PKIMount+"/roles/"+TLSClientRole(r), b.tlsClientRoleParams(r)); err != nil {
			return err
		}
	}
	return b.policy(ctx, ClientIssuerPolicy, "client-issuer", "")
}

// seal creates the Transit seal key (never exportable) and its policy and AppRole role.
func (b *bootstrapper) seal(ctx context.Context) (string, error) {
	path := TransitMount + "/keys/" + SealKey
	s, err := b.c.Logical().ReadWithContext(ctx, path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if s == nil {
		if _, err := b.write(ctx, path, map[string]any{"type": "ed25519", "exportable": false, "allow_plaintext_backup": false}); err != nil {
			return "", err
		}
	} else if typ, _ := dataString(s, "type"); typ != "ed25519" {
		return "", fmt.Errorf("%s exists with type %q, want ed25519", path, typ)
	} else if exp, _ := s.Data["exportable"].(bool); exp {
		return "", fmt.Errorf("%s is exportable", path)
	}
	if _, err := b.write(ctx, PKIMount+"/roles/"+SealPKIRole, b.sealRoleParams()); err != nil {
		return "", err
	}
	return b.appRole(ctx, SealRole, SealPolicy, "admin-seal", "")
}

// sealRoleParams are the PKI role restricting seal certificates to the URI SANs
// urn:cix:seal:<ADMIN>:v<N>, ed25519 keys and digital signatures.
func (b *bootstrapper) sealRoleParams() map[string]any {
	return map[string]any{
		"key_type": "ed25519", "allowed_uri_sans": "urn:cix:seal:" + b.admin + ":v*",
		"allowed_uri_sans_template": false, "allow_any_name": false, "allowed_domains": []string{},
		"allow_bare_domains": false, "allow_subdomains": false, "allow_glob_domains": false,
		"allow_wildcard_certificates": false, "allow_localhost": false, "allow_ip_sans": false, "allowed_other_sans": []string{},
		"enforce_hostnames": false, "require_cn": false, "use_csr_common_name": false, "use_csr_sans": false,
		"country": b.admin, "organization": "cix administration " + b.admin, "ou": []string{},
		"ttl": SealCertTTL.String(), "max_ttl": SealCertTTL.String(), "key_usage": []string{"DigitalSignature"}, "ext_key_usage": []string{},
		"server_flag": false, "client_flag": false, "code_signing_flag": false, "email_protection_flag": false,
		"basic_constraints_valid_for_non_ca": true, "no_store": false,
	}
}

// appRole writes policy (rendered from template) and an AppRole role bound to it, and
// returns the role id.
func (b *bootstrapper) appRole(ctx context.Context, role, policy, template, node string) (string, error) {
	if err := b.policy(ctx, policy, template, node); err != nil {
		return "", err
	}
	rolePath := "auth/" + AppRoleMount + "/role/" + role
	if _, err := b.write(ctx, rolePath, b.appRoleParams(policy)); err != nil {
		return "", err
	}
	s, err := b.c.Logical().ReadWithContext(ctx, rolePath+"/role-id")
	if err != nil {
		return "", fmt.Errorf("read role id of %s: %w", role, err)
	}
	id, _ := dataString(s, "role_id")
	if id == "" {
		return "", fmt.Errorf("no role id for %s", role)
	}
	return id, nil
}

// policy writes policy, rendered from template.
func (b *bootstrapper) policy(ctx context.Context, policy, template, node string) error {
	rules, err := RenderPolicy(template, b.admin, node)
	if err != nil {
		return err
	}
	if err := b.c.Sys().PutPolicyWithContext(ctx, policy, rules); err != nil {
		return fmt.Errorf("write policy %s: %w", policy, err)
	}
	return nil
}

func (b *bootstrapper) write(ctx context.Context, path string, data map[string]any) (*api.Secret, error) {
	s, err := b.c.Logical().WriteWithContext(ctx, path, data)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return s, nil
}

func merge(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func dataString(s *api.Secret, key string) (string, bool) {
	if s == nil || s.Data == nil {
		return "", false
	}
	v, ok := s.Data[key].(string)
	return v, ok
}

func certFromData(s *api.Secret, key string) (*x509.Certificate, error) {
	p, _ := dataString(s, key)
	if p == "" {
		return nil, errors.New("no certificate in response")
	}
	cs, err := trust.ParseCertificatesPEM([]byte(p))
	if err != nil {
		return nil, err
	}
	return cs[0], nil
}
