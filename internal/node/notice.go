package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/feed"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	envelopev1 "github.com/cix-exchange/cix/internal/gen/cix/envelope/v1"
	"github.com/cix-exchange/cix/internal/trust"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Notices (recalls and reclassifications) arrive on the alert stream with the alerts of
// their origin. A notice that verifies is stored in the feed and applied: the alerts it
// names are no longer delivered (recall) or are delivered and filtered with the new
// classification (reclassification). The state is rebuilt from the feed at start
// (LoadNotices): the feed is its only store.

// verifyReceived verifies one message of the alert stream by its kind.
func (n *Node) verifyReceived(subject string, raw []byte, storedAt, now time.Time) (*Verified, error) {
	if isNoticeSubject(subject) {
		v, err := VerifyNotice(n.ver, subject, raw, storedAt, now)
		if err != nil {
			return nil, err
		}
		if r := n.recipient(); r != nil && !scopeIncludes(r.Federation, v.scope, v.origin, r.Administration) {
			return nil, envelope.Refuse(envelope.ReasonAudienceMismatch, fmt.Sprintf(
				"notice published on scope %s, which does not include %s", v.scope, r.Administration), nil)
		}
		return v, nil
	}
	return VerifyAlertAs(n.ver, n.recipient(), subject, raw, storedAt, now)
}

// isNoticeSubject reports whether subject is a notice's: cix.alert.v1.<ORIGIN>.notice.<id>
// on the shared stream, cix.out.<ORIGIN>.<scope>.notice.<id> on the federation layout.
func isNoticeSubject(subject string) bool {
	_, _, kind, _, err := parseSubject(subject)
	return err == nil && kind == bus.NoticeKind
}

// VerifyNotice checks one notice received on subject as VerifyAlert checks an alert:
// envelope, payload type, signature and certificate chain at storedAt, origin against
// certificate and subject, id against subject, content and issue time. Whether the
// notice's origin is also the origin of the alert it names is checked when the node
// holds that alert. Every failure is an *envelope.Error.
func VerifyNotice(v *trust.Verifier, subject string, raw []byte, storedAt, now time.Time) (*Verified, error) {
	sOrigin, scope, sKind, sID, err := parseSubject(subject)
	if err == nil && sKind != bus.NoticeKind {
		err = fmt.Errorf("subject %q is not a notice's", clipStr(subject))
	}
	if err != nil {
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, "bad subject", err)
	}
	nt := &alertv1.AlertNotice{}
	p, err := openPayload(v, raw, envelope.PayloadTypeNotice, storedAt, nt)
	if err != nil {
		return nil, err
	}
	if err := checkOrigin("notice", nt.GetOrigin(), p, sOrigin); err != nil {
		return nil, err
	}
	if nt.GetId() != sID {
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, fmt.Sprintf("subject names notice %s, payload is %s", sID, clipStr(nt.GetId())), nil)
	}
	if err := alert.ValidateNotice(nt); err != nil {
		return nil, envelope.Refuse(envelope.ReasonInvalidContent, "notice fails validation", err)
	}
	if err := checkIssued("notice", nt.GetIssuedAt().AsTime(), storedAt, now); err != nil {
		return nil, err
	}
	return &Verified{Notice: nt, Signer: p, id: nt.GetId(), origin: p.Administration, scope: scope}, nil
}

// admitNotice refuses a verified notice about an alert the node holds (in the feed, or
// earlier in the batch) whose origin is another administration: only an alert's
// originator may recall or reclassify it. It also refuses a notice that arrived on a
// scope the alert's signed audience does not name (audience_mismatch): a notice travels
// in the scopes of its alert, never wider. It records in v whether the alert is held. An
// error that is not an *envelope.Error means the feed could not answer.
func (n *Node) admitNotice(ctx context.Context, v *Verified, earlier []*Verified) error {
	origin, au, held, err := n.alertOrigin(ctx, v.Notice.GetAlertId(), earlier)
	if err != nil {
		return err
	}
	if held && origin != v.origin {
		return envelope.Refuse(envelope.ReasonOriginMismatch, notOriginator(v.Notice, origin), nil)
	}
	if held && au != nil && !audienceNames(au, v.scope) {
		return envelope.Refuse(envelope.ReasonAudienceMismatch, notInScope(v.Notice, v.scope), nil)
	}
	v.held = held
	return nil
}

