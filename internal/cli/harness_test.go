package cli

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/vault/vaulttest"
)

// wait bounds every wait of the tests.
const wait = 20 * time.Second

// testFederation starts a federation of admins (server and nodes, real components on
// loopback) that stops when the test ends.
func testFederation(t *testing.T, admins ...string) *federation {
	t.Helper()
	return testVaultFederation(t, nil, admins...)
}

// testVaultFederation is testFederation where the administrations with a server in
// vaults have their node on keystore vault, certified by that server's PKI.
func testVaultFederation(t *testing.T, vaults map[string]*vaulttest.Server, admins ...string) *federation {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	f, err := startFederation(context.Background(), t.TempDir(), admins, vaults, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.stop(); err != nil {
			t.Errorf("stop federation: %v", err)
		}
	})
	return f
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// result is the outcome of one cix command line.
type result struct {
	code           int
	stdout, stderr string
}

// cix runs the command line with stdin and returns what it printed.
func cix(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return cixCtx(context.Background(), stdin, args...)
}

func cixCtx(ctx context.Context, stdin string, args ...string) result {
	var out, errb bytes.Buffer
	code := Run(ctx, args, strings.NewReader(stdin), &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// must fails the test unless the command exited with want.
func (r result) must(t *testing.T, want int) result {
	t.Helper()
	if r.code != want {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, want, r.stdout, r.stderr)
	}
	return r
}

// eventually polls cond until it holds or the wait ends.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", wait, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitForAlert waits until the node serves the alert with this id.
func waitForAlert(t *testing.T, n *fedNode, id string) *nodev1.VerifiedAlert {
	t.Helper()
	var va *nodev1.VerifiedAlert
	eventually(t, "alert "+id+" at "+n.admin, func() bool {
		res, err := n.node.Get(context.Background(), &nodev1.GetRequest{Id: id})
		va = res.GetAlert()
		return err == nil
	})
	return va
}

// lockedBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// background runs a command line until it ends or ctx is cancelled; its output can be
// watched while it runs, and its result is sent on the returned channel.
func background(ctx context.Context, args ...string) (stdout, stderr *lockedBuffer, done <-chan int) {
	stdout, stderr = &lockedBuffer{}, &lockedBuffer{}
	ch := make(chan int, 1)
	go func() { ch <- Run(ctx, args, strings.NewReader(""), stdout, stderr) }()
	return stdout, stderr, ch
}

// exitOf waits for a background command's exit code.
func exitOf(t *testing.T, done <-chan int) int {
	t.Helper()
	select {
	case code := <-done:
		return code
	case <-time.After(wait):
		t.Fatalf("command still running after %v", wait)
		return -1
	}
}
