package vaulttest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/vault/vaulttest"
)

func TestStopRestartKeepsState(t *testing.T) {
	s := vaulttest.Start(t)
	c := context.Background()
	if _, err := s.Client.KVv2("secret").Put(c, "probe", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	short, cancel := context.WithTimeout(c, 5*time.Second)
	defer cancel()
	if _, err := s.Client.Sys().HealthWithContext(short); err == nil {
		t.Fatal("health answered while stopped")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Client.KVv2("secret").Get(c, "probe")
	if err != nil || got.Data["v"] != "1" {
		t.Fatalf("state after restart: %v %v", got, err)
	}
}
