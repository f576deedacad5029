package daemon_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/daemon"
	fed "github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/freeport"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/natsembed"
	"github.com/cix-exchange/cix/internal/sealed"
	"github.com/cix-exchange/cix/internal/synth"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// fedNet is a hub started from the configuration fed.HubConfig generates and one
// node per member, each running its embedded leaf server generated from the manifest.
type fedNet struct {
	t       *testing.T
	dir     string
	hubFile string
	ageIDs  map[string]*age.X25519Identity // each member's, as in its keystore
	hubMu   sync.Mutex                     // guards hub
	hub     *server.Server
	cfgs    map[string]config.Config
	nodesMu sync.Mutex // guards nodes
	nodes   map[string]*testNode
	// For member directories (federated_trust_test.go): the members' anchor files, the
	// manifest's text, the hub's options and the secretariat's key files.
	anchors                   map[string]string
	manifest                  string
	hubOpts                   fed.HubOptions
	secretariat, secretariatP string
	// proxies, with withLinkProxies: the TCP proxy each member's leaf reaches the hub
	// through, by member.
	proxies map[string]*linkProxy
	// opts are the daemon options of each node (a test clock, an attachment store); nil:
	// none.
	opts func(code string) daemon.Options
	// cfgMod, when set, changes each node's configuration before it starts.
	cfgMod func(code string, c *config.Config)
}

// withConfig changes each node's configuration (withConfig(func(code, c) {...})).
func withConfig(mod func(code string, c *config.Config)) fedOption {
	return func(f *fedNet) { f.cfgMod = mod }
}

// fedOption changes how startFedNet assembles the federation.
type fedOption func(*fedNet)

// withLinkProxies makes each member's leaf reach the hub through its own TCP proxy
// (fedNet.proxies), which a test can cut to make the leaf link drop.
func withLinkProxies(f *fedNet) { f.proxies = map[string]*linkProxy{} }

// withDaemonOptions gives each node the daemon options opts returns for its member (a
// test clock, an attachment store).
func withDaemonOptions(opts func(code string) daemon.Options) fedOption {
	return func(f *fedNet) { f.opts = opts }
}

// startFedNetWith is startFedNet with daemon options for each node.
func startFedNetWith(t *testing.T, opts func(code string) daemon.Options, more ...fedOption) *fedNet {
	t.Helper()
	return startFedNet(t, append([]fedOption{withDaemonOptions(opts)}, more...)...)
}

