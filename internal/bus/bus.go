package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cix-exchange/cix/internal/federation"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// AlertsStream is the name of the federation's alert stream.
const AlertsStream = "CIX_ALERTS"

// Config shapes the alert stream.
type Config struct {
	// Replicas of the stream (1 on a single server, 3 on a production cluster).
	Replicas int
	// MaxAge after which alerts expire from the stream; 0 keeps them.
	MaxAge time.Duration
	// DuplicateWindow during which the server reports a re-published id as a duplicate
	// in its ack. Outside it, the one-message-per-subject limit still refuses it and
	// the bus reports the duplicate with the stored sequence, so the window only saves
	// a look-up; every id in it is held in memory by the server, hence a short default.
	DuplicateWindow time.Duration
	// MaxPending bounds the asynchronous writes in flight per bulk publisher.
	MaxPending int
	// Federation, when set, puts the bus on the federation layout (docs/transport.md):
	// alerts are published into Administration's outbound stream CIX_OUT_<ADMIN> under
	// cix.out.<ADMIN>.<scope>.<kind>.<id>, with the subject as message id (one alert may
	// go to several scopes), and read from its inbound stream CIX_IN_<ADMIN>, which
	// sources its own outbound stream and every scope of another member it is entitled
	// to. Nil keeps the single shared stream CIX_ALERTS.
	Federation     *federation.Manifest
	Administration string
}

// DefaultMaxPending is Config.MaxPending's default.
const DefaultMaxPending = 4096

func (c Config) withDefaults() Config {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = 5 * time.Second
	}
	if c.MaxAge > 0 && c.DuplicateWindow > c.MaxAge {
		c.DuplicateWindow = c.MaxAge
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	return c
}

// Bus publishes signed alerts into the federation's alert stream and reads them back.
type Bus struct {
	js jetstream.JetStream
	// stream is what the node reads (CIX_ALERTS, or CIX_IN_<ADMIN>); out is where it
	// publishes (CIX_ALERTS, or CIX_OUT_<ADMIN>).
	stream, out       jetstream.Stream
	readName, outName string
	readFilter        string
	acks              jetstream.Stream
	cfg               Config
	// inMu serialises changes of the inbound stream's sources (UpdateInbound,
	// RestartSources).
	inMu sync.Mutex
}

// Open connects the bus to JetStream over nc and makes sure the alert stream exists
// with the configured shape.
func Open(ctx context.Context, nc *nats.Conn, cfg Config) (*Bus, error) {
	cfg = cfg.withDefaults()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(cfg.MaxPending))
	if err != nil {
		return nil, fmt.Errorf("open bus: %w", err)
	}
	if cfg.Federation != nil {
		return openFederated(ctx, js, cfg)
	}
	st, err := EnsureStream(ctx, js, jetstream.StreamConfig{
		Name:                 AlertsStream,
		Description:          "cix signed alerts, one message per alert id",
		Subjects:             []string{AlertSubjectPrefix + ">"},
		Storage:              jetstream.FileStorage,
		Retention:            jetstream.LimitsPolicy,
		Replicas:             cfg.Replicas,
		MaxAge:               cfg.MaxAge,
		Duplicates:           cfg.DuplicateWindow,
		MaxMsgsPerSubject:    1,
		Discard:              jetstream.DiscardNew,
		DiscardNewPerSubject: true,
		MaxMsgSize:           1 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("open bus: create stream %s: %w", AlertsStream, err)
	}
	acks, err := ensureAcksStream(ctx, js, cfg, "")
	if err != nil {
		return nil, fmt.Errorf("open bus: %w", err)
	}
	return &Bus{js: js, stream: st, out: st, readName: AlertsStream, outName: AlertsStream,
		readFilter: AlertSubjectPrefix + ">", acks: acks, cfg: cfg}, nil
}

// openFederated creates the administration's outbound and inbound streams in its domain
// (the JetStream of the leaf server the node is connected to). The acknowledgement
// stream sources the acknowledgements addressed to the administration from the inbound
// stream.
func openFederated(ctx context.Context, js jetstream.JetStream, cfg Config) (*Bus, error) {
	outCfg, err := OutboundStreamConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("open bus: %w", err)
	}
	inCfg, err := federation.InboundStreamConfig(cfg.Federation, cfg.Administration, cfg.streamOptions())
	if err != nil {
		return nil, fmt.Errorf("open bus: %w", err)
	}
	out, err := EnsureStream(ctx, js, outCfg)
	if err != nil {
		return nil, fmt.Errorf("open bus: create stream %s: %w", outCfg.Name, err)
	}
	in, err := EnsureStream(ctx, js, inCfg)
	if err != nil {
		return nil, fmt.Errorf("open bus: create stream %s: %w", inCfg.Name, err)
	}
	acks, err := ensureAcksStream(ctx, js, cfg, inCfg.Name)
	if err != nil {
		return nil, fmt.Errorf("open bus: %w", err)
	}
	return &Bus{js: js, stream: in, out: out, readName: inCfg.Name, outName: outCfg.Name,
		readFilter: federation.OutSubjectPrefix + ">", acks: acks, cfg: cfg}, nil
}

