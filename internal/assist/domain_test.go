package assist

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	pb "github.com/cix-exchange/cix/internal/gen/cix/assistance/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The table as a list of legal (state, action) pairs, written out independently of
// Table: every pair not listed must be refused.
var legal = map[pb.RequestState][]pb.Action{
	sDraft:      {pb.Action_ACTION_SUBMIT},
	sSubmitted:  {pb.Action_ACTION_DELIVER, pb.Action_ACTION_WITHDRAW},
	sDelivered:  {pb.Action_ACTION_ACKNOWLEDGE, pb.Action_ACTION_REFUSE, pb.Action_ACTION_WITHDRAW},
	sReceived:   {pb.Action_ACTION_REQUEST_CORRECTION, pb.Action_ACTION_ACCEPT, pb.Action_ACTION_POSTPONE, pb.Action_ACTION_PENDING_AUTHORISATION, pb.Action_ACTION_REFUSE, pb.Action_ACTION_WITHDRAW},
	sIncomplete: {pb.Action_ACTION_AMEND, pb.Action_ACTION_REFUSE, pb.Action_ACTION_WITHDRAW},
	sAmended:    {pb.Action_ACTION_REQUEST_CORRECTION, pb.Action_ACTION_ACCEPT, pb.Action_ACTION_POSTPONE, pb.Action_ACTION_PENDING_AUTHORISATION, pb.Action_ACTION_REFUSE, pb.Action_ACTION_WITHDRAW},
	sInProgress: {pb.Action_ACTION_POSTPONE, pb.Action_ACTION_PENDING_AUTHORISATION, pb.Action_ACTION_PARTIAL_ANSWER, pb.Action_ACTION_ANSWER, pb.Action_ACTION_REFUSE, pb.Action_ACTION_WITHDRAW},
	sPostponed:  {pb.Action_ACTION_ACCEPT, pb.Action_ACTION_PENDING_AUTHORISATION, pb.Action_ACTION_PARTIAL_ANSWER, pb.Action_ACTION_ANSWER, pb.Action_ACTION_REFUSE, pb.Action_ACTION_WITHDRAW},
	sPending:    {pb.Action_ACTION_ACCEPT, pb.Action_ACTION_POSTPONE, pb.Action_ACTION_PARTIAL_ANSWER, pb.Action_ACTION_ANSWER, pb.Action_ACTION_REFUSE, pb.Action_ACTION_WITHDRAW},
	sPartial:    {pb.Action_ACTION_POSTPONE, pb.Action_ACTION_PENDING_AUTHORISATION, pb.Action_ACTION_PARTIAL_ANSWER, pb.Action_ACTION_ANSWER, pb.Action_ACTION_REFUSE, pb.Action_ACTION_WITHDRAW},
	sAnswered:   {pb.Action_ACTION_CLOSE},
	sClosed:     nil,
	sRefused:    nil,
	sWithdrawn:  nil,
}

var requesterActions = []pb.Action{pb.Action_ACTION_SUBMIT, pb.Action_ACTION_AMEND, pb.Action_ACTION_WITHDRAW, pb.Action_ACTION_CLOSE}

func TestTransitionTable(t *testing.T) {
	if len(legal) != len(pb.RequestState_name)-1 {
		t.Fatalf("the test covers %d states, the API has %d", len(legal), len(pb.RequestState_name)-1)
	}
	for sv := range pb.RequestState_name {
		s := pb.RequestState(sv)
		if s == pb.RequestState_REQUEST_STATE_UNSPECIFIED {
			continue
		}
		for av := range pb.Action_name {
			a := pb.Action(av)
			if a == pb.Action_ACTION_UNSPECIFIED {
				continue
			}
			side := Requested
			if slices.Contains(requesterActions, a) {
				side = Requesting
			}
			err := Check(a, s, side)
			if ok := slices.Contains(legal[s], a); ok != (err == nil) {
				t.Errorf("%s from %s by the %s side: %v, want legal=%v", ActionName(a), StateName(s), side, err, ok)
			}
			other := Requesting + Requested - side
			if Check(a, s, other) == nil {
				t.Errorf("%s from %s allowed to the %s side", ActionName(a), StateName(s), other)
			}
			var ie *IllegalError
			if err != nil && (!errors.As(err, &ie) || !strings.Contains(err.Error(), ActionName(a)) || !strings.Contains(err.Error(), StateName(s))) {
				t.Errorf("refusal %q does not name the action and the state", err)
			}
		}
	}
	for _, s := range []pb.RequestState{sClosed, sRefused, sWithdrawn} {
		if !Terminal(s) {
			t.Errorf("%s is not terminal", StateName(s))
		}
	}
}

