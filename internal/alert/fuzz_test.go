package alert_test

import (
	"errors"
	"testing"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func FuzzValidate(f *testing.F) {
	seeds := []*alertv1.Alert{synth.ValidSeizure(), synth.ValidRisk(), {}, {Body: &alertv1.Alert_Seizure{}}, {Body: &alertv1.Alert_Risk{}}}
	seeds = append(seeds, messy()...)
	seeds = append(seeds, synth.New(1, "NL").WithPersons(true).NextN(20)...)
	bad := synth.ValidSeizure()
	bad.Id, bad.Version, bad.Supersedes = "x", 5, "y"
	bad.GetSeizure().Goods = append(bad.GetSeizure().Goods, &alertv1.Goods{HsCode: "77", QuantityFound: &alertv1.Quantity{Amount: -1}})
	bad.GetSeizure().SeizedAt = &timestamppb.Timestamp{Seconds: -1 << 40}
	bad.GetSeizure().Conveyance.ContainerNumbers = []string{"CSQU3054384", "x"}
	badRisk := synth.ValidRisk()
	badRisk.GetRisk().Indicators = append(badRisk.GetRisk().Indicators, &alertv1.Indicator{},
		&alertv1.Indicator{Indicator: &alertv1.Indicator_ValueThreshold{}},
		&alertv1.Indicator{Indicator: &alertv1.Indicator_Route{}})
	badRisk.GetRisk().EvidenceLinks = []string{"::", "http://[::1"}
	seeds = append(seeds, bad, badRisk)
	for _, a := range seeds {
		b, err := proto.Marshal(a)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a := &alertv1.Alert{}
		if err := proto.Unmarshal(data, a); err != nil {
			return
		}
		alert.Normalize(a)
		err1 := alert.Validate(a)
		b := proto.Clone(a).(*alertv1.Alert)
		alert.Normalize(b)
		if !proto.Equal(a, b) {
			t.Fatalf("Normalize is not idempotent:\n%v\n%v", a, b)
		}
		err2 := alert.Validate(b)
		if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Fatalf("Validate changed after a second Normalize: %v / %v", err1, err2)
		}
		if err1 != nil {
			var ve *alert.ValidationError
			if !errors.As(err1, &ve) || len(ve.Violations) == 0 {
				t.Fatalf("unexpected error %#v", err1)
			}
			for _, v := range ve.Violations {
				if v.Field == "" || v.Description == "" {
					t.Fatalf("empty violation %+v", v)
				}
			}
		}
		alert.KindName(alert.Kind(a))
		alert.HSCodes(a)
		alert.CommodityGroups(a)
		alert.RouteCountries(a)
		alert.ContainerNumbers(a)
	})
}
