package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cix-exchange/cix/internal/bus"
	fedconf "github.com/cix-exchange/cix/internal/federation"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// federationDirectory runs `cix federation directory keygen|sign|publish`.
func federationDirectory(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("federation directory", flag.ContinueOnError)
	return dispatch(ctx, e, fs, args, subcommand{"keygen", directoryKeygen},
		subcommand{"sign", directorySign}, subcommand{"publish", directoryPublish})
}

func directoryKeygen(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("federation directory keygen", flag.ContinueOnError)
	key := fs.String("key", "", "write the secretariat's private key to `FILE` (mode 0600); required")
	pub := fs.String("pub", "", "write its public key, for every node's federation.secretariat_key, to `FILE`; required")
	rest, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 || *key == "" || *pub == "" {
		return usagef("federation", "directory keygen --key FILE --pub FILE")
	}
	if _, err := os.Stat(*key); err == nil {
		return fmt.Errorf("directory keygen: %s exists", *key)
	}
	k, err := fedconf.GenerateSecretariatKey(*key, *pub)
	if err != nil {
		return fmt.Errorf("directory keygen: %w", err)
	}
	fmt.Fprintf(e.stdout, "%s\n", fedconf.SecretariatKeyID(k))
	return nil
}

type anchorFlags map[string]string

func (a anchorFlags) String() string { return "" }
func (a anchorFlags) Set(v string) error {
	code, file, ok := strings.Cut(v, "=")
	if !ok || code == "" || file == "" {
		return errors.New("want CODE=FILE")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	a[code] = string(b)
	return nil
}

func directorySign(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("federation directory sign", flag.ContinueOnError)
	manifest := fs.String("manifest", "", "the federation manifest `FILE`; required")
	key := fs.String("key", "", "the secretariat's private key `FILE`; required")
	version := fs.Uint64("version", 0, "the directory's `VERSION`, greater than the one in use; required")
	out := fs.String("out", "", "write the signed directory to `FILE`; required")
	anchors := anchorFlags{}
	fs.Var(anchors, "anchor", "a member's trust anchor, `CODE=FILE` (PEM); repeat per member")
	rest, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 || *manifest == "" || *key == "" || *version == 0 || *out == "" {
		return usagef("federation", "directory sign --manifest FILE --key FILE --version N --anchor CODE=FILE ... --out FILE")
	}
	text, err := os.ReadFile(*manifest)
	if err != nil {
		return err
	}
	m, err := fedconf.Parse(text)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", *manifest, err)
	}
	s, err := fedconf.LoadSecretariatSigner(*key)
	if err != nil {
		return err
	}
	raw, err := fedconf.SignDirectory(fedconf.Directory{
		Federation: m.Federation, Version: *version, IssuedAt: time.Now().UTC().Truncate(time.Second),
		Manifest: string(text), Anchors: anchors,
	}, s)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, raw, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "directory v%d of %s signed by %s: %d members, %d anchors\n", *version, m.Federation, s.KeyID(), len(m.Members), len(anchors))
	return nil
}

func directoryPublish(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("federation directory publish", flag.ContinueOnError)
	url := fs.String("nats", "", "`URL` of the publishing member's leaf server; required")
	origin := fs.String("origin", "", "the publishing member's `CODE`; required")
	creds := fs.String("creds", "", "NATS credentials `FILE` for the leaf server, if it needs them")
	rest, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 || *url == "" || *origin == "" {
		return usagef("federation", "directory publish FILE --nats URL --origin CODE")
	}
	raw, err := os.ReadFile(rest[0])
	if err != nil {
		return err
	}
	// Only the version is read here; every node verifies the signature.
	o, err := fedconf.PeekDirectory(raw)
	if err != nil {
		return err
	}
	opts := []nats.Option{nats.Name("cix federation directory publish")}
	if *creds != "" {
		opts = append(opts, nats.UserCredentials(*creds))
	}
	nc, err := nats.Connect(*url, opts...)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	subject := fedconf.DirectorySubject(*origin, o.Version)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ack, err := js.Publish(ctx, subject, raw, jetstream.WithMsgID(subject), jetstream.WithExpectStream(fedconf.OutboundStream(*origin)),
		jetstream.WithExpectLastSequencePerSubject(0)) // one directory per version
	if bus.IsSubjectTaken(err) {
		return fmt.Errorf("publish %s: the outbound stream of %s holds a directory of version %d already", subject, *origin, o.Version)
	}
	if err != nil {
		return fmt.Errorf("publish %s: %w", subject, err)
	}
	fmt.Fprintf(e.stdout, "%s stored at %d%s\n", subject, ack.Sequence, map[bool]string{true: " (duplicate)"}[ack.Duplicate])
	return nil
}
