package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/feed"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	envelopev1 "github.com/cix-exchange/cix/internal/gen/cix/envelope/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/trust"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// FormatCursor returns the cursor of a feed sequence. Cursors are opaque to clients.
func FormatCursor(seq uint64) string { return strconv.FormatUint(seq, 10) }

// ParseCursor returns the feed sequence of a cursor. "0" is the position before the first
// alert: the CaughtUp cursor of an empty feed.
func ParseCursor(c string) (uint64, error) {
	seq, err := strconv.ParseUint(c, 10, 64)
	if err != nil {
		return 0, invalid("cursor", "%q is not a cursor from this node's feed", clipStr(c))
	}
	return seq, nil
}

// Get returns a verified alert by id.
func (n *Node) Get(ctx context.Context, id string) (*nodev1.VerifiedAlert, error) {
	if !alert.ValidUUID(id) {
		return nil, invalid("id", "%q is not a UUID", clipStr(id))
	}
	e, err := n.feed.Get(ctx, id)
	if errors.Is(err, feed.ErrNotFound) {
		return nil, fmt.Errorf("%w: alert %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	va, err := n.decodeEntry(e)
	if err != nil {
		return nil, err
	}
	origin := va.GetAlert().GetOrigin().GetAdministration()
	n.classify(va, origin)
	if va.SupersededBy, err = n.feed.SupersededBy(ctx, id, origin); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return va, nil
}

// AlertsAt returns the verified alerts at feed positions seqs, decoded as Subscribe
// sends them (without the notices in force). Positions the feed no longer holds, and
// notices, are left out. The search index reads its results' alerts here: one request
// per position, a few at a time.
func (n *Node) AlertsAt(ctx context.Context, seqs []uint64) (map[uint64]*nodev1.VerifiedAlert, error) {
	const parallel = 8
	var (
		mu    sync.Mutex
		out   = make(map[uint64]*nodev1.VerifiedAlert, len(seqs))
		first error
		wg    sync.WaitGroup
		next  = make(chan uint64)
	)
	for range min(parallel, len(seqs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range next {
				va, err := n.alertAt(ctx, seq)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if va != nil {
					out[seq] = va
				}
				mu.Unlock()
			}
		}()
	}
	seen := make(map[uint64]bool, len(seqs))
	for _, seq := range seqs {
		if seq != 0 && !seen[seq] {
			seen[seq] = true
			next <- seq
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return out, nil
}

// alertAt reads the alert at feed position seq; nil when the feed does not hold one
// there.
func (n *Node) alertAt(ctx context.Context, seq uint64) (*nodev1.VerifiedAlert, error) {
	e, err := n.feed.At(ctx, seq)
	if errors.Is(err, feed.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if e.Notice {
		return nil, nil
	}
	return n.decodeEntry(e)
}

// classify sets the notices in force on va and the classification they give it. It
// reports whether the alert is recalled.
func (n *Node) classify(va *nodev1.VerifiedAlert, origin string) bool {
	va.Recalled, va.Reclassified = n.notices.inForce(va.GetAlert().GetId(), origin)
	va.Handling = classified(va.GetAlert().GetHandling(), va.Reclassified)
	return va.Recalled != nil
}

// decodeEntry turns a feed entry into the API's VerifiedAlert. Feed entries were verified
// before they were stored, so a decoding failure here is a corrupted store.
//
// A sealed alert is decrypted with the node's age identity: the feed keeps the envelope
// as received, so what is stored at rest stays encrypted.
func (n *Node) decodeEntry(e *feed.Entry) (*nodev1.VerifiedAlert, error) {
	v, err := e.Decoded(n.decodeShared)
	if err != nil {
		return nil, err
	}
	env, a := v.(decoded).env, v.(decoded).a
	return &nodev1.VerifiedAlert{
		Alert: a, Envelope: env, ReceivedAt: timestamppb.New(e.ReceivedAt), Cursor: FormatCursor(e.Sequence), Handling: a.GetHandling(),
		Signer: &nodev1.Signer{
			Administration: e.Signer.Administration, Node: e.Signer.Node, Keyid: e.Signer.KeyID,
			CertificateNotAfter: timestamppb.New(e.Signer.NotAfter),
		},
	}, nil
}

// decoded is a feed entry's envelope and alert, decoded once for the readers that
// share the entry (feed.Entry.Decoded): each subscriber, the search index and the
// watchlists at the feed's end decode, and decrypt, an alert once instead of once each.
// Each reader still gets its own VerifiedAlert around these messages, and nothing may
// modify them (no code does: a reclassification is set on the VerifiedAlert, and
// filters clone the alert they change). Proto messages are safe for concurrent
// reading, marshalling included.
type decoded struct {
	env *envelopev1.Envelope
	a   *alertv1.Alert
}

func (n *Node) decodeShared(e *feed.Entry) (any, error) {
	env, a, err := n.decodeEnvelope(e)
	return decoded{env: env, a: a}, err
}

// decodeEnvelope decodes a feed entry's envelope and alert, decrypting a sealed alert.
func (n *Node) decodeEnvelope(e *feed.Entry) (*envelopev1.Envelope, *alertv1.Alert, error) {
	env := &envelopev1.Envelope{}
	if err := proto.Unmarshal(e.Envelope, env); err != nil {
		return nil, nil, fmt.Errorf("feed entry %d: %w", e.Sequence, err)
	}
	a := &alertv1.Alert{}
	if env.GetPayloadType() == envelope.PayloadTypeSealedAlert {
		sa := &alertv1.SealedAlert{}
		if err := proto.Unmarshal(env.GetPayload(), sa); err != nil {
			return nil, nil, fmt.Errorf("feed entry %d: %w", e.Sequence, err)
		}
		if n.fed.Load() == nil || n.ageID == nil {
			return nil, nil, fmt.Errorf("feed entry %d: sealed alert and no age identity", e.Sequence)
		}
		var err error
		if a, err = decryptAlert(sa.GetCiphertext(), n.ageID); err != nil {
			return nil, nil, fmt.Errorf("feed entry %d: %w", e.Sequence, err)
		}
	} else if err := proto.Unmarshal(env.GetPayload(), a); err != nil {
		return nil, nil, fmt.Errorf("feed entry %d: %w", e.Sequence, err)
	}
	return env, a, nil
}

// Subscribe sends verified alerts matching req to send: history from the request's
// cursor or start position, a CaughtUp marker, then live alerts, until ctx ends or send
// fails. Positions the feed can no longer serve are sent as Gap events.
func (n *Node) Subscribe(ctx context.Context, req *nodev1.SubscribeRequest, send func(*nodev1.SubscribeResponse) error) error {
	filter, err := CompileFilter(req.GetFilter())
	if err != nil {
		return err
	}
	var after uint64 // the last position the client has seen
	hasCursor := req.GetCursor() != ""
	if hasCursor {
		if after, err = ParseCursor(req.GetCursor()); err != nil {
			return err
		}
	}
	st, err := n.feed.State(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	switch {
	case hasCursor:
		if after > st.Last {
			return fmt.Errorf("%w: cursor %d is beyond the newest alert %d of this node's feed", ErrOutOfRange, after, st.Last)
		}
	case req.GetStart() == nodev1.StartPosition_START_POSITION_EARLIEST:
		after = max(st.First, 1) - 1
	default:
		after = st.Last
	}
	next := after + 1
	if hasCursor && next < st.First {
		if err := send(gapEvent(after, st.First, "expired from the feed")); err != nil {
			return err
		}
		next = st.First
	}
	caughtUp := false
	if next > st.Last {
		if err := send(caughtUpEvent(st.Last)); err != nil {
			return err
		}
		caughtUp = true
	}
	r, err := n.feed.Read(ctx, next)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer r.Close()
	for {
		e, err := r.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if e.Sequence > next {
			if err := send(gapEvent(next-1, e.Sequence, "deleted from the feed")); err != nil {
				return err
			}
		}
		next = e.Sequence + 1
		var ev *nodev1.SubscribeResponse
		if e.Notice {
			ev, err = n.noticeEvent(ctx, e, filter)
		} else {
			ev, err = n.alertEvent(e, filter)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, ErrUnavailable) {
				return err
			}
			n.log.Error("undecodable feed entry", "seq", e.Sequence, "error", err)
			if err := send(gapEvent(e.Sequence-1, e.Sequence+1, "undecodable in the feed")); err != nil {
				return err
			}
		} else if ev != nil {
			if err := send(ev); err != nil {
				return err
			}
		}
		if !caughtUp && e.Sequence >= st.Last {
			if err := send(caughtUpEvent(e.Sequence)); err != nil {
				return err
			}
			caughtUp = true
		}
	}
}

// alertEvent is the event of an alert entry for a subscriber with filter: none when the
// alert is recalled or does not match with the classification in force.
func (n *Node) alertEvent(e *feed.Entry, filter *Filter) (*nodev1.SubscribeResponse, error) {
	va, err := n.decodeEntry(e)
	if err != nil {
		return nil, err
	}
	if n.classify(va, e.Signer.Administration) || !filter.Match(current(va)) {
		return nil, nil
	}
	return &nodev1.SubscribeResponse{Event: &nodev1.SubscribeResponse_Alert{Alert: va}}, nil
}

// current is va's alert with the classification in force (va.Alert itself when it was
// never reclassified), for filters.
func current(va *nodev1.VerifiedAlert) *alertv1.Alert {
	if va.GetReclassified() == nil {
		return va.GetAlert()
	}
	a := proto.CloneOf(va.GetAlert())
	a.Handling = va.GetHandling()
	return a
}

// noticeEvent is the event of a notice entry: AlertRecalled or AlertReclassified when
// the notice is in force (the node holds the alert, of the notice's origin) and the
// alert matches the filter apart from its TLP, since the TLP is what a reclassification
// changes and the subscriber may hold the alert under an earlier one.
func (n *Node) noticeEvent(ctx context.Context, e *feed.Entry, filter *Filter) (*nodev1.SubscribeResponse, error) {
	nt, err := decodeNotice(e.Envelope)
	if err != nil {
		return nil, err
	}
	ae, err := n.feed.Get(ctx, nt.GetAlertId())
	if errors.Is(err, feed.ErrNotFound) || (err == nil && ae.Signer.Administration != nt.GetOrigin().GetAdministration()) {
		return nil, nil // kept for an alert not held, or refused
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	va, err := n.decodeEntry(ae)
	if err != nil {
		return nil, err
	}
	if !filter.MatchExceptTLP(va.GetAlert()) {
		return nil, nil
	}
	cursor := FormatCursor(e.Sequence)
	if nt.GetRecall() != nil {
		return &nodev1.SubscribeResponse{Event: &nodev1.SubscribeResponse_Recalled{Recalled: &nodev1.AlertRecalled{
			AlertId: nt.GetAlertId(), Notice: nt, Cursor: cursor,
		}}}, nil
	}
	ev := &nodev1.AlertReclassified{
		AlertId: nt.GetAlertId(), Notice: nt, Cursor: cursor, Handling: classified(va.GetAlert().GetHandling(), nt),
	}
	if !n.classify(va, ae.Signer.Administration) && filter.Match(current(va)) {
		ev.Alert = va
	}
	return &nodev1.SubscribeResponse{Event: &nodev1.SubscribeResponse_Reclassified{Reclassified: ev}}, nil
}

// gapEvent reports that positions after `after` and before `resume` cannot be served.
func gapEvent(after, resume uint64, reason string) *nodev1.SubscribeResponse {
	g := &nodev1.Gap{ResumeCursor: FormatCursor(resume - 1), Missing: resume - after - 1, Reason: reason}
	if after > 0 {
		g.AfterCursor = FormatCursor(after)
	}
	return &nodev1.SubscribeResponse{Event: &nodev1.SubscribeResponse_Gap{Gap: g}}
}

func caughtUpEvent(last uint64) *nodev1.SubscribeResponse {
	return &nodev1.SubscribeResponse{Event: &nodev1.SubscribeResponse_CaughtUp{CaughtUp: &nodev1.CaughtUp{Cursor: FormatCursor(last)}}}
}

// QuarantinePage is one page of the quarantine.
type QuarantinePage struct {
	Messages []feed.Quarantined
	Next     string
	Counts   map[string]uint64
}

// ListQuarantine lists quarantined messages, newest first.
func (n *Node) ListQuarantine(ctx context.Context, pageSize uint32, pageToken string) (*QuarantinePage, error) {
	switch {
	case pageSize == 0:
		pageSize = 100
	case pageSize > 1000:
		return nil, invalid("page_size", "at most 1000")
	}
	var before uint64
	if pageToken != "" {
		var err error
		if before, err = strconv.ParseUint(pageToken, 10, 64); err != nil || before == 0 {
			return nil, invalid("page_token", "not a token from a previous page")
		}
	}
	msgs, next, err := n.feed.ListQuarantine(ctx, before, int(pageSize))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	counts, err := n.feed.QuarantineCounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	p := &QuarantinePage{Messages: msgs, Counts: counts}
	if next != 0 {
		p.Next = strconv.FormatUint(next, 10)
	}
	return p, nil
}

// NodeInfo describes the node's identity, trust and store.
func (n *Node) NodeInfo(ctx context.Context) (*nodev1.GetNodeInfoResponse, error) {
	out := &nodev1.GetNodeInfoResponse{
		Administration: n.id.Administration(), Node: n.id.Node(),
		TrustedAdministrations: n.ver.Administrations(),
	}
	out.IdentityState = trust.StateOK
	if key, err := n.id.Current(ctx); err == nil {
		p := key.Principal()
		out.Keyid, out.CertificateNotAfter = p.KeyID, timestamppb.New(p.NotAfter)
	} else {
		out.IdentityState, out.IdentityDetail = trust.StateExpired, err.Error()
	}
	if r, ok := n.id.(trust.StatusReporter); ok {
		out.IdentityState, out.IdentityDetail = r.IdentityStatus()
	}
	if n.creds != nil {
		var v int
		out.NatsCredentialsState, out.NatsCredentialsDetail, v = n.creds()
		out.NatsCredentialsVersion = uint64(v)
	}
	st, err := n.feed.State(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	out.FeedAlerts = st.Count - min(st.Count, uint64(n.notices.count())) // notices share the feed
	if out.Quarantined, err = n.feed.QuarantineSize(ctx); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return out, nil
}
