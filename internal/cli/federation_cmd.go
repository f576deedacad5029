package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	// The import is renamed: this package already has a type federation (federation.go).
	fedconf "github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/sealed"
	"github.com/cix-exchange/cix/internal/vault"
	"github.com/hashicorp/vault/api"
	"github.com/nats-io/nkeys"
)

var cmdFederation = &command{
	name: "federation", args: "hub-config|leaf-config|leaf-key|age-key|directory ...",
	summary: "generate the hub's and an administration's NATS configuration from the federation manifest",
	help: `
  cix federation hub-config MANIFEST [--out FILE] [--server-name NAME] [--client-listen H:P] [--leafnode-listen H:P]
  cix federation leaf-config MANIFEST --admin XX --hub URL [--hub URL ...] [--out FILE]
                 [--seed-env VAR] [--store-dir DIR] [--listen H:P] [--server-name NAME]
                 [--tls-ca F --tls-cert F --tls-key F] [--local-auth-include F --local-account A]
                 [--private-nkey PUBKEY | --private-key-out FILE]
  cix federation leaf-key --out FILE
  cix federation age-key (--out FILE | --vault --node NAME[,NAME...])
  cix federation directory keygen --key FILE --pub FILE
  cix federation directory sign --manifest FILE --key FILE --version N --anchor CODE=FILE ... --out FILE
  cix federation directory publish FILE --nats URL --origin CODE [--creds FILE]

The federation manifest (YAML, deploy/nats/manifest.example.yaml) lists the members with
their ISO codes, nodes, JetStream domains and leaf keys, and the groups (regions,
operation closed user groups). hub-config writes the hub's nats-server configuration: one
account per administration, the system account for the federation's operators, and the
exports and imports that let each administration read exactly its scopes and publish
only under its own origin (docs/transport.md). leaf-config writes the configuration of
an administration's leaf server: JetStream in its own domain, connected to the hub; its
nkey seed is read from the environment variable --seed-env when nats-server starts,
never written into the file. --private-nkey adds the account LOCAL, not bound to the hub,
for the private streams of a node joining this leaf through nats.urls: its one user is
that public nkey, whose seed the node reads from nats.private_credentials (or
nats.private_nkey_seed_env); --private-key-out generates the pair, writes the seed to
FILE (mode 0600) and prints the public key on standard error. leaf-key generates a leaf's nkey: the seed goes to FILE
(mode 0600; keep it in the administration's Vault KV), the public key, for the manifest's
leaf_nkeys, is printed. age-key generates an administration's age X25519 identity, with
which its nodes read the alerts sealed to it (every audience but all members): the
identity goes to FILE (mode 0600; data_dir/keys/age.key with the dev keystore) or, with
--vault (VAULT_ADDR, VAULT_TOKEN of an operator), to Vault KV kv-cix/nodes/NAME/age for
each node NAME; the recipient, for the manifest's age_recipient, is printed. Without
--out, configurations are printed.

directory signs the member directory (the manifest, the members' trust anchors, a
version) with the federation secretariat's key, and publishes it in the all-members
scope of one member's leaf server; every node with federation.secretariat_key applies a
newer version live (docs/transport.md, "Member directory").`,
	raw: true,
	flags: func(fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, e *env, args []string) error {
			return dispatch(ctx, e, fs, args, subcommand{"hub-config", federationHubConfig},
				subcommand{"leaf-config", federationLeafConfig}, subcommand{"leaf-key", federationLeafKey},
				subcommand{"age-key", federationAgeKey}, subcommand{"directory", federationDirectory})
		}
	},
}

// manifestArg loads the one positional argument, the manifest.
func manifestArg(rest []string) (*fedconf.Manifest, error) {
	if len(rest) != 1 {
		return nil, usagef("federation", "want exactly one MANIFEST file, got %d arguments", len(rest))
	}
	return fedconf.Load(rest[0])
}

