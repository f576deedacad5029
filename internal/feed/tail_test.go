package feed

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/natsembed/natstest"
)

func openTestFeed(t *testing.T) *Feed {
	t.Helper()
	_, js := natstest.JetStream(t)
	f, err := Open(context.Background(), js, Config{Node: "NL-n1"})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// read starts a reader at start, closed when the test ends.
func read(t *testing.T, f *Feed, start uint64) *Reader {
	t.Helper()
	r, err := f.Read(context.Background(), start)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func appendN(t *testing.T, f *Feed, from, to int) {
	t.Helper()
	var ws []Write
	for i := from; i <= to; i++ {
		ws = append(ws, Write{ID: fmt.Sprintf("a%d", i), Envelope: []byte(fmt.Sprintf("alert %d", i)), SourceSeq: uint64(i)})
	}
	if n, err := f.Append(context.Background(), ws); err != nil || n != len(ws) {
		t.Fatalf("append %d-%d: %d %v", from, to, n, err)
	}
}

// readUpTo reads r until sequence last and checks that it gets every sequence from
// first on, in order, with its own entry.
func readUpTo(t *testing.T, r *Reader, first, last uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for want := first; want <= last; want++ {
		e, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("next (want %d): %v", want, err)
		}
		if e.Sequence != want || e.ID != fmt.Sprintf("a%d", want) || string(e.Envelope) != fmt.Sprintf("alert %d", want) {
			t.Fatalf("got %d %s %q, want %d", e.Sequence, e.ID, e.Envelope, want)
		}
	}
}

func consumers(t *testing.T, f *Feed) int {
	t.Helper()
	info, err := f.feed.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Consumers
}

// TestReadersShareTail: readers at the feed's end share one consumer; a reader that
// starts in the history reads with its own until it reaches the tail, then shares it;
// all see the same entries, in order; the last reader to close stops the tail.
func TestReadersShareTail(t *testing.T) {
	f := openTestFeed(t)
	ctx := context.Background()
	appendN(t, f, 1, 10)
	history := read(t, f, 1)
	var live []*Reader
	for range 3 {
		r := read(t, f, 11)
		if !r.shared {
			t.Fatal("a reader at the feed's end has a consumer of its own")
		}
		live = append(live, r)
	}
	// The tail and the history reader's own consumer; not one per live reader.
	if n := consumers(t, f); n != 2 {
		t.Fatalf("%d consumers on the feed, want 2", n)
	}
	appendN(t, f, 11, 40)
	readUpTo(t, history, 1, 40)
	if !history.shared || history.it != nil {
		t.Fatal("the history reader did not switch to the tail once it reached it")
	}
	for _, r := range live {
		readUpTo(t, r, 11, 40)
	}
	appendN(t, f, 41, 45)
	for _, r := range append(live, history) {
		readUpTo(t, r, 41, 45)
	}
	tl := f.tail
	for _, r := range append(live, history) {
		r.Close()
	}
	if f.tail != nil {
		t.Fatal("the tail outlived its readers")
	}
	if _, err := tl.next(ctx, tl.n); err == nil {
		t.Fatal("the stopped tail still serves")
	}
}

// TestSlowReaderReadsAlone: a reader that falls out of the tail's window reads on
// with a consumer of its own from where it was, loses nothing, and shares the tail
// again once it caught up.
func TestSlowReaderReadsAlone(t *testing.T) {
	f := openTestFeed(t)
	f.shareWindow = 4
	slow := read(t, f, 1)
	if !slow.shared {
		t.Fatal("a reader of an empty feed has a consumer of its own")
	}
	appendN(t, f, 1, 20)
	// Wait until the tail received everything: the slow reader's entries are gone from it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.tail.mu.Lock()
		n := f.tail.n
		f.tail.mu.Unlock()
		if n == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tail received %d of 20 entries", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	readUpTo(t, slow, 1, 1)
	if slow.shared {
		t.Fatal("the slow reader still reads from the tail after its entries left the window")
	}
	readUpTo(t, slow, 2, 20)
	if !slow.shared {
		t.Fatal("the reader did not share the tail again once it caught up")
	}
	appendN(t, f, 21, 25)
	readUpTo(t, slow, 21, 25)
}

// TestReaderWaitsForTail: a reader at the end waits for the next entry until its
// context ends, and gets the entry written meanwhile.
func TestReaderWaitsForTail(t *testing.T) {
	f := openTestFeed(t)
	r := read(t, f, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.Next(ctx); err != context.DeadlineExceeded {
		t.Fatalf("next on an empty feed: %v, want the context's deadline", err)
	}
	appendN(t, f, 1, 1)
	readUpTo(t, r, 1, 1)
}

// TestSharedEntryDecodedOnce: readers of the tail get the same entry, and decode it
// once between them, however many ask at the same time.
func TestSharedEntryDecodedOnce(t *testing.T) {
	f := openTestFeed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	readers := make([]*Reader, 3)
	for i := range readers {
		r := read(t, f, 1)
		readers[i] = r
	}
	appendN(t, f, 1, 1)
	var decodes atomic.Int32
	decode := func(e *Entry) (any, error) {
		decodes.Add(1)
		return "decoded " + e.ID, nil
	}
	entries := make([]*Entry, len(readers))
	got := make([]any, len(readers))
	var wg sync.WaitGroup
	for i, r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := r.Next(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			entries[i] = e
			got[i], _ = e.Decoded(decode)
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i := range readers {
		if entries[i] != entries[0] || got[i] != "decoded a1" {
			t.Fatalf("reader %d: entry %p, decoded %v; reader 0: %p", i, entries[i], got[i], entries[0])
		}
	}
	if n := decodes.Load(); n != 1 {
		t.Fatalf("decoded %d times, want once", n)
	}
}

// TestReaderStartsAheadOfTail: a reader asked to start at a position the feed has not
// reached yet gets nothing before it, as with a consumer of its own.
func TestReaderStartsAheadOfTail(t *testing.T) {
	f := openTestFeed(t)
	appendN(t, f, 1, 2)
	r := read(t, f, 5)
	if !r.shared {
		t.Fatal("the reader does not share the tail")
	}
	appendN(t, f, 3, 7)
	readUpTo(t, r, 5, 7)
}
