package node_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/federation"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/node"
	"github.com/cix-exchange/cix/internal/synth"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type fixture struct {
	ks  *trust.DevKeystore
	ver *trust.Verifier
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ks, err := trust.OpenDevKeystore(filepath.Join(t.TempDir(), "nl"), "NL", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := trust.NewVerifier(nil, ks.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{ks: ks, ver: ver}
}

// seal signs a as the NL node would and returns subject and wire bytes.
func (f *fixture) seal(t testing.TB, a *alertv1.Alert) (string, []byte) {
	t.Helper()
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := f.ks.Current(context.Background())
	env, err := envelope.Seal(envelope.PayloadTypeAlert, payload, key)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := envelope.Marshal(env)
	return bus.AlertSubject(a.GetOrigin().GetAdministration(), alert.KindName(alert.Kind(a)), a.GetId()), raw
}

func nlAlert() *alertv1.Alert {
	a := synth.ValidSeizure()
	a.Origin.Node = "n1"
	return a
}

func TestVerifyAlert(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	subj, raw := f.seal(t, nlAlert())
	v, err := node.VerifyAlert(f.ver, subj, raw, now, now)
	if err != nil {
		t.Fatal(err)
	}
	if v.Signer.Administration != "NL" || v.Alert.GetId() != synth.ValidSeizureID {
		t.Fatalf("verified %+v", v)
	}

	future := nlAlert()
	future.IssuedAt = timestamppb.New(now.Add(time.Hour))
	future.GetSeizure().SeizedAt = timestamppb.New(now)
	subj2, raw2 := f.seal(t, future)
	if _, err := node.VerifyAlert(f.ver, subj2, raw2, now.Add(2*time.Hour), now); envelope.ReasonOf(err) != envelope.ReasonInvalidContent {
		t.Fatalf("future alert: %v", err)
	}

	// Stored while the certificate was valid, verified long after it expired: accepted.
	// Stored after it expired: refused.
	later := now.Add(90 * 24 * time.Hour)
	if _, err := node.VerifyAlert(f.ver, subj, raw, now, later); err != nil {
		t.Fatalf("replayed after certificate expiry: %v", err)
	}
	if _, err := node.VerifyAlert(f.ver, subj, raw, later, later); envelope.ReasonOf(err) != envelope.ReasonUnknownKey {
		t.Fatalf("stored after certificate expiry: %v", err)
	}
	// Issued after it was stored: refused.
	if _, err := node.VerifyAlert(f.ver, subj2, raw2, now, now.Add(2*time.Hour)); envelope.ReasonOf(err) != envelope.ReasonInvalidContent {
		t.Fatalf("issued after storage: %v", err)
	}

	otherNode := nlAlert()
	otherNode.Origin.Node = "n2"
	subj3, raw3 := f.seal(t, otherNode)
	if _, err := node.VerifyAlert(f.ver, subj3, raw3, now, now); envelope.ReasonOf(err) != envelope.ReasonOriginMismatch {
		t.Fatalf("claims another node: %v", err)
	}

	if _, err := node.VerifyAlert(f.ver, "cix.alert.v1.NL.risk."+synth.ValidSeizureID, raw, now, now); envelope.ReasonOf(err) != envelope.ReasonInvalidContent {
		t.Fatalf("kind mismatch: %v", err)
	}
}

// TestVerifyAlertSubjectID: on the federation layout an alert arrives on the subject of
// its scope and kind without its id (federation.AlertToken), or, from a node of an
// earlier version, with it; any other id is refused, and the shared stream's subjects
// always name the id.
func TestVerifyAlertSubjectID(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	_, raw := f.seal(t, nlAlert()) // all members
	all := federation.AllMembers()
	for subject, want := range map[string]envelope.Reason{
		federation.OutboundAlertSubject("NL", all, "seizure"):                           0,
		federation.OutboundSubject("NL", all, "seizure", synth.ValidSeizureID):          0,
		federation.OutboundSubject("NL", all, "seizure", uuid.NewString()):              envelope.ReasonInvalidContent,
		federation.OutboundAlertSubject("NL", all, "risk"):                              envelope.ReasonInvalidContent,
		federation.OutboundAlertSubject("NL", federation.ToGroup("benelux"), "seizure"): envelope.ReasonAudienceMismatch,
		"cix.alert.v1.NL.seizure." + federation.AlertToken:                              envelope.ReasonInvalidContent,
	} {
		v, err := node.VerifyAlert(f.ver, subject, raw, now, now)
		if got := envelope.ReasonOf(err); got != want {
			t.Errorf("%s: %v, want reason %d", subject, err, want)
		} else if err == nil && v.Alert.GetId() != synth.ValidSeizureID {
			t.Errorf("%s: verified %s", subject, v.Alert.GetId())
		}
	}
}

// FuzzVerifyAlert feeds arbitrary subjects and bytes to the receiver's whole check:
// it must never panic, must give every refusal a reason, and must accept only what the
// NL key really signed.
func FuzzVerifyAlert(f *testing.F) {
	fx := newFixture(f)
	subj, raw := fx.seal(f, nlAlert())
	f.Add(subj, raw)
	f.Add(subj, raw[:len(raw)/2])
	f.Add("cix.alert.v1.NL.seizure.x", []byte{0x0a, 0x01, 0x00})
	risk := synth.ValidRisk()
	risk.Origin.Node = "n1"
	rs, rr := fx.seal(f, risk)
	f.Add(rs, rr)
	many := nlAlert() // a repeated field above the wire limit, validly signed
	for len(many.GetSeizure().GetGoods()) < 1001 {
		many.GetSeizure().Goods = append(many.GetSeizure().Goods, &alertv1.Goods{})
	}
	ms, mr := fx.seal(f, many)
	f.Add(ms, mr)
	now := time.Now()
	f.Fuzz(func(t *testing.T, subject string, b []byte) {
		v, err := node.VerifyAlert(fx.ver, subject, b, now, now)
		if err != nil {
			if envelope.ReasonOf(err) == 0 {
				t.Fatalf("refusal without a reason: %v", err)
			}
			return
		}
		if v.Signer.Administration != "NL" || v.Alert.GetOrigin().GetAdministration() != "NL" {
			t.Fatalf("accepted %+v", v.Signer)
		}
		if alert.Validate(v.Alert) != nil {
			t.Fatal("accepted an invalid alert")
		}
	})
}

func TestCompileFilter(t *testing.T) {
	a := synth.ValidSeizure()
	match := func(f *nodev1.Filter) bool {
		c, err := node.CompileFilter(f)
		if err != nil {
			t.Fatalf("compile %v: %v", f, err)
		}
		return c.Match(a)
	}
	if !match(nil) || !match(&nodev1.Filter{}) {
		t.Fatal("empty filter must match")
	}
	hs := alert.HSCodes(a)[0]
	countries := alert.RouteCountries(a)
	for _, tc := range []struct {
		name string
		f    *nodev1.Filter
		want bool
	}{
		{"hs prefix hit", &nodev1.Filter{HsPrefixes: []string{hs[:4]}}, true},
		{"hs prefix with dot", &nodev1.Filter{HsPrefixes: []string{hs[:4] + "." + hs[4:6]}}, true},
		{"hs prefix miss", &nodev1.Filter{HsPrefixes: []string{"01"}}, false},
		{"origin hit, lower case", &nodev1.Filter{Origins: []string{"nl"}}, true},
		{"origin miss", &nodev1.Filter{Origins: []string{"BE", "DE"}}, false},
		{"route hit", &nodev1.Filter{RouteCountries: countries[:1]}, true},
		{"route miss", &nodev1.Filter{RouteCountries: []string{"IS"}}, false},
		{"kind and tlp", &nodev1.Filter{Kinds: []alertv1.AlertKind{alertv1.AlertKind_ALERT_KIND_SEIZURE}, Tlps: []alertv1.Tlp{a.GetHandling().GetTlp()}}, true},
		{"kind miss", &nodev1.Filter{Kinds: []alertv1.AlertKind{alertv1.AlertKind_ALERT_KIND_RISK}}, false},
		{"time window hit", &nodev1.Filter{IssuedAfter: timestamppb.New(a.GetIssuedAt().AsTime().Add(-time.Second)), IssuedBefore: timestamppb.New(a.GetIssuedAt().AsTime().Add(time.Second))}, true},
		{"before is exclusive", &nodev1.Filter{IssuedBefore: a.GetIssuedAt()}, false},
	} {
		if got := match(tc.f); got != tc.want {
			t.Errorf("%s: match = %v, want %v", tc.name, got, tc.want)
		}
	}
	_, err := node.CompileFilter(&nodev1.Filter{
		Kinds: []alertv1.AlertKind{0}, Tlps: []alertv1.Tlp{99}, RouteCountries: []string{"ZZ"},
		IssuedAfter: timestamppb.New(time.Unix(10, 0)), IssuedBefore: timestamppb.New(time.Unix(5, 0)),
	})
	ve, ok := err.(*alert.ValidationError)
	if !ok || len(ve.Violations) != 4 {
		t.Fatalf("want 4 violations, got %v", err)
	}
}
