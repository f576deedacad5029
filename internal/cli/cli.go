package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// DefaultAddr is the node address used when neither --addr nor CIX_ADDR is set.
const DefaultAddr = "127.0.0.1:7400"

// DefaultTimeout bounds unary calls unless --timeout says otherwise.
const DefaultTimeout = 30 * time.Second

// command is one subcommand.
type command struct {
	name    string
	args    string // synopsis after the name
	summary string // one line for the command list
	help    string // paragraph for the command's own usage
	// flags declares the command's flags on fs and returns the function that runs the
	// command with its positional arguments once the flags are parsed.
	flags func(fs *flag.FlagSet) runFunc
	// raw commands get their arguments unparsed and call env.parse themselves.
	raw bool
}

// runFunc runs a command with its positional arguments.
type runFunc func(ctx context.Context, e *env, args []string) error

// commands lists the subcommands in the order of the usage text. "help" is handled by
// Run itself.
var commands = []*command{
	cmdPublish, cmdGen, cmdGet, cmdFeed, cmdSearch, cmdStats, cmdRecall, cmdReclassify, cmdAcks, cmdAssist, cmdWatch, cmdExport, cmdImport, cmdVerify,
	cmdQuarantine, cmdInfo, cmdHealth, cmdTrust, cmdCert, cmdFederation, cmdDemo,
}

// subcommand is one subcommand of a raw command such as "trust" or "watch".
type subcommand struct {
	name string
	run  func(ctx context.Context, e *env, args []string) error
}

// dispatch runs the subcommand named by args[0] with the rest of args; "-h" or
// "--help" first prints the command's usage.
func dispatch(ctx context.Context, e *env, fs *flag.FlagSet, args []string, subs ...subcommand) error {
	if len(args) > 0 && strings.HasPrefix(args[0], "-") { // -h, --help
		if _, err := e.parse(fs, args); err != nil {
			return err
		}
		args = nil
	}
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	want := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	if len(args) == 0 {
		return usagef(e.cmd.name, "%s wants a subcommand: %s", e.cmd.name, want)
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, e, args[1:])
		}
	}
	return usagef(e.cmd.name, "unknown subcommand %q: want %s", args[0], want)
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// env is what a command runs with: its I/O, the global flags and the connection to the
// node, dialled on first use.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	cmd            *command // the command being run
	addr           string
	timeout        time.Duration
	tls            tlsFiles
	conn           *grpc.ClientConn
}

// tlsFiles are the PEM files of a mutual TLS connection; all empty means plaintext.
type tlsFiles struct{ ca, cert, key string }

// usageError is a command line that cannot be run: exit code 2.
type usageError struct{ cmd, msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// errReported means the command has already told the user what failed: exit code 1
// without a further message.
var errReported = errors.New("failed")

// errHelp means usage was printed at the user's request: exit code 0.
var errHelp = errors.New("help requested")

// Run runs the cix command line with args (without the program name) and returns the
// exit code: 0 success, 1 failure, 2 usage error. Cancelling ctx (SIGINT) stops
// long-running commands cleanly.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	defaultAddr := os.Getenv("CIX_ADDR")
	if defaultAddr == "" {
		defaultAddr = DefaultAddr
	}
	fs := flag.NewFlagSet("cix", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&e.addr, "addr", defaultAddr, "")
	fs.DurationVar(&e.timeout, "timeout", DefaultTimeout, "")
	fs.StringVar(&e.tls.ca, "ca", os.Getenv("CIX_CA"), "")
	fs.StringVar(&e.tls.cert, "cert", os.Getenv("CIX_CERT"), "")
	fs.StringVar(&e.tls.key, "key", os.Getenv("CIX_KEY"), "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return 0
		}
		return e.exit(usagef("", "%v", err))
	}
	if e.timeout <= 0 {
		return e.exit(usagef("", "--timeout must be positive"))
	}
	rest := fs.Args()
	if len(rest) == 0 {
		usage(stderr)
		return 2
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		if len(rest) == 0 {
			usage(stdout)
			return 0
		}
		c := lookup(rest[0])
		if c == nil {
			return e.exit(usagef("", "unknown command %q", rest[0]))
		}
		commandUsage(stdout, c, nil)
		return 0
	}
	c := lookup(name)
	if c == nil {
		return e.exit(usagef("", "unknown command %q", name))
	}
	defer func() {
		if e.conn != nil {
			_ = e.conn.Close()
		}
	}()
	e.cmd = c
	cfs := flag.NewFlagSet("cix "+c.name, flag.ContinueOnError)
	run := c.flags(cfs)
	if !c.raw {
		var err error
		if rest, err = e.parse(cfs, rest); err != nil {
			return e.exit(err)
		}
	}
	return e.exit(run(ctx, e, rest))
}

// exit prints err and returns the exit code it calls for.
func (e *env) exit(err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errReported):
		return 1
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "cix: %s\n", ue.msg)
		if ue.cmd != "" {
			fmt.Fprintf(e.stderr, "Run 'cix help %s' for usage.\n", ue.cmd)
		} else {
			fmt.Fprintln(e.stderr, "Run 'cix help' for usage.")
		}
		return 2
	}
	printError(e.stderr, err)
	var ce *callError
	if errors.As(err, &ce) && ce.st.Code() == codes.Unavailable && strings.Contains(ce.st.Message(), "dial") {
		fmt.Fprintf(e.stderr, "  is a node running at %s? (set --addr or CIX_ADDR)\n", e.addr)
	}
	return 1
}

