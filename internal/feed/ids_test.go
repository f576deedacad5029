package feed

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/natsembed/natstest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// size is how many ids the table holds.
func (t *ids) size() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.byKey) + len(t.clash)
}

// getAll checks that Get finds alerts a<from>..a<to> at sequences from..to.
func getAll(t *testing.T, f *Feed, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		e, err := f.Get(context.Background(), fmt.Sprintf("a%d", i))
		if err != nil || e.Sequence != uint64(i) || e.ID != fmt.Sprintf("a%d", i) || string(e.Envelope) != fmt.Sprintf("alert %d", i) {
			t.Fatalf("Get a%d: %+v %v", i, e, err)
		}
	}
}

// appendAgain appends alerts a<from>..a<to> again and checks that none is stored.
func appendAgain(t *testing.T, f *Feed, from, to int) {
	t.Helper()
	var ws []Write
	for i := from; i <= to; i++ {
		ws = append(ws, Write{ID: fmt.Sprintf("a%d", i), Envelope: []byte("again"), SourceSeq: uint64(100 + i)})
	}
	if n, err := f.Append(context.Background(), ws); err != nil || n != 0 {
		t.Fatalf("append a%d-a%d again: %d new, %v", from, to, n, err)
	}
}

func streamState(t *testing.T, f *Feed) jetstream.StreamState {
	t.Helper()
	info, err := f.feed.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State
}

// TestNoSubjectPerAlert: the feed keeps its alerts under one subject, so nats-server
// holds no subject state per alert; ids stay unique and readable by id.
func TestNoSubjectPerAlert(t *testing.T) {
	f := openTestFeed(t)
	appendN(t, f, 1, 200)
	if _, err := f.Append(context.Background(), []Write{{ID: "n1", Envelope: []byte("notice"), Notice: true, AlertID: "a1"}}); err != nil {
		t.Fatal(err)
	}
	st := streamState(t, f)
	if st.Msgs != 201 || st.NumSubjects != 2 {
		t.Fatalf("feed holds %d messages on %d subjects, want 201 on 2 (alerts, the notice)", st.Msgs, st.NumSubjects)
	}
	getAll(t, f, 1, 200)
	appendAgain(t, f, 1, 200)
	if st := streamState(t, f); st.Msgs != 201 {
		t.Fatalf("feed holds %d messages after appending the same alerts again", st.Msgs)
	}
}

// TestIDsRebuiltOnOpen: a node that opens its feed again (a restart) still finds every
// alert by id and still refuses one it holds, also in a call that mixes new ones.
func TestIDsRebuiltOnOpen(t *testing.T) {
	_, js := natstest.JetStream(t)
	ctx := context.Background()
	f, err := Open(ctx, js, Config{Node: "NL-n1"})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, f, 1, 300)
	g, err := Open(ctx, js, Config{Node: "NL-n1"})
	if err != nil {
		t.Fatal(err)
	}
	if n := g.ids.size(); n != 300 {
		t.Fatalf("reopened table holds %d ids, want 300", n)
	}
	getAll(t, g, 1, 300)
	ws := []Write{{ID: "a7", Envelope: []byte("again")}, {ID: "a301", Envelope: []byte("alert 301")}, {ID: "a300", Envelope: []byte("again")}}
	if n, err := g.Append(ctx, ws); err != nil || n != 1 {
		t.Fatalf("append after reopening: %d new, %v; want 1", n, err)
	}
	getAll(t, g, 301, 301)
}

// TestHashClash: ids whose hashes are equal are told apart by the entries they name.
func TestHashClash(t *testing.T) {
	f := openTestFeed(t)
	f.ids.hash = func(string) uint64 { return 42 }
	appendN(t, f, 1, 5)
	getAll(t, f, 1, 5)
	appendAgain(t, f, 1, 5)
	if _, err := f.Get(context.Background(), "a6"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of an id never stored whose hash is taken: %v", err)
	}
	if st := streamState(t, f); st.Msgs != 5 {
		t.Fatalf("feed holds %d messages, want 5", st.Msgs)
	}
}

