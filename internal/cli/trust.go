package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cix-exchange/cix/internal/envelope"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	trustv1 "github.com/cix-exchange/cix/internal/gen/cix/trust/v1"
	"github.com/cix-exchange/cix/internal/revocation"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/cix-exchange/cix/internal/vault"
	"github.com/hashicorp/vault/api"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var cmdTrust = &command{
	name: "trust", args: "revoke|publish|list ...",
	summary: "revoke node keys or retire seal versions, federation-wide",
	help: `
  cix trust revoke --admin XX --node NAME (--key-id HEX | --all-keys) --reason R [--effective TIME]
                   (--keystore DIR | --vault) [--out FILE] [--comment TEXT]
  cix trust revoke --admin XX --seal-below N --reason superseded (--keystore DIR | --vault)
  cix trust publish FILE
  cix trust list [--json]

revoke makes a revocation notice, seals it with the administration seal and publishes it
through the node (admin role) on the federation's trust stream, where every node applies
it: messages stored from the effective time on and signed by the revoked key are
quarantined (reason revoked_key); earlier ones keep verifying. --key-id revokes one node
certificate (its key id, as "cix get --json" shows); --all-keys every certificate of the
node issued before the effective time (a compromised or decommissioned node); --seal-below
retires seal versions below N after a rotation. Reasons: key-compromise, superseded,
cessation-of-operation, affiliation-changed. --effective defaults to now and may be in
the past (RFC 3339).

The seal is the development keystore's (--keystore, a node's data_dir/keys) or the
Transit key of the administration's Vault (--vault, with VAULT_ADDR and VAULT_TOKEN of a
holder of the admin-seal policy). --out writes the sealed notice to FILE instead of
publishing it; "cix trust publish FILE" publishes it later (for a seal held offline).
list shows the notices the node applies.`,
	raw: true,
	flags: func(fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, e *env, args []string) error {
			return dispatch(ctx, e, fs, args, subcommand{"revoke", trustRevoke}, subcommand{"publish", trustPublish},
				subcommand{"list", trustList})
		}
	},
}

var revocationReasons = map[string]trustv1.RevocationReason{
	"key-compromise":         trustv1.RevocationReason_REVOCATION_REASON_KEY_COMPROMISE,
	"superseded":             trustv1.RevocationReason_REVOCATION_REASON_SUPERSEDED,
	"cessation-of-operation": trustv1.RevocationReason_REVOCATION_REASON_CESSATION_OF_OPERATION,
	"affiliation-changed":    trustv1.RevocationReason_REVOCATION_REASON_AFFILIATION_CHANGED,
}

func trustRevoke(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("trust revoke", flag.ContinueOnError)
	admin := fs.String("admin", "", "the administration (ISO 3166 alpha-2) whose seal signs; required")
	nodeName := fs.String("node", "", "the node whose key is revoked")
	keyID := fs.String("key-id", "", "key id (hex SHA-256 of the certificate) of the node key to revoke")
	allKeys := fs.Bool("all-keys", false, "revoke every certificate of --node issued before the effective time")
	sealBelow := fs.Int("seal-below", 0, "retire seal versions below `N`")
	reason := fs.String("reason", "", "key-compromise, superseded, cessation-of-operation or affiliation-changed; required")
	effective := fs.String("effective", "", "RFC 3339 `time` from which the revocation applies (default now)")
	comment := fs.String("comment", "", "free text for operators")
	keystore := fs.String("keystore", "", "seal with the development keystore in `DIR` (a dev node's data_dir/keys)")
	useVault := fs.Bool("vault", false, "seal with the administration's Vault Transit key (VAULT_ADDR, VAULT_TOKEN)")
	out := fs.String("out", "", "write the sealed notice to `FILE` instead of publishing it")
	rest, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("trust", "unexpected argument %q", rest[0])
	}
	n := &trustv1.Revocation{Administration: *admin, Comment: *comment, Reason: revocationReasons[*reason]}
	if n.Reason == trustv1.RevocationReason_REVOCATION_REASON_UNSPECIFIED {
		return usagef("trust", "--reason %q: want key-compromise, superseded, cessation-of-operation or affiliation-changed", *reason)
	}
	switch {
	case *sealBelow > 0 && (*nodeName != "" || *keyID != "" || *allKeys):
		return usagef("trust", "--seal-below names no node or key")
	case *sealBelow > 0:
		n.Target = &trustv1.Revocation_Seal{Seal: &trustv1.SealRetirement{MinVersion: int32(*sealBelow)}}
	case *keyID != "" && *allKeys:
		return usagef("trust", "give --key-id or --all-keys, not both")
	case *keyID != "":
		n.Target = &trustv1.Revocation_NodeKey{NodeKey: &trustv1.NodeKey{Node: *nodeName, KeyId: strings.ToLower(*keyID)}}
	case *allKeys:
		n.Target = &trustv1.Revocation_Node{Node: &trustv1.NodeCertificates{Node: *nodeName}}
	default:
		return usagef("trust", "say what to revoke: --node with --key-id or --all-keys, or --seal-below")
	}
	now := time.Now()
	if *effective != "" {
		t, err := time.Parse(time.RFC3339, *effective)
		if err != nil {
			return usagef("trust", "--effective %q: want RFC 3339, e.g. 2026-11-27T10:00:00Z", *effective)
		}
		n.EffectiveAt = timestamppb.New(t)
	}
	if (*keystore == "") == !*useVault {
		return usagef("trust", "choose the seal: --keystore DIR or --vault")
	}
	var seal envelope.Signer
	if *useVault {
		seal, err = vaultSeal(ctx, *admin)
	} else {
		seal, err = trust.OpenDevSeal(*keystore, *admin)
	}
	if err != nil {
		return err
	}
	raw, err := revocation.Make(n, seal, now)
	if err != nil {
		return err
	}
	if *out != "" {
		if err := os.WriteFile(*out, raw, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "sealed revocation notice written to %s; publish it with: cix trust publish %s\n", *out, *out)
		return nil
	}
	return publishRevocation(ctx, e, raw)
}

