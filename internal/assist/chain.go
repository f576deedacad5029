package assist

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	pb "github.com/cix-exchange/cix/internal/gen/cix/assistance/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Entry is one verified transition a node holds: its own or received.
type Entry struct {
	// T is the decrypted transition.
	T *pb.Transition
	// Envelope is the signed envelope exactly as published and stored; SHA256 its
	// digest (hex), the link the next transition names in prev_sha256.
	Envelope []byte
	SHA256   string
	// Signer of the envelope.
	SignerAdministration, SignerNode, KeyID string
	// Subject it travelled on.
	Subject string
	// StoredAt is when this node's log stored it; Seq its log sequence.
	StoredAt time.Time
	Seq      uint64
	// Own: signed by this node.
	Own bool
}

// Digest is the hex SHA-256 of envelope bytes.
func Digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// better reports whether a wins over b among transitions chained on the same one: the
// earliest issued_at, then the smaller SHA-256.
func better(a, b *Entry) bool {
	ta, tb := a.T.GetIssuedAt().AsTime(), b.T.GetIssuedAt().AsTime()
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.SHA256 < b.SHA256
}

// Chain is the canonical history of a request computed from every transition held.
type Chain struct {
	// Canonical is the chosen history, oldest first.
	Canonical []*Entry
	// SupersededBy maps the SHA-256 of every transition off the canonical history to the
	// winner at the fork it lost.
	SupersededBy map[string]string
	// Forks lists the fork points: (winner, loser) pairs of transitions chained on the
	// same one.
	Forks [][2]string
}

// Head is the last canonical transition, nil for none.
func (c *Chain) Head() *Entry {
	if len(c.Canonical) == 0 {
		return nil
	}
	return c.Canonical[len(c.Canonical)-1]
}

// State is the state after the canonical history (DRAFT when empty).
func (c *Chain) State() pb.RequestState {
	if h := c.Head(); h != nil {
		return Next(h.T.GetAction())
	}
	return pb.RequestState_REQUEST_STATE_DRAFT
}

// BuildChain orders the transitions of one request: starting from the first
// transition (empty prev), it follows at each step the best child (see better); every
// other child and everything chained after it is superseded by the winner of that
// step. Both sides hold the same transitions once delivery is complete, so both choose
// the same history.
func BuildChain(entries []*Entry) *Chain {
	children := map[string][]*Entry{}
	for _, e := range entries {
		children[e.T.GetPrevSha256()] = append(children[e.T.GetPrevSha256()], e)
	}
	c := &Chain{SupersededBy: map[string]string{}}
	var supersede func(e *Entry, by string)
	supersede = func(e *Entry, by string) {
		if _, done := c.SupersededBy[e.SHA256]; done {
			return
		}
		c.SupersededBy[e.SHA256] = by
		for _, k := range children[e.SHA256] {
			supersede(k, by)
		}
	}
	prev := ""
	seen := map[string]bool{}
	for {
		ks := children[prev]
		if len(ks) == 0 || seen[prev] {
			break
		}
		seen[prev] = true
		best := ks[0]
		for _, k := range ks[1:] {
			if better(k, best) {
				best = k
			}
		}
		for _, k := range ks {
			if k != best {
				supersede(k, best.SHA256)
				c.Forks = append(c.Forks, [2]string{best.SHA256, k.SHA256})
			}
		}
		c.Canonical = append(c.Canonical, best)
		prev = best.SHA256
	}
	// Transitions chained on nothing held (never accepted by the receiver) are not part of
	// any history; they cannot be in entries.
	return c
}

// Path is the chain from the first transition to e (inclusive), following prev links
// among entries; nil when a link is missing.
func Path(entries []*Entry, e *Entry) []*Entry {
	by := map[string]*Entry{}
	for _, x := range entries {
		by[x.SHA256] = x
	}
	var out []*Entry
	for cur := e; cur != nil; {
		out = append(out, cur)
		p := cur.T.GetPrevSha256()
		if p == "" {
			slices.Reverse(out)
			return out
		}
		cur = by[p]
		if len(out) > 10000 {
			return nil
		}
	}
	return nil
}

