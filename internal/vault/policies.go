package vault

import (
	"embed"
	"fmt"
	"strings"
	"time"

	"github.com/cix-exchange/cix/internal/trust"
)

// policyFS holds the policy templates. deploy/vault/bootstrap.sh renders the same files
// with sed, so the Go bootstrap and the script cannot drift apart.
//
//go:embed policies/*.hcl
var policyFS embed.FS

// Names of the Vault objects cix uses in an administration's Vault. bootstrap.sh uses
// the same names.
const (
	// RootMount is the PKI mount of the administration's root CA, the trust anchor.
	RootMount = "pki-cix-root"
	// PKIMount is the PKI mount of the intermediate that certifies node keys.
	PKIMount = "pki-cix"
	// TransitMount holds the administration seal key.
	TransitMount = "transit-cix"
	// KVMount is the KV version 2 mount of node secrets (nodes/<node>/nats).
	KVMount = "kv-cix"
	// AppRoleMount is the AppRole auth mount (auth/approle-cix).
	AppRoleMount = "approle-cix"
	// SealKey is the Transit key of the administration seal.
	SealKey = "admin-seal"
	// SealRole is the AppRole role and SealPolicy the policy of the seal's holder.
	SealRole   = "admin-seal"
	SealPolicy = "cix-admin-seal"
	// SealPKIRole is the PKI role that certifies seal versions.
	SealPKIRole = "seal"
	// SealCertTTL is the lifetime of a seal certificate. Receivers check it at the time
	// a sealed document was stored, so a short one suffices: each signing session gets a
	// fresh certificate.
	SealCertTTL = 30 * 24 * time.Hour
	// ClientIssuerPolicy lets the administration's operators have client certificates
	// signed under the TLSClientRole roles, and nothing else. Bootstrap writes it; the
	// operators' own auth method (OIDC, userpass, ...) attaches it to their tokens.
	ClientIssuerPolicy = "cix-client-issuer"
)

// NodeRole is the name of a node's PKI role and of its AppRole role.
func NodeRole(node string) string { return "node-" + node }

// TLSServerRole is the name of the PKI role of a node's gRPC server certificates.
func TLSServerRole(node string) string { return "tls-server-" + node }

// TLSClientRole is the name of the PKI role of client certificates with role, which
// certify only URI SANs urn:cix:client:<ADMIN>:<role>:<name>.
func TLSClientRole(role trust.Role) string { return "tls-client-" + string(role) }

// NodeCommonName is the subject common name of a node's certificates.
func NodeCommonName(node string) string { return "cix node " + node }

// NodePolicy is the name of a node's policy.
func NodePolicy(node string) string { return "cix-node-" + node }

// NodeCredsPath is the KV path (under KVMount) of a node's NATS credentials.
func NodeCredsPath(node string) string { return "nodes/" + node + "/nats" }

// NodeCredsKV names a node's NATS credentials as the vault CLI does (vault kv get
// kv-cix/nodes/<node>/nats), for messages.
func NodeCredsKV(node string) string { return KVMount + "/" + NodeCredsPath(node) }

// RenderPolicy renders the policy template name ("node", "admin-seal" or
// "client-issuer") for admin and node, replacing @ADMIN@ and @NODE@.
func RenderPolicy(name, admin, node string) (string, error) {
	b, err := policyFS.ReadFile("policies/" + name + ".hcl")
	if err != nil {
		return "", fmt.Errorf("policy template %q: %w", name, err)
	}
	return strings.NewReplacer("@ADMIN@", admin, "@NODE@", node).Replace(string(b)), nil
}
