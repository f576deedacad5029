package node

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/feed"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// Subject kinds of the bilateral scope that the mutual assistance service and its
// attachment store read (cix.out.<FROM>.to.<TO>.<kind>.<id>); the alert receiver skips
// them.
const (
	KindAssist = "assist"
	KindAttach = "attach"
)

// clockSkew is how far in the future an alert's issued_at may be.
const clockSkew = 5 * time.Minute

// Verified is a received message that passed every check: an alert or a notice.
type Verified struct {
	// Alert is the decoded alert; nil for a notice, and for the node's own alerts,
	// which are not decoded again.
	Alert *alertv1.Alert
	// Notice is the decoded notice about an alert.
	Notice *alertv1.AlertNotice
	Signer trust.Principal
	// id of the alert or notice, its origin administration and, for an amendment, the
	// alert it supersedes.
	id, origin, supersedes string
	// audience: an alert's signed audience. scope: the scope a message arrived on (all
	// members on the shared stream).
	audience *alertv1.Audience
	scope    federation.Scope
	// held: the node holds the alert a notice names (set by admitNotice).
	held bool
}

// VerifyAlert checks one message received on subject: envelope, payload type, signature,
// certificate chain, origin against certificate and subject, decoding and content. Every
// failure is an *envelope.Error with the reason to quarantine it under.
//
// storedAt is when the alert stream stored the message (a server timestamp, not the
// sender's claim): the signing certificate must have been valid then, and the alert
// cannot have been issued after it. A node catching up on old alerts therefore accepts
// them after their short-lived certificates expired. now bounds the clock skew of
// issued_at.
//
// On the federation layout (subjects cix.out.<ORIGIN>.<scope>.<kind>.<id>) the scope of
// the subject must be one the signed audience names; on the shared stream (subjects
// cix.alert.v1.<ORIGIN>.<kind>.<id>) the scope is all members. Otherwise the alert is
// refused with ReasonAudienceMismatch: a relay or publisher widened its audience.
//
// VerifyAlert cannot read sealed alerts (PayloadTypeSealedAlert); VerifyAlertAs can.
func VerifyAlert(v *trust.Verifier, subject string, raw []byte, storedAt, now time.Time) (*Verified, error) {
	return VerifyAlertAs(v, nil, subject, raw, storedAt, now)
}

// VerifyAlertAs is VerifyAlert for recipient r, which also accepts alerts sealed to r:
// it verifies the signature over the ciphertext first, checks the routing fields
// against the subject, decrypts with r's identity, then checks the alert as VerifyAlert
// does. With a manifest, r also refuses a scope it does not belong to and an alert to
// some members only that arrives unencrypted.
func VerifyAlertAs(v *trust.Verifier, r *Recipient, subject string, raw []byte, storedAt, now time.Time) (*Verified, error) {
	sOrigin, scope, sKind, sID, err := parseSubject(subject)
	if err != nil {
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, "bad subject", err)
	}
	opened, err := envelope.OpenAny(raw, v.At(storedAt), envelope.PayloadTypeAlert, envelope.PayloadTypeSealedAlert)
	if err != nil {
		return nil, err
	}
	p := opened.Signer
	a := &alertv1.Alert{}
	isSealed := opened.Envelope.GetPayloadType() == envelope.PayloadTypeSealedAlert
	if isSealed {
		if a, err = openSealed(r, opened.Envelope.GetPayload(), p, subject, sOrigin, scope, sKind, sID); err != nil {
			return nil, err
		}
	} else if err := envelope.DecodePayload(opened.Envelope.GetPayload(), a, "alert"); err != nil {
		return nil, err
	}
	if r != nil && r.Federation != nil {
		if !scopeIncludes(r.Federation, scope, p.Administration, r.Administration) {
			return nil, envelope.Refuse(envelope.ReasonAudienceMismatch, fmt.Sprintf(
				"published on scope %s, which does not include %s", scope, r.Administration), nil)
		}
		if !isSealed && !alert.AllMembers(a.GetAudience()) {
			return nil, envelope.Refuse(envelope.ReasonInvalidContent, fmt.Sprintf(
				"alert to some members only (scope %s) arrived unencrypted", scope), nil)
		}
	}
	if err := checkOrigin("alert", a.GetOrigin(), p, sOrigin); err != nil {
		return nil, err
	}
	if k := alert.KindName(alert.Kind(a)); k != sKind || !subjectNamesID(subject, sID, a.GetId()) {
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, fmt.Sprintf(
			"subject names %s %s, payload is %s %s", sKind, sID, k, clipStr(a.GetId())), nil)
	}
	if err := alert.Validate(a); err != nil {
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, "alert fails validation", err)
	}
	if !audienceNames(a.GetAudience(), scope) {
		return nil, envelope.Refuse(envelope.ReasonAudienceMismatch, fmt.Sprintf(
			"published on scope %s, which the signed audience does not name", scope), nil)
	}
	if err := checkIssued("alert", a.GetIssuedAt().AsTime(), storedAt, now); err != nil {
		return nil, err
	}
	return &Verified{Alert: a, Signer: p, id: a.GetId(), origin: p.Administration, supersedes: a.GetSupersedes(), audience: a.GetAudience(), scope: scope}, nil
}

