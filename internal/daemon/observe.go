package daemon

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cix-exchange/cix/internal/bus"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/metrics"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// How often the observer checks what grpc.health.v1 reports, and samples the lag and
// Vault's reachability (network calls: never per message, never per scrape).
const (
	serveCheckEvery = time.Second
	sampleEvery     = 5 * time.Second
	probeTimeout    = 2 * time.Second
)

// observer follows the node's dependencies for the metrics and GetHealth, and sets the
// grpc.health.v1 serving status.
type observer struct {
	d  *Daemon
	js jetstream.JetStream

	mu           sync.Mutex
	lag          map[string]float64 // ingest lag by source stream, from the last sample
	lagErr       error
	sources      []bus.SourceState    // the inbound stream's sources at the last sample
	nudged       map[string]time.Time // when each source was last restarted (sources.go)
	restarts     atomic.Int64         // sources restarted
	hubUpSince   time.Time            // since when the hub is reachable; zero while not
	vaultErr     error                // Vault's reachability at the last sample
	disconnected time.Time            // when NATS was first seen not connected; zero while connected
	serving      bool
}

// ingestSources are the node's ingest consumers by source stream: one today, one per
// source stream with federation streams.
func (d *Daemon) ingestSources() map[string]string {
	return map[string]string{d.readStream: "ingest_" + consumerName(d.cfg.Administration+"_"+d.cfg.Node)}
}

// consumerName is a NATS consumer name token, as the node makes its consumer names.
func consumerName(s string) string {
	return strings.NewReplacer("-", "_", ".", "_", " ", "_").Replace(s)
}

// register adds the gauges read from the node's dependencies to m.
func (o *observer) register(m *metrics.Metrics) {
	d := o.d
	m.Gauge("cix_nats_connected", "1 while the node's NATS connection is connected, else 0.", func() float64 {
		return b2f(d.nc.Status() == nats.CONNECTED)
	})
	m.Counter("cix_nats_reconnects_total", "Reconnections of the node's NATS connection.", func() float64 {
		return float64(d.nc.Stats().Reconnects)
	})
	m.Gauge("cix_serving", "1 while grpc.health.v1 reports SERVING, 0 while a critical dependency is down.", func() float64 {
		o.mu.Lock()
		defer o.mu.Unlock()
		return b2f(o.serving)
	})
	m.GaugeMap("cix_ingest_lag_messages", "Messages of a source stream not yet stored or quarantined by the node (pending and unacknowledged in its ingest consumer), sampled every 5s.",
		"source", func() map[string]float64 {
			o.mu.Lock()
			defer o.mu.Unlock()
			out := make(map[string]float64, len(o.lag))
			for k, v := range o.lag {
				out[k] = v
			}
			return out
		})
	o.registerSources(m)
	m.Gauge("cix_signing_certificate_expiry_seconds", "Seconds until the node's signing certificate expires (negative: expired).", func() float64 {
		t, _ := d.signingExpiry()
		return time.Until(t).Seconds()
	})
	if d.index != nil {
		m.Gauge("cix_index_lag_messages", "Feed positions the search index has not indexed yet.", func() float64 {
			return float64(d.index.State().Lag)
		})
	}
	if d.vault != nil {
		m.Gauge("cix_vault_token_ttl_seconds", "Seconds until the node's Vault token expires unless renewed (+Inf: never).", func() float64 {
			t := d.vault.session.TokenExpiry()
			if t.IsZero() {
				return math.Inf(1)
			}
			return time.Until(t).Seconds()
		})
		m.Gauge("cix_vault_up", "1 if Vault answered its health endpoint at the last sample (every 5s), else 0.", func() float64 {
			o.mu.Lock()
			defer o.mu.Unlock()
			return b2f(o.vaultErr == nil)
		})
		m.Gauge("cix_signing_certificate_renewal_failures", "Consecutive failed renewals of the signing certificate.", func() float64 {
			return float64(d.vault.identity.Status().Failures)
		})
		if d.vault.tls != nil {
			m.Gauge("cix_tls_certificate_expiry_seconds", "Seconds until the gRPC server certificate from Vault expires (negative: expired).", func() float64 {
				return time.Until(d.vault.tls.Status().NotAfter).Seconds()
			})
		}
	}
	if d.creds != nil {
		m.Gauge("cix_nats_credentials_state", "NATS credentials from Vault: 0 ok, 1 degraded (the last read or rotation failed; the credentials in use stay).", func() float64 {
			st, _, _ := d.natsCredsStatus()
			return b2f(st != trust.StateOK)
		})
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// startObserver registers the node's gauges, serves /metrics when metrics.listen is
// set, and follows the dependencies while the node runs.
func (d *Daemon) startObserver(ctx context.Context, js jetstream.JetStream) error {
	d.obs = &observer{d: d, js: js, serving: true}
	d.obs.register(d.metrics)
	if addr := d.cfg.Metrics.Listen; addr != "" {
		var err error
		if d.metricsSrv, err = metrics.Serve(addr, d.metrics, d.log); err != nil {
			return err
		}
		d.log.Info("serving metrics", "addr", "http://"+d.metricsSrv.Addr()+"/metrics")
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.obs.run(ctx)
	}()
	return nil
}

// MetricsAddr is the address serving /metrics, empty when metrics.listen is not set.
func (d *Daemon) MetricsAddr() string {
	if d.metricsSrv == nil {
		return ""
	}
	return d.metricsSrv.Addr()
}

// run samples and sets the serving status until ctx ends.
func (o *observer) run(ctx context.Context) {
	o.sample(ctx)
	o.checkServing()
	serve, sample := time.NewTicker(serveCheckEvery), time.NewTicker(sampleEvery)
	defer serve.Stop()
	defer sample.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-serve.C:
			o.checkServing()
		case <-sample.C:
			o.sample(ctx)
		}
	}
}

