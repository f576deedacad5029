package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/natsembed"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// corpus is what the floors work on: the payloads node A signs for synthetic alerts,
// their signatures and envelopes, made with a development key exactly as node A makes
// them.
type corpus struct {
	key       *trust.SigningKey
	pub       ed25519.PublicKey
	payloads  [][]byte
	sigs      [][]byte
	envelopes [][]byte
}

// newCorpus prepares n payloads of the source's alerts, stamped with node A's origin and
// serialised as node.prepare serialises them, and their envelopes.
func newCorpus(ctx context.Context, dir string, src *alertSource, n int) (*corpus, error) {
	ks, err := trust.OpenDevKeystore(filepath.Join(dir, "keys"), "NL", "a", nil)
	if err != nil {
		return nil, err
	}
	key, err := ks.Current(ctx)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(key.Chain()[0])
	if err != nil {
		return nil, err
	}
	c := &corpus{key: key, pub: leaf.PublicKey.(ed25519.PublicKey)}
	for range n {
		a := src.next()
		alert.Normalize(a)
		a.Origin.Node = "a"
		payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(a)
		if err != nil {
			return nil, err
		}
		env, err := envelope.Seal(envelope.PayloadTypeAlert, payload, key)
		if err != nil {
			return nil, err
		}
		raw, err := envelope.Marshal(env)
		if err != nil {
			return nil, err
		}
		c.payloads = append(c.payloads, payload)
		c.sigs = append(c.sigs, env.GetSignatures()[0].GetSig())
		c.envelopes = append(c.envelopes, raw)
	}
	return c, nil
}

// rawSign is ed25519 signing of PAE(payloadType, payload) on every core, in operations
// per second.
func (c *corpus) rawSign(ctx context.Context, d time.Duration) (float64, error) {
	return parallelRate(ctx, d, func(i int) bool {
		p := c.payloads[i%len(c.payloads)]
		sig, _ := c.key.Sign(envelope.PAE(envelope.PayloadTypeAlert, p))
		return len(sig) == ed25519.SignatureSize
	})
}

// rawVerify is ed25519 verification of the same signatures on every core.
func (c *corpus) rawVerify(ctx context.Context, d time.Duration) (float64, error) {
	return parallelRate(ctx, d, func(i int) bool {
		j := i % len(c.payloads)
		return ed25519.Verify(c.pub, envelope.PAE(envelope.PayloadTypeAlert, c.payloads[j]), c.sigs[j])
	})
}

// parallelRate runs op on runtime.NumCPU() goroutines for d and returns operations per
// second. op reports whether it succeeded; a failure is an error.
func parallelRate(ctx context.Context, d time.Duration, op func(i int) bool) (float64, error) {
	workers := runtime.NumCPU()
	var stop, failed atomic.Bool
	counts := make([]struct {
		n int64
		_ [56]byte // one cache line each
	}, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; !stop.Load(); i += workers {
				if !op(i) {
					failed.Store(true)
					return
				}
				counts[w].n++
			}
		}()
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if failed.Load() {
		return 0, errors.New("operation failed")
	}
	var total int64
	for _, c := range counts {
		total += c.n
	}
	return float64(total) / elapsed.Seconds(), nil
}

// rawJS publishes count messages asynchronously with the corpus's envelope bytes, a
// message id and a subject per id, into a stream configured exactly like the one node A
// publishes into (bus.Open's CIX_ALERTS in shared mode, bus.OutboundStreamConfig's
// CIX_OUT_NL in federation mode, with the subject as message id as the bus sets it
// there), on its own embedded server, over a loopback TCP connection as the nodes use.
// The pending window is the one bus.Open sets. It returns messages per second, from the
// first publish to the last acknowledgement.
func (c *corpus) rawJS(ctx context.Context, dir, mode string, count int) (float64, error) {
	ns, err := natsembed.Start(natsembed.Options{Name: "cix-bench-rawjs", StoreDir: filepath.Join(dir, "rawjs"), Listen: "127.0.0.1:0"})
	if err != nil {
		return 0, err
	}
	defer natsembed.Stop(ns)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	var js jetstream.JetStream
	stream := bus.AlertsStream
	subject := func(id string) string { return bus.AlertSubject("NL", "seizure", id) }
	msgID := func(id string) string { return id }
	if mode == modeFederation {
		// The manifest is only needed for the stream's configuration; nothing starts.
		fed, err := benchFederation(filepath.Join(dir, "federation"))
		if err != nil {
			return 0, err
		}
		bcfg := bus.Config{Federation: fed.Manifest, Administration: "NL"}
		scfg, err := bus.OutboundStreamConfig(bcfg)
		if err != nil {
			return 0, err
		}
		if js, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(bus.DefaultMaxPending)); err != nil {
			return 0, err
		}
		if _, err := bus.EnsureStream(ctx, js, scfg); err != nil {
			return 0, err
		}
		stream = scfg.Name
		subject = func(string) string {
			return federation.OutboundAlertSubject("NL", federation.AllMembers(), "seizure")
		}
		msgID = func(id string) string { return federation.OutboundMsgID(subject(id), id) }
	} else {
		b, err := bus.Open(ctx, nc, bus.Config{})
		if err != nil {
			return 0, err
		}
		js = b.JetStream()
	}
	ids := make([]string, count)
	for i := range ids {
		ids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	futures := make([]jetstream.PubAckFuture, count)
	start := time.Now()
	for i, id := range ids {
		m := &nats.Msg{Subject: subject(id), Data: c.envelopes[i%len(c.envelopes)]}
		// A full window waits for a free slot instead of failing after the default
		// 200 ms: the floor measures throughput, not the client's patience.
		f, err := js.PublishMsgAsync(m, jetstream.WithMsgID(msgID(id)), jetstream.WithExpectStream(stream), jetstream.WithStallWait(stallTimeout))
		if err != nil {
			return 0, fmt.Errorf("raw publish %d: %w", i, err)
		}
		futures[i] = f
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(stallTimeout):
		return 0, fmt.Errorf("raw publish: %d acknowledgements missing after %v", js.PublishAsyncPending(), stallTimeout)
	}
	elapsed := time.Since(start)
	for i, f := range futures {
		select {
		case err := <-f.Err():
			return 0, fmt.Errorf("raw publish %d: %w", i, err)
		default:
		}
	}
	return float64(count) / elapsed.Seconds(), nil
}
