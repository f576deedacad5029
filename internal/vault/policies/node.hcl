# Policy of cix node @NODE@ of administration @ADMIN@ (rendered from
# internal/vault/policies/node.hcl by the Go bootstrap and by deploy/vault/bootstrap.sh).
#
# Least privilege: the node may have its own CSRs signed under its own PKI roles (its
# signing key, certified only as urn:cix:node:@ADMIN@:@NODE@, and its gRPC server key,
# certified only for its configured host names), read its own secrets, and keep its own
# token alive. Nothing else: no other node's roles or secrets, no client certificates,
# no Transit, no PKI administration.

# Certify the node's signing key (a CSR; the private key never leaves the node).
path "pki-cix/sign/node-@NODE@" {
  capabilities = ["update"]
}

# Certify the node's gRPC TLS server key (a CSR too; the key stays in memory).
path "pki-cix/sign/tls-server-@NODE@" {
  capabilities = ["update"]
}

# The node's own secrets, for example its NATS credentials (nodes/@NODE@/nats).
path "kv-cix/data/nodes/@NODE@/*" {
  capabilities = ["read"]
}

# Token upkeep (the token is issued without Vault's default policy).
path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}
