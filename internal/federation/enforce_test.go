package federation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/federation"
	"github.com/nats-io/nats.go"
)

// consumerCreate is a JetStream consumer-create request as the API takes it.
type consumerCreate struct {
	Stream string         `json:"stream_name"`
	Config map[string]any `json:"config"`
}

// apiReply is the part of a JetStream API response these tests look at.
type apiReply struct {
	Error *struct {
		Code    int    `json:"code"`
		ErrCode int    `json:"err_code"`
		Desc    string `json:"description"`
	} `json:"error"`
	Config *struct {
		Name string `json:"name"`
	} `json:"config"`
}

// request sends a JetStream API request from l's account and decodes the reply; a
// request nobody may answer comes back as nats.ErrNoResponders. The reply subject starts
// with $JSC.R, the one the hub lets through to a leaf for JetStream API replies (a
// server sourcing a stream uses it), since _INBOX.> is not.
func (l *leaf) request(t *testing.T, subject string, body any) (apiReply, error) {
	t.Helper()
	nc, err := nats.Connect(l.s.ClientURL(), nats.CustomInboxPrefix("$JSC.R.probe"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	msg, err := nc.Request(subject, data, 3*time.Second)
	if err != nil {
		return apiReply{}, err
	}
	var r apiReply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		t.Fatalf("reply to %s: %v: %q", subject, err, msg.Data)
	}
	return r, nil
}

func pushConsumer(name, filter, deliver string) consumerCreate {
	return consumerCreate{Stream: federation.OutboundStream("NL"), Config: map[string]any{
		"name": name, "filter_subject": filter, "deliver_subject": deliver,
		"ack_policy": "none", "deliver_policy": "all",
	}}
}

// TestBrokerRefusesWhatTheManifestDoesNotGrant probes NL's outbound stream from BE,
// which may read NL's all-members and benelux scopes and its own bilateral scope, but
// not NL's bilateral scope to DE.
func TestBrokerRefusesWhatTheManifestDoesNotGrant(t *testing.T) {
	f := startFed(t, nil)
	be := f.leaf("BE")
	dom := f.m.Member("NL").Domain
	stream := federation.OutboundStream("NL")
	toDE := federation.ScopeFilter("NL", federation.ToMember("DE"))
	benelux := federation.ScopeFilter("NL", federation.ToGroup("benelux"))
	create := func(name, filter string) string {
		return federation.APIPrefix(dom) + ".CONSUMER.CREATE." + stream + "." + name + "." + filter
	}

	// Subjects nobody exports to BE: no responder is reachable from BE's account.
	for _, tc := range []struct {
		name, subject string
		body          any
	}{
		{"consumer on the scope NL to DE", create("probe", toDE), pushConsumer("probe", toDE, "cix.deliver.BE.NL.probe")},
		{"consumer on the whole stream (legacy create)", federation.APIPrefix(dom) + ".CONSUMER.CREATE." + stream, pushConsumer("", "", "cix.deliver.BE.NL.probe")},
		{"durable consumer", federation.APIPrefix(dom) + ".CONSUMER.DURABLE.CREATE." + stream + ".probe", pushConsumer("probe", toDE, "cix.deliver.BE.NL.probe")},
		{"stream info", federation.APIPrefix(dom) + ".STREAM.INFO." + stream, nil},
		{"direct get", federation.APIPrefix(dom) + ".DIRECT.GET." + stream, map[string]any{"seq": 1}},
		{"message get", federation.APIPrefix(dom) + ".STREAM.MSG.GET." + stream, map[string]any{"seq": 1}},
		{"stream delete", federation.APIPrefix(dom) + ".STREAM.DELETE." + stream, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := be.request(t, tc.subject, tc.body)
			if !errors.Is(err, nats.ErrNoResponders) {
				t.Fatalf("request %s from BE: reply %+v, error %v; want no responders", tc.subject, r, err)
			}
		})
	}

	// The subject BE may use, with a body asking for more than it names: the JetStream
	// API refuses it.
	for _, tc := range []struct {
		name    string
		config  map[string]any
		errCode int
	}{
		{"filter of another scope", map[string]any{"name": "probe", "filter_subject": toDE, "deliver_subject": "cix.deliver.BE.NL.probe"}, 10131},
		{"whole stream", map[string]any{"name": "probe", "filter_subject": federation.OriginFilter("NL"), "deliver_subject": "cix.deliver.BE.NL.probe"}, 10131},
		{"no filter", map[string]any{"name": "probe", "deliver_subject": "cix.deliver.BE.NL.probe"}, 10131},
		{"several filters", map[string]any{"name": "probe", "filter_subjects": []string{benelux, toDE}, "deliver_subject": "cix.deliver.BE.NL.probe"}, 10137},
		// Deliveries into NL's own alert subjects (to widen a scope) form a cycle with
		// the one outbound stream holding them all.
		{"deliver into NL's all-members subjects", map[string]any{"name": "probe", "filter_subject": benelux, "deliver_subject": federation.OutboundSubject("NL", federation.AllMembers(), "risk", "widened")}, 10081},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.config["ack_policy"] = "none"
			r, err := be.request(t, create("probe", benelux), consumerCreate{Stream: stream, Config: tc.config})
			if err != nil {
				t.Fatal(err)
			}
			if r.Error == nil || r.Error.ErrCode != tc.errCode {
				t.Fatalf("reply %+v, want error %d", r, tc.errCode)
			}
		})
	}

	// And what the manifest grants works: a consumer on the benelux scope. Its deliver
	// subject is BE's choice, within NL's account: delivering into NL's JetStream API
	// does not reach it (NL's streams survive), and delivering into another member's
	// deliver prefix reaches only a subscriber of that member waiting for it, which is
	// collusion (BE could forward what it reads anyway); docs/transport.md.
	for i, deliver := range []string{"cix.deliver.BE.NL.granted", "$JS.API.STREAM.DELETE." + stream, "$JS.API.STREAM.PURGE." + stream,
		"$JS.API.STREAM.DELETE." + federation.InboundStream("NL")} {
		name := fmt.Sprintf("granted%d", i)
		r, err := be.request(t, create(name, benelux), pushConsumer(name, benelux, deliver))
		if err != nil || r.Error != nil {
			t.Fatalf("granted consumer delivering to %s: reply %+v, error %v", deliver, r, err)
		}
	}
	nl := f.leaf("NL")
	g1 := nl.publish(t, federation.ToGroup("benelux"), "g1", []byte("benelux"))
	f.waitInbound("BE", benelux, []string{g1})
	f.waitInbound("NL", "", []string{g1})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := nl.js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(ctx); err != nil || info.State.Msgs != 1 {
		t.Fatalf("NL's outbound stream after deliveries into its API: %+v, %v", info, err)
	}
}

