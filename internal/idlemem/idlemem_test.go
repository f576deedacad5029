package idlemem

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// TestStep drives the decision with a counter and a clock of its own.
func TestStep(t *testing.T) {
	var alloc uint64
	releases := 0
	logged := &levels{}
	w := newWatcher(Options{
		Idle: 30 * time.Second, Every: 10 * time.Second, QuietRate: 1 << 20, Burst: 64 << 20,
		Logger:    slog.New(logged),
		allocated: func() uint64 { return alloc },
		release:   func() { releases++ },
	})
	at := w.lastAt
	tick := func(allocated uint64) bool {
		alloc += allocated
		at = at.Add(10 * time.Second)
		return w.step(at)
	}
	steps := []struct {
		name      string
		allocated uint64
		release   bool
	}{
		{"quiet from the start, nothing allocated before", 1 << 10, false},
		{"quiet, no burst yet", 1 << 10, false},
		{"quiet for the whole idle time, but no burst", 1 << 10, false},
		{"a burst: 200 MB in 10 s", 200 << 20, false},
		{"quiet 10 s after it", 5 << 20, false},
		{"quiet 20 s after it", 5 << 20, false},
		{"quiet 30 s after it: release", 5 << 20, true},
		{"still quiet: nothing more to release", 5 << 20, false},
		{"still quiet", 5 << 20, false},
		{"busy again: 11 MB in 10 s is above 1 MB/s", 11 << 20, false},
		{"busy", 100 << 20, false},
		{"quiet 10 s", 0, false},
		{"quiet 20 s", 0, false},
		{"quiet 30 s: release the second burst", 0, true},
		{"quiet: no second release", 0, false},
	}
	for i, s := range steps {
		if got := tick(s.allocated); got != s.release {
			t.Fatalf("step %d (%s): released %v, want %v", i, s.name, got, s.release)
		}
	}
	if releases != 2 {
		t.Fatalf("release called %d times, want 2", releases)
	}
	if want := []slog.Level{slog.LevelInfo, slog.LevelInfo}; !slices.Equal(logged.got, want) {
		t.Fatalf("logged at %v, want %v (a release after a burst is information)", logged.got, want)
	}
}

// levels is a slog.Handler that records the level of each record.
type levels struct{ got []slog.Level }

func (l *levels) Enabled(context.Context, slog.Level) bool { return true }
func (l *levels) Handle(_ context.Context, r slog.Record) error {
	l.got = append(l.got, r.Level)
	return nil
}
func (l *levels) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *levels) WithGroup(string) slog.Handler      { return l }

// TestQuietAccumulates: many quiet steps add up to a burst (a node receiving a slow
// trickle for hours), then the release waits for quiet as usual.
func TestQuietAccumulates(t *testing.T) {
	var alloc uint64
	logged := &levels{}
	w := newWatcher(Options{
		Idle: 20 * time.Second, Every: 10 * time.Second, QuietRate: 1 << 20, Burst: 64 << 20,
		Logger:    slog.New(logged),
		allocated: func() uint64 { return alloc },
		release:   func() {},
	})
	at := w.lastAt
	released := 0
	for range 20 { // 20 steps of 9 MB in 10 s: quiet, 180 MB in all
		alloc += 9 << 20
		at = at.Add(10 * time.Second)
		if w.step(at) {
			released++
		}
	}
	// Quiet all along: a release each time another 64 MB has been allocated (steps 8
	// and 16), none for the last 36 MB.
	if released != 2 {
		t.Fatalf("released %d times over 180 MB of quiet allocation, want 2 (every 64 MB)", released)
	}
	if want := []slog.Level{slog.LevelDebug, slog.LevelDebug}; !slices.Equal(logged.got, want) {
		t.Fatalf("logged at %v, want %v (the releases of a quiet node are not news)", logged.got, want)
	}
}

// TestRunReleases runs the watcher on the runtime's own counter: after the test
// allocates a burst and goes quiet, Run releases the free heap.
func TestRunReleases(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var calls atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		w := Options{Idle: 200 * time.Millisecond, Every: 20 * time.Millisecond, Burst: 32 << 20}
		w.release = func() {
			defaultRelease()
			calls.Add(1)
		}
		Run(ctx, w)
	}()
	var keep [][]byte
	for i := range 64 { // 64 MB allocated and dropped
		keep = append(keep, make([]byte, 1<<20))
		keep[i][0] = byte(i)
	}
	keep = nil
	deadline := time.Now().Add(20 * time.Second)
	for calls.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no release within 20 s of a 64 MB burst")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if free := readUint64("/memory/classes/heap/free:bytes"); free > 16<<20 {
		t.Errorf("after the release %d MB of free heap are still held from the system", free>>20)
	}
	cancel()
	<-done
}
