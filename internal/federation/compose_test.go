package federation_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cix-exchange/cix/internal/federation"
	"github.com/nats-io/nats-server/v2/conf"
	"gopkg.in/yaml.v3"
)

// composeService is the part of a docker compose service this test reads.
type composeService struct {
	Environment map[string]string `yaml:"environment"`
	EnvFile     []string          `yaml:"env_file"`
	Volumes     []string          `yaml:"volumes"`
	NetworkMode string            `yaml:"network_mode"`
	Networks    any               `yaml:"networks"`
	Command     []string          `yaml:"command"`
}

// TestComposeMatchesTheConfigurations checks deploy/compose.yaml (which the tests do not
// run) against the manifest and the generated configurations it mounts: hub servers
// named and reachable as the cluster routes and the leaves' hub URLs say, one leaf per
// member with its own configuration, seed and store volume, and each member's node
// beside its leaf, connecting to the leaf's client listener in federation mode, with
// the private account's seed. internal/daemon's TestDeployComposeFederation starts them.
func TestComposeMatchesTheConfigurations(t *testing.T) {
	m, err := federation.Load(exampleManifest)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	hosts := map[string]bool{}
	for _, r := range m.Hub.Cluster.Routes {
		host := strings.Split(strings.TrimPrefix(r, "nats://"), ":")[0]
		name := strings.Split(host, ".")[0]
		s, ok := c.Services[name]
		switch {
		case !ok:
			t.Errorf("route %s: no service %s", r, name)
			continue
		case s.Environment["HUB_NAME"] != name:
			t.Errorf("%s: HUB_NAME %q", name, s.Environment["HUB_NAME"])
		case !slices.Contains(s.Volumes, "./nats/hub.conf:/etc/nats/hub.conf:ro"):
			t.Errorf("%s does not mount the hub configuration: %v", name, s.Volumes)
		case !strings.Contains(fmt.Sprint(s.Networks), host):
			t.Errorf("%s is not reachable as %s: %v", name, host, s.Networks)
		}
		hosts[host] = true
	}
	for _, mb := range m.Members {
		code, lower := mb.Code, strings.ToLower(mb.Code)
		leaf, node := c.Services["leaf-"+lower], c.Services["cixd-"+lower]
		if !slices.Contains(leaf.Volumes, "./nats/leaf-"+code+".conf:/etc/nats/leaf.conf:ro") ||
			!slices.Contains(leaf.EnvFile, "./secrets/leaf-"+code+".env") || !slices.Contains(leaf.Volumes, "leaf-"+lower+":/data") {
			t.Errorf("leaf-%s: volumes %v, env files %v", lower, leaf.Volumes, leaf.EnvFile)
		}
		text, err := os.ReadFile("../../deploy/nats/leaf-" + code + ".conf")
		if err != nil {
			t.Fatal(err)
		}
		// nats-server's parser, without loading the certificate files named.
		t.Setenv("CIX_LEAF_NKEY_SEED", "seed")
		lc, err := conf.Parse(string(text))
		if err != nil {
			t.Fatal(err)
		}
		if dir := lc["jetstream"].(map[string]any)["store_dir"].(string); !strings.HasPrefix(dir, "/data/") {
			t.Errorf("leaf-%s stores in %s, outside its volume", lower, dir)
		}
		remote := lc["leafnodes"].(map[string]any)["remotes"].([]any)[0].(map[string]any)
		for _, u := range remote["urls"].([]any) {
			if host := strings.Split(strings.TrimPrefix(u.(string), "tls://"), ":")[0]; !hosts[host] {
				t.Errorf("leaf-%s connects to %s, which is no hub server", lower, u)
			}
		}
		if node.NetworkMode != "service:leaf-"+lower || !containsRun(node.Command, []string{"-config", "/etc/cix/cixd.yaml"}) {
			t.Errorf("cixd-%s: network %q, command %v; want it beside its leaf with -config /etc/cix/cixd.yaml", lower, node.NetworkMode, node.Command)
		}
		// The node's configuration: this member's node in federation mode with the
		// manifest, on its leaf's client listener, with the private account's seed.
		for _, v := range []string{"./cixd/cixd-" + code + ".yaml:/etc/cix/cixd.yaml:ro", "./nats/manifest.example.yaml:/etc/cix/manifest.yaml:ro",
			"./secrets/" + code + "/private.seed:/etc/cix/private.seed:ro"} {
			if !slices.Contains(node.Volumes, v) {
				t.Errorf("cixd-%s does not mount %s: %v", lower, v, node.Volumes)
			}
		}
		nb, err := os.ReadFile("../../deploy/cixd/cixd-" + code + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		var nc struct {
			Administration string `yaml:"administration"`
			Node           string `yaml:"node"`
			NATS           struct {
				URLs               []string `yaml:"urls"`
				PrivateCredentials string   `yaml:"private_credentials"`
			} `yaml:"nats"`
			Federation struct {
				Manifest string `yaml:"manifest"`
			} `yaml:"federation"`
		}
		if err := yaml.Unmarshal(nb, &nc); err != nil {
			t.Fatal(err)
		}
		if nc.Administration != code || nc.Node != mb.Nodes[0] || !slices.Equal(nc.NATS.URLs, []string{"nats://" + lc["listen"].(string)}) ||
			nc.NATS.PrivateCredentials != "/etc/cix/private.seed" || nc.Federation.Manifest != "/etc/cix/manifest.yaml" {
			t.Errorf("deploy/cixd/cixd-%s.yaml: %+v", code, nc)
		}
		if _, ok := lc["accounts"].(map[string]any)[federation.PrivateAccount]; !ok {
			t.Errorf("leaf-%s has no private account %s", lower, federation.PrivateAccount)
		}
	}
}

// containsRun reports whether want appears in s as consecutive pairs of flag and value.
func containsRun(s, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		j := slices.Index(s, want[i])
		if j < 0 || j+1 >= len(s) || s[j+1] != want[i+1] {
			return false
		}
	}
	return true
}