func notInScope(nt *alertv1.AlertNotice, scope federation.Scope) string {
	return fmt.Sprintf("notice %s published on scope %s, which the audience of alert %s does not name",
		nt.GetId(), scope, nt.GetAlertId())
}

func notOriginator(nt *alertv1.AlertNotice, alertOrigin string) string {
	return fmt.Sprintf("notice of %s about alert %s of %s: only an alert's originator may recall or reclassify it",
		nt.GetOrigin().GetAdministration(), nt.GetAlertId(), alertOrigin)
}

// alertOrigin returns the origin administration and signed audience of alert id when
// the node holds it: verified earlier in the batch, or in the feed. The audience is nil
// when it cannot be read (not expected of a verified alert).
func (n *Node) alertOrigin(ctx context.Context, id string, earlier []*Verified) (string, *alertv1.Audience, bool, error) {
	for i := len(earlier) - 1; i >= 0; i-- {
		if v := earlier[i]; v.Notice == nil && v.id == id {
			return v.origin, v.audience, true, nil
		}
	}
	e, err := n.feed.Get(ctx, id)
	if errors.Is(err, feed.ErrNotFound) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, err
	}
	au, aerr := envelopeAudience(e.Envelope)
	if aerr != nil {
		n.log.Error("audience of a stored alert unreadable", "id", id, "error", aerr)
	}
	return e.Signer.Administration, au, true, nil // verified: the alert's origin is its signer's
}

// applyStored applies what a batch stored in the feed (stored[i] as ws[i]), before the
// batch is acknowledged: links from amended alerts to their amendments, notices into the
// node's state, and notices kept for an alert that has now arrived. A kept notice whose
// origin is not the arriving alert's is refused and quarantined. It changes the state
// only once everything is written, so a failed batch is applied again when retried.
func (n *Node) applyStored(ctx context.Context, stored []*Verified, ws []feed.Write) error {
	now := n.now()
	var links []feed.Link
	var added []*noticeRec
	var resolved []resolution
	var quarantine []feed.Quarantined
	kept := map[string][]*noticeRec{} // notices of this batch kept for an alert not held
	for i, v := range stored {
		switch {
		case v.Notice != nil:
			if n.notices.has(v.id) { // applied before a failed acknowledgement
				continue
			}
			r := &noticeRec{notice: v.Notice, srcSeq: ws[i].SourceSeq, at: now, outcome: alertv1.NoticeOutcome_NOTICE_OUTCOME_APPLIED, scope: v.scope}
			if !v.held {
				r.outcome, r.raw = alertv1.NoticeOutcome_NOTICE_OUTCOME_ALERT_UNKNOWN, ws[i].Envelope
				kept[v.Notice.GetAlertId()] = append(kept[v.Notice.GetAlertId()], r)
			}
			added = append(added, r)
		default:
			if v.supersedes != "" {
				links = append(links, feed.Link{Supersedes: v.supersedes, Origin: v.origin, Amendment: v.id})
			}
			for _, r := range append(n.notices.kept(v.id), kept[v.id]...) {
				res := resolution{rec: r, outcome: alertv1.NoticeOutcome_NOTICE_OUTCOME_APPLIED}
				reason := envelope.ReasonOriginMismatch
				switch {
				case r.notice.GetOrigin().GetAdministration() != v.origin:
					res.outcome, res.detail = alertv1.NoticeOutcome_NOTICE_OUTCOME_REFUSED, notOriginator(r.notice, v.origin)
				case r.scope.Kind != 0 && v.audience != nil && !audienceNames(v.audience, r.scope):
					// Known only for notices kept since the node started.
					res.outcome, res.detail = alertv1.NoticeOutcome_NOTICE_OUTCOME_REFUSED, notInScope(r.notice, r.scope)
					reason = envelope.ReasonAudienceMismatch
				}
				if res.outcome == alertv1.NoticeOutcome_NOTICE_OUTCOME_REFUSED {
					origin := r.notice.GetOrigin().GetAdministration()
					subject := bus.AlertSubject(origin, bus.NoticeKind, r.notice.GetId())
					if n.bus.Federated() && r.scope.Kind != 0 {
						subject = federation.OutboundSubject(origin, r.scope, bus.NoticeKind, r.notice.GetId())
					}
					refusal := envelope.Refuse(reason, res.detail, nil)
					quarantine = append(quarantine, quarantined(refusal, subject, r.raw, r.srcSeq))
				}
				resolved = append(resolved, res)
			}
			delete(kept, v.id)
		}
	}
	if len(links) > 0 {
		if err := n.feed.Link(ctx, links); err != nil {
			return err
		}
	}
	if len(quarantine) > 0 {
		if err := n.feed.Quarantine(ctx, quarantine); err != nil {
			return err
		}
		for _, q := range quarantine {
			n.metrics.Quarantined(q.Reason)
		}
	}
	for _, r := range added {
		n.notices.add(r)
	}
	for _, res := range resolved {
		n.notices.resolve(res, now)
	}
	for _, r := range added {
		n.log.Info("notice received", "id", r.notice.GetId(), "alert_id", r.notice.GetAlertId(), "action", actionName(r.notice),
			"origin", r.notice.GetOrigin().GetAdministration(), "outcome", outcomeName(r.outcome))
		n.acknowledge(r.ackOf())
	}
	for _, res := range resolved {
		n.log.Info("kept notice resolved", "id", res.rec.notice.GetId(), "alert_id", res.rec.notice.GetAlertId(),
			"outcome", outcomeName(res.outcome), "detail", res.detail)
		n.acknowledge(res.rec.ackOf())
	}
	return nil
}

