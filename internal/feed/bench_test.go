package feed

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/natsembed/natstest"
)

// BenchmarkOpenFeed opens a feed of N alerts (100,000, or CIX_BENCH_FEED), which
// rebuilds its id table from the entries' headers: what a node's start costs per alert
// held.
//
//	go test -run '^$' -bench BenchmarkOpenFeed -benchtime 3x ./internal/feed
func BenchmarkOpenFeed(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("CIX_BENCH_FEED")); err == nil && v > 0 {
		n = v
	}
	_, js := natstest.JetStream(b)
	ctx := context.Background()
	cfg := Config{Node: "NL-n1"}
	f, err := Open(ctx, js, cfg)
	if err != nil {
		b.Fatal(err)
	}
	envelope := make([]byte, 1100) // the size of a signed alert envelope
	signer := Signer{Administration: "NL", Node: "NL-n1", KeyID: "0123456789abcdef", NotAfter: time.Now()}
	for i := 0; i < n; i += 1000 {
		ws := make([]Write, 0, 1000)
		for j := i; j < min(i+1000, n); j++ {
			ws = append(ws, Write{ID: fmt.Sprintf("0192f3a4-5b6c-7d8e-9f00-%012d", j), Envelope: envelope, Signer: signer, SourceSeq: uint64(j + 1)})
		}
		if _, err := f.Append(ctx, ws); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		g, err := Open(ctx, js, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if g.ids.size() != n {
			b.Fatalf("table of %d ids, want %d", g.ids.size(), n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/alert")
}

// BenchmarkIDTable fills an id table with 1,000,000 alert ids: the live heap it holds
// per alert (what the feed's subject per alert cost nats-server is in
// docs/performance.md, "Memory at rest") and the time of a put.
//
//	go test -run '^$' -bench BenchmarkIDTable -benchtime 3x ./internal/feed
func BenchmarkIDTable(b *testing.B) {
	const n = 1_000_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("0192f3a4-5b6c-7d8e-9f00-%012d", i)
	}
	var before, after runtime.MemStats
	var t *ids
	for b.Loop() {
		t = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		t = newIDs()
		for i, k := range keys {
			t.put(k, uint64(i+1), nil)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keys) // held in both readings
	if t.size() != n {
		b.Fatalf("table of %d ids, want %d", t.size(), n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/put")
	b.ReportMetric((float64(after.HeapAlloc)-float64(before.HeapAlloc))/n, "live-B/alert")
}
