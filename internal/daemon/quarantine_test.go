package daemon_test

import (
	"context"
	"path/filepath"
	"sort"
	"testing"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/envelope"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	envelopev1 "github.com/cix-exchange/cix/internal/gen/cix/envelope/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// forged is a message put on the alert stream by hand, bypassing a node's checks.
type forged struct {
	name    string
	subject string
	raw     []byte
	reason  nodev1.QuarantineReason
}

// signedBy seals a as signer would, returning the marshalled envelope.
func signedBy(t *testing.T, ks *trust.DevKeystore, payloadType string, payload []byte) []byte {
	t.Helper()
	key, err := ks.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Seal(payloadType, payload, key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := envelope.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func newAlert(admin string) *alertv1.Alert {
	a := synth.ValidSeizure()
	a.Id = uuid.NewString()
	a.Origin = &alertv1.Origin{Administration: admin, Node: "n1"}
	return a
}

func marshal(t *testing.T, a proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func subjectOf(a *alertv1.Alert) string {
	return bus.AlertSubject(a.GetOrigin().GetAdministration(), alert.KindName(alert.Kind(a)), a.GetId())
}

func TestForgedMessagesQuarantinedNeverDelivered(t *testing.T) {
	nl, be := pair(t)
	sub := subscribe(t, be, &nodev1.SubscribeRequest{})
	nlKey := nl.ks
	// An administration nobody trusts, and a rogue "NL" with its own anchor.
	fr, err := trust.OpenDevKeystore(filepath.Join(t.TempDir(), "fr"), "FR", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	rogueNL, err := trust.OpenDevKeystore(filepath.Join(t.TempDir(), "rogue"), "NL", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}

	var cases []forged
	{ // tampered payload: a byte flipped after signing
		a := newAlert("NL")
		raw := signedBy(t, nlKey, envelope.PayloadTypeAlert, marshal(t, a))
		env := mustEnvelope(t, raw)
		env.Payload[len(env.Payload)-1] ^= 0x01
		cases = append(cases, forged{"tampered payload", subjectOf(a), remarshal(t, env), nodev1.QuarantineReason_QUARANTINE_REASON_BAD_SIGNATURE})
	}
	{ // swapped payload type after signing
		a := newAlert("NL")
		env := mustEnvelope(t, signedBy(t, nlKey, envelope.PayloadTypeAlert, marshal(t, a)))
		env.PayloadType = "application/vnd.cix.assistance.v1+proto"
		cases = append(cases, forged{"swapped payload type", subjectOf(a), remarshal(t, env), nodev1.QuarantineReason_QUARANTINE_REASON_WRONG_PAYLOAD_TYPE})
	}
	{ // properly signed as another type
		a := newAlert("NL")
		cases = append(cases, forged{"signed as another type", subjectOf(a),
			signedBy(t, nlKey, "application/vnd.cix.other.v1+proto", marshal(t, a)), nodev1.QuarantineReason_QUARANTINE_REASON_WRONG_PAYLOAD_TYPE})
	}
	{ // wrong origin: NL's key signs an alert claiming to be from BE, on BE's subject
		a := newAlert("BE")
		cases = append(cases, forged{"wrong origin in payload", subjectOf(a),
			signedBy(t, nlKey, envelope.PayloadTypeAlert, marshal(t, a)), nodev1.QuarantineReason_QUARANTINE_REASON_ORIGIN_MISMATCH})
	}
	{ // wrong origin on the subject: a genuine NL alert put under BE's subject
		a := newAlert("NL")
		cases = append(cases, forged{"wrong origin on subject", bus.AlertSubject("BE", "seizure", a.GetId()),
			signedBy(t, nlKey, envelope.PayloadTypeAlert, marshal(t, a)), nodev1.QuarantineReason_QUARANTINE_REASON_ORIGIN_MISMATCH})
	}
	{ // unknown key: an administration without a trusted anchor
		a := newAlert("FR")
		cases = append(cases, forged{"unknown administration key", subjectOf(a),
			signedBy(t, fr, envelope.PayloadTypeAlert, marshal(t, a)), nodev1.QuarantineReason_QUARANTINE_REASON_UNKNOWN_KEY})
	}
	{ // unknown key: a key claiming NL under an anchor that is not NL's
		a := newAlert("NL")
		cases = append(cases, forged{"rogue NL key", subjectOf(a),
			signedBy(t, rogueNL, envelope.PayloadTypeAlert, marshal(t, a)), nodev1.QuarantineReason_QUARANTINE_REASON_UNKNOWN_KEY})
	}
	{ // undecodable payload, validly signed
		id := uuid.NewString()
		cases = append(cases, forged{"undecodable payload", bus.AlertSubject("NL", "seizure", id),
			signedBy(t, nlKey, envelope.PayloadTypeAlert, []byte{0xff, 0xff, 0xff, 0xff}), nodev1.QuarantineReason_QUARANTINE_REASON_UNDECODABLE_PAYLOAD})
	}
	{ // not an envelope at all
		cases = append(cases, forged{"malformed envelope", bus.AlertSubject("NL", "seizure", uuid.NewString()),
			[]byte("not a protobuf \xff\xff"), nodev1.QuarantineReason_QUARANTINE_REASON_MALFORMED_ENVELOPE})
	}
	{ // genuine signature, but the subject names another alert id
		a := newAlert("NL")
		cases = append(cases, forged{"subject id mismatch", bus.AlertSubject("NL", "seizure", uuid.NewString()),
			signedBy(t, nlKey, envelope.PayloadTypeAlert, marshal(t, a)), nodev1.QuarantineReason_QUARANTINE_REASON_INVALID_CONTENT})
	}
	{ // genuine signature over an alert that fails validation
		a := newAlert("NL")
		a.GetSeizure().GetGoods()[0].HsCode = "7700"
		cases = append(cases, forged{"invalid content", subjectOf(a),
			signedBy(t, nlKey, envelope.PayloadTypeAlert, marshal(t, a)), nodev1.QuarantineReason_QUARANTINE_REASON_INVALID_CONTENT})
	}

	js := jsOf(t, nl)
	ctx := context.Background()
	for _, c := range cases {
		if _, err := js.Publish(ctx, c.subject, c.raw); err != nil {
			t.Fatalf("%s: inject: %v", c.name, err)
		}
	}
	end := sentinel(t, nl)
	if got := sub.untilID(t, end, wait); len(got) != 0 {
		t.Fatalf("%d forged alerts delivered, first %v", len(got), got[0].GetAlert())
	}

	// BE quarantined each with its reason, and the raw bytes as received.
	q, err := be.admin.ListQuarantine(ctx, &nodev1.ListQuarantineRequest{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(q.GetMessages()) != len(cases) {
		t.Fatalf("quarantine holds %d messages, want %d: %v", len(q.GetMessages()), len(cases), q.GetMessages())
	}
	bySubject := map[string]*nodev1.QuarantinedMessage{}
	for _, m := range q.GetMessages() {
		bySubject[m.GetSubject()] = m
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := bySubject[c.subject]
			if m == nil {
				t.Fatalf("not quarantined")
			}
			if m.GetReason() != c.reason || m.GetDetail() == "" || string(m.GetRaw()) != string(c.raw) {
				t.Fatalf("quarantined as %v (%q), want %v", m.GetReason(), m.GetDetail(), c.reason)
			}
			_, id, _ := splitSubject(c.subject)
			if _, err := be.client.Get(ctx, &nodev1.GetRequest{Id: id}); alert.ValidUUID(id) && status.Code(err) != codes.NotFound {
				t.Fatalf("Get of a quarantined id: %v", err)
			}
		})
	}
	var total uint64
	for _, n := range q.GetCounts() {
		total += n
	}
	if total != uint64(len(cases)) || q.GetCounts()["bad_signature"] != 1 || q.GetCounts()["unknown_key"] != 2 {
		t.Fatalf("counts %v", q.GetCounts())
	}
	// Newest first, and paging walks the rest without repeats.
	page1, err := be.admin.ListQuarantine(ctx, &nodev1.ListQuarantineRequest{PageSize: 4})
	if err != nil || len(page1.GetMessages()) != 4 || page1.GetNextPageToken() == "" {
		t.Fatalf("page 1: %v %v", page1, err)
	}
	var seqs []uint64
	for tok := ""; ; {
		p, err := be.admin.ListQuarantine(ctx, &nodev1.ListQuarantineRequest{PageSize: 4, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range p.GetMessages() {
			seqs = append(seqs, m.GetSequence())
		}
		if tok = p.GetNextPageToken(); tok == "" {
			break
		}
	}
	if len(seqs) != len(cases) || !sort.SliceIsSorted(seqs, func(i, j int) bool { return seqs[i] > seqs[j] }) {
		t.Fatalf("paged sequences %v", seqs)
	}
	info, err := be.admin.GetNodeInfo(ctx, &nodev1.GetNodeInfoRequest{})
	if err != nil || info.GetQuarantined() != uint64(len(cases)) || info.GetFeedAlerts() != 1 {
		t.Fatalf("node info %v %v", info, err)
	}
}

func mustEnvelope(t *testing.T, raw []byte) *envelopev1.Envelope {
	t.Helper()
	env := &envelopev1.Envelope{}
	if err := proto.Unmarshal(raw, env); err != nil {
		t.Fatal(err)
	}
	return env
}

func remarshal(t *testing.T, env *envelopev1.Envelope) []byte {
	t.Helper()
	b, err := envelope.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func splitSubject(s string) (origin, id string, err error) {
	o, _, id, err := bus.ParseAlertSubject(s)
	return o, id, err
}