// LoadNotices rebuilds the node's recall and classification state from the notices in
// its feed and queues their acknowledgements, which Run sends unless the acknowledgement
// stream already holds them. Call it once, before serving clients and before Run.
func (n *Node) LoadNotices(ctx context.Context) error {
	entries, err := n.feed.Notices(ctx)
	if err != nil {
		return err
	}
	origins := map[string]*feed.Entry{} // alert id -> its feed entry, nil when not held
	for _, e := range entries {
		nt, err := decodeNotice(e.Envelope)
		if err != nil {
			n.log.Error("undecodable notice in the feed", "seq", e.Sequence, "error", err)
			continue
		}
		ae, seen := origins[nt.GetAlertId()]
		if !seen {
			if ae, err = n.feed.Get(ctx, nt.GetAlertId()); errors.Is(err, feed.ErrNotFound) {
				ae, err = nil, nil
			}
			if err != nil {
				return fmt.Errorf("load notices: %w", err)
			}
			origins[nt.GetAlertId()] = ae
		}
		r := &noticeRec{notice: nt, srcSeq: e.SourceSeq, at: e.ReceivedAt, outcome: alertv1.NoticeOutcome_NOTICE_OUTCOME_APPLIED}
		switch {
		case ae == nil:
			r.outcome, r.raw = alertv1.NoticeOutcome_NOTICE_OUTCOME_ALERT_UNKNOWN, e.Envelope
		case ae.Signer.Administration != nt.GetOrigin().GetAdministration():
			r.outcome, r.detail = alertv1.NoticeOutcome_NOTICE_OUTCOME_REFUSED, notOriginator(nt, ae.Signer.Administration)
		case ae.ReceivedAt.After(r.at):
			r.at = ae.ReceivedAt // kept until the alert arrived
		}
		n.notices.add(r)
		n.acknowledge(r.ackOf())
	}
	if len(entries) > 0 {
		n.log.Info("notices loaded from the feed", "count", len(entries))
	}
	return nil
}

func decodeNotice(raw []byte) (*alertv1.AlertNotice, error) {
	env := &envelopev1.Envelope{}
	if err := proto.Unmarshal(raw, env); err != nil {
		return nil, err
	}
	nt := &alertv1.AlertNotice{}
	if err := proto.Unmarshal(env.GetPayload(), nt); err != nil {
		return nil, err
	}
	return nt, nil
}

// NoticesInForce returns the recall and the newest reclassification in force for alert
// id of origin at this node, nil when there is none. Notices of another origin are never
// in force.
func (n *Node) NoticesInForce(id, origin string) (recall, reclassification *alertv1.AlertNotice) {
	return n.notices.inForce(id, origin)
}

