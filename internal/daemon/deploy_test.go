package daemon_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/daemon"
	fed "github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/freeport"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/natsembed"
	"github.com/cix-exchange/cix/internal/sealed"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"gopkg.in/yaml.v3"
)

// The deploy tests start the files deploy/compose.yaml mounts, as they are committed,
// without docker: the hub cluster (deploy/nats/hub.conf, three servers), the leaves
// (deploy/nats/leaf-XX.conf), the nodes (deploy/cixd/cixd-XX.yaml) and the manifest.
//
// What they change, and nothing else (all of it here: root and inContainer build the
// containers' file systems, natsConfig rewrites the paths of a nats configuration,
// startHub and startLeaf their listeners, routes and hub URLs, startNode the node
// configuration's paths, NATS URL and gRPC listener, copyDeploy the keys):
//
//   - Container paths. Each service gets a root folder standing for its container's
//     file system; every mount of the compose file becomes a symbolic link there, at
//     the mount's target, to the mount's source in a copy of deploy/ (named volumes:
//     an empty folder). A path in a configuration is prefixed with its container's root
//     (nats configurations: in the text, since nats-server reads the certificates while
//     parsing; node configurations: in the parsed configuration). A path not under a
//     mount fails the test.
//   - Host names and ports. Listeners move from their fixed ports (4222, 6222, 7422,
//     7400, the leaves' 127.0.0.1:4222, which the three leaves would share) to free
//     ports on 127.0.0.1; hub-N.cix.example:PORT in the routes and the leaves' hub URLs
//     becomes 127.0.0.1 and hub-N's port (the test certificate names 127.0.0.1 as well
//     as the hub names); the node's nats://127.0.0.1:4222 becomes its leaf's port; the
//     hubs' monitoring listener is off.
//   - The example keys. The committed manifest and configurations hold public keys
//     whose secrets were not kept (leaf_nkeys, age recipients, the nodes' users in
//     LOCAL); the test generates its own and replaces each public key by its own
//     wherever it occurs, as a deployment generates its own configurations.
//   - What the compose file asks the operator to provide: certificates (deploy/tls),
//     seeds (deploy/secrets), age identities, the dev keystores' anchors.

const deployDir = "../../deploy"

type deployService struct {
	Environment map[string]string `yaml:"environment"`
	EnvFile     []string          `yaml:"env_file"`
	Volumes     []string          `yaml:"volumes"`
	NetworkMode string            `yaml:"network_mode"`
	Command     []string          `yaml:"command"`
}

// deployNet is the compose file's federation, running.
type deployNet struct {
	t       *testing.T
	dir     string // the copy of deploy/ (host side of the bind mounts)
	compose map[string]deployService
	codes   []string
	// host:port in the committed files -> 127.0.0.1:free port
	addr map[string]string

	hubsMu sync.Mutex
	hubs   map[string]*server.Server // by service name
	leaves map[string]*server.Server // by code
	nodes  map[string]*testNode      // by code
}

