// Package metrics owns a node's Prometheus registry: the counters the node and the API
// move on their hot paths (through the small hook methods of Metrics, so no other
// package imports Prometheus), the gauges read from the node's dependencies when a
// scrape comes, and the HTTP listener serving /metrics.
//
// Each node has its own registry, never the global default, so that several nodes in
// one process (tests, the demo) do not collide.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Results are the publish results (node.PublishStored, ...); their series exist from
// the start, at zero.
var Results = []string{"stored", "duplicate", "refused", "failed"}

// Reasons are the quarantine reasons (envelope.Reason names); their series exist from
// the start, at zero, so that rate() and alerts work before the first refusal.
var Reasons = []string{
	"malformed_envelope", "wrong_payload_type", "bad_signature", "unknown_key",
	"origin_mismatch", "undecodable_payload", "invalid_content", "revoked_key",
}

// Metrics is a node's registry and its counters. A nil *Metrics counts nothing.
type Metrics struct {
	reg *prometheus.Registry

	published       map[string]prometheus.Counter
	received        prometheus.Counter
	verifiedAlerts  prometheus.Counter
	verifiedNotices prometheus.Counter
	delivered       prometheus.Counter
	quarantined     *prometheus.CounterVec
	quarantinedBy   map[string]prometheus.Counter
	acksReceived    prometheus.Counter
}

// New returns a node's metrics on a new registry, with the Go runtime and process
// collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{reg: reg, published: map[string]prometheus.Counter{}, quarantinedBy: map[string]prometheus.Counter{}}
	pub := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cix_alerts_published_total",
		Help: "Alerts this node's clients published, by result: stored, duplicate, refused (invalid or not allowed), failed (not stored: NATS or signing key).",
	}, []string{"result"})
	for _, r := range Results {
		m.published[r] = pub.WithLabelValues(r)
	}
	m.received = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cix_alerts_received_total",
		Help: "Messages (alerts and notices) the node received from the alert stream and processed (stored or quarantined).",
	})
	m.verifiedAlerts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cix_alerts_verified_total",
		Help: "Received alerts that passed verification and were stored in the node's feed.",
	})
	m.verifiedNotices = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cix_notices_verified_total",
		Help: "Received recall and reclassification notices that passed verification and were stored in the node's feed.",
	})
	m.quarantined = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cix_messages_quarantined_total",
		Help: "Messages refused and stored in the node's quarantine, by reason.",
	}, []string{"reason"})
	for _, r := range Reasons {
		m.quarantinedBy[r] = m.quarantined.WithLabelValues(r)
	}
	m.delivered = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cix_alerts_delivered_total",
		Help: "Verified alerts sent to Subscribe clients (gRPC), history and live.",
	})
	m.acksReceived = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cix_acks_received_total",
		Help: "Verified acknowledgements of this administration's notices received from other nodes.",
	})
	reg.MustRegister(pub, m.received, m.verifiedAlerts, m.verifiedNotices, m.quarantined, m.delivered, m.acksReceived)
	return m
}

// Registry is the node's registry, to add collectors or gather in tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Published counts one publish with its result (one of Results).
func (m *Metrics) Published(result string) {
	if m == nil {
		return
	}
	if c, ok := m.published[result]; ok {
		c.Inc()
	}
}

// Ingested counts a batch the receiver stored: received messages, of which alerts and
// notices verified (the rest were quarantined, counted by Quarantined).
func (m *Metrics) Ingested(received, alerts, notices int) {
	if m == nil {
		return
	}
	m.received.Add(float64(received))
	m.verifiedAlerts.Add(float64(alerts))
	m.verifiedNotices.Add(float64(notices))
}

// Quarantined counts a message stored in the quarantine under reason.
func (m *Metrics) Quarantined(reason string) {
	if m == nil {
		return
	}
	c, ok := m.quarantinedBy[reason]
	if !ok { // a reason added to envelope without being listed here: still counted
		c = m.quarantined.WithLabelValues(reason)
	}
	c.Inc()
}

// Delivered counts an alert sent to a Subscribe client.
func (m *Metrics) Delivered() {
	if m == nil {
		return
	}
	m.delivered.Inc()
}

// AckReceived counts a verified acknowledgement of one of this administration's
// notices.
func (m *Metrics) AckReceived() {
	if m == nil {
		return
	}
	m.acksReceived.Inc()
}

// Gauge registers a gauge whose value f returns at each scrape. f must be cheap and must
// not block (read a cached value).
func (m *Metrics) Gauge(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// Counter registers a counter whose value f returns at each scrape (a count kept
// elsewhere, such as the NATS client's reconnects).
func (m *Metrics) Counter(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}

// GaugeMap registers a gauge with one label whose series f returns at each scrape, one
// per key (for example the lag per source stream).
func (m *Metrics) GaugeMap(name, help, label string, f func() map[string]float64) {
	m.reg.MustRegister(&mapGauge{desc: prometheus.NewDesc(name, help, []string{label}, nil), f: f})
}

type mapGauge struct {
	desc *prometheus.Desc
	f    func() map[string]float64
}

func (g *mapGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *mapGauge) Collect(ch chan<- prometheus.Metric) {
	vals := g.f()
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, vals[k], k)
	}
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Server is the HTTP listener serving /metrics.
type Server struct {
	lis  net.Listener
	srv  *http.Server
	done chan struct{}
	once sync.Once
}

// Serve listens on addr and serves m at /metrics until Close.
func Serve(addr string, m *Metrics, log *slog.Logger) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	s := &Server{lis: lis, done: make(chan struct{}), srv: &http.Server{
		Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
	}}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener failed", "error", err)
		}
	}()
	return s, nil
}

// Addr is the address the listener serves.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Close stops the listener, letting scrapes in flight finish for up to two seconds.
func (s *Server) Close() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if s.srv.Shutdown(ctx) != nil {
			_ = s.srv.Close()
		}
		<-s.done
	})
}
