package assist

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/attach"
	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/feed"
	pb "github.com/cix-exchange/cix/internal/gen/cix/assistance/v1"
	"github.com/cix-exchange/cix/internal/node"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ErrNotConfigured: attachment RPCs on a node without an attachment store.
var ErrNotConfigured = errors.New("attachments are not configured")

// Signer signs with the node's key (node.Node.Sign).
type Signer interface {
	Sign(ctx context.Context, payloadType string, m proto.Message) ([]byte, *trust.Principal, error)
}

// Publisher stores a message in the administration's outbound stream (bus.Bus).
type Publisher interface {
	Publish(ctx context.Context, subject, id string, data []byte) (bus.Ack, error)
}

// Config assembles a Service.
type Config struct {
	Administration, Node string
	Signer               Signer
	Verifier             *trust.Verifier
	// Manifest is the federation manifest in force.
	Manifest    func() *federation.Manifest
	AgeIdentity *age.X25519Identity
	// Out publishes into CIX_OUT_<ADMIN>.
	Out Publisher
	// In is the JetStream of the account holding InStream (CIX_IN_<ADMIN>).
	In       jetstream.JetStream
	InStream string
	// Log is the JetStream of the node's private account, where the log stream lives.
	Log      jetstream.JetStream
	Replicas int
	// Quarantine stores refused messages (the node's quarantine).
	Quarantine func(context.Context, []feed.Quarantined) error
	// Attachments is the attachment store; nil answers attachment calls with
	// ErrNotConfigured and refuses transitions that reference attachments.
	Attachments attach.Attachments
	Policy      *Policy
	// Now is the clock of flags (OVERDUE...); time.Now by default. Signed times
	// (issued_at) always come from the system clock: receivers check them against the
	// stream's storage time.
	Now    func() time.Time
	Logger *slog.Logger
	// RepublishEvery is the period of the store-and-forward loop; 2 s by default.
	RepublishEvery time.Duration
}

// request is one request as this node holds it.
type request struct {
	id                    string
	requesting, requested string
	draft                 *pb.RequestContent // content of a DRAFT
	createdAt, updatedAt  time.Time
	firstSeq              uint64
	entries               []*Entry
	bySHA                 map[string]*Entry
}

// clientUse is what a client_id was used for.
type clientUse struct {
	action    pb.Action // ACTION_UNSPECIFIED for CreateRequest
	requestID string
	sha       string
}

// Service is a node's mutual assistance service.
type Service struct {
	cfg    Config
	log    *slog.Logger
	stream jetstream.Stream
	prefix string // subject prefix of the log: cix.assist.<ADMIN>-<node>.

	act sync.Mutex // serialises transitions (own and received)

	mu          sync.Mutex
	reqs        map[string]*request
	clients     map[string]clientUse
	unpublished map[string]*Entry // own entries not yet confirmed in the outbound stream, by msg id
	applied     uint64            // log sequence applied in memory
	appliedCh   chan struct{}     // closed and replaced whenever applied moves
}

// LogStream is the name of the node's assistance log stream.
func LogStream(admin, nodeName string) string {
	return "CIX_ASSIST_" + admin + "_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(nodeName))
}

