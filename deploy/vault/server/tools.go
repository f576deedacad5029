//go:build tools

// Package server pins the HashiCorp Vault server that tests and `cix demo --vault` run
// (in dev mode). It is its own module so that the node's go.mod never depends on Vault's
// server code; .ci/vault.sh builds it with
//
//	go build -ldflags "-s -w" -o .ci/tools/bin/vault github.com/hashicorp/vault
package server

import _ "github.com/hashicorp/vault"
