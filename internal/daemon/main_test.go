package daemon_test

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/cix-exchange/cix/internal/daemon"
)

// cixdChildEnv makes the test binary run as cixd with its arguments, so that fault tests
// can kill a real node process (see startCixd).
const cixdChildEnv = "CIX_TEST_RUN_CIXD"

func TestMain(m *testing.M) {
	if os.Getenv(cixdChildEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := daemon.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}
