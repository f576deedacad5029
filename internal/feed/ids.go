package feed

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ids is the feed's table of where each alert and notice is: the feed sequence of every
// id it holds, so that an id is stored once however often it is received, and an alert
// is read by id.
//
// It replaces a subject per alert. With one, nats-server kept a leaf of the stream's
// subject tree per alert for as long as the alert was kept (100 to 150 bytes of
// pointer-rich heap that every garbage collection marks, and more while the alert's
// block was active; docs/performance.md, "Memory at rest" and "The feed without a
// subject per alert"). The table keeps a 64-bit hash of the id and the sequence, in a
// map without pointers (38 bytes per entry in BenchmarkIDTable, never scanned by the
// collector).
//
// The hash does not decide anything alone: a hit is confirmed by reading the entry at
// the sequence and comparing its id (Feed.lookup), and an id whose hash another id
// already has is kept by name (clash). The table is rebuilt from the feed when the
// node opens it (the entries' headers, read in order), and brought up to date from the
// feed before the next write after a write failed, when the feed may hold entries whose
// acknowledgement was lost.
type ids struct {
	mu    sync.RWMutex
	seed  maphash.Seed
	byKey map[uint64]uint64 // hash of key -> feed sequence
	clash map[string]uint64 // keys whose hash another key has -> feed sequence
	last  uint64            // highest feed sequence read into the table
	stale bool              // a write failed: the feed may hold entries not in the table
	hash  func(string) uint64
}

func newIDs() *ids {
	t := &ids{seed: maphash.MakeSeed(), byKey: map[uint64]uint64{}, clash: map[string]uint64{}}
	t.hash = func(key string) uint64 { return maphash.String(t.seed, key) }
	return t
}

// key names an alert by its id and a notice by "notice " and its id: they are looked up
// apart.
func key(id string, notice bool) string {
	if notice {
		return "notice " + id
	}
	return id
}

// candidate returns the sequence the table has for key, to be confirmed against the
// entry there.
func (t *ids) candidate(k string) (uint64, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if seq, ok := t.clash[k]; ok {
		return seq, true
	}
	seq, ok := t.byKey[t.hash(k)]
	return seq, ok
}

// put records that key is at seq. holder, when the key's hash is taken by the entry at
// another sequence, tells which key that entry has: a different one keeps its place and
// key goes by name. One writer at a time (Feed.writeMu).
func (t *ids) put(k string, seq uint64, holder func(seq uint64) string) {
	h := t.hash(k)
	t.mu.RLock()
	prev, taken := t.byKey[h]
	_, byName := t.clash[k]
	t.mu.RUnlock()
	if !byName && taken && prev != seq && holder != nil {
		if other := holder(prev); other != "" && other != k {
			byName = true
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last = max(t.last, seq)
	if byName {
		t.clash[k] = seq
	} else {
		t.byKey[h] = seq
	}
}

// drop forgets the entries below first: the stream no longer holds them (MaxAge).
func (t *ids) drop(first uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for h, seq := range t.byKey {
		if seq < first {
			delete(t.byKey, h)
		}
	}
	for k, seq := range t.clash {
		if seq < first {
			delete(t.clash, k)
		}
	}
}

// lookup returns the entry of key, confirmed: nil when the feed does not hold it.
func (f *Feed) lookup(ctx context.Context, k string) (*Entry, error) {
	seq, ok := f.ids.candidate(k)
	if !ok {
		return nil, nil
	}
	e, err := f.At(ctx, seq)
	if errors.Is(err, ErrNotFound) {
		return nil, nil // expired
	}
	if err != nil {
		return nil, err
	}
	if key(e.ID, e.Notice) != k {
		return nil, nil // another key's hash
	}
	return e, nil
}

// keyAt returns the key of the entry at seq, "" when the feed does not hold it or it
// cannot be read (put then keeps the newer key in the hash's place: a later lookup of the
// other key reads the entry and finds it is not there, as for an expired one).
func (f *Feed) keyAt(ctx context.Context) func(seq uint64) string {
	return func(seq uint64) string {
		e, err := f.At(ctx, seq)
		if err != nil {
			return ""
		}
		return key(e.ID, e.Notice)
	}
}

// loadIDs reads the keys of the entries after the table's last sequence into it: every
// entry when the node opens its feed, and after a failed write those written since.
// It reads the entries' headers only.
func (f *Feed) loadIDs(ctx context.Context) error {
	info, err := f.feed.Info(ctx)
	if err != nil {
		return fmt.Errorf("feed ids: %w", err)
	}
	f.ids.mu.RLock()
	start := f.ids.last + 1
	f.ids.mu.RUnlock()
	if info.State.FirstSeq > start {
		start = info.State.FirstSeq
	}
	if info.State.Msgs == 0 || info.State.LastSeq < start {
		return nil
	}
	cons, err := f.js.OrderedConsumer(ctx, f.feedName, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   start,
		HeadersOnly:   true,
	})
	if err != nil {
		return fmt.Errorf("feed ids: %w", err)
	}
	if cons.CachedInfo().NumPending == 0 {
		return nil // the entries after start were deleted
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(4096), jetstream.PullHeartbeat(readerHeartbeat))
	if err != nil {
		return fmt.Errorf("feed ids: %w", err)
	}
	defer it.Stop()
	holder := f.keyAt(ctx)
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("feed ids: %w", err)
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("feed ids: %w", err)
		}
		id, notice := f.entryID(m.Subject(), m.Headers())
		f.ids.put(key(id, notice), md.Sequence.Stream, holder)
		if md.Sequence.Stream >= info.State.LastSeq || md.NumPending == 0 {
			return nil
		}
	}
}

// entryID returns the id of the entry with subject and headers, and whether it is a
// notice. An alert's id is its message id; feeds written before the table had it in the
// subject too (cix.feed.<node>.<id>).
func (f *Feed) entryID(subject string, h nats.Header) (id string, notice bool) {
	rest := strings.TrimPrefix(subject, f.feedPrefix)
	if noticeID, ok := strings.CutPrefix(rest, noticeToken); ok {
		return noticeID, true
	}
	if id := h.Get(jetstream.MsgIDHeader); id != "" {
		return id, false
	}
	return rest, false
}