// handledElsewhere reports whether subject, of the inbound stream, is a member directory
// or a revocation notice in the all-members scope, or an acknowledgement, a mutual
// assistance transition or an attachment chunk in a bilateral scope: the directory
// follower, the revocation service (which sources them into the trust stream), the
// acknowledgement consumer (on the acknowledgement stream, which sources them) and the
// assistance service (internal/assist, with its own consumer; attachments are its
// store's) verify those.
func handledElsewhere(subject string) bool {
	_, s, kind, _, err := federation.ParseOutboundSubject(subject)
	if err == nil && s.Kind == federation.ScopeMember && (kind == bus.AckKind || kind == KindAssist || kind == KindAttach) {
		return true
	}
	return err == nil && s.Kind == federation.ScopeAll && (kind == federation.KindDirectory || kind == federation.KindRevocation)
}

// subjectNamesID reports whether sID, the last token of the alert subject subject, fits
// the alert id: on the federation layout an alert's subject ends with
// federation.AlertToken (the id is in the payload only), or, published by a node of an
// earlier version, with the id; on the shared stream always with the id.
func subjectNamesID(subject, sID, id string) bool {
	return sID == id || (sID == federation.AlertToken && strings.HasPrefix(subject, federation.OutSubjectPrefix))
}

// parseSubject splits a subject of either layout: the federation's outbound subjects and
// the shared stream's alert subjects, whose scope is all members.
func parseSubject(subject string) (origin string, scope federation.Scope, kind, id string, err error) {
	if strings.HasPrefix(subject, federation.OutSubjectPrefix) {
		return federation.ParseOutboundSubject(subject)
	}
	origin, kind, id, err = bus.ParseAlertSubject(subject)
	return origin, federation.AllMembers(), kind, id, err
}

// audienceNames reports whether the signed audience au names scope.
func audienceNames(au *alertv1.Audience, scope federation.Scope) bool {
	switch scope.Kind {
	case federation.ScopeAll:
		return alert.AllMembers(au)
	case federation.ScopeGroup:
		return !alert.AllMembers(au) && slices.Contains(au.GetGroups(), scope.Name)
	case federation.ScopeMember:
		return !alert.AllMembers(au) && slices.Contains(au.GetAdministrations(), scope.Name)
	}
	return false
}

// openPayload opens raw as an envelope of payloadType signed under a chain valid at
// storedAt, and decodes its verified payload into m. It returns the signer.
func openPayload(v *trust.Verifier, raw []byte, payloadType string, storedAt time.Time, m proto.Message) (trust.Principal, error) {
	opened, err := envelope.Open(raw, payloadType, v.At(storedAt))
	if err != nil {
		return trust.Principal{}, err
	}
	if err := envelope.DecodePayload(opened.Envelope.Payload, m, ""); err != nil {
		return trust.Principal{}, err
	}
	return opened.Signer, nil
}

