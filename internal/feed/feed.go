package feed

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cix-exchange/cix/internal/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Header names of feed messages. They are written by this node after verification and
// never cross to another node.
const (
	HeaderAdministration = "Cix-Signer-Administration"
	HeaderNode           = "Cix-Signer-Node"
	HeaderKeyID          = "Cix-Signer-Keyid"
	HeaderNotAfter       = "Cix-Signer-Not-After"
	HeaderSourceSeq      = "Cix-Source-Sequence"
	// HeaderAlertID is the alert a notice concerns.
	HeaderAlertID = "Cix-Alert-Id"

	HeaderReason  = "Cix-Quarantine-Reason"
	HeaderDetail  = "Cix-Quarantine-Detail"
	HeaderSubject = "Cix-Quarantine-Subject"
	HeaderMsgID   = "Cix-Quarantine-Msg-Id"
)

// ErrNotFound is returned for an alert id the feed does not hold.
var ErrNotFound = errors.New("not found")

// Config shapes the node's streams.
type Config struct {
	// Node names the streams; it must be a valid node name.
	Node string
	// Replicas of the streams.
	Replicas int
	// MaxAge after which alerts leave the feed; 0 keeps them. Subscribers that resume
	// from an expired position are told of the gap.
	MaxAge time.Duration
	// QuarantineMaxAge after which quarantined messages are discarded; 0 keeps them.
	QuarantineMaxAge time.Duration
}

// Feed is a node's store of verified alerts and quarantined messages.
type Feed struct {
	js         jetstream.JetStream
	node       string
	feedName   string
	quarName   string
	feed       jetstream.Stream
	quarantine jetstream.Stream
	state      jetstream.KeyValue
	stateName  string
	feedPrefix string
	quarPrefix string

	// ids is where each alert and notice is; writeMu makes Append and the table's
	// updates one writer at a time.
	ids       *ids
	writeMu   sync.Mutex
	maxAge    time.Duration
	sinceDrop int // ids written since the table last dropped expired entries

	// tail is the shared reader of the feed's end while the feed has readers.
	tailMu      sync.Mutex
	tail        *tail
	shareWindow int // entries the tail keeps; shareWindow when 0
}

// noticeToken follows the feed prefix in the subjects of notices:
// cix.feed.<node>.notice.<notice id>, beside the alerts' cix.feed.<node>.alert.
const noticeToken = "notice."

// alertToken follows the feed prefix in the subject of every alert; the alert's id is
// its message id (header Nats-Msg-Id). Feeds written by earlier versions have alerts
// under cix.feed.<node>.<alert id> as well.
const alertToken = "alert"

