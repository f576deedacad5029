package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"
	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/feed"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"github.com/cix-exchange/cix/internal/revocation"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Options assemble a node.
type Options struct {
	Identity trust.Identity
	Verifier *trust.Verifier
	Bus      *bus.Bus
	Feed     *feed.Feed
	// Revocations publishes and lists revocation notices; the daemon starts it before
	// the node receives alerts. Optional.
	Revocations *revocation.Service
	Logger      *slog.Logger
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// VerifyWorkers verifying received batches in parallel; GOMAXPROCS by default.
	VerifyWorkers int
	// IngestBatch is the most messages verified and stored together; 1024 by default.
	IngestBatch int
	// Federation is the federation manifest when the bus is on the federation layout
	// (bus.Config.Federation): alerts are then published once per scope of their audience,
	// whose groups and administrations must exist in it. Nil: the single shared stream,
	// where only all-members alerts can be published.
	Federation *federation.Manifest
	// AgeIdentity is the administration's age X25519 identity, whose recipient the
	// manifest publishes: alerts to some members only are sealed to their recipients and
	// read with it. Required to send or read them on the federation layout.
	AgeIdentity *age.X25519Identity
	// NATSCredentials, when set, reports the NATS credentials renewed from a service
	// that can fail (Vault): trust.StateOK or trust.StateDegraded, why if degraded, and
	// the version in use. NodeInfo includes it.
	NATSCredentials func() (state, detail string, version int)
	// Metrics receives the node's counts; nil counts nothing.
	Metrics Metrics
}

// Node is one administration's cix node.
type Node struct {
	id          trust.Identity
	ver         *trust.Verifier
	bus         *bus.Bus
	feed        *feed.Feed
	revocations *revocation.Service
	fed         atomic.Pointer[federation.Manifest] // nil: the shared stream
	ageID       *age.X25519Identity                 // reads alerts sealed to this administration; nil without one
	log         *slog.Logger
	now         func() time.Time
	workers     int
	batch       int
	own         *ownSet
	behind      atomic.Bool // the receiver's last batch was full: more alerts are waiting
	notices     *noticeIndex
	acks        *ackQueue

	keyMu  sync.Mutex // guards the cached check of the own key
	keyOK  *trust.SigningKey
	keyGen uint64
	creds  func() (state, detail string, version int)

	metrics Metrics
}

