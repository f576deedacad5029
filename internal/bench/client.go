package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the proto codec wrapped below
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// generatorChunk is how many alerts one synth generator gives before the source takes a
// fresh one: generated issued_at advance by synth.Step per alert from synth.BaseTime, and
// must stay in the past or receivers refuse the alerts.
const generatorChunk = 100_000

// alertSource is the deterministic stream of alerts of one run.
type alertSource struct {
	seed int64
	n    int
	g    *synth.Generator
}

func newSource(seed int64) *alertSource { return &alertSource{seed: seed} }

// next returns the next alert. Its audience is all members (synth sets none), which is
// one outbound subject, cix.out.NL.all.<kind>.<id>, in federation mode. TLP:RED, which
// synth gives about 8 % of its alerts, becomes TLP:AMBER+STRICT: on the federation
// layout the publisher refuses TLP:RED for all members (docs/transport.md, "Handling
// rules"). Both modes get the same alerts, so that their figures compare.
func (s *alertSource) next() *alertv1.Alert {
	if s.n%generatorChunk == 0 {
		s.g = synth.New(s.seed*1_000_003+int64(s.n/generatorChunk), "NL")
	}
	s.n++
	a := s.g.Next()
	if h := a.GetHandling(); h.GetTlp() == alertv1.Tlp_TLP_RED {
		h.Tlp = alertv1.Tlp_TLP_AMBER_STRICT
	}
	return a
}

// encoded is a batch of PublishStream requests in wire form, and their alert ids.
type encoded struct {
	reqs [][]byte
	ids  []string
}

// encode generates n alerts and encodes them as PublishStreamRequest messages.
func (s *alertSource) encode(n int) (*encoded, error) {
	e := &encoded{reqs: make([][]byte, n), ids: make([]string, n)}
	for i := range n {
		a := s.next()
		b, err := proto.Marshal(&nodev1.PublishStreamRequest{Alert: a})
		if err != nil {
			return nil, err
		}
		e.reqs[i], e.ids[i] = b, a.GetId()
	}
	return e, nil
}

// wireCodec is gRPC's proto codec, except that it sends preEncoded messages as they are
// and decodes subscription events into subEvent without decoding the alerts: the client
// shares the machine with the nodes, so it does as little as it can.
type wireCodec struct{ proto encoding.CodecV2 }

var codec = wireCodec{proto: encoding.GetCodecV2("proto")}

// preEncoded is a message already in wire form.
type preEncoded []byte

func (c wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.(preEncoded); ok {
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return c.proto.Marshal(v)
}

func (c wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if e, ok := v.(*subEvent); ok {
		return e.parse(data.Materialize())
	}
	return c.proto.Unmarshal(data, v)
}

func (wireCodec) Name() string { return "proto" }

// subEvent is a SubscribeResponse reduced to what the bench needs.
type subEvent struct {
	alertID  string // set for an alert event
	caughtUp bool
	gap      bool
}

// parse reads SubscribeResponse{alert: VerifiedAlert{alert: Alert{id}}}, or notes a
// CaughtUp or Gap event.
func (e *subEvent) parse(b []byte) error {
	*e = subEvent{}
	va, kind, err := field(b, 1, 2, 3)
	if err != nil {
		return err
	}
	switch kind {
	case 2:
		e.gap = true
		return nil
	case 3:
		e.caughtUp = true
		return nil
	}
	a, _, err := field(va, 1)
	if err != nil {
		return err
	}
	id, _, err := field(a, 1)
	if err != nil {
		return err
	}
	e.alertID = string(id)
	return nil
}

// field returns the bytes of the first length-delimited field of b whose number is one
// of nums, and that number.
func field(b []byte, nums ...protowire.Number) ([]byte, protowire.Number, error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, 0, protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, 0, protowire.ParseError(m)
			}
			for _, want := range nums {
				if num == want {
					return v, num, nil
				}
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil, 0, protowire.ParseError(m)
		}
		b = b[m:]
	}
	return nil, 0, fmt.Errorf("field %v missing", nums)
}

// sendStats is the outcome of a publishStream.
type sendStats struct {
	firstSend, lastSend, lastResult time.Time
}

