package daemon_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/daemon"
	"github.com/cix-exchange/cix/internal/synth"
)

// TestIdleRelease: a node that ingested a burst of alerts and went quiet returns the
// free heap to the system (memory.idle_release), and says so; with the setting 0
// it does not.
func TestIdleRelease(t *testing.T) {
	for _, tc := range []struct {
		name    string
		idle    time.Duration
		release bool
	}{
		{"after a burst", 300 * time.Millisecond, true},
		{"switched off", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncBuffer{}
			cfg := nodeConfig(t, "NL", nil, nil, func(c *config.Config) { c.Memory.IdleRelease = config.Duration(tc.idle) })
			d, err := daemon.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := d.Stop(); err != nil {
					t.Errorf("stop: %v", err)
				}
			})
			n := dialNode(t, d, cfg, nil)
			gen := synth.New(7, "NL")
			for range 500 { // some 25 MB allocated by the node: more than a burst (16 MB)
				publish(t, n, gen.Next())
			}
			const released = "returned the free heap to the system after a burst of work"
			if tc.release {
				eventually(t, 30*time.Second, "the release after the burst", func() bool { return strings.Contains(logs.String(), released) })
				return
			}
			// Switched off: quiet for ten times the other case's idle time, no release.
			time.Sleep(3 * time.Second)
			if c := strings.Count(logs.String(), released); c != 0 {
				t.Fatalf("released %d times with memory.idle_release 0", c)
			}
		})
	}
}