// Open creates (or opens) the log stream and rebuilds the state from it.
func Open(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Signer == nil || cfg.Verifier == nil || cfg.Manifest == nil || cfg.Out == nil || cfg.In == nil || cfg.Log == nil || cfg.Quarantine == nil {
		return nil, errors.New("assist: signer, verifier, manifest, streams and quarantine are required")
	}
	if cfg.Policy == nil {
		cfg.Policy = DefaultPolicy()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.RepublishEvery <= 0 {
		cfg.RepublishEvery = 2 * time.Second
	}
	s := &Service{cfg: cfg, log: cfg.Logger.With("service", "assist"), reqs: map[string]*request{}, clients: map[string]clientUse{},
		unpublished: map[string]*Entry{}, appliedCh: make(chan struct{}),
		prefix: "cix.assist." + cfg.Administration + "-" + cfg.Node + "."}
	st, err := bus.EnsureStream(ctx, cfg.Log, jetstream.StreamConfig{
		Name:        LogStream(cfg.Administration, cfg.Node),
		Description: "cix mutual assistance log of " + cfg.Administration + "/" + cfg.Node + ": drafts and every accepted transition, kept for good",
		Subjects:    []string{s.prefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Replicas:    cfg.Replicas,
		MaxMsgSize:  2 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("assistance log stream: %w", err)
	}
	s.stream = st
	if err := s.rebuild(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

const (
	hdrKind     = "Cix-Assist-Kind" // draft, tx, pub
	hdrRequest  = "Cix-Request-Id"
	hdrClient   = "Cix-Client-Id"
	hdrSubject  = "Cix-Subject"
	hdrSignerA  = "Cix-Signer-Administration"
	hdrSignerN  = "Cix-Signer-Node"
	hdrKeyID    = "Cix-Signer-Keyid"
	hdrOwn      = "Cix-Own"
	hdrMsgID    = "Cix-Msg-Id"
	hdrRequestA = "Cix-Requested"
)

// rebuild reads the whole log and applies it.
func (s *Service) rebuild(ctx context.Context) error {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("assistance log: %w", err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		s.setApplied(last)
		return nil
	}
	oc, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return fmt.Errorf("assistance log: %w", err)
	}
	for {
		m, err := next(ctx, oc, 10*time.Second)
		if err != nil {
			return fmt.Errorf("assistance log: read: %w", err)
		}
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		if err := s.applyLogged(m.Subject(), m.Headers(), m.Data(), md.Sequence.Stream, md.Timestamp); err != nil {
			s.log.Error("assistance log: entry not applied", "seq", md.Sequence.Stream, "error", err)
		}
		if md.Sequence.Stream >= last {
			break
		}
	}
	s.setApplied(last)
	s.log.Info("assistance log replayed", "requests", len(s.reqs), "last_seq", last, "unpublished", len(s.unpublished))
	return nil
}

// applyLogged applies one log message (at start, or after appending it).
func (s *Service) applyLogged(subject string, h nats.Header, data []byte, seq uint64, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch h.Get(hdrKind) {
	case "draft":
		c := &pb.CreateRequestRequest{}
		if err := proto.Unmarshal(data, c); err != nil {
			return err
		}
		id := h.Get(hdrRequest)
		r := s.reqs[id]
		if r == nil {
			r = &request{id: id, requesting: s.cfg.Administration, createdAt: at, firstSeq: seq, bySHA: map[string]*Entry{}}
			s.reqs[id] = r
			s.clients[c.GetClientId()] = clientUse{requestID: id}
		}
		r.draft, r.updatedAt = c.GetContent(), at
		r.requested = c.GetContent().GetRequestedAdministration()
	case "tx":
		opened, err := envelope.Open(data, PayloadType, trustAll{})
		if err != nil {
			return err
		}
		st := &pb.SealedTransition{}
		if err := proto.Unmarshal(opened.Envelope.GetPayload(), st); err != nil {
			return err
		}
		t, err := s.decrypt(st)
		if err != nil {
			return err
		}
		e := &Entry{T: t, Envelope: data, SHA256: Digest(data), SignerAdministration: h.Get(hdrSignerA), SignerNode: h.Get(hdrSignerN),
			KeyID: h.Get(hdrKeyID), Subject: h.Get(hdrSubject), StoredAt: at, Seq: seq, Own: h.Get(hdrOwn) == "1"}
		s.addEntry(e)
	case "pub":
		delete(s.unpublished, h.Get(hdrMsgID))
	}
	return nil
}

// addEntry adds a logged transition to memory. Caller holds mu.
func (s *Service) addEntry(e *Entry) {
	t := e.T
	r := s.reqs[t.GetRequestId()]
	if r == nil {
		r = &request{id: t.GetRequestId(), createdAt: e.StoredAt, firstSeq: e.Seq, bySHA: map[string]*Entry{}}
		s.reqs[r.id] = r
	}
	if _, dup := r.bySHA[e.SHA256]; dup {
		return
	}
	r.requesting, r.requested = t.GetRequestingAdministration(), t.GetRequestedAdministration()
	r.entries = append(r.entries, e)
	r.bySHA[e.SHA256] = e
	r.updatedAt = e.StoredAt
	if t.GetAction() == pb.Action_ACTION_SUBMIT {
		r.draft = nil
	}
	if e.Own {
		s.clients[t.GetClientId()] = clientUse{action: t.GetAction(), requestID: r.id, sha: e.SHA256}
		s.unpublished[t.GetMsgId()] = e
	}
}

// trustAll opens envelopes of the node's own log, which were verified before they were
// logged.
type trustAll struct{}

func (trustAll) Verify(_, _ []byte, _ string, _ [][]byte) (struct{}, error) { return struct{}{}, nil }

func (s *Service) decrypt(st *pb.SealedTransition) (*pb.Transition, error) {
	if s.cfg.AgeIdentity == nil {
		return nil, errors.New("no age identity")
	}
	return decryptTransition(st, s.cfg.AgeIdentity)
}

func (s *Service) setApplied(seq uint64) {
	s.mu.Lock()
	s.setAppliedLocked(seq)
	s.mu.Unlock()
}

func (s *Service) setAppliedLocked(seq uint64) {
	if seq > s.applied {
		s.applied = seq
		close(s.appliedCh)
		s.appliedCh = make(chan struct{})
	}
}

// waitApplied waits until the log sequence seq is applied in memory.
func (s *Service) waitApplied(ctx context.Context, seq uint64) error {
	for {
		s.mu.Lock()
		ok, ch := s.applied >= seq, s.appliedCh
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// appendLog writes one message to the log and applies it.
func (s *Service) appendLog(ctx context.Context, kind, subject string, h nats.Header, data []byte) (uint64, time.Time, error) {
	h.Set(hdrKind, kind)
	ack, err := s.cfg.Log.PublishMsg(ctx, &nats.Msg{Subject: subject, Header: h, Data: data}, jetstream.WithExpectStream(LogStream(s.cfg.Administration, s.cfg.Node)))
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("%w: assistance log: %w", node.ErrUnavailable, err)
	}
	m, err := s.stream.GetMsg(ctx, ack.Sequence)
	at := time.Now()
	if err == nil {
		at = m.Time
	}
	if err := s.applyLogged(subject, h, data, ack.Sequence, at); err != nil {
		return 0, time.Time{}, err
	}
	s.setApplied(ack.Sequence)
	return ack.Sequence, at, nil
}

// Run receives transitions addressed to this administration and re-publishes own
// transitions missing from the outbound stream, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() { defer close(done); s.republishLoop(ctx) }()
	defer func() { <-done }()
	name := "assist_" + s.cfg.Administration + "_" + strings.NewReplacer("-", "_", ".", "_").Replace(s.cfg.Node)
	var cons jetstream.Consumer
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		var err error
		cons, err = s.cfg.In.CreateOrUpdateConsumer(ctx, s.cfg.InStream, jetstream.ConsumerConfig{
			Durable:       name,
			Description:   "cix mutual assistance: transitions to " + s.cfg.Administration,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       60 * time.Second,
			MaxAckPending: 1, // in order: a transition is checked against the ones before it
			FilterSubject: federation.OutSubjectPrefix + "*.to." + s.cfg.Administration + "." + Kind + ".*",
		})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("assistance consumer", "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
	for ctx.Err() == nil {
		m, err := next(ctx, cons, 5*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
				s.log.Warn("assistance consumer", "error", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		if err := s.receive(ctx, m); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Error("assistance transition not stored; retrying", "subject", m.Subject(), "error", err)
			_ = m.NakWithDelay(time.Second)
			continue
		}
		if err := m.Ack(); err != nil && ctx.Err() == nil {
			s.log.Warn("assistance consumer: ack", "error", err)
		}
	}
	return nil
}

// receive verifies one received message and logs it, or quarantines it. An error means
// it must be retried.
func (s *Service) receive(ctx context.Context, m jetstream.Msg) error {
	storedAt := time.Now()
	var seq uint64
	if md, err := m.Metadata(); err == nil {
		storedAt, seq = md.Timestamp, md.Sequence.Stream
	}
	raw := m.Data()
	o, err := Verify(s.cfg.Verifier, s.cfg.AgeIdentity, s.cfg.Administration, m.Subject(), raw, storedAt)
	if err != nil {
		return s.quarantine(ctx, err, m.Subject(), raw, seq)
	}
	s.act.Lock()
	defer s.act.Unlock()
	sha := Digest(raw)
	t := o.T
	s.mu.Lock()
	r := s.reqs[t.GetRequestId()]
	var prev *Entry
	var dup bool
	var perr error
	if r != nil {
		_, dup = r.bySHA[sha]
	}
	switch {
	case dup:
	case t.GetAction() == pb.Action_ACTION_SUBMIT:
		if t.GetPrevSha256() != "" {
			perr = envelope.Refuse(envelope.ReasonChainBroken, "SUBMIT names a previous transition", nil)
		} else if r != nil {
			perr = envelope.Refuse(envelope.ReasonChainBroken, "SUBMIT of a request id this node already holds", nil)
		}
	case r == nil:
		perr = envelope.Refuse(envelope.ReasonChainBroken, fmt.Sprintf("%s of request %s, which this node does not hold", ActionName(t.GetAction()), clip(t.GetRequestId())), nil)
	case t.GetRequestingAdministration() != r.requesting || t.GetRequestedAdministration() != r.requested:
		perr = envelope.Refuse(envelope.ReasonInvalidContent, fmt.Sprintf("the transition names %s requesting from %s; request %s is %s requesting from %s",
			clip(t.GetRequestingAdministration()), clip(t.GetRequestedAdministration()), r.id, r.requesting, r.requested), nil)
	default:
		if prev = r.bySHA[t.GetPrevSha256()]; prev == nil {
			perr = envelope.Refuse(envelope.ReasonChainBroken, fmt.Sprintf("previous transition %s is not one of request %s", clip(t.GetPrevSha256()), r.id), nil)
		}
	}
	s.mu.Unlock()
	if dup {
		return nil
	}
	if perr == nil {
		from := sDraft
		if prev != nil {
			from = Next(prev.T.GetAction())
			if t.GetIssuedAt().AsTime().Before(prev.T.GetIssuedAt().AsTime()) {
				perr = envelope.Refuse(envelope.ReasonInvalidContent, "issued_at is before the previous transition's", nil)
			}
		}
		if perr == nil {
			if err := Check(t.GetAction(), from, SideOf(t, o.Signer.Administration)); err != nil {
				perr = envelope.Refuse(envelope.ReasonIllegalTransition, err.Error(), nil)
			}
		}
	}
	if perr != nil {
		return s.quarantine(ctx, perr, m.Subject(), raw, seq)
	}
	h := nats.Header{}
	h.Set(hdrRequest, t.GetRequestId())
	h.Set(hdrSubject, m.Subject())
	h.Set(hdrSignerA, o.Signer.Administration)
	h.Set(hdrSignerN, o.Signer.Node)
	h.Set(hdrKeyID, o.Signer.KeyID)
	if _, _, err := s.appendLog(ctx, "tx", s.prefix+"tx."+t.GetRequestId()+"."+t.GetMsgId(), h, raw); err != nil {
		return err
	}
	s.log.Info("assistance transition received", "request", t.GetRequestId(), "action", ActionName(t.GetAction()), "from", o.Signer.Administration)
	if t.GetAction() == pb.Action_ACTION_SUBMIT {
		// Delivered: the requested node verified and stored the request.
		if _, err := s.deliver(ctx, t.GetRequestId(), sha); err != nil {
			s.log.Warn("automatic DELIVER failed; the republish loop retries it", "request", t.GetRequestId(), "error", err)
		}
	}
	return nil
}

func (s *Service) quarantine(ctx context.Context, err error, subject string, raw []byte, seq uint64) error {
	reason, detail := envelope.ReasonInvalidContent, err.Error()
	var refusal *envelope.Error
	if errors.As(err, &refusal) {
		reason, detail = refusal.Reason, refusal.Message()
	}
	s.log.Warn("assistance transition quarantined", "reason", reason.String(), "subject", subject, "detail", detail)
	return s.cfg.Quarantine(ctx, []feed.Quarantined{{Reason: reason.String(), Detail: detail, Subject: subject, Raw: raw, SourceSeq: seq}})
}

// republishLoop publishes own logged transitions not yet confirmed in the outbound
// stream (store-and-forward), at start and then periodically.
func (s *Service) republishLoop(ctx context.Context) {
	for {
		s.deliverPending(ctx)
		s.mu.Lock()
		pending := make([]*Entry, 0, len(s.unpublished))
		for _, e := range s.unpublished {
			pending = append(pending, e)
		}
		s.mu.Unlock()
		slices.SortFunc(pending, func(a, b *Entry) int { return cmp.Compare(a.Seq, b.Seq) })
		for _, e := range pending {
			if ctx.Err() != nil {
				return
			}
			if err := s.publish(ctx, e); err != nil {
				s.log.Warn("assistance transition not yet published; retrying", "msg_id", e.T.GetMsgId(), "error", err)
				break // keep the order
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.RepublishEvery):
		}
	}
}

// deliverPending sends DELIVER for every request addressed to this administration
// whose canonical state is still SUBMITTED: the automatic DELIVER failed, or the node
// stopped between storing the SUBMIT and sending it.
func (s *Service) deliverPending(ctx context.Context) {
	type pending struct{ id, sha string }
	var ps []pending
	s.mu.Lock()
	for id, r := range s.reqs {
		if r.requested != s.cfg.Administration {
			continue
		}
		if c := BuildChain(r.entries); c.State() == sSubmitted {
			ps = append(ps, pending{id, c.Head().SHA256})
		}
	}
	s.mu.Unlock()
	for _, p := range ps {
		s.act.Lock()
		_, err := s.deliver(ctx, p.id, p.sha)
		s.act.Unlock()
		if err != nil {
			s.log.Warn("DELIVER not sent; retrying", "request", p.id, "error", err)
		}
	}
}

// deliver sends DELIVER for the SUBMIT sha of request id. Caller holds act.
func (s *Service) deliver(ctx context.Context, id, sha string) (*pb.Request, error) {
	req, _, _, err := s.transition(ctx, id, "deliver."+sha, pb.Action_ACTION_DELIVER, func(nt *pb.Transition) error {
		nt.Content = &pb.Transition_Delivery{Delivery: &pb.Delivery{SubmitSha256: sha}}
		return nil
	}, true)
	var ie *IllegalError
	if errors.As(err, &ie) { // a WITHDRAW won: nothing to deliver
		return req, nil
	}
	return req, err
}

// publish stores an own transition in the outbound stream (idempotent by subject),
// sends its attachments, and records that it is out.
func (s *Service) publish(ctx context.Context, e *Entry) error {
	s.mu.Lock()
	_, pending := s.unpublished[e.T.GetMsgId()]
	s.mu.Unlock()
	if !pending {
		return nil
	}
	if _, err := s.cfg.Out.Publish(ctx, e.Subject, e.T.GetMsgId(), e.Envelope); err != nil {
		return err
	}
	if refs := Refs(e.T); len(refs) > 0 && s.cfg.Attachments != nil {
		counterpart := e.T.GetRequestedAdministration()
		if counterpart == s.cfg.Administration {
			counterpart = e.T.GetRequestingAdministration()
		}
		for _, r := range refs {
			ref, err := RefOf(r)
			if err != nil {
				continue
			}
			if err := s.cfg.Attachments.Send(ctx, counterpart, ref); err != nil {
				return fmt.Errorf("send attachment %s: %w", r.GetSha256(), err)
			}
		}
	}
	h := nats.Header{}
	h.Set(hdrMsgID, e.T.GetMsgId())
	_, _, err := s.appendLog(ctx, "pub", s.prefix+"pub."+e.T.GetMsgId(), h, nil)
	return err
}

// Result is the outcome of a call that sends a transition.
type Result struct {
	Request  *pb.Request
	Entry    *pb.HistoryEntry
	Replayed bool
}

func invalid(field, format string, args ...any) error {
	return &alert.ValidationError{Subject: "request", Violations: []alert.FieldViolation{{Field: field, Description: fmt.Sprintf(format, args...)}}}
}

func failed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", node.ErrFailedPrecondition, fmt.Sprintf(format, args...))
}

func checkIDs(requestID, clientID string) error {
	var v violations
	if requestID == "" {
		v.add("request_id", "required")
	} else if !alert.ValidUUID(requestID) {
		v.add("request_id", "%q is not a request id (UUID)", clip(requestID))
	}
	checkClientID(&v, clientID)
	return v.err("request")
}

func checkClientID(v *violations, clientID string) {
	switch {
	case clientID == "":
		v.add("client_id", "required")
	case len(clientID) > 128:
		v.add("client_id", "at most 128 bytes")
	case strings.HasPrefix(clientID, "deliver."):
		v.add("client_id", "the prefix deliver. is the node's own")
	}
}

// Act takes action a on request requestID for this node's contact point; fill sets the
// action's content. A retry with the same client_id returns the first result.
func (s *Service) Act(ctx context.Context, requestID, clientID string, a pb.Action, fill func(*pb.Transition) error) (Result, error) {
	if err := checkIDs(requestID, clientID); err != nil {
		return Result{}, err
	}
	if a == pb.Action_ACTION_DELIVER {
		return Result{}, failed("DELIVER is sent by the node itself")
	}
	s.act.Lock()
	defer s.act.Unlock()
	req, e, replayed, err := s.transition(ctx, requestID, clientID, a, fill, false)
	return Result{Request: req, Entry: e, Replayed: replayed}, err
}

// transition signs, logs and publishes one own transition. Caller holds act.
func (s *Service) transition(ctx context.Context, requestID, clientID string, a pb.Action, fill func(*pb.Transition) error, auto bool) (*pb.Request, *pb.HistoryEntry, bool, error) {
	self := s.cfg.Administration
	s.mu.Lock()
	if u, ok := s.clients[clientID]; ok {
		s.mu.Unlock()
		if u.action != a || u.requestID != requestID {
			return nil, nil, false, failed("client_id %q was already used for %s of request %s", clip(clientID), actionOrCreate(u.action), u.requestID)
		}
		req, e := s.view(requestID, u.sha)
		return req, e, true, nil
	}
	r := s.reqs[requestID]
	if r == nil {
		s.mu.Unlock()
		return nil, nil, false, fmt.Errorf("%w: request %s", node.ErrNotFound, requestID)
	}
	chain := BuildChain(r.entries)
	state := chain.State()
	side := Requested
	if r.requesting == self {
		side = Requesting
	}
	head := chain.Head()
	draft := r.draft
	requesting, requested := r.requesting, r.requested
	s.mu.Unlock()
	if err := Check(a, state, side); err != nil {
		return nil, nil, false, err
	}
	t := &pb.Transition{RequestId: requestID, MsgId: MsgID(self, clientID), ClientId: clientID, Action: a, ActorAdministration: self,
		ActorNode: s.cfg.Node, IssuedAt: timestamppb.New(time.Now()), RequestingAdministration: requesting, RequestedAdministration: requested}
	if head != nil {
		t.PrevSha256 = head.SHA256
		if t.GetIssuedAt().AsTime().Before(head.T.GetIssuedAt().AsTime()) { // the other side's clock is ahead
			t.IssuedAt = head.T.GetIssuedAt()
		}
	}
	switch a {
	case pb.Action_ACTION_SUBMIT:
		t.Content = &pb.Transition_Request{Request: draft}
	case pb.Action_ACTION_ACKNOWLEDGE:
		c := chainContent(chain)
		d, entry := s.cfg.Policy.Deadline(c.GetLegalBasis(), c.GetUrgency())
		t.Content = &pb.Transition_Acknowledgement{Acknowledgement: &pb.Acknowledgement{
			Deadline: timestamppb.New(t.GetIssuedAt().AsTime().Add(d)), PolicyEntry: entry}}
	}
	if fill != nil {
		if err := fill(t); err != nil {
			return nil, nil, false, err
		}
	}
	if err := ValidateTransition(t, self); err != nil {
		return nil, nil, false, err
	}
	if a == pb.Action_ACTION_SUBMIT || a == pb.Action_ACTION_AMEND {
		if m := s.cfg.Manifest(); m.Member(requested) == nil {
			return nil, nil, false, invalid("content.requested_administration", "%s is not a member of federation %s", requested, m.Federation)
		}
	}
	if err := s.checkRefs(ctx, t); err != nil {
		return nil, nil, false, err
	}
	counterpart := requested
	if side == Requested {
		counterpart = requesting
	}
	recips, err := Recipients(s.cfg.Manifest(), counterpart, self)
	if err != nil {
		return nil, nil, false, failed("%v", err)
	}
	st, err := Seal(t, self, counterpart, recips...)
	if err != nil {
		return nil, nil, false, err
	}
	data, p, err := s.cfg.Signer.Sign(ctx, PayloadType, st)
	if err != nil {
		return nil, nil, false, err
	}
	if len(data) > envelope.MaxEnvelopeSize {
		return nil, nil, false, invalid("request", "signed, the transition is %d bytes, more than the %d an envelope may have", len(data), envelope.MaxEnvelopeSize)
	}
	h := nats.Header{}
	h.Set(hdrRequest, requestID)
	h.Set(hdrSubject, Subject(self, counterpart, t.GetMsgId()))
	h.Set(hdrSignerA, p.Administration)
	h.Set(hdrSignerN, p.Node)
	h.Set(hdrKeyID, p.KeyID)
	h.Set(hdrOwn, "1")
	if _, _, err := s.appendLog(ctx, "tx", s.prefix+"tx."+requestID+"."+t.GetMsgId(), h, data); err != nil {
		return nil, nil, false, err
	}
	sha := Digest(data)
	s.log.Info("assistance transition sent", "request", requestID, "action", ActionName(a), "to", counterpart, "auto", auto)
	s.mu.Lock()
	e := s.reqs[requestID].bySHA[sha]
	s.mu.Unlock()
	if err := s.publish(ctx, e); err != nil { // the republish loop retries
		s.log.Warn("assistance transition logged, not yet published", "request", requestID, "error", err)
	}
	s.mu.Lock()
	req, he := s.view(requestID, sha)
	s.mu.Unlock()
	return req, he, false, nil
}

func actionOrCreate(a pb.Action) string {
	if a == pb.Action_ACTION_UNSPECIFIED {
		return "CreateRequest"
	}
	return ActionName(a)
}

func chainContent(c *Chain) *pb.RequestContent {
	var out *pb.RequestContent
	for _, e := range c.Canonical {
		if r := e.T.GetRequest(); r != nil {
			out = r
		}
	}
	return out
}

// refPaths lists the attachment references of t with their field paths in the API
// request that carries them.
func refPaths(t *pb.Transition) ([]*pb.AttachmentRef, []string) {
	var refs []*pb.AttachmentRef
	var paths []string
	for i, r := range t.GetRequest().GetAttachments() {
		refs, paths = append(refs, r), append(paths, fmt.Sprintf("content.attachments[%d]", i))
	}
	for i, it := range t.GetReply().GetItems() {
		for j, r := range it.GetAttachments() {
			refs, paths = append(refs, r), append(paths, fmt.Sprintf("reply.items[%d].attachments[%d]", i, j))
		}
	}
	return refs, paths
}

// checkRefs refuses references to attachments the store does not hold.
func (s *Service) checkRefs(ctx context.Context, t *pb.Transition) error {
	refs, paths := refPaths(t)
	if len(refs) == 0 {
		return nil
	}
	if s.cfg.Attachments == nil {
		return fmt.Errorf("%w: %w", node.ErrFailedPrecondition, ErrNotConfigured)
	}
	var v violations
	for i, r := range refs {
		ref, err := RefOf(r)
		if err != nil {
			v.add(paths[i], "%v", err)
			continue
		}
		ok, err := s.cfg.Attachments.Held(ctx, ref)
		if err != nil {
			return fmt.Errorf("%w: attachment store: %w", node.ErrUnavailable, err)
		}
		if !ok {
			v.add(paths[i], "attachment %s (%s) is not in the store: upload it first", r.GetSha256(), clip(r.GetName()))
		}
	}
	return v.err("request")
}

// view renders request id, and the history entry sha when set. Caller holds mu.
func (s *Service) view(id, sha string) (*pb.Request, *pb.HistoryEntry) {
	r := s.reqs[id]
	if r == nil {
		return nil, nil
	}
	c := BuildChain(r.entries)
	req := s.render(r, c, false)
	if e := r.bySHA[sha]; e != nil {
		return req, HistoryEntry(c, e)
	}
	return req, nil
}

func (s *Service) render(r *request, c *Chain, history bool) *pb.Request {
	self := s.cfg.Administration
	sum := Summarise(c, r.draft, s.cfg.Policy.OralConfirmation, s.cfg.Now())
	out := &pb.Request{RequestId: r.id, RequestingAdministration: r.requesting, RequestedAdministration: r.requested,
		State: sum.State, Flags: sum.Flags, Content: sum.Content, CreatedAt: timestamppb.New(r.createdAt),
		UpdatedAt: timestamppb.New(r.updatedAt), Replies: sum.Replies, TransitionCount: uint32(len(c.Canonical))}
	if r.requesting == self {
		out.Direction, out.Counterpart = pb.Direction_DIRECTION_OUTGOING, r.requested
	} else {
		out.Direction, out.Counterpart = pb.Direction_DIRECTION_INCOMING, r.requesting
	}
	if !sum.Deadline.IsZero() {
		out.Deadline, out.EffectiveDeadline = timestamppb.New(sum.Deadline), timestamppb.New(sum.EffectiveDeadline)
	}
	if h := c.Head(); h != nil {
		out.LastAction, out.HeadSha256 = h.T.GetAction(), h.SHA256
	}
	for _, e := range c.Canonical {
		for _, ref := range Refs(e.T) {
			out.Attachments = append(out.Attachments, &pb.Attachment{Ref: ref, MsgId: e.T.GetMsgId()})
		}
	}
	if len(c.Canonical) == 0 && r.draft != nil {
		for _, ref := range r.draft.GetAttachments() {
			out.Attachments = append(out.Attachments, &pb.Attachment{Ref: ref})
		}
	}
	if history {
		out.History = History(c, r.entries)
	}
	return out
}

// markAvailable sets Attachment.available from the store (outside mu).
func (s *Service) markAvailable(ctx context.Context, req *pb.Request) {
	if s.cfg.Attachments == nil {
		return
	}
	for _, a := range req.GetAttachments() {
		ref, err := RefOf(a.GetRef())
		if err != nil {
			continue
		}
		ok, err := s.cfg.Attachments.Held(ctx, ref)
		a.Available = err == nil && ok
	}
}

// Create stores a new DRAFT.
func (s *Service) Create(ctx context.Context, clientID string, c *pb.RequestContent) (*pb.Request, bool, error) {
	var v violations
	checkClientID(&v, clientID)
	if err := v.err("request"); err != nil {
		return nil, false, err
	}
	if c == nil {
		c = &pb.RequestContent{}
	}
	if err := s.checkDraft(c); err != nil {
		return nil, false, err
	}
	s.act.Lock()
	defer s.act.Unlock()
	s.mu.Lock()
	if u, ok := s.clients[clientID]; ok {
		s.mu.Unlock()
		if u.action != pb.Action_ACTION_UNSPECIFIED {
			return nil, false, failed("client_id %q was already used for %s of request %s", clip(clientID), ActionName(u.action), u.requestID)
		}
		s.mu.Lock()
		req, _ := s.view(u.requestID, "")
		s.mu.Unlock()
		return req, true, nil
	}
	s.mu.Unlock()
	id := uuid.NewString()
	data, err := proto.Marshal(&pb.CreateRequestRequest{ClientId: clientID, Content: c})
	if err != nil {
		return nil, false, err
	}
	h := nats.Header{}
	h.Set(hdrRequest, id)
	h.Set(hdrClient, clientID)
	if _, _, err := s.appendLog(ctx, "draft", s.prefix+"draft."+id, h, data); err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	req, _ := s.view(id, "")
	return req, false, nil
}

// checkDraft checks what is set in a draft (mandatory fields are checked at submit).
func (s *Service) checkDraft(c *pb.RequestContent) error {
	var v violations
	if ra := c.GetRequestedAdministration(); ra != "" {
		if !codeRE.MatchString(ra) {
			v.add("content.requested_administration", "%q is not an ISO 3166-1 alpha-2 code", clip(ra))
		} else if ra == s.cfg.Administration {
			v.add("content.requested_administration", "a request goes to another administration than %s", ra)
		} else if m := s.cfg.Manifest(); m.Member(ra) == nil {
			v.add("content.requested_administration", "%s is not a member of federation %s", ra, m.Federation)
		}
	}
	if lb := c.GetLegalBasis(); lb != "" && !legalBaseRE.MatchString(lb) {
		v.add("content.legal_basis", "%q is not a legal basis id", clip(lb))
	}
	validateRefs(&v, c.GetAttachments(), "content.attachments")
	return v.err("request")
}

// UpdateDraft replaces a DRAFT's content.
func (s *Service) UpdateDraft(ctx context.Context, id string, c *pb.RequestContent) (*pb.Request, error) {
	if id == "" || !alert.ValidUUID(id) {
		return nil, invalid("request_id", "a request id (UUID) is required")
	}
	if c == nil {
		return nil, invalid("content", "required")
	}
	if err := s.checkDraft(c); err != nil {
		return nil, err
	}
	s.act.Lock()
	defer s.act.Unlock()
	s.mu.Lock()
	r := s.reqs[id]
	var clientID string
	var state pb.RequestState
	if r != nil {
		state = BuildChain(r.entries).State()
		for k, u := range s.clients {
			if u.requestID == id && u.action == pb.Action_ACTION_UNSPECIFIED {
				clientID = k
			}
		}
	}
	s.mu.Unlock()
	switch {
	case r == nil:
		return nil, fmt.Errorf("%w: request %s", node.ErrNotFound, id)
	case state != sDraft || r.requesting != s.cfg.Administration:
		return nil, failed("only a DRAFT can be updated; request %s is %s (send AMEND when asked for a correction)", id, StateName(state))
	}
	data, err := proto.Marshal(&pb.CreateRequestRequest{ClientId: clientID, Content: c})
	if err != nil {
		return nil, err
	}
	h := nats.Header{}
	h.Set(hdrRequest, id)
	if _, _, err := s.appendLog(ctx, "draft", s.prefix+"draft."+id, h, data); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	req, _ := s.view(id, "")
	return req, nil
}

// Get returns a request with its full history.
func (s *Service) Get(ctx context.Context, id string) (*pb.Request, error) {
	if id == "" {
		return nil, invalid("request_id", "required")
	}
	s.mu.Lock()
	r := s.reqs[id]
	var req *pb.Request
	if r != nil {
		req = s.render(r, BuildChain(r.entries), true)
	}
	s.mu.Unlock()
	if req == nil {
		return nil, fmt.Errorf("%w: request %s", node.ErrNotFound, clip(id))
	}
	s.markAvailable(ctx, req)
	return req, nil
}

// Filter selects requests for List.
type Filter struct {
	Direction   pb.Direction
	Counterpart string
	State       pb.RequestState
	OverdueOnly bool
}

// List lists requests, newest first (by creation), a page at a time.
func (s *Service) List(ctx context.Context, f Filter, pageSize uint32, pageToken string) ([]*pb.Request, string, error) {
	if pageSize == 0 {
		pageSize = 100
	}
	pageSize = min(pageSize, 1000)
	var after uint64
	if pageToken != "" {
		v, err := strconv.ParseUint(pageToken, 10, 64)
		if err != nil {
			return nil, "", invalid("page_token", "not a page token of this listing")
		}
		after = v
	}
	s.mu.Lock()
	rs := make([]*request, 0, len(s.reqs))
	for _, r := range s.reqs {
		if after == 0 || r.firstSeq < after {
			rs = append(rs, r)
		}
	}
	slices.SortFunc(rs, func(a, b *request) int { return cmp.Compare(b.firstSeq, a.firstSeq) })
	var out []*pb.Request
	next := ""
	for _, r := range rs {
		req := s.render(r, BuildChain(r.entries), false)
		if f.Direction != pb.Direction_DIRECTION_UNSPECIFIED && req.Direction != f.Direction ||
			f.Counterpart != "" && req.Counterpart != f.Counterpart ||
			f.State != pb.RequestState_REQUEST_STATE_UNSPECIFIED && req.State != f.State ||
			f.OverdueOnly && !slices.Contains(req.Flags, pb.Flag_FLAG_OVERDUE) {
			continue
		}
		if uint32(len(out)) == pageSize {
			next = strconv.FormatUint(s.reqs[out[len(out)-1].RequestId].firstSeq, 10)
			break
		}
		out = append(out, req)
	}
	s.mu.Unlock()
	for _, r := range out {
		s.markAvailable(ctx, r)
	}
	return out, next, nil
}

// Export returns the stored envelopes of a request in log order.
func (s *Service) Export(ctx context.Context, id string) ([]*pb.ExportedEnvelope, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reqs[id]
	if r == nil {
		return nil, fmt.Errorf("%w: request %s", node.ErrNotFound, clip(id))
	}
	c := BuildChain(r.entries)
	es := slices.Clone(r.entries)
	slices.SortFunc(es, func(a, b *Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	out := make([]*pb.ExportedEnvelope, 0, len(es))
	for _, e := range es {
		out = append(out, &pb.ExportedEnvelope{MsgId: e.T.GetMsgId(), Sha256: e.SHA256, PrevSha256: e.T.GetPrevSha256(),
			SupersededBy: c.SupersededBy[e.SHA256], Envelope: e.Envelope, Subject: e.Subject})
	}
	return out, nil
}

// counterpartOf is the other administration of request id.
func (s *Service) counterpartOf(id string) (string, *request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reqs[id]
	if r == nil {
		return "", nil, fmt.Errorf("%w: request %s", node.ErrNotFound, clip(id))
	}
	if r.requesting == s.cfg.Administration {
		if r.requested == "" {
			return "", nil, invalid("request_id", "the draft has no requested_administration yet: set it before uploading")
		}
		return r.requested, r, nil
	}
	return r.requesting, r, nil
}

// Upload stores an attachment for request id, encrypted to its counterpart.
func (s *Service) Upload(ctx context.Context, id, name, mediaType string, body io.Reader) (*pb.AttachmentRef, error) {
	if s.cfg.Attachments == nil {
		return nil, fmt.Errorf("%w: %w", node.ErrFailedPrecondition, ErrNotConfigured)
	}
	if name == "" {
		return nil, invalid("header.name", "required")
	}
	cp, _, err := s.counterpartOf(id)
	if err != nil {
		return nil, err
	}
	ref, err := s.cfg.Attachments.Put(ctx, cp, name, mediaType, body)
	switch {
	case errors.Is(err, attach.ErrTooLarge):
		return nil, invalid("chunk", "%v", err)
	case errors.Is(err, attach.ErrInvalid):
		// "invalid attachment: FIELD: detail", FIELD one of name, media_type, counterpart.
		msg := strings.TrimPrefix(err.Error(), attach.ErrInvalid.Error()+": ")
		field, detail, _ := strings.Cut(msg, ": ")
		switch field {
		case "name", "media_type":
			return nil, invalid("header."+field, "%s", detail)
		}
		return nil, invalid("header.request_id", "%s", msg)
	case err != nil:
		return nil, err
	}
	return APIRef(ref), nil
}

// OpenAttachment opens an attachment referenced by a transition of request id.
func (s *Service) OpenAttachment(ctx context.Context, id, sha string) (*pb.AttachmentRef, io.ReadCloser, error) {
	if s.cfg.Attachments == nil {
		return nil, nil, fmt.Errorf("%w: %w", node.ErrFailedPrecondition, ErrNotConfigured)
	}
	s.mu.Lock()
	r := s.reqs[id]
	var found *pb.AttachmentRef
	if r != nil {
		req := s.render(r, BuildChain(r.entries), false)
		for _, a := range req.GetAttachments() {
			if a.GetRef().GetSha256() == sha {
				found = a.GetRef()
			}
		}
	}
	s.mu.Unlock()
	if r == nil {
		return nil, nil, fmt.Errorf("%w: request %s", node.ErrNotFound, clip(id))
	}
	if found == nil {
		return nil, nil, fmt.Errorf("%w: request %s references no attachment %s", node.ErrNotFound, id, clip(sha))
	}
	ref, err := RefOf(found)
	if err != nil {
		return nil, nil, err
	}
	ok, err := s.cfg.Attachments.Held(ctx, ref)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", node.ErrUnavailable, err)
	}
	if !ok {
		return nil, nil, fmt.Errorf("%w: attachment %s has not arrived yet", node.ErrUnavailable, sha)
	}
	rc, err := s.cfg.Attachments.Open(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	return found, rc, nil
}

// Watch sends every change after cursor (all without one), then caught_up, then live
// changes, until ctx ends or send fails.
func (s *Service) Watch(ctx context.Context, cursor, requestID string, send func(*pb.WatchRequestsResponse) error) error {
	var after uint64
	if cursor != "" {
		v, err := strconv.ParseUint(cursor, 10, 64)
		if err != nil {
			return invalid("cursor", "not a cursor of WatchRequests")
		}
		after = v
	}
	info, err := s.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", node.ErrUnavailable, err)
	}
	last := info.State.LastSeq
	if after > last {
		return fmt.Errorf("%w: cursor %d is beyond the log's end (%d)", node.ErrOutOfRange, after, last)
	}
	caught := false
	if after >= last {
		if err := send(&pb.WatchRequestsResponse{Event: &pb.WatchRequestsResponse_CaughtUp{CaughtUp: &pb.WatchCaughtUp{Cursor: strconv.FormatUint(last, 10)}}}); err != nil {
			return err
		}
		caught = true
	}
	oc, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: after + 1})
	if err != nil {
		return fmt.Errorf("%w: %w", node.ErrUnavailable, err)
	}
	for ctx.Err() == nil {
		m, err := next(ctx, oc, 5*time.Second)
		if err != nil {
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) || ctx.Err() != nil {
				continue
			}
			return fmt.Errorf("%w: %w", node.ErrUnavailable, err)
		}
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		seq := md.Sequence.Stream
		if err := s.waitApplied(ctx, seq); err != nil {
			return nil
		}
		cur := strconv.FormatUint(seq, 10)
		kind := m.Headers().Get(hdrKind)
		id := m.Headers().Get(hdrRequest)
		if (kind == "draft" || kind == "tx") && (requestID == "" || id == requestID) {
			var evs []*pb.WatchRequestsResponse
			s.mu.Lock()
			if r := s.reqs[id]; r != nil {
				c := BuildChain(r.entries)
				ch := &pb.RequestChanged{Request: s.render(r, c, false), Cursor: cur}
				if kind == "tx" {
					if e := r.bySHA[Digest(m.Data())]; e != nil {
						ch.Entry = HistoryEntry(c, e)
						for _, f := range c.Forks {
							// Once per fork: on the transition that completed it.
							w, l := r.bySHA[f[0]], r.bySHA[f[1]]
							if (w == e || l == e) && e.Seq == max(w.Seq, l.Seq) {
								evs = append(evs, &pb.WatchRequestsResponse{Event: &pb.WatchRequestsResponse_Conflict{Conflict: &pb.RequestConflict{
									RequestId: id, WinnerSha256: f[0], SupersededSha256: f[1], Cursor: cur}}})
							}
						}
					}
				}
				evs = append([]*pb.WatchRequestsResponse{{Event: &pb.WatchRequestsResponse_Changed{Changed: ch}}}, evs...)
			}
			s.mu.Unlock()
			for _, ev := range evs {
				if err := send(ev); err != nil {
					return err
				}
			}
		}
		if !caught && seq >= last {
			caught = true
			if err := send(&pb.WatchRequestsResponse{Event: &pb.WatchRequestsResponse_CaughtUp{CaughtUp: &pb.WatchCaughtUp{Cursor: cur}}}); err != nil {
				return err
			}
		}
	}
	return nil
}

// next waits up to wait for the next message of c. Unlike FetchMaxWait, the fetch's
// context also ends the wait as soon as ctx ends, so that stopping the node never waits on
// a fetch (one was seen blocked for minutes in Next with FetchMaxWait while its node
// stopped). A wait that ends without a message is nats.ErrTimeout, as with FetchMaxWait.
func next(ctx context.Context, c interface {
	Next(...jetstream.FetchOpt) (jetstream.Msg, error)
}, wait time.Duration) (jetstream.Msg, error) {
	fctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	m, err := c.Next(jetstream.FetchContext(fctx))
	// A wait that ended, or that was over before the fetch was sent (nats.go then
	// refuses the fetch as an invalid option: seen on a loaded machine), is a timeout.
	if err != nil && ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || fctx.Err() != nil) {
		return nil, nats.ErrTimeout
	}
	return m, err
}
