package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/feed"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
)

// checkHandling applies the publishing node's handling rules to a valid alert (see
// docs/transport.md, "Handling rules"):
//
//   - personal data goes to all members only with handling.personal_data_all_members_approved;
//   - on the federation layout, TLP:RED is never addressed to all members;
//   - an alert that supersedes another administration's TLP:RED or H2 alert held here
//     is refused: only its origin may amend or re-publish it.
func (n *Node) checkHandling(ctx context.Context, a *alertv1.Alert) error {
	h := a.GetHandling()
	all := alert.AllMembers(a.GetAudience())
	var vs []alert.FieldViolation
	if all && h.GetPersonalData() && !h.GetPersonalDataAllMembersApproved() {
		vs = append(vs, alert.FieldViolation{Field: "alert.handling.personal_data_all_members_approved",
			Description: "the alert holds personal data and is addressed to all members: address groups or administrations, or set this to approve sending it to every member"})
	}
	if all && n.fed.Load() != nil && h.GetTlp() == alertv1.Tlp_TLP_RED {
		vs = append(vs, alert.FieldViolation{Field: "alert.handling.tlp",
			Description: "TLP:RED is for named recipients: address groups or administrations, not all members"})
	}
	if len(vs) > 0 {
		return &alert.ValidationError{Subject: "alert " + a.GetId(), Violations: vs}
	}
	if a.GetSupersedes() == "" {
		return nil
	}
	e, err := n.feed.Get(ctx, a.GetSupersedes())
	switch {
	case errors.Is(err, feed.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case e.Signer.Administration == n.id.Administration() || e.Notice:
		return nil
	}
	va, err := n.decodeEntry(e)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	n.classify(va, e.Signer.Administration)
	for _, hh := range []*alertv1.Handling{va.GetAlert().GetHandling(), va.GetHandling()} {
		if hh.GetTlp() == alertv1.Tlp_TLP_RED || hh.GetCode() == alertv1.HandlingCode_HANDLING_CODE_H2 {
			return fmt.Errorf("%w: alert.supersedes: alert %s is %s of %s: only %s may amend or re-publish it",
				ErrFailedPrecondition, a.GetSupersedes(), restriction(hh), e.Signer.Administration, e.Signer.Administration)
		}
	}
	return nil
}

func restriction(h *alertv1.Handling) string {
	if h.GetTlp() == alertv1.Tlp_TLP_RED {
		return "TLP:RED"
	}
	return "handling code H2 (no onward sharing without the provider's permission)"
}