func content() *pb.RequestContent {
	return &pb.RequestContent{
		RequestingAuthority: "FIOD", RequestedAuthority: "AAD&A", RequestedAdministration: "BE", LegalBasis: "naples-ii-art-10",
		NatureOfProceedings: pb.ProceedingsNature_PROCEEDINGS_NATURE_ADMINISTRATIVE, ObjectAndReason: "x", LegalProvisions: []string{"art. 10"},
		Parties: []*pb.Party{{Kind: pb.PartyKind_PARTY_KIND_PERSON, Name: "J. Doe", DateOfBirth: "1980-02-29"}}, SummaryOfFacts: "x",
		Confidentiality: "x", RequestedTimeLimit: timestamppb.Now(), Urgency: pb.Urgency_URGENCY_NORMAL,
	}
}

func fields(t *testing.T, err error) []string {
	t.Helper()
	var ve *alert.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v is not a validation error", err)
	}
	var out []string
	for _, v := range ve.Violations {
		out = append(out, v.Field)
	}
	return out
}

func TestValidateNamesFields(t *testing.T) {
	if err := ValidateContent(content(), "content", "NL"); err != nil {
		t.Fatal(err)
	}
	got := fields(t, ValidateContent(&pb.RequestContent{Parties: []*pb.Party{{DateOfBirth: "1980-13-01", Country: "nl"}}}, "content", "NL"))
	for _, f := range []string{"content.requesting_authority", "content.requested_authority", "content.requested_administration", "content.legal_basis",
		"content.nature_of_proceedings", "content.object_and_reason", "content.legal_provisions", "content.parties[0].kind", "content.parties[0].name",
		"content.parties[0].date_of_birth", "content.parties[0].country", "content.summary_of_facts", "content.confidentiality",
		"content.requested_time_limit", "content.urgency"} {
		if !slices.Contains(got, f) {
			t.Errorf("%s not named in %v", f, got)
		}
	}
	c := content()
	c.RequestedAdministration = "NL"
	if got := fields(t, ValidateContent(c, "content", "NL")); !slices.Equal(got, []string{"content.requested_administration"}) {
		t.Errorf("a request to oneself: %v", got)
	}
	for _, tc := range []struct {
		t    *pb.Transition
		want []string
	}{
		{&pb.Transition{Action: pb.Action_ACTION_REFUSE, Content: &pb.Transition_Refusal{Refusal: &pb.Refusal{}}}, []string{"refusal.reason", "refusal.text"}},
		{&pb.Transition{Action: pb.Action_ACTION_POSTPONE}, []string{"postponement.reasons"}},
		{&pb.Transition{Action: pb.Action_ACTION_PENDING_AUTHORISATION, Content: &pb.Transition_DelayNotice{DelayNotice: &pb.DelayNotice{ExpectedDuration: durationpb.New(-time.Hour)}}},
			[]string{"delay_notice.expected_duration", "delay_notice.reasons"}},
		{&pb.Transition{Action: pb.Action_ACTION_REQUEST_CORRECTION}, []string{"correction.reasons"}},
		{&pb.Transition{Action: pb.Action_ACTION_ANSWER, Content: &pb.Transition_Reply{Reply: &pb.Reply{Items: []*pb.ReplyItem{
			{Title: "a", Text: "b", Handling: &alertv1.Handling{Tlp: alertv1.Tlp_TLP_GREEN, Code: alertv1.HandlingCode_HANDLING_CODE_H3}},
			{Title: "c", Text: "d"},
		}}}}, []string{"reply.items[0].handling.restrictions", "reply.items[1].handling"}},
		{&pb.Transition{Action: pb.Action_ACTION_PARTIAL_ANSWER, Content: &pb.Transition_Reply{Reply: &pb.Reply{}}}, []string{"reply.items"}},
		{&pb.Transition{Action: pb.Action_ACTION_ACKNOWLEDGE}, []string{"acknowledgement.deadline"}},
	} {
		if got := fields(t, ValidateTransition(tc.t, "BE")); !slices.Equal(got, tc.want) {
			t.Errorf("%s: fields %v, want %v", ActionName(tc.t.GetAction()), got, tc.want)
		}
	}
}

