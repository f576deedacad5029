package feed

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// shareWindow is how many of the newest feed entries the shared tail keeps for its
// readers: a reader that falls further behind reads on with a consumer of its own.
const shareWindow = 1024

// tail is one ordered consumer that follows the feed from its end while the feed has
// readers, shared by every reader that has caught up with it. Without it each reader
// (every Subscribe client, the search index, the watchlists) had its own consumer: the
// server sent each entry once per reader and the client copied and decoded its headers
// once per reader (docs/performance.md, "One consumer for the feed's live readers").
//
// The tail keeps the last window entries it received, in arrival order. Entries are
// shared and read-only. Its consumer delivers every entry the stream holds from its
// start in sequence order (skipping deleted sequences), so once a reader's next
// sequence is within what the tail has kept, the tail has every entry the reader's own
// consumer would have given it.
type tail struct {
	window int
	stop   func()

	mu    sync.Mutex
	start uint64        // the first sequence the tail's consumer was asked for
	ring  []*Entry      // entry k (in arrival order) at ring[k%window]
	n     uint64        // entries received
	wake  chan struct{} // closed when an entry arrives or the tail ends, if waited on
	woken bool          // wake has a reader waiting on it
	err   error         // why the tail ended; nil while it runs
	refs  int           // readers holding the tail
}

// acquireTail returns the running tail with one more reference, starting one at the
// feed's end when none runs. It returns nil when none could be started: readers then
// read with consumers of their own, as they would without it.
func (f *Feed) acquireTail(ctx context.Context) *tail {
	f.tailMu.Lock()
	defer f.tailMu.Unlock()
	if t := f.tail; t != nil {
		t.mu.Lock()
		alive := t.err == nil
		if alive {
			t.refs++
		}
		t.mu.Unlock()
		if alive {
			return t
		}
		f.tail = nil // its readers read on alone; new ones share a new tail
	}
	st, err := f.State(ctx)
	if err != nil {
		return nil
	}
	start := st.Last + 1
	it, err := f.follow(ctx, start)
	if err != nil {
		return nil
	}
	window := f.shareWindow
	if window <= 0 {
		window = shareWindow
	}
	t := &tail{window: window, stop: it.Stop, start: start, ring: make([]*Entry, window), wake: make(chan struct{}), refs: 1}
	f.tail = t
	go t.run(f, it)
	return t
}

// releaseTail drops a reader's reference to t; the last one stops it.
func (f *Feed) releaseTail(t *tail) {
	f.tailMu.Lock()
	defer f.tailMu.Unlock()
	t.mu.Lock()
	t.refs--
	last := t.refs == 0
	t.mu.Unlock()
	if last {
		if f.tail == t {
			f.tail = nil
		}
		t.stop()
	}
}

func (t *tail) run(f *Feed, it jetstream.MessagesContext) {
	for {
		e, err := f.next(context.Background(), it)
		t.mu.Lock()
		if err != nil {
			t.err = fmt.Errorf("feed tail: %w", err)
		} else {
			t.ring[t.n%uint64(t.window)] = e
			t.n++
		}
		if t.woken {
			close(t.wake)
			t.wake, t.woken = make(chan struct{}), false
		}
		t.mu.Unlock()
		if err != nil {
			it.Stop()
			return
		}
	}
}

// position returns the arrival index of the first entry at or after sequence next when
// the tail holds every entry from next on (ok), as a reader switching to it needs.
func (t *tail) position(next uint64) (k uint64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return 0, false
	}
	oldest := t.n - min(t.n, uint64(t.window))
	from := t.start // the tail has kept everything it received
	if oldest > 0 {
		from = t.ring[oldest%uint64(t.window)].Sequence
	}
	if next < from {
		return 0, false
	}
	i := sort.Search(int(t.n-oldest), func(i int) bool {
		return t.ring[(oldest+uint64(i))%uint64(t.window)].Sequence >= next
	})
	return oldest + uint64(i), true
}

// errFellBehind ends a reader's use of the tail: its next entry left the window.
var errFellBehind = errors.New("fell behind the feed's shared tail")

// next returns the entry at arrival index k, waiting for it until ctx ends. It fails
// with errFellBehind when the entry is no longer kept, and with the tail's error when
// the tail ended.
func (t *tail) next(ctx context.Context, k uint64) (*Entry, error) {
	for {
		t.mu.Lock()
		switch {
		case k+uint64(t.window) < t.n:
			t.mu.Unlock()
			return nil, errFellBehind
		case k < t.n:
			e := t.ring[k%uint64(t.window)]
			t.mu.Unlock()
			return e, nil
		case t.err != nil:
			err := t.err
			t.mu.Unlock()
			return nil, err
		}
		wake := t.wake
		t.woken = true
		t.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