// checkOrigin refuses a message whose claimed origin is not its certified signer, or
// that was published under another origin's subject.
func checkOrigin(what string, origin *alertv1.Origin, p trust.Principal, subjectOrigin string) error {
	if origin.GetAdministration() != p.Administration {
		return envelope.Refuse(envelope.ReasonOriginMismatch, fmt.Sprintf(
			"%s claims origin %q but is signed by a key of %s", what, clipStr(origin.GetAdministration()), p.Administration), nil)
	}
	if origin.GetNode() != p.Node {
		return envelope.Refuse(envelope.ReasonOriginMismatch, fmt.Sprintf(
			"%s claims node %q but is signed by node %s", what, clipStr(origin.GetNode()), p.Node), nil)
	}
	if subjectOrigin != p.Administration {
		return envelope.Refuse(envelope.ReasonOriginMismatch, fmt.Sprintf(
			"published under origin %s but signed by %s", subjectOrigin, p.Administration), nil)
	}
	return nil
}

// checkIssued refuses an issue time in the future or after the stream stored the
// message.
func checkIssued(what string, issued, storedAt, now time.Time) error {
	if issued.After(now.Add(clockSkew)) {
		return envelope.Refuse(envelope.ReasonInvalidContent, "issued_at is in the future", nil)
	}
	if issued.After(storedAt.Add(clockSkew)) {
		return envelope.Refuse(envelope.ReasonInvalidContent, fmt.Sprintf(
			"issued_at %s is after the stream stored the %s (%s)", issued.UTC().Format(time.RFC3339), what, storedAt.UTC().Format(time.RFC3339)), nil)
	}
	return nil
}

func clipStr(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Run receives alerts until ctx ends: it consumes the alert stream with the node's
// durable consumer, verifies, stores and acknowledges batch by batch. Meanwhile it sends
// the node's acknowledgements of notices and verifies those addressed to it.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	acksSent := make(chan struct{})
	defer func() { cancel(); <-acksSent }()
	go func() { defer close(acksSent); n.sendAcks(ctx) }()
	acks, err := n.watchAcks(ctx)
	if err == nil {
		defer acks.Stop()
	}
	cons, cerr := n.bus.Consumer(ctx, bus.IngestConsumerPrefix+consumerToken(n.id.Administration()+"_"+n.id.Node()))
	if err = errors.Join(err, cerr); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	msgs := make(chan jetstream.Msg, 2*n.batch)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-ctx.Done():
		}
	}, jetstream.PullMaxMessages(2*n.batch), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if !errors.Is(err, jetstream.ErrNoHeartbeat) || ctx.Err() == nil {
			n.log.Warn("alert stream consumer", "error", err)
		}
	}))
	if err != nil {
		return fmt.Errorf("consume alert stream: %w", err)
	}
	defer cc.Stop()
	// Every alert up to floor is stored (acknowledged, or ingested since).
	floor := cons.CachedInfo().AckFloor.Stream
	n.log.Info("receiving alerts", "stream", n.bus.ReadStream())
	// Pipelined: this loop verifies batch k+1 while complete stores batch k and
	// acknowledges it. Hand-offs are unbuffered, so at most two batches are in flight;
	// batches are stored and acknowledged in order, and nothing of batch k+1 is written
	// before batch k is complete (its quarantined messages, feed writes, notices and
	// links), so what a later alert's delivery shows of the node's state is as before.
	work := make(chan *received)
	completed := make(chan struct{})
	defer func() { close(work); <-completed }()
	go func() { defer close(completed); n.complete(ctx, work) }()
	batch := make([]jetstream.Msg, 0, n.batch)
	for {
		batch = batch[:0] // complete keeps only the batch's last message
		if len(msgs) == 0 {
			n.behind.Store(false) // waiting for alerts
		}
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			batch = append(batch, m)
		}
	fill:
		for len(batch) < n.batch {
			select {
			case m := <-msgs:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		n.behind.Store(len(batch) == n.batch || len(msgs) > 0)
		// Reading lost deliveries and admitting notices can fail: the batch is then
		// prepared again. Nothing of it was written yet.
		for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
			ds, upTo, err := n.withLost(ctx, batch, floor)
			var r *received
			if err == nil {
				r, err = n.prepareBatch(ctx, ds, batch[len(batch)-1], work)
			}
			if err == nil {
				select {
				case work <- r:
				case <-ctx.Done():
					return nil
				}
				floor = upTo
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			n.log.Error("ingest batch failed; retrying", "error", err, "size", len(batch), "backoff", backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
		}
	}
}

// received is a verified batch on its way to the feed: what to store and quarantine,
// the feed writes once started, and the message whose cumulative acknowledgement
// covers the batch.
type received struct {
	last    jetstream.Msg
	size    int // messages received, lost deliveries included
	ws      []feed.Write
	qs      []feed.Quarantined
	stored  []*Verified
	flushed chan struct{} // a marker, not a batch: closed once every batch before it completed
}

// complete stores the batches of work in order: it waits for each batch's feed writes,
// quarantines what was refused, applies the stored notices, then acknowledges the batch
// cumulatively. A batch that fails is written again, and again, until it is stored or
// ctx ends: acknowledging a later batch would acknowledge this one unstored, so nothing
// later is acknowledged before it. Writing again is safe: the feed keeps one message per
// id, and the quarantine's duplicate window absorbs a repeated refusal.
func (n *Node) complete(ctx context.Context, work <-chan *received) {
	for r := range work {
		if r.flushed != nil {
			close(r.flushed)
			continue
		}
		for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
			err := n.store(ctx, r)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			n.log.Error("storing ingest batch failed; retrying", "error", err, "size", r.size, "backoff", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
		}
	}
}

// store completes one batch: quarantine, feed writes, notices, then the cumulative
// acknowledgement. A lost acknowledgement only causes a redelivery,
// which the feed absorbs, so it is not waited for.
func (n *Node) store(ctx context.Context, r *received) error {
	if len(r.qs) > 0 {
		if err := n.feed.Quarantine(ctx, r.qs); err != nil {
			return err
		}
	}
	if len(r.ws) > 0 {
		if _, err := n.feed.Append(ctx, r.ws); err != nil {
			return err
		}
	}
	if err := n.applyStored(ctx, r.stored, r.ws); err != nil {
		return err
	}
	// Cumulative acknowledgement of the whole batch.
	if err := r.last.Ack(); err != nil {
		return fmt.Errorf("acknowledge batch: %w", err)
	}
	n.countIngested(r.size, r.stored, r.qs)
	return nil
}

// ReceiverBehind reports whether the receiver has more alerts waiting than its last
// batch took: it is catching up, and work that can wait (indexing) should let it.
func (n *Node) ReceiverBehind() bool { return n.behind.Load() }

func consumerToken(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '-' || c == '.' || c == ' ' {
			b[i] = '_'
		}
	}
	return string(b)
}