// Open creates or updates the node's streams.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Feed, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	token := strings.ToUpper(strings.ReplaceAll(cfg.Node, "-", "_"))
	f := &Feed{
		js: js, node: cfg.Node, ids: newIDs(), maxAge: cfg.MaxAge,
		feedName: "CIX_FEED_" + token, quarName: "CIX_QUARANTINE_" + token, stateName: "CIX_STATE_" + token,
		feedPrefix: "cix.feed." + cfg.Node + ".", quarPrefix: "cix.quarantine." + cfg.Node + ".",
	}
	var err error
	f.feed, err = bus.EnsureStream(ctx, js, jetstream.StreamConfig{
		Name:        f.feedName,
		Description: "cix verified alerts received by node " + cfg.Node,
		Subjects:    []string{f.feedPrefix + "*", f.feedPrefix + noticeToken + "*"},
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		MaxAge:      cfg.MaxAge,
		Discard:     jetstream.DiscardNew,
		// The id table (ids) makes ids unique; the window only absorbs a write still
		// in flight when its batch is retried. A short one keeps the server from
		// holding every id of a bulk load in memory.
		Duplicates:  5 * time.Second,
		AllowDirect: true,
	})
	if err != nil {
		return nil, fmt.Errorf("open feed %s: %w", f.feedName, err)
	}
	f.quarantine, err = bus.EnsureStream(ctx, js, jetstream.StreamConfig{
		Name:        f.quarName,
		Description: "cix messages node " + cfg.Node + " refused, with the reason",
		Subjects:    []string{f.quarPrefix + "*"},
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		MaxAge:      cfg.QuarantineMaxAge,
		Duplicates:  time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("open quarantine %s: %w", f.quarName, err)
	}
	if err := f.openState(ctx, cfg); err != nil {
		return nil, err
	}
	if err := f.loadIDs(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

// Signer is the verified signer recorded with a feed entry.
type Signer struct {
	Administration string
	Node           string
	KeyID          string
	NotAfter       time.Time
}

// Entry is one verified alert, or notice about an alert, in the feed.
type Entry struct {
	Sequence   uint64
	ID         string
	Envelope   []byte
	Signer     Signer
	ReceivedAt time.Time
	// Notice marks a notice (recall, reclassification); AlertID is the alert it
	// concerns.
	Notice  bool
	AlertID string
	// SourceSeq is the sequence of the message in the alert stream.
	SourceSeq uint64

	decoded struct {
		once sync.Once
		v    any
		err  error
	}
}

// Decoded returns what decode makes of the entry, calling decode once per entry: the
// readers that share an entry (those reading from the feed's tail) share its result,
// which they must not modify, and wait for the first of them to compute it.
func (e *Entry) Decoded(decode func(*Entry) (any, error)) (any, error) {
	e.decoded.once.Do(func() { e.decoded.v, e.decoded.err = decode(e) })
	return e.decoded.v, e.decoded.err
}

// Write is one verified alert, or notice, to append.
type Write struct {
	ID        string
	Envelope  []byte
	Signer    Signer
	SourceSeq uint64
	// Notice marks a notice about the alert AlertID.
	Notice  bool
	AlertID string
}

// Append stores verified alerts and notices in order and waits until all are
// acknowledged. An id already in the feed is not stored again, however long ago it was
// stored (the id table), nor twice within one call (the stream's duplicate window, on
// the message id). It returns how many were new.
//
// After a failed Append the feed may hold some of the writes (their acknowledgement
// lost): the next Append first reads what the feed holds beyond the id table.
func (f *Feed) Append(ctx context.Context, ws []Write) (int, error) {
	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	if f.ids.stale {
		if err := f.loadIDs(ctx); err != nil {
			return 0, fmt.Errorf("append to feed: %w", err)
		}
		f.ids.stale = false
	}
	keys := make([]string, 0, len(ws))
	futures := make([]jetstream.PubAckFuture, 0, len(ws))
	for _, w := range ws {
		k := key(w.ID, w.Notice)
		held, err := f.lookup(ctx, k)
		if err != nil {
			return 0, fmt.Errorf("append to feed: %w", err)
		}
		if held != nil {
			continue
		}
		fut, err := f.js.PublishMsgAsync(f.message(w), jetstream.WithMsgID(k), jetstream.WithExpectStream(f.feedName), jetstream.WithStallWait(stallWait))
		if err != nil {
			f.ids.stale = len(futures) > 0
			return 0, fmt.Errorf("append to feed: %w", err)
		}
		keys, futures = append(keys, k), append(futures, fut)
	}
	added := 0
	holder := f.keyAt(ctx)
	for i, fut := range futures {
		select {
		case a := <-fut.Ok():
			f.ids.put(keys[i], a.Sequence, holder)
			if !a.Duplicate {
				added++
			}
		case err := <-fut.Err():
			f.ids.stale = true
			return 0, fmt.Errorf("append to feed: %w", err)
		case <-ctx.Done():
			f.ids.stale = true
			return 0, ctx.Err()
		}
	}
	f.dropExpired(ctx, added)
	return added, nil
}

// message is the feed message of w: the envelope as received, with the signer and the
// source sequence in headers.
func (f *Feed) message(w Write) *nats.Msg {
	m := &nats.Msg{Subject: f.feedPrefix + alertToken, Data: w.Envelope, Header: make(nats.Header, 8)}
	if w.Notice {
		m.Subject = f.feedPrefix + noticeToken + w.ID
		m.Header.Set(HeaderAlertID, w.AlertID)
	}
	m.Header.Set(HeaderAdministration, w.Signer.Administration)
	m.Header.Set(HeaderNode, w.Signer.Node)
	m.Header.Set(HeaderKeyID, w.Signer.KeyID)
	m.Header.Set(HeaderNotAfter, w.Signer.NotAfter.UTC().Format(time.RFC3339))
	m.Header.Set(HeaderSourceSeq, strconv.FormatUint(w.SourceSeq, 10))
	return m
}

// dropEvery is how many new entries the feed writes between two passes that drop the
// id table's expired entries, when the feed has a MaxAge.
const dropEvery = 1 << 16

// dropExpired forgets, every dropEvery new entries, the ids of entries the stream has
// expired (MaxAge): without it the table would grow with every alert ever received.
// A failure leaves them for the next pass; a lookup confirms every entry anyway.
func (f *Feed) dropExpired(ctx context.Context, added int) {
	if f.maxAge <= 0 {
		return
	}
	if f.sinceDrop += added; f.sinceDrop < dropEvery {
		return
	}
	st, err := f.State(ctx)
	if err != nil {
		return
	}
	f.sinceDrop = 0
	f.ids.drop(st.First)
}

// stallWait is how long an asynchronous write waits for a free slot in the connection's
// window of pending acknowledgements. Without a private account the feed shares that
// window with the alert stream's bulk publishing (bus.Config.MaxPending), so a busy
// publisher fills it; the client's default of 200 ms then failed the receiver's batch,
// which was retried after a backoff while the cores stood idle.
const stallWait = 30 * time.Second

// writeAll publishes msgs asynchronously and waits for every acknowledgement. An error
// for which tolerated returns true leaves a nil ack in its place.
func (f *Feed) writeAll(ctx context.Context, msgs []*nats.Msg, opts [][]jetstream.PublishOpt, tolerated func(error) bool) ([]*jetstream.PubAck, error) {
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		fut, err := f.js.PublishMsgAsync(m, append(opts[i], jetstream.WithStallWait(stallWait))...)
		if err != nil {
			return nil, err
		}
		futures[i] = fut
	}
	acks := make([]*jetstream.PubAck, len(msgs))
	for i, fut := range futures {
		select {
		case acks[i] = <-fut.Ok():
		case err := <-fut.Err():
			if tolerated == nil || !tolerated(err) {
				return nil, err
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return acks, nil
}

// Get returns the feed entry of an alert id (never a notice's).
func (f *Feed) Get(ctx context.Context, id string) (*Entry, error) {
	e, err := f.lookup(ctx, key(id, false))
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, ErrNotFound
	}
	return e, nil
}

// At returns the feed entry at sequence seq (an alert's or a notice's), or ErrNotFound
// when the feed does not hold it (expired, or never written).
func (f *Feed) At(ctx context.Context, seq uint64) (*Entry, error) {
	m, err := f.feed.GetMsg(ctx, seq)
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("get from feed: %w", err)
	}
	return f.entry(m.Subject, m.Sequence, m.Time, m.Header, m.Data), nil
}

func (f *Feed) entry(subject string, seq uint64, t time.Time, h nats.Header, data []byte) *Entry {
	notAfter, _ := time.Parse(time.RFC3339, h.Get(HeaderNotAfter))
	src, _ := strconv.ParseUint(h.Get(HeaderSourceSeq), 10, 64)
	id, notice := f.entryID(subject, h)
	return &Entry{
		Sequence: seq, ID: id, Envelope: data, ReceivedAt: t, SourceSeq: src,
		Notice: notice, AlertID: h.Get(HeaderAlertID),
		Signer: Signer{
			Administration: h.Get(HeaderAdministration), Node: h.Get(HeaderNode),
			KeyID: h.Get(HeaderKeyID), NotAfter: notAfter,
		},
	}
}

// State is a snapshot of the feed's bounds.
type State struct {
	// First and Last are the sequences of the oldest and newest alert held; First is
	// Last+1 when the feed is empty.
	First, Last uint64
	Count       uint64
}

// State returns the feed's current bounds.
func (f *Feed) State(ctx context.Context) (State, error) {
	info, err := f.feed.Info(ctx)
	if err != nil {
		return State{}, fmt.Errorf("feed state: %w", err)
	}
	return State{First: info.State.FirstSeq, Last: info.State.LastSeq, Count: info.State.Msgs}, nil
}

// Reader iterates the feed in sequence order from a start sequence, then waits for
// new alerts. It reads with a consumer of its own until it reaches the entries the
// feed's shared tail holds, then from the tail: readers that follow the feed's end
// share one consumer. It holds a bounded window of messages: a slow reader slows
// delivery to itself and nothing else (one that falls out of the tail's window reads
// on with its own consumer).
type Reader struct {
	f    *Feed
	tail *tail // the shared tail, nil when none could be started
	next uint64
	// shared: reading from the tail at arrival index k; otherwise from it.
	shared bool
	k      uint64
	it     jetstream.MessagesContext
}

// Read starts a reader at sequence start (1 for the oldest). Sequences that no longer
// exist are skipped; the caller detects the jump from Entry.Sequence.
func (f *Feed) Read(ctx context.Context, start uint64) (*Reader, error) {
	r := &Reader{f: f, next: max(start, 1), tail: f.acquireTail(ctx)}
	if r.share() {
		return r, nil
	}
	if err := r.own(ctx); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// share switches the reader to the tail when the tail holds every entry from its next
// sequence on.
func (r *Reader) share() bool {
	if r.tail == nil {
		return false
	}
	k, ok := r.tail.position(r.next)
	if !ok {
		return false
	}
	if r.it != nil {
		r.it.Stop()
		r.it = nil
	}
	r.shared, r.k = true, k
	return true
}

// own starts a consumer of the reader's own at its next sequence.
func (r *Reader) own(ctx context.Context) error {
	it, err := r.f.follow(ctx, r.next)
	if err != nil {
		return err
	}
	r.shared, r.it = false, it
	return nil
}

// follow reads the feed from sequence start with an ordered consumer, as the tail
// and each reader with a consumer of its own do.
func (f *Feed) follow(ctx context.Context, start uint64) (jetstream.MessagesContext, error) {
	cons, err := f.js.OrderedConsumer(ctx, f.feedName, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   start,
	})
	if err != nil {
		return nil, fmt.Errorf("read feed: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(256), jetstream.PullHeartbeat(readerHeartbeat))
	if err != nil {
		return nil, fmt.Errorf("read feed: %w", err)
	}
	return it, nil
}

// next reads the next message of it as a feed entry.
func (f *Feed) next(ctx context.Context, it jetstream.MessagesContext) (*Entry, error) {
	m, err := it.Next(jetstream.NextContext(ctx))
	if err != nil {
		return nil, err
	}
	md, err := m.Metadata()
	if err != nil {
		return nil, err
	}
	return f.entry(m.Subject(), md.Sequence.Stream, md.Timestamp, m.Headers(), m.Data()), nil
}

// readerHeartbeat is the idle heartbeat of a reader's pulls. The ordered consumer
// notices a pull the server no longer serves only when two heartbeats are missing,
// then recreates itself from where it was. With nats.go's default of 5 s a reader
// stood still for 10 s while the feed grew: seen in the bench, where a catching-up
// node's search index read nothing for 10 s after the first second
// (docs/performance.md, "Utilisation dips"). A heartbeat each second bounds such a
// stall to 2 s, for one small message a second per idle reader.
const readerHeartbeat = time.Second

// Next blocks until the next entry or until ctx ends. The entry is shared with the
// feed's other readers: it must not be modified.
func (r *Reader) Next(ctx context.Context) (*Entry, error) {
	for {
		if r.shared {
			e, err := r.tail.next(ctx, r.k)
			if err == nil {
				r.k++
				if e.Sequence < r.next {
					continue // the tail started before this reader's start
				}
				r.next = e.Sequence + 1
				return e, nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// Fell out of the tail's window, or the tail ended: read on alone.
			if err := r.own(ctx); err != nil {
				return nil, err
			}
			continue
		}
		e, err := r.f.next(ctx, r.it)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("read feed: %w", err)
		}
		r.next = e.Sequence + 1
		r.share()
		return e, nil
	}
}

// Close stops the reader.
func (r *Reader) Close() {
	if r.it != nil {
		r.it.Stop()
	}
	if r.tail != nil {
		r.f.releaseTail(r.tail)
		r.tail = nil
	}
}
