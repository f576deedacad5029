package node

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/feed"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	envelopev1 "github.com/cix-exchange/cix/internal/gen/cix/envelope/v1"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// NoticeResult is the outcome of issuing a notice.
type NoticeResult struct {
	// Notice as signed and stored; the stored one when Duplicate.
	Notice    *alertv1.AlertNotice
	Sequence  uint64
	Duplicate bool
}

// Recall signs and publishes the recall of alert alertID, which this administration
// originated. noticeID makes retries idempotent; empty, one is generated. An unspecified
// code is RECALL_REASON_OTHER.
func (n *Node) Recall(ctx context.Context, alertID, noticeID, reason string, code alertv1.RecallReason) (NoticeResult, error) {
	if code == alertv1.RecallReason_RECALL_REASON_UNSPECIFIED {
		code = alertv1.RecallReason_RECALL_REASON_OTHER
	}
	return n.issue(ctx, &alertv1.AlertNotice{
		Id: noticeID, AlertId: alertID,
		Action: &alertv1.AlertNotice_Recall{Recall: &alertv1.Recall{Reason: strings.TrimSpace(reason), Code: code}},
	})
}

// Reclassify signs and publishes a new classification of alert alertID, which this
// administration originated.
func (n *Node) Reclassify(ctx context.Context, alertID, noticeID string, h *alertv1.Reclassification) (NoticeResult, error) {
	nt := &alertv1.AlertNotice{Id: noticeID, AlertId: alertID}
	if h != nil {
		nt.Action = &alertv1.AlertNotice_Reclassify{Reclassify: proto.CloneOf(h)}
	}
	return n.issue(ctx, nt)
}

