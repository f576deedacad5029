# Policy of cix node @NODE@ of administration @ADMIN@ (rendered from
# internal/vault/policies/node.hcl by the Go bootstrap and by deploy/vault/bootstrap.sh).
#
# Least privilege: the node may have its own CSRs signed under its own PKI role, which
# certifies only urn:cix:node:@ADMIN@:@NODE@, read its own secrets, and keep its own
# token alive. Nothing else: no other node's role or secrets, no Transit, no PKI
# administration.

# Certify the node's signing key (a CSR; the private key never leaves the node).
path "pki-cix/sign/node-@NODE@" {
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
