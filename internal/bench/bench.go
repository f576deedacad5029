package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// scenarios, in the order they run.
var allScenarios = []string{"ingest", "catchup", "e2e", "memory"}

type options struct {
	mode        string
	nodes       string
	n           int
	runs        int
	e2eN        int
	rate        int
	latencyDur  time.Duration
	floorDur    time.Duration
	scenarios   map[string]bool
	json        bool
	verbose     bool
	cpuProfile  string
	trace       string
	allocs      string
	heapProfile string
	dir         string
	settle      time.Duration
	nodeEnv     []string
	args        []string
}

// Run is cixbench's main: it parses args, runs the floors and the scenarios and prints
// the report. It returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == childArg {
		return runChild(ctx, args[1:], os.Stdin, stdout, stderr)
	}
	opt, code := parseFlags(args, stderr)
	if code >= 0 {
		return code
	}
	// The bench's progress, the nodes' logs and the node processes' standard error
	// (copied by os/exec) all write here, concurrently.
	stderr = &syncWriter{w: stderr}
	b := &bencher{opt: opt, stderr: stderr}
	lvl := slog.LevelWarn
	if opt.verbose {
		lvl = slog.LevelInfo
	}
	b.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	rep, err := b.run(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "cixbench: %v\n", err)
		return 1
	}
	if opt.json {
		err = rep.writeJSON(stdout)
	} else {
		err = rep.writeTable(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "cixbench: %v\n", err)
		return 1
	}
	return 0
}