// Summary is what a request's canonical history says: state, deadline, content,
// replies and flags.
type Summary struct {
	State             pb.RequestState
	Deadline          time.Time // zero before ACKNOWLEDGE
	EffectiveDeadline time.Time
	Content           *pb.RequestContent
	Replies           []*pb.ReplyItem
	SubmittedAt       time.Time
	Flags             []pb.Flag
}

// Summarise computes the summary of a canonical history at now, with the oral
// confirmation period of the node's policy. draft is the content of a DRAFT (nil
// otherwise).
func Summarise(c *Chain, draft *pb.RequestContent, oralConfirmation time.Duration, now time.Time) Summary {
	s := Summary{State: c.State(), Content: draft}
	for _, e := range c.Canonical {
		t := e.T
		at := t.GetIssuedAt().AsTime()
		switch t.GetAction() {
		case pb.Action_ACTION_SUBMIT:
			s.SubmittedAt = at
			s.Content = t.GetRequest()
		case pb.Action_ACTION_AMEND:
			s.Content = t.GetRequest()
		case pb.Action_ACTION_ACKNOWLEDGE:
			s.Deadline = t.GetAcknowledgement().GetDeadline().AsTime()
			s.EffectiveDeadline = later(s.EffectiveDeadline, s.Deadline)
		case pb.Action_ACTION_PENDING_AUTHORISATION:
			s.EffectiveDeadline = later(s.EffectiveDeadline, at.Add(t.GetDelayNotice().GetExpectedDuration().AsDuration()))
		case pb.Action_ACTION_POSTPONE:
			if u := t.GetPostponement().GetUntil(); u.IsValid() {
				s.EffectiveDeadline = later(s.EffectiveDeadline, u.AsTime())
			}
		case pb.Action_ACTION_PARTIAL_ANSWER, pb.Action_ACTION_ANSWER:
			s.Replies = append(s.Replies, t.GetReply().GetItems()...)
		}
	}
	switch s.State {
	case sAnswered, sClosed, sRefused, sWithdrawn:
	default:
		if !s.Deadline.IsZero() && now.After(s.EffectiveDeadline) {
			s.Flags = append(s.Flags, pb.Flag_FLAG_OVERDUE)
		}
	}
	if oral := s.Content.GetOralRequestAt(); oral.IsValid() && oral != nil {
		limit := oral.AsTime().Add(oralConfirmation)
		switch {
		case s.State == sDraft && now.After(limit):
			s.Flags = append(s.Flags, pb.Flag_FLAG_CONFIRMATION_OVERDUE)
		case s.State != sDraft && s.SubmittedAt.After(limit):
			s.Flags = append(s.Flags, pb.Flag_FLAG_CONFIRMED_LATE)
		}
	}
	if len(c.Forks) > 0 {
		s.Flags = append(s.Flags, pb.Flag_FLAG_CONFLICT)
	}
	return s
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// HistoryEntry renders an entry of chain c for the API.
func HistoryEntry(c *Chain, e *Entry) *pb.HistoryEntry {
	h := &pb.HistoryEntry{
		MsgId: e.T.GetMsgId(), Action: e.T.GetAction(), ActorAdministration: e.T.GetActorAdministration(),
		SignerNode: e.SignerNode, KeyId: e.KeyID, IssuedAt: e.T.GetIssuedAt(), Sha256: e.SHA256,
		PrevSha256: e.T.GetPrevSha256(), Transition: e.T, StoredAt: timestamppb.New(e.StoredAt),
	}
	if by, ok := c.SupersededBy[e.SHA256]; ok {
		h.SupersededBy = by
	} else {
		h.StateAfter = Next(e.T.GetAction())
	}
	return h
}

// History renders every entry: the canonical history in order, then superseded
// entries in log order.
func History(c *Chain, entries []*Entry) []*pb.HistoryEntry {
	out := make([]*pb.HistoryEntry, 0, len(entries))
	for _, e := range c.Canonical {
		out = append(out, HistoryEntry(c, e))
	}
	rest := slices.Clone(entries)
	slices.SortFunc(rest, func(a, b *Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, e := range rest {
		if _, ok := c.SupersededBy[e.SHA256]; ok {
			out = append(out, HistoryEntry(c, e))
		}
	}
	return out
}
