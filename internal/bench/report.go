package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// results collects each figure's value per run.
type results struct {
	vals map[string][]float64
}

func newResults() *results { return &results{vals: map[string][]float64{}} }

func (r *results) add(name string, v float64) { r.vals[name] = append(r.vals[name], v) }

func (r *results) last(name string) float64 {
	v := r.vals[name]
	if len(v) == 0 {
		return math.NaN()
	}
	return v[len(v)-1]
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// figureDef describes a figure of the report.
type figureDef struct {
	name, unit, what string
}

// figureDefs lists the report's figures in order; those a run did not measure are left
// out.
var figureDefs = []figureDef{
	{"raw_sign", "op/s", "floor: ed25519 sign of PAE(type, payload), all cores"},
	{"raw_verify", "op/s", "floor: ed25519 verify of PAE(type, payload), all cores"},
	{"raw_js", "msg/s", "floor: JetStream async publish of the envelopes, stream like A's (CIX_OUT_NL or CIX_ALERTS), bus window"},
	{"ingest", "alerts/s", "PublishStream to A, acknowledged (signed and stored)"},
	{"ingest_own_feed", "alerts/s", "same N, until A has also verified them into its own feed"},
	{"ingest_cpu", "us/alert", "CPU per alert (bench and node processes), ingest until in A's own feed and index"},
	{"ingest_util", "%", "share of all cores used by the bench and node processes, same window"},
	{"ingest_alloc", "KB/alert", "heap allocated per alert by the node processes, same window (--nodes process)"},
	{"ingest_gcs", "/1k alerts", "garbage collections of the node processes per 1,000 alerts, same window (--nodes process)"},
	{"catchup", "alerts/s", "new node B joins and verifies, stores and indexes the N alerts"},
	{"catchup_feed", "alerts/s", "the same until B's feed holds them (verified and stored, index still behind)"},
	{"catchup_cpu", "us/alert", "CPU per alert (bench and node processes), catch-up until indexed"},
	{"catchup_util", "%", "share of all cores used by the bench and node processes during catch-up"},
	{"catchup_alloc", "KB/alert", "heap allocated per alert by the node processes during catch-up (--nodes process)"},
	{"catchup_gcs", "/1k alerts", "garbage collections of the node processes per 1,000 alerts during catch-up (--nodes process)"},
	{"e2e", "alerts/s", "published at A, delivered verified to a Subscribe client at B"},
	{"e2e_cpu", "us/alert", "CPU per alert (bench and node processes), until delivered at B, in A's own feed and both indexes"},
	{"e2e_util", "%", "share of all cores used by the bench and node processes, same window"},
	{"e2e_alloc", "KB/alert", "heap allocated per alert by the node processes, same window (--nodes process)"},
	{"e2e_gcs", "/1k alerts", "garbage collections of the node processes per 1,000 alerts, same window (--nodes process)"},
	{"e2e_offered", "alerts/s", "offered rate of the latency phase (paced sends)"},
	{"e2e_p50", "ms", "latency send at A to delivery at B, median"},
	{"e2e_p99", "ms", "latency send at A to delivery at B, 99th percentile"},
	{"e2e_max", "ms", "latency send at A to delivery at B, maximum"},
	{"e2e_ack_p50", "ms", "same alerts, send to A's acknowledgement (signed, stored in A's outbound stream), median"},
	{"e2e_ack_p99", "ms", "same alerts, send to A's acknowledgement, 99th percentile"},
	{"mem_base", "MB", "node A process (cixd with its embedded NATS server, in federation mode its leaf server) RSS before publishing"},
	{"mem_rss", "MB", "node A process RSS after storing N (its alert streams + own feed)"},
	{"mem_peak", "MB", "node A process peak RSS (VmHWM)"},
	{"mem_heap", "MB", "node A process Go heap in use at the same moment"},
	{"mem_live", "MB", "node A process live Go heap, right after a forced collection"},
	{"mem_go", "MB", "node A process memory the Go runtime holds from the system (Sys - HeapReleased), at the same moment as the RSS; RSS - mem_go is about what is outside it (SQLite's allocations, the binary)"},
	{"mem_per_100k", "MB", "RSS growth per 100,000 alerts, from N/2 to N stored (depends on GC timing)"},
	{"mem_live_per_100k", "MB", "live heap growth per 100,000 alerts, from N/2 to N stored"},
	{"mem_at_1m", "MB", "node A RSS with 1,000,000 alerts: measured if N >= 1,000,000, else RSS + per 100k x (1,000,000 - N)/100,000"},
}

// Figure is one measured figure.
type Figure struct {
	Name   string    `json:"name"`
	Unit   string    `json:"unit"`
	Median float64   `json:"median"`
	Runs   []float64 `json:"runs"`
	What   string    `json:"what"`
}

// Target is one figure compared with its target.
type Target struct {
	Name      string  `json:"name"`
	Formula   string  `json:"formula"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	// AtLeast: the value must be at least Threshold; otherwise below it.
	AtLeast bool   `json:"at_least"`
	Unit    string `json:"unit"`
	Pass    bool   `json:"pass"`
	Note    string `json:"note,omitempty"`
}

// Machine describes where the figures come from.
type Machine struct {
	Cores       int    `json:"cores"`
	MemoryBytes uint64 `json:"memory_bytes"`
	CPU         string `json:"cpu,omitempty"`
	OS          string `json:"os"`
	Go          string `json:"go"`
	// LoadAverage is the 1-minute load average at the start and at the end of the
	// bench: above the core count, other processes competed for the cores.
	LoadAverage [2]float64 `json:"load_average"`
}

// report is the bench's output.
type report struct {
	Command string `json:"command"`
	// Mode is the layout of the hub and nodes: federation or shared.
	Mode string `json:"mode"`
	// Nodes says where the nodes of ingest, catch-up and end to end ran: process (each
	// its own) or inprocess (in the bench's process).
	Nodes   string   `json:"nodes"`
	Machine Machine  `json:"machine"`
	N       int      `json:"n"`
	E2EN    int      `json:"e2e_n"`
	Rate    int      `json:"rate"`
	Runs    int      `json:"runs"`
	Figures []Figure `json:"figures"`
	Targets []Target `json:"targets"`
}

func (b *bencher) report() *report {
	rep := &report{
		Command: "go run ./cmd/cixbench " + strings.Join(b.opt.args, " "),
		Mode:    b.opt.mode, Nodes: b.opt.nodes, Machine: machine(b.loadStart, b.loadEnd), N: b.opt.n, E2EN: b.opt.e2eN, Rate: b.opt.rate, Runs: b.opt.runs,
	}
	rep.Command = strings.TrimSpace(rep.Command)
	med := map[string]float64{}
	for _, d := range figureDefs {
		v, ok := b.res.vals[d.name]
		if !ok {
			continue
		}
		med[d.name] = median(v)
		rep.Figures = append(rep.Figures, Figure{Name: d.name, Unit: d.unit, Median: med[d.name], Runs: v, What: d.what})
	}
	ratio := func(name, formula string, v, floor float64) {
		r := 0.0
		if floor > 0 && !math.IsInf(floor, 0) {
			r = v / floor
		}
		rep.Targets = append(rep.Targets, Target{Name: name, Formula: formula, Value: r, Threshold: 0.5, AtLeast: true, Unit: "ratio"})
	}
	sign, verify, js := med["raw_sign"], med["raw_verify"], med["raw_js"]
	if v, ok := med["ingest"]; ok {
		ratio("ingest", "ingest / min(raw_js, raw_sign)", v, min(js, sign))
	}
	if v, ok := med["e2e"]; ok {
		ratio("e2e", "e2e / min(raw_js, 1/(1/raw_sign + 1/raw_verify))", v, min(js, 1/(1/sign+1/verify)))
	}
	if v, ok := med["catchup"]; ok {
		ratio("catchup", "catchup / raw_verify", v, verify)
	}
	if v, ok := med["e2e_p99"]; ok {
		rep.Targets = append(rep.Targets, Target{
			Name: "e2e_p99", Formula: fmt.Sprintf("e2e p99 latency at %d alerts/s offered", b.opt.rate),
			Value: v, Threshold: 10, Unit: "ms",
		})
	}
	if v, ok := med["mem_at_1m"]; ok {
		t := Target{Name: "mem_at_1m", Formula: "node A RSS with 1,000,000 alerts stored", Value: v, Threshold: 300, Unit: "MB"}
		if b.opt.n < 1_000_000 {
			t.Note = fmt.Sprintf("projected from N=%d", b.opt.n)
		}
		rep.Targets = append(rep.Targets, t)
	}
	for i := range rep.Targets {
		t := &rep.Targets[i]
		if t.AtLeast {
			t.Pass = t.Value >= t.Threshold
		} else {
			t.Pass = t.Value < t.Threshold
		}
	}
	return rep
}

func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r *report) writeTable(w io.Writer) error {
	m := r.Machine
	fmt.Fprintf(w, "cix bench (%s mode, nodes %s): %s\n", r.Mode, r.Nodes, r.Command)
	fmt.Fprintf(w, "machine: %d cores, %.1f GiB memory, %s, %s, %s; load average %.2f at start, %.2f at end\n",
		m.Cores, float64(m.MemoryBytes)/(1<<30), m.CPU, m.OS, m.Go, m.LoadAverage[0], m.LoadAverage[1])
	fmt.Fprintf(w, "N=%d, e2e N=%d, latency at %d alerts/s; median of %d runs\n\n", r.N, r.E2EN, r.Rate, r.Runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\t  median\tunit\truns\twhat")
	for _, f := range r.Figures {
		runs := make([]string, len(f.Runs))
		for i, v := range f.Runs {
			runs[i] = fmt.Sprintf("%8s", num(v))
		}
		fmt.Fprintf(tw, "%s\t%8s\t%s\t%s\t%s\n", f.Name, num(f.Median), f.Unit, strings.Join(runs, " "), f.What)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tvalue\tgoal\tresult\tformula")
	for _, t := range r.Targets {
		op := "<"
		if t.AtLeast {
			op = ">="
		}
		res := "miss"
		if t.Pass {
			res = "pass"
		}
		formula := t.Formula
		if t.Note != "" {
			formula += " (" + t.Note + ")"
		}
		unit := " " + t.Unit
		if t.Unit == "ratio" {
			unit = ""
		}
		fmt.Fprintf(tw, "%s\t%s%s\t%s %s%s\t%s\t%s\n", t.Name, num(t.Value), unit, op, num(t.Threshold), unit, res, formula)
	}
	return tw.Flush()
}

// num formats a figure with three significant digits, without exponent.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

// loadAverage is the 1-minute load average, or 0 when unknown.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func machine(loadStart, loadEnd float64) Machine {
	m := Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version(), LoadAverage: [2]float64{loadStart, loadEnd}}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemoryBytes, _ = procField(b, "MemTotal:")
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}
