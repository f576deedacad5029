package vault_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/vault"
)

func TestLogin(t *testing.T) {
	e := newEnv(t)
	node := nodes[0]
	roleID := e.res.NodeRoleIDs[node]
	cfg := func(mod func(*vault.AuthConfig)) vault.AuthConfig {
		c := vault.AuthConfig{Method: vault.AuthAppRole, Address: e.srv.Addr, RoleID: roleID}
		mod(&c)
		return c
	}
	writeFile := func(content string) string {
		p := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// canSign proves the session holds the node's token (its policy allows nothing else).
	canSign := func(s *vault.Session) {
		t.Helper()
		if _, err := vault.NewIdentity(ctx(t), s.Client(), vault.IdentityConfig{Administration: admin, Node: node}); err != nil {
			t.Fatalf("session cannot act as %s: %v", node, err)
		}
	}
	login := func(c vault.AuthConfig) (*vault.Session, error) {
		s, err := vault.Login(ctx(t), c, testLog(t))
		if err == nil {
			t.Cleanup(s.Stop)
		}
		return s, err
	}

	t.Run("plain secret id from file", func(t *testing.T) {
		id, err := e.res.NodeSecretID(ctx(t), node, 0)
		if err != nil {
			t.Fatal(err)
		}
		s, err := login(cfg(func(c *vault.AuthConfig) { c.SecretIDFile = writeFile(id + "\n") }))
		if err != nil {
			t.Fatal(err)
		}
		if ok, why := s.Healthy(); !ok || s.Logins() != 1 {
			t.Fatalf("healthy=%v (%s) logins=%d", ok, why, s.Logins())
		}
		canSign(s)
	})

	t.Run("plain secret id from environment", func(t *testing.T) {
		id, err := e.res.NodeSecretID(ctx(t), node, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("CIX_TEST_SECRET_ID", id)
		s, err := login(cfg(func(c *vault.AuthConfig) { c.SecretIDEnv = "CIX_TEST_SECRET_ID" }))
		if err != nil {
			t.Fatal(err)
		}
		canSign(s)
	})

	t.Run("wrapped secret id", func(t *testing.T) {
		wrap, err := e.res.NodeSecretID(ctx(t), node, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		file := writeFile(wrap)
		s, err := login(cfg(func(c *vault.AuthConfig) { c.SecretIDFile = file; c.WrappedSecretID = true }))
		if err != nil {
			t.Fatal(err)
		}
		canSign(s)
		// A wrapping token is single-use: a second node presenting it is refused.
		if _, err := login(cfg(func(c *vault.AuthConfig) { c.SecretIDFile = file; c.WrappedSecretID = true })); err == nil {
			t.Fatal("wrapping token used twice")
		}
	})

	t.Run("wrapped token of something else", func(t *testing.T) {
		// A wrapping token that does not come from a secret-id endpoint is refused
		// before it is unwrapped.
		c, err := e.srv.Client.Clone()
		if err != nil {
			t.Fatal(err)
		}
		c.SetToken(e.srv.Token)
		c.SetWrappingLookupFunc(func(string, string) string { return "1m" })
		w, err := c.Logical().WriteWithContext(ctx(t), "sys/wrapping/wrap", map[string]any{"secret_id": "forged"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = login(cfg(func(c *vault.AuthConfig) { c.SecretIDFile = writeFile(w.WrapInfo.Token); c.WrappedSecretID = true }))
		if err == nil || !strings.Contains(err.Error(), "sys/wrapping/wrap") {
			t.Fatalf("foreign wrapping token: %v", err)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		bad := []vault.AuthConfig{
			cfg(func(c *vault.AuthConfig) { c.SecretIDFile = writeFile("not-a-secret-id") }),
			cfg(func(c *vault.AuthConfig) { c.SecretIDFile = filepath.Join(t.TempDir(), "missing") }),
			cfg(func(c *vault.AuthConfig) { c.SecretIDFile = writeFile("x"); c.SecretIDEnv = "X" }),
			cfg(func(c *vault.AuthConfig) { c.RoleID = ""; c.SecretIDFile = writeFile("x") }),
			cfg(func(c *vault.AuthConfig) { c.Method = "ldap" }),
			{Method: vault.AuthToken, Address: e.srv.Addr, Token: "not-a-token"},
		}
		for i, c := range bad {
			if _, err := login(c); err == nil {
				t.Errorf("config %d accepted", i)
			}
		}
	})

	t.Run("token", func(t *testing.T) {
		s, err := login(vault.AuthConfig{Method: vault.AuthToken, Address: e.srv.Addr, Token: e.srv.Token})
		if err != nil {
			t.Fatal(err)
		}
		if ok, why := s.Healthy(); !ok {
			t.Fatal(why)
		}
		if _, err := s.Client().Sys().ListMountsWithContext(ctx(t)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSessionRenewsAndLogsInAgain uses tokens of 2s TTL and 4s maximum: the watcher
// must renew the first token past its initial TTL, and log in again at the maximum.
func TestSessionRenewsAndLogsInAgain(t *testing.T) {
	e := newEnv(t, vault.WithTokenTTL(2*time.Second, 4*time.Second))
	s := e.nodeSession(t, nodes[0])
	first := s.Client().Token()
	renewed := false
	waitFor(t, 30*time.Second, "renewal, then a new login", func() error {
		if !renewed {
			look, err := e.srv.Client.Auth().Token().LookupWithContext(ctx(t), first)
			if err == nil {
				lr := fmt.Sprint(look.Data["last_renewal_time"])
				renewed = lr != "" && lr != "0" && lr != "<nil>"
			}
		}
		if !renewed || s.Logins() < 2 || s.Client().Token() == first {
			return fmt.Errorf("renewed=%v logins=%d", renewed, s.Logins())
		}
		return nil
	})
	if ok, why := s.Healthy(); !ok {
		t.Fatalf("unhealthy after re-login: %s", why)
	}
	// The new token works.
	if _, err := vault.NewIdentity(ctx(t), s.Client(), vault.IdentityConfig{Administration: admin, Node: nodes[0]}); err != nil {
		t.Fatal(err)
	}
}

// TestSessionSurvivesOutage: while Vault is unreachable the session reports the failure;
// when it is back, the session logs in again.
func TestSessionSurvivesOutage(t *testing.T) {
	e := newEnv(t, vault.WithTokenTTL(2*time.Second, 4*time.Second))
	s := e.nodeSession(t, nodes[0])
	e.srv.Stop()
	waitFor(t, 30*time.Second, "unhealthy while vault is down", func() error {
		if ok, _ := s.Healthy(); ok {
			return fmt.Errorf("still healthy")
		}
		return nil
	})
	_, why := s.Healthy()
	t.Logf("while down: %s", why)
	if err := e.srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "healthy again", func() error {
		if ok, why := s.Healthy(); !ok {
			return fmt.Errorf("%s", why)
		}
		return nil
	})
	if _, err := vault.NewIdentity(ctx(t), s.Client(), vault.IdentityConfig{Administration: admin, Node: nodes[0]}); err != nil {
		t.Fatal(err)
	}
}
