#!/usr/bin/env bash
# Prepares an administration's Vault for cix, once, with the vault CLI. It performs the
# same steps as vault.Bootstrap (internal/vault/bootstrap.go, used by the tests and by
# `cix demo --vault`) and renders the same policy templates (internal/vault/policies);
# a test runs both against real Vault servers and compares what they configured.
#
#   export VAULT_ADDR=https://vault.nl.example:8200 VAULT_TOKEN=...   # an operator token
#   ADMIN=NL NODES="nl-1 nl-2" bash deploy/vault/bootstrap.sh
#
# Optional variables:
#   OUT            directory for <ADMIN>-anchor.pem and role-ids.txt   (default: .)
#   CERT_TTL       lifetime of node signing certificates               (default: 24h)
#   TLS_CERT_TTL   lifetime of nodes' gRPC server certificates         (default: 72h)
#   CLIENT_CERT_TTL  longest lifetime of gRPC client certificates      (default: 720h)
#   TLS_HOSTS      DNS names and IP addresses of nodes' gRPC server certificates,
#                  separated by spaces; @NODE@ stands for the node name, as in
#                  "@NODE@.cix.nl.example"                   (default: "localhost 127.0.0.1")
#                  Vault cannot limit IP addresses to a list: with any IP address here,
#                  a node may have its server certificate name any IP address.
#   TOKEN_TTL      TTL of AppRole tokens                               (default: 1h)
#   TOKEN_MAX_TTL  maximum TTL of AppRole tokens                       (default: 24h)
#   PUBLIC_URL     Vault address published in certificates (CA, CRL)   (default: VAULT_ADDR)
#   POLICY_DIR     policy templates             (default: internal/vault/policies of this repo)
#   VAULT          the vault CLI                                       (default: vault)
#
# Idempotent: mounts, the root, the intermediate and the seal key are created only when
# missing; roles and policies are rewritten; new nodes are added. An existing root of
# another administration stops the script. Secret ids are not created here: create one
# per node when installing it, preferably response-wrapped:
#
#   vault write -wrap-ttl=10m -f auth/approle-cix/role/node-nl-1/secret-id
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
: "${ADMIN:?set ADMIN to the ISO 3166-1 alpha-2 code of the administration}"
: "${NODES:?set NODES, the node names separated by spaces}"
: "${VAULT_ADDR:?set VAULT_ADDR}"
OUT=${OUT:-.}
CERT_TTL=${CERT_TTL:-24h}
TLS_CERT_TTL=${TLS_CERT_TTL:-72h}
CLIENT_CERT_TTL=${CLIENT_CERT_TTL:-720h}
TLS_HOSTS=${TLS_HOSTS:-localhost 127.0.0.1}
TOKEN_TTL=${TOKEN_TTL:-1h}
TOKEN_MAX_TTL=${TOKEN_MAX_TTL:-24h}
PUBLIC_URL=${PUBLIC_URL:-$VAULT_ADDR}
PUBLIC_URL=${PUBLIC_URL%/}
POLICY_DIR=${POLICY_DIR:-$here/../../internal/vault/policies}
VAULT=${VAULT:-vault}

[[ $ADMIN =~ ^[A-Z]{2}$ ]] || { echo "ADMIN=$ADMIN is not an ISO 3166-1 alpha-2 code" >&2; exit 2; }
host_re='^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$'
ip_re='^([0-9]{1,3}\.){3}[0-9]{1,3}$|^[0-9a-fA-F:.]*:[0-9a-fA-F:.]*$'
[ -n "${TLS_HOSTS// /}" ] || { echo "TLS_HOSTS is empty" >&2; exit 2; }
for node in $NODES; do
  [[ $node =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]] || { echo "invalid node name $node" >&2; exit 2; }
  read -ra hosts <<<"${TLS_HOSTS//@NODE@/$node}"
  for h in "${hosts[@]}"; do
    [[ $h =~ $host_re || $h =~ $ip_re ]] || { echo "TLS host $h is neither a host name nor an IP address" >&2; exit 2; }
  done
done
for t in node admin-seal client-issuer; do
  [ -r "$POLICY_DIR/$t.hcl" ] || { echo "policy template $POLICY_DIR/$t.hcl not found (set POLICY_DIR)" >&2; exit 2; }
done
mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step() { printf '== %s\n' "$*" >&2; }
v() { "$VAULT" "$@"; }

