package daemon_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/freeport"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/vault"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// cixdProcess is a dev node running as a child process (the test binary as cixd).
type cixdProcess struct {
	cmd    *exec.Cmd
	client nodev1.NodeServiceClient
	conn   *grpc.ClientConn
}

// startCixd starts a dev node of NL in its own process on dataDir, with its embedded
// NATS server on natsAddr, and connects to its gRPC address.
func startCixd(t *testing.T, dataDir, natsAddr string) *cixdProcess {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-admin", "NL", "-node", "n1", "-data-dir", dataDir, "-grpc-listen", "127.0.0.1:0",
		"-nats-listen", natsAddr, "-tls", "off", "-log-level", "warn")
	cmd.Env = append(os.Environ(), cixdChildEnv+"=1")
	cmd.Stderr = tWriter{t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &cixdProcess{cmd: cmd}
	t.Cleanup(p.kill)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("cixd: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	_, rest, ok := strings.Cut(line, "serving gRPC on ")
	addr, _, _ := strings.Cut(rest, " ")
	if !ok || addr == "" {
		t.Fatalf("cixd said %q", line)
	}
	if p.conn, err = grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.conn.Close() })
	p.client = nodev1.NewNodeServiceClient(p.conn)
	return p
}

// kill sends SIGKILL and reaps the process.
func (p *cixdProcess) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// publishAll sends alerts on one PublishStream and returns the ids acknowledged as
// stored (new or duplicate). after, if set, is called with the count of acknowledgements
// as they come; the stream ends when the node goes away.
func publishAll(client nodev1.NodeServiceClient, alerts []*alertv1.Alert, after func(int)) (acked map[string]bool, dup int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stream, err := client.PublishStream(ctx)
	if err != nil {
		return nil, 0, err
	}
	go func() {
		for _, a := range alerts {
			if stream.Send(&nodev1.PublishStreamRequest{Alert: a}) != nil {
				return
			}
		}
		_ = stream.CloseSend()
	}()
	acked = map[string]bool{}
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			return acked, dup, nil
		}
		if err != nil {
			return acked, dup, err
		}
		if r.GetError() != nil {
			return acked, dup, fmt.Errorf("item %d: %v", r.GetIndex(), r.GetError())
		}
		acked[r.GetId()] = true
		if r.GetResult().GetDuplicate() {
			dup++
		}
		if after != nil {
			after(len(acked))
		}
	}
}

// TestSIGKILLDuringBulkPublish: cixd killed with SIGKILL while 10,000 alerts stream in.
// After a restart on the same data, every alert acknowledged before the kill is stored;
// publishing all 10,000 again with the same ids stores each once (those acknowledged come
// back as duplicates); a subscriber of the restarted node gets each exactly once.
func TestSIGKILLDuringBulkPublish(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes")
	}
	dir, natsAddr := filepath.Join(t.TempDir(), "NL"), freeport.MustAddr()
	const n = 10000
	alerts := make([]*alertv1.Alert, n)
	for i := range alerts {
		alerts[i] = newAlert("NL")
	}
	p := startCixd(t, dir, natsAddr)
	var once sync.Once
	acked, _, err := publishAll(p.client, alerts, func(k int) {
		if k == n/3 {
			once.Do(func() { _ = p.cmd.Process.Kill() }) // SIGKILL
		}
	})
	if err == nil || len(acked) >= n {
		t.Fatalf("publishing finished (%d acknowledged, %v) before the kill", len(acked), err)
	}
	_ = p.cmd.Wait()
	t.Logf("killed after %d acknowledgements: %v", len(acked), status.Code(err))

	p = startCixd(t, dir, natsAddr)
	again, dup, err := publishAll(p.client, alerts, nil)
	if err != nil || len(again) != n {
		t.Fatalf("retry: %d of %d acknowledged: %v", len(again), n, err)
	}
	if dup < len(acked) {
		t.Fatalf("retry: %d duplicates, but %d were acknowledged before the kill", dup, len(acked))
	}
	// Every acknowledged alert is on the alert stream once; the stream holds each id once.
	js := jsAt(t, "nats://"+natsAddr)
	st, err := js.Stream(context.Background(), bus.AlertsStream)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(context.Background()); err != nil || info.State.Msgs != n {
		t.Fatalf("alert stream holds %d messages (%v), want %d", info.State.Msgs, err, n)
	}
	// The restarted node delivers each exactly once, in the order of the stream.
	tn := &testNode{client: p.client}
	sub := subscribe(t, tn, &nodev1.SubscribeRequest{Start: nodev1.StartPosition_START_POSITION_EARLIEST})
	end := sentinel(t, tn)
	seen := map[string]int{}
	for _, a := range sub.untilID(t, end, time.Minute) {
		seen[a.GetAlert().GetId()]++
	}
	if len(seen) != n {
		t.Fatalf("delivered %d distinct alerts, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("%s delivered %d times", id, k)
		}
	}
	for id := range acked {
		if seen[id] != 1 {
			t.Fatalf("acknowledged %s not delivered", id)
		}
	}
}

