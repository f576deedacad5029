package daemon_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/daemon"
	fed "github.com/cix-exchange/cix/internal/federation"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/nats-io/nats.go/jetstream"
)

// inboundSource is the state of DE's (or any member's) source key of its inbound stream,
// read as a client of the member's leaf account.
func inboundSource(t *testing.T, js jetstream.JetStream, admin, key string) *jetstream.StreamSourceInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, fed.InboundStream(admin))
	if err != nil {
		return nil
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil
	}
	for _, s := range info.Sources {
		if s.Name+" "+s.FilterSubject == key {
			return s
		}
	}
	return nil
}

// TestFederatedSourceRestartAfterHubOutage measures how long an alert published right
// after a hub outage takes to reach the other members, first with nats-server's own
// retries only, then with the node restarting its stalled sources. The outage lasts
// until DE's source of NL's all-members scope has been silent for more than 21 s, so
// that nats-server's source health check (every 10 s) has sent a consumer-create request
// that the missing hub lost. The durations are logged, not asserted; what is asserted
// is that the alerts arrive, once, in both phases, and that no source is left out of the
// inbound streams.
func TestFederatedSourceRestartAfterHubOutage(t *testing.T) {
	f := startFedNet(t)
	nl := f.node("NL")
	subs := map[string]*subscription{"BE": subscribe(t, f.node("BE"), &nodev1.SubscribeRequest{}),
		"DE": subscribe(t, f.node("DE"), &nodev1.SubscribeRequest{})}
	jsDE, err := jetstream.New(f.rawConn("DE"))
	if err != nil {
		t.Fatal(err)
	}
	key := fed.OutboundStream("NL") + " " + fed.ScopeFilter("NL", fed.AllMembers())
	// Every source set up and delivering before the first outage.
	first := publish(t, nl, alertFor(nil)).Id
	for c, s := range subs {
		if got := received(t, s, first, 90*time.Second); len(got) != 0 {
			t.Fatalf("%s received %v", c, got)
		}
	}
	sourcesBefore := map[string]int{}
	for _, c := range []string{"NL", "BE", "DE"} {
		sourcesBefore[c] = countSources(t, f, c)
	}

	phase := func(restarts bool) time.Duration {
		prev := daemon.SetSourceRestarts(restarts)
		defer daemon.SetSourceRestarts(prev)
		f.stopHub()
		eventually(t, 90*time.Second, "DE's source of NL's all-members scope silent for 21 s", func() bool {
			s := inboundSource(t, jsDE, "DE", key)
			return s != nil && s.Active > 21*time.Second
		})
		f.startHub()
		f.waitLeaves(3)
		back := time.Now()
		id := publish(t, nl, alertFor(nil)).Id
		var slowest time.Duration
		for c, s := range subs {
			got := received(t, s, id, 120*time.Second)
			if len(got) != 0 {
				t.Fatalf("%s received %v before %s, want nothing else", c, got, id)
			}
			d := time.Since(back)
			t.Logf("source restarts %v: %s had the alert %v after the hub returned", restarts, c, d.Round(10*time.Millisecond))
			slowest = max(slowest, d)
		}
		return slowest
	}
	without := phase(false)
	with := phase(true)
	t.Logf("after an outage, slowest arrival once the hub returned: %v with nats-server's retries only, %v with the node's source restarts",
		without.Round(10*time.Millisecond), with.Round(10*time.Millisecond))

	// DE's node (and its leaf) restarts while the hub is away: its sources ask for their
	// consumers at once, and those requests are lost. Measured from the hub's return
	// to the alert published then reaching DE.
	restartPhase := func(restarts bool) time.Duration {
		prev := daemon.SetSourceRestarts(restarts)
		defer daemon.SetSourceRestarts(prev)
		f.stopHub()
		if err := f.node("DE").d.Stop(); err != nil {
			t.Fatal(err)
		}
		de := f.startNode("DE")
		subs["DE"] = subscribe(t, de, &nodev1.SubscribeRequest{})
		f.startHub()
		f.waitLeaves(3)
		back := time.Now()
		id := publish(t, nl, alertFor(nil)).Id
		var slowest time.Duration
		for _, c := range []string{"DE", "BE"} {
			if got := received(t, subs[c], id, 120*time.Second); len(got) != 0 {
				t.Fatalf("%s received %v before %s, want nothing else", c, got, id)
			}
			d := time.Since(back)
			t.Logf("source restarts %v, DE restarted during the outage: %s had the alert %v after the hub returned", restarts, c, d.Round(10*time.Millisecond))
			slowest = max(slowest, d)
		}
		return slowest
	}
	without = restartPhase(false)
	with = restartPhase(true)
	t.Logf("DE restarted during an outage, slowest arrival once the hub returned: %v with nats-server's retries only, %v with the node's source restarts",
		without.Round(10*time.Millisecond), with.Round(10*time.Millisecond))

	// Nothing stored twice in any inbound stream (one message per message id: alert id
	// and scope), and every source is still configured.
	for _, c := range []string{"NL", "BE", "DE"} {
		seen := map[string]bool{}
		for _, id := range inboundMsgIDs(t, f, c) {
			if seen[id] {
				t.Errorf("%s's inbound stream holds %s twice", c, id)
			}
			seen[id] = true
		}
		if n := countSources(t, f, c); n != sourcesBefore[c] {
			t.Errorf("%s's inbound stream has %d sources, %d before", c, n, sourcesBefore[c])
		}
	}

	// The node reports each source's state in GetHealth.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	h, err := f.node("DE").admin.GetHealth(ctx, &nodev1.GetHealthRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var detail string
	for _, d := range h.GetDependencies() {
		if d.GetName() == "sources" {
			detail = d.GetDetail()
		}
	}
	if !strings.Contains(detail, key+": lag 0, last active") {
		t.Errorf("GetHealth's sources at DE: %q; want %s with its lag and last activity", detail, key)
	}
}

func countSources(t *testing.T, f *fedNet, admin string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	js, err := jetstream.New(f.rawConn(admin))
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, fed.InboundStream(admin))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return len(info.Config.Sources)
}