// sample reads the ingest consumers' lag and probes Vault.
func (o *observer) sample(ctx context.Context) {
	lag, lagErr := o.d.ingestLag(ctx)
	o.sampleSources(ctx)
	var vaultErr error
	if o.d.vault != nil {
		vaultErr = o.d.probeVault(ctx)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if lagErr == nil {
		o.lag = lag
	}
	o.lagErr, o.vaultErr = lagErr, vaultErr
}

// ingestLag asks NATS for each ingest consumer's messages not yet stored.
func (d *Daemon) ingestLag(ctx context.Context) (map[string]float64, error) {
	if d.nc.Status() != nats.CONNECTED {
		return nil, fmt.Errorf("nats %s", strings.ToLower(d.nc.Status().String()))
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	out := map[string]float64{}
	for stream, name := range d.ingestSources() {
		c, err := d.obs.js.Consumer(ctx, stream, name)
		if err != nil {
			return nil, fmt.Errorf("consumer %s on %s: %w", name, stream, err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("consumer %s on %s: %w", name, stream, err)
		}
		out[stream] = float64(info.NumPending) + float64(info.NumAckPending)
	}
	return out, nil
}

// probeVault asks Vault's unauthenticated health endpoint whether it answers.
func (d *Daemon) probeVault(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	h, err := d.vault.session.Client().Sys().HealthWithContext(ctx)
	if err != nil {
		return err
	}
	if h.Sealed {
		return fmt.Errorf("vault is sealed")
	}
	return nil
}

// signingExpiry is when the node's signing certificate expires, and whether it has one.
func (d *Daemon) signingExpiry() (time.Time, bool) {
	if d.vault != nil {
		st := d.vault.identity.Status()
		return st.NotAfter, !st.NotAfter.IsZero()
	}
	key, err := d.id.Current(context.Background())
	if err != nil {
		return time.Time{}, false
	}
	return key.Principal().NotAfter, true
}

// checkServing sets grpc.health.v1 to NOT_SERVING while NATS has been disconnected for
// longer than health.nats_down_after or the node has no valid signing key, and back to
// SERVING once both recover.
func (o *observer) checkServing() {
	d := o.d
	now := time.Now()
	connected := d.nc.Status() == nats.CONNECTED
	idState, _ := d.identityState()
	o.mu.Lock()
	switch {
	case connected:
		o.disconnected = time.Time{}
	case o.disconnected.IsZero():
		o.disconnected = now
	}
	why := ""
	switch {
	case !connected && now.Sub(o.disconnected) >= time.Duration(d.cfg.Health.NATSDownAfter):
		why = "nats disconnected since " + o.disconnected.UTC().Format(time.RFC3339)
	case idState == nodev1.HealthState_HEALTH_STATE_DOWN:
		why = "no valid signing key"
	}
	serving, changed := why == "", o.serving != (why == "")
	o.serving = serving
	o.mu.Unlock()
	if !changed {
		return
	}
	d.srv.SetServing(serving)
	if serving {
		d.log.Info("serving again: critical dependencies recovered")
	} else {
		d.log.Warn("not serving: a critical dependency is down", "reason", why)
	}
}

// identityState is the signing identity's health and detail.
func (d *Daemon) identityState() (nodev1.HealthState, string) {
	state, detail := trust.StateOK, ""
	if r, ok := d.id.(trust.StatusReporter); ok {
		state, detail = r.IdentityStatus()
	} else if _, err := d.id.Current(context.Background()); err != nil {
		state, detail = trust.StateExpired, err.Error()
	}
	return healthOf(state), detail
}

// healthOf maps a trust state onto a health state: expired is down.
func healthOf(state string) nodev1.HealthState {
	switch state {
	case trust.StateOK:
		return nodev1.HealthState_HEALTH_STATE_OK
	case trust.StateDegraded:
		return nodev1.HealthState_HEALTH_STATE_DEGRADED
	}
	return nodev1.HealthState_HEALTH_STATE_DOWN
}

// Health checks every dependency now (AdminService.GetHealth): NATS and the ingest
// consumers and Vault are asked, the rest is read from memory.
func (d *Daemon) Health(ctx context.Context) *nodev1.GetHealthResponse {
	o := d.obs
	o.sample(ctx)
	var deps []*nodev1.DependencyHealth
	add := func(name string, critical bool, state nodev1.HealthState, detail string) *nodev1.DependencyHealth {
		dep := &nodev1.DependencyHealth{Name: name, Critical: critical, State: state, Detail: detail}
		deps = append(deps, dep)
		return dep
	}
	const (
		ok       = nodev1.HealthState_HEALTH_STATE_OK
		degraded = nodev1.HealthState_HEALTH_STATE_DEGRADED
		down     = nodev1.HealthState_HEALTH_STATE_DOWN
	)
	o.mu.Lock()
	lag, lagErr, vaultErr, disconnected, serving := o.lag, o.lagErr, o.vaultErr, o.disconnected, o.serving
	o.mu.Unlock()

	reconnects := d.nc.Stats().Reconnects
	if st := d.nc.Status(); st == nats.CONNECTED {
		add("nats", true, ok, fmt.Sprintf("connected to %s; %d reconnects", d.nc.ConnectedUrlRedacted(), reconnects))
	} else {
		detail := strings.ToLower(st.String())
		if !disconnected.IsZero() {
			detail += " for " + time.Since(disconnected).Round(time.Second).String()
		}
		add("nats", true, down, fmt.Sprintf("%s; %d reconnects", detail, reconnects))
	}

	switch {
	case errors.Is(lagErr, jetstream.ErrConsumerNotFound):
		add("jetstream", false, degraded, "ingest consumer not created yet (the receiver is starting or failing): "+lagErr.Error())
	case lagErr != nil:
		add("jetstream", false, down, "ingest consumer: "+lagErr.Error())
	default:
		var total float64
		var parts []string
		for stream, n := range lag {
			total += n
			parts = append(parts, fmt.Sprintf("%s %.0f", stream, n))
		}
		dep := add("jetstream", false, ok, "ingest lag by source: "+strings.Join(parts, ", "))
		dep.Lag = uint64(total)
	}

	if d.manifest != nil {
		o.mu.Lock()
		srcs := o.sources
		o.mu.Unlock()
		detail, stalled := sourcesDetail(srcs)
		state := ok
		if stalled {
			state, detail = degraded, "a source heard nothing for over "+sourceStallAfter.String()+": "+detail
		}
		add("sources", false, state, detail)
	}

	if d.vault != nil {
		ok1, why := d.vault.session.Healthy()
		state, detail := ok, "reachable; token valid"
		switch {
		case vaultErr != nil:
			state, detail = degraded, "unreachable: "+vaultErr.Error()
		case !ok1:
			state, detail = degraded, why
		}
		if st := d.vault.identity.Status(); st.LastError != "" {
			detail += "; last renewal error: " + st.LastError
		}
		dep := add("vault", false, state, detail)
		if t := d.vault.session.TokenExpiry(); !t.IsZero() {
			dep.ExpiresAt = timestamppb.New(t)
		}
	}

	state, detail := d.identityState()
	notAfter, has := d.signingExpiry()
	if has && detail == "" {
		detail = "certificate valid for " + time.Until(notAfter).Round(time.Second).String()
	}
	dep := add("signing_identity", true, state, detail)
	if has {
		dep.ExpiresAt = timestamppb.New(notAfter)
	}

	if d.vault != nil && d.vault.tls != nil {
		st := d.vault.tls.Status()
		detail := "certificate valid for " + st.TimeToExpiry.Round(time.Second).String()
		if st.LastError != "" {
			detail += "; last renewal error: " + st.LastError
		}
		add("tls_certificate", false, healthOf(st.State), detail).ExpiresAt = timestamppb.New(st.NotAfter)
	}

	if d.creds != nil {
		st, why, version := d.natsCredsStatus()
		detail := fmt.Sprintf("Vault KV version %d", version)
		if why != "" {
			detail += ": " + why
		}
		add("nats_credentials", false, healthOf(st), detail)
	}

	if d.index != nil {
		st := d.index.State()
		add("index", false, ok, fmt.Sprintf("cursor %d, %d alerts indexed", st.Cursor, st.Alerts)).Lag = st.Lag
	}

	add("revocations", false, ok, fmt.Sprintf("trust stream replayed; %d notices applied", len(d.node.ListRevocations())))

	worst := ok
	for _, dep := range deps {
		worst = max(worst, dep.State)
	}
	return &nodev1.GetHealthResponse{State: worst, Serving: serving, Dependencies: deps, CheckedAt: timestamppb.Now()}
}