func federationHubConfig(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("federation hub-config", flag.ContinueOnError)
	out := fs.String("out", "", "write the configuration to `FILE` instead of standard output")
	var o fedconf.HubOptions
	fs.StringVar(&o.ServerName, "server-name", "", "the hub server's `NAME` (default: the manifest's, else cix-hub); $VAR is resolved by nats-server")
	fs.StringVar(&o.ClientListen, "client-listen", "", "client listener `HOST:PORT` (default: the manifest's, else "+fedconf.DefaultHubClientListen+")")
	fs.StringVar(&o.LeafnodeListen, "leafnode-listen", "", "leafnode listener `HOST:PORT` (default: the manifest's, else "+fedconf.DefaultHubLeafnodeListen+")")
	rest, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	m, err := manifestArg(rest)
	if err != nil {
		return err
	}
	text, err := fedconf.HubConfig(m, o)
	if err != nil {
		return err
	}
	return writeOutput(e, *out, text, 0o644)
}

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func federationLeafConfig(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("federation leaf-config", flag.ContinueOnError)
	out := fs.String("out", "", "write the configuration to `FILE` instead of standard output")
	admin := fs.String("admin", "", "the administration (ISO 3166 alpha-2) whose leaf this is; required")
	var hubs repeated
	fs.Var(&hubs, "hub", "the hub's leafnode `URL` (tls://host:7422); repeat for each hub server; required")
	var o fedconf.LeafOptions
	fs.StringVar(&o.NkeySeedEnv, "seed-env", "CIX_LEAF_NKEY_SEED", "environment `VARIABLE` holding the leaf's nkey seed when nats-server starts")
	fs.StringVar(&o.StoreDir, "store-dir", "", "JetStream store `DIR` (default /var/lib/nats)")
	fs.StringVar(&o.ClientListen, "listen", "", "client listener `HOST:PORT` for the administration's nodes (default "+fedconf.DefaultLeafClientListen+")")
	fs.StringVar(&o.ServerName, "server-name", "", "the leaf server's `NAME` (default cix-<domain>)")
	var tls fedconf.TLS
	fs.StringVar(&tls.CAFile, "tls-ca", "", "CA `FILE` the hub's certificate chains to")
	fs.StringVar(&tls.CertFile, "tls-cert", "", "the leaf's client certificate `FILE` for the hub")
	fs.StringVar(&tls.KeyFile, "tls-key", "", "the client certificate's key `FILE`")
	fs.StringVar(&o.LocalAuthInclude, "local-auth-include", "", "`FILE` with the leaf's own client authorization (nsc generate config --mem-resolver), relative to the configuration's folder")
	fs.StringVar(&o.LocalAccount, "local-account", "", "the `ACCOUNT` (public key) of the cix streams, with --local-auth-include")
	fs.StringVar(&o.PrivateNkey, "private-nkey", "", "public user nkey `PUBKEY` (U...) of the node's user in the private account "+fedconf.PrivateAccount)
	privateOut := fs.String("private-key-out", "", "generate the private account's user nkey: its seed goes to `FILE` (mode 0600), for the node's nats.private_credentials")
	rest, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if *admin == "" {
		return usagef("federation", "leaf-config needs --admin")
	}
	if len(hubs) == 0 {
		return usagef("federation", "leaf-config needs --hub")
	}
	if o.PrivateNkey != "" && *privateOut != "" {
		return usagef("federation", "give --private-nkey or --private-key-out, not both")
	}
	m, err := manifestArg(rest)
	if err != nil {
		return err
	}
	if *privateOut != "" {
		if o.LocalAuthInclude != "" {
			return usagef("federation", "--private-key-out goes with the static local account, not with --local-auth-include")
		}
		if o.PrivateNkey, err = writeNkeySeed(*privateOut); err != nil {
			return fmt.Errorf("private key: %w", err)
		}
		fmt.Fprintf(e.stderr, "private account user %s; seed written to %s (the node's nats.private_credentials)\n", o.PrivateNkey, *privateOut)
	}
	o.HubURLs = hubs
	if tls != (fedconf.TLS{}) {
		o.TLS = &tls
	}
	text, err := fedconf.LeafConfig(m, *admin, o)
	if err != nil {
		return err
	}
	return writeOutput(e, *out, text, 0o644)
}

func federationLeafKey(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("federation leaf-key", flag.ContinueOnError)
	out := fs.String("out", "", "write the seed to `FILE` (mode 0600); required")
	rest, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("federation", "unexpected argument %q", rest[0])
	}
	if *out == "" {
		return usagef("federation", "leaf-key needs --out: the seed is a secret and is never printed")
	}
	pub, err := writeNkeySeed(*out)
	if err != nil {
		return fmt.Errorf("leaf key: %w", err)
	}
	fmt.Fprintf(e.stdout, "%s\n", pub)
	fmt.Fprintf(e.stderr, "seed written to %s; add the public key above to the manifest's leaf_nkeys\n", *out)
	return nil
}

// writeOutput writes text to file, or to standard output when file is empty.
func writeOutput(e *env, file, text string, mode os.FileMode) error {
	if file == "" {
		_, err := fmt.Fprint(e.stdout, text)
		return err
	}
	if err := os.WriteFile(file, []byte(text), mode); err != nil {
		return err
	}
	return nil
}

func federationAgeKey(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("federation age-key", flag.ContinueOnError)
	out := fs.String("out", "", "write the identity to `FILE` (mode 0600)")
	useVault := fs.Bool("vault", false, "store the identity in Vault KV (VAULT_ADDR, VAULT_TOKEN) for each --node")
	nodeList := fs.String("node", "", "the administration's node `NAMES`, comma-separated, with --vault")
	rest, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	var nodes []string
	if *nodeList != "" {
		nodes = strings.Split(*nodeList, ",")
	}
	if len(rest) > 0 {
		return usagef("federation", "unexpected argument %q", rest[0])
	}
	if (*out == "") == !*useVault || (*useVault && len(nodes) == 0) {
		return usagef("federation", "age-key needs --out FILE or --vault with --node NAME: the identity is a secret and is never printed")
	}
	id, err := sealed.Generate()
	if err != nil {
		return err
	}
	if *useVault {
		client, err := api.NewClient(api.DefaultConfig())
		if err != nil {
			return fmt.Errorf("vault: %w", err)
		}
		if client.Token() == "" {
			return errors.New("vault: set VAULT_TOKEN (a token that may write kv-cix/nodes/*) and VAULT_ADDR")
		}
		for _, n := range nodes {
			if _, err := vault.WriteAgeIdentity(ctx, client, n, id.String()); err != nil {
				return err
			}
		}
		fmt.Fprintf(e.stdout, "%s\n", id.Recipient())
		fmt.Fprintf(e.stderr, "identity stored in Vault KV %s; add the recipient above to the manifest's age_recipient\n", vault.NodeAgeKV("{"+strings.Join(nodes, ",")+"}"))
		return nil
	}
	if err := sealed.WriteFile(*out, id); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s\n", id.Recipient())
	fmt.Fprintf(e.stderr, "identity written to %s; add the recipient above to the manifest's age_recipient\n", *out)
	return nil
}

// writeNkeySeed generates a user nkey, writes its seed to the new file out (mode 0600)
// and returns its public key.
func writeNkeySeed(out string) (string, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", err
	}
	defer kp.Wipe()
	seed, err := kp.Seed()
	if err != nil {
		return "", err
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	_, werr := f.Write(append(seed, '\n'))
	if err := errors.Join(werr, f.Close()); err != nil {
		return "", err
	}
	return pub, nil
}
