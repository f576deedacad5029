package index

import (
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	searchv1 "github.com/cix-exchange/cix/internal/gen/cix/search/v1"
	"github.com/cix-exchange/cix/internal/node"
)

// The search benchmarks share one index of benchAlerts() alerts (1,000,000 unless
// CIX_BENCH_ALERTS says otherwise), built once per run in a temporary directory.
var bench struct {
	once       sync.Once
	dir        string
	x          *Index
	containers []string
	err        error
}

func benchAlerts() int {
	if n, err := strconv.Atoi(os.Getenv("CIX_BENCH_ALERTS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.dir != "" {
		_ = bench.x.Close()
		_ = os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

func benchIndex(b *testing.B) *Index {
	bench.once.Do(func() {
		start := time.Now()
		if bench.dir, bench.err = os.MkdirTemp("", "cix-index-bench-"); bench.err != nil {
			return
		}
		if bench.x, bench.err = Open(context.Background(), bench.dir, Options{}); bench.err != nil {
			return
		}
		bench.x.SetSource(&memFeed{})
		n := benchAlerts()
		as := corpus(1, n, "NL", "BE", "DE", "ES", "FR")
		for i, a := range as {
			if cs := a.GetSeizure().GetConveyance().GetContainerNumbers(); i%997 == 0 && len(cs) > 0 {
				bench.containers = append(bench.containers, cs[0])
			}
		}
		load(b, bench.x, 0, as, 5000)
		b.Logf("built an index of %d alerts in %v", n, time.Since(start).Round(time.Second))
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.x
}

// benchSearch runs searches and reports their latency percentiles.
func benchSearch(b *testing.B, req func(i int) *searchv1.SearchRequest) {
	x := benchIndex(b)
	ctx := context.Background()
	var ds []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if _, err := x.Search(ctx, req(i)); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	pct := func(p float64) float64 { return float64(ds[int(p*float64(len(ds)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkSearchSelective: one container number, the first page.
func BenchmarkSearchSelective(b *testing.B) {
	benchSearch(b, func(i int) *searchv1.SearchRequest {
		return &searchv1.SearchRequest{Selection: &searchv1.Selection{ContainerNumbers: []string{bench.containers[i%len(bench.containers)]}}}
	})
}

// BenchmarkSearchFilters: origin, commodity group and route country, 50 results.
func BenchmarkSearchFilters(b *testing.B) {
	benchSearch(b, func(i int) *searchv1.SearchRequest {
		return &searchv1.SearchRequest{Selection: &searchv1.Selection{Filter: &nodev1.Filter{
			Origins: []string{"BE"}, CommodityGroups: []alertv1.CommodityGroup{alertv1.CommodityGroup_COMMODITY_GROUP_DRUGS},
			RouteCountries: []string{"EC"},
		}}}
	})
}

// BenchmarkSearchText: full text, a word in about a tenth of the alerts, and a rarer
// phrase, 50 results.
func BenchmarkSearchText(b *testing.B) {
	texts := []string{"cocaine", `"false floor"`, "cannabis OR heroin", "ivory"}
	benchSearch(b, func(i int) *searchv1.SearchRequest {
		return &searchv1.SearchRequest{Selection: &searchv1.Selection{Text: texts[i%len(texts)]}}
	})
}

// cpuTime is the CPU time the process has used (user and system), all threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIndexRate: alerts indexed per second into an index that grows to 100,000
// alerts, in transactions of 1,000 (the indexer's live batch) and of 8,000 (its batch
// while replaying); cpu-µs/alert is the process's CPU time per alert while indexing.
func BenchmarkIndexRate(b *testing.B) {
	const n = 100_000
	as := corpus(2, n, "NL", "BE", "DE")
	for _, batch := range []int{1000, 8000} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			var cpu time.Duration // the process's CPU time while indexing: the figure that a loaded machine does not skew
			for b.Loop() {
				b.StopTimer()
				x, err := Open(context.Background(), b.TempDir(), Options{})
				if err != nil {
					b.Fatal(err)
				}
				x.SetSource(&memFeed{})
				b.StartTimer()
				before := cpuTime()
				load(b, x, 0, as, batch)
				cpu += cpuTime() - before
				b.StopTimer()
				_ = x.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "alerts/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-µs/alert")
		})
	}
}

// rateFeed is a feed that sends its alerts at a fixed rate once a subscriber has
// caught up with the alerts before them: a node receiving a steady stream.
type rateFeed struct {
	memFeed
	from  uint64 // alerts up to this position are indexed already
	vas   []*nodev1.VerifiedAlert
	every time.Duration // one tick per 10 alerts
}

func (f *rateFeed) Subscribe(ctx context.Context, _ *nodev1.SubscribeRequest, send func(*nodev1.SubscribeResponse) error) error {
	caught := &nodev1.SubscribeResponse{Event: &nodev1.SubscribeResponse_CaughtUp{CaughtUp: &nodev1.CaughtUp{Cursor: node.FormatCursor(f.from)}}}
	if err := send(caught); err != nil {
		return err
	}
	t := time.NewTicker(f.every)
	defer t.Stop()
	for i := 0; i < len(f.vas); i += 10 {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for _, va := range f.vas[i:min(i+10, len(f.vas))] {
			if err := send(&nodev1.SubscribeResponse{Event: &nodev1.SubscribeResponse_Alert{Alert: va}}); err != nil {
				return err
			}
		}
	}
	<-ctx.Done()
	return nil
}

func (f *rateFeed) FeedLast(context.Context) (uint64, error) { return f.from + uint64(len(f.vas)), nil }

// BenchmarkIndexLive: the indexer following a node that receives 1,000 alerts/s (10
// every 10 ms) for 10 s, into an index of 20,000 alerts; cpu-µs/alert is the process's
// CPU time per alert, txs the transactions written.
func BenchmarkIndexLive(b *testing.B) {
	const pre, n, rate = 20_000, 10_000, 1000
	as := corpus(3, pre+n, "NL", "BE", "DE")
	var cpu time.Duration
	var txs int
	for b.Loop() {
		b.StopTimer()
		x, err := Open(context.Background(), b.TempDir(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		f := &rateFeed{from: pre, every: 10 * time.Second / rate}
		x.SetSource(&f.memFeed)
		load(b, x, 0, as[:pre], 8000)
		for i, a := range as[pre:] {
			f.vas = append(f.vas, verified(a, pre+uint64(i)+1))
		}
		commits := 0
		x.afterCommit = func() { commits++ }
		ctx, cancel := context.WithCancel(context.Background())
		b.StartTimer()
		before := cpuTime()
		done := make(chan error, 1)
		go func() { done <- NewIndexer(x, f, IndexerOptions{}).Run(ctx) }()
		for x.Cursor() < pre+n {
			time.Sleep(5 * time.Millisecond)
		}
		cpu += cpuTime() - before
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		txs += commits
		_ = x.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-µs/alert")
	b.ReportMetric(float64(txs)/float64(b.N), "txs")
}
