package daemon_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/assist"
	fed "github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/freeport"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	pb "github.com/cix-exchange/cix/internal/gen/cix/assistance/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

// outageWait bounds waiting for what crosses the hub after an outage: the inbound
// stream's sources can take tens of seconds to resume (docs/transport.md, "Source
// stalls after a hub outage").
const outageWait = 150 * time.Second

// watchLog collects every event of one WatchRequests stream, from the start.
type watchLog struct {
	mu     sync.Mutex
	events []*pb.WatchRequestsResponse
	err    error
}

func watchAll(t *testing.T, c pb.AssistanceServiceClient) *watchLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := c.WatchRequests(ctx, &pb.WatchRequestsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	l := &watchLog{}
	go func() {
		for {
			ev, err := w.Recv()
			l.mu.Lock()
			if err != nil {
				l.err = err
				l.mu.Unlock()
				return
			}
			l.events = append(l.events, ev)
			l.mu.Unlock()
		}
	}()
	return l
}

// entries returns the SHA-256 of each history entry the watch announced, in order
// (duplicates kept), and the number of conflict events.
func (l *watchLog) entries() (shas []string, conflicts int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range l.events {
		if ev.GetConflict() != nil {
			conflicts++
		}
		if e := ev.GetChanged().GetEntry(); e != nil {
			shas = append(shas, e.GetSha256())
		}
	}
	return shas, conflicts
}

// assistHistory returns the request as c holds it, with its history.
func assistHistory(t *testing.T, c pb.AssistanceServiceClient, id string) *pb.Request {
	t.Helper()
	r, err := c.GetRequest(actx(t), &pb.GetRequestRequest{RequestId: id})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetRequest()
}

// identicalHistories fails unless NL and BE hold exactly n transitions of request id,
// each once, none superseded, the same on both sides (hash, prev, action, signer,
// state after) in the same order.
func identicalHistories(t *testing.T, nl, be pb.AssistanceServiceClient, id string, n int) []string {
	t.Helper()
	a, b := assistHistory(t, nl, id), assistHistory(t, be, id)
	ha, hb := a.GetHistory(), b.GetHistory()
	if len(ha) != n || len(hb) != n {
		t.Fatalf("request %s: NL holds %d transitions, BE %d, want %d", id, len(ha), len(hb), n)
	}
	var shas []string
	for i := range ha {
		x, y := ha[i], hb[i]
		if x.GetSha256() != y.GetSha256() || x.GetPrevSha256() != y.GetPrevSha256() || x.GetAction() != y.GetAction() ||
			x.GetActorAdministration() != y.GetActorAdministration() || x.GetKeyId() != y.GetKeyId() || x.GetStateAfter() != y.GetStateAfter() {
			t.Fatalf("request %s, transition %d: NL %v, BE %v", id, i, x, y)
		}
		if x.GetSupersededBy() != "" || slices.Contains(shas, x.GetSha256()) {
			t.Fatalf("request %s, transition %d superseded or held twice: %v", id, i, x)
		}
		if i > 0 && x.GetPrevSha256() != ha[i-1].GetSha256() {
			t.Fatalf("request %s, transition %d not chained on the one before", id, i)
		}
		shas = append(shas, x.GetSha256())
	}
	if a.GetState() != b.GetState() || a.GetHeadSha256() != b.GetHeadSha256() {
		t.Fatalf("request %s: NL %v head %s, BE %v head %s", id, a.GetState(), a.GetHeadSha256(), b.GetState(), b.GetHeadSha256())
	}
	return shas
}