// vaultSeal is the administration seal in Vault Transit, with a fresh certificate.
func vaultSeal(ctx context.Context, admin string) (envelope.Signer, error) {
	if !trust.ValidAdministration(admin) {
		return nil, usagef("trust", "--admin %q: want an ISO 3166 alpha-2 code", admin)
	}
	client, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	if client.Token() == "" {
		return nil, errors.New("vault: set VAULT_TOKEN (a token with the admin-seal policy) and VAULT_ADDR")
	}
	return vault.NewSeal(client, admin).CertifiedSigner(ctx)
}

func trustPublish(ctx context.Context, e *env, args []string) error {
	rest, err := e.parse(flag.NewFlagSet("trust publish", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("trust", "trust publish wants one FILE")
	}
	raw, err := os.ReadFile(rest[0])
	if err != nil {
		return err
	}
	return publishRevocation(ctx, e, raw)
}

func publishRevocation(ctx context.Context, e *env, raw []byte) error {
	client, err := e.adminClient()
	if err != nil {
		return err
	}
	cctx, cancel := e.unary(ctx)
	defer cancel()
	res, err := client.PublishRevocation(cctx, &nodev1.PublishRevocationRequest{Envelope: raw})
	if err != nil {
		return callErr("publish revocation", err)
	}
	what := "published"
	if res.GetDuplicate() {
		what = "already published"
	}
	fmt.Fprintf(e.stdout, "revocation %s %s: %s\n", res.GetRevocation().GetId(), what, describeRevocation(res.GetRevocation()))
	return nil
}

func trustList(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("trust list", flag.ContinueOnError)
	jsonOut := fs.Bool("json", false, "print the notices as JSON")
	rest, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("trust", "unexpected argument %q", rest[0])
	}
	client, err := e.adminClient()
	if err != nil {
		return err
	}
	cctx, cancel := e.unary(ctx)
	defer cancel()
	res, err := client.ListRevocations(cctx, &nodev1.ListRevocationsRequest{})
	if err != nil {
		return callErr("list revocations", err)
	}
	if *jsonOut {
		b, err := prettyJSON(res)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
		return nil
	}
	if len(res.GetRevocations()) == 0 {
		fmt.Fprintln(e.stdout, "(no revocation)")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tISSUED\tWHAT")
	for _, r := range res.GetRevocations() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.GetId(), timeLine(r.GetIssuedAt().AsTime()), describeRevocation(r))
	}
	return tw.Flush()
}

// describeRevocation says in one line what a notice revokes, from when and why.
func describeRevocation(r *trustv1.Revocation) string {
	eff := r.GetIssuedAt()
	if r.GetEffectiveAt() != nil {
		eff = r.GetEffectiveAt()
	}
	var what string
	switch t := r.GetTarget().(type) {
	case *trustv1.Revocation_NodeKey:
		what = fmt.Sprintf("key %s of %s/%s", clip(t.NodeKey.GetKeyId(), 16, false), r.GetAdministration(), t.NodeKey.GetNode())
	case *trustv1.Revocation_Node:
		what = fmt.Sprintf("every key of %s/%s issued before the effective time", r.GetAdministration(), t.Node.GetNode())
	case *trustv1.Revocation_Seal:
		what = fmt.Sprintf("seal versions of %s below v%d", r.GetAdministration(), t.Seal.GetMinVersion())
	}
	return fmt.Sprintf("%s revoked from %s (%s)", what, timeLine(eff.AsTime()),
		strings.ReplaceAll(enumShort(r.GetReason().String(), "REVOCATION_REASON_"), "_", "-"))
}
