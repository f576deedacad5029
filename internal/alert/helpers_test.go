package alert_test

import (
	"slices"
	"testing"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"google.golang.org/protobuf/proto"
)

func TestValidCountry(t *testing.T) {
	n := 0
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			if alert.ValidCountry(string([]rune{a, b})) {
				n++
			}
		}
	}
	if n != 249 {
		t.Errorf("%d assigned codes, want 249", n)
	}
	for _, c := range []string{"NL", "AX", "SS", "BQ", "CW", "SX", "TW", "PS", "EH"} {
		if !alert.ValidCountry(c) {
			t.Errorf("%s rejected", c)
		}
	}
	for _, c := range []string{"", "nl", "UK", "EU", "XK", "AN", "NLD", "N"} {
		if alert.ValidCountry(c) {
			t.Errorf("%q accepted", c)
		}
	}
}

func TestValidCurrency(t *testing.T) {
	for _, c := range []string{"EUR", "USD", "CNY", "XOF", "XCG", "ZWG", "BGN"} {
		if !alert.ValidCurrency(c) {
			t.Errorf("%s rejected", c)
		}
	}
	for _, c := range []string{"", "eur", "EURO", "XXX", "XTS", "XAU", "DEM", "ABC"} {
		if alert.ValidCurrency(c) {
			t.Errorf("%q accepted", c)
		}
	}
}

func TestIdentifiers(t *testing.T) {
	check := func(name string, f func(string) bool, valid, invalid []string) {
		t.Helper()
		for _, s := range valid {
			if !f(s) {
				t.Errorf("%s(%q) = false", name, s)
			}
		}
		for _, s := range invalid {
			if f(s) {
				t.Errorf("%s(%q) = true", name, s)
			}
		}
	}
	check("ValidUUID", alert.ValidUUID,
		[]string{synth.ValidSeizureID, "123e4567-e89b-12d3-a456-426614174000", "ffffffff-ffff-ffff-ffff-ffffffffffff"},
		[]string{"", "123E4567-E89B-12D3-A456-426614174000", "123e4567e89b12d3a456426614174000", "{123e4567-e89b-12d3-a456-426614174000}",
			"123e4567-e89b-12d3-a456-42661417400g", "123e4567-e89b-12d3-a456_426614174000", "00000000-0000-0000-0000-000000000000"})
	check("ValidUNLOCODE", alert.ValidUNLOCODE,
		[]string{"NLRTM", "BEANR", "ESALG", "CNSHA", "AEJEA", "DE2B9"},
		[]string{"", "nlrtm", "NLRT", "NLRTMX", "XXRTM", "NLRT1", "NLRT0", "NL RTM", "NL-RT"})
	check("ValidHSCode", alert.ValidHSCode,
		[]string{"293972", "240220", "22083011", "9705100000", "010121", "970600"},
		[]string{"", "2939", "29397", "2939720", "293972000", "29397200001", "770000", "000000", "980000", "990000", "2939.7", "29397a"})
	check("ValidHSPrefix", alert.ValidHSPrefix,
		[]string{"2", "29", "2939", "293972", "2939720000", "77", "00"},
		[]string{"", "29397200001", "29.39", "ab"})
	check("ValidContainerNumber", alert.ValidContainerNumber,
		[]string{"CSQU3054383", "MSKU0000027", "MSCU1234566", "TGHU9876542", "CSQJ3054386", "CSQZ3054387"},
		[]string{"", "CSQU3054384", "MSKU0000025", "CSQA3054383", "csqu3054383", "CSQU 305438 3", "CSQU305438", "CSQU30543833", "CSQU305438X", "C5QU3054383"})
	check("ValidIMO", alert.ValidIMO,
		[]string{"9074729", "9176187", "0000000"},
		[]string{"", "9074728", "907472", "90747290", "IMO9074729", "907472a"})
}

