// Package assist is the mutual assistance request workflow between two administrations
// of a federation (docs/assistance.md): the domain (states, the transition table,
// validation with field paths, the hash chain and its fork rule, the deadline policy and
// flags) and the Service (the node's own log stream, transport over the bilateral scope,
// verification, quarantine, idempotency, watch).
package assist

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	pb "github.com/cix-exchange/cix/internal/gen/cix/assistance/v1"
)

// Side is who may take an action: the requesting (R) or the requested (Q) side.
type Side int

const (
	// Requesting is the administration that submitted the request.
	Requesting Side = iota + 1
	// Requested is the administration the request is addressed to.
	Requested
)

func (s Side) String() string {
	if s == Requesting {
		return "requesting"
	}
	return "requested"
}

// Rule is one row of the transition table: the side that may take the action, the
// states it may be taken from and the state it leads to.
type Rule struct {
	Side Side
	From []pb.RequestState
	To   pb.RequestState
}

// Short names for the table.
const (
	sDraft      = pb.RequestState_REQUEST_STATE_DRAFT
	sSubmitted  = pb.RequestState_REQUEST_STATE_SUBMITTED
	sDelivered  = pb.RequestState_REQUEST_STATE_DELIVERED
	sReceived   = pb.RequestState_REQUEST_STATE_RECEIVED
	sInProgress = pb.RequestState_REQUEST_STATE_IN_PROGRESS
	sAnswered   = pb.RequestState_REQUEST_STATE_ANSWERED
	sClosed     = pb.RequestState_REQUEST_STATE_CLOSED
	sIncomplete = pb.RequestState_REQUEST_STATE_INCOMPLETE
	sAmended    = pb.RequestState_REQUEST_STATE_AMENDED
	sPostponed  = pb.RequestState_REQUEST_STATE_POSTPONED
	sPending    = pb.RequestState_REQUEST_STATE_PENDING_AUTHORISATION
	sPartial    = pb.RequestState_REQUEST_STATE_PARTIALLY_ANSWERED
	sRefused    = pb.RequestState_REQUEST_STATE_REFUSED
	sWithdrawn  = pb.RequestState_REQUEST_STATE_WITHDRAWN
)

// Table is the transition table: every action, who may take it, from which states and
// to which state. docs/assistance.md shows the same table.
var Table = map[pb.Action]Rule{
	pb.Action_ACTION_SUBMIT:                {Requesting, []pb.RequestState{sDraft}, sSubmitted},
	pb.Action_ACTION_DELIVER:               {Requested, []pb.RequestState{sSubmitted}, sDelivered},
	pb.Action_ACTION_ACKNOWLEDGE:           {Requested, []pb.RequestState{sDelivered}, sReceived},
	pb.Action_ACTION_REQUEST_CORRECTION:    {Requested, []pb.RequestState{sReceived, sAmended}, sIncomplete},
	pb.Action_ACTION_AMEND:                 {Requesting, []pb.RequestState{sIncomplete}, sAmended},
	pb.Action_ACTION_ACCEPT:                {Requested, []pb.RequestState{sReceived, sAmended, sPostponed, sPending}, sInProgress},
	pb.Action_ACTION_POSTPONE:              {Requested, []pb.RequestState{sReceived, sAmended, sInProgress, sPending, sPartial}, sPostponed},
	pb.Action_ACTION_PENDING_AUTHORISATION: {Requested, []pb.RequestState{sReceived, sAmended, sInProgress, sPostponed, sPartial}, sPending},
	pb.Action_ACTION_PARTIAL_ANSWER:        {Requested, []pb.RequestState{sInProgress, sPostponed, sPending, sPartial}, sPartial},
	pb.Action_ACTION_ANSWER:                {Requested, []pb.RequestState{sInProgress, sPostponed, sPending, sPartial}, sAnswered},
	pb.Action_ACTION_REFUSE: {Requested, []pb.RequestState{sDelivered, sReceived, sIncomplete, sAmended, sInProgress, sPostponed,
		sPending, sPartial}, sRefused},
	pb.Action_ACTION_WITHDRAW: {Requesting, []pb.RequestState{sSubmitted, sDelivered, sReceived, sIncomplete, sAmended, sInProgress,
		sPostponed, sPending, sPartial}, sWithdrawn},
	pb.Action_ACTION_CLOSE: {Requesting, []pb.RequestState{sAnswered}, sClosed},
}

// Terminal reports whether no action leads out of s.
func Terminal(s pb.RequestState) bool {
	return s == sClosed || s == sRefused || s == sWithdrawn
}