// OutboundStreamConfig is the configuration Open gives the administration's outbound
// stream on the federation layout (cfg.Federation set), defaults included. The bench
// measures its JetStream floor on a stream configured with it.
func OutboundStreamConfig(cfg Config) (jetstream.StreamConfig, error) {
	cfg = cfg.withDefaults()
	if cfg.Federation == nil {
		return jetstream.StreamConfig{}, errors.New("outbound stream: no federation manifest")
	}
	return federation.OutboundStreamConfig(cfg.Federation, cfg.Administration, cfg.streamOptions())
}

// streamOptions are the options of the federation layout's streams.
func (c Config) streamOptions() federation.StreamOptions {
	return federation.StreamOptions{Replicas: c.Replicas, MaxAge: c.MaxAge, DuplicateWindow: c.DuplicateWindow}
}

// UpdateInbound reshapes the inbound stream for manifest m (a newer member directory):
// sources of a new member, or of a group's new scope, are added and those no longer
// granted removed, live. Existing sources keep their position. Only on the federation
// layout.
func (b *Bus) UpdateInbound(ctx context.Context, m *federation.Manifest) error {
	if !b.Federated() {
		return errors.New("update inbound stream: not on the federation layout")
	}
	inCfg, err := federation.InboundStreamConfig(m, b.cfg.Administration, b.cfg.streamOptions())
	if err != nil {
		return fmt.Errorf("update inbound stream: %w", err)
	}
	b.inMu.Lock()
	defer b.inMu.Unlock()
	if _, err := EnsureStream(ctx, b.js, inCfg); err != nil {
		return fmt.Errorf("update inbound stream %s: %w", inCfg.Name, err)
	}
	return nil
}

// Federated reports whether the bus is on the federation layout.
func (b *Bus) Federated() bool { return b.cfg.Federation != nil }

// ReadStream is the name of the stream the node reads alerts from.
func (b *Bus) ReadStream() string { return b.readName }

// msgID is the Nats-Msg-Id of an alert: its id on the shared stream, one per alert and
// scope on the federation layout (federation.OutboundMsgID).
func (b *Bus) msgID(subject, id string) string {
	if b.Federated() {
		return federation.OutboundMsgID(subject, id)
	}
	return id
}

// publishOpts are the options of a write of id on subject. On the federation layout a
// message with its id in the subject (a notice, an acknowledgement, a mutual assistance
// transition) is stored only on an empty subject: the outbound stream has no limit of
// messages per subject (its alerts share one), so the publisher asks for this one,
// which refuses a repeat after the duplicate window as the limit did (IsSubjectTaken).
func (b *Bus) publishOpts(subject, id string, more ...jetstream.PublishOpt) []jetstream.PublishOpt {
	opts := append([]jetstream.PublishOpt{jetstream.WithMsgID(b.msgID(subject, id)), jetstream.WithExpectStream(b.outName)}, more...)
	if b.Federated() && !federation.IsAlertSubject(subject) {
		opts = append(opts, jetstream.WithExpectLastSequencePerSubject(0))
	}
	return opts
}

// EnsureStream creates a stream, or updates it only when it exists with another
// configuration. Every node calls it at start for shared streams: updating a stream whose
// configuration did not change would still rewrite its store's settings, which
// nats-server does not synchronise with consumers being created at the same moment.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	st, err := js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return js.UpdateStream(ctx, cfg)
	}
	return st, err
}

// JetStream exposes the JetStream context for packages that keep node-local streams on
// the same connection.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Ack is the outcome of storing one alert.
type Ack struct {
	Sequence  uint64
	Duplicate bool
}

// ErrUnavailable wraps failures to reach the stream: the write may or may not have
// happened, and retrying with the same id is safe.
var ErrUnavailable = errors.New("alert stream unavailable")

// ErrStoreFull: the stream refused to store the message for lack of space (its byte or
// message limit, the server's storage, the account's limits, a full disk). Nothing was
// stored; retrying with the same id is safe once there is space again.
var ErrStoreFull = errors.New("alert store full")

// JetStream's error codes for a store that cannot take more (nats-server errors.json).
const (
	jsAccountResourcesExceeded = 10002
	jsInsufficientResources    = 10023
	jsStorageResourcesExceeded = 10047
	jsMemoryResourcesExceeded  = 10028
	jsStreamStoreFailed        = 10077 // with the store's own error as description
)