// noticeRec is what the node knows of one notice in its feed.
type noticeRec struct {
	notice *alertv1.AlertNotice
	srcSeq uint64 // sequence in the alert stream
	// raw is the envelope of a notice kept for an alert not held yet, to quarantine it
	// if that alert turns out to be another administration's.
	raw     []byte
	outcome alertv1.NoticeOutcome
	at      time.Time // when applied, kept or refused
	detail  string
	// scope the notice arrived on; zero when loaded from the feed.
	scope federation.Scope
}

type resolution struct {
	rec     *noticeRec
	outcome alertv1.NoticeOutcome
	detail  string
}

// noticeIndex is the node's state of notices, by notice and by alert. The ingest
// goroutine changes it; readers take copies of what they need.
type noticeIndex struct {
	mu      sync.RWMutex
	byID    map[string]*noticeRec
	byAlert map[string][]*noticeRec // in feed order
}

func newNoticeIndex() *noticeIndex {
	return &noticeIndex{byID: map[string]*noticeRec{}, byAlert: map[string][]*noticeRec{}}
}

func (x *noticeIndex) has(id string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.byID[id] != nil
}

func (x *noticeIndex) add(r *noticeRec) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.byID[r.notice.GetId()] != nil {
		return
	}
	x.byID[r.notice.GetId()] = r
	x.byAlert[r.notice.GetAlertId()] = append(x.byAlert[r.notice.GetAlertId()], r)
}

// kept returns the notices kept for alert id, which the node did not hold.
func (x *noticeIndex) kept(id string) []*noticeRec {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []*noticeRec
	for _, r := range x.byAlert[id] {
		if r.outcome == alertv1.NoticeOutcome_NOTICE_OUTCOME_ALERT_UNKNOWN {
			out = append(out, r)
		}
	}
	return out
}

func (x *noticeIndex) resolve(res resolution, at time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	r := res.rec
	r.outcome, r.detail, r.at, r.raw = res.outcome, res.detail, at, nil
}

// inForce returns the first recall and the newest reclassification of alert id issued
// by origin (the alert's). Notices kept before the alert arrived count: they are
// applied as it arrives.
func (x *noticeIndex) inForce(id, origin string) (recall, reclass *alertv1.AlertNotice) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, r := range x.byAlert[id] {
		if r.notice.GetOrigin().GetAdministration() != origin {
			continue
		}
		switch {
		case r.notice.GetRecall() != nil && recall == nil:
			recall = r.notice
		case r.notice.GetReclassify() != nil:
			reclass = r.notice
		}
	}
	return recall, reclass
}

// ofAlert returns the ids of the notices of origin about alert id, in feed order.
func (x *noticeIndex) ofAlert(id, origin string) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []string
	for _, r := range x.byAlert[id] {
		if r.notice.GetOrigin().GetAdministration() == origin {
			out = append(out, r.notice.GetId())
		}
	}
	return out
}

func (x *noticeIndex) count() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byID)
}

// ackOf is the acknowledgement of the notice as it stands, without the receiver.
func (r *noticeRec) ackOf() *alertv1.NoticeAck {
	return &alertv1.NoticeAck{
		NoticeId: r.notice.GetId(), AlertId: r.notice.GetAlertId(), Origin: r.notice.GetOrigin().GetAdministration(),
		Outcome: r.outcome, Detail: r.detail, AppliedAt: timestamppb.New(r.at),
	}
}

// classified returns h with reclassification r applied; h itself when r is nil.
func classified(h *alertv1.Handling, r *alertv1.AlertNotice) *alertv1.Handling {
	c := r.GetReclassify()
	if c == nil {
		return h
	}
	out := proto.CloneOf(h)
	if out == nil {
		out = &alertv1.Handling{}
	}
	out.Tlp, out.Code, out.Restrictions = c.GetTlp(), c.GetCode(), c.GetRestrictions()
	return out
}

func actionName(nt *alertv1.AlertNotice) string {
	if nt.GetRecall() != nil {
		return "recall"
	}
	return "reclassify"
}

func outcomeName(o alertv1.NoticeOutcome) string {
	return strings.ToLower(strings.TrimPrefix(o.String(), "NOTICE_OUTCOME_"))
}
