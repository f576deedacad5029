package federation

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/nats-io/nkeys"
)

// LeafOptions describe an administration's leaf server.
type LeafOptions struct {
	// HubURLs are the hub's leafnode URLs (nats-leaf://, tls:// or nats://host:port);
	// the leaf reconnects to any of them.
	HubURLs []string
	// ServerName of the leaf (default "cix-<domain>").
	ServerName string
	// ClientListen is the leaf's client listener, where the administration's nodes connect
	// (default 127.0.0.1:4222).
	ClientListen string
	// StoreDir holds the leaf's JetStream data (default /var/lib/nats).
	StoreDir string
	// Credentials at the hub, exactly one of: NkeySeed, the leaf's user nkey seed written
	// into the file (tests; the file is then a secret), or NkeySeedEnv, the name of an
	// environment variable holding the seed when nats-server starts (production: the
	// seed is kept in the administration's Vault KV and put into the environment of the
	// leaf process, never into a file).
	NkeySeed    string
	NkeySeedEnv string
	// TLS to the hub: the CA the hub's certificate chains to, and the leaf's client
	// certificate (the hub verifies it). Nil connects without TLS (tests on loopback).
	TLS *TLS
	// LocalAuthInclude is a file included for the leaf's own client authorization, a path
	// relative to the folder of the leaf's configuration file (nats-server resolves
	// includes there, absolute paths included), e.g.
	// the operator, system account and resolver that `nsc generate config --mem-resolver`
	// writes for the administration's own operator, so that nodes on other hosts connect
	// with JWT credentials (the .creds kept in Vault KV). LocalAccount is then the public
	// key of the account holding the cix streams. Empty: one static account CIX
	// (JetStream on) which clients join without credentials; the client listener must
	// then be on loopback, for a node on the same host (or in the same pod).
	LocalAuthInclude string
	LocalAccount     string
	// PrivateNkey, when set, adds a second static account, PrivateAccount, that is not
	// bound to the hub, for the node's private streams (feed, quarantine, state,
	// watchlist, directory cache): its one user is this public user nkey (U...), whose
	// seed only the node holds (cixd generates it at each start and connects in-process).
	// A consumer an entitled importer creates on the outbound stream delivers inside the
	// hub-bound account only, so it never reaches these streams. Not with
	// LocalAuthInclude (the operator's accounts are then the administration's to lay out).
	PrivateNkey string
}

// PrivateAccount is the leaf's account for the node's private streams, not bound to the
// hub (LeafOptions.PrivateNkey).
const PrivateAccount = "LOCAL"

// LocalAccount is the leaf's account for cix streams when no LocalAuthInclude is given.
const LocalAccount = "CIX"

