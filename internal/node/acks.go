package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/feed"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// A receiving node acknowledges every notice of another administration once it has
// stored it: applied, kept for an alert it does not hold yet (and acknowledged again once
// applied), or refused. Acknowledgements are signed with the node's key and published in
// the background on CIX_ACKS, so that a slow or unreachable stream never holds up
// ingest; failures are retried. At start the node queues the acknowledgement of every
// notice in its feed and sends those the stream does not hold already, which covers
// acknowledgements lost to a crash.

// ackQueue holds the acknowledgements to send, the newest per notice, in the order
// their notices were first queued.
type ackQueue struct {
	mu    sync.Mutex
	jobs  map[string]*alertv1.NoticeAck
	order []string // notice ids; those no longer in jobs are skipped
	wake  chan struct{}
}

func newAckQueue() *ackQueue {
	return &ackQueue{jobs: map[string]*alertv1.NoticeAck{}, wake: make(chan struct{}, 1)}
}

func (q *ackQueue) put(a *alertv1.NoticeAck) {
	q.mu.Lock()
	if q.jobs[a.GetNoticeId()] == nil {
		q.order = append(q.order, a.GetNoticeId())
	}
	q.jobs[a.GetNoticeId()] = a
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *ackQueue) pending() []*alertv1.NoticeAck {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]*alertv1.NoticeAck, 0, len(q.jobs))
	live, seen := q.order[:0], make(map[string]bool, len(q.jobs))
	for _, id := range q.order {
		if a := q.jobs[id]; a != nil && !seen[id] {
			out = append(out, a)
			live, seen[id] = append(live, id), true
		}
	}
	q.order = live
	return out
}

// done forgets a sent acknowledgement unless a newer one replaced it meanwhile.
func (q *ackQueue) done(a *alertv1.NoticeAck) {
	q.mu.Lock()
	if q.jobs[a.GetNoticeId()] == a {
		delete(q.jobs, a.GetNoticeId())
	}
	q.mu.Unlock()
}

// acknowledge queues this node's acknowledgement of a notice. Notices of the node's own
// administration are not acknowledged: the originator has them from its own Recall.
func (n *Node) acknowledge(a *alertv1.NoticeAck) {
	if a.GetOrigin() == n.id.Administration() {
		return
	}
	a.ReceiverAdministration, a.ReceiverNode = n.id.Administration(), n.id.Node()
	n.acks.put(a)
}

// sendAcks sends queued acknowledgements until ctx ends, retrying failures with backoff.
func (n *Node) sendAcks(ctx context.Context) {
	backoff := time.Duration(0)
	for {
		failed := false
		for _, a := range n.acks.pending() {
			if err := n.sendAck(ctx, a); err != nil {
				if ctx.Err() != nil {
					return
				}
				n.log.Warn("acknowledgement not sent; retrying", "notice", a.GetNoticeId(), "error", err)
				failed = true
				continue
			}
			n.acks.done(a)
		}
		var retry <-chan time.Time
		if failed {
			backoff = min(max(2*backoff, 200*time.Millisecond), 5*time.Second)
			retry = time.After(backoff)
		} else {
			backoff = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-n.acks.wake:
		case <-retry:
		}
	}
}

