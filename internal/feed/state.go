package feed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// openState creates the node's key-value bucket CIX_STATE_<NODE> of links from an alert
// to the amendment that supersedes it.
func (f *Feed) openState(ctx context.Context, cfg Config) error {
	kv, err := f.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      f.stateName,
		Description: "cix node " + cfg.Node + ": alert id and origin -> id of the amendment superseding it",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		TTL:         cfg.MaxAge, // links live as long as the alerts they name
	})
	if err != nil {
		return fmt.Errorf("open state %s: %w", f.stateName, err)
	}
	f.state = kv
	return nil
}

// Link records that alert Amendment of origin Origin supersedes alert Supersedes.
type Link struct {
	Supersedes, Origin, Amendment string
}

// linkKey keys a link by the superseded alert and the amendment's origin, so that an
// amendment claimed by another administration cannot hide the genuine one.
func linkKey(supersedes, origin string) string { return "superseded." + supersedes + "." + origin }

// Link stores links in order and waits until all are acknowledged; a later link of the
// same alert and origin replaces an earlier one.
func (f *Feed) Link(ctx context.Context, ls []Link) error {
	msgs := make([]*nats.Msg, len(ls))
	opts := make([][]jetstream.PublishOpt, len(ls))
	for i, l := range ls {
		// The bucket's own subject: an asynchronous Put.
		msgs[i] = &nats.Msg{Subject: "$KV." + f.stateName + "." + linkKey(l.Supersedes, l.Origin), Data: []byte(l.Amendment)}
		opts[i] = []jetstream.PublishOpt{jetstream.WithExpectStream("KV_" + f.stateName)}
	}
	if _, err := f.writeAll(ctx, msgs, opts, nil); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// SupersededBy returns the id of the newest amendment of origin that supersedes alert
// id, or "" when there is none.
func (f *Feed) SupersededBy(ctx context.Context, id, origin string) (string, error) {
	e, err := f.state.Get(ctx, linkKey(id, origin))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("state: %w", err)
	}
	return string(e.Value()), nil
}

// Notices returns every notice the feed holds, in feed order.
func (f *Feed) Notices(ctx context.Context) ([]*Entry, error) {
	cons, err := f.js.OrderedConsumer(ctx, f.feedName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{f.feedPrefix + noticeToken + "*"},
	})
	if err != nil {
		return nil, fmt.Errorf("read notices: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read notices: %w", err)
	}
	var out []*Entry
	for pending := int(info.NumPending); len(out) < pending; {
		batch, err := cons.Fetch(min(pending-len(out), 256), jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			return nil, fmt.Errorf("read notices: %w", err)
		}
		n := len(out)
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				return nil, fmt.Errorf("read notices: %w", err)
			}
			out = append(out, f.entry(m.Subject(), md.Sequence.Stream, md.Timestamp, m.Headers(), m.Data()))
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("read notices: %w", err)
		}
		if len(out) == n { // expired meanwhile
			break
		}
	}
	return out, nil
}