// TestAppendAfterLostAck: an entry the table does not know (a write whose
// acknowledgement was lost when its batch failed) is read into it before the next
// write, which then does not store the alert a second time.
func TestAppendAfterLostAck(t *testing.T) {
	f := openTestFeed(t)
	ctx := context.Background()
	appendN(t, f, 1, 3)
	// a4 reached the stream, its acknowledgement did not reach Append.
	m := f.message(Write{ID: "a4", Envelope: []byte("alert 4"), SourceSeq: 4})
	if _, err := f.js.PublishMsg(ctx, m, jetstream.WithMsgID("a4")); err != nil {
		t.Fatal(err)
	}
	f.ids.stale = true
	if n, err := f.Append(ctx, []Write{{ID: "a5", Envelope: []byte("alert 5")}}); err != nil || n != 1 {
		t.Fatalf("append after a lost acknowledgement: %d new, %v; want 1", n, err)
	}
	if f.ids.stale || f.ids.size() != 5 {
		t.Fatalf("after the next append the table holds %d ids (stale %v), want 5", f.ids.size(), f.ids.stale)
	}
	getAll(t, f, 1, 5)
	appendAgain(t, f, 4, 4)
}

// TestLoadIDsAfterDeletedEntries: bringing the table up to date returns when the
// entries after its last position were deleted, rather than waiting for one.
func TestLoadIDsAfterDeletedEntries(t *testing.T) {
	f := openTestFeed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	appendN(t, f, 1, 3)
	for seq := uint64(2); seq <= 3; seq++ {
		if err := f.feed.DeleteMsg(ctx, seq); err != nil {
			t.Fatal(err)
		}
	}
	f.ids.last, f.ids.stale = 1, true
	if n, err := f.Append(ctx, []Write{{ID: "a4", Envelope: []byte("alert 4")}}); err != nil || n != 1 {
		t.Fatalf("append: %d new, %v; want 1", n, err)
	}
	if _, err := f.Get(ctx, "a2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a deleted alert: %v", err)
	}
}

// TestExpiredIDStoredAgain: an alert whose entry the stream no longer holds (expired
// by MaxAge, here deleted) is not found and is stored again when received again, as
// when the feed had a subject per alert; drop forgets such entries.
func TestExpiredIDStoredAgain(t *testing.T) {
	f := openTestFeed(t)
	ctx := context.Background()
	appendN(t, f, 1, 3)
	if err := f.feed.DeleteMsg(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Get(ctx, "a1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of an expired alert: %v", err)
	}
	// The stream's duplicate window (5 s) still refuses the message id; an alert
	// expires long after it. Shorten it rather than wait.
	cfg := f.feed.CachedInfo().Config
	cfg.Duplicates = 100 * time.Millisecond
	if _, err := f.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		n, err := f.Append(ctx, []Write{{ID: "a1", Envelope: []byte("alert 1 again")}})
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an expired alert received again is not stored again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if e, err := f.Get(ctx, "a1"); err != nil || e.Sequence != 4 || string(e.Envelope) != "alert 1 again" {
		t.Fatalf("Get a1: %+v %v, want sequence 4", e, err)
	}
	if err := f.feed.DeleteMsg(ctx, 2); err != nil {
		t.Fatal(err)
	}
	f.ids.drop(3)
	if n := f.ids.size(); n != 2 {
		t.Fatalf("after dropping entries below 3 the table holds %d ids, want 2 (a3, a1)", n)
	}
}

// TestOpenFeedWithSubjectPerAlert: a feed written by an earlier version (one subject per
// alert, at most one message per subject) is reconfigured when opened; its alerts are
// found by id, refused when received again, and new ones join them.
func TestOpenFeedWithSubjectPerAlert(t *testing.T) {
	_, js := natstest.JetStream(t)
	ctx := context.Background()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "CIX_FEED_NL_N1", Subjects: []string{"cix.feed.NL-n1.*", "cix.feed.NL-n1.notice.*"},
		Storage: jetstream.FileStorage, MaxMsgsPerSubject: 1, Discard: jetstream.DiscardNew, DiscardNewPerSubject: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("a%d", i)
		m := &nats.Msg{Subject: "cix.feed.NL-n1." + id, Data: []byte(fmt.Sprintf("alert %d", i)), Header: nats.Header{}}
		m.Header.Set(HeaderSourceSeq, fmt.Sprint(i))
		if _, err := js.PublishMsg(ctx, m, jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}
	f, err := Open(ctx, js, Config{Node: "NL-n1"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := f.feed.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxMsgsPerSubject > 0 || info.Config.DiscardNewPerSubject {
		t.Fatalf("feed still limited per subject: %d, %v", info.Config.MaxMsgsPerSubject, info.Config.DiscardNewPerSubject)
	}
	getAll(t, f, 1, 3)
	appendAgain(t, f, 1, 3)
	appendN(t, f, 4, 5)
	getAll(t, f, 4, 5)
	r := read(t, f, 1)
	readUpTo(t, r, 1, 5)
}
