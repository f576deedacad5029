package attach_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/cix-exchange/cix/internal/attach"
	"github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/freeport"
	"github.com/cix-exchange/cix/internal/natsembed"
	"github.com/cix-exchange/cix/internal/sealed"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// wait bounds every poll of these tests.
const wait = 60 * time.Second

// fed is a federation of embedded servers in the production layout: a hub from the
// configuration federation.HubConfig generates and one leaf per member from
// federation.LeafConfig's (with the private account LOCAL), each in its own domain, with
// the outbound and inbound streams a node creates.
type fed struct {
	t       *testing.T
	m       *federation.Manifest
	ids     map[string]*age.X25519Identity
	dir     string
	hubFile string
	hubMu   sync.Mutex
	hub     *server.Server
	leaves  map[string]*leaf
}

type leaf struct {
	code string
	s    *server.Server
	nc   *nats.Conn // the hub-bound account CIX
	pc   *nats.Conn // the private account LOCAL
	js   jetstream.JetStream
	pjs  jetstream.JetStream
	dir  string // the leaf's JetStream store
}

func startFed(t *testing.T) *fed {
	t.Helper()
	f := &fed{t: t, ids: map[string]*age.X25519Identity{}, dir: t.TempDir(), leaves: map[string]*leaf{}}
	seeds, privs := map[string]string{}, map[string]nkeys.KeyPair{}
	names := map[string]string{"NL": "Douane NL", "BE": "Douane BE", "DE": "Zoll DE"}
	var b strings.Builder
	b.WriteString("federation: cix-attach-test\nmembers:\n")
	for _, c := range []string{"NL", "BE", "DE"} {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := kp.Seed()
		pub, _ := kp.PublicKey()
		seeds[c] = string(seed)
		if privs[c], err = nkeys.CreateUser(); err != nil {
			t.Fatal(err)
		}
		if f.ids[c], err = sealed.Generate(); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "  - code: %s\n    name: %s\n    nodes: [%s-1]\n    leaf_nkeys: [%s]\n    age_recipient: %s\n",
			c, names[c], strings.ToLower(c), pub, f.ids[c].Recipient())
	}
	m, err := federation.Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	hubLeaf := freeport.MustPort()
	conf, err := federation.HubConfig(m, federation.HubOptions{
		ClientListen:   "127.0.0.1:" + strconv.Itoa(freeport.MustPort()),
		LeafnodeListen: "127.0.0.1:" + strconv.Itoa(hubLeaf),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.hubFile = filepath.Join(f.dir, "hub.conf")
	if err := os.WriteFile(f.hubFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	f.startHub()
	t.Cleanup(f.stopAll)
	for _, mb := range m.Members {
		f.startLeaf(mb.Code, seeds[mb.Code], privs[mb.Code], hubLeaf)
	}
	f.waitLeafNodes(len(m.Members))
	for _, mb := range m.Members {
		f.ensureStreams(mb.Code)
	}
	return f
}

func (f *fed) startHub() {
	f.t.Helper()
	s, err := natsembed.StartFile(f.hubFile, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.hubMu.Lock()
	f.hub = s
	f.hubMu.Unlock()
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

func (f *fed) startLeaf(code, seed string, priv nkeys.KeyPair, hubLeaf int) {
	f.t.Helper()
	dir := filepath.Join(f.dir, code)
	privPub, _ := priv.PublicKey()
	conf, err := federation.LeafConfig(f.m, code, federation.LeafOptions{
		HubURLs:      []string{"nats-leaf://127.0.0.1:" + strconv.Itoa(hubLeaf)},
		ClientListen: "127.0.0.1:" + strconv.Itoa(freeport.MustPort()),
		StoreDir:     filepath.Join(dir, "jetstream"),
		NkeySeed:     seed,
		PrivateNkey:  privPub,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		f.t.Fatal(err)
	}
	file := filepath.Join(dir, "leaf.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		f.t.Fatal(err)
	}
	s, err := natsembed.StartFile(file, func(o *server.Options) {
		o.LeafNode.ReconnectInterval = 100 * time.Millisecond // reconnect to a returning hub quickly
	})
	if err != nil {
		f.t.Fatal(err)
	}
	l := &leaf{code: code, s: s, dir: filepath.Join(dir, "jetstream")}
	f.leaves[code] = l
	if l.nc, err = nats.Connect(s.ClientURL(), nats.Name("attach test "+code), nats.MaxReconnects(-1)); err != nil {
		f.t.Fatal(err)
	}
	if l.pc, err = nats.Connect(s.ClientURL(), nats.Name("attach test "+code+" private"), nats.Nkey(privPub, priv.Sign)); err != nil {
		f.t.Fatal(err)
	}
	if l.js, err = jetstream.New(l.nc); err != nil {
		f.t.Fatal(err)
	}
	if l.pjs, err = jetstream.New(l.pc); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fed) stopAll() {
	for _, l := range f.leaves {
		l.nc.Close()
		l.pc.Close()
		natsembed.Stop(l.s)
	}
	f.stopHub()
}

// waitLeafNodes waits until the hub has n leaf connections.
func (f *fed) waitLeafNodes(n int) {
	f.t.Helper()
	eventually(f.t, func() error {
		f.hubMu.Lock()
		defer f.hubMu.Unlock()
		if got := f.hub.NumLeafNodes(); got != n {
			return fmt.Errorf("hub has %d leaf nodes, want %d", got, n)
		}
		return nil
	})
}

// ensureStreams creates code's outbound and inbound streams in its leaf's domain, as
// the node's bus does.
func (f *fed) ensureStreams(code string) {
	f.t.Helper()
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
		if _, err := f.leaves[code].js.CreateOrUpdateStream(ctx, cfg); err != nil {
			f.t.Fatalf("%s: create stream %s: %v", code, cfg.Name, err)
		}
	}
}

// options are the store options of code's node, as the daemon would give them.
func (f *fed) options(code string) attach.Options {
	l := f.leaves[code]
	return attach.Options{
		Administration: code, Private: l.pjs, Bus: l.js,
		Recipient: attach.ManifestRecipients(f.m), Identity: f.ids[code],
		TempDir: f.t.TempDir(), Logger: testLogger(f.t),
	}
}

// store opens code's store with o (from options).
func (f *fed) store(o attach.Options) *attach.Store {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s, err := attach.New(ctx, o)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// running is a Run loop of a store, stopped by stop (or at the end of the test).
type running struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func run(t *testing.T, s *attach.Store) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	r.once.Do(func() {
		r.cancel()
		if err := <-r.done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// subjects returns the subjects of the messages in code's stream that match filter,
// with their counts.
func (f *fed) subjects(code, stream, filter string) map[string]uint64 {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := f.leaves[code].js.Stream(ctx, stream)
	if err != nil {
		f.t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		f.t.Fatal(err)
	}
	return info.State.Subjects
}

func total(m map[string]uint64) (n uint64) {
	for _, c := range m {
		n += c
	}
	return n
}

// eventually calls fn every 50 ms until it returns nil, failing the test after wait.
func eventually(t testing.TB, fn func() error) {
	t.Helper()
	eventuallyWithin(t, wait, fn)
}

// eventuallyWithin is eventually with its own bound.
func eventuallyWithin(t testing.TB, d time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testLogger logs to the test's output when -v is given.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
