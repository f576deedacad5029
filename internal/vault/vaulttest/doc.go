// Package vaulttest runs a real HashiCorp Vault server in dev mode for tests (and for
// demos): Start(t) launches `vault server -dev` on a free loopback port with a random
// root token, waits until it answers, and stops it when the test ends.
//
// The binary is $CIX_VAULT_BIN, else <repo>/.ci/tools/bin/vault (built by
// .ci/vault.sh), else `vault` on PATH. Without one, Start skips the test, unless
// CIX_REQUIRE_VAULT=1 (set by the test command), which makes a missing binary a failure.
//
// Clients reach the server through a loopback relay, so that Stop and Restart can make
// Vault unreachable and reachable again while it keeps its in-memory state (a dev
// server's state would not survive a real restart).
//
// Launch starts a server outside a test (for example for `cix demo --vault`); the caller
// Closes it.
package vaulttest
