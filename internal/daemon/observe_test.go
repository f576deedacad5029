package daemon_test

import (
	"bufio"
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/freeport"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/natsembed"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// metricsOn serves the node's metrics on a free loopback port.
func metricsOn(c *config.Config) { c.Metrics.Listen = "127.0.0.1:0" }

// scrape fetches n's /metrics over HTTP and returns each sample by its series as
// printed ("name" or `name{label="value"}`).
func scrape(t *testing.T, n *testNode) map[string]float64 {
	t.Helper()
	addr := n.d.MetricsAddr()
	if addr == "" {
		t.Fatal("metrics not served")
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// metricIs polls n's metrics until series has value want.
func metricIs(t *testing.T, n *testNode, series string, want float64) {
	t.Helper()
	var got float64
	deadline := time.Now().Add(wait)
	for {
		got = scrape(t, n)[series]
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s of %s is %v, want %v", series, n.cfg.Administration, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMetricsCountPublishedVerifiedDeliveredQuarantined(t *testing.T) {
	nl, be := pair(t, metricsOn)
	sub := subscribe(t, be, &nodev1.SubscribeRequest{Start: nodev1.StartPosition_START_POSITION_EARLIEST})

	m := scrape(t, be)
	for _, s := range []string{
		`cix_messages_quarantined_total{reason="bad_signature"}`, `cix_alerts_published_total{result="stored"}`,
		"cix_alerts_received_total", "cix_alerts_verified_total", "cix_alerts_delivered_total",
		"cix_nats_connected", "cix_nats_reconnects_total", "cix_signing_certificate_expiry_seconds", "cix_serving",
		"cix_index_lag_messages",
	} {
		if _, ok := m[s]; !ok {
			t.Errorf("no series %s before any traffic", s)
		}
	}
	if m["cix_nats_connected"] != 1 || m["cix_signing_certificate_expiry_seconds"] <= 0 {
		t.Errorf("connected %v, certificate expiry %vs", m["cix_nats_connected"], m["cix_signing_certificate_expiry_seconds"])
	}

	a := newAlert("NL")
	publish(t, nl, a)
	if got := sub.nextAlert(t, wait); got.GetAlert().GetId() != a.GetId() {
		t.Fatalf("delivered %s, want %s", got.GetAlert().GetId(), a.GetId())
	}
	metricIs(t, nl, `cix_alerts_published_total{result="stored"}`, 1)
	publish(t, nl, a) // again: a duplicate
	metricIs(t, nl, `cix_alerts_published_total{result="duplicate"}`, 1)
	metricIs(t, be, "cix_alerts_received_total", 1)
	metricIs(t, be, "cix_alerts_verified_total", 1)
	metricIs(t, be, "cix_alerts_delivered_total", 1)
	metricIs(t, be, `cix_messages_quarantined_total{reason="bad_signature"}`, 0)

	// A tampered message: quarantined as bad_signature, received but not verified.
	f := newAlert("NL")
	env := mustEnvelope(t, signedBy(t, nl.ks, envelope.PayloadTypeAlert, marshal(t, f)))
	env.Payload[len(env.Payload)-1] ^= 0x01
	if _, err := jsOf(t, nl).Publish(context.Background(), subjectOf(f), remarshal(t, env)); err != nil {
		t.Fatal(err)
	}
	metricIs(t, be, `cix_messages_quarantined_total{reason="bad_signature"}`, 1)
	metricIs(t, be, "cix_alerts_received_total", 2)
	metricIs(t, be, "cix_alerts_verified_total", 1)
	metricIs(t, be, "cix_alerts_delivered_total", 1)
	metricIs(t, be, `cix_ingest_lag_messages{source="CIX_ALERTS"}`, 0)
}

// dependency returns the named dependency of n's health report (nil if absent).
func dependency(h *nodev1.GetHealthResponse, name string) *nodev1.DependencyHealth {
	for _, d := range h.GetDependencies() {
		if d.GetName() == name {
			return d
		}
	}
	return nil
}

// healthIs polls n's GetHealth until cond holds.
func healthIs(t *testing.T, n *testNode, what string, cond func(*nodev1.GetHealthResponse) bool) *nodev1.GetHealthResponse {
	t.Helper()
	var h *nodev1.GetHealthResponse
	eventually(t, wait, what, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		if h, err = n.admin.GetHealth(ctx, &nodev1.GetHealthRequest{}); err != nil {
			t.Fatal(err)
		}
		return cond(h)
	})
	return h
}

func grpcServing(t *testing.T, n *testNode) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := healthpb.NewHealthClient(n.conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetStatus()
}

func TestHealthFollowsNATS(t *testing.T) {
	addr, store := freeport.MustAddr(), filepath.Join(t.TempDir(), "nats")
	startServer := func() func() {
		s, err := natsembed.Start(natsembed.Options{Name: "hub", StoreDir: store, Listen: addr})
		if err != nil {
			t.Fatal(err)
		}
		return func() { natsembed.Stop(s) }
	}
	stop := startServer()
	defer func() { stop() }()
	n := startNode(t, "NL", []string{"nats://" + addr}, nil, metricsOn,
		func(c *config.Config) { c.Health.NATSDownAfter = config.Duration(500 * time.Millisecond) })

	const (
		ok   = nodev1.HealthState_HEALTH_STATE_OK
		down = nodev1.HealthState_HEALTH_STATE_DOWN
	)
	h := healthIs(t, n, "healthy", func(h *nodev1.GetHealthResponse) bool { return h.GetState() == ok })
	if !h.GetServing() || !dependency(h, "nats").GetCritical() || dependency(h, "vault") != nil {
		t.Fatalf("healthy node: %v", h)
	}
	if st := grpcServing(t, n); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("grpc health %v", st)
	}

	stop()
	stop = func() {}
	h = healthIs(t, n, "nats down and not serving", func(h *nodev1.GetHealthResponse) bool {
		return dependency(h, "nats").GetState() == down && !h.GetServing()
	})
	if h.GetState() != down || dependency(h, "jetstream").GetState() != down {
		t.Fatalf("nats stopped: %v", h)
	}
	if st := grpcServing(t, n); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("grpc health with nats down: %v", st)
	}
	m := scrape(t, n)
	if m["cix_nats_connected"] != 0 || m["cix_serving"] != 0 {
		t.Fatalf("connected %v, serving %v", m["cix_nats_connected"], m["cix_serving"])
	}

	stop = startServer()
	healthIs(t, n, "healthy again", func(h *nodev1.GetHealthResponse) bool { return h.GetState() == ok && h.GetServing() })
	if st := grpcServing(t, n); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("grpc health after recovery: %v", st)
	}
	m = scrape(t, n)
	if m["cix_nats_connected"] != 1 || m["cix_nats_reconnects_total"] < 1 {
		t.Fatalf("connected %v, reconnects %v", m["cix_nats_connected"], m["cix_nats_reconnects_total"])
	}
}

