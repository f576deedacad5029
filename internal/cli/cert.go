package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cix-exchange/cix/internal/trust"
	"github.com/cix-exchange/cix/internal/vault"
	"github.com/hashicorp/vault/api"
)

var cmdCert = &command{
	name: "cert", args: "issue --role ROLE --name NAME [--out DIR] [--ttl DURATION]",
	summary: "issue a client certificate for mutual TLS from the administration's Vault",
	help: `
Issue a client certificate for a node's mutual TLS from the administration's Vault PKI.
The certificate names the client as urn:cix:client:<ADMIN>:<ROLE>:<NAME>; the node
grants the rights of ROLE (publisher, analyst, assistance-officer or admin). The key is
generated here and never sent to Vault: Vault signs a CSR under the role's PKI role
(pki-cix/sign/tls-client-<ROLE>), which certifies no other role.

Vault is reached as the vault command line reaches it: VAULT_ADDR, VAULT_TOKEN and the
other standard VAULT_* variables (VAULT_CACERT, ...). The token needs the policy
cix-client-issuer (deploy/vault/README.md).

Three files are written to DIR: NAME.pem (the certificate followed by the node CA),
NAME.key (the private key, mode 0600) and ca.pem (the administration's trust anchor,
which the nodes' server certificates chain to). Use them as
  cix --ca DIR/ca.pem --cert DIR/NAME.pem --key DIR/NAME.key COMMAND`,
	flags: func(fs *flag.FlagSet) runFunc {
		role := fs.String("role", "", "the client's `ROLE`: publisher, analyst, assistance-officer or admin")
		name := fs.String("name", "", "the client's `NAME`: lower-case letters, digits and hyphens")
		out := fs.String("out", ".", "write the certificate, key and CA to `DIR`")
		ttl := fs.Duration("ttl", 0, "lifetime of the certificate (default: the role's, 30 days unless the bootstrap set another)")
		mount := fs.String("pki-mount", vault.PKIMount, "Vault PKI `mount` of the client roles")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 || args[0] != "issue" {
				return usagef("cert", "cert wants a subcommand: issue")
			}
			switch {
			case !trust.ValidRole(trust.Role(*role)):
				return usagef("cert", "--role %q: want one of publisher, analyst, assistance-officer, admin", *role)
			case !trust.ValidNodeName(*name):
				return usagef("cert", "--name %q: use lower-case letters, digits and hyphens (at most 63)", *name)
			case *ttl < 0:
				return usagef("cert", "--ttl must not be negative")
			}
			return certIssue(ctx, e, vault.ClientCertRequest{Role: trust.Role(*role), Name: *name, TTL: *ttl, Mount: *mount}, *out)
		}
	},
}

func certIssue(ctx context.Context, e *env, req vault.ClientCertRequest, dir string) error {
	vc := api.DefaultConfig() // reads VAULT_ADDR, VAULT_CACERT, ... (ReadEnvironment)
	if vc.Error != nil {
		return fmt.Errorf("vault: %w", vc.Error)
	}
	client, err := api.NewClient(vc) // takes VAULT_TOKEN
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	if client.Token() == "" {
		return errors.New("vault: no token: set VAULT_TOKEN (a token with the cix-client-issuer policy)")
	}
	cctx, cancel := e.unary(ctx)
	defer cancel()
	cc, err := vault.IssueClientCertificate(cctx, client, req)
	if err != nil {
		return fmt.Errorf("%w (Vault at %s)", err, client.Address())
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{req.Name + ".key", cc.KeyPEM, 0o600},
		{req.Name + ".pem", cc.CertPEM, 0o644},
		{"ca.pem", cc.AnchorPEM, 0o644},
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(dir, f.name)
		if err := writeFileAtomic(paths[i], f.data, f.perm); err != nil {
			return err
		}
	}
	id := cc.Identity
	fmt.Fprintf(e.stdout, "issued a %s certificate for %s of %s (%s), valid until %s\n", id.Role, id.Name, id.Administration,
		trust.ClientURI(id.Administration, id.Role, id.Name), timeLine(cc.NotAfter))
	fmt.Fprintf(e.stdout, "  key          %s (mode 0600; generated here, never sent to Vault)\n", paths[0])
	fmt.Fprintf(e.stdout, "  certificate  %s (with the node CA)\n", paths[1])
	fmt.Fprintf(e.stdout, "  CA           %s (the %s trust anchor)\n", paths[2], id.Administration)
	fmt.Fprintf(e.stdout, "use: cix --ca %s --cert %s --key %s COMMAND\n", shellQuote(paths[2]), shellQuote(paths[1]), shellQuote(paths[0]))
	return nil
}

// writeFileAtomic replaces path with data, readable as perm from the start: a key is
// never visible with a wider mode, and a reader never sees half a file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