// sendAck signs and publishes one acknowledgement, unless the stream holds a verified
// one of this administration that says as much: the same outcome, or a final outcome
// where this one would say the alert is unknown (another node of the administration got
// further).
func (n *Node) sendAck(ctx context.Context, a *alertv1.NoticeAck) error {
	if n.bus.Federated() {
		return n.sendFederatedAck(ctx, a)
	}
	subject := bus.AckSubject(a.GetOrigin(), a.GetReceiverAdministration(), a.GetNoticeId())
	stored, err := n.bus.LastAck(ctx, subject)
	if err != nil {
		return err
	}
	if stored != nil {
		if va, err := VerifyAck(n.ver, stored.Subject, stored.Data, stored.Time); err == nil {
			o := va.Ack.GetOutcome()
			if o == a.GetOutcome() || (o != alertv1.NoticeOutcome_NOTICE_OUTCOME_ALERT_UNKNOWN && a.GetOutcome() == alertv1.NoticeOutcome_NOTICE_OUTCOME_ALERT_UNKNOWN) {
				return nil
			}
		}
	}
	data, _, err := n.sign(ctx, envelope.PayloadTypeNoticeAck, a)
	if err != nil {
		return err
	}
	msgID := fmt.Sprintf("%s.%s.%d", a.GetNoticeId(), a.GetReceiverAdministration(), a.GetOutcome())
	if err := n.bus.PublishAck(ctx, subject, msgID, data); err != nil {
		return err
	}
	n.log.Info("acknowledgement sent", "notice", a.GetNoticeId(), "to", a.GetOrigin(), "outcome", outcomeName(a.GetOutcome()))
	return nil
}

// sendFederatedAck sends an acknowledgement back to the notice's origin in the
// bilateral scope, cix.out.<RECEIVER>.to.<ORIGIN>.ack.<notice>. The outbound stream keeps
// the first message per subject, so only final outcomes (applied, refused) are sent:
// "alert unknown" could never be replaced. The first final outcome stored stays.
func (n *Node) sendFederatedAck(ctx context.Context, a *alertv1.NoticeAck) error {
	if a.GetOutcome() == alertv1.NoticeOutcome_NOTICE_OUTCOME_ALERT_UNKNOWN {
		return nil
	}
	subject := bus.OutboundAckSubject(a.GetOrigin(), a.GetReceiverAdministration(), a.GetNoticeId())
	stored, err := n.bus.StoredAlert(ctx, subject)
	if err != nil {
		return err
	}
	if stored != nil {
		return nil // sent before (a restart queues every notice again)
	}
	data, _, err := n.sign(ctx, envelope.PayloadTypeNoticeAck, a)
	if err != nil {
		return err
	}
	if _, err := n.bus.Publish(ctx, subject, a.GetNoticeId(), data); err != nil {
		return err
	}
	n.log.Info("acknowledgement sent", "notice", a.GetNoticeId(), "to", a.GetOrigin(), "outcome", outcomeName(a.GetOutcome()))
	return nil
}

// VerifiedAck is an acknowledgement that passed every check.
type VerifiedAck struct {
	Ack    *alertv1.NoticeAck
	Signer trust.Principal
}

// VerifyAck checks one acknowledgement stored on subject at storedAt: envelope, payload
// type, signature and chain, content, receiver against the certified signer and the
// subject, origin and notice against the subject. Every failure is an *envelope.Error.
func VerifyAck(v *trust.Verifier, subject string, raw []byte, storedAt time.Time) (*VerifiedAck, error) {
	origin, receiver, noticeID, err := bus.ParseAckSubject(subject)
	if err != nil {
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, "bad subject", err)
	}
	a := &alertv1.NoticeAck{}
	p, err := openPayload(v, raw, envelope.PayloadTypeNoticeAck, storedAt, a)
	if err != nil {
		return nil, err
	}
	claimed := &alertv1.Origin{Administration: a.GetReceiverAdministration(), Node: a.GetReceiverNode()}
	if err := checkOrigin("acknowledgement", claimed, p, receiver); err != nil {
		return nil, err
	}
	if err := alert.ValidateAck(a); err != nil {
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, "acknowledgement fails validation", err)
	}
	if a.GetOrigin() != origin || a.GetNoticeId() != noticeID {
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, fmt.Sprintf("subject names notice %s of %s, payload %s of %s",
			noticeID, origin, a.GetNoticeId(), a.GetOrigin()), nil)
	}
	return &VerifiedAck{Ack: a, Signer: p}, nil
}