func TestContainerCheckDigit(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		digit  int
	}{{"CSQU305438", 3}, {"MSKU000002", 7}, {"MSCU123456", 6}, {"TGHU987654", 2}} {
		if d, ok := alert.ContainerCheckDigit(tc.prefix); !ok || d != tc.digit {
			t.Errorf("ContainerCheckDigit(%s) = %d, %v; want %d", tc.prefix, d, ok, tc.digit)
		}
	}
	// Remainder 10 gives check digit 0.
	found := false
	for serial := range 1000 {
		p := "ABCU" + string(rune('0'+serial/100)) + string(rune('0'+serial/10%10)) + string(rune('0'+serial%10)) + "000"
		d, ok := alert.ContainerCheckDigit(p)
		if !ok || d < 0 || d > 9 {
			t.Fatalf("ContainerCheckDigit(%s) = %d, %v", p, d, ok)
		}
		if !alert.ValidContainerNumber(p + string(rune('0'+d))) {
			t.Fatalf("%s%d rejected", p, d)
		}
		found = found || d == 0
	}
	if !found {
		t.Error("no check digit 0 seen")
	}
	for _, p := range []string{"", "CSQU30543", "CSQU30543X", "csqu305438", "CSQ1305438"} {
		if _, ok := alert.ContainerCheckDigit(p); ok {
			t.Errorf("ContainerCheckDigit(%q) ok", p)
		}
	}
}

func TestKind(t *testing.T) {
	s, r := synth.ValidSeizure(), synth.ValidRisk()
	if k := alert.Kind(s); k != alertv1.AlertKind_ALERT_KIND_SEIZURE || alert.KindName(k) != "seizure" {
		t.Errorf("seizure kind %v", k)
	}
	if k := alert.Kind(r); k != alertv1.AlertKind_ALERT_KIND_RISK || alert.KindName(k) != "risk" {
		t.Errorf("risk kind %v", k)
	}
	if k := alert.Kind(nil); k != alertv1.AlertKind_ALERT_KIND_UNSPECIFIED || alert.KindName(k) != "" || alert.KindName(7) != "" {
		t.Errorf("nil kind %v", k)
	}
	for _, k := range []alertv1.AlertKind{alertv1.AlertKind_ALERT_KIND_SEIZURE, alertv1.AlertKind_ALERT_KIND_RISK} {
		if got, ok := alert.ParseKind(alert.KindName(k)); !ok || got != k {
			t.Errorf("ParseKind(KindName(%v)) = %v, %v", k, got, ok)
		}
	}
	for _, s := range []string{"", "Seizure", "unspecified", "ALERT_KIND_RISK"} {
		if _, ok := alert.ParseKind(s); ok {
			t.Errorf("ParseKind(%q) ok", s)
		}
	}
}

// messy returns the examples as a national system might send them.
func messy() []*alertv1.Alert {
	s := synth.ValidSeizure()
	s.Id = "  " + "0B9E4A52-6C1D-4F3E-9A7B-2D5C8E1F4A60 "
	s.Version = 0
	s.Origin.Administration, s.Origin.Office = " nl", "nl000396 "
	s.Handling.LegalBasis = " Naples II art. 15\n"
	z := s.GetSeizure()
	z.Location, z.CustomsOffice = "nl rtm", " NL000396"
	z.Goods[0].HsCode = "2939.72"
	z.Goods[0].Value.Currency = "eur "
	z.Goods[0].Description = "\tcocaine hydrochloride in bricks "
	z.Conveyance.ImoNumber = "IMO 9074729"
	z.Conveyance.ContainerNumbers = []string{"csqu 305438-3"}
	z.Route.CountryOfOrigin, z.Route.TransitCountries, z.Route.Places = "ec", []string{" pa"}, []string{"EC GYE", "pamit", "NLRTM "}
	z.Companies[0].Eori, z.Companies[0].Country = "nl 123456789", "nl"
	z.FollowUp.RelatedAlertIds = []string{"7F3C2B1A-9D8E-4C6B-8A5F-1E2D3C4B5A69"}

	r := synth.ValidRisk()
	k := r.GetRisk()
	k.HsCodes = []string{"29.39", "0803.90"}
	k.PortsOfInterest = []string{"nlrtm", "BE ANR"}
	k.Indicators[0].Indicator = &alertv1.Indicator_HsCode{HsCode: " 08.03"}
	k.Indicators[1].Indicator = &alertv1.Indicator_ContainerPrefix{ContainerPrefix: "csqu"}
	k.Indicators[2].GetRoute().CountryOfOrigin = "Ec"
	k.Shipments[0].ContainerNumber = "CSQU-305438-3"
	k.OriginalLanguage = "NL"
	k.Title = "Cocaine in banana reefers from Guayaquil  "
	return []*alertv1.Alert{s, r}
}

