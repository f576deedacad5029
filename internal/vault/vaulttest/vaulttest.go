package vaulttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/cix-exchange/cix/internal/freeport"
)

// Environment variables read by FindBinary and Start.
const (
	EnvBinary  = "CIX_VAULT_BIN"
	EnvRequire = "CIX_REQUIRE_VAULT"
)

// ErrNoBinary reports that no vault binary was found.
var ErrNoBinary = errors.New("no vault binary: run .ci/vault.sh to build it (or set " + EnvBinary + ")")

// FindBinary returns the vault binary: $CIX_VAULT_BIN, else .ci/tools/bin/vault of the
// repository containing the working directory, else vault on PATH.
func FindBinary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			return "", fmt.Errorf("%s=%s: not a file", EnvBinary, p)
		}
		return p, nil
	}
	if dir, err := os.Getwd(); err == nil {
		for ; ; dir = filepath.Dir(dir) {
			p := filepath.Join(dir, ".ci", "tools", "bin", "vault")
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p, nil
			}
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil || filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if p, err := exec.LookPath("vault"); err == nil {
		return p, nil
	}
	return "", ErrNoBinary
}

// Server is a running dev-mode Vault.
type Server struct {
	// Addr is the server's address for clients (http://127.0.0.1:PORT).
	Addr string
	// Token is the root token.
	Token string
	// Client is an API client for Addr authenticated with the root token.
	Client *api.Client
	// Binary is the vault executable, also usable as the CLI against Addr.
	Binary string

	cmd    *exec.Cmd
	exited chan struct{}
	relay  *relay
	log    *lockedBuffer
}

// Start launches a dev server for t and stops it in t.Cleanup. It skips t when no binary
// is found, unless CIX_REQUIRE_VAULT=1.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := FindBinary()
	if err != nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%v (%s=1)", err, EnvRequire)
		}
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Launch(ctx, bin)
	if err != nil {
		t.Fatalf("start vault: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stop vault: %v", err)
		}
		if t.Failed() {
			t.Logf("vault server log (tail):\n%s", s.LogTail(1500))
		}
	})
	return s
}

// Launch starts `bin server -dev` on a free loopback port and waits until it is ready.
// The caller must Close the server.
func Launch(ctx context.Context, bin string) (*Server, error) {
	var last error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken before vault binds it
		s, err := launch(ctx, bin)
		if err == nil {
			return s, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

func launch(ctx context.Context, bin string) (*Server, error) {
	port, err := freeport.Port()
	if err != nil {
		return nil, err
	}
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	s := &Server{Token: "root-" + hex.EncodeToString(tok), Binary: bin, exited: make(chan struct{}), log: &lockedBuffer{}}
	backend := fmt.Sprintf("127.0.0.1:%d", port)
	s.cmd = exec.Command(bin, "server", "-dev", "-dev-no-store-token",
		"-dev-root-token-id="+s.Token, "-dev-listen-address="+backend)
	s.cmd.Env = cleanEnv()
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	// Pdeathsig: a Vault started by a process that dies (a killed demo) dies with it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	if s.relay, err = newRelay(backend); err != nil {
		_ = s.Close()
		return nil, err
	}
	s.Addr = "http://" + s.relay.addr
	cfg := api.DefaultConfig()
	cfg.Address = s.Addr
	cfg.MaxRetries = 0
	if s.Client, err = api.NewClient(cfg); err != nil {
		_ = s.Close()
		return nil, err
	}
	s.Client.SetToken(s.Token)
	if err := s.waitReady(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("%w; log:\n%s", err, s.LogTail(2000))
	}
	return s, nil
}

// waitReady polls sys/health until the server is initialised, unsealed and active.
func (s *Server) waitReady(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		h, err := s.Client.Sys().HealthWithContext(hctx)
		cancel()
		if err == nil && h.Initialized && !h.Sealed && !h.Standby {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("vault exited during start")
		case <-ctx.Done():
			return fmt.Errorf("vault not ready: %v (last: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// Stop makes the server unreachable, as if its process had stopped: new connections are
// refused and open ones are cut. Its state is kept for Restart.
func (s *Server) Stop() { s.relay.stop() }

// Restart makes a stopped server reachable again at the same address.
func (s *Server) Restart() error { return s.relay.start() }

// Close stops the vault process and waits for it to exit.
func (s *Server) Close() error {
	if s.relay != nil {
		s.relay.stop()
	}
	select {
	case <-s.exited:
		return nil
	default:
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
		return errors.New("vault did not stop on SIGTERM; killed")
	}
}

// LogTail returns up to the last n bytes of the server's output.
func (s *Server) LogTail(n int) string {
	b := s.log.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// ClientWithPolicies returns an API client for the server whose token holds only
// policies (not Vault's default policy), valid for an hour: a token as an operator or
// a node would hold.
func (s *Server) ClientWithPolicies(t testing.TB, policies ...string) *api.Client {
	t.Helper()
	tok, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: policies, NoDefaultPolicy: true, TTL: "1h"})
	if err != nil {
		t.Fatalf("create a token with policies %v: %v", policies, err)
	}
	c, err := s.Client.Clone()
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(tok.Auth.ClientToken)
	return c
}

// CLIEnv is the environment for running the vault CLI (s.Binary) against the server
// with the root token.
func (s *Server) CLIEnv() []string {
	return append(cleanEnv(), "VAULT_ADDR="+s.Addr, "VAULT_TOKEN="+s.Token)
}

// cleanEnv is the process environment without VAULT_* variables of the caller.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") {
			env = append(env, kv)
		}
	}
	return env
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// relay forwards TCP connections from a loopback listener to the vault process.
type relay struct {
	addr, backend string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

func newRelay(backend string) (*relay, error) {
	r := &relay{addr: "127.0.0.1:0", backend: backend, conns: map[net.Conn]struct{}{}}
	if err := r.start(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *relay) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		return nil
	}
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		if ln, err = net.Listen("tcp", r.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("relay listen %s: %w", r.addr, err)
	}
	r.ln, r.addr = ln, ln.Addr().String()
	go r.accept(ln)
	return nil
}

func (r *relay) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		_ = r.ln.Close()
		r.ln = nil
	}
	for c := range r.conns {
		_ = c.Close()
		delete(r.conns, c)
	}
}

func (r *relay) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", r.backend)
		if err != nil {
			_ = c.Close()
			continue
		}
		r.mu.Lock()
		if r.ln != ln { // stopped meanwhile
			r.mu.Unlock()
			_ = c.Close()
			_ = b.Close()
			return
		}
		r.conns[c], r.conns[b] = struct{}{}, struct{}{}
		r.mu.Unlock()
		go r.pipe(c, b)
		go r.pipe(b, c)
	}
}

func (r *relay) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
	r.mu.Lock()
	delete(r.conns, dst)
	delete(r.conns, src)
	r.mu.Unlock()
}