// parseFlags returns the options, or an exit code >= 0 when the command is over.
func parseFlags(args []string, stderr io.Writer) (options, int) {
	opt := options{args: args}
	fs := flag.NewFlagSet("cixbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: cixbench [flags]

cixbench measures cix against its physical floor, in one run. It starts its own hub (an
embedded NATS server on loopback) and two administration nodes, A (NL) and B (BE): with
--mode federation (the default) the hub runs the configuration generated from a
manifest of NL and BE and each node its own leaf server of the hub; with --mode shared
both nodes are clients of one server holding the stream CIX_ALERTS. It measures, each
as the median of --runs runs:

  floors    raw_sign, raw_verify (ed25519 over the DSSE PAE, all cores) and raw_js
            (JetStream async publish of the same envelopes into a stream like the one A
            publishes into: CIX_OUT_NL in federation mode, CIX_ALERTS in shared mode)
  ingest    alerts/s acknowledged by A over PublishStream (signed and stored)
  catchup   alerts/s verified and stored by a new node B catching up on the N alerts
  e2e       alerts/s published at A and delivered verified at a Subscribe client at B,
            then latency p50/p99/max at a fixed offered rate
  memory    resident memory of node A, run as its own process, after storing N alerts

It prints one table (or JSON with --json) with the machine's cores and memory, each
figure, the ratios to the floors and the targets. See docs/performance.md.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&opt.mode, "mode", modeFederation, "layout of the hub and nodes: federation (hub from the manifest, a leaf server per administration) or shared (one server, stream CIX_ALERTS)")
	fs.StringVar(&opt.nodes, "nodes", nodesProcess, "where the nodes of ingest, catch-up and end to end run: process (each its own process, as deployed) or inprocess (in the bench's process, beside the hub and the client)")
	fs.IntVar(&opt.n, "n", 200_000, "alerts stored for ingest, catch-up and memory")
	fs.IntVar(&opt.runs, "runs", 3, "runs of each figure; the report shows the median")
	fs.IntVar(&opt.e2eN, "e2e-n", 0, "alerts of the end-to-end throughput phase (default min(N, 50000))")
	fs.IntVar(&opt.rate, "rate", 1000, "offered rate of the latency phase, alerts per second")
	fs.DurationVar(&opt.latencyDur, "latency-duration", 10*time.Second, "duration of the latency phase")
	fs.DurationVar(&opt.floorDur, "floor-duration", 2*time.Second, "duration of each of raw_sign and raw_verify")
	only := fs.String("scenarios", strings.Join(allScenarios, ","), "scenarios to run (the floors always run)")
	fs.BoolVar(&opt.json, "json", false, "print the report as JSON")
	fs.BoolVar(&opt.verbose, "v", false, "log the nodes' info messages to stderr")
	fs.StringVar(&opt.cpuProfile, "cpuprofile", "", "write a CPU profile of each phase of the first run to FILE with the phase before its extension (cpu.pprof: cpu.ingest.pprof, ...)")
	fs.StringVar(&opt.allocs, "allocprofile", "", "write heap profiles at the start and the end of each phase of the first run to FILE with the phase (and .start) before its extension, like --cpuprofile; what the phase allocated: go tool pprof -sample_index=alloc_space -base allocs.e2e.A.start.pprof allocs.e2e.A.pprof")
	fs.StringVar(&opt.trace, "trace", "", "write an execution trace of each phase of the first run to FILE with the phase before its extension, like --cpuprofile (read with go tool trace)")
	fs.StringVar(&opt.heapProfile, "memprofile", "", "write a heap profile of the memory scenario's node process (first run) to FILE")
	fs.StringVar(&opt.dir, "dir", "", "directory for the runs' data (default: a new temporary directory, removed at the end)")
	fs.DurationVar(&opt.settle, "settle", 0, "wait this long after storing N before reading the node's resident memory")
	fs.Func("node-env", "KEY=VALUE added to the environment of the node processes (the memory scenario's, and with --nodes process the others), e.g. GOMEMLIMIT=256MiB (repeatable)", func(v string) error {
		if !strings.Contains(v, "=") {
			return errors.New("want KEY=VALUE")
		}
		opt.nodeEnv = append(opt.nodeEnv, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return opt, 0
		}
		return opt, 2
	}
	bad := func(format string, a ...any) (options, int) {
		fmt.Fprintf(stderr, "cixbench: "+format+"\n", a...)
		return opt, 2
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	if opt.n < 1 || opt.runs < 1 || opt.rate < 1 || opt.e2eN < 0 || opt.latencyDur <= 0 || opt.floorDur <= 0 {
		return bad("--n, --runs, --rate, --latency-duration and --floor-duration must be positive")
	}
	if opt.mode != modeFederation && opt.mode != modeShared {
		return bad("--mode %q: want %s or %s", opt.mode, modeFederation, modeShared)
	}
	if opt.nodes != nodesProcess && opt.nodes != nodesInProcess {
		return bad("--nodes %q: want %s or %s", opt.nodes, nodesProcess, nodesInProcess)
	}
	if opt.e2eN == 0 {
		opt.e2eN = min(opt.n, 50_000)
	}
	opt.scenarios = map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(allScenarios, s) {
			return bad("unknown scenario %q (want some of %s)", s, strings.Join(allScenarios, ","))
		}
		opt.scenarios[s] = true
	}
	for _, p := range []*string{&opt.cpuProfile, &opt.trace, &opt.allocs, &opt.heapProfile} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return bad("%v", err)
			}
			*p = abs
		}
	}
	return opt, -1
}