// entry builds a held transition with a made-up envelope digest.
func entry(sha, prev string, a pb.Action, at time.Time) *Entry {
	return &Entry{SHA256: sha, T: &pb.Transition{Action: a, PrevSha256: prev, IssuedAt: timestamppb.New(at)}}
}

func TestChainAndForkRule(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	submit := entry("a1", "", pb.Action_ACTION_SUBMIT, t0)
	deliver := entry("b2", "a1", pb.Action_ACTION_DELIVER, t0.Add(time.Second))
	withdraw := entry("c3", "a1", pb.Action_ACTION_WITHDRAW, t0.Add(2*time.Second))
	ack := entry("d4", "b2", pb.Action_ACTION_ACKNOWLEDGE, t0.Add(3*time.Second))
	// Every arrival order gives the same history: the earliest of the fork wins.
	for _, order := range [][]*Entry{{submit, deliver, withdraw, ack}, {submit, withdraw, deliver, ack}, {ack, withdraw, deliver, submit}} {
		c := BuildChain(order)
		var got []string
		for _, e := range c.Canonical {
			got = append(got, e.SHA256)
		}
		if !slices.Equal(got, []string{"a1", "b2", "d4"}) || c.State() != sReceived {
			t.Fatalf("canonical %v state %v", got, StateName(c.State()))
		}
		if c.SupersededBy["c3"] != "b2" || len(c.SupersededBy) != 1 || len(c.Forks) != 1 {
			t.Fatalf("superseded %v forks %v", c.SupersededBy, c.Forks)
		}
	}
	// Same issued_at: the smaller digest wins; what is chained on the loser is
	// superseded with it.
	w2 := entry("0f", "a1", pb.Action_ACTION_WITHDRAW, t0.Add(time.Second))
	after := entry("e5", "b2", pb.Action_ACTION_ACKNOWLEDGE, t0.Add(3*time.Second))
	c := BuildChain([]*Entry{submit, deliver, w2, after})
	if c.Head() != w2 || c.State() != sWithdrawn || c.SupersededBy["b2"] != "0f" || c.SupersededBy["e5"] != "0f" {
		t.Fatalf("head %v, superseded %v", c.Head().SHA256, c.SupersededBy)
	}
	h := History(c, []*Entry{submit, deliver, w2, after})
	if len(h) != 4 || h[1].GetSha256() != "0f" || h[2].GetSupersededBy() != "0f" || h[1].GetStateAfter() != sWithdrawn || h[2].GetStateAfter() != 0 {
		t.Fatalf("history %v", h)
	}
	if p := Path([]*Entry{submit, deliver, ack}, ack); len(p) != 3 || p[0] != submit {
		t.Fatalf("path %v", p)
	}
	if p := Path([]*Entry{submit, ack}, ack); p != nil {
		t.Fatalf("path across a missing link: %v", p)
	}
	if BuildChain(nil).State() != sDraft {
		t.Fatal("an empty history is not a draft")
	}
}