// startFedNet starts the hub and the nodes of NL, BE and DE (group benelux: NL and BE).
func startFedNet(t *testing.T, opts ...fedOption) *fedNet {
	t.Helper()
	f := &fedNet{t: t, dir: t.TempDir(), cfgs: map[string]config.Config{}, nodes: map[string]*testNode{}, ageIDs: map[string]*age.X25519Identity{}}
	for _, o := range opts {
		o(f)
	}
	codes := []string{"NL", "BE", "DE"}
	var man strings.Builder
	man.WriteString("federation: cix-test\nmembers:\n")
	anchors := map[string]string{}
	for _, c := range codes {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := kp.Seed()
		pub, _ := kp.PublicKey()
		env := "CIX_TEST_LEAF_SEED_" + c
		t.Setenv(env, string(seed))
		ageID, err := sealed.Generate()
		if err != nil {
			t.Fatal(err)
		}
		f.ageIDs[c] = ageID
		fmt.Fprintf(&man, "  - code: %s\n    name: Customs %s\n    nodes: [n1]\n    leaf_nkeys: [%s]\n    age_recipient: %s\n", c, c, pub, ageID.Recipient())
		ks, err := trust.OpenDevKeystore(filepath.Join(f.dir, c, "keys"), c, "n1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := sealed.WriteFile(sealed.IdentityFile(filepath.Join(f.dir, c, "keys")), ageID); err != nil {
			t.Fatal(err)
		}
		anchors[c] = ks.AnchorPath()
	}
	man.WriteString("groups:\n  - name: benelux\n    members: [NL, BE]\n")
	manifestFile := filepath.Join(f.dir, "manifest.yaml")
	if err := os.WriteFile(manifestFile, []byte(man.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := fed.Load(manifestFile)
	if err != nil {
		t.Fatal(err)
	}
	hubLeaf := freeport.MustPort()
	hub, err := fed.HubConfig(m, fed.HubOptions{
		ClientListen: "127.0.0.1:" + strconv.Itoa(freeport.MustPort()), LeafnodeListen: "127.0.0.1:" + strconv.Itoa(hubLeaf),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.anchors, f.manifest, f.hubOpts = anchors, man.String(), fed.HubOptions{
		ClientListen: "127.0.0.1:" + strconv.Itoa(freeport.MustPort()), LeafnodeListen: "127.0.0.1:" + strconv.Itoa(hubLeaf),
	}
	f.secretariat, f.secretariatP = filepath.Join(f.dir, "secretariat.key"), filepath.Join(f.dir, "secretariat.pub")
	if _, err := fed.GenerateSecretariatKey(f.secretariat, f.secretariatP); err != nil {
		t.Fatal(err)
	}
	if f.proxies != nil {
		// The hub must not tell the leaves its own leafnode address, or they would
		// reconnect straight to it, around their proxies.
		if !strings.Contains(hub, "\nleafnodes {\n") {
			t.Fatal("no leafnodes block in the hub configuration")
		}
		hub = strings.Replace(hub, "\nleafnodes {\n", "\nleafnodes {\n  no_advertise: true\n", 1)
	}
	f.hubFile = filepath.Join(f.dir, "hub.conf")
	if err := os.WriteFile(f.hubFile, []byte(hub), 0o600); err != nil {
		t.Fatal(err)
	}
	f.startHub()
	t.Cleanup(f.stopHub) // after the nodes (cleanups run last first)
	for _, c := range codes {
		cfg := config.Default()
		cfg.Administration, cfg.Node, cfg.DataDir = c, "n1", filepath.Join(f.dir, c)
		cfg.GRPC.Listen = "127.0.0.1:0"
		cfg.NATS.EmbeddedListen = "127.0.0.1:0"
		hubURL := "nats-leaf://127.0.0.1:" + strconv.Itoa(hubLeaf)
		if f.proxies != nil {
			f.proxies[c] = startLinkProxy(t, "127.0.0.1:"+strconv.Itoa(hubLeaf))
			hubURL = "nats-leaf://" + f.proxies[c].addr()
		}
		cfg.Federation = config.Federation{
			Manifest: manifestFile, HubURLs: []string{hubURL},
			LeafNkeySeedEnv: "CIX_TEST_LEAF_SEED_" + c, SecretariatKey: f.secretariatP,
		}
		for _, o := range codes {
			if o != c {
				cfg.Trust.Anchors = append(cfg.Trust.Anchors, anchors[o])
			}
		}
		if f.cfgMod != nil {
			f.cfgMod(c, &cfg)
		}
		f.cfgs[c] = cfg
		f.startNode(c)
	}
	f.waitLeaves(len(codes))
	return f
}

func (f *fedNet) startHub() {
	f.t.Helper()
	s, err := natsembed.StartFile(f.hubFile, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.hubMu.Lock()
	f.hub = s
	f.hubMu.Unlock()
}

func (f *fedNet) stopHub() {
	f.hubMu.Lock()
	s := f.hub
	f.hub = nil
	f.hubMu.Unlock()
	if s != nil {
		natsembed.Stop(s)
	}
}

// waitLeaves waits until the hub has n leaf connections.
func (f *fedNet) waitLeaves(n int) {
	f.t.Helper()
	eventually(f.t, 30*time.Second, fmt.Sprintf("%d leaf nodes at the hub", n), func() bool {
		f.hubMu.Lock()
		defer f.hubMu.Unlock()
		return f.hub != nil && f.hub.NumLeafNodes() == n
	})
}

// startNode starts (or restarts, from its data directory) the node of code.
func (f *fedNet) startNode(code string) *testNode {
	f.t.Helper()
	cfg := f.cfgs[code]
	var o daemon.Options
	if f.opts != nil {
		o = f.opts(code)
	}
	d, err := daemon.StartWith(context.Background(), cfg, testLog(f.t), o)
	if err != nil {
		f.t.Fatalf("start %s: %v", code, err)
	}
	f.t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			f.t.Errorf("stop %s: %v", code, err)
		}
	})
	conn, err := grpc.NewClient(d.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { conn.Close() })
	n := &testNode{d: d, cfg: cfg, conn: conn, client: nodev1.NewNodeServiceClient(conn), admin: nodev1.NewAdminServiceClient(conn)}
	f.nodesMu.Lock()
	f.nodes[code] = n
	f.nodesMu.Unlock()
	return n
}

func (f *fedNet) node(code string) *testNode {
	f.nodesMu.Lock()
	defer f.nodesMu.Unlock()
	return f.nodes[code]
}

// rawConn connects to the leaf server of code's node, in its administration's local
// account, as any client of that account could.
func (f *fedNet) rawConn(code string) *nats.Conn {
	f.t.Helper()
	nc, err := nats.Connect(f.node(code).d.NATSURL(), nats.Name("raw "+code))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(nc.Close)
	return nc
}

// rawCapture records every message a core-NATS subscription on ">" sees.
type rawCapture struct {
	mu   sync.Mutex // guards msgs
	msgs []*nats.Msg
}

// The hub admits only the subscriptions its permissions allow (">" is not one of them),
// so the administration's deliveries are subscribed to by name as well.
func capture(t *testing.T, nc *nats.Conn, admin string) *rawCapture {
	t.Helper()
	c := &rawCapture{}
	for _, subject := range []string{">", fed.DeliverSubjectPrefix + admin + ".>"} {
		if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return c
}

// containing returns the subjects of captured messages whose bytes contain s.
func (c *rawCapture) containing(s string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		if bytes.Contains(m.Data, []byte(s)) || strings.Contains(m.Subject, s) {
			out = append(out, m.Subject)
		}
	}
	return out
}

func alertFor(au *alertv1.Audience) *alertv1.Alert {
	a := synth.ValidRisk()
	a.Id, a.Origin, a.Audience = uuid.NewString(), nil, au
	return a
}

// received reads alerts from s until the alert with id sentinel and returns their ids.
// Alerts of one scope arrive in order; across scopes (separate sources) they need not.
func received(t *testing.T, s *subscription, sentinel string, wait time.Duration) []string {
	t.Helper()
	var ids []string
	for _, a := range s.untilID(t, sentinel, wait) {
		ids = append(ids, a.GetAlert().GetId())
	}
	return ids
}

// receivedSet reads alerts from s until it has seen every id of want, and fails on any
// other.
func receivedSet(t *testing.T, who string, s *subscription, want ...string) {
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

func TestFederatedScopesReachExactlyTheirAudience(t *testing.T) {
	f := startFedNet(t)
	nl, be, de := f.node("NL"), f.node("BE"), f.node("DE")
	subs := map[string]*subscription{}
	for _, c := range []string{"NL", "BE", "DE"} {
		subs[c] = subscribe(t, f.node(c), &nodev1.SubscribeRequest{})
	}
	rawBE, rawDE := capture(t, f.rawConn("BE"), "BE"), capture(t, f.rawConn("DE"), "DE")

	all := publish(t, nl, alertFor(nil)).Id
	group := publish(t, nl, alertFor(&alertv1.Audience{Groups: []string{"benelux"}})).Id
	toDE := publish(t, nl, alertFor(&alertv1.Audience{Administrations: []string{"DE"}})).Id
	// Both a group and a bilateral scope: BE is in both and must hold it once.
	groupAndBE := publish(t, nl, alertFor(&alertv1.Audience{Groups: []string{"benelux"}, Administrations: []string{"BE"}})).Id
	// Sentinels on each scope, published last: once a node holds those of its scopes,
	// it holds everything published before on them.
	endAll := publish(t, nl, alertFor(&alertv1.Audience{AllMembers: true})).Id
	endGroup := publish(t, nl, alertFor(&alertv1.Audience{Groups: []string{"benelux"}})).Id
	endDE := publish(t, nl, alertFor(&alertv1.Audience{Administrations: []string{"DE"}})).Id
	endBE := publish(t, nl, alertFor(&alertv1.Audience{Administrations: []string{"BE"}})).Id

	receivedSet(t, "NL", subs["NL"], all, group, toDE, groupAndBE, endAll, endGroup, endDE, endBE)
	receivedSet(t, "BE", subs["BE"], all, group, groupAndBE, endAll, endGroup, endBE)
	receivedSet(t, "DE", subs["DE"], all, toDE, endAll, endDE)
	// The raw subscriptions see their own administration's alerts (else the checks below
	// prove nothing); they run behind the API, so wait for them.
	eventually(t, wait, "the raw subscriptions to see their own alerts", func() bool {
		return len(rawDE.containing(toDE)) > 0 && len(rawBE.containing(group)) > 0
	})
	// On the wire: DE's account never carried the group alert, BE's never the bilateral
	// alert to DE.
	if s := rawDE.containing(group); len(s) > 0 {
		t.Errorf("DE's account saw the benelux alert on %v", s)
	}
	if s := rawDE.containing(groupAndBE); len(s) > 0 {
		t.Errorf("DE's account saw the benelux+BE alert on %v", s)
	}
	if s := rawBE.containing(toDE); len(s) > 0 {
		t.Errorf("BE's account saw the alert to DE on %v", s)
	}

	t.Run("the inbound stream keeps what the feed does not hold yet", func(t *testing.T) {
		// Every alert stored in the feed is removed from the inbound stream but each
		// source's last: NL sources only itself (its last alert is endBE), BE holds the
		// last of NL's all-members, benelux and bilateral scopes.
		// The sources deliver concurrently: compared as sets.
		for code, want := range map[string][]string{"NL": {endBE}, "BE": {endAll, endGroup, endBE}} {
			slices.Sort(want)
			eventually(t, wait, code+"'s inbound stream to hold only its sources' last alerts", func() bool {
				got := inboundAlertIDs(t, f, code)
				slices.Sort(got)
				return slices.Equal(got, want)
			})
		}
	})

	t.Run("audience checked against the manifest", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		for _, tc := range []struct {
			au    *alertv1.Audience
			field string
		}{
			{&alertv1.Audience{Groups: []string{"nordic"}}, "alert.audience.groups[0]"},
			{&alertv1.Audience{Administrations: []string{"FR"}}, "alert.audience.administrations[0]"},
		} {
			_, err := de.client.Publish(ctx, &nodev1.PublishRequest{Alert: alertFor(tc.au)})
			assertFields(t, err, tc.field)
		}
		// DE is not in benelux.
		_, err := de.client.Publish(ctx, &nodev1.PublishRequest{Alert: alertFor(&alertv1.Audience{Groups: []string{"benelux"}})})
		assertFields(t, err, "alert.audience.groups[0]")
	})

	t.Run("a relay cannot widen the audience", func(t *testing.T) {
		// A client of NL's leaf account copies the benelux alert onto the all-members
		// scope: the hub lets it through (NL's own origin), DE's node refuses it.
		nc := f.rawConn("NL")
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		st, err := js.Stream(ctx, fed.OutboundStream("NL"))
		if err != nil {
			t.Fatal(err)
		}
		m := outboundAlert(t, st, fed.OutboundSubject("NL", fed.ToGroup("benelux"), "risk", group))
		widened := fed.OutboundAlertSubject("NL", fed.AllMembers(), "risk")
		if _, err := js.Publish(ctx, widened, m.Data, jetstream.WithMsgID(fed.OutboundMsgID(widened, group))); err != nil {
			t.Fatal(err)
		}
		eventually(t, wait, "DE quarantines the widened alert", func() bool {
			r, err := de.admin.ListQuarantine(ctx, &nodev1.ListQuarantineRequest{})
			if err != nil {
				return false
			}
			for _, q := range r.GetMessages() {
				if q.GetSubject() == widened && q.GetReason() == nodev1.QuarantineReason_QUARANTINE_REASON_AUDIENCE_MISMATCH {
					return true
				}
			}
			return false
		})
		if s := rawDE.containing(group); len(s) == 0 {
			t.Log("note: the widened copy reached DE's account, as the hub lets NL publish on its own scopes")
		}
	})

	t.Run("private streams are not reachable from another account", func(t *testing.T) {
		js, err := jetstream.NewWithDomain(f.rawConn("BE"), "nl")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		for _, name := range []string{"CIX_FEED_NL_N1", "CIX_QUARANTINE_NL_N1", fed.InboundStream("NL"), fed.OutboundStream("NL")} {
			if _, err := js.Stream(ctx, name); err == nil {
				t.Errorf("BE reached NL's stream %s", name)
			}
		}
		names := js.StreamNames(ctx)
		for n := range names.Name() {
			t.Errorf("BE listed NL's stream %s", n)
		}
	})

	t.Run("private streams are in an account not bound to the hub", func(t *testing.T) {
		privateStreamsOutsideTheHubAccount(t, f, nl)
	})

	_ = be
}

func TestFederatedHubOutageAndNodeRestart(t *testing.T) {
	f := startFedNet(t)
	nl := f.node("NL")
	subs := map[string]*subscription{"BE": subscribe(t, f.node("BE"), &nodev1.SubscribeRequest{}),
		"DE": subscribe(t, f.node("DE"), &nodev1.SubscribeRequest{})}

	f.stopHub()
	const n = 1000
	sent := make([]string, 0, n)
	start := time.Now()
	for range n {
		sent = append(sent, publish(t, nl, alertFor(nil)).Id)
	}
	t.Logf("NL accepted %d alerts with the hub stopped in %v", n, time.Since(start))
	f.startHub()
	f.waitLeaves(3)
	back := time.Now()
	end := publish(t, nl, alertFor(nil)).Id
	for c, s := range subs {
		got := received(t, s, end, 90*time.Second)
		if strings.Join(got, ",") != strings.Join(sent, ",") {
			t.Fatalf("%s received %d alerts, want the %d sent, once and in order", c, len(got), n)
		}
		t.Logf("%s had all %d alerts %v after the hub returned", c, n, time.Since(back))
	}

	// BE's node (and its leaf) stops; NL publishes on; BE restarts from its store.
	if err := f.node("BE").d.Stop(); err != nil {
		t.Fatal(err)
	}
	more := []string{}
	for range 50 {
		more = append(more, publish(t, nl, alertFor(nil)).Id)
	}
	end2 := publish(t, nl, alertFor(nil)).Id
	be := f.startNode("BE")
	got := received(t, subscribe(t, be, &nodev1.SubscribeRequest{Start: nodev1.StartPosition_START_POSITION_EARLIEST}), end2, 90*time.Second)
	want := append(append(append([]string{}, sent...), end), more...)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("restarted BE holds %d alerts, want %d once and in order", len(got), len(want))
	}
}

// privateStreamsOutsideTheHubAccount: NL's feed and quarantine are in its leaf's private
// account, invisible from the account bound to the hub, and a consumer BE creates on
// NL's outbound stream with NL's feed subject as deliver subject does not reach the feed.
func privateStreamsOutsideTheHubAccount(t *testing.T, f *fedNet, nl *testNode) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	feedStream, quarStream := "CIX_FEED_NL_N1", "CIX_QUARANTINE_NL_N1"
	pc := nl.d.PrivateConn()
	if pc == nil {
		t.Fatal("NL has no private connection in federation mode")
	}
	private, err := jetstream.New(pc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{feedStream, quarStream} {
		if _, err := private.Stream(ctx, name); err != nil {
			t.Errorf("%s not in the private account: %v", name, err)
		}
	}
	if _, err := private.Stream(ctx, fed.OutboundStream("NL")); err == nil {
		t.Errorf("the outbound stream is in the private account")
	}
	rawNL := f.rawConn("NL")
	bound, err := jetstream.New(rawNL)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	names := bound.StreamNames(ctx) // $JS.API.STREAM.NAMES in the hub-bound account
	for n := range names.Name() {
		listed[n] = true
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	if !listed[fed.OutboundStream("NL")] {
		t.Errorf("the hub-bound account lists %v, not the outbound stream", listed)
	}
	for n := range listed {
		if strings.Contains(n, "FEED") || strings.Contains(n, "QUARANTINE") || strings.Contains(n, "STATE") || strings.HasPrefix(n, "KV_") {
			t.Errorf("the hub-bound account lists the private stream %s", n)
		}
	}

	// BE, entitled to NL's benelux scope, creates a push consumer on NL's outbound
	// stream delivering to NL's feed subject.
	target := "cix.feed.NL-n1.x"
	sub, err := rawNL.SubscribeSync(target)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := rawNL.Flush(); err != nil {
		t.Fatal(err)
	}
	benelux := fed.ScopeFilter("NL", fed.ToGroup("benelux"))
	req, _ := json.Marshal(map[string]any{"stream_name": fed.OutboundStream("NL"), "config": map[string]any{
		"name": "redirect", "filter_subject": benelux, "deliver_subject": target, "ack_policy": "none", "deliver_policy": "all",
	}})
	api := fed.APIPrefix("nl") + ".CONSUMER.CREATE." + fed.OutboundStream("NL") + ".redirect." + benelux
	// The hub admits BE's API replies only on its JetStream reply prefix.
	ncBE, err := nats.Connect(f.node("BE").d.NATSURL(), nats.CustomInboxPrefix("$JSC.R.probe"))
	if err != nil {
		t.Fatal(err)
	}
	defer ncBE.Close()
	r, err := ncBE.Request(api, req, wait)
	var reply struct {
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err == nil {
		err = json.Unmarshal(r.Data, &reply)
	}
	if err != nil || reply.Error != nil {
		t.Logf("the hub refused BE's consumer delivering to %s: %v %+v", target, err, reply.Error)
		return
	}
	publish(t, nl, alertFor(&alertv1.Audience{Groups: []string{"benelux"}}))
	if _, err := sub.NextMsg(wait); err != nil {
		t.Fatalf("no delivery on %s in the hub-bound account: %v", target, err)
	}
	st, err := private.Stream(ctx, feedStream)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := st.GetLastMsgForSubject(ctx, target); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("NL's feed holds a message on %s (%v): %v", target, m != nil, err)
	}
}

// inboundAlertIDs lists the ids of the alerts and notices code's inbound stream holds, in
// stream order.
func inboundAlertIDs(t *testing.T, f *fedNet, code string) []string {
	t.Helper()
	var ids []string
	for _, msgID := range inboundMsgIDs(t, f, code) {
		// Every message has its subject with its id as message id (fed.OutboundMsgID).
		_, _, kind, id, err := fed.ParseOutboundSubject(msgID)
		if err != nil {
			t.Fatal(err)
		}
		if kind == "seizure" || kind == "risk" || kind == "notice" {
			ids = append(ids, id)
		}
	}
	return ids
}

// inboundMsgIDs lists the message id (Nats-Msg-Id, else the subject) of every message
// code's inbound stream holds, in stream order.
func inboundMsgIDs(t *testing.T, f *fedNet, code string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	js, err := jetstream.New(f.rawConn(code))
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, fed.InboundStream(code))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, cmp.Or(m.Header.Get(jetstream.MsgIDHeader), m.Subject))
	}
	return ids
}

// outboundAlert returns the message of an alert in an outbound stream. msgID is the
// alert's subject with its id (fed.OutboundSubject), its message id; the stream holds it
// on the subject of every alert of its scope and kind (fed.OutboundAlertSubject).
func outboundAlert(t *testing.T, st jetstream.Stream, msgID string) *jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	origin, scope, kind, _, err := fed.ParseOutboundSubject(msgID)
	if err != nil {
		t.Fatal(err)
	}
	shared := fed.OutboundAlertSubject(origin, scope, kind)
	for seq := uint64(1); ; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(shared))
		if err != nil {
			t.Fatalf("no message %s on %s from %d: %v", msgID, shared, seq, err)
		}
		if m.Header.Get(jetstream.MsgIDHeader) == msgID {
			return m
		}
		seq = m.Sequence + 1
	}
}