func noQuarantine(t *testing.T, f *fedNet, codes ...string) {
	t.Helper()
	for _, c := range codes {
		q, err := f.node(c).admin.ListQuarantine(actx(t), &nodev1.ListQuarantineRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(q.GetMessages()) != 0 {
			t.Fatalf("%s quarantined %d messages, first %v: %s", c, len(q.GetMessages()), q.GetMessages()[0].GetReason(), q.GetMessages()[0].GetDetail())
		}
	}
}

// Issue 8, hub down during an assistance exchange: both sides act while the hub is
// down (BE acknowledges, accepts and answers request A; NL withdraws W and submits B1
// and B2). When it returns nothing is lost or doubled: each side holds the same
// history of every request (hashes, chain), no fork, nothing quarantined, and each
// side's WatchRequests (opened before the outage) announces every transition once.
func TestAssistanceHubDownDuringExchange(t *testing.T) {
	f := startFedNet(t)
	nl, be := assistClient(f.node("NL")), assistClient(f.node("BE"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*outageWait)
	defer cancel()
	a := submitted(t, nl, "BE", pb.Urgency_URGENCY_NORMAL)
	w := submitted(t, nl, "BE", pb.Urgency_URGENCY_URGENT)
	for _, id := range []string{a, w} {
		waitState(t, "BE", be, id, pb.RequestState_REQUEST_STATE_DELIVERED)
		waitState(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_DELIVERED)
	}
	watchNL, watchBE := watchAll(t, nl), watchAll(t, be)

	f.stopHub()
	if _, err := be.AcknowledgeRequest(ctx, &pb.AcknowledgeRequestRequest{RequestId: a, ClientId: uuid.NewString()}); err != nil {
		t.Fatal(err)
	}
	if _, err := nl.WithdrawRequest(ctx, &pb.WithdrawRequestRequest{RequestId: w, ClientId: uuid.NewString(), Reason: "handled nationally"}); err != nil {
		t.Fatal(err)
	}
	if _, err := be.AcceptRequest(ctx, &pb.AcceptRequestRequest{RequestId: a, ClientId: uuid.NewString()}); err != nil {
		t.Fatal(err)
	}
	b1 := submitted(t, nl, "BE", pb.Urgency_URGENCY_NORMAL)
	if _, err := be.AnswerRequest(ctx, &pb.AnswerRequestRequest{RequestId: a, ClientId: uuid.NewString(),
		Reply: &pb.Reply{Items: []*pb.ReplyItem{item("Company record", alertv1.HandlingCode_HANDLING_CODE_H1)}}}); err != nil {
		t.Fatal(err)
	}
	b2 := submitted(t, nl, "BE", pb.Urgency_URGENCY_NORMAL)
	// Nothing crossed while the hub was down.
	if st := assistHistory(t, nl, a).GetState(); st != pb.RequestState_REQUEST_STATE_DELIVERED {
		t.Fatalf("NL sees A %v with the hub down, want DELIVERED", st)
	}
	if st := assistHistory(t, be, w).GetState(); st != pb.RequestState_REQUEST_STATE_DELIVERED {
		t.Fatalf("BE sees W %v with the hub down, want DELIVERED", st)
	}
	_, err := be.GetRequest(ctx, &pb.GetRequestRequest{RequestId: b1})
	wantCode(t, err, codes.NotFound)

	f.startHub()
	f.waitLeaves(3)
	waitStateFor(t, "NL", nl, a, pb.RequestState_REQUEST_STATE_ANSWERED, outageWait)
	waitStateFor(t, "BE", be, w, pb.RequestState_REQUEST_STATE_WITHDRAWN, outageWait)
	for _, id := range []string{b1, b2} {
		waitStateFor(t, "BE", be, id, pb.RequestState_REQUEST_STATE_DELIVERED, outageWait)
		waitStateFor(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_DELIVERED, outageWait)
	}
	var all []string
	for _, c := range []struct {
		id string
		n  int
	}{{a, 5}, {w, 3}, {b1, 2}, {b2, 2}} { // A: SUBMIT DELIVER ACKNOWLEDGE ACCEPT ANSWER; W: SUBMIT DELIVER WITHDRAW
		all = append(all, identicalHistories(t, nl, be, c.id, c.n)...)
	}
	noQuarantine(t, f, "NL", "BE")

	// Watches: every transition once, no conflict; a replay from the start says the same.
	for _, s := range []struct {
		who string
		c   pb.AssistanceServiceClient
		l   *watchLog
	}{{"NL", nl, watchNL}, {"BE", be, watchBE}} {
		eventually(t, assistWait, s.who+"'s watch to announce all 12 transitions", func() bool {
			shas, _ := s.l.entries()
			return len(shas) >= len(all)
		})
		shas, conflicts := s.l.entries()
		slices.Sort(shas)
		want := slices.Clone(all)
		slices.Sort(want)
		if !slices.Equal(shas, want) || conflicts != 0 {
			t.Fatalf("%s's live watch announced %d transitions (%d distinct wanted) and %d conflicts", s.who, len(shas), len(want), conflicts)
		}
		replay := watchAll(t, s.c)
		eventually(t, assistWait, s.who+"'s replay to catch up", func() bool {
			replay.mu.Lock()
			defer replay.mu.Unlock()
			return slices.ContainsFunc(replay.events, func(ev *pb.WatchRequestsResponse) bool { return ev.GetCaughtUp() != nil })
		})
		got, conflicts := replay.entries()
		slices.Sort(got)
		if !slices.Equal(got, want) || conflicts != 0 {
			t.Fatalf("%s's replayed watch announced %d transitions, want %d once each, and %d conflicts", s.who, len(got), len(want), conflicts)
		}
	}
}

// Issue 8, a node restarted between logging its own transition and publishing it: NL's
// outbound stream refuses the SUBMIT (full), so it is in NL's log only; NL stops and
// starts again (the stream's limits restored at start); the start-up store-and-forward
// publishes it once, BE receives it once and delivers, and a retry of the call with the
// same client id sends nothing.
func TestAssistanceRestartBetweenLogAndPublish(t *testing.T) {
	f := startFedNet(t)
	nl, be := assistClient(f.node("NL")), assistClient(f.node("BE"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*outageWait)
	defer cancel()
	cr, err := nl.CreateRequest(ctx, &pb.CreateRequestRequest{ClientId: uuid.NewString(), Content: requestContent("BE", pb.Urgency_URGENCY_NORMAL)})
	if err != nil {
		t.Fatal(err)
	}
	id := cr.GetRequest().GetRequestId()

	// Fill NL's outbound stream: its byte limit at what it holds.
	js, err := jetstream.New(f.rawConn("NL"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := js.Stream(ctx, fed.OutboundStream("NL"))
	if err != nil {
		t.Fatal(err)
	}
	fillStream(t, js, out)
	const clientID = "submit-across-restart"
	sub, err := nl.SubmitRequest(ctx, &pb.SubmitRequestRequest{RequestId: id, ClientId: clientID})
	if err != nil {
		t.Fatalf("SubmitRequest with the outbound stream full: %v, want it logged and answered", err)
	}
	subject := assist.Subject("NL", "BE", sub.GetTransition().GetMsgId())
	if _, err := out.GetLastMsgForSubject(ctx, subject); err == nil {
		t.Fatalf("the full outbound stream took %s", subject)
	}
	if st := assistHistory(t, nl, id).GetState(); st != pb.RequestState_REQUEST_STATE_SUBMITTED {
		t.Fatalf("NL: %v, want SUBMITTED", st)
	}

	if err := f.node("NL").d.Stop(); err != nil {
		t.Fatal(err)
	}
	nl = assistClient(f.startNode("NL"))
	waitStateFor(t, "BE", be, id, pb.RequestState_REQUEST_STATE_DELIVERED, outageWait)
	waitStateFor(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_DELIVERED, outageWait)
	shas := identicalHistories(t, nl, be, id, 2)
	if shas[0] != sub.GetTransition().GetSha256() {
		t.Fatalf("BE holds SUBMIT %s, NL logged %s", shas[0], sub.GetTransition().GetSha256())
	}
	again, err := nl.SubmitRequest(ctx, &pb.SubmitRequestRequest{RequestId: id, ClientId: clientID})
	if err != nil || !again.GetReplayed() || again.GetTransition().GetSha256() != shas[0] {
		t.Fatalf("retried SubmitRequest after the restart: %v, replayed=%v", err, again.GetReplayed())
	}
	// Once on the wire: BE's inbound stream holds the SUBMIT's subject once.
	jsBE, err := jetstream.New(f.rawConn("BE"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := jsBE.Stream(ctx, fed.InboundStream("BE"))
	if err != nil {
		t.Fatal(err)
	}
	ii, err := in.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	if n := ii.State.Subjects[subject]; n != 1 {
		t.Fatalf("BE's inbound stream holds %s %d times, want once", subject, n)
	}
	noQuarantine(t, f, "NL", "BE")
	// The acknowledgement goes through: the exchange goes on normally.
	if _, err := be.AcknowledgeRequest(ctx, &pb.AcknowledgeRequestRequest{RequestId: id, ClientId: uuid.NewString()}); err != nil {
		t.Fatal(err)
	}
	waitState(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_RECEIVED)
}

// startFedCixd starts code's node of f as a cixd child process (the test binary) on its
// data directory, with its federation configuration, and returns it with its
// assistance client and its leaf's client URL.
func startFedCixd(t *testing.T, f *fedNet, code string) (*cixdProcess, pb.AssistanceServiceClient, string) {
	t.Helper()
	cfg := f.cfgs[code]
	var y strings.Builder
	fmt.Fprintf(&y, "federation:\n  manifest: %q\n  hub_urls: [%q]\n  leaf_nkey_seed_env: %s\n  secretariat_key: %q\n",
		cfg.Federation.Manifest, cfg.Federation.HubURLs[0], cfg.Federation.LeafNkeySeedEnv, cfg.Federation.SecretariatKey)
	y.WriteString("trust:\n  anchors:\n")
	for _, a := range cfg.Trust.Anchors {
		fmt.Fprintf(&y, "    - %q\n", a)
	}
	file := filepath.Join(f.dir, code+"-cixd.yaml")
	if err := os.WriteFile(file, []byte(y.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	natsAddr := freeport.MustAddr()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-config", file, "-admin", code, "-node", cfg.Node, "-data-dir", cfg.DataDir,
		"-grpc-listen", "127.0.0.1:0", "-nats-listen", natsAddr, "-tls", "off", "-log-level", "info")
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
	return p, pb.NewAssistanceServiceClient(p.conn), "nats://" + natsAddr
}

// Issue 8, a node SIGKILLed between logging its own transition and publishing it: NL
// runs as a cixd process; its outbound stream is full, so SubmitRequest logs the
// SUBMIT and cannot publish it; the process is killed (no shutdown at all) and NL
// started again on the same data: the transition is published once from the log and
// BE receives it once.
func TestAssistanceSIGKILLBetweenLogAndPublish(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes")
	}
	f := startFedNet(t)
	be := assistClient(f.node("BE"))
	if err := f.node("NL").d.Stop(); err != nil {
		t.Fatal(err)
	}
	f.waitLeaves(2)
	proc, nl, natsURL := startFedCixd(t, f, "NL")
	f.waitLeaves(3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*outageWait)
	defer cancel()
	cr, err := nl.CreateRequest(ctx, &pb.CreateRequestRequest{ClientId: uuid.NewString(), Content: requestContent("BE", pb.Urgency_URGENCY_NORMAL)})
	if err != nil {
		t.Fatal(err)
	}
	id := cr.GetRequest().GetRequestId()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	out, err := js.Stream(ctx, fed.OutboundStream("NL"))
	if err != nil {
		t.Fatal(err)
	}
	fillStream(t, js, out)
	const clientID = "submit-across-kill"
	sub, err := nl.SubmitRequest(ctx, &pb.SubmitRequestRequest{RequestId: id, ClientId: clientID})
	if err != nil {
		t.Fatalf("SubmitRequest with the outbound stream full: %v, want it logged and answered", err)
	}
	subject := assist.Subject("NL", "BE", sub.GetTransition().GetMsgId())
	if _, err := out.GetLastMsgForSubject(ctx, subject); err == nil {
		t.Fatalf("the full outbound stream took %s", subject)
	}
	nc.Close()
	proc.kill()

	nlIn := assistClient(f.startNode("NL"))
	waitStateFor(t, "BE", be, id, pb.RequestState_REQUEST_STATE_DELIVERED, outageWait)
	waitStateFor(t, "NL", nlIn, id, pb.RequestState_REQUEST_STATE_DELIVERED, outageWait)
	shas := identicalHistories(t, nlIn, be, id, 2)
	if shas[0] != sub.GetTransition().GetSha256() {
		t.Fatalf("BE holds SUBMIT %s, NL logged %s", shas[0], sub.GetTransition().GetSha256())
	}
	again, err := nlIn.SubmitRequest(ctx, &pb.SubmitRequestRequest{RequestId: id, ClientId: clientID})
	if err != nil || !again.GetReplayed() || again.GetTransition().GetSha256() != shas[0] {
		t.Fatalf("retried SubmitRequest after the kill: %v, replayed=%v", err, again.GetReplayed())
	}
	jsBE, err := jetstream.New(f.rawConn("BE"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := jsBE.Stream(ctx, fed.InboundStream("BE"))
	if err != nil {
		t.Fatal(err)
	}
	ii, err := in.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	if n := ii.State.Subjects[subject]; n != 1 {
		t.Fatalf("BE's inbound stream holds %s %d times, want once", subject, n)
	}
	noQuarantine(t, f, "NL", "BE")
}
