package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/cix-exchange/cix/internal/config"
)

// Run is cixd's main: it parses args, starts the node, prints its address and runs until
// ctx ends. It returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cixd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: cixd [flags]\n\nWith no flags, cixd starts a development node: an embedded NATS server and a\nlocal development keystore under ./cix-data, serving gRPC on 127.0.0.1:7400.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	flags := config.NewFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "cixd: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := flags.Resolve()
	if err != nil {
		fmt.Fprintf(stderr, "cixd: %v\n", err)
		return 2
	}
	log := NewLogger(stderr, cfg.Log)
	d, err := Start(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "cixd: %v\n", err)
		return 1
	}
	mode := "NATS " + d.NATSURL()
	if cfg.Embedded() {
		mode = "development mode, embedded NATS " + d.NATSURL()
	}
	fmt.Fprintf(stdout, "cixd %s/%s serving gRPC on %s (%s)\ntrust anchor of %s: %s\n",
		cfg.Administration, cfg.Node, d.Addr(), mode, cfg.Administration, d.AnchorPath())
	switch cfg.TLSMode() {
	case config.TLSOff:
		fmt.Fprintf(stdout, "gRPC without TLS: every local caller is admitted\n")
	case config.TLSDev:
		fmt.Fprintf(stdout, "mutual TLS: client certificates per role in %s (cix --ca %[1]s/ca.pem --cert %[1]s/analyst.pem --key %[1]s/analyst.key ...)\n", cfg.TLSDir())
	case config.TLSVault:
		fmt.Fprintf(stdout, "mutual TLS: server certificate from Vault PKI, renewed before expiry; clients need a certificate under %s (cix cert issue)\n", cfg.Trust.OwnAnchor)
	default:
		fmt.Fprintf(stdout, "mutual TLS: clients need a certificate from %s\n", cfg.GRPC.TLS.ClientCAFile)
	}
	select {
	case <-ctx.Done():
	case <-d.Done():
	}
	if err := d.Stop(); err != nil {
		fmt.Fprintf(stderr, "cixd: %v\n", err)
		return 1
	}
	return 0
}

// NewLogger returns the slog logger configured by c.
func NewLogger(w io.Writer, c config.Log) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	o := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}
