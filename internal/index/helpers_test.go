package index

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	envelopev1 "github.com/cix-exchange/cix/internal/gen/cix/envelope/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	searchv1 "github.com/cix-exchange/cix/internal/gen/cix/search/v1"
	"github.com/cix-exchange/cix/internal/node"
	"github.com/cix-exchange/cix/internal/synth"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// verified wraps a generated alert as Subscribe sends it, at feed position seq. The
// index does not verify: the signature is a placeholder of the real size.
func verified(a *alertv1.Alert, seq uint64) *nodev1.VerifiedAlert {
	payload, err := proto.Marshal(a)
	if err != nil {
		panic(err)
	}
	origin := a.GetOrigin().GetAdministration()
	return &nodev1.VerifiedAlert{
		Alert: a,
		Envelope: &envelopev1.Envelope{
			Payload: payload, PayloadType: "application/vnd.cix.alert.v1+proto",
			Signatures: []*envelopev1.Signature{{Sig: make([]byte, 64), Keyid: "key-" + origin}},
		},
		Signer:     &nodev1.Signer{Administration: origin, Node: "n1", Keyid: "key-" + origin, CertificateNotAfter: timestamppb.New(synth.BaseTime.AddDate(1, 0, 0))},
		ReceivedAt: timestamppb.New(synth.BaseTime.Add(time.Duration(seq) * time.Second)),
		Cursor:     node.FormatCursor(seq),
	}
}

// corpus is a deterministic mix of alerts of several origins, as a node receives them.
func corpus(seed int64, n int, origins ...string) []*alertv1.Alert {
	gens := make([]*synth.Generator, len(origins))
	for i, o := range origins {
		gens[i] = synth.New(seed+int64(i), o)
	}
	out := make([]*alertv1.Alert, n)
	for i := range out {
		out[i] = gens[i%len(gens)].Next()
	}
	return out
}

// openTest opens an index in a temporary directory, closed when the test ends, with a
// memFeed as its source.
func openTest(t testing.TB) *Index {
	t.Helper()
	x, err := Open(context.Background(), t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	x.SetSource(&memFeed{})
	t.Cleanup(func() { _ = x.Close() })
	return x
}

// memFeed stands for the node's feed as the source of search results: the alerts load
// indexed, by feed position. It keeps the alert only and wraps it when read.
type memFeed struct {
	mu sync.Mutex
	at map[uint64]*alertv1.Alert
}

func (m *memFeed) put(seq uint64, a *alertv1.Alert) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.at == nil {
		m.at = map[uint64]*alertv1.Alert{}
	}
	m.at[seq] = a
}

func (m *memFeed) AlertsAt(_ context.Context, seqs []uint64) (map[uint64]*nodev1.VerifiedAlert, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[uint64]*nodev1.VerifiedAlert{}
	for _, seq := range seqs {
		if a, ok := m.at[seq]; ok {
			out[seq] = verified(a, seq)
		}
	}
	return out, nil
}

// load indexes alerts at feed positions from+1 on, batch alerts per transaction.
func load(t testing.TB, x *Index, from uint64, as []*alertv1.Alert, batch int) {
	t.Helper()
	for i := 0; i < len(as); i += batch {
		end := min(i+batch, len(as))
		vas := make([]*nodev1.VerifiedAlert, 0, end-i)
		for j := i; j < end; j++ {
			vas = append(vas, verified(as[j], from+uint64(j)+1))
			if m, ok := x.source().(*memFeed); ok {
				m.put(from+uint64(j)+1, as[j])
			}
		}
		if _, err := x.Add(context.Background(), vas, from+uint64(end)); err != nil {
			t.Fatal(err)
		}
	}
}

// search runs one search, failing the test on error.
func search(t testing.TB, x *Index, req *searchv1.SearchRequest) *searchv1.SearchResponse {
	t.Helper()
	res, err := x.Search(context.Background(), req)
	if err != nil {
		t.Fatalf("search %v: %v", req, err)
	}
	return res
}

// fakeFeed is a feed of scripted events for the indexer's unit test.
type fakeFeed struct {
	mu     sync.Mutex
	events []*nodev1.SubscribeResponse
	reqs   []*nodev1.SubscribeRequest
}

func (f *fakeFeed) Subscribe(ctx context.Context, req *nodev1.SubscribeRequest, send func(*nodev1.SubscribeResponse) error) error {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	evs := f.events
	f.mu.Unlock()
	for _, ev := range evs {
		if err := send(ev); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

func (f *fakeFeed) FeedLast(context.Context) (uint64, error) { return 0, nil }

// AlertsAt reads the alerts of the scripted events.
func (f *fakeFeed) AlertsAt(_ context.Context, seqs []uint64) (map[uint64]*nodev1.VerifiedAlert, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[uint64]*nodev1.VerifiedAlert{}
	for _, ev := range f.events {
		if va := ev.GetAlert(); va != nil {
			if c, err := node.ParseCursor(va.GetCursor()); err == nil && slices.Contains(seqs, c) {
				out[c] = va
			}
		}
	}
	return out, nil
}