// TestExcludedMemberSeesNothingOnTheWire publishes NL's alerts for each scope while a
// raw core-NATS subscription on ">" in DE's account (on DE's leaf, where everything the
// hub routes to DE arrives) and in BE's account records every message, and checks that
// neither sees a byte of an alert outside its scopes.
func TestExcludedMemberSeesNothingOnTheWire(t *testing.T) {
	f := startFed(t, nil)
	sniff := map[string]chan *nats.Msg{}
	for _, code := range []string{"BE", "DE"} {
		ch := make(chan *nats.Msg, 10000)
		sub, err := f.leaf(code).nc.ChanSubscribe(">", ch)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
		if err := f.leaf(code).nc.Flush(); err != nil {
			t.Fatal(err)
		}
		sniff[code] = ch
	}
	nl := f.leaf("NL")
	secretGroup := []byte("SECRET-benelux-only")
	secretDE := []byte("SECRET-for-DE-only")
	all := nl.publish(t, federation.AllMembers(), "a1", []byte("for everyone"))
	grp := nl.publish(t, federation.ToGroup("benelux"), "g1", secretGroup)
	bil := nl.publish(t, federation.ToMember("DE"), "b1", secretDE)
	// A sentinel per scope after the secrets: once it is in, the secret's source (the
	// same consumer) has delivered what it will.
	all2 := nl.publish(t, federation.AllMembers(), "a2", []byte("sentinel"))
	grp2 := nl.publish(t, federation.ToGroup("benelux"), "g2", []byte("sentinel"))
	bil2 := nl.publish(t, federation.ToMember("DE"), "b2", []byte("sentinel"))
	f.waitInbound("BE", "", []string{all, grp, all2, grp2})
	f.waitInbound("DE", "", []string{all, bil, all2, bil2})

	// NL's bilateral scope to BE exists too, with its own source at BE: a sentinel there
	// proves BE's wire is drained up to it.
	toBE := nl.publish(t, federation.ToMember("BE"), "s1", []byte("sentinel"))
	f.waitInbound("BE", federation.ScopeFilter("NL", federation.ToMember("BE")), []string{toBE})

	check := func(code string, secret []byte, mustSee []byte) {
		t.Helper()
		var n int
		seen := false
		for {
			select {
			case m := <-sniff[code]:
				n++
				if strings.Contains(string(m.Data), string(secret)) {
					t.Errorf("%s saw %q on %s", code, secret, m.Subject)
				}
				if strings.Contains(string(m.Data), string(mustSee)) {
					seen = true
				}
				continue
			default:
			}
			break
		}
		if !seen {
			t.Errorf("%s: the sniffer saw none of the %q it is entitled to (%d messages): it sees nothing?", code, mustSee, n)
		}
		t.Logf("%s: %d messages on the wire, none of %q", code, n, secret)
	}
	check("DE", secretGroup, secretDE)
	check("BE", secretDE, secretGroup)
}

