package daemon_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/config"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/vault"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// cixdProcess is a dev node running as a child process (the test binary as cixd).
type cixdProcess struct {
	cmd    *exec.Cmd
	client nodev1.NodeServiceClient
	conn   *grpc.ClientConn
}

// startCixd starts a dev node of NL in its own process on dataDir, with its embedded
// NATS server on natsAddr, and connects to its gRPC address.
func startCixd(t *testing.T, dataDir, natsAddr string) *cixdProcess {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-admin", "NL", "-node", "n1", "-data-dir", dataDir, "-grpc-listen", "127.0.0.1:0",
		"-nats-listen", natsAddr, "-tls", "off", "-log-level", "warn")
	cmd.Env = append(os.Environ(), cixdChildEnv+"=1")
	cmd.Stderr = tWriter{t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &cixdProcess{cmd: cmd}
	t.Cleanup(p.kill)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("cixd: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	_, rest, ok := strings.Cut(line, "serving gRPC on ")
	addr, _, _ := strings.Cut(rest, " ")
	if !ok || addr == "" {
		t.Fatalf("cixd said %q", line)
	}
	if p.conn, err = grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.conn.Close() })
	p.client = nodev1.NewNodeServiceClient(p.conn)
	return p
}

// kill sends SIGKILL and reaps the process.
func (p *cixdProcess) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// publishAll sends alerts on one PublishStream and returns the ids acknowledged as
// stored (new or duplicate). after, if set, is called with the count of acknowledgements
// as they come; the stream ends when the node goes away.
func publishAll(client nodev1.NodeServiceClient, alerts []*alertv1.Alert, after func(int)) (acked map[string]bool, dup int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stream, err := client.PublishStream(ctx)
	if err != nil {
		return nil, 0, err
	}
	go func() {
		for _, a := range alerts {
			if stream.Send(&nodev1.PublishStreamRequest{Alert: a}) != nil {
				return
			}
		}
		_ = stream.CloseSend()
	}()
	acked = map[string]bool{}
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			return acked, dup, nil
		}
		if err != nil {
			return acked, dup, err
		}
		if r.GetError() != nil {
			return acked, dup, fmt.Errorf("item %d: %v", r.GetIndex(), r.GetError())
		}
		acked[r.GetId()] = true
		if r.GetResult().GetDuplicate() {
			dup++
		}
		if after != nil {
			after(len(acked))
		}
	}
}

// TestSIGKILLDuringBulkPublish: cixd killed with SIGKILL while 10,000 alerts stream in.
// After a restart on the same data, every alert acknowledged before the kill is stored;
// publishing all 10,000 again with the same ids stores each once (those acknowledged come
// back as duplicates); a subscriber of the restarted node gets each exactly once.
func TestSIGKILLDuringBulkPublish(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes")
	}
	dir, natsAddr := filepath.Join(t.TempDir(), "NL"), freeAddr(t)
	const n = 10000
	alerts := make([]*alertv1.Alert, n)
	for i := range alerts {
		alerts[i] = newAlert("NL")
	}
	p := startCixd(t, dir, natsAddr)
	var once sync.Once
	acked, _, err := publishAll(p.client, alerts, func(k int) {
		if k == n/3 {
			once.Do(func() { _ = p.cmd.Process.Kill() }) // SIGKILL
		}
	})
	if err == nil || len(acked) >= n {
		t.Fatalf("publishing finished (%d acknowledged, %v) before the kill", len(acked), err)
	}
	_ = p.cmd.Wait()
	t.Logf("killed after %d acknowledgements: %v", len(acked), status.Code(err))

	p = startCixd(t, dir, natsAddr)
	again, dup, err := publishAll(p.client, alerts, nil)
	if err != nil || len(again) != n {
		t.Fatalf("retry: %d of %d acknowledged: %v", len(again), n, err)
	}
	if dup < len(acked) {
		t.Fatalf("retry: %d duplicates, but %d were acknowledged before the kill", dup, len(acked))
	}
	// Every acknowledged alert is on the alert stream once; the stream holds each id once.
	js := jsAt(t, "nats://"+natsAddr)
	st, err := js.Stream(context.Background(), bus.AlertsStream)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(context.Background()); err != nil || info.State.Msgs != n {
		t.Fatalf("alert stream holds %d messages (%v), want %d", info.State.Msgs, err, n)
	}
	// The restarted node delivers each exactly once, in the order of the stream.
	tn := &testNode{client: p.client}
	sub := subscribe(t, tn, &nodev1.SubscribeRequest{Start: nodev1.StartPosition_START_POSITION_EARLIEST})
	end := sentinel(t, tn)
	seen := map[string]int{}
	for _, a := range sub.untilID(t, end, time.Minute) {
		seen[a.GetAlert().GetId()]++
	}
	if len(seen) != n {
		t.Fatalf("delivered %d distinct alerts, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("%s delivered %d times", id, k)
		}
	}
	for id := range acked {
		if seen[id] != 1 {
			t.Fatalf("acknowledged %s not delivered", id)
		}
	}
}

// jsAt is a JetStream client of the NATS server at url.
func jsAt(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

var (
	_ = runtime.GC
	_ = vault.StateOK
	_ = codes.OK
	_ = config.Default
)
