package index

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/node"
)

// Feed is what the indexer reads: the node's own read API.
type Feed interface {
	// Subscribe is node.Node.Subscribe.
	Subscribe(ctx context.Context, req *nodev1.SubscribeRequest, send func(*nodev1.SubscribeResponse) error) error
	// FeedLast is the newest feed position, for the lag.
	FeedLast(ctx context.Context) (uint64, error)
	// Source reads the alerts of search results from the feed.
	Source
}

// IndexerOptions tune an Indexer.
type IndexerOptions struct {
	// Batch is the most feed events written in one transaction; 1000 by default.
	Batch int
	// ReplayBatch is the most feed events written in one transaction while the index
	// reads the feed's history or the node's receiver is behind; 8000 by default. A
	// transaction costs a commit and a pass over every statement, so replays write
	// fewer, larger ones (and wait up to ReplayWait for a batch to fill).
	ReplayBatch int
	ReplayWait  time.Duration
	// LiveWait is how long a live batch waits for the next event; 20 ms by default: a
	// batch is written once no event arrived for LiveWait, or LiveMaxDelay after its
	// first event, or when it holds Batch events. Each transaction costs a commit
	// (writing every page it changed) and a pass over every statement: transactions of
	// the ~20 events that 20 ms of a steady 1,000 alerts/s give cost over twice the CPU
	// per alert of transactions of 250.
	LiveWait time.Duration
	// LiveMaxDelay bounds how long a live event waits for its batch to be written while
	// events keep arriving: how much later than its feed an alert can be found by
	// search (plus the transaction's own time); 250 ms by default.
	LiveMaxDelay time.Duration
	// LagEvery is how often the feed's newest position is read to report the lag; 5 s
	// by default.
	LagEvery time.Duration
	Logger   *slog.Logger
}

// Indexer keeps an index up to date with a node's feed.
type Indexer struct {
	idx  *Index
	feed Feed
	o    IndexerOptions
	log  *slog.Logger
}