// bencher runs the bench.
type bencher struct {
	opt    options
	stderr io.Writer
	log    *slog.Logger
	res    *results

	loadStart, loadEnd float64
	// cluster is the running cluster during clusterRun, whose node processes the
	// phases profile too.
	cluster *cluster
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (b *bencher) progress(format string, a ...any) {
	fmt.Fprintf(b.stderr, "cixbench: "+format+"\n", a...)
}

func (b *bencher) run(ctx context.Context) (*report, error) {
	dir := b.opt.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "cixbench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	b.res = newResults()
	b.loadStart = loadAverage()
	// The floors work on the same kind of alerts as the scenarios, from their own seed.
	defer os.RemoveAll(filepath.Join(dir, "corpus"))
	corpus, err := newCorpus(ctx, filepath.Join(dir, "corpus"), newSource(0), min(b.opt.n, 10_000))
	if err != nil {
		return nil, fmt.Errorf("prepare payloads: %w", err)
	}
	for r := range b.opt.runs {
		if err := b.floors(ctx, r, filepath.Join(dir, fmt.Sprintf("floors-%d", r)), corpus); err != nil {
			return nil, fmt.Errorf("run %d: floors: %w", r+1, err)
		}
		if err := b.clusterRun(ctx, r, filepath.Join(dir, fmt.Sprintf("run-%d", r))); err != nil {
			return nil, fmt.Errorf("run %d: %w", r+1, err)
		}
		if b.opt.scenarios["memory"] {
			if err := b.memory(ctx, r, filepath.Join(dir, fmt.Sprintf("memory-%d", r))); err != nil {
				return nil, fmt.Errorf("run %d: memory: %w", r+1, err)
			}
		}
	}
	b.loadEnd = loadAverage()
	return b.report(), nil
}

// phase runs f, in the first run under a CPU profile when --cpuprofile is set, under
// an execution trace when --trace is set and between two heap profiles when
// --allocprofile is set: of this process into FILE with the phase's name before the
// extension, and of each node process into FILE with the phase's and the node's
// (cpu.e2e.pprof, cpu.e2e.A.pprof, cpu.e2e.B.pprof; allocs.e2e.A.start.pprof and
// allocs.e2e.A.pprof).
func (b *bencher) phase(run int, name string, f func() error) (err error) {
	if run != 0 || (b.opt.cpuProfile == "" && b.opt.trace == "" && b.opt.allocs == "") {
		return f()
	}
	var stops []func() error
	defer func() {
		for _, stop := range slices.Backward(stops) {
			if serr := stop(); err == nil {
				err = serr
			}
		}
	}()
	start := func(base string, begin func(io.Writer) error, end func()) error {
		if base == "" {
			return nil
		}
		file, err := os.Create(profilePath(base, name))
		if err != nil {
			return err
		}
		if err := begin(file); err != nil {
			file.Close()
			return err
		}
		stops = append(stops, func() error { end(); return file.Close() })
		return nil
	}
	if err := start(b.opt.cpuProfile, pprof.StartCPUProfile, pprof.StopCPUProfile); err != nil {
		return err
	}
	if err := start(b.opt.trace, trace.Start, trace.Stop); err != nil {
		return err
	}
	if b.opt.allocs != "" {
		stop, err := startAllocProfile(profilePath(b.opt.allocs, name))
		if err != nil {
			return err
		}
		stops = append(stops, stop)
	}
	if c := b.cluster; c != nil {
		stops = append(stops, c.stopProfiles)
		if err := c.profile(profiling{phase: name, cpu: b.opt.cpuProfile, trace: b.opt.trace, allocs: b.opt.allocs}); err != nil {
			return err
		}
	}
	return f()
}

// profilePath inserts parts before the extension of base: profilePath("cpu.pprof",
// "e2e", "A") is "cpu.e2e.A.pprof".
func profilePath(base string, parts ...string) string {
	ext := filepath.Ext(base)
	return strings.TrimSuffix(base, ext) + "." + strings.Join(parts, ".") + ext
}

func (b *bencher) floors(ctx context.Context, run int, dir string, c *corpus) error {
	defer os.RemoveAll(dir)
	v, err := c.rawSign(ctx, b.opt.floorDur)
	if err != nil {
		return fmt.Errorf("raw_sign: %w", err)
	}
	b.res.add("raw_sign", v)
	if v, err = c.rawVerify(ctx, b.opt.floorDur); err != nil {
		return fmt.Errorf("raw_verify: %w", err)
	}
	b.res.add("raw_verify", v)
	err = b.phase(run, "raw_js", func() error {
		v, err = c.rawJS(ctx, dir, b.opt.mode, b.opt.n)
		return err
	})
	if err != nil {
		return fmt.Errorf("raw_js: %w", err)
	}
	b.res.add("raw_js", v)
	b.progress("run %d/%d: raw_sign %.0f/s, raw_verify %.0f/s, raw_js %.0f/s", run+1, b.opt.runs,
		b.res.last("raw_sign"), b.res.last("raw_verify"), b.res.last("raw_js"))
	return nil
}

// clusterRun starts a hub and node A, and runs ingest, catch-up and end to end in it.
func (b *bencher) clusterRun(ctx context.Context, run int, dir string) (err error) {
	sel := b.opt.scenarios
	if !sel["ingest"] && !sel["catchup"] && !sel["e2e"] {
		return nil
	}
	c, err := startCluster(ctx, dir, clusterOptions{mode: b.opt.mode, nodes: b.opt.nodes, log: b.log, stderr: b.stderr, logLevel: b.nodeLogLevel(), env: b.opt.nodeEnv})
	if err != nil {
		return err
	}
	b.cluster = c
	defer func() {
		b.cluster = nil
		if cerr := c.close(); err == nil {
			err = cerr
		}
	}()
	src := newSource(int64(run + 1))
	n := b.opt.n
	stored := 0
	if sel["ingest"] || sel["catchup"] {
		// Ingest: N alerts over PublishStream, as fast as A acknowledges them.
		enc, err := src.encode(n)
		if err != nil {
			return err
		}
		var st sendStats
		err = b.phase(run, "ingest", func() error {
			m := c.startMeter()
			st, err = publishStream(ctx, c.a.node, n, func(i int) []byte { return enc.reqs[i] }, 0, nil, nil)
			if err != nil {
				return err
			}
			// A's own receiver verifies its alerts into its feed, concurrently; wait for
			// it so that nothing runs in the background of the next phase.
			done, err := c.a.waitFeed(ctx, uint64(n))
			if err != nil {
				return fmt.Errorf("node A's own feed: %w", err)
			}
			b.res.add("ingest_own_feed", rate(n, done.Sub(st.firstSend)))
			// And for its search index, whose cost is part of storing an alert.
			if _, err := c.a.waitIndexed(ctx); err != nil {
				return fmt.Errorf("node A's index: %w", err)
			}
			m.record(b.res, "ingest", n)
			return nil
		})
		if err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
		stored = n
		b.res.add("ingest", rate(n, st.lastResult.Sub(st.firstSend)))
		b.progress("run %d/%d: ingest %.0f alerts/s (own feed %.0f/s)", run+1, b.opt.runs, b.res.last("ingest"), b.res.last("ingest_own_feed"))
	}
	if !sel["catchup"] && !sel["e2e"] {
		return nil
	}
	// Catch-up: B joins and verifies and stores everything A stored.
	err = b.phase(run, "catchup", func() error {
		m := c.startMeter()
		start := m.wall
		if err := c.startB(ctx); err != nil {
			return err
		}
		feedDone, err := c.b.waitFeed(ctx, uint64(stored))
		if err != nil {
			return fmt.Errorf("node B: %w", err)
		}
		// Caught up means verified, stored and searchable: B's index has read its feed.
		done, err := c.b.waitIndexed(ctx)
		if err != nil {
			return fmt.Errorf("node B's index: %w", err)
		}
		if stored > 0 {
			b.res.add("catchup", rate(stored, done.Sub(start)))
			b.res.add("catchup_feed", rate(stored, feedDone.Sub(start)))
			m.record(b.res, "catchup", stored)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("catch-up: %w", err)
	}
	if stored > 0 {
		b.progress("run %d/%d: catch-up %.0f alerts/s", run+1, b.opt.runs, b.res.last("catchup"))
	}
	if !sel["e2e"] {
		return nil
	}
	if err := b.phase(run, "e2e", func() error { return b.e2e(ctx, c, src, stored) }); err != nil {
		return fmt.Errorf("end to end: %w", err)
	}
	stored += b.opt.e2eN
	if err := b.phase(run, "latency", func() error { return b.latency(ctx, c, src, stored) }); err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	b.progress("run %d/%d: e2e %.0f alerts/s; at %.0f/s offered: p50 %.2f ms, p99 %.2f ms, max %.2f ms", run+1, b.opt.runs,
		b.res.last("e2e"), b.res.last("e2e_offered"), b.res.last("e2e_p50"), b.res.last("e2e_p99"), b.res.last("e2e_max"))
	return nil
}

// e2e publishes e2eN alerts at A as fast as it takes them and measures their delivery,
// verified, to a Subscribe client at B. stored is how many alerts the stream held before.
func (b *bencher) e2e(ctx context.Context, c *cluster, src *alertSource, stored int) error {
	n := b.opt.e2eN
	enc, err := src.encode(n)
	if err != nil {
		return err
	}
	sub, err := subscribeNew(ctx, c.b.node)
	if err != nil {
		return err
	}
	defer sub.close()
	var got atomic.Int64
	var last time.Time
	recvDone := make(chan error, 1)
	go func() {
		recvDone <- sub.collect(n, &got, func(_ string, at time.Time) { last = at })
	}()
	m := c.startMeter()
	st, err := publishStream(ctx, c.a.node, n, func(i int) []byte { return enc.reqs[i] }, 0, nil, nil)
	if err != nil {
		return err
	}
	if err := waitProgress(ctx, recvDone, got.Load, "end-to-end deliveries"); err != nil {
		return err
	}
	b.res.add("e2e", rate(n, last.Sub(st.firstSend)))
	// Let A's own receiver finish too before the latency phase: its work is part of
	// what publishing costs.
	if _, err = c.a.waitFeed(ctx, uint64(stored+n)); err != nil {
		return err
	}
	// And for both indexes: the latency phase starts with nothing left to do.
	for _, mb := range []*member{c.a, c.b} {
		if _, err = mb.waitIndexed(ctx); err != nil {
			return err
		}
	}
	m.record(b.res, "e2e", n)
	return nil
}

// latency offers alerts at A at a fixed rate for the latency duration and measures, at
// a Subscribe client at B, the time from each send to its delivery.
func (b *bencher) latency(ctx context.Context, c *cluster, src *alertSource, stored int) error {
	interval := time.Second / time.Duration(b.opt.rate)
	n := max(1, int(b.opt.latencyDur/interval))
	enc, err := src.encode(n)
	if err != nil {
		return err
	}
	index := make(map[string]int, n)
	for i, id := range enc.ids {
		index[id] = i
	}
	sent := make([]atomic.Int64, n)
	lat := make([]time.Duration, n)
	acked := make([]time.Duration, n)
	sub, err := subscribeNew(ctx, c.b.node)
	if err != nil {
		return err
	}
	defer sub.close()
	var got atomic.Int64
	recvDone := make(chan error, 1)
	go func() {
		var unknown error
		err := sub.collect(n, &got, func(id string, at time.Time) {
			i, ok := index[id]
			if !ok {
				unknown = fmt.Errorf("delivered alert %s was not sent in this phase", id)
				return
			}
			lat[i] = at.Sub(time.Unix(0, sent[i].Load()))
		})
		recvDone <- errors.Join(err, unknown)
	}()
	st, err := publishStream(ctx, c.a.node, n, func(i int) []byte { return enc.reqs[i] }, interval,
		func(i int) { sent[i].Store(time.Now().UnixNano()) },
		func(i int) { acked[i] = time.Since(time.Unix(0, sent[i].Load())) })
	if err != nil {
		return err
	}
	if err := waitProgress(ctx, recvDone, got.Load, "latency deliveries"); err != nil {
		return err
	}
	slices.Sort(lat)
	slices.Sort(acked)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.res.add("e2e_p50", ms(percentile(lat, 0.50)))
	b.res.add("e2e_p99", ms(percentile(lat, 0.99)))
	b.res.add("e2e_max", ms(lat[len(lat)-1]))
	b.res.add("e2e_ack_p50", ms(percentile(acked, 0.50)))
	b.res.add("e2e_ack_p99", ms(percentile(acked, 0.99)))
	if n > 1 {
		b.res.add("e2e_offered", rate(n-1, st.lastSend.Sub(st.firstSend)))
	} else {
		b.res.add("e2e_offered", float64(b.opt.rate))
	}
	_, err = c.a.waitFeed(ctx, uint64(stored+n))
	return err
}

// percentile returns the p-quantile of sorted values (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// meter measures a phase's wall time and the CPU time of everything the phase runs (the
// client, the hub, the nodes: this process and the node processes), so CPU per alert is
// what the phase costs, whatever else runs on the machine; and with node processes what
// they allocated and how often they collected garbage.
type meter struct {
	wall  time.Time
	start usage
	read  func() usage
}

// usage is what the processes of a phase used so far.
type usage struct {
	cpu time.Duration // this process and the node processes
	// nodes: the node processes' heap allocations and garbage collections (false with
	// the nodes in this process, where they cannot be told from the hub's and client's).
	nodes       bool
	allocBytes  uint64
	collections uint64
}

func newMeter(read func() usage) meter { return meter{wall: time.Now(), start: read(), read: read} }

// record adds the phase's figures per alert for n alerts: name_cpu (µs), name_util (%),
// and with node processes name_alloc (KB allocated by the nodes) and name_gcs (their
// collections per 1,000 alerts).
func (m meter) record(res *results, name string, n int) {
	end, wall := m.read(), time.Since(m.wall)
	per := float64(max(n, 1))
	cpu := end.cpu - m.start.cpu
	res.add(name+"_cpu", float64(cpu)/float64(time.Microsecond)/per)
	res.add(name+"_util", 100*float64(cpu)/float64(wall)/float64(runtime.NumCPU()))
	if end.nodes {
		res.add(name+"_alloc", float64(end.allocBytes-m.start.allocBytes)/1024/per)
		res.add(name+"_gcs", 1000*float64(end.collections-m.start.collections)/per)
	}
}

// processCPU is the user and system CPU time the process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		d = time.Nanosecond
	}
	return float64(n) / d.Seconds()
}

// memory runs node A as its own process, stores N alerts in it and reads its resident
// memory.
func (b *bencher) memory(ctx context.Context, run int, dir string) error {
	defer os.RemoveAll(dir)
	heap := ""
	if run == 0 {
		heap = b.opt.heapProfile
	}
	r, err := b.memoryRun(ctx, dir, newSource(int64(1000+run)), b.opt.n, heap)
	if err != nil {
		return err
	}
	const mb = 1 << 20
	n := b.opt.n
	// Marginal growth between the halves; a resident set that did not grow (possible
	// at a tiny N) counts as no growth.
	per100k := max(0, float64(r.rss)-float64(r.half)) / mb / (float64(n-n/2) / 100_000)
	at1m := float64(r.rss)/mb + per100k*float64(1_000_000-n)/100_000
	if n >= 1_000_000 {
		at1m = float64(r.rss) / mb
	}
	b.res.add("mem_base", float64(r.base)/mb)
	b.res.add("mem_rss", float64(r.rss)/mb)
	b.res.add("mem_peak", float64(r.peak)/mb)
	b.res.add("mem_heap", float64(r.heapInuse)/mb)
	b.res.add("mem_live", float64(r.live)/mb)
	b.res.add("mem_go", float64(r.goHeld)/mb)
	b.res.add("mem_per_100k", per100k)
	b.res.add("mem_live_per_100k", max(0, float64(r.live)-float64(r.halfLive))/mb/(float64(n-n/2)/100_000))
	b.res.add("mem_at_1m", at1m)
	b.progress("run %d/%d: memory of node A after %d alerts: RSS %.0f MB (peak %.0f MB, base %.0f MB, Go heap %.0f MB in use, %.0f MB live, Go runtime %.0f MB held)",
		run+1, b.opt.runs, b.opt.n, b.res.last("mem_rss"), b.res.last("mem_peak"), b.res.last("mem_base"), b.res.last("mem_heap"), b.res.last("mem_live"), b.res.last("mem_go"))
	return nil
}