// StateName is the state without its enum prefix ("IN_PROGRESS").
func StateName(s pb.RequestState) string {
	return strings.TrimPrefix(s.String(), "REQUEST_STATE_")
}

// ActionName is the action without its enum prefix ("ANSWER").
func ActionName(a pb.Action) string { return strings.TrimPrefix(a.String(), "ACTION_") }

// IllegalError is an action not allowed from a state, or by a side.
type IllegalError struct {
	Action pb.Action
	State  pb.RequestState
	Side   Side // the side that tried
	Reason string
}

func (e *IllegalError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("%s is not allowed on a request in state %s: %s", ActionName(e.Action), StateName(e.State), e.Reason)
	}
	return fmt.Sprintf("%s is not allowed on a request in state %s", ActionName(e.Action), StateName(e.State))
}

// Check reports whether side may take action a on a request in state s: nil, or an
// *IllegalError naming the state and the action.
func Check(a pb.Action, s pb.RequestState, side Side) error {
	r, ok := Table[a]
	if !ok {
		return &IllegalError{Action: a, State: s, Side: side, Reason: "unknown action"}
	}
	if r.Side != side {
		return &IllegalError{Action: a, State: s, Side: side, Reason: fmt.Sprintf("only the %s side takes it", r.Side)}
	}
	if !slices.Contains(r.From, s) {
		if Terminal(s) {
			return &IllegalError{Action: a, State: s, Side: side, Reason: "the request is " + strings.ToLower(StateName(s))}
		}
		return &IllegalError{Action: a, State: s, Side: side}
	}
	return nil
}

// Next is the state after action a (which Check allowed).
func Next(a pb.Action) pb.RequestState { return Table[a].To }

// violations collects field violations.
type violations []alert.FieldViolation

