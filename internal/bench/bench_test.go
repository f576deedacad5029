package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cix-exchange/cix/internal/bench"
)

// TestMain lets the memory scenario re-execute this test binary as its node process.
func TestMain(m *testing.M) {
	if os.Getenv(bench.ChildEnv) == "1" {
		os.Exit(bench.Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// report mirrors the JSON the bench prints.
type report struct {
	Command string `json:"command"`
	Mode    string `json:"mode"`
	Nodes   string `json:"nodes"`
	Machine struct {
		Cores       int    `json:"cores"`
		MemoryBytes uint64 `json:"memory_bytes"`
	} `json:"machine"`
	Figures []struct {
		Name   string    `json:"name"`
		Median float64   `json:"median"`
		Runs   []float64 `json:"runs"`
	} `json:"figures"`
	Targets []struct {
		Name  string  `json:"name"`
		Value float64 `json:"value"`
	} `json:"targets"`
}

// TestBenchSmoke runs the whole bench once with a tiny N in each mode, with its nodes as
// processes (federation, with profiles) and in the bench's process (shared), so that it
// cannot rot. It checks that every figure is there and positive, never how fast
// anything is.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub, two nodes and a node process")
	}
	t.Run("federation", func(t *testing.T) { benchSmoke(t, "federation", "process") })
	t.Run("shared", func(t *testing.T) { benchSmoke(t, "shared", "inprocess") })
}

func benchSmoke(t *testing.T, mode, nodes string) {
	var stdout, stderr bytes.Buffer
	profiles := t.TempDir()
	args := []string{"--mode", mode, "--nodes", nodes, "--n", "300", "--e2e-n", "200", "--runs", "1", "--rate", "500",
		"--latency-duration", "400ms", "--floor-duration", "100ms", "--json", "--dir", t.TempDir()}
	if nodes == "process" {
		args = append(args, "--cpuprofile", filepath.Join(profiles, "cpu.pprof"), "--trace", filepath.Join(profiles, "trace.out"),
			"--allocprofile", filepath.Join(profiles, "allocs.pprof"))
	}
	if code := bench.Run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d\nstderr:\n%s", code, stderr.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	if rep.Mode != mode || rep.Nodes != nodes {
		t.Errorf("mode %q, nodes %q, want %q, %q", rep.Mode, rep.Nodes, mode, nodes)
	}
	if nodes == "process" {
		// Each phase profiles the bench's process and the node processes running in it:
		// B starts during catch-up and is profiled from its start.
		for _, f := range []string{"cpu.ingest.pprof", "cpu.ingest.A.pprof", "cpu.catchup.B.pprof", "cpu.e2e.A.pprof",
			"cpu.e2e.B.pprof", "trace.latency.out", "trace.latency.A.out", "trace.latency.B.out",
			"allocs.ingest.start.pprof", "allocs.ingest.pprof", "allocs.e2e.A.start.pprof", "allocs.e2e.A.pprof",
			"allocs.catchup.B.start.pprof", "allocs.catchup.B.pprof"} {
			if st, err := os.Stat(filepath.Join(profiles, f)); err != nil || st.Size() == 0 {
				t.Errorf("profile %s: %v (empty: %v)", f, err, err == nil)
			}
		}
	}
	if rep.Machine.Cores <= 0 || rep.Machine.MemoryBytes == 0 || !strings.Contains(rep.Command, "--n 300") {
		t.Errorf("machine %+v, command %q", rep.Machine, rep.Command)
	}
	got := map[string]float64{}
	for _, f := range rep.Figures {
		if len(f.Runs) != 1 {
			t.Errorf("%s: %d runs, want 1", f.Name, len(f.Runs))
		}
		got[f.Name] = f.Median
	}
	for _, name := range []string{
		"raw_sign", "raw_verify", "raw_js", "ingest", "ingest_own_feed", "ingest_cpu", "ingest_util",
		"catchup", "catchup_feed", "catchup_cpu", "catchup_util", "e2e", "e2e_cpu", "e2e_util",
		"e2e_offered", "e2e_p50", "e2e_p99", "e2e_max", "e2e_ack_p50", "e2e_ack_p99",
		"mem_base", "mem_rss", "mem_peak", "mem_heap", "mem_live", "mem_go", "mem_at_1m",
	} {
		v, ok := got[name]
		if !ok {
			t.Errorf("figure %s missing", name)
		} else if !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("figure %s = %v, want positive", name, v)
		}
	}
	// The node processes' allocations and collections, only with node processes:
	// allocation is positive, a phase may see no collection.
	for _, phase := range []string{"ingest", "catchup", "e2e"} {
		alloc, okA := got[phase+"_alloc"]
		gcs, okG := got[phase+"_gcs"]
		switch {
		case nodes == "process" && (!okA || !(alloc > 0) || !okG || gcs < 0):
			t.Errorf("%s_alloc = %v (present %v), %s_gcs = %v (present %v)", phase, alloc, okA, phase, gcs, okG)
		case nodes == "inprocess" && (okA || okG):
			t.Errorf("%s_alloc or _gcs reported with the nodes in the bench's process", phase)
		}
	}
	// Growth per 100k may be 0 at this N (no measurable growth); it must be there.
	for _, name := range []string{"mem_per_100k", "mem_live_per_100k"} {
		if v, ok := got[name]; !ok || v < 0 {
			t.Errorf("figure %s = %v (present %v)", name, v, ok)
		}
	}
	targets := map[string]float64{}
	for _, tg := range rep.Targets {
		targets[tg.Name] = tg.Value
	}
	for _, name := range []string{"ingest", "e2e", "catchup", "e2e_p99", "mem_at_1m"} {
		if v, ok := targets[name]; !ok || !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("target %s = %v (present %v), want positive", name, v, ok)
		}
	}
}

// TestBenchFlags checks the exit codes of bad flags and help.
func TestBenchFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := bench.Run(context.Background(), []string{"--scenarios", "nope"}, &stdout, &stderr); code != 2 {
		t.Fatalf("unknown scenario: exit code %d, want 2", code)
	}
	if code := bench.Run(context.Background(), []string{"--mode", "mesh"}, &stdout, &stderr); code != 2 {
		t.Fatalf("unknown mode: exit code %d, want 2", code)
	}
	if code := bench.Run(context.Background(), []string{"--nodes", "threads"}, &stdout, &stderr); code != 2 {
		t.Fatalf("unknown nodes: exit code %d, want 2", code)
	}
	if code := bench.Run(context.Background(), []string{"-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("help: exit code %d, want 0", code)
	}
}
