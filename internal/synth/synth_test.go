package synth_test

import (
	"testing"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"google.golang.org/protobuf/proto"
)

func TestExamplesValid(t *testing.T) {
	for name, a := range map[string]*alertv1.Alert{"seizure": synth.ValidSeizure(), "risk": synth.ValidRisk()} {
		if err := alert.Validate(a); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		b := proto.Clone(a).(*alertv1.Alert)
		alert.Normalize(b)
		if !proto.Equal(a, b) {
			t.Errorf("%s: Normalize changed the example", name)
		}
	}
	if alert.Kind(synth.ValidSeizure()) != alertv1.AlertKind_ALERT_KIND_SEIZURE || alert.Kind(synth.ValidRisk()) != alertv1.AlertKind_ALERT_KIND_RISK {
		t.Error("wrong kinds")
	}
}

func TestGeneratedAlertsValid(t *testing.T) {
	for _, tc := range []struct {
		seed    int64
		origin  string
		persons bool
	}{{1, "NL", false}, {2, "BE", true}, {42, "ES", false}, {-7, "DE", true}, {99, "US", false}} {
		g := synth.New(tc.seed, tc.origin).WithPersons(tc.persons)
		var kinds [3]int
		amendments, withPersons := 0, 0
		seen := map[string]bool{}
		for i, a := range g.NextN(2000) {
			if err := alert.Validate(a); err != nil {
				t.Fatalf("seed %d alert %d: %v\n%v", tc.seed, i, err, a)
			}
			b := proto.Clone(a).(*alertv1.Alert)
			alert.Normalize(b)
			if !proto.Equal(a, b) {
				t.Fatalf("seed %d alert %d: not in normal form", tc.seed, i)
			}
			if seen[a.GetId()] {
				t.Fatalf("seed %d alert %d: duplicate id %s", tc.seed, i, a.GetId())
			}
			seen[a.GetId()] = true
			if a.GetSupersedes() != "" {
				amendments++
				if !seen[a.GetSupersedes()] || a.GetVersion() != 2 {
					t.Fatalf("seed %d alert %d: bad amendment", tc.seed, i)
				}
			}
			if len(a.GetSeizure().GetPersons()) > 0 {
				withPersons++
			}
			if a.GetOrigin().GetAdministration() != tc.origin {
				t.Fatalf("origin %q", a.GetOrigin().GetAdministration())
			}
			kinds[alert.Kind(a)]++
		}
		seizures := float64(kinds[alertv1.AlertKind_ALERT_KIND_SEIZURE]) / 2000
		if seizures < 0.6 || seizures > 0.8 {
			t.Errorf("seed %d: %.2f seizures", tc.seed, seizures)
		}
		if amendments < 40 || amendments > 180 {
			t.Errorf("seed %d: %d amendments", tc.seed, amendments)
		}
		if tc.persons != (withPersons > 0) {
			t.Errorf("seed %d: persons %v but %d alerts with persons", tc.seed, tc.persons, withPersons)
		}
	}
}

func TestDeterministic(t *testing.T) {
	a := synth.New(7, "NL").NextN(300)
	b := synth.New(7, "NL").NextN(300)
	c := synth.New(8, "NL").NextN(300)
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			t.Fatalf("alert %d differs for the same seed", i)
		}
		if proto.Equal(a[i], c[i]) || a[i].GetId() == c[i].GetId() {
			t.Fatalf("alert %d equal for different seeds", i)
		}
	}
}

func TestIDsDependOnSeedAndCounterOnly(t *testing.T) {
	a := synth.New(3, "NL").NextN(50)
	b := synth.New(3, "FR").WithPersons(true).NextN(50)
	for i := range a {
		if a[i].GetId() != b[i].GetId() {
			t.Fatalf("id %d differs", i)
		}
		if got := a[i].GetId(); got[14] != '4' || (got[19] != '8' && got[19] != '9' && got[19] != 'a' && got[19] != 'b') {
			t.Fatalf("id %s is not a version 4 UUID", got)
		}
	}
	if got := a[1].GetIssuedAt().AsTime().Sub(a[0].GetIssuedAt().AsTime()); got != synth.Step {
		t.Fatalf("step %v", got)
	}
}

func BenchmarkNext(b *testing.B) {
	g := synth.New(1, "NL")
	for b.Loop() {
		g.Next()
	}
}