func TestFlagsWithClock(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	sub := entry("a1", "", pb.Action_ACTION_SUBMIT, t0)
	sub.T.Content = &pb.Transition_Request{Request: content()}
	del := entry("b2", "a1", pb.Action_ACTION_DELIVER, t0)
	ack := entry("c3", "b2", pb.Action_ACTION_ACKNOWLEDGE, t0.Add(time.Hour))
	ack.T.Content = &pb.Transition_Acknowledgement{Acknowledgement: &pb.Acknowledgement{Deadline: timestamppb.New(t0.Add(9 * time.Hour))}}
	c := BuildChain([]*Entry{sub, del, ack})
	if s := Summarise(c, nil, 24*time.Hour, t0.Add(8*time.Hour)); slices.Contains(s.Flags, pb.Flag_FLAG_OVERDUE) {
		t.Fatal("overdue before the deadline")
	}
	if s := Summarise(c, nil, 24*time.Hour, t0.Add(10*time.Hour)); !slices.Contains(s.Flags, pb.Flag_FLAG_OVERDUE) {
		t.Fatal("not overdue after the deadline")
	}
	pend := entry("d4", "c3", pb.Action_ACTION_PENDING_AUTHORISATION, t0.Add(2*time.Hour))
	pend.T.Content = &pb.Transition_DelayNotice{DelayNotice: &pb.DelayNotice{ExpectedDuration: durationpb.New(48 * time.Hour), Reasons: []string{"judge"}}}
	c = BuildChain([]*Entry{sub, del, ack, pend})
	s := Summarise(c, nil, 24*time.Hour, t0.Add(10*time.Hour))
	if slices.Contains(s.Flags, pb.Flag_FLAG_OVERDUE) || !s.EffectiveDeadline.Equal(t0.Add(50*time.Hour)) || !s.Deadline.Equal(t0.Add(9*time.Hour)) {
		t.Fatalf("after a delay notice: flags %v effective %v", s.Flags, s.EffectiveDeadline)
	}
	ans := entry("e5", "d4", pb.Action_ACTION_ANSWER, t0.Add(3*time.Hour))
	if s := Summarise(BuildChain([]*Entry{sub, del, ack, pend, ans}), nil, 24*time.Hour, t0.Add(100*time.Hour)); slices.Contains(s.Flags, pb.Flag_FLAG_OVERDUE) {
		t.Fatal("an answered request is overdue")
	}
	// Oral requests.
	oral := content()
	oral.OralRequestAt = timestamppb.New(t0.Add(-30 * time.Hour))
	if s := Summarise(BuildChain(nil), oral, 24*time.Hour, t0); !slices.Contains(s.Flags, pb.Flag_FLAG_CONFIRMATION_OVERDUE) {
		t.Fatalf("draft of an oral request past 24h: %v", s.Flags)
	}
	if s := Summarise(BuildChain(nil), oral, 48*time.Hour, t0); len(s.Flags) != 0 {
		t.Fatalf("draft of an oral request within 48h: %v", s.Flags)
	}
	sub.T.Content = &pb.Transition_Request{Request: oral}
	if s := Summarise(BuildChain([]*Entry{sub}), nil, 24*time.Hour, t0); !slices.Contains(s.Flags, pb.Flag_FLAG_CONFIRMED_LATE) {
		t.Fatalf("late confirmation: %v", s.Flags)
	}
}

func TestMsgIDDeterministic(t *testing.T) {
	if MsgID("NL", "x") != MsgID("NL", "x") || MsgID("NL", "x") == MsgID("BE", "x") || MsgID("NL", "x") == MsgID("NL", "y") {
		t.Fatal("MsgID is not a function of (administration, client_id)")
	}
	if got := Subject("NL", "BE", "abc"); got != "cix.out.NL.to.BE.assist.abc" {
		t.Fatalf("subject %s", got)
	}
}
