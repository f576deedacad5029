package daemon_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/envelope"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// keystoreAt is a copy of n's administration anchor with a node key n1 certified by it
// under a clock shifted by shift: the key of a genuine node whose certificate is not
// valid now (not yet, or no longer).
func keystoreAt(t *testing.T, n *testNode, shift time.Duration) *trust.DevKeystore {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"anchor.pem", "anchor.key"} {
		b, err := os.ReadFile(filepath.Join(n.cfg.KeystoreDir(), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ks, err := trust.OpenDevKeystore(dir, n.cfg.Administration, "n1", func() time.Time { return time.Now().Add(shift) })
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// injectAndSettle puts each raw message on its subject of the alert stream, then waits
// until rx has processed them (a sentinel published at from after them) and returns what
// rx delivered meanwhile.
func injectAndSettle(t *testing.T, from, rx *testNode, sub *subscription, msgs map[string][]byte) []*nodev1.VerifiedAlert {
	t.Helper()
	js := jsOf(t, from)
	for subj, raw := range msgs {
		if _, err := js.Publish(context.Background(), subj, raw); err != nil {
			t.Fatalf("inject on %s: %v", subj, err)
		}
	}
	return sub.untilID(t, sentinel(t, from), wait)
}

// TestCertificateOutsideValidityQuarantined: alerts signed by genuine keys of NL,
// certified by NL's anchor, but whose certificates are not yet valid or already expired
// when the stream stores them, are quarantined as unknown_key and never delivered.
func TestCertificateOutsideValidityQuarantined(t *testing.T) {
	nl, be := pair(t)
	sub := subscribe(t, be, &nodev1.SubscribeRequest{})
	cases := map[string]*trust.DevKeystore{
		"not yet valid": keystoreAt(t, nl, 40*24*time.Hour),  // valid from 40 days on
		"expired":       keystoreAt(t, nl, -40*24*time.Hour), // expired 10 days ago
	}
	msgs, names := map[string][]byte{}, map[string]string{}
	for name, ks := range cases {
		a := newAlert("NL")
		msgs[subjectOf(a)] = signedBy(t, ks, envelope.PayloadTypeAlert, marshal(t, a))
		names[subjectOf(a)] = name
	}
	if got := injectAndSettle(t, nl, be, sub, msgs); len(got) != 0 {
		t.Fatalf("delivered %d alerts signed outside their certificate's validity", len(got))
	}
	q := quarantinedBySubject(t, be)
	for subj, name := range names {
		m := q[subj]
		if m.GetReason() != nodev1.QuarantineReason_QUARANTINE_REASON_UNKNOWN_KEY || m.GetDetail() == "" {
			t.Errorf("%s: quarantined as %v, want unknown_key", name, m)
			continue
		}
		t.Logf("%s: %s: %s", name, m.GetReason(), m.GetDetail())
	}
}

// TestReplayNeverDeliveredTwice: a genuine alert replayed on its own subject is refused by
// the alert stream (one message per subject) also after the duplicate window; replayed
// after it left the stream (expiry, or deletion by whoever controls the stream), it is
// stored by the stream but the receiver's feed keeps one message per id, so it is not
// delivered twice; replayed under a subject of another kind it is quarantined.
func TestReplayNeverDeliveredTwice(t *testing.T) {
	nl, be := pair(t, func(c *config.Config) { c.NATS.DuplicateWindow = config.Duration(time.Second) })
	ctx := context.Background()
	sub := subscribe(t, be, &nodev1.SubscribeRequest{})
	a := newAlert("NL")
	publish(t, nl, a)
	got := sub.nextAlert(t, wait)
	raw, err := envelope.Marshal(got.GetEnvelope())
	if err != nil {
		t.Fatal(err)
	}
	first := got.GetCursor()
	time.Sleep(1500 * time.Millisecond) // past the duplicate window

	js := jsOf(t, nl)
	// 1. On its own subject, with and without its message id: refused by the stream.
	if _, err := js.Publish(ctx, subjectOf(a), raw); !bus.IsSubjectTaken(err) {
		t.Fatalf("replay on its subject: %v, want refused by the per-subject limit", err)
	}
	if _, err := js.Publish(ctx, subjectOf(a), raw, jetstream.WithMsgID(a.GetId())); !bus.IsSubjectTaken(err) {
		t.Fatalf("replay with its message id after the window: %v, want refused", err)
	}
	// 2. The original leaves the alert stream; the replay is stored there again.
	st, err := js.Stream(ctx, bus.AlertsStream)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := st.GetLastMsgForSubject(ctx, subjectOf(a))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteMsg(ctx, orig.Sequence); err != nil {
		t.Fatal(err)
	}
	// 3. Under a subject of another kind, same id: refused at verification.
	other := strings.Replace(subjectOf(a), ".seizure.", ".risk.", 1)
	if other == subjectOf(a) {
		t.Fatalf("subject %s has no seizure kind", other)
	}
	if again := injectAndSettle(t, nl, be, sub, map[string][]byte{subjectOf(a): raw, other: raw}); len(again) != 0 {
		t.Fatalf("replay delivered again: %s at cursor %s (first at %s)", again[0].GetAlert().GetId(), again[0].GetCursor(), first)
	}
	if m := quarantinedBySubject(t, be)[other]; m.GetReason() != nodev1.QuarantineReason_QUARANTINE_REASON_INVALID_CONTENT {
		t.Fatalf("replay under another kind: quarantined as %v", m)
	}
	// The feed holds the alert once, at its first position; history repeats nothing.
	r, err := be.client.Get(ctx, &nodev1.GetRequest{Id: a.GetId()})
	if err != nil || r.GetAlert().GetCursor() != first {
		t.Fatalf("Get after replay: %v %v, want cursor %s", r.GetAlert().GetCursor(), err, first)
	}
	hist := subscribe(t, be, &nodev1.SubscribeRequest{Start: nodev1.StartPosition_START_POSITION_EARLIEST})
	end := sentinel(t, nl)
	n := 0
	for _, h := range hist.untilID(t, end, wait) {
		if h.GetAlert().GetId() == a.GetId() {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("history delivers the replayed alert %d times", n)
	}
}

// rawCodec sends and receives bytes as they are, to put on the wire what a Go client
// would refuse to marshal.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// withMarker returns a's encoding with the national case reference replaced, byte for
// byte, by bad (of the same length as marker).
func withMarker(t *testing.T, m proto.Message, marker, bad string) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(marker) != len(bad) || !bytes.Contains(b, []byte(marker)) {
		t.Fatal("marker")
	}
	return bytes.Replace(b, []byte(marker), []byte(bad), 1)
}

// TestBadInputAtPublish: oversize requests, oversize signed alerts, huge repeated fields,
// deep nesting, invalid UTF-8 and malformed requests sent to Publish are refused with a
// status that says why (InvalidArgument naming the field, from the server's codec for
// what does not decode), and nothing reaches the alert stream.
func TestBadInputAtPublish(t *testing.T) {
	nl := startNode(t, "NL", nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	t.Run("gRPC message above the server's maximum", func(t *testing.T) {
		a := newAlert("NL")
		a.GetSeizure().GetGoods()[0].Description = strings.Repeat("x", 5<<20)
		_, err := nl.client.Publish(ctx, &nodev1.PublishRequest{Alert: a})
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("%v, want ResourceExhausted", err)
		}
		t.Log(err)
	})
	t.Run("signed alert above the envelope maximum", func(t *testing.T) {
		a := newAlert("NL")
		g := a.GetSeizure().GetGoods()[0]
		g.Description = strings.Repeat("y", 4000)
		for len(a.GetSeizure().GetGoods()) < 400 { // 1.6 MB: under gRPC's 4 MiB, over 1 MiB
			a.GetSeizure().Goods = append(a.GetSeizure().Goods, proto.CloneOf(g))
		}
		_, err := nl.client.Publish(ctx, &nodev1.PublishRequest{Alert: a})
		assertFields(t, err, "alert")
		t.Log(err)
	})
	t.Run("100000 goods", func(t *testing.T) {
		a := newAlert("NL")
		for len(a.GetSeizure().GetGoods()) < 100000 {
			a.GetSeizure().Goods = append(a.GetSeizure().Goods, &alertv1.Goods{})
		}
		_, err := nl.client.Publish(ctx, &nodev1.PublishRequest{Alert: a})
		// Counted by the server's codec before decoding (the request is 200 KB; decoded,
		// 100,000 structs).
		assertFields(t, err, "alert.seizure.goods")
		if !strings.Contains(err.Error(), "more than 1000 elements") {
			t.Fatalf("%v, want the codec's refusal", err)
		}
		t.Log(err)
	})
	t.Run("invalid UTF-8", func(t *testing.T) {
		a := newAlert("NL")
		a.NationalCaseReference = "UTF8-MARKER"
		req := withMarker(t, &nodev1.PublishRequest{Alert: a}, "UTF8-MARKER", "UTF8-\xff\xfeRKER")
		var resp []byte
		err := nl.conn.Invoke(ctx, nodev1.NodeService_Publish_FullMethodName, &req, &resp, grpc.ForceCodec(rawCodec{}))
		assertFields(t, err, "alert.national_case_reference")
		t.Log(err)
	})
	t.Run("100000 nested groups", func(t *testing.T) {
		ab := marshal(t, newAlert("NL"))
		ab = append(ab, bytes.Repeat([]byte{0xfb, 0x3e}, 100000)...)                       // start group of unknown field 1007
		req := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), ab) // PublishRequest.alert
		var resp []byte
		err := nl.conn.Invoke(ctx, nodev1.NodeService_Publish_FullMethodName, &req, &resp, grpc.ForceCodec(rawCodec{}))
		assertFields(t, err, "alert")
		if !strings.Contains(err.Error(), "nested more than 32 deep") {
			t.Fatalf("%v, want the codec's refusal", err)
		}
		t.Log(err)
	})
	t.Run("malformed request", func(t *testing.T) {
		req := []byte{0x0a, 0x05, 0x01}
		var resp []byte
		err := nl.conn.Invoke(ctx, nodev1.NodeService_Publish_FullMethodName, &req, &resp, grpc.ForceCodec(rawCodec{}))
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("%v, want InvalidArgument", err)
		}
		t.Log(err)
	})
	st, err := jsOf(t, nl).Stream(ctx, bus.AlertsStream)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Fatalf("stream holds %d messages after refused requests (%v)", info.State.Msgs, err)
	}
}