// New assembles a node. Call Run to start receiving.
func New(o Options) (*Node, error) {
	if o.Identity == nil || o.Verifier == nil || o.Bus == nil || o.Feed == nil {
		return nil, errors.New("new node: identity, verifier, bus and feed are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.IngestBatch <= 0 {
		o.IngestBatch = 1024
	}
	if o.Metrics == nil {
		o.Metrics = noMetrics{}
	}
	n := &Node{
		id: o.Identity, ver: o.Verifier, bus: o.Bus, feed: o.Feed, revocations: o.Revocations, log: o.Logger, now: o.Now, ageID: o.AgeIdentity,
		workers: o.VerifyWorkers, batch: o.IngestBatch, own: newOwnSet(), creds: o.NATSCredentials,
		notices: newNoticeIndex(), acks: newAckQueue(), metrics: o.Metrics,
	}
	n.fed.Store(o.Federation)
	return n, nil
}

// recipient is what reading sealed alerts takes, with the manifest in force; nil on the
// shared stream.
func (n *Node) recipient() *Recipient {
	fed := n.fed.Load()
	if fed == nil {
		return nil
	}
	return &Recipient{Administration: n.id.Administration(), Identity: n.ageID, Federation: fed}
}

// SetFederation replaces the manifest the node checks audiences against (a newer member
// directory). Only on the federation layout.
func (n *Node) SetFederation(m *federation.Manifest) {
	if m != nil && n.fed.Load() != nil {
		n.fed.Store(m)
	}
}

// Administration is the node's administration.
func (n *Node) Administration() string { return n.id.Administration() }

// Name is the node's name.
func (n *Node) Name() string { return n.id.Node() }

// PublishResult is the outcome of publishing one alert.
type PublishResult struct {
	ID        string
	Sequence  uint64
	Duplicate bool
}

// Sealed is an alert signed and ready for the stream (from Prepare).
type Sealed struct {
	id         string
	subjects   []string // one per scope of the audience
	supersedes string
	audience   *alertv1.Audience
	data       []byte
	signer     *trust.Principal
	own        [][32]byte
	// held: the node's feed holds an alert of this administration with this id already
	// (heldInFeed); nothing is published.
	held bool
}

// ID is the alert's id.
func (s *Sealed) ID() string { return s.id }

// Prepare completes, validates, serialises and signs an alert, without storing it. It
// modifies a. It is safe to call from several goroutines; publish the results with
// PublishSealed in the order alerts must be stored.
func (n *Node) Prepare(ctx context.Context, a *alertv1.Alert) (*Sealed, error) {
	if a == nil {
		return nil, invalid("alert", "required")
	}
	generated := a.GetId() == ""
	if generated {
		a.Id = uuid.NewString()
	}
	alert.Normalize(a)
	admin := n.id.Administration()
	if a.Origin == nil {
		a.Origin = &alertv1.Origin{}
	}
	switch a.Origin.Administration {
	case "":
		a.Origin.Administration = admin
	case admin:
	default:
		return nil, fmt.Errorf("%w: alert.origin.administration: this node publishes for %s, not %s",
			ErrPermission, admin, a.Origin.Administration)
	}
	a.Origin.Node = n.id.Node()
	if a.IssuedAt == nil {
		a.IssuedAt = timestamppb.New(n.now())
	}
	if err := alert.Validate(a); err != nil {
		return nil, err
	}
	subjects, err := n.alertSubjects(a)
	if err != nil {
		return nil, err
	}
	if !generated {
		held, err := n.heldInFeed(ctx, a.Id)
		if err != nil {
			return nil, err
		}
		if held {
			return &Sealed{id: a.Id, held: true}, nil
		}
	}
	if err := n.checkHandling(ctx, a); err != nil {
		return nil, err
	}
	var data []byte
	var p *trust.Principal
	if n.fed.Load() != nil && !alert.AllMembers(a.GetAudience()) {
		data, p, err = n.sealAlert(ctx, a)
	} else {
		data, p, err = n.sign(ctx, envelope.PayloadTypeAlert, a)
	}
	if err != nil {
		return nil, err
	}
	if len(data) > envelope.MaxEnvelopeSize { // the stream and every receiver would refuse it
		return nil, &alert.ValidationError{Subject: "alert", Violations: []alert.FieldViolation{{Field: "alert",
			Description: fmt.Sprintf("signed, the alert is %d bytes, more than the %d an envelope may have", len(data), envelope.MaxEnvelopeSize)}}}
	}
	return &Sealed{id: a.Id, subjects: subjects, supersedes: a.Supersedes, audience: a.GetAudience(), data: data, signer: p}, nil
}

// heldInFeed reports whether the feed holds an alert of this node's administration with
// id: a repeat of a publish. On the federation layout the outbound stream refuses a
// repeat by its message id only within the duplicate window (its alerts share a subject,
// federation.AlertToken); this refuses it later, once the node has received its own
// alert. A repeat in between (received not yet, window over) is stored again and every
// receiver's feed drops it.
func (n *Node) heldInFeed(ctx context.Context, id string) (bool, error) {
	if !n.bus.Federated() {
		return false, nil // the shared stream refuses a repeat by its subject
	}
	e, err := n.feed.Get(ctx, id)
	if errors.Is(err, feed.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: look up alert %s in the feed: %w", ErrUnavailable, id, err)
	}
	return e.Signer.Administration == n.id.Administration(), nil
}

// alertSubjects maps a valid alert's audience to the subjects it is published on: on
// the shared stream its one alert subject (all members only), on the federation layout
// one outbound subject per scope, after checking every group and administration against
// the manifest.
func (n *Node) alertSubjects(a *alertv1.Alert) ([]string, error) {
	admin, kind := n.id.Administration(), alert.KindName(alert.Kind(a))
	au := a.GetAudience()
	fed := n.fed.Load()
	if fed == nil {
		if !alert.AllMembers(au) {
			return nil, &alert.ValidationError{Subject: "alert " + a.Id, Violations: []alert.FieldViolation{{Field: "alert.audience",
				Description: "this node has no federation manifest: only all members can be addressed"}}}
		}
		return []string{bus.AlertSubject(admin, kind, a.Id)}, nil
	}
	if alert.AllMembers(au) {
		return []string{federation.OutboundAlertSubject(admin, federation.AllMembers(), kind)}, nil
	}
	var out []string
	var vs []alert.FieldViolation
	for i, g := range au.GetGroups() {
		s := federation.ToGroup(g)
		if fed.Group(g) == nil {
			vs = append(vs, alert.FieldViolation{Field: fmt.Sprintf("alert.audience.groups[%d]", i), Description: fmt.Sprintf("%q is not a group of federation %s", g, fed.Federation)})
		} else if fed.Audience(admin, s) == nil {
			vs = append(vs, alert.FieldViolation{Field: fmt.Sprintf("alert.audience.groups[%d]", i), Description: fmt.Sprintf("%s is not a member of group %s", admin, g)})
		}
		out = append(out, federation.OutboundAlertSubject(admin, s, kind))
	}
	for i, c := range au.GetAdministrations() {
		if fed.Member(c) == nil {
			vs = append(vs, alert.FieldViolation{Field: fmt.Sprintf("alert.audience.administrations[%d]", i), Description: fmt.Sprintf("%s is not a member of federation %s", c, fed.Federation)})
		}
		out = append(out, federation.OutboundAlertSubject(admin, federation.ToMember(c), kind))
	}
	if len(vs) > 0 {
		return nil, &alert.ValidationError{Subject: "alert " + a.Id, Violations: vs}
	}
	return out, nil
}

// sign serialises m once and seals it as payloadType with the node's current key,
// unless revocation notices revoked that key. It returns the envelope for the wire and
// the signer.
func (n *Node) sign(ctx context.Context, payloadType string, m proto.Message) ([]byte, *trust.Principal, error) {
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal %s: %w", payloadType, err)
	}
	key, err := n.id.Current(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNoSigningKey, err)
	}
	if err := n.checkOwnKey(key); err != nil {
		return nil, nil, err
	}
	env, err := envelope.Seal(payloadType, payload, key)
	if err != nil {
		return nil, nil, err
	}
	data, err := envelope.Marshal(env)
	if err != nil {
		return nil, nil, err
	}
	p := key.Principal()
	return data, &p, nil
}