func (v *violations) add(field, format string, args ...any) {
	*v = append(*v, alert.FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
}

func (v violations) err(subject string) error {
	if len(v) == 0 {
		return nil
	}
	return &alert.ValidationError{Subject: subject, Violations: v}
}

var (
	codeRE      = regexp.MustCompile(`^[A-Z]{2}$`)
	legalBaseRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	hexRE       = regexp.MustCompile(`^[0-9a-f]{64}$`)
	dateRE      = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// maxText bounds free-text fields.
const maxText = 20000

func text(v *violations, field, s string, required bool) {
	switch {
	case strings.TrimSpace(s) == "" && required:
		v.add(field, "required")
	case len(s) > maxText:
		v.add(field, "at most %d bytes", maxText)
	}
}

// ValidateContent checks a request's mandatory content; field paths start with prefix
// ("content"). self is the requesting administration.
func ValidateContent(c *pb.RequestContent, prefix, self string) error {
	var v violations
	validateContent(&v, c, prefix, self)
	return v.err("request")
}

func validateContent(v *violations, c *pb.RequestContent, prefix, self string) {
	if c == nil {
		v.add(prefix, "required")
		return
	}
	p := func(f string) string { return prefix + "." + f }
	text(v, p("requesting_authority"), c.GetRequestingAuthority(), true)
	text(v, p("requested_authority"), c.GetRequestedAuthority(), true)
	switch ra := c.GetRequestedAdministration(); {
	case ra == "":
		v.add(p("requested_administration"), "required")
	case !codeRE.MatchString(ra):
		v.add(p("requested_administration"), "%q is not an ISO 3166-1 alpha-2 code", clip(ra))
	case ra == self:
		v.add(p("requested_administration"), "a request goes to another administration than %s", self)
	}
	switch lb := c.GetLegalBasis(); {
	case lb == "":
		v.add(p("legal_basis"), "required")
	case !legalBaseRE.MatchString(lb):
		v.add(p("legal_basis"), "%q is not a legal basis id (lower-case letters, digits, '.', '_', '-')", clip(lb))
	}
	if c.GetNatureOfProceedings() == pb.ProceedingsNature_PROCEEDINGS_NATURE_UNSPECIFIED {
		v.add(p("nature_of_proceedings"), "required")
	} else if _, ok := pb.ProceedingsNature_name[int32(c.GetNatureOfProceedings())]; !ok {
		v.add(p("nature_of_proceedings"), "unknown value %d", c.GetNatureOfProceedings())
	}
	text(v, p("object_and_reason"), c.GetObjectAndReason(), true)
	if len(c.GetLegalProvisions()) == 0 {
		v.add(p("legal_provisions"), "at least one legal provision is required")
	}
	for i, s := range c.GetLegalProvisions() {
		text(v, fmt.Sprintf("%s[%d]", p("legal_provisions"), i), s, true)
	}
	if len(c.GetParties()) == 0 {
		v.add(p("parties"), "at least one person or company concerned is required")
	}
	for i, pt := range c.GetParties() {
		f := fmt.Sprintf("%s[%d]", p("parties"), i)
		if pt.GetKind() == pb.PartyKind_PARTY_KIND_UNSPECIFIED {
			v.add(f+".kind", "required")
		}
		text(v, f+".name", pt.GetName(), true)
		if d := pt.GetDateOfBirth(); d != "" {
			if _, err := time.Parse("2006-01-02", d); err != nil || !dateRE.MatchString(d) {
				v.add(f+".date_of_birth", "%q is not a date YYYY-MM-DD", clip(d))
			}
		}
		if c := pt.GetCountry(); c != "" && !codeRE.MatchString(c) {
			v.add(f+".country", "%q is not an ISO 3166-1 alpha-2 code", clip(c))
		}
	}
	text(v, p("summary_of_facts"), c.GetSummaryOfFacts(), true)
	text(v, p("confidentiality"), c.GetConfidentiality(), true)
	if !c.GetRequestedTimeLimit().IsValid() {
		v.add(p("requested_time_limit"), "required")
	}
	if c.GetUrgency() == pb.Urgency_URGENCY_UNSPECIFIED {
		v.add(p("urgency"), "required")
	} else if _, ok := pb.Urgency_name[int32(c.GetUrgency())]; !ok {
		v.add(p("urgency"), "unknown value %d", c.GetUrgency())
	}
	if c.OralRequestAt != nil && !c.GetOralRequestAt().IsValid() {
		v.add(p("oral_request_at"), "not a valid time")
	}
	validateRefs(v, c.GetAttachments(), p("attachments"))
}

func validateRefs(v *violations, refs []*pb.AttachmentRef, field string) {
	for i, r := range refs {
		f := fmt.Sprintf("%s[%d]", field, i)
		text(v, f+".name", r.GetName(), true)
		if !hexRE.MatchString(r.GetSha256()) {
			v.add(f+".sha256", "64 lower-case hex digits required")
		}
		if !hexRE.MatchString(r.GetCipherSha256()) {
			v.add(f+".cipher_sha256", "64 lower-case hex digits required")
		}
		if r.GetSize() < 0 || r.GetCipherSize() <= 0 {
			v.add(f+".size", "sizes must be positive")
		}
	}
}

// ValidateReply checks (partial) answer items; field paths start with prefix ("reply").
func ValidateReply(r *pb.Reply, prefix string) error {
	var v violations
	validateReply(&v, r, prefix)
	return v.err("request")
}

func validateReply(v *violations, r *pb.Reply, prefix string) {
	if r == nil {
		v.add(prefix, "required")
		return
	}
	if len(r.GetItems()) == 0 {
		v.add(prefix+".items", "at least one item is required")
	}
	for i, it := range r.GetItems() {
		f := fmt.Sprintf("%s.items[%d]", prefix, i)
		text(v, f+".title", it.GetTitle(), true)
		text(v, f+".text", it.GetText(), len(it.GetAttachments()) == 0)
		h := it.GetHandling()
		switch {
		case h == nil:
			v.add(f+".handling", "required (handling code and TLP)")
		default:
			if h.GetTlp() == alertv1.Tlp_TLP_UNSPECIFIED {
				v.add(f+".handling.tlp", "required")
			} else if _, ok := alertv1.Tlp_name[int32(h.GetTlp())]; !ok {
				v.add(f+".handling.tlp", "unknown value %d", h.GetTlp())
			}
			if h.GetCode() == alertv1.HandlingCode_HANDLING_CODE_UNSPECIFIED {
				v.add(f+".handling.code", "required (H0-H3)")
			} else if _, ok := alertv1.HandlingCode_name[int32(h.GetCode())]; !ok {
				v.add(f+".handling.code", "unknown value %d", h.GetCode())
			}
			if h.GetCode() == alertv1.HandlingCode_HANDLING_CODE_H3 && strings.TrimSpace(h.GetRestrictions()) == "" {
				v.add(f+".handling.restrictions", "required with H3")
			}
		}
		validateRefs(v, it.GetAttachments(), f+".attachments")
	}
	text(v, prefix+".note", r.GetNote(), false)
}

// ValidateTransition checks the action's content of t (what the acting side must give);
// field paths are those of the API request that carries it. It is also what a receiver
// checks on a received transition.
func ValidateTransition(t *pb.Transition, self string) error {
	var v violations
	switch t.GetAction() {
	case pb.Action_ACTION_SUBMIT, pb.Action_ACTION_AMEND:
		validateContent(&v, t.GetRequest(), "content", t.GetRequestingAdministration())
		if t.GetRequest().GetRequestedAdministration() != t.GetRequestedAdministration() {
			v.add("content.requested_administration", "a request cannot change its requested administration")
		}
	case pb.Action_ACTION_DELIVER:
		if !hexRE.MatchString(t.GetDelivery().GetSubmitSha256()) {
			v.add("delivery.submit_sha256", "required")
		}
	case pb.Action_ACTION_ACKNOWLEDGE:
		if !t.GetAcknowledgement().GetDeadline().IsValid() {
			v.add("acknowledgement.deadline", "required")
		}
	case pb.Action_ACTION_REQUEST_CORRECTION:
		c := t.GetCorrection()
		if len(c.GetReasons()) == 0 {
			v.add("correction.reasons", "at least one reason is required")
		}
		for i, r := range c.GetReasons() {
			text(&v, fmt.Sprintf("correction.reasons[%d]", i), r, true)
		}
	case pb.Action_ACTION_ACCEPT:
		text(&v, "note", t.GetAcceptance().GetNote(), false)
	case pb.Action_ACTION_POSTPONE:
		p := t.GetPostponement()
		if len(p.GetReasons()) == 0 {
			v.add("postponement.reasons", "at least one reason is required")
		}
		for i, r := range p.GetReasons() {
			text(&v, fmt.Sprintf("postponement.reasons[%d]", i), r, true)
		}
		if p.GetUntil() != nil && !p.GetUntil().IsValid() {
			v.add("postponement.until", "not a valid time")
		}
	case pb.Action_ACTION_PENDING_AUTHORISATION:
		d := t.GetDelayNotice()
		if d.GetExpectedDuration() == nil {
			v.add("delay_notice.expected_duration", "required")
		} else if !d.GetExpectedDuration().IsValid() || d.GetExpectedDuration().AsDuration() <= 0 {
			v.add("delay_notice.expected_duration", "must be positive")
		}
		if len(d.GetReasons()) == 0 {
			v.add("delay_notice.reasons", "at least one reason is required")
		}
		for i, r := range d.GetReasons() {
			text(&v, fmt.Sprintf("delay_notice.reasons[%d]", i), r, true)
		}
	case pb.Action_ACTION_PARTIAL_ANSWER, pb.Action_ACTION_ANSWER:
		validateReply(&v, t.GetReply(), "reply")
	case pb.Action_ACTION_REFUSE:
		r := t.GetRefusal()
		if r.GetReason() == pb.RefusalReason_REFUSAL_REASON_UNSPECIFIED {
			v.add("refusal.reason", "required")
		} else if _, ok := pb.RefusalReason_name[int32(r.GetReason())]; !ok {
			v.add("refusal.reason", "unknown value %d", r.GetReason())
		}
		text(&v, "refusal.text", r.GetText(), true)
	case pb.Action_ACTION_WITHDRAW:
		text(&v, "reason", t.GetWithdrawal().GetReason(), false)
	case pb.Action_ACTION_CLOSE:
		if _, ok := pb.OutcomeRating_name[int32(t.GetClosure().GetOutcome())]; !ok {
			v.add("closure.outcome", "unknown value %d", t.GetClosure().GetOutcome())
		}
		text(&v, "closure.feedback", t.GetClosure().GetFeedback(), false)
	default:
		v.add("action", "unknown action %d", t.GetAction())
	}
	return v.err("request")
}

// contentMatches reports whether the oneof content of t is the one its action carries.
func contentMatches(t *pb.Transition) bool {
	switch t.GetAction() {
	case pb.Action_ACTION_SUBMIT, pb.Action_ACTION_AMEND:
		return t.GetRequest() != nil
	case pb.Action_ACTION_DELIVER:
		return t.GetDelivery() != nil
	case pb.Action_ACTION_ACKNOWLEDGE:
		return t.GetAcknowledgement() != nil
	case pb.Action_ACTION_REQUEST_CORRECTION:
		return t.GetCorrection() != nil
	case pb.Action_ACTION_ACCEPT:
		return t.GetAcceptance() != nil
	case pb.Action_ACTION_POSTPONE:
		return t.GetPostponement() != nil
	case pb.Action_ACTION_PENDING_AUTHORISATION:
		return t.GetDelayNotice() != nil
	case pb.Action_ACTION_PARTIAL_ANSWER, pb.Action_ACTION_ANSWER:
		return t.GetReply() != nil
	case pb.Action_ACTION_REFUSE:
		return t.GetRefusal() != nil
	case pb.Action_ACTION_WITHDRAW:
		return t.GetWithdrawal() != nil
	case pb.Action_ACTION_CLOSE:
		return t.GetClosure() != nil
	}
	return false
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
