// Package idlemem gives a process's free heap back to the system once the process has
// gone quiet after a burst of work.
//
// Without a memory limit the Go runtime keeps what a burst needed: the collector's goal
// stays at twice the live heap it last found, and the scavenger returns pages only down
// to about that goal. A node that stored a million alerts and then went quiet kept some
// 170 MB of freed heap resident (docs/performance.md, "Memory returned when idle").
// Collections and a release once the node is quiet (runtime/debug.FreeOSMemory) give
// it back; the next burst takes it again.
package idlemem

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Defaults of Options.
const (
	// DefaultQuietRate is the allocation rate, in bytes per second, below which the
	// process counts as quiet: idle federated nodes' heartbeats, polls and timers
	// allocate some 190 KB per second each (a hub and three idle nodes in one test
	// process: 561 KB/s), one alert ingested about 50 KB.
	DefaultQuietRate = 1 << 20
	// DefaultBurst is how much must have been allocated since the last release for
	// another to be worth a collection. What a quiet node allocates is garbage that the
	// runtime would otherwise let grow to its goal (twice the live heap) before
	// collecting, and keep: a release every 16 MB of it (every minute or two at rest)
	// keeps the node near its live heap for a collection now and then.
	DefaultBurst = 16 << 20
)

// Options tune Run. Idle is required; the rest have defaults.
type Options struct {
	// Idle is how long the process must stay quiet before the release.
	Idle time.Duration
	// Every is how often the allocation counter is read; Idle/4 (at least 10 ms) by
	// default.
	Every time.Duration
	// QuietRate and Burst: see DefaultQuietRate and DefaultBurst.
	QuietRate uint64
	Burst     uint64
	Logger    *slog.Logger

	// allocated and release replace the runtime's counter and debug.FreeOSMemory in
	// tests of the decision.
	allocated func() uint64
	release   func()
}

// Run reads the process's allocation counter every Options.Every and releases the free
// heap once the process has been quiet for Options.Idle after allocating at least
// Options.Burst since the last release, until ctx ends.
func Run(ctx context.Context, o Options) {
	w := newWatcher(o)
	t := time.NewTicker(w.o.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			w.step(now)
		}
	}
}

// watcher decides when to release.
type watcher struct {
	o      Options
	last   uint64    // allocation counter at the last reading
	lastAt time.Time // time of the last reading
	busyAt time.Time // last reading that found the process busy
	since  uint64    // allocated since the last release (or the start)
	busy   bool      // busy since the last release (or the start)
}

func newWatcher(o Options) *watcher {
	if o.Every <= 0 {
		o.Every = max(o.Idle/4, 10*time.Millisecond)
	}
	if o.QuietRate == 0 {
		o.QuietRate = DefaultQuietRate
	}
	if o.Burst == 0 {
		o.Burst = DefaultBurst
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.allocated == nil {
		o.allocated = heapAllocated
	}
	if o.release == nil {
		o.release = defaultRelease
	}
	now := time.Now()
	return &watcher{o: o, last: o.allocated(), lastAt: now, busyAt: now}
}

// step reads the counter at now and releases if the process has been quiet long enough
// after a burst. It reports whether it released.
func (w *watcher) step(now time.Time) bool {
	cur := w.o.allocated()
	delta := cur - w.last
	elapsed := now.Sub(w.lastAt)
	w.last, w.lastAt = cur, now
	w.since += delta
	if elapsed <= 0 || float64(delta) > float64(w.o.QuietRate)*elapsed.Seconds() {
		w.busyAt, w.busy = now, true
		return false
	}
	if now.Sub(w.busyAt) < w.o.Idle || w.since < w.o.Burst {
		return false
	}
	start := time.Now()
	before := releasedBytes()
	w.o.release()
	// After a burst, once per burst, worth an informational line; the releases of a
	// quiet node's garbage (every minute or two) only at debug level.
	level, msg := slog.LevelDebug, "returned the free heap to the system"
	if w.busy {
		level, msg = slog.LevelInfo, "returned the free heap to the system after a burst of work"
	}
	w.o.Logger.Log(context.Background(), level, msg,
		"allocated_mb", w.since>>20, "released_mb", (int64(releasedBytes())-int64(before))>>20,
		"took", time.Since(start).Round(time.Millisecond))
	w.since, w.busy = 0, false
	return true
}

// defaultRelease collects garbage twice and returns as much memory to the system as it
// can. Two collections, because what sync.Pool holds survives one (as its victims),
// among it nats-server's 8 MB buffers of message blocks: with one, node A at a million
// alerts was resident in 280 MB after the release, some 30 MB more than after the
// next.
func defaultRelease() {
	runtime.GC()
	debug.FreeOSMemory()
}

// heapAllocated is the bytes the process allocated on the heap since it started.
func heapAllocated() uint64 { return readUint64("/gc/heap/allocs:bytes") }

// releasedBytes is the free heap memory returned to the system.
func releasedBytes() uint64 { return readUint64("/memory/classes/heap/released:bytes") }

func readUint64(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