// publishStream sends n requests on one PublishStream and waits for every result. req
// returns request i in wire form. With interval > 0, request i is sent at
// start + i*interval (or at once when late: the offered load does not wait for the
// node). onSend, when set, is called right before request i is sent.
func publishStream(ctx context.Context, client nodev1.NodeServiceClient, n int, req func(i int) []byte, interval time.Duration, onSend, onResult func(i int)) (sendStats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.PublishStream(ctx, grpc.ForceCodecV2(codec))
	if err != nil {
		return sendStats{}, fmt.Errorf("publish stream: %w", err)
	}
	type outcome struct {
		first, last time.Time
		err         error
	}
	var results atomic.Int64
	recvDone := make(chan outcome, 1)
	go func() {
		var res nodev1.PublishStreamResponse
		for i := range n {
			if err := stream.RecvMsg(&res); err != nil {
				recvDone <- outcome{err: fmt.Errorf("publish stream: result %d: %w", i, err)}
				return
			}
			if res.GetIndex() != uint64(i) {
				recvDone <- outcome{err: fmt.Errorf("publish stream: result for index %d, want %d", res.GetIndex(), i)}
				return
			}
			if e := res.GetError(); e != nil {
				recvDone <- outcome{err: fmt.Errorf("publish stream: item %d refused: code %d: %s", i, e.GetCode(), e.GetMessage())}
				return
			}
			if onResult != nil {
				onResult(i)
			}
			results.Add(1)
		}
		last := time.Now()
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			recvDone <- outcome{err: fmt.Errorf("publish stream: end: %v", err)}
			return
		}
		recvDone <- outcome{last: last}
	}()
	sendDone := make(chan outcome, 1)
	go func() {
		start := time.Now()
		for i := range n {
			if interval > 0 {
				if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
					time.Sleep(d)
				}
			}
			b := req(i)
			if onSend != nil {
				onSend(i)
			}
			if err := stream.SendMsg(preEncoded(b)); err != nil {
				sendDone <- outcome{first: start} // the stream's error comes from the receiver
				return
			}
		}
		sendDone <- outcome{first: start, last: time.Now(), err: stream.CloseSend()}
	}()
	done := make(chan error, 1)
	var r outcome
	go func() { r = <-recvDone; done <- r.err }()
	if err := waitProgress(ctx, done, results.Load, "publish results"); err != nil {
		return sendStats{}, err
	}
	s := <-sendDone
	if s.err != nil {
		return sendStats{}, fmt.Errorf("publish stream: %w", s.err)
	}
	return sendStats{firstSend: s.first, lastSend: s.last, lastResult: r.last}, nil
}

// waitProgress waits for done while count keeps moving; it fails after stallTimeout
// without progress.
func waitProgress(ctx context.Context, done <-chan error, count func() int64, what string) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last, lastChange := count(), time.Now()
	for {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case now := <-t.C:
			if c := count(); c != last {
				last, lastChange = c, now
			} else if now.Sub(lastChange) > stallTimeout {
				return fmt.Errorf("%s stalled at %d for %v", what, c, stallTimeout)
			}
		}
	}
}

// subscription is a live Subscribe stream at a node.
type subscription struct {
	stream grpc.ServerStreamingClient[nodev1.SubscribeResponse]
	cancel context.CancelFunc
}

// subscribeNew subscribes to new alerts and returns once the node reported CaughtUp, so
// that everything published afterwards is delivered to it.
func subscribeNew(ctx context.Context, client nodev1.NodeServiceClient) (*subscription, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := client.Subscribe(ctx, &nodev1.SubscribeRequest{Start: nodev1.StartPosition_START_POSITION_NEW}, grpc.ForceCodecV2(codec))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	s := &subscription{stream: stream, cancel: cancel}
	var ev subEvent
	if err := stream.RecvMsg(&ev); err != nil {
		cancel()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	if !ev.caughtUp {
		cancel()
		return nil, fmt.Errorf("subscribe: first event is not CaughtUp")
	}
	return s, nil
}

// collect receives until n alerts arrived, calling onAlert with each id and its arrival
// time. It counts the alerts received in got.
func (s *subscription) collect(n int, got *atomic.Int64, onAlert func(id string, at time.Time)) error {
	var ev subEvent
	for got.Load() < int64(n) {
		if err := s.stream.RecvMsg(&ev); err != nil {
			return fmt.Errorf("subscription: %w", err)
		}
		at := time.Now()
		switch {
		case ev.gap:
			return errors.New("subscription: unexpected gap")
		case ev.alertID != "":
			onAlert(ev.alertID, at)
			got.Add(1)
		}
	}
	return nil
}

func (s *subscription) close() { s.cancel() }
