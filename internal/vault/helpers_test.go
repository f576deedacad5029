package vault_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/vault"
	"github.com/cix-exchange/cix/internal/vault/vaulttest"
	"github.com/hashicorp/vault/api"
)

const admin = "NL"

var nodes = []string{"nl-1", "nl-2"}

// env is a dev Vault bootstrapped for NL with nodes nl-1 and nl-2.
type env struct {
	srv *vaulttest.Server
	res *vault.BootstrapResult
}

func newEnv(t *testing.T, opts ...vault.BootstrapOption) *env {
	t.Helper()
	srv := vaulttest.Start(t)
	res, err := vault.Bootstrap(ctx(t), srv.Client, admin, nodes, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, res: res}
}

// login logs in as an AppRole role with a plain secret id read from a file.
func (e *env) login(t *testing.T, role, roleID string) *vault.Session {
	t.Helper()
	id, err := vault.NewSecretID(ctx(t), e.srv.Client, role, 0)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "secret-id")
	if err := os.WriteFile(file, []byte(id+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := vault.Login(ctx(t), vault.AuthConfig{
		Method: vault.AuthAppRole, Address: e.srv.Addr, RoleID: roleID, SecretIDFile: file,
		RetryMin: 100 * time.Millisecond, RetryMax: time.Second,
	}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func (e *env) nodeSession(t *testing.T, node string) *vault.Session {
	t.Helper()
	return e.login(t, vault.NodeRole(node), e.res.NodeRoleIDs[node])
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// waitFor polls cond every tick until it returns nil or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// statusOf returns the HTTP status of a Vault API error (0 if none).
func statusOf(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func wantStatus(t *testing.T, what string, err error, code int) {
	t.Helper()
	if statusOf(err) != code {
		t.Fatalf("%s: want HTTP %d (%s), got %v", what, code, http.StatusText(code), err)
	}
}

// fakeClock is an adjustable clock starting at the real time.
type fakeClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// fastRenewal looks at clock every 10ms and retries failures within 200ms.
func fastRenewal(t *testing.T, clock *fakeClock) vault.Renewal {
	return vault.Renewal{Now: clock.Now, Tick: 10 * time.Millisecond, RetryMin: 50 * time.Millisecond,
		RetryMax: 200 * time.Millisecond, Log: testLog(t)}
}

// testLog is a logger writing to t.Log until the test's cleanups have run.
func testLog(t *testing.T) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}