// issue completes a notice (id, origin, issue time), checks it and that the alert is one
// of this administration's that the node holds, signs it and stores it on the alert
// stream under cix.alert.v1.<ADMIN>.notice.<id>, or, on the federation layout, on the
// outbound stream once per scope of the alert: cix.out.<ADMIN>.<scope>.notice.<id>.
func (n *Node) issue(ctx context.Context, nt *alertv1.AlertNotice) (NoticeResult, error) {
	admin := n.id.Administration()
	nt.Id, nt.AlertId = strings.ToLower(strings.TrimSpace(nt.GetId())), strings.ToLower(strings.TrimSpace(nt.GetAlertId()))
	if nt.Id == "" {
		nt.Id = uuid.NewString()
	}
	nt.Origin = &alertv1.Origin{Administration: admin, Node: n.id.Node()}
	nt.IssuedAt = timestamppb.New(n.now())
	if err := alert.ValidateNotice(nt); err != nil {
		return NoticeResult{}, requestFields(err)
	}
	subjects := []string{bus.AlertSubject(admin, bus.NoticeKind, nt.Id)}
	if n.bus.Federated() {
		// The notice travels in the scopes of its alert, known from the feed.
		au, err := n.originatedAudience(ctx, nt.AlertId)
		if err != nil {
			return NoticeResult{}, err
		}
		subjects = noticeSubjects(admin, au, nt.Id)
	} else if err := n.checkOriginated(ctx, nt.AlertId); err != nil {
		return NoticeResult{}, err
	}
	data, _, err := n.sign(ctx, envelope.PayloadTypeNotice, nt)
	if err != nil {
		return NoticeResult{}, err
	}
	ack, err := n.bus.Publish(ctx, subjects[0], nt.Id, data)
	if err != nil {
		return NoticeResult{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	res := NoticeResult{Notice: nt, Sequence: ack.Sequence}
	if ack.Duplicate {
		// A retry: answer with the notice stored first, unless the id names another notice.
		m, err := n.bus.StoredAlert(ctx, subjects[0])
		if err != nil || m == nil {
			return NoticeResult{}, fmt.Errorf("%w: look up stored notice %s: %v", ErrUnavailable, nt.Id, err)
		}
		stored, err := decodeNotice(m.Data)
		if err != nil {
			return NoticeResult{}, fmt.Errorf("stored notice %s: %w", nt.Id, err)
		}
		if stored.GetAlertId() != nt.AlertId || !proto.Equal(stored.GetRecall(), nt.GetRecall()) ||
			!proto.Equal(stored.GetReclassify(), nt.GetReclassify()) {
			return NoticeResult{}, invalid("notice_id", "%s is already the id of another notice", nt.Id)
		}
		res = NoticeResult{Notice: stored, Sequence: m.Sequence, Duplicate: true}
		data = m.Data // the other scopes get the stored notice, if a crash left them out
	}
	for _, subject := range subjects[1:] { // idempotent: one message per subject
		if _, err := n.bus.Publish(ctx, subject, nt.Id, data); err != nil {
			return NoticeResult{}, fmt.Errorf("%w: %w (retry with notice id %s)", ErrUnavailable, err, nt.Id)
		}
	}
	if !res.Duplicate {
		n.log.Info("notice published", "id", nt.Id, "alert_id", nt.AlertId, "action", actionName(nt), "seq", ack.Sequence, "subjects", len(subjects))
	}
	return res, nil
}

// noticeSubjects are the outbound subjects of notice id of origin about an alert for
// audience au: one per scope of the alert.
func noticeSubjects(origin string, au *alertv1.Audience, id string) []string {
	if alert.AllMembers(au) {
		return []string{federation.OutboundSubject(origin, federation.AllMembers(), bus.NoticeKind, id)}
	}
	var out []string
	for _, g := range au.GetGroups() {
		out = append(out, federation.OutboundSubject(origin, federation.ToGroup(g), bus.NoticeKind, id))
	}
	for _, c := range au.GetAdministrations() {
		out = append(out, federation.OutboundSubject(origin, federation.ToMember(c), bus.NoticeKind, id))
	}
	return out
}

// originatedAudience returns the signed audience of alert id, which this administration
// published and this node stored in its feed (federation layout: the notice must travel
// in the alert's scopes, so the node must hold the alert).
func (n *Node) originatedAudience(ctx context.Context, id string) (*alertv1.Audience, error) {
	e, err := n.feed.Get(ctx, id)
	switch {
	case errors.Is(err, feed.ErrNotFound):
		return nil, fmt.Errorf("%w: this node holds no alert %s of %s (an alert just published is held once the node has received it back)", ErrNotFound, id, n.id.Administration())
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case e.Signer.Administration != n.id.Administration():
		return nil, fmt.Errorf("%w: alert %s is of %s; only its originator may recall or reclassify it", ErrPermission, id, e.Signer.Administration)
	}
	au, err := envelopeAudience(e.Envelope)
	if err != nil {
		return nil, fmt.Errorf("alert %s in the feed: %w", id, err)
	}
	return au, nil
}

// envelopeAudience reads the signed audience of a stored (verified) alert envelope,
// plaintext or sealed, without decrypting.
func envelopeAudience(raw []byte) (*alertv1.Audience, error) {
	env := &envelopev1.Envelope{}
	if err := proto.Unmarshal(raw, env); err != nil {
		return nil, err
	}
	switch env.GetPayloadType() {
	case envelope.PayloadTypeAlert:
		a := &alertv1.Alert{}
		if err := proto.Unmarshal(env.GetPayload(), a); err != nil {
			return nil, err
		}
		return a.GetAudience(), nil
	case envelope.PayloadTypeSealedAlert:
		sa := &alertv1.SealedAlert{}
		if err := proto.Unmarshal(env.GetPayload(), sa); err != nil {
			return nil, err
		}
		return sa.GetAudience(), nil
	}
	return nil, fmt.Errorf("payload type %q is not an alert", env.GetPayloadType())
}

// checkOriginated checks that alert id is one this administration published: in the
// feed with this administration as its verified origin, or, not stored there yet, on
// the alert stream under this administration's subject.
func (n *Node) checkOriginated(ctx context.Context, id string) error {
	admin := n.id.Administration()
	e, err := n.feed.Get(ctx, id)
	switch {
	case err == nil && e.Signer.Administration != admin:
		return fmt.Errorf("%w: alert %s is of %s; only its originator may recall or reclassify it", ErrPermission, id, e.Signer.Administration)
	case err == nil:
		return nil
	case !errors.Is(err, feed.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	for k := range alertv1.AlertKind_name {
		if kind := alert.KindName(alertv1.AlertKind(k)); kind != "" {
			m, err := n.bus.StoredAlert(ctx, bus.AlertSubject(admin, kind, id))
			if err != nil {
				return fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
			if m != nil {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: this administration published no alert %s", ErrNotFound, id)
}

// requestFields renames the notice's fields in a validation error after the request's.
func requestFields(err error) error {
	var ve *alert.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	renames := []struct{ from, to string }{
		{"notice.id", "notice_id"}, {"notice.alert_id", "alert_id"}, {"notice.recall.", ""},
		{"notice.reclassify", "handling"}, {"notice.action", "handling"},
	}
	out := &alert.ValidationError{Subject: "request"}
	for _, v := range ve.Violations {
		for _, r := range renames {
			if rest, ok := strings.CutPrefix(v.Field, r.from); ok {
				v.Field = r.to + rest
				break
			}
		}
		out.Violations = append(out.Violations, v)
	}
	return out
}
