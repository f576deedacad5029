package feed_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cix-exchange/cix/internal/feed"
	"github.com/cix-exchange/cix/internal/natsembed/natstest"
)

func openFeed(t *testing.T) *feed.Feed {
	t.Helper()
	_, js := natstest.JetStream(t)
	f, err := feed.Open(context.Background(), js, feed.Config{Node: "NL-n1"})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestNoticesBesideAlerts: notices share the feed's sequence with alerts (one cursor for
// both) but not their ids; Notices reads only them, in order.
func TestNoticesBesideAlerts(t *testing.T) {
	f := openFeed(t)
	ctx := context.Background()
	ws := []feed.Write{
		{ID: "a1", Envelope: []byte("alert 1"), SourceSeq: 1},
		{ID: "n1", Envelope: []byte("notice 1"), SourceSeq: 2, Notice: true, AlertID: "a1"},
		{ID: "a2", Envelope: []byte("alert 2"), SourceSeq: 3},
		{ID: "n2", Envelope: []byte("notice 2"), SourceSeq: 4, Notice: true, AlertID: "a9"},
	}
	if n, err := f.Append(ctx, ws); err != nil || n != 4 {
		t.Fatalf("append: %d %v", n, err)
	}
	if n, err := f.Append(ctx, ws[1:2]); err != nil || n != 0 {
		t.Fatalf("append again: %d %v", n, err)
	}
	ns, err := f.Notices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 2 || ns[0].ID != "n1" || ns[0].AlertID != "a1" || ns[0].Sequence != 2 || !ns[0].Notice ||
		ns[0].SourceSeq != 2 || ns[1].ID != "n2" || ns[1].AlertID != "a9" || ns[1].Sequence != 4 {
		t.Fatalf("notices %+v", ns)
	}
	if _, err := f.Get(ctx, "n1"); !errors.Is(err, feed.ErrNotFound) {
		t.Fatalf("Get of a notice id: %v", err)
	}
	if e, err := f.Get(ctx, "a2"); err != nil || e.Notice || e.Sequence != 3 {
		t.Fatalf("Get a2: %+v %v", e, err)
	}
}

func TestSupersededByLinks(t *testing.T) {
	f := openFeed(t)
	ctx := context.Background()
	err := f.Link(ctx, []feed.Link{
		{Supersedes: "a1", Origin: "NL", Amendment: "a2"},
		{Supersedes: "a1", Origin: "BE", Amendment: "x1"}, // another administration's claim
		{Supersedes: "a1", Origin: "NL", Amendment: "a3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ id, origin, want string }{{"a1", "NL", "a3"}, {"a1", "BE", "x1"}, {"a2", "NL", ""}} {
		if got, err := f.SupersededBy(ctx, c.id, c.origin); err != nil || got != c.want {
			t.Errorf("SupersededBy(%s, %s) = %q %v, want %q", c.id, c.origin, got, err, c.want)
		}
	}
}