// delivery is an alert stream message to ingest: delivered by the consumer, or read from
// the stream because its delivery was lost.
type delivery struct {
	subject  string
	msgID    string // Nats-Msg-Id, for the quarantine
	data     []byte
	seq      uint64    // stream sequence; 0 when unknown
	storedAt time.Time // when the stream stored it; zero when unknown
}

// withLost turns a batch into deliveries. Before each message it inserts the alerts
// stored after floor (every alert up to floor is stored) and before the message that were
// not delivered: deliveries lost in transit when the connection dropped (a reconnect, a
// credentials rotation). The batch's cumulative acknowledgement would otherwise
// acknowledge them unstored. It returns the new floor. In the steady state messages come
// in stream order and nothing is read.
func (n *Node) withLost(ctx context.Context, batch []jetstream.Msg, floor uint64) ([]delivery, uint64, error) {
	ds := make([]delivery, 0, len(batch))
	for _, m := range batch {
		d := delivery{subject: m.Subject(), msgID: m.Headers().Get(jetstream.MsgIDHeader), data: m.Data()}
		if md, err := m.Metadata(); err == nil {
			d.seq, d.storedAt = md.Sequence.Stream, md.Timestamp
		}
		for d.seq > floor+1 {
			lost, err := n.bus.NextAlert(ctx, floor+1)
			if err != nil {
				return nil, 0, fmt.Errorf("read undelivered alerts: %w", err)
			}
			if lost == nil || lost.Sequence >= d.seq {
				break
			}
			n.log.Warn("alert not delivered by the consumer; read from the stream", "seq", lost.Sequence)
			ds = append(ds, delivery{subject: lost.Subject, msgID: lost.Header.Get(jetstream.MsgIDHeader), data: lost.Data, seq: lost.Sequence, storedAt: lost.Time})
			floor = lost.Sequence
		}
		floor = max(floor, d.seq)
		ds = append(ds, d)
	}
	return ds, floor, nil
}