func TestNormalize(t *testing.T) {
	want := []*alertv1.Alert{synth.ValidSeizure(), synth.ValidRisk()}
	for i, a := range messy() {
		if alert.Validate(a) == nil {
			t.Errorf("%d: messy alert valid before Normalize", i)
		}
		alert.Normalize(a)
		if !proto.Equal(a, want[i]) {
			t.Errorf("%d: Normalize gave\n%v\nwant\n%v", i, a, want[i])
		}
		alert.Normalize(a)
		if !proto.Equal(a, want[i]) {
			t.Errorf("%d: Normalize not idempotent", i)
		}
	}
	alert.Normalize(nil)
	alert.Normalize(&alertv1.Alert{Body: &alertv1.Alert_Seizure{}})
	alert.Normalize(&alertv1.Alert{Body: &alertv1.Alert_Risk{}})
	a := &alertv1.Alert{Version: 3}
	alert.Normalize(a)
	if a.Version != 3 {
		t.Errorf("version %d", a.Version)
	}
	// Only an "IMO" followed by digits is removed.
	c := &alertv1.Alert{Body: &alertv1.Alert_Seizure{Seizure: &alertv1.SeizureAlert{Conveyance: &alertv1.Conveyance{ImoNumber: " imo IMO 123 "}}}}
	alert.Normalize(c)
	if got := c.GetSeizure().GetConveyance().GetImoNumber(); got != "imo IMO 123" {
		t.Errorf("IMO %q", got)
	}
}

func TestAccessors(t *testing.T) {
	s, r := synth.ValidSeizure(), synth.ValidRisk()
	s.GetSeizure().Goods = append(s.GetSeizure().Goods,
		&alertv1.Goods{CommodityGroup: alertv1.CommodityGroup_COMMODITY_GROUP_TOBACCO, HsCode: "240220"},
		&alertv1.Goods{CommodityGroup: alertv1.CommodityGroup_COMMODITY_GROUP_DRUGS, HsCode: "293972"},
		&alertv1.Goods{})
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"seizure HSCodes", alert.HSCodes(s), []string{"293972", "240220"}},
		{"risk HSCodes", alert.HSCodes(r), []string{"2939", "080390", "0803"}},
		{"seizure CommodityGroups", alert.CommodityGroups(s), []alertv1.CommodityGroup{alertv1.CommodityGroup_COMMODITY_GROUP_DRUGS, alertv1.CommodityGroup_COMMODITY_GROUP_TOBACCO}},
		{"risk CommodityGroups", alert.CommodityGroups(r), []alertv1.CommodityGroup{alertv1.CommodityGroup_COMMODITY_GROUP_DRUGS}},
		{"seizure RouteCountries", alert.RouteCountries(s), []string{"EC", "PA", "NL"}},
		{"risk RouteCountries", alert.RouteCountries(r), []string{"EC", "NL", "PA"}},
		{"seizure ContainerNumbers", alert.ContainerNumbers(s), []string{"CSQU3054383"}},
		{"risk ContainerNumbers", alert.ContainerNumbers(r), []string{"CSQU3054383"}},
		{"nil HSCodes", alert.HSCodes(nil), []string(nil)},
		{"nil CommodityGroups", alert.CommodityGroups(nil), []alertv1.CommodityGroup(nil)},
		{"nil RouteCountries", alert.RouteCountries(&alertv1.Alert{}), []string(nil)},
		{"nil ContainerNumbers", alert.ContainerNumbers(nil), []string(nil)},
	} {
		if !equalAny(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func equalAny(a, b any) bool {
	switch x := a.(type) {
	case []string:
		y, ok := b.([]string)
		return ok && slices.Equal(x, y) && (x == nil) == (y == nil)
	case []alertv1.CommodityGroup:
		y, ok := b.([]alertv1.CommodityGroup)
		return ok && slices.Equal(x, y) && (x == nil) == (y == nil)
	}
	return false
}
