package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
)

var cmdHealth = &command{
	name: "health", args: "[--json]",
	summary: "check the node's dependencies: NATS, streams, Vault, certificates, index",
	help: `
Check each dependency of the node (NATS, the ingest consumer's lag, Vault, the signing
certificate, the gRPC server certificate, the NATS credentials, the search index, the
revocation stream) and print its state (ok, degraded, down) with a detail. The exit
status is 0 when every dependency is ok, 1 otherwise.`,
	flags: func(fs *flag.FlagSet) runFunc {
		jsonOut := fs.Bool("json", false, "print the health report as JSON")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) > 0 {
				return usagef("health", "unexpected argument %q", args[0])
			}
			client, err := e.adminClient()
			if err != nil {
				return err
			}
			cctx, cancel := e.unary(ctx)
			defer cancel()
			h, err := client.GetHealth(cctx, &nodev1.GetHealthRequest{})
			if err != nil {
				return callErr("health", err)
			}
			if *jsonOut {
				b, err := prettyJSON(h)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s\n", b)
			} else {
				printHealth(e.stdout, e.addr, h)
			}
			if h.GetState() != nodev1.HealthState_HEALTH_STATE_OK {
				return errReported
			}
			return nil
		}
	},
}

// healthName is a state as printed: ok, degraded, down.
func healthName(s nodev1.HealthState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "HEALTH_STATE_"))
}

func printHealth(w io.Writer, addr string, h *nodev1.GetHealthResponse) {
	serving := "serving"
	if !h.GetServing() {
		serving = "NOT serving"
	}
	fmt.Fprintf(w, "%s: %s (%s)\n", addr, healthName(h.GetState()), serving)
	for _, d := range h.GetDependencies() {
		crit := ""
		if d.GetCritical() {
			crit = " (critical)"
		}
		fmt.Fprintf(w, "  %-17s %-9s %s%s\n", d.GetName(), healthName(d.GetState()), d.GetDetail(), crit)
	}
}