// prepareBatch verifies deliveries in parallel and sorts them into feed writes and
// quarantined messages; complete stores them and acknowledges up to last. Before a
// notice is admitted, the batches handed to work earlier are completed: whether the node
// holds the alert a notice names is read from the feed.
func (n *Node) prepareBatch(ctx context.Context, batch []delivery, last jetstream.Msg, work chan<- *received) (*received, error) {
	type result struct {
		v   *Verified
		id  string
		err error
		seq uint64
		// skip: a message of the inbound stream that other services read (directory,
		// revocation notices); neither stored nor quarantined here.
		skip bool
	}
	res := make([]result, len(batch))
	now := n.now()
	workers := n.workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(batch))
	ownPrefix := bus.AlertSubjectPrefix + n.id.Administration() + "."
	if n.bus.Federated() {
		ownPrefix = federation.OutSubjectPrefix + n.id.Administration() + "."
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(batch); i += workers {
				d := batch[i]
				storedAt := d.storedAt
				if storedAt.IsZero() {
					storedAt = now
				}
				res[i].seq = d.seq
				if n.bus.Federated() && handledElsewhere(d.subject) {
					res[i].skip = true
					continue
				}
				if strings.HasPrefix(d.subject, ownPrefix) {
					if v, ok := n.own.take(ownKey(d.subject, d.data)); ok { // signed here, unchanged
						res[i].v, res[i].id = v, v.id
						continue
					}
				}
				res[i].v, res[i].err = n.verifyReceived(d.subject, d.data, storedAt, now)
				if res[i].err == nil {
					res[i].id = res[i].v.id
				}
			}
		}()
	}
	wg.Wait()

	for _, r := range res {
		if r.err == nil && r.v != nil && r.v.Notice != nil {
			flushed := make(chan struct{})
			select {
			case work <- &received{flushed: flushed}:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			select {
			case <-flushed:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			break
		}
	}

	var ws []feed.Write
	var qs []feed.Quarantined
	var stored []*Verified
	inBatch := map[string]bool{} // alert ids of this batch: one alert arrives once per scope
	for i, r := range res {
		if r.skip {
			continue
		}
		if r.err == nil && r.v.Notice != nil {
			if r.err = n.admitNotice(ctx, r.v, stored); r.err != nil && envelope.ReasonOf(r.err) == 0 {
				return nil, r.err // whether the alert is held is unknown: retry the batch
			}
		}
		if r.err != nil {
			q := quarantined(r.err, batch[i].subject, batch[i].data, r.seq)
			q.MsgID = batch[i].msgID
			n.log.Warn("quarantined", "reason", q.Reason, "subject", q.Subject, "msg_id", q.MsgID, "seq", r.seq, "error", r.err)
			qs = append(qs, q)
			continue
		}
		key := r.id
		if r.v.Notice != nil {
			key = "notice " + r.id
		}
		if inBatch[key] {
			continue // the same alert or notice on another of its scopes; the feed keeps one
		}
		inBatch[key] = true
		ws = append(ws, feed.Write{
			ID: r.id, Envelope: batch[i].data, SourceSeq: r.seq,
			Signer: feed.Signer{Administration: r.v.Signer.Administration, Node: r.v.Signer.Node, KeyID: r.v.Signer.KeyID, NotAfter: r.v.Signer.NotAfter},
			Notice: r.v.Notice != nil, AlertID: r.v.Notice.GetAlertId(),
		})
		stored = append(stored, r.v)
	}
	return &received{last: last, size: len(batch), ws: ws, qs: qs, stored: stored}, nil
}

// countIngested counts a stored batch once it is acknowledged (a batch retried after a
// failure is counted once).
func (n *Node) countIngested(received int, stored []*Verified, qs []feed.Quarantined) {
	notices := 0
	for _, v := range stored {
		if v.Notice != nil {
			notices++
		}
	}
	n.metrics.Ingested(received, len(stored)-notices, notices)
	for _, q := range qs {
		n.metrics.Quarantined(q.Reason)
	}
}