// jsAt is a JetStream client of the NATS server at url.
func jsAt(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestStoreFullPublishFails: when the alert stream cannot store more (its byte limit
// reached, as on a full disk or an exhausted quota), Publish and each PublishStream item
// fail with ResourceExhausted and a message saying the node's store is full and nothing
// was stored; nothing unstored is acknowledged; once space is back the same ids are
// stored, once each.
func TestStoreFullPublishFails(t *testing.T) {
	nl := startNode(t, "NL", nil, nil)
	ctx := context.Background()
	publish(t, nl, newAlert("NL"))
	st, err := jsOf(t, nl).Stream(ctx, bus.AlertsStream)
	if err != nil {
		t.Fatal(err)
	}
	lift := fillStream(t, jsOf(t, nl), st)
	const wantMsg = "the node's alert store is full: nothing was stored; retry with the same id"
	var refused []*alertv1.Alert
	for range 5 {
		a := newAlert("NL")
		_, err = nl.client.Publish(ctx, &nodev1.PublishRequest{Alert: a})
		if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), wantMsg) {
			t.Fatalf("publish to a full store: %v, want ResourceExhausted saying %q", err, wantMsg)
		}
		refused = append(refused, a)
	}
	t.Logf("full store: %v", err)
	// The same answer for each item of a bulk stream.
	stream, err := nl.client.PublishStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		a := newAlert("NL")
		if err := stream.Send(&nodev1.PublishStreamRequest{Alert: a}); err != nil {
			t.Fatal(err)
		}
		refused = append(refused, a)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		r, err := stream.Recv()
		if err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		if e := r.GetError(); e.GetCode() != uint32(codes.ResourceExhausted) || !strings.Contains(e.GetMessage(), wantMsg) {
			t.Fatalf("item %d: %v, want ResourceExhausted saying %q", i, r, wantMsg)
		}
	}
	for _, a := range refused {
		if _, err := st.GetLastMsgForSubject(ctx, subjectOf(a)); !errors.Is(err, jetstream.ErrMsgNotFound) {
			t.Fatalf("refused alert %s is on the stream: %v", a.GetId(), err)
		}
	}
	lift()
	for _, a := range refused {
		if r := publish(t, nl, a); r.GetDuplicate() {
			t.Fatalf("%s: duplicate, but it was refused", a.GetId())
		}
	}
	if info, err := st.Info(ctx); err != nil || info.State.Msgs != 1+uint64(len(refused)) {
		t.Fatalf("stream holds %d messages (%v)", info.State.Msgs, err)
	}
}

