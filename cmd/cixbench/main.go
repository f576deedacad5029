// Command cixbench measures cix against its physical floor, in one run. See
// internal/bench and docs/performance.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cix-exchange/cix/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := bench.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
