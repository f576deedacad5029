// Package cli is the cix command line: a gRPC client of a cix node (cixd) for
// publishing alerts, reading them (get, feed), inspecting the node (info, quarantine)
// and a self-contained demo of a federation on loopback.
//
// cmd/cix only wires signals to Run; everything else lives here so that it can be
// tested against real nodes started in-process:
//
//	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
//
// Exit codes: 0 on success, 1 on failure (printed as "cix: <message>" on stderr, with
// a gRPC status's field violations one per line), 2 on a usage error.
//
// Commands:
//
//	publish [--json] FILE    one alert (protojson) or JSON lines; "-" reads stdin
//	gen [--count N] ...      synthetic alerts as JSON lines
//	get [--json] [--envelope-dir DIR] ID
//	feed [filters] [--json] [--cursor C] [--from-start] [--limit N]
//	quarantine list [--json] [--limit N]
//	info [--json]
//	assist create|submit|ack|...|get|list|watch|upload|download|export   (mutual assistance)
//	cert issue --role ROLE --name NAME [--out DIR] [--ttl D]   (from Vault)
//	demo [--admins NL,BE,DE] [--count N] [--seed S] [--keep-running]
//
// dial is the one place that chooses transport credentials: plaintext, or mutual TLS
// with --ca, --cert and --key.
package cli
