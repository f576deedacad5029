package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
)

// TestTrustRevokeWithDevSeal: an operator revokes a node key with the development seal;
// the notice reaches the other node; a notice sealed to a file is published later as a
// duplicate-free second notice; bad flags say what is wrong.
func TestTrustRevokeWithDevSeal(t *testing.T) {
	fed := testFederation(t, "NL", "BE")
	nl, be := fed.nodes[0], fed.nodes[1]
	info, err := nl.adm.GetNodeInfo(context.Background(), &nodev1.GetNodeInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(nl.dataDir, "keys")
	r := cix(t, "", "--addr", nl.d.Addr(), "trust", "revoke", "--admin", "NL", "--node", info.GetNode(),
		"--key-id", info.GetKeyid(), "--reason", "key-compromise", "--keystore", keys, "--comment", "laptop stolen").must(t, 0)
	if !strings.Contains(r.stdout, "published: key "+info.GetKeyid()[:16]) || !strings.Contains(r.stdout, "(key-compromise)") {
		t.Fatalf("revoke printed %q", r.stdout)
	}
	eventually(t, "the notice at BE", func() bool {
		l, err := be.adm.ListRevocations(context.Background(), &nodev1.ListRevocationsRequest{})
		return err == nil && len(l.GetRevocations()) == 1
	})

	file := filepath.Join(t.TempDir(), "retire.dsse")
	cix(t, "", "trust", "revoke", "--admin", "NL", "--node", info.GetNode(), "--all-keys",
		"--reason", "cessation-of-operation", "--effective", "2030-01-01T00:00:00Z", "--keystore", keys, "--out", file).must(t, 0)
	r = cix(t, "", "--addr", nl.d.Addr(), "trust", "publish", file).must(t, 0)
	if !strings.Contains(r.stdout, "published: every key of NL/"+info.GetNode()) {
		t.Fatalf("publish printed %q", r.stdout)
	}
	if r = cix(t, "", "--addr", nl.d.Addr(), "trust", "publish", file).must(t, 0); !strings.Contains(r.stdout, "already published") {
		t.Fatalf("publish again printed %q", r.stdout)
	}
	eventually(t, "both notices at BE", func() bool {
		l, err := be.adm.ListRevocations(context.Background(), &nodev1.ListRevocationsRequest{})
		return err == nil && len(l.GetRevocations()) == 2
	})
	r = cix(t, "", "--addr", be.d.Addr(), "trust", "list").must(t, 0)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 3 || !strings.Contains(lines[2], "revoked from 2030-01-01 00:00") {
		t.Fatalf("list:\n%s", r.stdout)
	}
	r = cix(t, "", "--addr", be.d.Addr(), "trust", "list", "--json").must(t, 0)
	var res struct {
		Revocations []struct{ Administration, Comment string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res.Revocations) != 2 || res.Revocations[0].Comment != "laptop stolen" {
		t.Fatalf("list --json: %v\n%s", err, r.stdout)
	}

	// BE's node does not publish NL's notices; BE's keystore cannot seal for NL.
	r = cix(t, "", "--addr", be.d.Addr(), "trust", "publish", file).must(t, 1)
	if !strings.Contains(r.stderr, "origin_mismatch") {
		t.Fatalf("NL notice at BE: %q", r.stderr)
	}
	r = cix(t, "", "trust", "revoke", "--admin", "NL", "--node", "n1", "--all-keys", "--reason", "superseded",
		"--keystore", filepath.Join(be.dataDir, "keys"), "--out", file).must(t, 1)
	if !strings.Contains(r.stderr, "not an anchor of NL") {
		t.Fatalf("BE keystore for NL: %q", r.stderr)
	}
	for _, bad := range [][]string{
		{"--admin", "NL", "--node", "n1", "--all-keys", "--keystore", keys},                                  // no reason
		{"--admin", "NL", "--node", "n1", "--reason", "superseded", "--keystore", keys},                      // no target
		{"--admin", "NL", "--seal-below", "2", "--node", "n1", "--reason", "superseded", "--keystore", keys}, // two targets
		{"--admin", "NL", "--node", "n1", "--all-keys", "--reason", "superseded"},                            // no seal
		{"--admin", "NL", "--node", "n1", "--all-keys", "--reason", "superseded", "--keystore", keys, "--effective", "yesterday"},
	} {
		if r := cix(t, "", append([]string{"trust", "revoke"}, bad...)...); r.code != 2 {
			t.Errorf("%v: exit %d, %q", bad, r.code, r.stderr)
		}
	}
}
