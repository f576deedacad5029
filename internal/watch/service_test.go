package watch

import (
	"context"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	analystv1 "github.com/cix-exchange/cix/internal/gen/cix/analyst/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/natsembed"
	"github.com/cix-exchange/cix/internal/synth"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeFeed stands for the node's feed in the tests of this package: alerts appended
// are served with cursors 1, 2, ... by Subscribe, history then live. The daemon's
// tests run the Service on a real node.
type fakeFeed struct {
	mu     sync.Mutex
	events []*nodev1.SubscribeResponse
	added  chan struct{}
}

func newFakeFeed() *fakeFeed { return &fakeFeed{added: make(chan struct{})} }

// add appends an event; alerts get the next cursor.
func (f *fakeFeed) add(ev *nodev1.SubscribeResponse) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a := ev.GetAlert(); a != nil {
		a.Cursor = strconv.Itoa(len(f.events) + 1)
	}
	f.events = append(f.events, ev)
	close(f.added)
	f.added = make(chan struct{})
}

func (f *fakeFeed) Subscribe(ctx context.Context, req *nodev1.SubscribeRequest, send func(*nodev1.SubscribeResponse) error) error {
	f.mu.Lock()
	next := len(f.events)
	if req.GetCursor() != "" {
		next, _ = strconv.Atoi(req.GetCursor())
	}
	f.mu.Unlock()
	caught := false
	for {
		f.mu.Lock()
		evs, added := f.events[next:], f.added
		next = len(f.events)
		f.mu.Unlock()
		for _, ev := range evs {
			if err := send(ev); err != nil {
				return err
			}
		}
		if !caught {
			caught = true
			if err := send(&nodev1.SubscribeResponse{Event: &nodev1.SubscribeResponse_CaughtUp{CaughtUp: &nodev1.CaughtUp{Cursor: strconv.Itoa(next)}}}); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-added:
		}
	}
}

func startNATS(t *testing.T) jetstream.JetStream {
	t.Helper()
	ns, err := natsembed.Start(natsembed.Options{Name: "watch-test", StoreDir: filepath.Join(t.TempDir(), "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { natsembed.Stop(ns) })
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func received(id string, container string) *nodev1.SubscribeResponse {
	a := synth.ValidSeizure()
	a.Id = id
	a.GetSeizure().GetConveyance().ContainerNumbers = []string{container}
	return &nodev1.SubscribeResponse{Event: &nodev1.SubscribeResponse_Alert{Alert: &nodev1.VerifiedAlert{
		Alert: a, ReceivedAt: timestamppb.New(time.Now().Add(time.Second)), // after the entries
	}}}
}

// run starts s.Run and stops it when the test ends.
func run(t *testing.T, s *Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// hitsUntil reads every hit from the start until one for alert id stop arrives.
func hitsUntil(t *testing.T, s *Service, stop string) []*analystv1.WatchHit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []*analystv1.WatchHit
	err := s.Hits(ctx, &analystv1.WatchHitsRequest{Start: nodev1.StartPosition_START_POSITION_EARLIEST}, "", func(r *analystv1.WatchHitsResponse) error {
		if h := r.GetHit(); h != nil {
			got = append(got, h)
			if h.GetAlertId() == stop {
				return errStop
			}
		}
		return nil
	})
	if err != errStop {
		t.Fatalf("no hit for %s: %v (got %v)", stop, err, got)
	}
	return got
}

// TestMarkRecalled: an alert marked recalled before it is matched produces no hit,
// also after the service is opened again; unknown feed events are skipped.
func TestMarkRecalled(t *testing.T) {
	js := startNATS(t)
	feed := newFakeFeed()
	cfg := Config{Administration: "BE", Node: "n-1"}
	ctx := context.Background()
	s, err := Open(ctx, js, feed, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	container := "CSQU3054383"
	if _, err := s.Create(ctx, analystv1.WatchKind_WATCH_KIND_CONTAINER, container, "test", "alice"); err != nil {
		t.Fatal(err)
	}
	const recalled, kept, later = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000003"
	if err := s.MarkRecalled(ctx, recalled); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkRecalled(ctx, "not-an-id"); err == nil {
		t.Error("MarkRecalled accepted a bad id")
	}
	run(t, s)
	feed.add(received(recalled, container))
	feed.add(&nodev1.SubscribeResponse{}) // an event kind this version does not know
	feed.add(received(kept, container))
	got := hitsUntil(t, s, kept)
	if len(got) != 1 || got[0].GetEntry().GetOwner() != "alice" || got[0].GetField() != "alert.seizure.conveyance.container_numbers[0]" {
		t.Fatalf("hits %v, want one for %s", got, kept)
	}

	// Opened again (a restart), the service still knows the recall.
	s2, err := Open(ctx, js, feed, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s2.isRecalled(recalled) || s2.isRecalled(kept) {
		t.Fatal("recalled alerts not kept across a restart")
	}
	if s2.matcher.Len() != 1 {
		t.Fatalf("entries after restart: %d", s2.matcher.Len())
	}
	// A recall that arrives after a hit stops later hits for the alert, not earlier ones.
	if err := s.MarkRecalled(ctx, kept); err != nil {
		t.Fatal(err)
	}
	feed.add(received(kept, container)) // the same alert again: stored once anyway
	feed.add(received(later, container))
	got = hitsUntil(t, s, later)
	if len(got) != 2 || got[0].GetAlertId() != kept {
		t.Fatalf("hits %v, want the earlier hit of %s and one of %s", got, kept, later)
	}
}
