package revocation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/feed"
	trustv1 "github.com/cix-exchange/cix/internal/gen/cix/trust/v1"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream and subjects of the federation's trust notices.
const (
	Stream        = "CIX_TRUST"
	SubjectPrefix = "cix.trust.v1."
)

// Subject is where admin's notice id is published.
func Subject(admin, id string) string { return SubjectPrefix + admin + ".revocation." + id }

// parseSubject returns the administration and id of a notice subject.
func parseSubject(s string) (admin, id string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(s, SubjectPrefix), ".")
	if !strings.HasPrefix(s, SubjectPrefix) || len(parts) != 3 || parts[1] != "revocation" {
		return "", "", false
	}
	return parts[0], parts[2], true
}

// Config configures the trust stream.
type Config struct {
	// Replicas of the stream (1 on a single server, 3 on a cluster).
	Replicas int
	// Consumer is this node's durable consumer name, unique per node.
	Consumer string
	// Inbound and Outbound, on the federation layout (docs/transport.md), are the
	// administration's inbound and outbound streams. Notices then cross administrations
	// in the all-members scope (kind revocation): Publish puts this administration's
	// notices on Outbound, and the trust stream has no subjects of its own but sources
	// every member's notices from Inbound, mapped onto its usual subjects. Empty: the
	// trust stream is shared by every node of one NATS system.
	Inbound, Outbound string
}

// federationSource is the trust stream's source on the federation layout: the
// revocation notices of every member in the inbound stream, under cix.trust.v1.
func federationSource(inbound string) *jetstream.StreamSource {
	return &jetstream.StreamSource{Name: inbound, SubjectTransforms: []jetstream.SubjectTransformConfig{{
		Source:      federation.OutSubjectPrefix + "*.all." + federation.KindRevocation + ".*",
		Destination: SubjectPrefix + "{{wildcard(1)}}.revocation.{{wildcard(2)}}",
	}}}
}

// Service keeps a node's verifier in step with the federation's revocation notices and
// publishes this administration's notices.
type Service struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	cons   jetstream.Consumer
	ver    *trust.Verifier
	feed   *feed.Feed
	admin  string
	// outbound is the administration's outbound stream on the federation layout.
	outbound string
	log      *slog.Logger
	now      func() time.Time

	mu      sync.Mutex
	applied []*trustv1.Revocation
	seen    map[string]bool // notice ids applied
	ready   chan struct{}   // closed once the stream is replayed to where it was at Start
	last    uint64          // stream sequence the replay must reach
}

// Open creates the trust stream if needed and this node's durable consumer on it.
func Open(ctx context.Context, js jetstream.JetStream, ver *trust.Verifier, f *feed.Feed, admin string, cfg Config, log *slog.Logger) (*Service, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sc := jetstream.StreamConfig{
		Name: Stream, Subjects: []string{SubjectPrefix + ">"}, Storage: jetstream.FileStorage,
		Replicas: cfg.Replicas, Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardNew,
		MaxMsgsPerSubject: 1, DiscardNewPerSubject: true, MaxMsgSize: envelope.MaxEnvelopeSize,
		Duplicates: 2 * time.Minute, DenyDelete: true, DenyPurge: true,
		Description: "cix revocation notices, kept for good",
	}
	if cfg.Inbound != "" {
		// Only what came through the inbound stream: no client of the account can put a
		// notice (or squat a notice's subject) here directly.
		sc.Subjects, sc.Sources = nil, []*jetstream.StreamSource{federationSource(cfg.Inbound)}
		sc.Description = "cix revocation notices of every member, sourced from " + cfg.Inbound + ", kept for good"
	}
	st, err := bus.EnsureStream(ctx, js, sc)
	if err != nil {
		return nil, fmt.Errorf("trust stream: %w", err)
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: cfg.Consumer, AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxAckPending: 64, AckWait: 30 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("trust stream consumer: %w", err)
	}
	return &Service{
		js: js, stream: st, cons: cons, ver: ver, feed: f, admin: admin, log: log, now: time.Now, outbound: cfg.Outbound,
		seen: map[string]bool{}, ready: make(chan struct{}),
	}, nil
}

// Start applies every notice this node applied in earlier runs, then follows the stream
// until ctx ends. Call Ready before verifying alerts.
func (s *Service) Start(ctx context.Context) error {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("trust stream: %w", err)
	}
	ci, err := s.cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("trust stream consumer: %w", err)
	}
	// Notices this consumer acknowledged in an earlier run were applied or quarantined
	// then; the verifier is in memory, so apply the valid ones again, without
	// quarantining the others a second time.
	for seq := info.State.FirstSeq; seq > 0 && seq <= ci.AckFloor.Stream; seq++ {
		m, err := s.stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("trust stream: replay %d: %w", seq, err)
		}
		if o, err := s.verify(m.Subject, m.Data, m.Time); err == nil {
			s.apply(o)
		}
	}
	s.mu.Lock()
	s.last = info.State.LastSeq
	if s.last <= ci.AckFloor.Stream {
		close(s.ready)
	}
	s.mu.Unlock()
	cc, err := s.cons.Consume(func(m jetstream.Msg) { s.handle(ctx, m) },
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if ctx.Err() == nil && !errors.Is(err, jetstream.ErrNoHeartbeat) {
				s.log.Warn("trust stream consumer", "error", err)
			}
		}))
	if err != nil {
		return fmt.Errorf("trust stream: %w", err)
	}
	context.AfterFunc(ctx, cc.Stop)
	return nil
}