func startDeploy(t *testing.T) *deployNet {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]deployService `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	d := &deployNet{t: t, dir: filepath.Join(t.TempDir(), "deploy"), compose: c.Services, addr: map[string]string{},
		hubs: map[string]*server.Server{}, leaves: map[string]*server.Server{}, nodes: map[string]*testNode{}}
	m, err := fed.Load(filepath.Join(deployDir, "nats", "manifest.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range m.Members {
		d.codes = append(d.codes, mb.Code)
	}
	keys := d.prepare(m)
	d.copyDeploy(keys)

	// Hub cluster: the three services that mount hub.conf.
	var hubNames []string
	for name, s := range c.Services {
		if slices.ContainsFunc(s.Volumes, func(v string) bool { return strings.HasPrefix(v, "./nats/hub.conf:") }) {
			hubNames = append(hubNames, name)
		}
	}
	slices.Sort(hubNames)
	if len(hubNames) != 3 {
		t.Fatalf("hub services %v, want 3", hubNames)
	}
	for _, h := range hubNames {
		host := h + ".cix.example"
		for _, p := range []string{"4222", "6222", "7422"} {
			d.addr[host+":"+p] = "127.0.0.1:" + strconv.Itoa(freeport.MustPort())
		}
	}
	for _, h := range hubNames {
		d.startHub(h)
	}
	t.Cleanup(func() {
		for _, h := range hubNames {
			d.stopHub(h)
		}
	})
	eventually(t, 60*time.Second, "the hub cluster's routes", func() bool {
		d.hubsMu.Lock()
		defer d.hubsMu.Unlock()
		for _, s := range d.hubs {
			if s.NumRoutes() < len(hubNames)-1 {
				return false
			}
		}
		return true
	})

	for _, code := range d.codes {
		d.startLeaf(code)
	}
	d.waitLeaves(len(d.codes))
	for _, code := range d.codes {
		d.startNode(code)
	}
	return d
}

// prepare writes into the copy of deploy/ what the compose file's header asks for
// (certificates, seeds, age identities, keystores and anchors) and returns the example
// public keys to replace: committed key -> the test's.
func (d *deployNet) prepare(m *fed.Manifest) map[string]string {
	t := d.t
	keys := map[string]string{}
	ca, caKey := testCA(t)
	writeCert(t, filepath.Join(d.dir, "tls", "hub"), "hub", ca, caKey, true,
		"hub-1.cix.example", "hub-2.cix.example", "hub-3.cix.example")
	for _, mb := range m.Members {
		c := mb.Code
		writeCert(t, filepath.Join(d.dir, "tls", c), "leaf", ca, caKey, false, "leaf-"+strings.ToLower(c))
		// The leaf's nkey: its seed in the env file, its public key for the manifest's.
		leafSeed, leafPub := newUserKey(t)
		writeFile(t, filepath.Join(d.dir, "secrets", "leaf-"+c+".env"), "CIX_LEAF_NKEY_SEED="+leafSeed+"\n")
		keys[mb.LeafNkeys[0]] = leafPub
		// The node's user in LOCAL.
		privSeed, privPub := newUserKey(t)
		writeFile(t, filepath.Join(d.dir, "secrets", c, "private.seed"), privSeed+"\n")
		text, err := os.ReadFile(filepath.Join(deployDir, "nats", "leaf-"+c+".conf"))
		if err != nil {
			t.Fatal(err)
		}
		pm := regexp.MustCompile(`LOCAL \{[^}]*nkey: "(U[A-Z0-9]+)"`).FindSubmatch(text)
		if pm == nil {
			t.Fatalf("deploy/nats/leaf-%s.conf has no private account LOCAL with an nkey user", c)
		}
		keys[string(pm[1])] = privPub
		// The administration's age identity and its node's dev keystore.
		keysDir := filepath.Join(d.dir, "secrets", c, "keys")
		id, err := sealed.Generate()
		if err != nil {
			t.Fatal(err)
		}
		if err := sealed.WriteFile(sealed.IdentityFile(keysDir), id); err != nil {
			t.Fatal(err)
		}
		keys[mb.AgeRecipient] = id.Recipient().String()
		ks, err := trust.OpenDevKeystore(keysDir, c, mb.Nodes[0], nil)
		if err != nil {
			t.Fatal(err)
		}
		anchor, err := os.ReadFile(ks.AnchorPath())
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(d.dir, "secrets", "anchors", c+".pem"), string(anchor))
	}
	return keys
}

// copyDeploy copies the committed files the compose file mounts into the test's
// deploy/, each example key replaced by the test's.
func (d *deployNet) copyDeploy(keys map[string]string) {
	t := d.t
	for _, sub := range []string{"nats", "cixd"} {
		entries, err := os.ReadDir(filepath.Join(deployDir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(deployDir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			text := string(b)
			for from, to := range keys {
				text = strings.ReplaceAll(text, from, to)
			}
			writeFile(t, filepath.Join(d.dir, sub, e.Name()), text)
		}
	}
}

// root builds the container file system of service: its bind mounts as links into the
// test's deploy/ and its named volumes as empty folders. It returns the root folder.
func (d *deployNet) root(service string) string {
	t := d.t
	root := filepath.Join(filepath.Dir(d.dir), "containers", service)
	if _, err := os.Stat(root); err == nil {
		return root // already built (a restart)
	}
	s, ok := d.compose[service]
	if !ok {
		t.Fatalf("compose.yaml has no service %s", service)
	}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		target := filepath.Join(root, parts[1])
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(parts[0], "./") {
			// A named volume.
			if err := os.MkdirAll(filepath.Join(filepath.Dir(d.dir), "volumes", parts[0]), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(filepath.Dir(d.dir), "volumes", parts[0]), target); err != nil {
				t.Fatal(err)
			}
			continue
		}
		src := filepath.Join(d.dir, parts[0])
		if _, err := os.Stat(src); err != nil {
			t.Fatalf("%s mounts %s: %v", service, parts[0], err)
		}
		if err := os.Symlink(src, target); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// inContainer is path (absolute, inside the container of service) on the test's file
// system; the path must be under one of the service's mounts.
func (d *deployNet) inContainer(service, path string) string {
	d.t.Helper()
	for _, v := range d.compose[service].Volumes {
		target := strings.Split(v, ":")[1]
		if path == target || strings.HasPrefix(path, target+"/") {
			return filepath.Join(d.root(service), path)
		}
	}
	d.t.Fatalf("%s: %s is not under any of its mounts %v", service, path, d.compose[service].Volumes)
	return ""
}

// natsConfig writes the nats configuration that service mounts at /etc/nats/NAME with
// its container paths rewritten, and returns the file.
func (d *deployNet) natsConfig(service, name string) string {
	t := d.t
	root := d.root(service)
	text, err := os.ReadFile(filepath.Join(root, "etc", "nats", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(text)
	for _, v := range d.compose[service].Volumes {
		target := strings.Split(v, ":")[1]
		s = strings.ReplaceAll(s, `"`+target+`/`, `"`+filepath.Join(root, target)+`/`)
	}
	out := filepath.Join(filepath.Dir(d.dir), "rewritten", service+"-"+name)
	writeFile(t, out, s)
	return out
}

// local is the test's address for host:port of the committed files.
func (d *deployNet) local(hostPort string) string {
	d.t.Helper()
	a, ok := d.addr[hostPort]
	if !ok {
		d.t.Fatalf("no test address for %s", hostPort)
	}
	return a
}

func (d *deployNet) startHub(service string) {
	t := d.t
	t.Helper()
	s := d.compose[service]
	if !slices.Contains(s.Command, "/etc/nats/hub.conf") {
		t.Fatalf("%s runs %v", service, s.Command)
	}
	file := d.natsConfig(service, "hub.conf")
	t.Setenv("HUB_NAME", s.Environment["HUB_NAME"]) // read while the file is parsed
	host := service + ".cix.example"
	srv, err := natsembed.StartFile(file, func(o *server.Options) {
		hostPort := func(a string) (string, int) {
			h, p, _ := net.SplitHostPort(a)
			n, _ := strconv.Atoi(p)
			return h, n
		}
		o.Host, o.Port = hostPort(d.local(host + ":" + strconv.Itoa(o.Port)))
		o.LeafNode.Host, o.LeafNode.Port = hostPort(d.local(host + ":" + strconv.Itoa(o.LeafNode.Port)))
		o.Cluster.Host, o.Cluster.Port = hostPort(d.local(host + ":" + strconv.Itoa(o.Cluster.Port)))
		for i, r := range o.Routes {
			o.Routes[i] = &url.URL{Scheme: r.Scheme, Host: d.local(r.Host)}
		}
		o.HTTPPort = 0
	})
	if err != nil {
		t.Fatalf("%s: %v", service, err)
	}
	d.hubsMu.Lock()
	d.hubs[service] = srv
	d.hubsMu.Unlock()
}

func (d *deployNet) stopHub(service string) {
	d.hubsMu.Lock()
	s := d.hubs[service]
	delete(d.hubs, service)
	d.hubsMu.Unlock()
	if s != nil {
		natsembed.Stop(s)
	}
}

// leafCount is the number of leaf connections at the running hub servers.
func (d *deployNet) leafCount() int {
	d.hubsMu.Lock()
	defer d.hubsMu.Unlock()
	n := 0
	for _, s := range d.hubs {
		n += s.NumLeafNodes()
	}
	return n
}

func (d *deployNet) waitLeaves(n int) {
	d.t.Helper()
	eventually(d.t, 60*time.Second, fmt.Sprintf("%d leaf connections at the hub cluster", n), func() bool { return d.leafCount() == n })
}

func (d *deployNet) startLeaf(code string) {
	t := d.t
	t.Helper()
	service := "leaf-" + strings.ToLower(code)
	s := d.compose[service]
	if len(s.EnvFile) != 1 {
		t.Fatalf("%s: env files %v", service, s.EnvFile)
	}
	env, err := os.ReadFile(filepath.Join(d.dir, s.EnvFile[0]))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(env)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		t.Setenv(k, v) // read while the file is parsed
	}
	file := d.natsConfig(service, "leaf.conf")
	srv, err := natsembed.StartFile(file, func(o *server.Options) {
		listen := net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
		if _, ok := d.addr[service+"/"+listen]; !ok {
			d.addr[service+"/"+listen] = "127.0.0.1:" + strconv.Itoa(freeport.MustPort())
		}
		h, p, _ := net.SplitHostPort(d.addr[service+"/"+listen])
		o.Host = h
		o.Port, _ = strconv.Atoi(p)
		for _, r := range o.LeafNode.Remotes {
			for i, u := range r.URLs {
				r.URLs[i] = &url.URL{Scheme: u.Scheme, Host: d.local(u.Host)}
			}
		}
	})
	if err != nil {
		t.Fatalf("%s: %v", service, err)
	}
	t.Cleanup(func() { natsembed.Stop(srv) })
	d.leaves[code] = srv
}

// startNode starts the node of code from the configuration its service mounts.
func (d *deployNet) startNode(code string) *testNode {
	t := d.t
	t.Helper()
	service := "cixd-" + strings.ToLower(code)
	s := d.compose[service]
	leafService := "leaf-" + strings.ToLower(code)
	if s.NetworkMode != "service:"+leafService {
		t.Fatalf("%s: network_mode %q, not beside %s", service, s.NetworkMode, leafService)
	}
	// cixd's own flag parsing, with the command of the compose file.
	fs := flag.NewFlagSet("cixd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags := config.NewFlags(fs)
	args := slices.Clone(s.Command)
	if i := slices.Index(args, "-config"); i < 0 || i+1 >= len(args) {
		t.Fatalf("%s: command %v without -config", service, args)
	} else {
		args[i+1] = d.inContainer(service, args[i+1])
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := flags.Resolve()
	if err != nil {
		t.Fatalf("%s: %v", service, err)
	}
	// Container paths, the leaf's listener (same network namespace), gRPC's port.
	cfg.DataDir = d.inContainer(service, cfg.DataDir)
	cfg.Federation.Manifest = d.inContainer(service, cfg.Federation.Manifest)
	cfg.NATS.PrivateCredentials = d.inContainer(service, cfg.NATS.PrivateCredentials)
	for i, a := range cfg.Trust.Anchors {
		cfg.Trust.Anchors[i] = d.inContainer(service, a)
	}
	for i, u := range cfg.NATS.URLs {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		cfg.NATS.URLs[i] = p.Scheme + "://" + d.local(leafService+"/"+p.Host)
	}
	cfg.GRPC.Listen = "127.0.0.1:0"

	dm, err := daemon.Start(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatalf("start %s: %v", service, err)
	}
	t.Cleanup(func() {
		if err := dm.Stop(); err != nil {
			t.Errorf("stop %s: %v", service, err)
		}
	})
	ks, err := trust.OpenDevKeystore(cfg.KeystoreDir(), cfg.Administration, cfg.Node, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{d: dm, cfg: cfg, ks: ks}
	if cfg.TLSMode() == config.TLSDev {
		// The admin certificate the dev mode writes, as an operator would use it.
		pair, err := tls.LoadX509KeyPair(filepath.Join(cfg.TLSDir(), "admin.pem"), filepath.Join(cfg.TLSDir(), "admin.key"))
		if err != nil {
			t.Fatal(err)
		}
		n.conn = tlsConn(t, dm.Addr(), ks.Anchor(), &pair)
	} else {
		t.Fatalf("%s: gRPC TLS mode %q; the compose file's nodes listen on 0.0.0.0 and need mutual TLS", service, cfg.TLSMode())
	}
	n.client, n.admin = nodev1.NewNodeServiceClient(n.conn), nodev1.NewAdminServiceClient(n.conn)
	d.nodes[code] = n
	return n
}

// TestDeployComposeFederation starts the federation of deploy/compose.yaml from its
// committed files (see the top of this file for what is rewritten) and checks that an
// all-members, a group and a bilateral alert reach exactly their audience, and that
// each node keeps its private streams out of the account bound to the hub.
func TestDeployComposeFederation(t *testing.T) {
	d := startDeploy(t)
	checkDeployScopes(t, d)
	for _, c := range d.codes {
		checkPrivateStreams(t, c, d.nodes[c], d.leaves[c].ClientURL())
	}
}

// checkPrivateStreams checks that node n of code keeps its feed and quarantine in the
// leaf's private account, and that the account any client of leafURL is in (CIX, bound
// to the hub) lists the outbound stream and no private stream.
func checkPrivateStreams(t *testing.T, code string, n *testNode, leafURL string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	pc := n.d.PrivateConn()
	if pc == nil {
		t.Fatalf("%s has no private connection", code)
	}
	pjs, err := jetstream.New(pc)
	if err != nil {
		t.Fatal(err)
	}
	node := strings.ToUpper(strings.ReplaceAll(n.cfg.Node, "-", "_"))
	for _, name := range []string{"CIX_FEED_" + code + "_" + node, "CIX_QUARANTINE_" + code + "_" + node} {
		if _, err := pjs.Stream(ctx, name); err != nil {
			t.Errorf("%s: %s not in the private account: %v", code, name, err)
		}
	}
	raw, err := nats.Connect(leafURL, nats.Name("raw "+code))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	bound, err := jetstream.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	names := bound.StreamNames(ctx)
	for name := range names.Name() {
		listed[name] = true
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	if !listed[fed.OutboundStream(code)] || !listed[fed.InboundStream(code)] {
		t.Errorf("%s: the hub-bound account lists %v, not the bus streams", code, listed)
	}
	for name := range listed {
		if strings.Contains(name, "FEED") || strings.Contains(name, "QUARANTINE") || strings.Contains(name, "STATE") || strings.HasPrefix(name, "KV_") {
			t.Errorf("%s: the hub-bound account lists the private stream %s", code, name)
		}
	}
}

// checkDeployScopes publishes at NL an alert for all members, one for benelux (NL,
// BE), one for op-north-star (NL, DE) and one for DE alone, and checks that each node
// receives exactly those of its scopes.
func checkDeployScopes(t *testing.T, d *deployNet) {
	t.Helper()
	subs := map[string]*subscription{}
	for _, c := range d.codes {
		subs[c] = subscribe(t, d.nodes[c], &nodev1.SubscribeRequest{})
	}
	nl := d.nodes["NL"]
	all := publish(t, nl, alertFor(&alertv1.Audience{AllMembers: true})).Id
	benelux := publish(t, nl, alertFor(&alertv1.Audience{Groups: []string{"benelux"}})).Id
	north := publish(t, nl, alertFor(&alertv1.Audience{Groups: []string{"op-north-star"}})).Id
	toDE := publish(t, nl, alertFor(&alertv1.Audience{Administrations: []string{"DE"}})).Id
	// Sentinels last on each scope BE could wrongly receive: once BE holds its own
	// scopes' sentinels, anything for it published before has arrived.
	toBE := publish(t, nl, alertFor(&alertv1.Audience{Administrations: []string{"BE"}})).Id
	endAll := publish(t, nl, alertFor(&alertv1.Audience{AllMembers: true})).Id
	deWait := 60 * time.Second
	receivedSetWithin(t, "NL", subs["NL"], deWait, all, benelux, north, toDE, toBE, endAll)
	receivedSetWithin(t, "BE", subs["BE"], deWait, all, benelux, toBE, endAll)
	receivedSetWithin(t, "DE", subs["DE"], deWait, all, north, toDE, endAll)
	// Nothing more: an alert of DE for all members is the next thing BE sees, and one of
	// BE the next thing DE sees.
	fromDE := publish(t, d.nodes["DE"], alertFor(&alertv1.Audience{AllMembers: true})).Id
	fromBE := publish(t, d.nodes["BE"], alertFor(&alertv1.Audience{AllMembers: true})).Id
	receivedSetWithin(t, "BE", subs["BE"], deWait, fromDE, fromBE)
	receivedSetWithin(t, "DE", subs["DE"], deWait, fromDE, fromBE)
	receivedSetWithin(t, "NL", subs["NL"], deWait, fromDE, fromBE)
}

// receivedSetWithin is receivedSet with its own deadline per alert.
func receivedSetWithin(t *testing.T, who string, s *subscription, wait time.Duration, want ...string) {
	t.Helper()
	missing := map[string]bool{}
	for _, id := range want {
		missing[id] = true
	}
	for len(missing) > 0 {
		id := s.nextAlert(t, wait).GetAlert().GetId()
		if !missing[id] {
			t.Fatalf("%s received %s, not one of %v (or twice)", who, id, want)
		}
		delete(missing, id)
	}
}

// testCA is a certificate authority for the test's TLS certificates.
func testCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cix deploy test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// writeCert writes dir/NAME.pem, dir/NAME-key.pem and dir/ca.pem: a certificate under
// ca for the DNS names and 127.0.0.1 (where the test runs them), for client
// authentication and, when server, for server authentication too.
func writeCert(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, server bool, dns ...string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if server {
		usage = append(usage, x509.ExtKeyUsageServerAuth)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: dns[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage,
		DNSNames: dns, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, name+".pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, filepath.Join(dir, name+"-key.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})))
	writeFile(t, filepath.Join(dir, "ca.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})))
}

func newUserKey(t *testing.T) (seed, pub string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	s, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	p, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return string(s), p
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDeployHubClusterLosesAServer runs the production hub example (deploy/nats/hub.conf
// as a 3-server cluster with TLS on every listener), lets the leaves join, stops the hub
// server holding the most leaf connections and checks that its leaves move to the other
// two and that alerts published before and after, on every kind of scope, still reach
// exactly their audience through the leaves' JetStream sources; then it starts that
// server again, stops another one and checks the same.
func TestDeployHubClusterLosesAServer(t *testing.T) {
	d := startDeploy(t)
	checkDeployScopes(t, d)

	var victim string
	most := -1
	d.hubsMu.Lock()
	for name, s := range d.hubs {
		if n := s.NumLeafNodes(); n > most {
			victim, most = name, n
		}
	}
	d.hubsMu.Unlock()
	t.Logf("stopping %s, which holds %d of the %d leaf connections", victim, most, len(d.codes))
	stopped := time.Now()
	d.stopHub(victim)
	// Published while the stopped server's leaves reconnect: stored in NL's domain and
	// sourced by the others once they are back.
	ids := []string{
		publish(t, d.nodes["NL"], alertFor(&alertv1.Audience{AllMembers: true})).Id,
		publish(t, d.nodes["NL"], alertFor(&alertv1.Audience{Groups: []string{"benelux"}})).Id,
		publish(t, d.nodes["NL"], alertFor(&alertv1.Audience{Administrations: []string{"DE"}})).Id,
	}
	d.waitLeaves(len(d.codes))
	t.Logf("leaves back on the two remaining servers %v after stopping %s", time.Since(stopped).Round(time.Millisecond), victim)
	forIt := func(c, id string) bool {
		return c == "NL" || id == ids[0] || (id == ids[1] && c == "BE") || (id == ids[2] && c == "DE")
	}
	holds := func(c, id string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_, err := d.nodes[c].client.Get(ctx, &nodev1.GetRequest{Id: id})
		return err == nil
	}
	for _, id := range ids {
		for _, c := range d.codes {
			if forIt(c, id) {
				eventually(t, 90*time.Second, c+" holds "+id, func() bool { return holds(c, id) })
			}
		}
	}
	t.Logf("the alerts published during the failover arrived %v after stopping %s", time.Since(stopped).Round(time.Millisecond), victim)
	checkDeployScopes(t, d)
	t.Logf("the alerts published after the failover arrived; %v since stopping %s", time.Since(stopped).Round(time.Millisecond), victim)
	for _, id := range ids {
		for _, c := range d.codes {
			if !forIt(c, id) && holds(c, id) {
				t.Errorf("%s holds %s, which is not for it", c, id)
			}
		}
	}

	// A rolling restart (README, "Joining a new administration", step 4): the stopped
	// server comes back into the cluster, then another one stops.
	d.startHub(victim)
	eventually(t, 60*time.Second, victim+" back in the cluster", func() bool {
		d.hubsMu.Lock()
		defer d.hubsMu.Unlock()
		for _, s := range d.hubs {
			if s.NumRoutes() < len(d.hubs)-1 {
				return false
			}
		}
		return len(d.hubs) == 3
	})
	var second string
	most = -1
	d.hubsMu.Lock()
	for name, s := range d.hubs {
		if n := s.NumLeafNodes(); name != victim && n > most {
			second, most = name, n
		}
	}
	d.hubsMu.Unlock()
	t.Logf("%s is back; stopping %s, which holds %d leaf connections", victim, second, most)
	d.stopHub(second)
	d.waitLeaves(len(d.codes))
	checkDeployScopes(t, d)
}