// TestOriginIsEnforcedByTheHub connects to the hub with BE's leaf credentials as a
// plain client: the hub refuses publishing under NL's origin and accepts BE's own.
func TestOriginIsEnforcedByTheHub(t *testing.T) {
	f := startFed(t, nil)
	errs := make(chan error, 10)
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", f.hubPort),
		nats.Nkey(pubOf(t, f.seeds["BE"]), signer(t, f.seeds["BE"])),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	forged := federation.OutboundSubject("NL", federation.AllMembers(), "risk", "forged")
	if err := nc.Publish(forged, []byte("forged by BE")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), forged) {
			t.Fatalf("error %v, want a permissions violation for publishing to %s", err, forged)
		}
	case <-time.After(wait):
		t.Fatal("the hub accepted BE publishing under NL's origin")
	}
	own := federation.OutboundSubject("BE", federation.AllMembers(), "risk", "own")
	if err := nc.Publish(own, []byte("BE's own")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		t.Fatalf("publishing under BE's own origin: %v", err)
	default:
	}

	// Through BE's leaf, a message under NL's origin stays in BE's account (and the
	// hub's permissions, which it sends to the leaf, forbid it): NL's outbound stream
	// never sees it.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := f.leaf("NL").js.Stream(ctx, federation.OutboundStream("NL"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.leaf("BE").nc.Publish(forged, []byte("forged on BE's leaf")); err != nil {
		t.Fatal(err)
	}
	marker := f.leaf("NL").publish(t, federation.AllMembers(), "after-forgery", []byte("NL's own"))
	f.waitInbound("BE", federation.ScopeFilter("NL", federation.AllMembers()), []string{marker})
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("NL's outbound stream holds %d messages, want only NL's own", info.State.Msgs)
	}
}

// TestImporterChoosesTheDeliverSubject records a limit of what the hub enforces, which
// the node's move onto this layout must respect (docs/transport.md): a consumer that an
// entitled importer creates on an origin's outbound stream delivers to a subject of the
// importer's choosing inside the origin leaf's account. The JetStream API is out of
// reach that way and the origin's own alert subjects are refused as a cycle
// (TestBrokerRefusesWhatTheManifestDoesNotGrant), but a subscriber of the origin's
// account on that subject receives the importer's scope. Hence nothing in the account
// bound to the hub may trust a message for having arrived on one of its subjects.
func TestImporterChoosesTheDeliverSubject(t *testing.T) {
	f := startFed(t, nil)
	nl, be := f.leaf("NL"), f.leaf("BE")
	sub, err := nl.nc.SubscribeSync("private.nl.injected")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nl.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	benelux := federation.ScopeFilter("NL", federation.ToGroup("benelux"))
	subject := federation.APIPrefix(f.m.Member("NL").Domain) + ".CONSUMER.CREATE." + federation.OutboundStream("NL") + ".redirect." + benelux
	r, err := be.request(t, subject, pushConsumer("redirect", benelux, "private.nl.injected"))
	if err != nil || r.Error != nil {
		t.Fatalf("reply %+v, error %v", r, err)
	}
	nl.publish(t, federation.ToGroup("benelux"), "g1", []byte("benelux"))
	m, err := sub.NextMsg(wait)
	if err != nil {
		t.Fatalf("no delivery on the subject BE chose: %v", err)
	}
	if string(m.Data) != "benelux" {
		t.Fatalf("delivery %s %q", m.Subject, m.Data)
	}
}