// DefaultLeafClientListen is the leaf's client listener unless LeafOptions say otherwise.
const DefaultLeafClientListen = "127.0.0.1:4222"

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// LeafConfig returns the nats-server configuration of admin's leaf server: JetStream in
// admin's own domain (so that publishing keeps working while the hub is away), one
// leafnode remote to the hub bound to the local account of the cix streams and
// authenticated with the leaf's nkey, and the local client listener for the nodes.
func LeafConfig(m *Manifest, admin string, o LeafOptions) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	mb := m.Member(admin)
	if mb == nil {
		return "", fmt.Errorf("leaf config: %q is not a member of the federation", admin)
	}
	var errs []error
	if len(o.HubURLs) == 0 {
		errs = append(errs, errors.New("leaf config: at least one hub URL is required"))
	}
	for _, u := range o.HubURLs {
		if !strings.Contains(u, "://") || strings.ContainsAny(u, " \t\"") {
			errs = append(errs, fmt.Errorf("leaf config: hub URL %q: want scheme://host:port", u))
		}
	}
	switch {
	case (o.NkeySeed == "") == (o.NkeySeedEnv == ""):
		errs = append(errs, errors.New("leaf config: give exactly one of the nkey seed and the variable holding it"))
	case o.NkeySeed != "":
		if pre, _, err := nkeys.DecodeSeed([]byte(o.NkeySeed)); err != nil || pre != nkeys.PrefixByteUser {
			errs = append(errs, errors.New("leaf config: the nkey seed is not a user seed (SU...)"))
		}
	case !envNameRE.MatchString(o.NkeySeedEnv):
		errs = append(errs, fmt.Errorf("leaf config: %q is not a variable name", o.NkeySeedEnv))
	}
	if (o.LocalAuthInclude == "") != (o.LocalAccount == "") {
		errs = append(errs, errors.New("leaf config: the local authorization include and its account go together"))
	}
	if filepath.IsAbs(o.LocalAuthInclude) || strings.ContainsAny(o.LocalAuthInclude, "\"\n") {
		errs = append(errs, fmt.Errorf("leaf config: include %q: give a path relative to the leaf configuration's folder (nats-server resolves it there)", o.LocalAuthInclude))
	}
	if o.PrivateNkey != "" {
		if o.LocalAuthInclude != "" {
			errs = append(errs, errors.New("leaf config: the private account goes with the static local account, not with a local authorization include"))
		}
		if !nkeys.IsValidPublicUserKey(o.PrivateNkey) {
			errs = append(errs, errors.New("leaf config: the private account's nkey is not a public user key (U...)"))
		}
	}
	if t := o.TLS; t != nil && (t.CAFile == "" || t.CertFile == "" || t.KeyFile == "") {
		errs = append(errs, errors.New("leaf config: TLS needs ca_file, cert_file and key_file"))
	}
	name := firstNonEmpty(o.ServerName, "cix-"+mb.Domain)
	if !serverNameRE.MatchString(name) {
		errs = append(errs, fmt.Errorf("leaf config: server name %q: want letters, digits, '-', '_' and '.', or $VARIABLE", name))
	}
	listen := firstNonEmpty(o.ClientListen, DefaultLeafClientListen)
	switch host, _, err := net.SplitHostPort(listen); {
	case err != nil || !validHostPort(listen):
		errs = append(errs, fmt.Errorf("leaf config: client listen %q: want host:port", listen))
	case o.LocalAuthInclude == "" && host != "localhost" && !isLoopback(host):
		errs = append(errs, fmt.Errorf("leaf config: client listen %q: without local authorization the leaf admits clients without credentials, so it must listen on loopback", listen))
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	account := LocalAccount
	if o.LocalAccount != "" {
		account = o.LocalAccount
	}

	w := &confWriter{}
	w.comment(fmt.Sprintf("Leaf server of %s (%s) in the cix federation %q, generated by\n"+
		"`cix federation leaf-config`. It stores the administration's streams in its own\n"+
		"JetStream domain %q and connects to the hub as a leaf node. See docs/transport.md.", mb.Code, mb.Name, m.Federation, mb.Domain))
	w.strOrVar("server_name", name)
	w.str("listen", listen)
	w.raw("max_payload", "2MB")
	w.blank()
	w.open("jetstream")
	w.str("domain", mb.Domain)
	w.str("store_dir", firstNonEmpty(o.StoreDir, "/var/lib/nats"))
	w.close()
	w.blank()
	if o.LocalAuthInclude != "" {
		w.comment("The administration's own operator, system account and account resolver.")
		w.line("include %s", quote(o.LocalAuthInclude))
	} else {
		w.comment("One account for the cix streams. The node next to this server joins it on the\n" +
			"loopback listener without credentials; nodes on other hosts need local authorization\n" +
			"(cix federation leaf-config --local-auth-include).")
		w.open("accounts")
		w.open(LocalAccount)
		w.raw("jetstream", "enabled")
		w.line("users: [{user: %s}]", quote("cix"))
		w.close()
		if o.PrivateNkey != "" {
			w.comment("The node's private streams, in an account not bound to the hub: a consumer an\n" +
				"entitled importer creates on the outbound stream delivers only inside " + LocalAccount + ".\n" +
				"Its one user is the node: its seed is the node's nats.private_credentials, or, with\n" +
				"this server embedded in the node, generated at each start and never written.")
			w.open(PrivateAccount)
			w.raw("jetstream", "enabled")
			w.line("users: [{nkey: %s}]", quote(o.PrivateNkey))
			w.close()
		}
		w.close()
		w.str("no_auth_user", "cix")
	}
	w.blank()
	w.open("leafnodes")
	w.line("remotes: [")
	w.depth++
	w.line("{")
	w.depth++
	w.list("urls", o.HubURLs)
	w.str("account", account)
	if o.NkeySeedEnv != "" {
		w.comment("The seed comes from the environment of the nats-server process.")
		w.raw("nkey", "$"+o.NkeySeedEnv)
	} else {
		w.str("nkey", o.NkeySeed)
	}
	if t := o.TLS; t != nil {
		w.tlsBlock(t, false)
	}
	w.depth--
	w.line("}")
	w.depth--
	w.line("]")
	w.close()
	return w.String(), nil
}