// NewIndexer returns an indexer of feed into idx.
func NewIndexer(idx *Index, feed Feed, o IndexerOptions) *Indexer {
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	if o.ReplayBatch < o.Batch {
		o.ReplayBatch = max(o.Batch, 8000)
	}
	if o.ReplayWait <= 0 {
		o.ReplayWait = 100 * time.Millisecond
	}
	if o.LiveWait <= 0 {
		o.LiveWait = 20 * time.Millisecond
	}
	if o.LiveMaxDelay <= 0 {
		o.LiveMaxDelay = 250 * time.Millisecond
	}
	o.LiveMaxDelay = max(o.LiveMaxDelay, o.LiveWait)
	if o.LagEvery <= 0 {
		o.LagEvery = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	idx.SetSource(feed)
	return &Indexer{idx: idx, feed: feed, o: o, log: o.Logger}
}

// ReceiverState is implemented by a feed whose node can tell whether its receiver is
// behind the alert stream (node.Node): while it is, the indexer writes the larger
// transactions of a replay.
type ReceiverState interface {
	ReceiverBehind() bool
}

// receiverBehind reports whether the node's receiver has more alerts waiting than it
// took in its last batch.
func (ix *Indexer) receiverBehind() bool {
	rs, ok := ix.feed.(ReceiverState)
	return ok && rs.ReceiverBehind()
}

// Run follows the feed from the index's cursor (from the start when the index is empty)
// until ctx ends. Failures are logged and retried with backoff: search may lag, the node
// goes on. A cursor beyond the feed's end (the feed was reset) rebuilds the index.
func (ix *Indexer) Run(ctx context.Context) error {
	go ix.watchLag(ctx)
	backoff := time.Second
	for {
		start := ix.idx.Cursor()
		err := ix.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, node.ErrOutOfRange) {
			ix.log.Warn("index is ahead of the feed (was the feed reset?): rebuilding", "cursor", start, "error", err)
			if err = ix.idx.Reset(ctx); err == nil {
				continue
			}
		}
		if ix.idx.Cursor() > start {
			backoff = time.Second // it made progress: not a persistent failure
		}
		ix.log.Error("indexing the feed failed; retrying", "cursor", ix.idx.Cursor(), "retry_in", backoff, "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (ix *Indexer) watchLag(ctx context.Context) {
	t := time.NewTicker(ix.o.LagEvery)
	defer t.Stop()
	for {
		if last, err := ix.feed.FeedLast(ctx); err == nil {
			ix.idx.setFeedLast(last)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// follow subscribes from the index's cursor and writes what arrives, in batches of what
// has arrived meanwhile, each with the cursor it reached. It returns when the
// subscription ends.
func (ix *Indexer) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := &nodev1.SubscribeRequest{Start: nodev1.StartPosition_START_POSITION_EARLIEST}
	if c := ix.idx.Cursor(); c > 0 {
		req.Cursor = node.FormatCursor(c)
	}
	events := make(chan *nodev1.SubscribeResponse, ix.o.ReplayBatch)
	subErr := make(chan error, 1)
	go func() {
		defer close(events)
		subErr <- ix.feed.Subscribe(ctx, req, func(ev *nodev1.SubscribeResponse) error {
			select {
			case events <- ev:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	started, caughtUp := time.Now(), false
	for ev := range events {
		var batch []change
		cursor := ix.idx.Cursor()
		// Replaying the feed's history, or following a receiver that is catching up:
		// larger transactions, and wait a little for them to fill.
		size, replay := ix.o.Batch, !caughtUp || ix.receiverBehind()
		// The batch is written once no event arrived for wait, or maxDelay after its
		// first event: a steady stream fills larger transactions, a lone event waits
		// only wait.
		wait, maxDelay := ix.o.LiveWait, ix.o.LiveMaxDelay
		if replay {
			size, wait, maxDelay = ix.o.ReplayBatch, ix.o.ReplayWait, ix.o.ReplayWait
		}
		deadline := time.Now().Add(maxDelay)
		fill, filling := time.NewTimer(wait), true
		for ev != nil {
			switch e := ev.Event.(type) {
			case *nodev1.SubscribeResponse_Alert:
				batch = append(batch, addAlert(e.Alert))
				if c, err := node.ParseCursor(e.Alert.GetCursor()); err == nil {
					cursor = max(cursor, c)
				}
			case *nodev1.SubscribeResponse_Gap:
				ix.log.Warn("feed gap: alerts no longer in the feed are not indexed", "after", e.Gap.GetAfterCursor(),
					"resume", e.Gap.GetResumeCursor(), "missing", e.Gap.GetMissing(), "reason", e.Gap.GetReason())
				if c, err := node.ParseCursor(e.Gap.GetResumeCursor()); err == nil {
					cursor = max(cursor, c)
				}
			case *nodev1.SubscribeResponse_CaughtUp:
				c, err := node.ParseCursor(e.CaughtUp.GetCursor())
				if err == nil {
					ix.idx.setFeedLast(c)
				}
				if !caughtUp {
					caughtUp = true
					ix.log.Info("index read the feed up to its end", "feed_cursor", c, "took", time.Since(started).Round(time.Millisecond))
				}
			case *nodev1.SubscribeResponse_Recalled:
				n := e.Recalled.GetNotice()
				reason := strings.TrimPrefix(n.GetRecall().GetCode().String(), "RECALL_REASON_")
				if r := n.GetRecall().GetReason(); r != "" {
					reason = strings.ToLower(reason) + ": " + r
				}
				batch = append(batch, markRecalled(e.Recalled.GetAlertId(), n.GetIssuedAt().AsTime(), reason))
				if c, err := node.ParseCursor(e.Recalled.GetCursor()); err == nil {
					cursor = max(cursor, c)
				}
			case *nodev1.SubscribeResponse_Reclassified:
				batch = append(batch, reclassify(e.Reclassified.GetAlertId(), e.Reclassified.GetHandling()))
				if c, err := node.ParseCursor(e.Reclassified.GetCursor()); err == nil {
					cursor = max(cursor, c)
				}
			default:
				// Events this indexer does not know (added by newer nodes) are skipped.
			}
			ev = nil
			if len(batch) >= size {
				break
			}
			select {
			case ev = <-events: // nil once closed
			default:
				if d := min(wait, time.Until(deadline)); filling && d > 0 {
					fill.Reset(d)
					select {
					case ev = <-events:
					case <-fill.C:
						filling = false // write what arrived
					case <-ctx.Done():
					}
				}
			}
		}
		fill.Stop()
		if len(batch) == 0 && cursor == ix.idx.Cursor() {
			continue
		}
		// The indexer does not pause while the receiver is behind: with a node per
		// process the pause left the cores idle, and the receiver stored no faster
		// for it (docs/performance.md, "The indexer no longer pauses").
		if _, err := ix.idx.apply(ctx, batch, cursor); err != nil {
			return err
		}
	}
	return <-subErr
}