func TestHealthAndMetricsOfVaultNode(t *testing.T) {
	va := startVault(t, "NL")
	n := va.startNode(t, nil, nil, metricsOn)
	ctx := context.Background()
	const (
		ok       = nodev1.HealthState_HEALTH_STATE_OK
		degraded = nodev1.HealthState_HEALTH_STATE_DEGRADED
	)
	// gRPC is mutual TLS here: ask the daemon directly.
	health := func(what string, cond func(*nodev1.GetHealthResponse) bool) *nodev1.GetHealthResponse {
		var h *nodev1.GetHealthResponse
		eventually(t, wait, what, func() bool { h = n.d.Health(ctx); return cond(h) })
		return h
	}
	h := health("healthy", func(h *nodev1.GetHealthResponse) bool { return h.GetState() == ok })
	for _, name := range []string{"vault", "signing_identity", "tls_certificate"} {
		if d := dependency(h, name); d == nil || d.GetExpiresAt() == nil {
			t.Errorf("%s: %v", name, d)
		}
	}
	m := scrape(t, n)
	for _, s := range []string{"cix_vault_token_ttl_seconds", "cix_signing_certificate_expiry_seconds", "cix_tls_certificate_expiry_seconds"} {
		if v, present := m[s]; !present || v <= 0 {
			t.Errorf("%s = %v (present %v), want > 0", s, v, present)
		}
	}
	if m["cix_vault_up"] != 1 {
		t.Errorf("cix_vault_up = %v", m["cix_vault_up"])
	}

	va.srv.Stop()
	h = health("vault degraded", func(h *nodev1.GetHealthResponse) bool { return dependency(h, "vault").GetState() == degraded })
	if h.GetState() != degraded || !h.GetServing() || dependency(h, "signing_identity").GetState() != ok {
		t.Fatalf("vault stopped: %v", h)
	}
	if v := scrape(t, n)["cix_vault_up"]; v != 0 {
		t.Errorf("cix_vault_up with vault stopped = %v", v)
	}
	if err := va.srv.Restart(); err != nil {
		t.Fatal(err)
	}
	health("healthy again", func(h *nodev1.GetHealthResponse) bool { return h.GetState() == ok })
}