func usage(w io.Writer) {
	fmt.Fprint(w, `cix is the command line of a cix node: publish, follow and verify customs alerts.

Usage: cix [--addr HOST:PORT] [--timeout DURATION] [--ca F --cert F --key F] COMMAND [ARGS]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-11s %s\n", "help", "show this help, or a command's: cix help COMMAND")
	fmt.Fprintf(w, `
Global flags:
  --addr HOST:PORT     gRPC address of the node (default $CIX_ADDR, else %s)
  --timeout DURATION   deadline of single calls such as get and info (default %s)
  --ca FILE            CA certificate (PEM) the node's certificate must chain to ($CIX_CA)
  --cert FILE          client certificate (PEM) for mutual TLS; its role decides what
                       this client may do ($CIX_CERT)
  --key FILE           the client certificate's private key ($CIX_KEY)
                       Without these three the connection is plaintext (development).

Exit codes: 0 success, 1 failure, 2 usage error.
`, DefaultAddr, DefaultTimeout)
}

// commandUsage prints one command's usage; fs (may be nil) supplies the flags.
func commandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: cix %s %s\n\n%s\n", c.name, c.args, strings.TrimSpace(c.help))
	if fs == nil {
		fs = flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.flags(fs)
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// parse parses the flags of the command being run, which may come before, between or
// after its positional arguments ("--" ends the flags). It returns the positional
// arguments.
func (e *env) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	c := e.cmd
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				commandUsage(e.stdout, c, fs)
				return nil, errHelp
			}
			return nil, usagef(c.name, "%v", err)
		}
		// fs.Parse stops at the first positional argument, or consumes a "--" and
		// stops after it: everything after a "--" is positional.
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// dial returns a client connection to the node at addr. It is the one place that
// chooses transport credentials: insecure until mutual TLS is configured.
func dial(addr string, tf tlsFiles) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if tf != (tlsFiles{}) {
		if tf.ca == "" || tf.cert == "" || tf.key == "" {
			return nil, fmt.Errorf("mutual TLS needs --ca, --cert and --key together")
		}
		cert, err := tls.LoadX509KeyPair(tf.cert, tf.key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		b, err := os.ReadFile(tf.ca)
		if err != nil {
			return nil, fmt.Errorf("CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("CA %s: no PEM certificate", tf.ca)
		}
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, Certificates: []tls.Certificate{cert}})
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return conn, nil
}

func (e *env) connect() (*grpc.ClientConn, error) {
	if e.conn == nil {
		conn, err := dial(e.addr, e.tls)
		if err != nil {
			return nil, err
		}
		e.conn = conn
	}
	return e.conn, nil
}

func (e *env) nodeClient() (nodev1.NodeServiceClient, error) {
	conn, err := e.connect()
	if err != nil {
		return nil, err
	}
	return nodev1.NewNodeServiceClient(conn), nil
}

func (e *env) adminClient() (nodev1.AdminServiceClient, error) {
	conn, err := e.connect()
	if err != nil {
		return nil, err
	}
	return nodev1.NewAdminServiceClient(conn), nil
}

// unary returns the context of one unary call, bounded by --timeout.
func (e *env) unary(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.timeout)
}

// callError is a failed gRPC call: what was being done and the status.
type callError struct {
	what string
	st   *status.Status
}

func (e *callError) Error() string {
	msg := codeName(e.st.Code()) + ": " + statusMessage(e.st.Message(), violations(e.st))
	if e.what != "" {
		msg = e.what + ": " + msg
	}
	return msg
}

// statusMessage shortens a status message that spells out its field violations
// ("invalid alert: alert.x: ...; alert.y: ...") to what precedes them, as the
// violations are printed one per line after it.
func statusMessage(msg string, vs []fieldViolation) string {
	if len(vs) == 0 {
		return msg
	}
	if i := strings.Index(msg, vs[0].Field+": "); i > 0 {
		if short := strings.TrimRight(msg[:i], ": "); short != "" {
			return short
		}
	}
	return msg
}

// callErr describes a failed call. Errors that are not gRPC statuses are wrapped.
func callErr(what string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", what, err)
	}
	return &callError{what: what, st: st}
}

// fieldViolation is one invalid field named by a google.rpc.BadRequest detail or a
// PublishStream item error.
type fieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

// violations returns the field violations of a status.
func violations(st *status.Status) []fieldViolation {
	var out []fieldViolation
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, fieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		}
	}
	return out
}

// printError prints err as "cix: <message>", then the field violations of a gRPC
// status one per line.
func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "cix: %v\n", err)
	var ce *callError
	if errors.As(err, &ce) {
		printViolations(w, violations(ce.st))
	}
}

func printViolations(w io.Writer, vs []fieldViolation) {
	for _, v := range vs {
		fmt.Fprintf(w, "  %s: %s\n", v.Field, v.Description)
	}
}

// codeNames are the canonical names of gRPC codes, as the API documentation spells
// them.
var codeNames = map[codes.Code]string{
	codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN",
	codes.InvalidArgument: "INVALID_ARGUMENT", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
	codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED",
	codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED",
	codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE", codes.DataLoss: "DATA_LOSS",
	codes.Unauthenticated: "UNAUTHENTICATED",
}

func codeName(c codes.Code) string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("CODE_%d", uint32(c))
}
