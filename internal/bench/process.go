package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"time"

	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/daemon"
)

// Node processes: with --nodes process (the default) each administration node runs as
// its own process, as deployed, and the memory scenario's node always does. The bench
// re-executes its own binary with childArg; the child starts the node from the
// configuration file the parent wrote, says where it serves, and answers the parent's
// commands on stdin.

// ChildEnv, set to 1 in the environment of a process the bench starts, tells a test
// binary that it is the bench's node process: its TestMain calls Run with its arguments
// instead of running tests.
const ChildEnv = "CIXBENCH_NODE"

// childArg is the hidden first argument that makes Run start a node process.
const childArg = "-node"

// runChild is a node process: the same assembly as cixd (daemon.Start) from the
// configuration file -config. A leaf server reads its seed from the environment the
// parent gave. It prints "addr HOST:PORT" once it serves, then answers commands on
// stdin, one per line, until stdin closes:
//
//	mem               one JSON line of Go runtime memory statistics, then of the live
//	                  heap after a garbage collection
//	heap FILE         writes a heap profile to FILE, answers "ok"
//	usage             one JSON line: bytes allocated on the heap and garbage
//	                  collections completed since the process started
//	indexed           one JSON line: whether the node has a search index, the last feed
//	                  position it indexed and the feed's newest position
//	profile cpu FILE  starts a CPU profile into FILE, answers "ok"
//	profile trace FILE  starts an execution trace into FILE, answers "ok"
//	profile allocs FILE  writes a heap profile to FILE with ".start" before its
//	                  extension now and to FILE when the profiles stop, answers "ok"
//	profile stop      stops the profiles it started, answers "ok"
func runChild(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cixbench -node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "the node's configuration file")
	if err := fs.Parse(args); err != nil || *file == "" {
		fmt.Fprintln(stderr, "cixbench -node: -config is required")
		return 2
	}
	cfg := config.Default()
	if err := cfg.LoadFile(*file); err != nil {
		fmt.Fprintf(stderr, "cixbench -node: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d, err := daemon.Start(ctx, cfg, daemon.NewLogger(stderr, cfg.Log))
	if err != nil {
		fmt.Fprintf(stderr, "cixbench -node: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "addr %s\n", d.Addr())
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var prof childProfiles
	defer prof.stop()
	for {
		select {
		case <-ctx.Done():
			return stopChild(d, stderr)
		case <-d.Done():
			return stopChild(d, stderr)
		case line, ok := <-lines:
			if !ok {
				return stopChild(d, stderr)
			}
			out, err := childCommand(ctx, d, &prof, line)
			if err != nil {
				fmt.Fprintf(stdout, "error %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			} else {
				fmt.Fprintln(stdout, out)
			}
		}
	}
}

// childCommand runs one command of the parent and returns its one-line answer.
func childCommand(ctx context.Context, d *daemon.Daemon, prof *childProfiles, line string) (string, error) {
	cmd, arg, _ := strings.Cut(line, " ")
	switch cmd {
	case "mem":
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		m := childMem{HeapInuse: ms.HeapInuse, HeapSys: ms.HeapSys, HeapReleased: ms.HeapReleased, Sys: ms.Sys}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		m.HeapLive = ms.HeapAlloc
		b, err := json.Marshal(m)
		return string(b), err
	case "heap":
		return "ok", writeHeapProfile(arg)
	case "usage":
		ms := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
		metrics.Read(ms)
		b, err := json.Marshal(runtimeUsage{AllocBytes: ms[0].Value.Uint64(), Collections: ms[1].Value.Uint64()})
		return string(b), err
	case "indexed":
		var p indexPosition
		if idx := d.Index(); idx != nil {
			last, err := d.Node().FeedLast(ctx)
			if err != nil {
				return "", err
			}
			p = indexPosition{Enabled: true, Cursor: idx.Cursor(), FeedLast: last}
		}
		b, err := json.Marshal(p)
		return string(b), err
	case "profile":
		kind, file, _ := strings.Cut(arg, " ")
		switch kind {
		case "cpu":
			return "ok", prof.start(file, pprof.StartCPUProfile, pprof.StopCPUProfile)
		case "trace":
			return "ok", prof.start(file, trace.Start, trace.Stop)
		case "allocs":
			stop, err := startAllocProfile(file)
			if err == nil {
				prof.stops = append(prof.stops, stop)
			}
			return "ok", err
		case "stop":
			return "ok", prof.stop()
		}
		return "", fmt.Errorf("unknown profile %q", kind)
	}
	return "", fmt.Errorf("unknown command %q", cmd)
}

// childProfiles are the profiles a node process is writing.
type childProfiles struct{ stops []func() error }

func (p *childProfiles) start(path string, begin func(io.Writer) error, end func()) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := begin(f); err != nil {
		f.Close()
		return err
	}
	p.stops = append(p.stops, func() error { end(); return f.Close() })
	return nil
}

func (p *childProfiles) stop() error {
	var errs []error
	for _, stop := range p.stops {
		errs = append(errs, stop())
	}
	p.stops = nil
	return errors.Join(errs...)
}

func stopChild(d *daemon.Daemon, stderr io.Writer) int {
	if err := d.Stop(); err != nil {
		fmt.Fprintf(stderr, "cixbench -node: %v\n", err)
		return 1
	}
	return 0
}

// startAllocProfile writes a heap profile to path with ".start" before its extension
// and returns the function that writes the one to path: the difference of their
// alloc_space samples is what was allocated in between.
func startAllocProfile(path string) (func() error, error) {
	if err := writeHeapProfile(profilePath(path, "start")); err != nil {
		return nil, err
	}
	return func() error { return writeHeapProfile(path) }, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// childMem is the node process's Go memory, from runtime.MemStats.
type childMem struct {
	HeapInuse    uint64 `json:"heap_inuse"`
	HeapLive     uint64 `json:"heap_live"` // allocated right after a forced collection
	HeapSys      uint64 `json:"heap_sys"`
	HeapReleased uint64 `json:"heap_released"`
	Sys          uint64 `json:"sys"`
}

// runtimeUsage is the answer to "usage".
type runtimeUsage struct {
	AllocBytes  uint64 `json:"alloc_bytes"`
	Collections uint64 `json:"collections"`
}

// indexPosition is the answer to "indexed".
type indexPosition struct {
	Enabled  bool   `json:"enabled"`
	Cursor   uint64 `json:"cursor"`
	FeedLast uint64 `json:"feed_last"`
}

// nodeProcess is the parent's handle on a node process.
type nodeProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startNodeProcess writes cfg to cfg.DataDir + ".yaml", re-executes the running binary
// as that node with env added to the environment, and dials it.
func startNodeProcess(ctx context.Context, cfg config.Config, env []string, stderr io.Writer) (*member, error) {
	b, err := cfg.Marshal()
	if err != nil {
		return nil, err
	}
	file := strings.TrimSuffix(cfg.DataDir, string(os.PathSeparator)) + ".yaml"
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, childArg, "-config", file)
	cmd.Env = append(append(os.Environ(), env...), ChildEnv+"=1")
	cmd.Stderr = stderr
	cmd.WaitDelay = 10 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start node process: %w", err)
	}
	p := &nodeProcess{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	line, err := p.readLine()
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("node process: %w", err)
	}
	addr, ok := strings.CutPrefix(line, "addr ")
	if !ok {
		p.stop()
		return nil, fmt.Errorf("node process said %q", line)
	}
	m, err := dial(addr)
	if err != nil {
		p.stop()
		return nil, err
	}
	m.proc = p
	return m, nil
}

func (p *nodeProcess) readLine() (string, error) {
	line, err := p.out.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(line, "\n"), nil
}

func (p *nodeProcess) command(cmd string) (string, error) {
	if _, err := fmt.Fprintln(p.stdin, cmd); err != nil {
		return "", err
	}
	line, err := p.readLine()
	if err != nil {
		return "", err
	}
	if rest, ok := strings.CutPrefix(line, "error "); ok {
		return "", errors.New(rest)
	}
	return line, nil
}

// commandJSON runs cmd and decodes its answer into v.
func (p *nodeProcess) commandJSON(cmd string, v any) error {
	line, err := p.command(cmd)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(line), v)
}

func (p *nodeProcess) goMem() (childMem, error) {
	var m childMem
	return m, p.commandJSON("mem", &m)
}

// rss returns the process's resident memory now and its peak, in bytes, from
// /proc/PID/status (VmRSS, VmHWM).
func (p *nodeProcess) rss() (now, peak uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0, fmt.Errorf("resident memory: %w", err)
	}
	now, err = procField(b, "VmRSS:")
	if err != nil {
		return 0, 0, err
	}
	peak, err = procField(b, "VmHWM:")
	return now, peak, err
}

// cpu returns the user and system CPU time the process used so far, from
// /proc/PID/stat (all its threads, in clock ticks of 10 ms).
func (p *nodeProcess) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("node process CPU: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces: count fields
	// after its closing parenthesis, where field 3 (state) comes first.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("node process CPU: unexpected /proc stat %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("node process CPU: unexpected /proc stat %q", b)
	}
	var ticks uint64
	for _, s := range f[11:13] { // utime (14) and stime (15)
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("node process CPU: %w", err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on Linux for every
// architecture Go supports there.
const clockTicks = 100

// procField returns a "Name:   123 kB" field of a /proc file, in bytes.
func procField(b []byte, name string) (uint64, error) {
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte(name))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) == 0 {
			break
		}
		v, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %q: %w", name, f[0], err)
		}
		if len(f) > 1 && f[1] == "kB" {
			v *= 1024
		}
		return v, nil
	}
	return 0, fmt.Errorf("no %s field", name)
}

// stop closes the node's stdin, which stops it, and waits for it to exit.
func (p *nodeProcess) stop() error {
	p.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		return errors.New("node process did not stop within 30s; killed")
	}
}