// Sign serialises m deterministically and signs it as payloadType with the node's
// current key, refusing a key revocation notices revoked. It returns the envelope and
// the signer. Other services of the node (mutual assistance) sign through it.
func (n *Node) Sign(ctx context.Context, payloadType string, m proto.Message) ([]byte, *trust.Principal, error) {
	return n.sign(ctx, payloadType, m)
}

// Federation is the federation manifest in force; nil on the shared stream.
func (n *Node) Federation() *federation.Manifest { return n.fed.Load() }

// checkOwnKey refuses a key that revocation notices revoked: receivers would quarantine
// what it signs now. The result is cached per key until the next notice.
func (n *Node) checkOwnKey(key *trust.SigningKey) error {
	gen := n.ver.RevocationGeneration()
	n.keyMu.Lock()
	ok := n.keyOK == key && n.keyGen == gen
	n.keyMu.Unlock()
	if ok {
		return nil
	}
	why, err := n.ver.Revoked(key.Chain(), n.now())
	switch {
	case err != nil:
		return fmt.Errorf("%w: own key does not verify: %v", ErrNoSigningKey, err)
	case why != "":
		return fmt.Errorf("%w: %s", ErrNoSigningKey, why)
	}
	n.keyMu.Lock()
	n.keyOK, n.keyGen = key, gen
	n.keyMu.Unlock()
	return nil
}

// remember records s for the receiver before it is published (see ownSet).
func (n *Node) remember(s *Sealed) {
	s.own = s.own[:0]
	for _, subject := range s.subjects {
		k := ownKey(subject, s.data)
		s.own = append(s.own, k)
		n.own.add(k, &Verified{Signer: *s.signer, id: s.id, origin: s.signer.Administration, supersedes: s.supersedes, audience: s.audience})
	}
}