// watchAcks verifies the acknowledgements addressed to this administration as they
// arrive, with the node's durable consumer on CIX_ACKS, and quarantines those that fail:
// a forgery is visible in the quarantine without anyone listing it.
func (n *Node) watchAcks(ctx context.Context) (jetstream.ConsumeContext, error) {
	admin := n.id.Administration()
	cons, err := n.bus.AckConsumer(ctx, "acks_"+consumerToken(admin+"_"+n.id.Node()), admin)
	if err != nil {
		return nil, err
	}
	return cons.Consume(func(m jetstream.Msg) { n.checkAck(ctx, m) },
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if ctx.Err() == nil && !errors.Is(err, jetstream.ErrNoHeartbeat) {
				n.log.Warn("acknowledgement stream consumer", "error", err)
			}
		}))
}

func (n *Node) checkAck(ctx context.Context, m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		_ = m.Nak()
		return
	}
	va, err := VerifyAck(n.ver, m.Subject(), m.Data(), md.Timestamp)
	if err != nil {
		q := quarantined(err, m.Subject(), m.Data(), 0)
		if qerr := n.feed.Quarantine(ctx, []feed.Quarantined{q}); qerr != nil {
			n.log.Error("quarantine acknowledgement", "error", qerr, "subject", m.Subject())
			_ = m.NakWithDelay(time.Second)
			return
		}
		n.metrics.Quarantined(q.Reason)
		n.log.Warn("acknowledgement quarantined", "subject", m.Subject(), "reason", q.Reason, "detail", q.Detail)
	} else {
		n.metrics.AckReceived()
		n.log.Info("acknowledgement received", "notice", va.Ack.GetNoticeId(), "from", va.Ack.GetReceiverAdministration(),
			"outcome", outcomeName(va.Ack.GetOutcome()))
	}
	if err := m.Ack(); err != nil && ctx.Err() == nil {
		n.log.Warn("acknowledgement stream: ack", "error", err)
	}
}

// quarantined is the quarantine entry of a message refused with err.
func quarantined(err error, subject string, raw []byte, seq uint64) feed.Quarantined {
	reason, detail := envelope.ReasonInvalidContent, err.Error()
	var refusal *envelope.Error
	if errors.As(err, &refusal) {
		reason, detail = refusal.Reason, refusal.Message()
	}
	return feed.Quarantined{Reason: reason.String(), Detail: detail, Subject: subject, Raw: raw, SourceSeq: seq}
}

// ListAcknowledgements lists the verified acknowledgements of this administration's
// notices: of notice noticeID, or of every notice about alertID this node has stored.
// Exactly one id is given. Acknowledgements that fail verification are left out (the
// acknowledgement consumer quarantines them).
func (n *Node) ListAcknowledgements(ctx context.Context, alertID, noticeID string) ([]*nodev1.Acknowledgement, error) {
	switch {
	case (alertID == "") == (noticeID == ""):
		return nil, invalid("alert_id", "exactly one of alert_id and notice_id is required")
	case alertID != "" && !alert.ValidUUID(alertID):
		return nil, invalid("alert_id", "%q is not a UUID", clipStr(alertID))
	case noticeID != "" && !alert.ValidUUID(noticeID):
		return nil, invalid("notice_id", "%q is not a UUID", clipStr(noticeID))
	}
	admin := n.id.Administration()
	ids := []string{noticeID}
	if alertID != "" {
		ids = n.notices.ofAlert(alertID, admin)
	}
	var out []*nodev1.Acknowledgement
	for _, id := range ids {
		msgs, err := n.bus.Acks(ctx, admin, id)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		for _, m := range msgs {
			va, err := VerifyAck(n.ver, m.Subject, m.Data, m.Time)
			if err != nil {
				n.log.Warn("acknowledgement fails verification; not listed", "subject", m.Subject, "error", err)
				continue
			}
			out = append(out, &nodev1.Acknowledgement{Ack: va.Ack, Signer: apiSigner(va.Signer), StoredAt: timestamppb.New(m.Time)})
		}
	}
	return out, nil
}

func apiSigner(p trust.Principal) *nodev1.Signer {
	return &nodev1.Signer{Administration: p.Administration, Node: p.Node, Keyid: p.KeyID, CertificateNotAfter: timestamppb.New(p.NotAfter)}
}
