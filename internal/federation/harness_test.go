package federation_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/freeport"
	"github.com/cix-exchange/cix/internal/natsembed"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// wait bounds every poll of these tests.
const wait = 30 * time.Second

// testManifest is NL, BE and DE with the group benelux (NL, BE). Each member's leaf key
// is generated; seeds maps codes to seeds.
func testManifest(t testing.TB) (m *federation.Manifest, seeds map[string]string) {
	t.Helper()
	seeds = map[string]string{}
	return manifestOf(t, seeds, "NL", "BE", "DE"), seeds
}

// manifestOf is the test manifest with the members codes (a subset of NL, BE, DE), with
// the leaf keys of seeds, generating those missing.
func manifestOf(t testing.TB, seeds map[string]string, codes ...string) *federation.Manifest {
	t.Helper()
	names := map[string]string{"NL": "Douane NL", "BE": "Douane BE", "DE": "Zoll DE"}
	var b strings.Builder
	b.WriteString("federation: cix-test\nmembers:\n")
	for _, c := range codes {
		if seeds[c] == "" {
			seeds[c], _ = newUserKey(t)
		}
		fmt.Fprintf(&b, "  - code: %s\n    name: %s\n    nodes: [%s-1]\n    leaf_nkeys: [%s]\n", c, names[c], strings.ToLower(c), pubOf(t, seeds[c]))
	}
	b.WriteString("groups:\n  - name: benelux\n    members: [NL, BE]\n")
	m, err := federation.Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newUserKey(t testing.TB) (seed, pub string) {
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

// pubOf returns the public key of a user nkey seed.
func pubOf(t testing.TB, seed string) string {
	t.Helper()
	kp, err := nkeys.FromSeed([]byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// signer signs a server's nonce with a user nkey seed.
func signer(t testing.TB, seed string) nats.SignatureHandler {
	t.Helper()
	kp, err := nkeys.FromSeed([]byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	return kp.Sign
}

// fed is a federation of embedded servers: one hub started from the configuration
// HubConfig generates, and one leaf per member started from LeafConfig's, each with its
// own store and domain, on loopback ports picked here (fixed, so that a restarted server
// comes back where its peers look for it).
type fed struct {
	t       *testing.T
	m       *federation.Manifest
	seeds   map[string]string
	dir     string
	hubFile string
	hubLeaf int        // the hub's leafnode port
	hubPort int        // the hub's client port
	hubMu   sync.Mutex // guards hub
	hub     *server.Server
	leafMu  sync.Mutex // guards leaves
	leaves  map[string]*leaf
}

type leaf struct {
	code string
	s    *server.Server
	nc   *nats.Conn
	js   jetstream.JetStream
}

// startFed starts the hub from the configuration HubConfig generates for the test
// manifest (altered by edit when set) and one leaf per member, and waits until every
// leaf is connected and every administration's streams exist.
func startFed(t *testing.T, edit func(string) string) *fed {
	t.Helper()
	m, seeds := testManifest(t)
	return startFedOf(t, m, seeds, edit)
}

// startFedOf is startFed for the manifest m.
func startFedOf(t *testing.T, m *federation.Manifest, seeds map[string]string, edit func(string) string) *fed {
	t.Helper()
	f := &fed{t: t, m: m, seeds: seeds, dir: t.TempDir(), hubLeaf: freeport.MustPort(), hubPort: freeport.MustPort(), leaves: map[string]*leaf{}}
	f.hubFile = filepath.Join(f.dir, "hub.conf")
	f.writeHubConfig(edit)
	f.startHub()
	t.Cleanup(f.stopAll)
	for _, mb := range m.Members {
		f.startLeaf(mb.Code)
	}
	f.waitLeafNodes(len(m.Members))
	for _, mb := range m.Members {
		f.ensureStreams(mb.Code)
	}
	return f
}

// writeHubConfig writes the hub configuration generated from f.m, altered by edit.
func (f *fed) writeHubConfig(edit func(string) string) {
	f.t.Helper()
	conf, err := federation.HubConfig(f.m, federation.HubOptions{
		ClientListen:   "127.0.0.1:" + strconv.Itoa(f.hubPort),
		LeafnodeListen: "127.0.0.1:" + strconv.Itoa(f.hubLeaf),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if edit != nil {
		conf = edit(conf)
	}
	if err := os.WriteFile(f.hubFile, []byte(conf), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fed) startHub() {
	f.t.Helper()
	s, err := natsembed.StartFile(f.hubFile, f.logTo("hub"))
	if err != nil {
		f.t.Fatal(err)
	}
	f.hubMu.Lock()
	f.hub = s
	f.hubMu.Unlock()
}

// logTo sends a server's log to DIR/<name>.log when CIX_TEST_NATS_LOG names a folder.
func (f *fed) logTo(name string) func(*server.Options) {
	return func(o *server.Options) {
		if dir := os.Getenv("CIX_TEST_NATS_LOG"); dir != "" {
			o.NoLog, o.Debug, o.Trace, o.Logtime = false, true, os.Getenv("CIX_TEST_NATS_TRACE") != "", true
			o.LogFile = filepath.Join(dir, name+".log")
		}
	}
}

func (f *fed) stopHub() {
	f.hubMu.Lock()
	s := f.hub
	f.hub = nil
	f.hubMu.Unlock()
	if s != nil {
		natsembed.Stop(s)
	}
}

// startLeaf starts (or restarts, from its store) the leaf of code and connects to it.
func (f *fed) startLeaf(code string) *leaf {
	f.t.Helper()
	dir := filepath.Join(f.dir, code)
	file := filepath.Join(dir, "leaf.conf")
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		conf, err := federation.LeafConfig(f.m, code, federation.LeafOptions{
			HubURLs:      []string{"nats-leaf://127.0.0.1:" + strconv.Itoa(f.hubLeaf)},
			ClientListen: "127.0.0.1:" + strconv.Itoa(freeport.MustPort()),
			StoreDir:     filepath.Join(dir, "jetstream"),
			NkeySeed:     f.seeds[code],
		})
		if err != nil {
			f.t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			f.t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			f.t.Fatal(err)
		}
	}
	s, err := natsembed.StartFile(file, func(o *server.Options) {
		f.logTo(code)(o)
		// Reconnect to a returning hub quickly (default 1 s).
		o.LeafNode.ReconnectInterval = 100 * time.Millisecond
	})
	if err != nil {
		f.t.Fatal(err)
	}
	nc, err := nats.Connect(s.ClientURL(), nats.Name("cix test "+code), nats.MaxReconnects(-1))
	if err != nil {
		natsembed.Stop(s)
		f.t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		f.t.Fatal(err)
	}
	l := &leaf{code: code, s: s, nc: nc, js: js}
	f.leafMu.Lock()
	f.leaves[code] = l
	f.leafMu.Unlock()
	return l
}

func (f *fed) stopLeaf(code string) {
	f.leafMu.Lock()
	l := f.leaves[code]
	delete(f.leaves, code)
	f.leafMu.Unlock()
	if l == nil {
		return
	}
	l.nc.Close()
	natsembed.Stop(l.s)
}

func (f *fed) stopAll() {
	f.leafMu.Lock()
	var codes []string
	for c := range f.leaves {
		codes = append(codes, c)
	}
	f.leafMu.Unlock()
	for _, c := range codes {
		f.stopLeaf(c)
	}
	f.stopHub()
}

func (f *fed) leaf(code string) *leaf {
	f.leafMu.Lock()
	defer f.leafMu.Unlock()
	return f.leaves[code]
}

// waitLeafNodes waits until the hub has n leaf connections.
func (f *fed) waitLeafNodes(n int) {
	f.t.Helper()
	checkFor(f.t, wait, func() error {
		f.hubMu.Lock()
		defer f.hubMu.Unlock()
		if got := f.hub.NumLeafNodes(); got != n {
			return fmt.Errorf("hub has %d leaf nodes, want %d", got, n)
		}
		return nil
	})
}

// ensureStreams creates the outbound and inbound streams of code in its leaf's domain,
// as a node will.
func (f *fed) ensureStreams(code string) {
	f.t.Helper()
	l := f.leaf(code)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	out, err := federation.OutboundStreamConfig(f.m, code, federation.StreamOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	in, err := federation.InboundStreamConfig(f.m, code, federation.StreamOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, cfg := range []jetstream.StreamConfig{out, in} {
		if _, err := l.js.CreateOrUpdateStream(ctx, cfg); err != nil {
			f.t.Fatalf("%s: create stream %s: %v", code, cfg.Name, err)
		}
	}
}

// publish stores one alert of l's administration for scope in its outbound stream and
// returns the subject. The message id is the subject (one alert may go to several scopes).
func (l *leaf) publish(t testing.TB, s federation.Scope, id string, data []byte) string {
	t.Helper()
	subject := federation.OutboundSubject(l.code, s, "risk", id)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := l.js.Publish(ctx, subject, data, jetstream.WithMsgID(subject), jetstream.WithExpectStream(federation.OutboundStream(l.code))); err != nil {
		t.Fatalf("%s: publish %s: %v", l.code, subject, err)
	}
	return subject
}

// inbound returns the subjects of every message in l's inbound stream, in stream order,
// restricted to filter (empty: all).
func (l *leaf) inbound(t testing.TB, filter string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := l.js.Stream(ctx, federation.InboundStream(l.code))
	if err != nil {
		t.Fatalf("%s: %v", l.code, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("%s: %v", l.code, err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if filter != "" {
		cfg.FilterSubjects = []string{filter}
	}
	c, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		t.Fatalf("%s: %v", l.code, err)
	}
	var out []string
	for {
		batch, err := c.FetchNoWait(1000)
		if err != nil {
			t.Fatalf("%s: fetch: %v", l.code, err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			out = append(out, msg.Subject())
			md, err := msg.Metadata()
			if err == nil && md.NumPending == 0 {
				return out
			}
		}
		if err := batch.Error(); err != nil {
			t.Fatalf("%s: fetch: %v", l.code, err)
		}
		if n == 0 {
			return out
		}
	}
}

// waitInbound waits until l's inbound stream holds exactly want (in any order) among
// the messages matching filter.
func (f *fed) waitInbound(code, filter string, want []string) {
	f.t.Helper()
	checkFor(f.t, wait, func() error {
		got := f.leaf(code).inbound(f.t, filter)
		if len(got) != len(want) || !sameSet(got, want) {
			return fmt.Errorf("%s inbound (%s) holds %d messages %v, want %d %v", code, filter, len(got), clipList(got), len(want), clipList(want))
		}
		return nil
	})
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func clipList(s []string) []string {
	if len(s) > 6 {
		return append(append([]string{}, s[:3]...), "...", s[len(s)-1])
	}
	return s
}

// checkFor calls fn every 50 ms until it returns nil or timeout passes.
func checkFor(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