// Ready waits until every notice stored when Start was called is applied (or
// quarantined), so that no alert is verified without them.
func (s *Service) Ready(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("trust stream: not replayed: %w", ctx.Err())
	}
}

// handle applies or quarantines one new notice, then acknowledges it. A notice whose
// quarantine fails is not acknowledged, so it comes back.
func (s *Service) handle(ctx context.Context, m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		s.log.Warn("trust stream: message without metadata", "error", err)
		_ = m.Nak()
		return
	}
	o, err := s.verify(m.Subject(), m.Data(), md.Timestamp)
	if err != nil {
		q := feed.Quarantined{
			Reason: envelope.ReasonOf(err).String(), Detail: reasonDetail(err), Subject: m.Subject(), Raw: m.Data(),
		}
		if qerr := s.feed.Quarantine(ctx, []feed.Quarantined{q}); qerr != nil {
			s.log.Error("quarantine revocation notice", "error", qerr, "subject", m.Subject())
			_ = m.NakWithDelay(time.Second)
			return
		}
		s.log.Warn("revocation notice quarantined", "subject", m.Subject(), "reason", q.Reason, "detail", q.Detail)
	} else {
		s.apply(o)
	}
	if err := m.Ack(); err != nil && ctx.Err() == nil {
		s.log.Warn("trust stream: ack", "error", err)
	}
	s.mu.Lock()
	if md.Sequence.Stream >= s.last {
		select {
		case <-s.ready:
		default:
			close(s.ready)
		}
	}
	s.mu.Unlock()
}

func reasonDetail(err error) string {
	var e *envelope.Error
	if errors.As(err, &e) {
		return e.Message()
	}
	return err.Error()
}

// verify opens a notice and checks that its subject names its administration and id.
func (s *Service) verify(subject string, raw []byte, storedAt time.Time) (*Opened, error) {
	admin, id, ok := parseSubject(subject)
	if !ok {
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, fmt.Sprintf("subject %q is not a revocation subject", clip(subject)), nil)
	}
	o, err := Verify(s.ver, raw, storedAt)
	if err != nil {
		return nil, err
	}
	if o.Revoked.Administration != admin {
		return nil, envelope.Refuse(envelope.ReasonOriginMismatch,
			fmt.Sprintf("notice of %s on the subject of %s", o.Revoked.Administration, admin), nil)
	}
	if o.Notice.GetId() != id {
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, fmt.Sprintf("notice %s on the subject of %s", o.Notice.GetId(), clip(id)), nil)
	}
	return o, nil
}

func (s *Service) apply(o *Opened) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[o.Notice.GetId()] {
		return
	}
	if err := s.ver.Revoke(o.Revoked); err != nil { // Check validated it already
		s.log.Error("apply revocation", "error", err)
		return
	}
	s.seen[o.Notice.GetId()] = true
	s.applied = append(s.applied, o.Notice)
	s.log.Info("revocation applied", "id", o.Notice.GetId(), "administration", o.Revoked.Administration,
		"node", o.Revoked.Node, "key", o.Revoked.KeyID, "seal_min_version", o.Revoked.SealMinVersion,
		"effective", o.Revoked.EffectiveAt.UTC().Format(time.RFC3339))
}

// Publish verifies a sealed notice of this node's administration and stores it on the
// trust stream, then applies it here at once. Errors that are the notice's fault are
// *envelope.Error (or *FieldError).
func (s *Service) Publish(ctx context.Context, raw []byte) (*trustv1.Revocation, bool, error) {
	o, err := Verify(s.ver, raw, s.now())
	if err != nil {
		return nil, false, err
	}
	if o.Revoked.Administration != s.admin {
		return nil, false, envelope.Refuse(envelope.ReasonOriginMismatch,
			fmt.Sprintf("notice of %s; this node publishes for %s", o.Revoked.Administration, s.admin), nil)
	}
	m := &nats.Msg{Subject: Subject(s.admin, o.Notice.GetId()), Data: raw}
	opts := []jetstream.PublishOpt{jetstream.WithMsgID(o.Notice.GetId()), jetstream.WithExpectStream(Stream)}
	if s.outbound != "" { // every member sources it from there
		m.Subject = federation.RevocationSubject(s.admin, o.Notice.GetId())
		// The outbound stream keeps any number of messages per subject (its alerts share
		// one): ask for this subject to be empty, which refuses a repeat as stored.
		opts = []jetstream.PublishOpt{jetstream.WithMsgID(m.Subject), jetstream.WithExpectStream(s.outbound), jetstream.WithExpectLastSequencePerSubject(0)}
	}
	ack, err := s.js.PublishMsg(ctx, m, opts...)
	duplicate := ack != nil && ack.Duplicate
	if bus.IsSubjectTaken(err) { // stored earlier, beyond the duplicate window
		err, duplicate = nil, true
	}
	if err != nil {
		return nil, false, fmt.Errorf("publish revocation: %w", err)
	}
	s.apply(o)
	return o.Notice, duplicate, nil
}

// List returns the notices applied, oldest first.
func (s *Service) List() []*trustv1.Revocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*trustv1.Revocation(nil), s.applied...)
}
