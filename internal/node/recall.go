package node

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/feed"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
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
// stream under cix.alert.v1.<ADMIN>.notice.<id>.
func (n *Node) issue(ctx context.Context, nt *alertv1.AlertNotice) (NoticeResult, error) {
	if n.bus.Federated() {
		return NoticeResult{}, fmt.Errorf("%w: recalls and reclassifications do not travel on the federation layout yet (docs/transport.md)", ErrUnsupported)
	}
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
	if err := n.checkOriginated(ctx, nt.AlertId); err != nil {
		return NoticeResult{}, err
	}
	data, _, err := n.sign(ctx, envelope.PayloadTypeNotice, nt)
	if err != nil {
		return NoticeResult{}, err
	}
	subject := bus.AlertSubject(admin, bus.NoticeKind, nt.Id)
	ack, err := n.bus.Publish(ctx, subject, nt.Id, data)
	if err != nil {
		return NoticeResult{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if !ack.Duplicate {
		n.log.Info("notice published", "id", nt.Id, "alert_id", nt.AlertId, "action", actionName(nt), "seq", ack.Sequence)
		return NoticeResult{Notice: nt, Sequence: ack.Sequence}, nil
	}
	// A retry: answer with the notice stored first, unless the id names another notice.
	m, err := n.bus.StoredAlert(ctx, subject)
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
	return NoticeResult{Notice: stored, Sequence: m.Sequence, Duplicate: true}, nil
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
