# Policy of the administration seal of @ADMIN@ (rendered from
# internal/vault/policies/admin-seal.hcl by the Go bootstrap and by
# deploy/vault/bootstrap.sh).
#
# The holder signs administration-level documents with the non-exportable Transit key
# admin-seal and reads its public keys to publish them. Rotation and retirement of key
# versions stay with the administration's Vault operators.

path "transit-cix/sign/admin-seal" {
  capabilities = ["update"]
}

path "transit-cix/keys/admin-seal" {
  capabilities = ["read"]
}

# Certify the seal's public key (a CSR signed through Transit) under the PKI role seal,
# which certifies only urn:cix:seal:@ADMIN@:v<N>, so that receivers verify seal
# signatures against the administration's trust anchor.
path "pki-cix/sign/seal" {
  capabilities = ["update"]
}

# Token upkeep (the token is issued without Vault's default policy).
path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}
