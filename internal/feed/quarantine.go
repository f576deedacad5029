package feed

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Quarantined is one refused message.
type Quarantined struct {
	Sequence      uint64
	QuarantinedAt time.Time
	// Reason is the stable snake_case name of the refusal (envelope.Reason).
	Reason  string
	Detail  string
	Subject string
	// MsgID is the message id (Nats-Msg-Id) it arrived with, if any: on the federation
	// layout the subject of an alert does not name it (federation.AlertToken), its
	// message id does.
	MsgID string
	Raw   []byte
	// SourceSeq is the message's sequence in the stream it came from, when it has one:
	// quarantining the same message again within a minute stores it once.
	SourceSeq uint64
}

// Quarantine stores refused messages with their reasons and waits until all are
// acknowledged.
func (f *Feed) Quarantine(ctx context.Context, qs []Quarantined) error {
	msgs := make([]*nats.Msg, len(qs))
	opts := make([][]jetstream.PublishOpt, len(qs))
	for i, q := range qs {
		m := &nats.Msg{Subject: f.quarPrefix + q.Reason, Data: q.Raw, Header: nats.Header{}}
		m.Header.Set(HeaderReason, q.Reason)
		m.Header.Set(HeaderDetail, headerSafe(q.Detail))
		m.Header.Set(HeaderSubject, headerSafe(q.Subject))
		if q.MsgID != "" {
			m.Header.Set(HeaderMsgID, headerSafe(q.MsgID))
		}
		msgs[i] = m
		opts[i] = []jetstream.PublishOpt{jetstream.WithExpectStream(f.quarName)}
		if q.SourceSeq != 0 {
			opts[i] = append(opts[i], jetstream.WithMsgID("src-"+strconv.FormatUint(q.SourceSeq, 10)))
		}
	}
	if _, err := f.writeAll(ctx, msgs, opts, nil); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	return nil
}

// headerSafe keeps a value on one header line of bounded length.
func headerSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r < 0x20 {
			return ' '
		}
		return r
	}, s)
	if len(s) > 1024 {
		s = s[:1024]
	}
	return s
}

// QuarantineCounts returns the number of quarantined messages by reason.
func (f *Feed) QuarantineCounts(ctx context.Context) (map[string]uint64, error) {
	info, err := f.quarantine.Info(ctx, jetstream.WithSubjectFilter(f.quarPrefix+"*"))
	if err != nil {
		return nil, fmt.Errorf("quarantine counts: %w", err)
	}
	out := make(map[string]uint64, len(info.State.Subjects))
	for subj, n := range info.State.Subjects {
		out[strings.TrimPrefix(subj, f.quarPrefix)] = n
	}
	return out, nil
}

// maxQuarantinePageBytes bounds the raw bytes of one page of the quarantine: refused
// messages may each be as large as an envelope, and a page of them must still fit in a
// gRPC message (4 MiB by default).
const maxQuarantinePageBytes = 2 << 20

// ListQuarantine returns up to limit quarantined messages, newest first, starting at
// sequence before (exclusive; 0 for the newest), and fewer once their raw bytes reach
// maxQuarantinePageBytes. next is the sequence to pass as before for the following page,
// 0 when there is none.
func (f *Feed) ListQuarantine(ctx context.Context, before uint64, limit int) (out []Quarantined, next uint64, err error) {
	info, err := f.quarantine.Info(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list quarantine: %w", err)
	}
	first, last := info.State.FirstSeq, info.State.LastSeq
	if info.State.Msgs == 0 {
		return nil, 0, nil
	}
	seq := last
	if before != 0 && before-1 < last {
		seq = before - 1
	}
	size := 0
	for ; seq >= first && seq > 0; seq-- {
		if len(out) == limit || size >= maxQuarantinePageBytes {
			return out, seq + 1, nil
		}
		m, err := f.quarantine.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("list quarantine: %w", err)
		}
		size += len(m.Data)
		out = append(out, Quarantined{
			Sequence: m.Sequence, QuarantinedAt: m.Time, Reason: m.Header.Get(HeaderReason),
			Detail: m.Header.Get(HeaderDetail), Subject: m.Header.Get(HeaderSubject), MsgID: m.Header.Get(HeaderMsgID), Raw: m.Data,
		})
	}
	return out, 0, nil
}

// QuarantineSize returns the number of quarantined messages held.
func (f *Feed) QuarantineSize(ctx context.Context) (uint64, error) {
	info, err := f.quarantine.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("quarantine size: %w", err)
	}
	return info.State.Msgs, nil
}
