// Package trust holds cix's identities and the verification of who signed what.
//
// An administration is identified by a trust anchor: an X.509 CA certificate with an
// Ed25519 key whose subject country is the administration's ISO 3166-1 alpha-2 code.
// Each of its nodes signs with an Ed25519 node key certified by that anchor (directly or
// through an intermediate). The node certificate names the node in a URI SAN
// "urn:cix:node:<ADMIN>:<node>", so a verifier learns the administration from a
// certificate it has checked against that administration's own anchor, never from the
// message.
//
// Identity is what a node signs with: Current returns the key in force, so backends can
// rotate keys (the local development keystore here, Vault PKI later) behind one interface.
// Verifier checks a signature -> node certificate -> administration anchor and caches
// verified chains by key id, so steady-state verification costs one Ed25519 verify.
package trust
