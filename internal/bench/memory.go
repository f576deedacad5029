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
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/daemon"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/nats-io/nats-server/v2/server"
	"google.golang.org/protobuf/proto"
)

// ChildEnv, set to 1 in the environment of a process the bench starts, tells a test
// binary that it is the bench's node process: its TestMain calls Run with its arguments
// instead of running tests.
const ChildEnv = "CIXBENCH_NODE"

// childArg is the hidden first argument that makes Run start a node for the memory
// scenario.
const childArg = "-node"

// runChild is the node process of the memory scenario: a development node of NL (the
// same assembly as cixd: embedded NATS with its JetStream store, dev keystore, gRPC),
// under -data-dir. With -manifest it is in federation mode: its embedded server is NL's
// leaf server, connected to the hub at -hub-url with the seed in the environment
// variable -seed-env, and its keystore and age identity are the ones the parent wrote
// under -data-dir. It prints "addr HOST:PORT" once it serves, then answers commands on
// stdin, one per line, until stdin closes:
//
//	mem         one JSON line of Go runtime memory statistics, then of the live heap
//	            after a garbage collection
//	heap FILE   writes a heap profile to FILE, answers "ok"
func runChild(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cixbench -node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "node data directory")
	logLevel := fs.String("log-level", "warn", "node log level")
	manifest := fs.String("manifest", "", "federation manifest: run in federation mode")
	hubURL := fs.String("hub-url", "", "the hub's leafnode URL (federation mode)")
	seedEnv := fs.String("seed-env", "", "environment variable holding the leaf nkey seed (federation mode)")
	if err := fs.Parse(args); err != nil || *dataDir == "" {
		fmt.Fprintln(stderr, "cixbench -node: -data-dir is required")
		return 2
	}
	cfg := config.Default()
	cfg.Administration, cfg.Node, cfg.DataDir = "NL", "a", *dataDir
	cfg.GRPC.Listen, cfg.NATS.EmbeddedListen = "127.0.0.1:0", "127.0.0.1:0"
	if *manifest != "" {
		cfg.Federation = config.Federation{Manifest: *manifest, HubURLs: []string{*hubURL}, LeafNkeySeedEnv: *seedEnv}
	}
	cfg.Log.Level = *logLevel
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
			cmd, arg, _ := strings.Cut(line, " ")
			switch cmd {
			case "mem":
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				m := childMem{HeapInuse: ms.HeapInuse, HeapSys: ms.HeapSys, HeapReleased: ms.HeapReleased, Sys: ms.Sys}
				runtime.GC()
				runtime.ReadMemStats(&ms)
				m.HeapLive = ms.HeapAlloc
				b, _ := json.Marshal(m)
				fmt.Fprintf(stdout, "%s\n", b)
			case "heap":
				if err := writeHeapProfile(arg); err != nil {
					fmt.Fprintf(stdout, "error %v\n", err)
				} else {
					fmt.Fprintln(stdout, "ok")
				}
			default:
				fmt.Fprintf(stdout, "error unknown command %q\n", cmd)
			}
		}
	}
}

func stopChild(d *daemon.Daemon, stderr io.Writer) int {
	if err := d.Stop(); err != nil {
		fmt.Fprintf(stderr, "cixbench -node: %v\n", err)
		return 1
	}
	return 0
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

// nodeProcess is the parent's handle on a node process.
type nodeProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	m     *member
}

// startNodeProcess re-executes the running binary as a node under dir, with the extra
// arguments args.
func startNodeProcess(ctx context.Context, dir string, args, env []string, stderr io.Writer) (*nodeProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, append([]string{childArg, "-data-dir", dir}, args...)...)
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
	if p.m, err = dial(addr); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
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

func (p *nodeProcess) goMem() (childMem, error) {
	var m childMem
	line, err := p.command("mem")
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal([]byte(line), &m)
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
	if p.m != nil {
		p.m.conn.Close()
	}
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

// memResult is one run of the memory scenario.
type memResult struct {
	base      uint64 // RSS before publishing
	half      uint64 // RSS with the first half stored
	rss, peak uint64 // RSS and peak RSS with all stored
	heapInuse uint64 // Go heap in use when rss was read
	halfLive  uint64 // live Go heap with the first half stored
	live      uint64 // live Go heap with all stored
}

// memoryRun starts a node process (in federation mode with the hub of a manifest of NL
// and BE running in this process, the node's leaf server connected to it; B never
// starts), publishes n alerts to it over PublishStream in two halves (encoded as they are sent, to keep the bench's own memory flat), waits each
// time until the node has them in its own feed as well, and reads its resident memory.
// The growth between the halves is the marginal memory per alert, free of the fixed
// costs the first alerts bring (buffers, caches, connections).
func (b *bencher) memoryRun(ctx context.Context, dir string, src *alertSource, n int, heapProfile string) (memResult, error) {
	var r memResult
	nodeDir := filepath.Join(dir, "A")
	var args []string
	env := b.opt.nodeEnv
	var hub *server.Server
	if b.opt.mode == modeFederation {
		fed, err := benchFederation(filepath.Join(dir, "federation"))
		if err != nil {
			return r, err
		}
		if _, err := fed.WriteDevIdentity("NL", filepath.Join(nodeDir, "keys")); err != nil {
			return r, err
		}
		if err := fed.StartHub(); err != nil {
			return r, err
		}
		defer fed.StopHub()
		hub = fed.Hub
		args = []string{"-manifest", fed.ManifestFile, "-hub-url", fed.LeafURL, "-seed-env", fed.SeedEnv("NL")}
		// The seed goes to the child's environment only.
		env = append(slices.Clone(env), fed.SeedEnv("NL")+"="+string(fed.Member("NL").Seed))
	}
	p, err := startNodeProcess(ctx, nodeDir, args, env, b.stderr)
	if err != nil {
		return r, err
	}
	defer p.stop()
	if _, err := p.m.waitFeed(ctx, 0); err != nil {
		return r, err
	}
	if hub != nil {
		// The base includes the leaf connection, which also shows that the node runs in
		// federation mode.
		if err := waitLeaves(ctx, hub, 1); err != nil {
			return r, err
		}
	}
	if r.base, _, err = p.rss(); err != nil {
		return r, err
	}
	half := n / 2
	for _, part := range []int{half, n - half} {
		var encErr error
		_, err = publishStream(ctx, p.m.node, part, func(int) []byte {
			b, err := proto.Marshal(&nodev1.PublishStreamRequest{Alert: src.next()})
			if err != nil && encErr == nil {
				encErr = err
			}
			return b
		}, 0, nil)
		if err != nil {
			return r, err
		}
		if encErr != nil {
			return r, encErr
		}
		if _, err := p.m.waitFeed(ctx, uint64(src.n)); err != nil {
			return r, err
		}
		if err := sleep(ctx, b.opt.settle); err != nil {
			return r, err
		}
		if r.rss, r.peak, err = p.rss(); err != nil {
			return r, err
		}
		gm, err := p.goMem()
		if err != nil {
			return r, fmt.Errorf("node process memory statistics: %w", err)
		}
		r.heapInuse, r.live = gm.HeapInuse, gm.HeapLive
		if r.half == 0 {
			r.half, r.halfLive = r.rss, r.live
		}
	}
	if heapProfile != "" {
		if _, err := p.command("heap " + heapProfile); err != nil {
			return r, fmt.Errorf("heap profile: %w", err)
		}
	}
	if err := p.stop(); err != nil {
		return r, fmt.Errorf("node process: %w", err)
	}
	return r, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