// TestBadInputOnTheWire: messages put on the alert stream by hand, signed by NL's
// genuine key, with invalid UTF-8, deeply nested fields or a huge repeated field, are
// quarantined (naming the field, refused before decoding) and never delivered; a message above the envelope maximum is refused by
// the broker itself. The receiving node's heap stays bounded.
func TestBadInputOnTheWire(t *testing.T) {
	nl, be := pair(t)
	sub := subscribe(t, be, &nodev1.SubscribeRequest{})

	js := jsOf(t, nl)
	if _, err := js.Publish(context.Background(), subjectOf(newAlert("NL")), make([]byte, envelope.MaxEnvelopeSize+1)); err == nil {
		t.Fatal("the broker stored a message above the envelope maximum")
	} else {
		t.Logf("oversize: %v", err)
	}

	want := map[string]nodev1.QuarantineReason{}
	detail := map[string]string{} // what the quarantine's detail must say
	msgs := map[string][]byte{}
	{ // invalid UTF-8 in a string field
		a := newAlert("NL")
		a.NationalCaseReference = "UTF8-MARKER"
		msgs[subjectOf(a)] = signedBy(t, nl.ks, envelope.PayloadTypeAlert, withMarker(t, a, "UTF8-MARKER", "UTF8-\xff\xfeRKER"))
		want[subjectOf(a)] = nodev1.QuarantineReason_QUARANTINE_REASON_UNDECODABLE_PAYLOAD
		detail[subjectOf(a)] = "alert.national_case_reference: string field contains invalid UTF-8"
	}
	{ // 100,000 levels of nested groups in an unknown field
		a := newAlert("NL")
		payload := append(marshal(t, a), bytes.Repeat([]byte{0xfb, 0x3e}, 100000)...) // field 999, start group
		msgs[subjectOf(a)] = signedBy(t, nl.ks, envelope.PayloadTypeAlert, payload)
		want[subjectOf(a)] = nodev1.QuarantineReason_QUARANTINE_REASON_UNDECODABLE_PAYLOAD
		detail[subjectOf(a)] = "nested more than 32 deep"
	}
	for range 5 { // goods repeated up to the envelope maximum: ~480,000 empty items each
		a := newAlert("NL")
		for len(a.GetSeizure().GetGoods()) < 480000 {
			a.GetSeizure().Goods = append(a.GetSeizure().Goods, &alertv1.Goods{})
		}
		subj := subjectOf(a)
		msgs[subj] = signedBy(t, nl.ks, envelope.PayloadTypeAlert, marshal(t, a))
		if len(msgs[subj]) > envelope.MaxEnvelopeSize {
			t.Fatalf("huge envelope of %d bytes", len(msgs[subj]))
		}
		want[subj] = nodev1.QuarantineReason_QUARANTINE_REASON_UNDECODABLE_PAYLOAD
		detail[subj] = "alert.seizure.goods: more than 1000 elements"
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	peak := before.HeapInuse
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // peak heap while BE verifies
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			}
		}
	}()
	got := injectAndSettle(t, nl, be, sub, msgs)
	close(stop)
	<-sampled
	if len(got) != 0 {
		t.Fatalf("delivered %d bad messages", len(got))
	}
	q := quarantinedBySubject(t, be)
	for subj, reason := range want {
		if m := q[subj]; m.GetReason() != reason {
			t.Errorf("%s: quarantined as %v, want %v", subj, m, reason)
		} else {
			t.Logf("%s: %s", m.GetReason(), m.GetDetail())
		}
	}
	// The goods are counted on the wire before decoding (wirelimit): the refusal names
	// the field, and none of the ~480,000 Go structs (~160 MiB) each envelope would decode
	// to is allocated. Before the count, both nodes of this process decoded every message:
	// 340-430 MiB at the peak. What remains is the raw messages (5 MiB, in flight and in
	// the quarantine) and the nodes' own work.
	for subj, want := range detail {
		if d := q[subj].GetDetail(); !strings.Contains(d, want) {
			t.Errorf("%s: detail %q, want it to say %q", subj, d, want)
		}
	}
	growth := int64(peak) - int64(before.HeapInuse)
	t.Logf("heap in use before %d MiB, peak growth %d MiB", before.HeapInuse>>20, growth>>20)
	if growth > 192<<20 {
		t.Fatalf("heap grew by %d MiB", growth>>20)
	}
	// BE keeps serving.
	if _, err := be.admin.GetNodeInfo(context.Background(), &nodev1.GetNodeInfoRequest{}); err != nil {
		t.Fatal(err)
	}
}

