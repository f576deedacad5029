package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cix-exchange/cix/internal/federation"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NoticeKind is the kind token of notices (recalls, reclassifications) on the alert
// stream: cix.alert.v1.<ORIGIN>.notice.<id>.
const NoticeKind = "notice"

// Acknowledgements of notices travel on their own stream: the newest one per notice and
// receiving administration.
const (
	AcksStream       = "CIX_ACKS"
	AckSubjectPrefix = "cix.ack.v1."
)

// AckSubject is where receiver acknowledges origin's notice noticeID.
func AckSubject(origin, receiver, noticeID string) string {
	return AckSubjectPrefix + origin + "." + receiver + "." + noticeID
}

// ParseAckSubject splits an acknowledgement subject. It checks the shape only.
func ParseAckSubject(subject string) (origin, receiver, noticeID string, err error) {
	rest, ok := strings.CutPrefix(subject, AckSubjectPrefix)
	parts := strings.Split(rest, ".")
	if !ok || len(parts) != 3 {
		return "", "", "", fmt.Errorf("subject %q: want %s<ORIGIN>.<RECEIVER>.<notice id>", clip(subject), AckSubjectPrefix)
	}
	origin, receiver, noticeID = parts[0], parts[1], parts[2]
	if len(origin) != 2 || !isUpper(origin) || len(receiver) != 2 || !isUpper(receiver) {
		return "", "", "", fmt.Errorf("subject %q: administrations must be two upper-case letters", clip(subject))
	}
	if noticeID == "" || len(noticeID) > 64 {
		return "", "", "", fmt.Errorf("subject %q: malformed notice id", clip(subject))
	}
	return origin, receiver, noticeID, nil
}

// AckKind is the kind token of acknowledgements on the federation layout, where a
// receiver sends each one back to the notice's origin in its bilateral scope:
// cix.out.<RECEIVER>.to.<ORIGIN>.ack.<notice id>.
const AckKind = "ack"

// OutboundAckSubject is where receiver sends its acknowledgement of origin's notice
// noticeID on the federation layout.
func OutboundAckSubject(origin, receiver, noticeID string) string {
	return federation.OutboundSubject(receiver, federation.ToMember(origin), AckKind, noticeID)
}

// ensureAcksStream creates the acknowledgement stream. It keeps one message per subject
// and replaces it with a newer one: a receiver that first kept a notice for an alert it
// did not hold acknowledges again once it applied it.
//
// On the federation layout (inbound set) the stream has no subjects of its own: it
// sources the acknowledgements addressed to the administration from its inbound stream
// (cix.out.<RECEIVER>.to.<ADMIN>.ack.<notice>, mapped onto
// cix.ack.v1.<ADMIN>.<RECEIVER>.<notice>), so no client of the account can put one there
// directly, and the consumer and listing read it as on the shared stream.
func ensureAcksStream(ctx context.Context, js jetstream.JetStream, cfg Config, inbound string) (jetstream.Stream, error) {
	sc := jetstream.StreamConfig{
		Name:              AcksStream,
		Description:       "cix signed acknowledgements of notices, the newest per notice and receiver",
		Subjects:          []string{AckSubjectPrefix + ">"},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		Replicas:          cfg.Replicas,
		MaxAge:            cfg.MaxAge,
		Duplicates:        cfg.DuplicateWindow,
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardOld,
		MaxMsgSize:        1 << 20,
	}
	if inbound != "" {
		admin := cfg.Administration
		sc.Subjects = nil
		sc.Sources = []*jetstream.StreamSource{{Name: inbound, SubjectTransforms: []jetstream.SubjectTransformConfig{{
			Source:      federation.OutSubjectPrefix + "*.to." + admin + "." + AckKind + ".*",
			Destination: AckSubjectPrefix + admin + ".{{wildcard(1)}}.{{wildcard(2)}}",
		}}}}
		sc.Description = "cix signed acknowledgements of " + admin + "'s notices, sourced from " + inbound
	}
	st, err := EnsureStream(ctx, js, sc)
	if err != nil {
		return nil, fmt.Errorf("create stream %s: %w", AcksStream, err)
	}
	return st, nil
}

// PublishAck stores an acknowledgement, replacing an earlier one on the same subject.
// msgID deduplicates retries within the stream's window.
func (b *Bus) PublishAck(ctx context.Context, subject, msgID string, data []byte) error {
	_, err := b.js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data}, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(AcksStream))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Stored is a message as a stream stored it.
type Stored struct {
	Subject  string
	Data     []byte
	Sequence uint64
	Time     time.Time
}

// LastAck returns the acknowledgement stored on subject, or nil when there is none.
func (b *Bus) LastAck(ctx context.Context, subject string) (*Stored, error) {
	return last(ctx, b.acks, subject)
}

// StoredAlert returns the message the stream the node publishes into holds on subject,
// or nil.
func (b *Bus) StoredAlert(ctx context.Context, subject string) (*Stored, error) {
	return last(ctx, b.out, subject)
}

func last(ctx context.Context, st jetstream.Stream, subject string) (*Stored, error) {
	m, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return &Stored{Subject: m.Subject, Data: m.Data, Sequence: m.Sequence, Time: m.Time}, nil
}

// Acks returns the acknowledgements of origin's notice noticeID, one per receiving
// administration, ordered by receiver.
func (b *Bus) Acks(ctx context.Context, origin, noticeID string) ([]*Stored, error) {
	info, err := b.acks.Info(ctx, jetstream.WithSubjectFilter(AckSubject(origin, "*", noticeID)))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	subjects := make([]string, 0, len(info.State.Subjects))
	for s := range info.State.Subjects {
		subjects = append(subjects, s)
	}
	slices.Sort(subjects)
	out := make([]*Stored, 0, len(subjects))
	for _, s := range subjects {
		m, err := b.LastAck(ctx, s)
		if err != nil {
			return nil, err
		}
		if m != nil { // replaced or expired meanwhile
			out = append(out, m)
		}
	}
	return out, nil
}

// AckConsumer returns the durable consumer named name of the acknowledgements addressed
// to origin, creating it when needed.
func (b *Bus) AckConsumer(ctx context.Context, name, origin string) (jetstream.Consumer, error) {
	c, err := b.js.CreateOrUpdateConsumer(ctx, AcksStream, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "cix node: verifies the acknowledgements of its administration's notices",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 256,
		FilterSubject: AckSubject(origin, "*", "*"),
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", name, err)
	}
	return c, nil
}