// forget drops remembered messages that will not be received.
func (n *Node) forget(keys [][32]byte) {
	for _, k := range keys {
		n.own.forget(k)
	}
}

// Publish signs one alert and stores it in the federation's alert stream.
func (n *Node) Publish(ctx context.Context, a *alertv1.Alert) (PublishResult, error) {
	s, err := n.Prepare(ctx, a)
	if err != nil {
		n.countPublish(bus.Ack{}, err)
		return PublishResult{}, err
	}
	if s.held {
		return n.Wait(ctx, n.PublishSealed(s)) // publishes nothing: a duplicate
	}
	n.remember(s)
	res := PublishResult{ID: s.id, Duplicate: true}
	for i, subject := range s.subjects {
		ack, err := n.bus.Publish(ctx, subject, s.id, s.data)
		if err != nil || ack.Duplicate { // nothing new for the receiver
			n.own.forget(s.own[i])
		}
		if err != nil {
			n.forget(s.own[i+1:])
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
			n.countPublish(bus.Ack{}, err)
			return PublishResult{ID: s.id}, err
		}
		if i == 0 {
			res.Sequence = ack.Sequence
		}
		res.Duplicate = res.Duplicate && ack.Duplicate
	}
	n.countPublish(bus.Ack{Sequence: res.Sequence, Duplicate: res.Duplicate}, nil)
	return res, nil
}

// Pending is a publish in flight, from PublishAsync.
type Pending struct {
	id  string
	err error
	p   []*bus.Pending // one per scope
	own [][32]byte
	// held: nothing was published, the feed holds the alert (Sealed.held).
	held bool
}

// ID is the alert's id (generated when the alert had none), or empty when the alert was
// refused before it had one.
func (p *Pending) ID() string { return p.id }

// PublishAsync prepares and signs an alert and starts writing it; the number of writes in
// flight is bounded by the bus. Wait for the outcome with Wait, in any order.
func (n *Node) PublishAsync(ctx context.Context, a *alertv1.Alert) *Pending {
	s, err := n.Prepare(ctx, a)
	if err != nil {
		return Failed(a.GetId(), err)
	}
	return n.PublishSealed(s)
}

// PublishSealed starts writing an alert from Prepare; the stream stores alerts in the
// order of these calls.
func (n *Node) PublishSealed(s *Sealed) *Pending {
	if s.held {
		return &Pending{id: s.id, held: true}
	}
	n.remember(s)
	p := &Pending{id: s.id, own: s.own}
	for _, subject := range s.subjects {
		p.p = append(p.p, n.bus.PublishAsync(subject, s.id, s.data))
	}
	return p
}

// Failed is a Pending for an alert refused before publishing; Wait returns err.
func Failed(id string, err error) *Pending { return &Pending{id: id, err: err} }

// Wait returns the outcome of a PublishAsync.
func (n *Node) Wait(ctx context.Context, p *Pending) (PublishResult, error) {
	if p.err != nil {
		n.countPublish(bus.Ack{}, p.err)
		return PublishResult{ID: p.id}, p.err
	}
	if p.held {
		n.countPublish(bus.Ack{Duplicate: true}, nil)
		return PublishResult{ID: p.id, Duplicate: true}, nil
	}
	res := PublishResult{ID: p.id, Duplicate: true}
	var first error
	for i, bp := range p.p {
		ack, err := n.bus.Wait(ctx, bp)
		if err != nil || ack.Duplicate {
			n.own.forget(p.own[i])
		}
		if err != nil {
			first = cmp.Or(first, err)
			continue
		}
		if i == 0 {
			res.Sequence = ack.Sequence
		}
		res.Duplicate = res.Duplicate && ack.Duplicate
	}
	if first != nil {
		err := fmt.Errorf("%w: %w", ErrUnavailable, first)
		n.countPublish(bus.Ack{}, err)
		return PublishResult{ID: p.id}, err
	}
	n.countPublish(bus.Ack{Sequence: res.Sequence, Duplicate: res.Duplicate}, nil)
	return res, nil
}
