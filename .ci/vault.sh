#!/usr/bin/env bash
# Builds the Vault server used by the tests (internal/vault/vaulttest) and the demo into
# .ci/tools/bin/vault (git-ignored) when it is missing or of another version, and prints
# its path. The version is the one pinned by deploy/vault/server/go.mod, a module of its
# own so that the node's go.mod never depends on Vault's server code. The first build
# takes several minutes.
#
#   export CIX_VAULT_BIN=$(bash .ci/vault.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
want=$(awk '{ for (i = 1; i < NF; i++) if ($i == "github.com/hashicorp/vault") { print $(i + 1); exit } }' deploy/vault/server/go.mod)
[ -n "$want" ] || { echo "deploy/vault/server/go.mod does not require github.com/hashicorp/vault" >&2; exit 1; }
bin=$root/.ci/tools/bin/vault

if [ -x "$bin" ] && [ "$("$bin" version 2>/dev/null | awk '{ sub(/,$/, "", $2); print $2; exit }')" = "$want" ]; then
  echo "$bin"
  exit 0
fi
echo "building vault $want into $bin (several minutes on a cold module cache)" >&2
mkdir -p "$(dirname "$bin")"
(cd deploy/vault/server && go build -ldflags "-s -w" -o "$bin.tmp" github.com/hashicorp/vault) >&2
mv "$bin.tmp" "$bin"
got=$("$bin" version | awk '{ sub(/,$/, "", $2); print $2; exit }')
[ "$got" = "$want" ] || { echo "built vault reports version $got, want $want" >&2; exit 1; }
echo "$bin"