// TestUndecodableItemsInPublishStream: items of a bulk stream that do not decode
// (invalid UTF-8, a huge repeated field) are answered as their own InvalidArgument item,
// naming the field, and the stream goes on: the items around them are stored.
func TestUndecodableItemsInPublishStream(t *testing.T) {
	nl := startNode(t, "NL", nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	good1, good2 := newAlert("NL"), newAlert("NL")
	utf := newAlert("NL")
	utf.NationalCaseReference = "UTF8-MARKER"
	huge := newAlert("NL")
	for len(huge.GetSeizure().GetGoods()) < 100000 {
		huge.GetSeizure().Goods = append(huge.GetSeizure().Goods, &alertv1.Goods{})
	}
	items := [][]byte{
		marshal(t, &nodev1.PublishStreamRequest{Alert: good1}),
		withMarker(t, &nodev1.PublishStreamRequest{Alert: utf}, "UTF8-MARKER", "UTF8-\xff\xfeRKER"),
		marshal(t, &nodev1.PublishStreamRequest{Alert: huge}),
		marshal(t, &nodev1.PublishStreamRequest{Alert: good2}),
	}
	want := []string{"", "alert.national_case_reference", "alert.seizure.goods", ""}
	desc := &grpc.StreamDesc{StreamName: "PublishStream", ServerStreams: true, ClientStreams: true}
	stream, err := nl.conn.NewStream(ctx, desc, nodev1.NodeService_PublishStream_FullMethodName, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range items {
		if err := stream.SendMsg(&b); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for i, field := range want {
		var raw []byte
		if err := stream.RecvMsg(&raw); err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		r := &nodev1.PublishStreamResponse{}
		if err := proto.Unmarshal(raw, r); err != nil {
			t.Fatal(err)
		}
		if r.GetIndex() != uint64(i) {
			t.Fatalf("result %d has index %d", i, r.GetIndex())
		}
		if field == "" {
			if r.GetError() != nil || r.GetResult().GetSequence() == 0 {
				t.Fatalf("item %d: %v, want stored", i, r)
			}
			continue
		}
		e := r.GetError()
		if e.GetCode() != uint32(codes.InvalidArgument) || len(e.GetFieldViolations()) != 1 || e.GetFieldViolations()[0].GetField() != field {
			t.Fatalf("item %d: %v, want InvalidArgument naming %s", i, r, field)
		}
		t.Logf("item %d: %s", i, e.GetMessage())
	}
	var raw []byte
	if err := stream.RecvMsg(&raw); err != io.EOF {
		t.Fatalf("after the items: %v, want the end of the stream", err)
	}
	st, err := jsOf(t, nl).Stream(ctx, bus.AlertsStream)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(ctx); err != nil || info.State.Msgs != 2 {
		t.Fatalf("stream holds %d messages, want the 2 good ones (%v)", info.State.Msgs, err)
	}
}
