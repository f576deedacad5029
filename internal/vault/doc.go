// Package vault keeps a node's credentials in HashiCorp Vault.
//
// Each administration runs its own Vault, prepared once by Bootstrap (or
// deploy/vault/bootstrap.sh, which performs the same steps with the vault CLI and the
// same policy templates, policies/*.hcl):
//
//	pki-cix-root   PKI   root CA, ed25519, subject C=<ADMIN>: the administration's trust anchor
//	pki-cix        PKI   intermediate under the root; role node-<node> per node signs CSRs
//	                     for ed25519 keys naming only urn:cix:node:<ADMIN>:<node>, ~24h;
//	                     role tls-server-<node> its gRPC server certificates (its host
//	                     names only, 72h); role tls-client-<role> per client role signs
//	                     client certificates naming urn:cix:client:<ADMIN>:<role>:* only
//	transit-cix    Transit  non-exportable ed25519 key admin-seal (the administration seal)
//	kv-cix         KV v2 nodes/<node>/nats: the node's NATS .creds (field "creds")
//	auth/approle-cix     AppRole: role node-<node> (policy cix-node-<node>: sign its own
//	                     CSRs, read its own secrets) and role admin-seal (Transit sign)
//	cix-client-issuer    policy of the operators who issue client certificates (sign at
//	                     the tls-client-<role> roles only)
//
// A node uses the package in this order:
//
//   - Login authenticates (AppRole in production, token in development) and returns a
//     Session that keeps the token alive and logs in again when renewal ends.
//   - NewIdentity gets the node's first certificate: a fresh ed25519 key generated in
//     memory, its CSR signed by the node's PKI role. Identity implements trust.Identity;
//     its Run renews at two thirds of the lifetime, retrying with backoff while the
//     current certificate is valid, so a Vault outage does not stop publishing until the
//     certificate expires. Status reports ok, degraded or expired.
//   - NewTLSCertificate does the same for the node's gRPC server certificate, served by
//     its GetCertificate with the node CA; it renews on the same schedule (one renewer
//     serves both) and never serves an expired certificate.
//   - ReadNATSCreds and CredsWatcher provide the NATS credentials and their rotations.
//   - Seal signs administration-level documents with Transit; SealKeys verifies them,
//     by key version, refusing retired versions.
//
// IssueClientCertificate is the operators' side: a client certificate for a role, its
// key generated locally (cix cert issue).
//
// Package vaulttest runs a real dev-mode Vault for tests.
package vault
