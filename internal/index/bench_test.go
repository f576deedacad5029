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