# ensure_mount PATH TYPE [ARGS...]: enable a secrets engine unless PATH is mounted.
ensure_mount() {
  local path=$1 type=$2 have
  shift 2
  if have=$(v read -field=type "sys/mounts/$path" 2>/dev/null); then
    [ "$have" = "$type" ] || { echo "mount $path exists with type $have, want $type" >&2; exit 1; }
    return
  fi
  step "enable $type at $path"
  v secrets enable -path="$path" -description="cix $ADMIN" "$@" "$type" >/dev/null
}

# pki_role NAME TTL [KEY=VALUE...]: a PKI role of pki-cix that signs CSRs of ed25519 keys
# for TTL, with the names and subject of the request (never those of the CSR), digital
# signature only, and nothing else allowed: the KEY=VALUE pairs set what it does allow.
pki_role() {
  local name=$1 ttl=$2 kv k
  shift 2
  local -A p=(
    [key_type]=ed25519 [allowed_uri_sans]="" [allowed_uri_sans_template]=false
    [allow_any_name]=false [allowed_domains]="" [allow_bare_domains]=false [allow_subdomains]=false
    [allow_glob_domains]=false [allow_wildcard_certificates]=false [allow_localhost]=false [allow_ip_sans]=false
    [allowed_other_sans]="" [allowed_serial_numbers]="" [enforce_hostnames]=false
    [require_cn]=false [use_csr_common_name]=false [use_csr_sans]=false [country]="$ADMIN"
    [organization]="cix administration $ADMIN" [ou]="" [ttl]="$ttl" [max_ttl]="$ttl"
    [key_usage]=DigitalSignature [ext_key_usage]="" [server_flag]=false [client_flag]=false
    [code_signing_flag]=false [email_protection_flag]=false [basic_constraints_valid_for_non_ca]=true
    [no_store]=false
  )
  for kv in "$@"; do p[${kv%%=*}]=${kv#*=}; done
  local args=()
  for k in "${!p[@]}"; do args+=("$k=${p[$k]}"); done
  v write "pki-cix/roles/$name" "${args[@]}" >/dev/null
}

# render TEMPLATE NODE: the policy template with @ADMIN@ and @NODE@ replaced.
render() { sed -e "s/@ADMIN@/$ADMIN/g" -e "s/@NODE@/$2/g" "$POLICY_DIR/$1.hcl"; }

# approle ROLE POLICY TEMPLATE NODE: policy and AppRole role; prints the role id.
approle() {
  render "$3" "$4" | v policy write "$2" - >/dev/null
  v write "auth/approle-cix/role/$1" \
    token_policies="$2" token_no_default_policy=true token_type=service \
    token_ttl="$TOKEN_TTL" token_max_ttl="$TOKEN_MAX_TTL" \
    bind_secret_id=true secret_id_ttl=0 secret_id_num_uses=0 >/dev/null
  v read -field=role_id "auth/approle-cix/role/$1/role-id"
}

step "mounts"
ensure_mount pki-cix-root pki -max-lease-ttl=87600h
ensure_mount pki-cix pki -max-lease-ttl=43800h
ensure_mount transit-cix transit
ensure_mount kv-cix kv -version=2
if have=$(v read -field=type sys/auth/approle-cix 2>/dev/null); then
  [ "$have" = approle ] || { echo "auth mount approle-cix exists with type $have" >&2; exit 1; }
else
  step "enable approle at auth/approle-cix"
  v auth enable -path=approle-cix approle >/dev/null
fi

step "root CA (trust anchor of $ADMIN)"
v write pki-cix-root/config/urls \
  issuing_certificates="$PUBLIC_URL/v1/pki-cix-root/ca" \
  crl_distribution_points="$PUBLIC_URL/v1/pki-cix-root/crl" >/dev/null
if v list pki-cix-root/issuers >/dev/null 2>&1; then
  v read -field=certificate pki-cix-root/cert/ca >"$tmp/anchor.pem"
  if command -v openssl >/dev/null 2>&1; then
    subject=$(openssl x509 -in "$tmp/anchor.pem" -noout -subject -nameopt RFC2253)
    [[ $subject == *"C=$ADMIN"* ]] || { echo "pki-cix-root holds another root: $subject" >&2; exit 1; }
  fi
else
  v write -field=certificate pki-cix-root/root/generate/internal \
    common_name="cix $ADMIN trust anchor" country="$ADMIN" organization="cix administration $ADMIN" \
    key_type=ed25519 ttl=87600h max_path_length=1 exclude_cn_from_sans=true issuer_name=anchor \
    >"$tmp/anchor.pem"
fi
cp "$tmp/anchor.pem" "$OUT/$ADMIN-anchor.pem"

step "intermediate CA (certifies node keys)"
v write pki-cix/config/urls \
  issuing_certificates="$PUBLIC_URL/v1/pki-cix/ca" \
  crl_distribution_points="$PUBLIC_URL/v1/pki-cix/crl" >/dev/null
if ! v list pki-cix/issuers >/dev/null 2>&1; then
  subject=(common_name="cix $ADMIN node CA" country="$ADMIN" organization="cix administration $ADMIN" exclude_cn_from_sans=true)
  v write -field=csr pki-cix/intermediate/generate/internal "${subject[@]}" key_type=ed25519 >"$tmp/int.csr"
  v write -field=certificate pki-cix-root/root/sign-intermediate "${subject[@]}" \
    csr=@"$tmp/int.csr" ttl=43800h max_path_length=0 format=pem >"$tmp/int.pem"
  v write pki-cix/intermediate/set-signed certificate=@"$tmp/int.pem" >/dev/null
fi
v write pki-cix/config/crl expiry=72h disable=false >/dev/null

: >"$OUT/role-ids.txt"
for node in $NODES; do
  step "node $node"
  pki_role "node-$node" "$CERT_TTL" \
    allowed_uri_sans="urn:cix:node:$ADMIN:$node" allowed_domains="cix node $node" allow_bare_domains=true
  dns=() ips=()
  read -ra hosts <<<"${TLS_HOSTS//@NODE@/$node}"
  for h in "${hosts[@]}"; do
    if [[ $h =~ $ip_re ]]; then ips+=("$h"); else dns+=("$h"); fi
  done
  pki_role "tls-server-$node" "$TLS_CERT_TTL" \
    allowed_domains="$(IFS=,; echo "${dns[*]}")" allow_bare_domains=true enforce_hostnames=true \
    allow_ip_sans=$([ ${#ips[@]} -gt 0 ] && echo true || echo false) server_flag=true
  echo "node-$node $(approle "node-$node" "cix-node-$node" node "$node")" >>"$OUT/role-ids.txt"
done

step "gRPC client roles and the policy of client certificate issuers"
for role in publisher analyst assistance-officer admin; do
  pki_role "tls-client-$role" "$CLIENT_CERT_TTL" \
    allowed_uri_sans="urn:cix:client:$ADMIN:$role:*" ou="$role" client_flag=true
done
render client-issuer "" | v policy write cix-client-issuer - >/dev/null

step "administration seal (Transit key admin-seal)"
if ! v read transit-cix/keys/admin-seal >/dev/null 2>&1; then
  v write transit-cix/keys/admin-seal type=ed25519 exportable=false allow_plaintext_backup=false >/dev/null
fi
[ "$(v read -field=type transit-cix/keys/admin-seal)" = ed25519 ] || { echo "transit-cix/keys/admin-seal is not ed25519" >&2; exit 1; }
# The seal's public key is certified under the anchor (URI SAN urn:cix:seal:<ADMIN>:v<N>),
# so receivers verify seal signatures with the anchor alone.
v write pki-cix/roles/seal \
  key_type=ed25519 allowed_uri_sans="urn:cix:seal:$ADMIN:v*" allowed_uri_sans_template=false \
  allow_any_name=false allowed_domains="" allow_bare_domains=false allow_subdomains=false \
  allow_glob_domains=false allow_wildcard_certificates=false allow_localhost=false \
  allow_ip_sans=false allowed_other_sans="" enforce_hostnames=false require_cn=false \
  use_csr_common_name=false use_csr_sans=false country="$ADMIN" \
  organization="cix administration $ADMIN" ou="" ttl=720h max_ttl=720h \
  key_usage=DigitalSignature ext_key_usage="" server_flag=false client_flag=false \
  code_signing_flag=false email_protection_flag=false basic_constraints_valid_for_non_ca=true \
  no_store=false >/dev/null
echo "admin-seal $(approle admin-seal cix-admin-seal admin-seal "")" >>"$OUT/role-ids.txt"

echo "trust anchor: $OUT/$ADMIN-anchor.pem"
echo "AppRole role ids (role id): $OUT/role-ids.txt"
cat "$OUT/role-ids.txt"