// TestSlowSubscriberBoundedMemory: a subscriber that reads nothing while 20,000 alerts
// arrive does not make the node buffer them: gRPC flow control blocks the node's sender,
// so the alerts it has handed to gRPC (cix_alerts_delivered_total) stay a small multiple
// of the client's 64 KiB window instead of the backlog. The subscriber then reads some,
// stops, and resumes from its cursor with no gap and no duplicate.
func TestSlowSubscriberBoundedMemory(t *testing.T) {
	nl := startNode(t, "NL", nil, nil, metricsOn)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A fixed flow-control window of 64 KiB on the client (no BDP growth, which would
	// reach 16 MiB and hold this whole backlog in the client).
	conn, err := grpc.NewClient(nl.d.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stalled, err := nodev1.NewNodeServiceClient(conn).Subscribe(ctx, &nodev1.SubscribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := stalled.Recv(); err != nil || ev.GetCaughtUp() == nil { // the subscription has started
		t.Fatalf("first event %v %v", ev, err)
	}
	const n = 20000
	alerts := make([]*alertv1.Alert, n)
	for i := range alerts {
		alerts[i] = newAlert("NL")
	}
	if acked, _, err := publishAll(nl.client, alerts, nil); err != nil || len(acked) != n {
		t.Fatalf("published %d: %v", len(acked), err)
	}
	eventually(t, time.Minute, "20,000 alerts in the feed", func() bool {
		info, err := nl.admin.GetNodeInfo(ctx, &nodev1.GetNodeInfoRequest{})
		return err == nil && info.GetFeedAlerts() == n
	})
	// The sender ran alongside the whole publication; what it handed to gRPC is bounded
	// by flow control (64 KiB client window plus grpc-go's 64 KiB per-stream write
	// quota, about 130 alerts of 1 KiB here). Buffering the backlog would be 20,000.
	delivered := scrape(t, nl)["cix_alerts_delivered_total"]
	t.Logf("alerts handed to gRPC for the stalled subscriber: %.0f of %d", delivered, n)
	if delivered > 1000 {
		t.Fatalf("the node sent %.0f alerts to a subscriber that read none", delivered)
	}

	// The slow subscriber reads 100 alerts.
	var cursor string
	for got := 0; got < 100; {
		ev, err := stalled.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetAlert(); a != nil {
			if a.GetAlert().GetId() != alerts[got].GetId() {
				t.Fatalf("alert %d is %s", got, a.GetAlert().GetId())
			}
			cursor = a.GetCursor()
			got++
		}
	}
	cancel()
	resumed := subscribe(t, nl, &nodev1.SubscribeRequest{Cursor: cursor})
	for i := 100; i < n; i++ {
		if got := resumed.nextAlert(t, wait).GetAlert().GetId(); got != alerts[i].GetId() {
			t.Fatalf("resumed alert %d is %s, want %s", i, got, alerts[i].GetId())
		}
	}
}

// TestVaultOutagePublishing: with node certificates of 15 s from a real Vault, Vault
// going away leaves publishing working on the current certificate while GetNodeInfo says
// degraded; Vault back, renewal recovers; Vault away until the certificate has expired,
// Publish is refused with Unavailable rather than signed with an expired key.
// internal/vault TestIdentityVaultOutage checks the same on the identity with a fake
// clock.
func TestVaultOutagePublishing(t *testing.T) {
	va := startVault(t, "NL", vault.WithCertTTL(15*time.Second))
	nl := va.startNode(t, nil, nil, plaintextGRPC)
	ctx := context.Background()
	state := func() string {
		info, err := nl.admin.GetNodeInfo(ctx, &nodev1.GetNodeInfoRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return info.GetIdentityState()
	}
	if s := state(); s != "ok" {
		t.Fatalf("identity %s at start", s)
	}
	va.srv.Stop()
	publish(t, nl, newAlert("NL"))
	eventually(t, 30*time.Second, "identity degraded", func() bool { return state() == "degraded" })
	publish(t, nl, newAlert("NL"))

	if err := va.srv.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "identity renewed", func() bool { return state() == "ok" })
	va.srv.Stop()
	var err error
	eventually(t, 40*time.Second, "publishing refused after the certificate expired", func() bool {
		_, err = nl.client.Publish(ctx, &nodev1.PublishRequest{Alert: newAlert("NL")})
		if err == nil {
			time.Sleep(200 * time.Millisecond)
		}
		return err != nil
	})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "nothing was published") {
		t.Fatalf("publish after expiry: %v, want Unavailable", err)
	}
	t.Logf("after expiry: %v", err)
	if s := state(); s != "expired" {
		t.Fatalf("identity %s after expiry", s)
	}
}

// fillStream sets st's byte limit at what it holds, so that its next write fails as on a
// full disk, and returns a function that lifts the limit again.
func fillStream(t *testing.T, js jetstream.JetStream, st jetstream.Stream) (lift func()) {
	t.Helper()
	ctx := context.Background()
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	cfg.MaxBytes = int64(info.State.Bytes) + 1
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		cfg.MaxBytes = -1
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
}