// storeFull returns err as an ErrStoreFull, keeping JetStream's description, when it is
// a refusal for lack of space; nil otherwise.
func storeFull(err error) error {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return nil
	}
	full := false
	switch apiErr.ErrorCode {
	case jsAccountResourcesExceeded, jsInsufficientResources, jsStorageResourcesExceeded, jsMemoryResourcesExceeded:
		full = true
	case jsStreamStoreFailed:
		d := strings.ToLower(apiErr.Description)
		full = strings.Contains(d, "maximum bytes exceeded") || strings.Contains(d, "maximum messages exceeded") ||
			strings.Contains(d, "no space") || strings.Contains(d, "resources")
	}
	if !full {
		return nil
	}
	return fmt.Errorf("%w (%s): %w", ErrStoreFull, apiErr.Description, err)
}

// Publish stores one signed alert and waits for the stream's acknowledgement.
func (b *Bus) Publish(ctx context.Context, subject, id string, data []byte) (Ack, error) {
	ack, err := b.js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data}, b.publishOpts(subject, id)...)
	return b.settle(ctx, subject, ack, err)
}

// Pending is an asynchronous publish in flight.
type Pending struct {
	subject string
	future  jetstream.PubAckFuture
	err     error
}

// asyncStallWait is how long PublishAsync waits for a free slot in the window of
// writes in flight before it gives up; the client's default (200 ms) turned a slow
// server into failed items instead of back-pressure.
const asyncStallWait = 30 * time.Second

// PublishAsync starts storing one signed alert. At most Config.MaxPending writes are in
// flight; beyond that it blocks until one completes. Wait for the outcome with Wait.
func (b *Bus) PublishAsync(subject, id string, data []byte) *Pending {
	f, err := b.js.PublishMsgAsync(&nats.Msg{Subject: subject, Data: data}, b.publishOpts(subject, id, jetstream.WithStallWait(asyncStallWait))...)
	return &Pending{subject: subject, future: f, err: err}
}

// Wait returns the outcome of an asynchronous publish.
func (b *Bus) Wait(ctx context.Context, p *Pending) (Ack, error) {
	if p.err != nil {
		return Ack{}, fmt.Errorf("%w: %w", ErrUnavailable, p.err)
	}
	select {
	case ack := <-p.future.Ok():
		return b.settle(ctx, p.subject, ack, nil)
	case err := <-p.future.Err():
		return b.settle(ctx, p.subject, nil, err)
	case <-ctx.Done():
		return Ack{}, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
}

// settle turns a publish result into an Ack. A refusal by the one-message-per-subject
// limit means the alert is already stored: it is reported as a duplicate with the stored
// sequence.
func (b *Bus) settle(ctx context.Context, subject string, ack *jetstream.PubAck, err error) (Ack, error) {
	if err == nil {
		return Ack{Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
	}
	if IsSubjectTaken(err) {
		m, gerr := b.out.GetLastMsgForSubject(ctx, subject)
		if gerr != nil {
			return Ack{}, fmt.Errorf("%w: look up stored duplicate: %v", ErrUnavailable, gerr)
		}
		return Ack{Sequence: m.Sequence, Duplicate: true}, nil
	}
	if full := storeFull(err); full != nil {
		return Ack{}, fmt.Errorf("%w: %w", ErrUnavailable, full)
	}
	return Ack{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// IsSubjectTaken reports whether err is JetStream's refusal of a second message on a
// subject: limited to one (DiscardNewPerSubject), or published with the expectation
// that it is empty (Nats-Expected-Last-Subject-Sequence 0).
func IsSubjectTaken(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return subjectTaken(apiErr.Description)
	}
	return err != nil && subjectTaken(err.Error())
}

func subjectTaken(s string) bool {
	return strings.Contains(s, "maximum messages per subject exceeded") || strings.Contains(s, "wrong last sequence")
}

// NextAlert returns the first alert stored at or after stream sequence seq, or nil when
// there is none.
func (b *Bus) NextAlert(ctx context.Context, seq uint64) (*jetstream.RawStreamMsg, error) {
	m, err := b.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(b.readFilter))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return m, nil
}

// Consumer returns the durable pull consumer named name on the alert stream, creating it
// when needed. Its acknowledgements are cumulative: acknowledging a message acknowledges
// every earlier one.
func (b *Bus) Consumer(ctx context.Context, name string) (jetstream.Consumer, error) {
	c, err := b.js.CreateOrUpdateConsumer(ctx, b.readName, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "cix node ingest: verifies every alert before delivery",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 20000,
		FilterSubject: b.readFilter,
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", name, err)
	}
	return c, nil
}
