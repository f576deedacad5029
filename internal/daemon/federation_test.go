package daemon_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/envelope"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

const wait = 15 * time.Second

func publish(t *testing.T, n *testNode, a *alertv1.Alert) *nodev1.PublishResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	r, err := n.client.Publish(ctx, &nodev1.PublishRequest{Alert: a})
	if err != nil {
		t.Fatalf("publish %s: %v", a.GetId(), err)
	}
	return r
}

// sentinel publishes a fresh valid alert at n; once a subscriber sees it, every message
// published before it has been processed by the subscriber's node (the stream and the
// ingest are ordered).
func sentinel(t *testing.T, n *testNode) string {
	t.Helper()
	a := synth.ValidRisk()
	a.Id = uuid.NewString()
	a.Origin = nil
	return publish(t, n, a).Id
}

func TestPublishAtNLReceiveVerifiedAtBE(t *testing.T) {
	nl, be := pair(t)
	all := subscribe(t, be, &nodev1.SubscribeRequest{})
	if ev := all.next(t, wait); ev.GetCaughtUp() == nil {
		t.Fatalf("first event of an empty feed is %v, want caught_up", ev)
	}
	seizureNL := subscribe(t, be, &nodev1.SubscribeRequest{Filter: &nodev1.Filter{
		Kinds: []alertv1.AlertKind{alertv1.AlertKind_ALERT_KIND_SEIZURE}, Origins: []string{"NL"},
	}})

	gen := synth.New(7, "NL")
	var sent []*alertv1.Alert
	for len(sent) < 40 {
		a := gen.Next()
		if a.GetSupersedes() != "" {
			continue // amendments are tested on their own below
		}
		publish(t, nl, a)
		sent = append(sent, a)
	}
	for i, want := range sent {
		got := all.nextAlert(t, wait)
		if got.GetAlert().GetId() != want.GetId() {
			t.Fatalf("alert %d: got %s, want %s (order must follow the stream)", i, got.GetAlert().GetId(), want.GetId())
		}
		want = proto.Clone(want).(*alertv1.Alert)
		want.Origin.Node = "n1" // stamped by the publishing node from its certificate
		if !proto.Equal(got.GetAlert(), want) {
			t.Fatalf("alert %d differs after the trip:\n got %v\nwant %v", i, got.GetAlert(), want)
		}
		if s := got.GetSigner(); s.GetAdministration() != "NL" || s.GetNode() != "n1" || s.GetKeyid() == "" {
			t.Fatalf("signer %v", s)
		}
		// The envelope as received verifies on its own: same payload bytes, NL's key.
		if got.GetEnvelope().GetPayloadType() != envelope.PayloadTypeAlert || len(got.GetEnvelope().GetSignatures()) != 1 {
			t.Fatalf("envelope %v", got.GetEnvelope())
		}
	}
	for _, want := range sent {
		if want.GetSeizure() == nil {
			continue
		}
		if got := seizureNL.nextAlert(t, wait); got.GetAlert().GetId() != want.GetId() {
			t.Fatalf("filtered feed: got %s, want %s", got.GetAlert().GetId(), want.GetId())
		}
	}

	// Get by id at BE returns the same verified alert.
	g, err := be.client.Get(context.Background(), &nodev1.GetRequest{Id: sent[0].GetId()})
	if err != nil || g.GetAlert().GetAlert().GetId() != sent[0].GetId() || g.GetAlert().GetSigner().GetAdministration() != "NL" {
		t.Fatalf("Get: %v %v", g, err)
	}
	if _, err := be.client.Get(context.Background(), &nodev1.GetRequest{Id: uuid.NewString()}); status.Code(err) != codes.NotFound {
		t.Fatalf("Get unknown id: %v", err)
	}
	if _, err := be.client.Get(context.Background(), &nodev1.GetRequest{Id: "nope"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Get bad id: %v", err)
	}
}

func TestSubscribeFilters(t *testing.T) {
	nl, be := pair(t)
	base := synth.ValidSeizure()
	mk := func(mut func(a *alertv1.Alert)) *alertv1.Alert {
		a := proto.Clone(base).(*alertv1.Alert)
		a.Id = uuid.NewString()
		mut(a)
		return a
	}
	cocaineEC := mk(func(a *alertv1.Alert) {})
	tobaccoCN := mk(func(a *alertv1.Alert) {
		g := a.GetSeizure().GetGoods()[0]
		g.CommodityGroup, g.HsCode, g.Description = alertv1.CommodityGroup_COMMODITY_GROUP_TOBACCO, "240220", "cigarettes"
		a.GetSeizure().Route = &alertv1.Route{CountryOfOrigin: "CN", CountryOfDestination: "NL"}
		a.Handling.Tlp = alertv1.Tlp_TLP_GREEN
	})
	risk := synth.ValidRisk()
	risk.Id = uuid.NewString()
	old := mk(func(a *alertv1.Alert) {
		a.IssuedAt.Seconds -= 400 * 24 * 3600
		a.GetSeizure().SeizedAt.Seconds -= 400 * 24 * 3600
	})
	alerts := []*alertv1.Alert{cocaineEC, tobaccoCN, risk, old}
	ids := func(as ...*alertv1.Alert) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.GetId())
		}
		return out
	}
	cutoff := base.GetIssuedAt().AsTime().Add(-24 * time.Hour)
	cases := []struct {
		name   string
		filter *nodev1.Filter
		want   []string
	}{
		{"kind risk", &nodev1.Filter{Kinds: []alertv1.AlertKind{alertv1.AlertKind_ALERT_KIND_RISK}}, ids(risk)},
		{"hs prefix 2402", &nodev1.Filter{HsPrefixes: []string{"2402"}}, ids(tobaccoCN)},
		{"commodity tobacco", &nodev1.Filter{CommodityGroups: []alertv1.CommodityGroup{alertv1.CommodityGroup_COMMODITY_GROUP_TOBACCO}}, ids(tobaccoCN)},
		{"route CN", &nodev1.Filter{RouteCountries: []string{"cn"}}, ids(tobaccoCN)},
		{"tlp green", &nodev1.Filter{Tlps: []alertv1.Tlp{alertv1.Tlp_TLP_GREEN}}, nil},
		{"origin BE", &nodev1.Filter{Origins: []string{"BE"}}, nil},
		{"issued before cutoff", &nodev1.Filter{IssuedBefore: timestamp(cutoff)}, ids(old)},
		{"issued after cutoff, seizures", &nodev1.Filter{IssuedAfter: timestamp(cutoff), Kinds: []alertv1.AlertKind{alertv1.AlertKind_ALERT_KIND_SEIZURE}}, ids(cocaineEC, tobaccoCN)},
	}
	// Which alerts carry TLP green depends on the examples; compute it rather than assume.
	for _, a := range alerts {
		if a.GetHandling().GetTlp() == alertv1.Tlp_TLP_GREEN {
			cases[4].want = append(cases[4].want, a.GetId())
		}
	}
	for _, a := range alerts {
		publish(t, nl, a)
	}
	end := sentinel(t, nl)
	eventually(t, wait, "BE to store every alert", func() bool {
		_, err := be.client.Get(context.Background(), &nodev1.GetRequest{Id: end})
		return err == nil
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The history up to the caught_up marker is everything BE holds.
			sub := subscribe(t, be, &nodev1.SubscribeRequest{Filter: c.filter, Start: nodev1.StartPosition_START_POSITION_EARLIEST})
			var got []string
			for {
				ev := sub.next(t, wait)
				if ev.GetCaughtUp() != nil {
					break
				}
				if id := ev.GetAlert().GetAlert().GetId(); id != end {
					got = append(got, id)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
	// Bad filters are refused with the field named.
	stream, err := be.client.Subscribe(context.Background(), &nodev1.SubscribeRequest{Filter: &nodev1.Filter{Origins: []string{"XX"}, HsPrefixes: []string{"12a"}}})
	if err == nil {
		_, err = stream.Recv()
	}
	assertFields(t, err, "filter.origins[0]", "filter.hs_prefixes[0]")
}

func TestAmendmentDelivered(t *testing.T) {
	nl, be := pair(t)
	sub := subscribe(t, be, &nodev1.SubscribeRequest{})
	orig := synth.ValidSeizure()
	publish(t, nl, orig)
	amend := proto.Clone(orig).(*alertv1.Alert)
	amend.Id, amend.Supersedes, amend.Version = uuid.NewString(), orig.GetId(), 2
	amend.GetSeizure().GetGoods()[0].Description = "cocaine, corrected weight"
	publish(t, nl, amend)
	if got := sub.nextAlert(t, wait); got.GetAlert().GetId() != orig.GetId() {
		t.Fatalf("first %s", got.GetAlert().GetId())
	}
	got := sub.nextAlert(t, wait)
	if got.GetAlert().GetSupersedes() != orig.GetId() || got.GetAlert().GetVersion() != 2 ||
		got.GetAlert().GetSeizure().GetGoods()[0].GetDescription() != "cocaine, corrected weight" {
		t.Fatalf("amendment %v", got.GetAlert())
	}
}

func TestSamePublishedTwiceStoredAndDeliveredOnce(t *testing.T) {
	nl, be := pair(t)
	sub := subscribe(t, be, &nodev1.SubscribeRequest{})
	a := synth.ValidSeizure()
	first := publish(t, nl, proto.Clone(a).(*alertv1.Alert))
	second := publish(t, nl, proto.Clone(a).(*alertv1.Alert))
	if first.Duplicate || !second.Duplicate || second.Sequence != first.Sequence || second.Id != first.Id {
		t.Fatalf("first %v second %v", first, second)
	}
	end := sentinel(t, nl)
	got := sub.untilID(t, end, wait)
	if len(got) != 1 || got[0].GetAlert().GetId() != a.GetId() {
		t.Fatalf("delivered %d alerts, want the one once", len(got))
	}
	js := jsOf(t, nl)
	st, err := js.Stream(context.Background(), bus.AlertsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil || info.State.Msgs != 2 { // the alert and the sentinel
		t.Fatalf("stream holds %d messages (%v), want 2", info.State.Msgs, err)
	}
}

func TestSubscriberResumesFromCursor(t *testing.T) {
	nl, be := pair(t)
	gen := synth.New(11, "NL")
	var ids []string
	for range 30 {
		ids = append(ids, publish(t, nl, gen.Next()).Id)
	}
	// Read the first 12 from the start, then disconnect.
	sub := subscribe(t, be, &nodev1.SubscribeRequest{Start: nodev1.StartPosition_START_POSITION_EARLIEST})
	var cursor string
	for i := range 12 {
		a := sub.nextAlert(t, wait)
		if a.GetAlert().GetId() != ids[i] {
			t.Fatalf("alert %d: %s, want %s", i, a.GetAlert().GetId(), ids[i])
		}
		cursor = a.GetCursor()
	}
	sub.cancel()
	// More alerts arrive while the subscriber is away.
	for range 10 {
		ids = append(ids, publish(t, nl, gen.Next()).Id)
	}
	resumed := subscribe(t, be, &nodev1.SubscribeRequest{Cursor: cursor})
	var got []string
	caughtUp := false
	for len(got) < len(ids)-12 {
		ev := resumed.next(t, wait)
		switch e := ev.Event.(type) {
		case *nodev1.SubscribeResponse_Alert:
			got = append(got, e.Alert.GetAlert().GetId())
		case *nodev1.SubscribeResponse_Gap:
			t.Fatalf("gap %v", e.Gap)
		case *nodev1.SubscribeResponse_CaughtUp:
			caughtUp = true
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(ids[12:]) {
		t.Fatalf("resumed with %v\nwant %v", got, ids[12:])
	}
	// Live after the replay: one more alert comes through the same stream, once.
	if !caughtUp {
		if ev := resumed.next(t, wait); ev.GetCaughtUp() == nil {
			t.Fatalf("want caught_up, got %v", ev)
		}
	}
	last := publish(t, nl, gen.Next()).Id
	if a := resumed.nextAlert(t, wait); a.GetAlert().GetId() != last {
		t.Fatalf("live alert %s, want %s", a.GetAlert().GetId(), last)
	}
}

func TestResumeAcrossExpiredAlertsReportsGap(t *testing.T) {
	nl, be := pair(t)
	gen := synth.New(3, "NL")
	var ids []string
	for range 10 {
		ids = append(ids, publish(t, nl, gen.Next()).Id)
	}
	sub := subscribe(t, be, &nodev1.SubscribeRequest{Start: nodev1.StartPosition_START_POSITION_EARLIEST})
	var cursor string
	for range 3 {
		cursor = sub.nextAlert(t, wait).GetCursor()
	}
	sub.cancel()
	// The store loses positions 4 to 7 (as retention would expire them).
	js := jsOf(t, be)
	st, err := js.Stream(context.Background(), "CIX_FEED_BE_N1")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "all 10 in BE's feed", func() bool {
		info, err := st.Info(context.Background())
		return err == nil && info.State.Msgs == 10
	})
	if err := st.Purge(context.Background(), jetstream.WithPurgeSequence(8)); err != nil {
		t.Fatal(err)
	}
	resumed := subscribe(t, be, &nodev1.SubscribeRequest{Cursor: cursor})
	ev := resumed.next(t, wait)
	gap := ev.GetGap()
	if gap == nil || gap.GetMissing() != 4 || gap.GetAfterCursor() != cursor || gap.GetResumeCursor() != "7" {
		t.Fatalf("want a gap of 4 after %s, got %v", cursor, ev)
	}
	for i := 7; i < 10; i++ {
		if a := resumed.nextAlert(t, wait); a.GetAlert().GetId() != ids[i] {
			t.Fatalf("after the gap: %s, want %s", a.GetAlert().GetId(), ids[i])
		}
	}
	// A cursor beyond the feed is refused, not silently served from elsewhere.
	stream, err := be.client.Subscribe(context.Background(), &nodev1.SubscribeRequest{Cursor: "999999"})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.OutOfRange {
		t.Fatalf("cursor beyond the end: %v", err)
	}
}

func TestBadRequestsNameTheFieldAndStoreNothing(t *testing.T) {
	nl, _ := pair(t)
	ctx := context.Background()
	cases := []struct {
		name   string
		mut    func(a *alertv1.Alert)
		fields []string
		code   codes.Code
	}{
		{"missing handling", func(a *alertv1.Alert) { a.Handling = nil }, []string{"alert.handling"}, codes.InvalidArgument},
		{"missing body", func(a *alertv1.Alert) { a.Body = nil }, []string{"alert.body"}, codes.InvalidArgument},
		{"bad hs code", func(a *alertv1.Alert) { a.GetSeizure().GetGoods()[0].HsCode = "77123" }, []string{"alert.seizure.goods[0].hs_code"}, codes.InvalidArgument},
		{"bad container check digit", func(a *alertv1.Alert) {
			a.GetSeizure().Conveyance = &alertv1.Conveyance{Mode: alertv1.TransportMode_TRANSPORT_MODE_SEA_CONTAINER, ContainerNumbers: []string{"CSQU3054384"}}
		}, []string{"alert.seizure.conveyance.container_numbers[0]"}, codes.InvalidArgument},
		{"bad imo", func(a *alertv1.Alert) {
			a.GetSeizure().Conveyance = &alertv1.Conveyance{Mode: alertv1.TransportMode_TRANSPORT_MODE_SEA_CONTAINER, ImoNumber: "9074728"}
		}, []string{"alert.seizure.conveyance.imo_number"}, codes.InvalidArgument},
		{"bad id", func(a *alertv1.Alert) { a.Id = "not-a-uuid" }, []string{"alert.id"}, codes.InvalidArgument},
		{"two problems", func(a *alertv1.Alert) {
			a.GetSeizure().Location = "XX123"
			a.Grading = nil
		}, []string{"alert.seizure.location", "alert.grading"}, codes.InvalidArgument},
		{"origin of another administration", func(a *alertv1.Alert) { a.Origin.Administration = "BE" }, nil, codes.PermissionDenied},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := synth.ValidSeizure()
			a.Id = uuid.NewString()
			c.mut(a)
			_, err := nl.client.Publish(ctx, &nodev1.PublishRequest{Alert: a})
			if status.Code(err) != c.code {
				t.Fatalf("code %v (%v), want %v", status.Code(err), err, c.code)
			}
			if c.fields != nil {
				assertFields(t, err, c.fields...)
			}
		})
	}
	if _, err := nl.client.Publish(ctx, &nodev1.PublishRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("empty request: %v", err)
	}
	st, err := jsOf(t, nl).Stream(ctx, bus.AlertsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil || info.State.Msgs != 0 {
		t.Fatalf("stream holds %d messages after refused requests (%v)", info.State.Msgs, err)
	}
}

// assertFields checks that err is a status with a BadRequest naming each field.
func assertFields(t *testing.T, err error, fields ...string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code %v (%v), want InvalidArgument", st.Code(), err)
	}
	named := map[string]bool{}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				named[v.GetField()] = true
			}
		}
	}
	for _, f := range fields {
		if !named[f] {
			t.Fatalf("field %s not named in %v (%v)", f, named, err)
		}
	}
}

// jsOf connects a plain JetStream client to the NATS server behind n.
func jsOf(t *testing.T, n *testNode) jetstream.JetStream {
	t.Helper()
	return jsAt(t, n.d.NATSURL())
}

func TestCaughtUpCursorOfEmptyFeedResumes(t *testing.T) {
	nl, be := pair(t)
	sub := subscribe(t, be, &nodev1.SubscribeRequest{})
	cu := sub.next(t, wait).GetCaughtUp()
	if cu == nil {
		t.Fatal("want caught_up first")
	}
	sub.cancel()
	id := publish(t, nl, synth.ValidSeizure()).Id
	resumed := subscribe(t, be, &nodev1.SubscribeRequest{Cursor: cu.GetCursor()})
	if a := resumed.nextAlert(t, wait); a.GetAlert().GetId() != id {
		t.Fatalf("resumed from the empty feed's cursor %q: got %s, want %s", cu.GetCursor(), a.GetAlert().GetId(), id)
	}
}
