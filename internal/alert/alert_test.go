package alert_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func sz(a *alertv1.Alert) *alertv1.SeizureAlert { return a.GetSeizure() }
func rk(a *alertv1.Alert) *alertv1.RiskAlert    { return a.GetRisk() }
func goods0(a *alertv1.Alert) *alertv1.Goods    { return a.GetSeizure().GetGoods()[0] }

func fields(err error) []string {
	if err == nil {
		return nil
	}
	var ve *alert.ValidationError
	if !errors.As(err, &ve) {
		return []string{"<not a ValidationError: " + err.Error() + ">"}
	}
	var out []string
	for _, v := range ve.Violations {
		out = append(out, v.Field)
	}
	return out
}

func TestValidate(t *testing.T) {
	seizure, risk := synth.ValidSeizure, synth.ValidRisk
	issued := synth.ExampleIssuedAt
	long := func(n int) string { return strings.Repeat("é", n) }
	tests := []struct {
		name   string
		base   func() *alertv1.Alert
		mutate func(a *alertv1.Alert)
		want   []string
	}{
		{"valid seizure", seizure, func(*alertv1.Alert) {}, nil},
		{"valid risk", risk, func(*alertv1.Alert) {}, nil},
		// Envelope.
		{"id missing", seizure, func(a *alertv1.Alert) { a.Id = "" }, []string{"alert.id"}},
		{"id upper case", seizure, func(a *alertv1.Alert) { a.Id = strings.ToUpper(a.Id) }, []string{"alert.id"}},
		{"id not uuid", seizure, func(a *alertv1.Alert) { a.Id = "alert-1" }, []string{"alert.id"}},
		{"id nil uuid", seizure, func(a *alertv1.Alert) { a.Id = "00000000-0000-0000-0000-000000000000" }, []string{"alert.id"}},
		{"id without hyphens", seizure, func(a *alertv1.Alert) { a.Id = strings.ReplaceAll(a.Id, "-", "") }, []string{"alert.id"}},
		{"supersedes invalid", seizure, func(a *alertv1.Alert) { a.Supersedes, a.Version = "x", 2 }, []string{"alert.supersedes"}},
		{"supersedes self", seizure, func(a *alertv1.Alert) { a.Supersedes, a.Version = a.Id, 2 }, []string{"alert.supersedes"}},
		{"amendment", seizure, func(a *alertv1.Alert) { a.Supersedes, a.Version = synth.ValidRiskID, 2 }, nil},
		{"amendment version 1", seizure, func(a *alertv1.Alert) { a.Supersedes = synth.ValidRiskID }, []string{"alert.version"}},
		{"version 2 without supersedes", seizure, func(a *alertv1.Alert) { a.Version = 2 }, []string{"alert.supersedes"}},
		{"version 0", seizure, func(a *alertv1.Alert) { a.Version = 0 }, []string{"alert.version"}},
		{"origin missing", seizure, func(a *alertv1.Alert) { a.Origin = nil }, []string{"alert.origin"}},
		{"administration missing", seizure, func(a *alertv1.Alert) { a.Origin.Administration, a.Origin.Office = "", "" }, []string{"alert.origin.administration"}},
		{"administration unassigned", seizure, func(a *alertv1.Alert) { a.Origin.Administration, a.Origin.Office = "XX", "" }, []string{"alert.origin.administration"}},
		{"administration lower case", seizure, func(a *alertv1.Alert) { a.Origin.Administration = "nl" }, []string{"alert.origin.administration", "alert.origin.office"}},
		{"office of another administration", seizure, func(a *alertv1.Alert) { a.Origin.Office = "BE000396" }, []string{"alert.origin.office"}},
		{"office too short", seizure, func(a *alertv1.Alert) { a.Origin.Office = "NL00039" }, []string{"alert.origin.office"}},
		{"office lower case", seizure, func(a *alertv1.Alert) { a.Origin.Office = "NL00039a" }, []string{"alert.origin.office"}},
		{"office empty", seizure, func(a *alertv1.Alert) { a.Origin.Office = "" }, nil},
		{"node too long", seizure, func(a *alertv1.Alert) { a.Origin.Node = long(257) }, []string{"alert.origin.node"}},
		{"issued_at missing", seizure, func(a *alertv1.Alert) { a.IssuedAt = nil }, []string{"alert.issued_at"}},
		{"issued_at invalid", seizure, func(a *alertv1.Alert) { a.IssuedAt = &timestamppb.Timestamp{Seconds: 1 << 40} }, []string{"alert.issued_at"}},
		{"case reference too long", seizure, func(a *alertv1.Alert) { a.NationalCaseReference = long(257) }, []string{"alert.national_case_reference"}},
		// Handling and grading.
		{"handling missing", seizure, func(a *alertv1.Alert) { a.Handling = nil }, []string{"alert.handling"}},
		{"tlp unspecified", seizure, func(a *alertv1.Alert) { a.Handling.Tlp = 0 }, []string{"alert.handling.tlp"}},
		{"tlp unknown", seizure, func(a *alertv1.Alert) { a.Handling.Tlp = 99 }, []string{"alert.handling.tlp"}},
		{"code unspecified", seizure, func(a *alertv1.Alert) { a.Handling.Code = 0 }, []string{"alert.handling.code"}},
		{"code unknown", seizure, func(a *alertv1.Alert) { a.Handling.Code = -1 }, []string{"alert.handling.code"}},
		{"H3 without restrictions", seizure, func(a *alertv1.Alert) { a.Handling.Code = alertv1.HandlingCode_HANDLING_CODE_H3 }, []string{"alert.handling.restrictions"}},
		{"H3 with restrictions", seizure, func(a *alertv1.Alert) {
			a.Handling.Code, a.Handling.Restrictions = alertv1.HandlingCode_HANDLING_CODE_H3, long(4096)
		}, nil},
		{"restrictions too long", seizure, func(a *alertv1.Alert) { a.Handling.Restrictions = long(4097) }, []string{"alert.handling.restrictions"}},
		{"legal basis too long", seizure, func(a *alertv1.Alert) { a.Handling.LegalBasis = long(257) }, []string{"alert.handling.legal_basis"}},
		{"operation id too long", seizure, func(a *alertv1.Alert) { a.Handling.OperationId = long(257) }, []string{"alert.handling.operation_id"}},
		{"invalid UTF-8", seizure, func(a *alertv1.Alert) { a.Handling.LegalBasis = "\xff" }, []string{"alert.handling.legal_basis"}},
		{"persons without personal_data", seizure, func(a *alertv1.Alert) {
			sz(a).Persons = []*alertv1.Person{{FamilyName: "Jansen"}}
		}, []string{"alert.handling.personal_data"}},
		{"persons with personal_data", seizure, func(a *alertv1.Alert) {
			sz(a).Persons = []*alertv1.Person{{FamilyName: "Jansen"}}
			a.Handling.PersonalData = true
		}, nil},
		{"grading missing", seizure, func(a *alertv1.Alert) { a.Grading = nil }, []string{"alert.grading"}},
		{"reliability unspecified", seizure, func(a *alertv1.Alert) { a.Grading.SourceReliability = 0 }, []string{"alert.grading.source_reliability"}},
		{"accuracy unknown", seizure, func(a *alertv1.Alert) { a.Grading.InformationAccuracy = 9 }, []string{"alert.grading.information_accuracy"}},
		{"no body", seizure, func(a *alertv1.Alert) { a.Body = nil }, []string{"alert.body"}},
		// Seizure.
		{"seized_at missing", seizure, func(a *alertv1.Alert) { sz(a).SeizedAt = nil }, []string{"alert.seizure.seized_at"}},
		{"seized_at after issued_at", seizure, func(a *alertv1.Alert) { sz(a).SeizedAt = timestamppb.New(issued.Add(6 * time.Minute)) }, []string{"alert.seizure.seized_at"}},
		{"seized_at within clock skew", seizure, func(a *alertv1.Alert) { sz(a).SeizedAt = timestamppb.New(issued.Add(5 * time.Minute)) }, nil},
		{"location type unspecified", seizure, func(a *alertv1.Alert) { sz(a).LocationType = 0 }, []string{"alert.seizure.location_type"}},
		{"location missing", seizure, func(a *alertv1.Alert) { sz(a).Location = "" }, []string{"alert.seizure.location"}},
		{"location unknown country", seizure, func(a *alertv1.Alert) { sz(a).Location = "XXRTM" }, []string{"alert.seizure.location"}},
		{"location with digit 1", seizure, func(a *alertv1.Alert) { sz(a).Location = "NLRT1" }, []string{"alert.seizure.location"}},
		{"location with digits 2-9", seizure, func(a *alertv1.Alert) { sz(a).Location = "NLR29" }, nil},
		{"customs office invalid", seizure, func(a *alertv1.Alert) { sz(a).CustomsOffice = "NL12" }, []string{"alert.seizure.customs_office"}},
		{"customs office unknown country", seizure, func(a *alertv1.Alert) { sz(a).CustomsOffice = "QQ000396" }, []string{"alert.seizure.customs_office"}},
		{"direction unspecified", seizure, func(a *alertv1.Alert) { sz(a).Direction = 0 }, []string{"alert.seizure.direction"}},
		{"no offence types", seizure, func(a *alertv1.Alert) { sz(a).OffenceTypes = nil }, []string{"alert.seizure.offence_types"}},
		{"offence type unspecified", seizure, func(a *alertv1.Alert) { sz(a).OffenceTypes = append(sz(a).OffenceTypes, 0) }, []string{"alert.seizure.offence_types[1]"}},
		{"detection unspecified", seizure, func(a *alertv1.Alert) { sz(a).DetectionMethod = 0 }, []string{"alert.seizure.detection_method"}},
		{"concealment too long", seizure, func(a *alertv1.Alert) { sz(a).Concealment = long(4097) }, []string{"alert.seizure.concealment"}},
		// Goods.
		{"no goods", seizure, func(a *alertv1.Alert) { sz(a).Goods = nil }, []string{"alert.seizure.goods"}},
		{"too many goods", seizure, func(a *alertv1.Alert) {
			for range 1000 {
				sz(a).Goods = append(sz(a).Goods, goods0(a))
			}
		}, []string{"alert.seizure.goods"}},
		{"commodity unspecified", seizure, func(a *alertv1.Alert) { goods0(a).CommodityGroup = 0 }, []string{"alert.seizure.goods[0].commodity_group"}},
		{"description missing", seizure, func(a *alertv1.Alert) { goods0(a).Description = "" }, []string{"alert.seizure.goods[0].description"}},
		{"hs heading only", seizure, func(a *alertv1.Alert) { goods0(a).HsCode = "2939" }, []string{"alert.seizure.goods[0].hs_code"}},
		{"hs 7 digits", seizure, func(a *alertv1.Alert) { goods0(a).HsCode = "2939720" }, []string{"alert.seizure.goods[0].hs_code"}},
		{"hs chapter 77", seizure, func(a *alertv1.Alert) { goods0(a).HsCode = "770000" }, []string{"alert.seizure.goods[0].hs_code"}},
		{"hs chapter 00", seizure, func(a *alertv1.Alert) { goods0(a).HsCode = "000000" }, []string{"alert.seizure.goods[0].hs_code"}},
		{"hs chapter 98", seizure, func(a *alertv1.Alert) { goods0(a).HsCode = "980100" }, []string{"alert.seizure.goods[0].hs_code"}},
		{"hs with dot", seizure, func(a *alertv1.Alert) { goods0(a).HsCode = "2939.72" }, []string{"alert.seizure.goods[0].hs_code"}},
		{"hs 8 digits", seizure, func(a *alertv1.Alert) { goods0(a).HsCode = "29397200" }, nil},
		{"hs 10 digits", seizure, func(a *alertv1.Alert) { goods0(a).HsCode = "2939720000" }, nil},
		{"hs empty", seizure, func(a *alertv1.Alert) { goods0(a).HsCode = "" }, nil},
		{"brand too long", seizure, func(a *alertv1.Alert) { goods0(a).Brand = long(257) }, []string{"alert.seizure.goods[0].brand"}},
		{"negative quantity", seizure, func(a *alertv1.Alert) { goods0(a).QuantityFound.Amount = -1 }, []string{"alert.seizure.goods[0].quantity_found.amount"}},
		{"NaN quantity", seizure, func(a *alertv1.Alert) { goods0(a).QuantityFound.Amount = math.NaN() }, []string{"alert.seizure.goods[0].quantity_found.amount"}},
		{"infinite quantity", seizure, func(a *alertv1.Alert) {
			goods0(a).QuantityDeclared = &alertv1.Quantity{Amount: math.Inf(1), Unit: alertv1.QuantityUnit_QUANTITY_UNIT_KILOGRAM}
		}, []string{"alert.seizure.goods[0].quantity_declared.amount"}},
		{"quantity without unit", seizure, func(a *alertv1.Alert) { goods0(a).QuantityFound.Unit = 0 }, []string{"alert.seizure.goods[0].quantity_found.unit"}},
		{"zero quantity without unit", seizure, func(a *alertv1.Alert) { goods0(a).QuantityFound = &alertv1.Quantity{} }, nil},
		{"quantity unit unknown", seizure, func(a *alertv1.Alert) { goods0(a).QuantityFound.Unit = 42 }, []string{"alert.seizure.goods[0].quantity_found.unit"}},
		{"currency unknown", seizure, func(a *alertv1.Alert) { goods0(a).Value.Currency = "XYZ" }, []string{"alert.seizure.goods[0].value.currency"}},
		{"currency lower case", seizure, func(a *alertv1.Alert) { goods0(a).Value.Currency = "eur" }, []string{"alert.seizure.goods[0].value.currency"}},
		{"currency missing", seizure, func(a *alertv1.Alert) { goods0(a).Value.Currency = "" }, []string{"alert.seizure.goods[0].value.currency"}},
		{"amount three decimals", seizure, func(a *alertv1.Alert) { goods0(a).Value.Amount = "12.345" }, []string{"alert.seizure.goods[0].value.amount"}},
		{"amount exponent", seizure, func(a *alertv1.Alert) { goods0(a).Value.Amount = "1e5" }, []string{"alert.seizure.goods[0].value.amount"}},
		{"amount negative", seizure, func(a *alertv1.Alert) { goods0(a).Value.Amount = "-5" }, []string{"alert.seizure.goods[0].value.amount"}},
		{"amount 16 digits", seizure, func(a *alertv1.Alert) { goods0(a).Value.Amount = "1234567890123456" }, []string{"alert.seizure.goods[0].value.amount"}},
		{"amount missing", seizure, func(a *alertv1.Alert) { goods0(a).Value.Amount = "" }, []string{"alert.seizure.goods[0].value.amount"}},
		{"amount 15 digits", seizure, func(a *alertv1.Alert) { goods0(a).Value.Amount = "123456789012345.9" }, nil},
		// Conveyance.
		{"mode unknown", seizure, func(a *alertv1.Alert) { sz(a).Conveyance.Mode = 8 }, []string{"alert.seizure.conveyance.mode"}},
		{"IMO check digit", seizure, func(a *alertv1.Alert) { sz(a).Conveyance.ImoNumber = "9074728" }, []string{"alert.seizure.conveyance.imo_number"}},
		{"IMO prefix", seizure, func(a *alertv1.Alert) { sz(a).Conveyance.ImoNumber = "IMO9074729" }, []string{"alert.seizure.conveyance.imo_number"}},
		{"container check digit", seizure, func(a *alertv1.Alert) {
			sz(a).Conveyance.ContainerNumbers = []string{"CSQU3054383", "CSQU3054384"}
		}, []string{"alert.seizure.conveyance.container_numbers[1]"}},
		{"container category", seizure, func(a *alertv1.Alert) { sz(a).Conveyance.ContainerNumbers = []string{"CSQA3054383"} }, []string{"alert.seizure.conveyance.container_numbers[0]"}},
		{"too many containers", seizure, func(a *alertv1.Alert) {
			sz(a).Conveyance.ContainerNumbers = slices.Repeat([]string{"CSQU3054383"}, 1001)
		}, []string{"alert.seizure.conveyance.container_numbers"}},
		{"transport document number missing", seizure, func(a *alertv1.Alert) { sz(a).Conveyance.TransportDocuments[0].Number = "" }, []string{"alert.seizure.conveyance.transport_documents[0].number"}},
		{"transport document type unknown", seizure, func(a *alertv1.Alert) { sz(a).Conveyance.TransportDocuments[0].Type = 7 }, []string{"alert.seizure.conveyance.transport_documents[0].type"}},
		// Route.
		{"route origin unknown", seizure, func(a *alertv1.Alert) { sz(a).Route.CountryOfOrigin = "XX" }, []string{"alert.seizure.route.country_of_origin"}},
		{"route departure lower case", seizure, func(a *alertv1.Alert) { sz(a).Route.CountryOfDeparture = "ec" }, []string{"alert.seizure.route.country_of_departure"}},
		{"route destination UK", seizure, func(a *alertv1.Alert) { sz(a).Route.CountryOfDestination = "UK" }, []string{"alert.seizure.route.country_of_destination"}},
		{"route transit empty", seizure, func(a *alertv1.Alert) { sz(a).Route.TransitCountries = []string{"PA", ""} }, []string{"alert.seizure.route.transit_countries[1]"}},
		{"route place invalid", seizure, func(a *alertv1.Alert) { sz(a).Route.Places[1] = "PAMI1" }, []string{"alert.seizure.route.places[1]"}},
		// Parties and follow-up.
		{"person details invalid", seizure, func(a *alertv1.Alert) {
			a.Handling.PersonalData = true
			sz(a).Persons = []*alertv1.Person{
				{BirthDate: "1990-01-31", Nationality: "NL"},
				{BirthDate: "1990-02-30", Nationality: "XK", Document: &alertv1.IdentityDocument{IssuingCountry: "UK"}, Role: 7},
				{BirthDate: "2027-01-01"},
				{BirthDate: "1990/01/01"},
			}
		}, []string{
			"alert.seizure.persons[1].role", "alert.seizure.persons[1].birth_date", "alert.seizure.persons[1].nationality",
			"alert.seizure.persons[1].document.issuing_country", "alert.seizure.persons[2].birth_date", "alert.seizure.persons[3].birth_date",
		}},
		{"company name missing", seizure, func(a *alertv1.Alert) { sz(a).Companies[0].Name = "" }, []string{"alert.seizure.companies[0].name"}},
		{"company EORI lower-case country", seizure, func(a *alertv1.Alert) { sz(a).Companies[0].Eori = "nl123" }, []string{"alert.seizure.companies[0].eori"}},
		{"company EORI too long", seizure, func(a *alertv1.Alert) { sz(a).Companies[0].Eori = "NL1234567890123456" }, []string{"alert.seizure.companies[0].eori"}},
		{"company country EU", seizure, func(a *alertv1.Alert) { sz(a).Companies[0].Country = "EU" }, []string{"alert.seizure.companies[0].country"}},
		{"related alert id invalid", seizure, func(a *alertv1.Alert) { sz(a).FollowUp.RelatedAlertIds = []string{synth.ValidRiskID, "x"} }, []string{"alert.seizure.follow_up.related_alert_ids[1]"}},
		{"investigation status unknown", seizure, func(a *alertv1.Alert) { sz(a).FollowUp.InvestigationStatus = 5 }, []string{"alert.seizure.follow_up.investigation_status"}},
		// Risk.
		{"risk type unspecified", risk, func(a *alertv1.Alert) { rk(a).Type = 0 }, []string{"alert.risk.type"}},
		{"risk title missing", risk, func(a *alertv1.Alert) { rk(a).Title = "" }, []string{"alert.risk.title"}},
		{"risk title too long", risk, func(a *alertv1.Alert) { rk(a).Title = long(257) }, []string{"alert.risk.title"}},
		{"valid_until at issued_at", risk, func(a *alertv1.Alert) { rk(a).ValidUntil = timestamppb.New(issued) }, []string{"alert.risk.valid_until"}},
		{"valid_until absent", risk, func(a *alertv1.Alert) { rk(a).ValidUntil = nil }, nil},
		{"urgency unspecified", risk, func(a *alertv1.Alert) { rk(a).Urgency = 0 }, []string{"alert.risk.urgency"}},
		{"no commodity groups", risk, func(a *alertv1.Alert) { rk(a).CommodityGroups = nil }, []string{"alert.risk.commodity_groups"}},
		{"commodity group unspecified", risk, func(a *alertv1.Alert) { rk(a).CommodityGroups = append(rk(a).CommodityGroups, 0) }, []string{"alert.risk.commodity_groups[1]"}},
		{"risk hs codes", risk, func(a *alertv1.Alert) { rk(a).HsCodes = []string{"293", "29", "7700", "2939720000", "9"} }, []string{"alert.risk.hs_codes[0]", "alert.risk.hs_codes[2]", "alert.risk.hs_codes[4]"}},
		{"port of interest invalid", risk, func(a *alertv1.Alert) { rk(a).PortsOfInterest[1] = "BEAN" }, []string{"alert.risk.ports_of_interest[1]"}},
		{"indicator empty", risk, func(a *alertv1.Alert) { rk(a).Indicators[0].Indicator = nil }, []string{"alert.risk.indicators[0].indicator"}},
		{"indicator hs code", risk, func(a *alertv1.Alert) { rk(a).Indicators[0].Indicator = &alertv1.Indicator_HsCode{HsCode: "1"} }, []string{"alert.risk.indicators[0].hs_code"}},
		{"indicator container prefix", risk, func(a *alertv1.Alert) {
			rk(a).Indicators[1].Indicator = &alertv1.Indicator_ContainerPrefix{ContainerPrefix: "CSQA"}
		}, []string{"alert.risk.indicators[1].container_prefix"}},
		{"indicator route empty", risk, func(a *alertv1.Alert) { rk(a).Indicators[2].Indicator = &alertv1.Indicator_Route{} }, []string{"alert.risk.indicators[2].route"}},
		{"indicator route invalid", risk, func(a *alertv1.Alert) { rk(a).Indicators[2].GetRoute().Places = []string{"XXABC"} }, []string{"alert.risk.indicators[2].route.places[0]"}},
		{"indicator shipper empty", risk, func(a *alertv1.Alert) { rk(a).Indicators[0].Indicator = &alertv1.Indicator_Shipper{} }, []string{"alert.risk.indicators[0].shipper"}},
		{"indicator value threshold", risk, func(a *alertv1.Alert) {
			rk(a).Indicators = append(rk(a).Indicators,
				&alertv1.Indicator{Indicator: &alertv1.Indicator_ValueThreshold{ValueThreshold: &alertv1.ValueThreshold{}}},
				&alertv1.Indicator{Indicator: &alertv1.Indicator_ValueThreshold{ValueThreshold: &alertv1.ValueThreshold{
					Below: &alertv1.Money{Currency: "EUR", Amount: "1.50"}, Above: &alertv1.Money{Currency: "EURO", Amount: "9"},
				}}})
		}, []string{"alert.risk.indicators[3].value_threshold", "alert.risk.indicators[4].value_threshold.above.currency"}},
		{"shipment container invalid", risk, func(a *alertv1.Alert) { rk(a).Shipments[0].ContainerNumber = "CSQU305438" }, []string{"alert.risk.shipments[0].container_number"}},
		{"shipment without identifier", risk, func(a *alertv1.Alert) {
			rk(a).Shipments = append(rk(a).Shipments, &alertv1.ShipmentIdentifier{Eta: timestamppb.New(issued)})
		}, []string{"alert.risk.shipments[1]"}},
		{"requested action unspecified", risk, func(a *alertv1.Alert) { rk(a).RequestedAction = 0 }, []string{"alert.risk.requested_action"}},
		{"feedback due missing", risk, func(a *alertv1.Alert) { rk(a).FeedbackDue = nil }, []string{"alert.risk.feedback_due"}},
		{"feedback not required", risk, func(a *alertv1.Alert) { rk(a).FeedbackDue, rk(a).FeedbackRequired = nil, false }, nil},
		{"evidence links", risk, func(a *alertv1.Alert) {
			rk(a).EvidenceLinks = []string{"relative/path", "https://", "urn:uuid:" + synth.ValidRiskID, "https://x.example/a b", "%zz"}
		}, []string{"alert.risk.evidence_links[0]", "alert.risk.evidence_links[1]", "alert.risk.evidence_links[3]", "alert.risk.evidence_links[4]"}},
		{"language upper case", risk, func(a *alertv1.Alert) { rk(a).OriginalLanguage = "NL" }, []string{"alert.risk.original_language"}},
		{"language word", risk, func(a *alertv1.Alert) { rk(a).OriginalLanguage = "dutch" }, []string{"alert.risk.original_language"}},
		{"language with region", risk, func(a *alertv1.Alert) { rk(a).OriginalLanguage = "pt-BR" }, nil},
		{"status unknown", risk, func(a *alertv1.Alert) { rk(a).Status = 5 }, []string{"alert.risk.status"}},
		{"risk conveyance", risk, func(a *alertv1.Alert) {
			rk(a).Conveyance = &alertv1.Conveyance{ContainerNumbers: []string{"MSKU0000025", "MSKU0000027"}}
		}, []string{"alert.risk.conveyance.container_numbers[0]"}},
		{"all violations listed", risk, func(a *alertv1.Alert) { a.Id, rk(a).Title, rk(a).Urgency = "", "", 0 }, []string{"alert.id", "alert.risk.title", "alert.risk.urgency"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.base()
			tc.mutate(a)
			err := alert.Validate(a)
			if got := fields(err); !slices.Equal(got, tc.want) {
				t.Errorf("violations %q, want %q (error: %v)", got, tc.want, err)
			}
		})
	}
}

func TestValidateNil(t *testing.T) {
	if got := fields(alert.Validate(nil)); !slices.Equal(got, []string{"alert"}) {
		t.Fatalf("got %q", got)
	}
	// An empty body message is reported field by field, not as a panic.
	a := synth.ValidRisk()
	a.Body = &alertv1.Alert_Risk{}
	if got := fields(alert.Validate(a)); len(got) == 0 {
		t.Fatal("empty risk accepted")
	}
	// Nil elements of repeated fields are treated as empty messages.
	s := synth.ValidSeizure()
	sz(s).Goods = append(sz(s).Goods, nil)
	sz(s).Persons = []*alertv1.Person{nil}
	sz(s).Companies = append(sz(s).Companies, nil)
	sz(s).Conveyance.TransportDocuments = append(sz(s).Conveyance.TransportDocuments, nil)
	s.Handling.PersonalData = true
	alert.Normalize(s)
	want := []string{"alert.seizure.goods[1].commodity_group", "alert.seizure.goods[1].description",
		"alert.seizure.conveyance.transport_documents[1].number", "alert.seizure.companies[1].name"}
	if got := fields(alert.Validate(s)); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	r := synth.ValidRisk()
	rk(r).Indicators = append(rk(r).Indicators, nil, &alertv1.Indicator{Indicator: &alertv1.Indicator_Route{}},
		&alertv1.Indicator{Indicator: &alertv1.Indicator_ValueThreshold{}})
	rk(r).Shipments = append(rk(r).Shipments, nil)
	alert.Normalize(r)
	want = []string{"alert.risk.indicators[3].indicator", "alert.risk.indicators[4].route",
		"alert.risk.indicators[5].value_threshold", "alert.risk.shipments[1]"}
	if got := fields(alert.Validate(r)); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func BenchmarkValidate(b *testing.B) {
	alerts := synth.New(1, "NL").NextN(100)
	i := 0
	for b.Loop() {
		if err := alert.Validate(alerts[i%len(alerts)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func TestValidationErrorMessage(t *testing.T) {
	a := synth.ValidSeizure()
	goods0(a).HsCode = "2939"
	a.Handling.Tlp = 0
	err := alert.Validate(a)
	want := "invalid alert: alert.handling.tlp: is required; alert.seizure.goods[0].hs_code: must be an HS code of 6, 8 or 10 digits in chapters 01 to 97"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	var ve *alert.ValidationError
	for range 30 {
		sz(a).Goods = append(sz(a).Goods, &alertv1.Goods{})
	}
	if !errors.As(alert.Validate(a), &ve) || len(ve.Violations) != 62 {
		t.Fatalf("got %v", ve)
	}
	if msg := ve.Error(); !strings.HasSuffix(msg, "; and 42 more") {
		t.Fatalf("message %q", msg)
	}
}

func TestValidateAudience(t *testing.T) {
	tests := []struct {
		name string
		au   *alertv1.Audience
		want []string
	}{
		{"absent is all members", nil, nil},
		{"all members", &alertv1.Audience{AllMembers: true}, nil},
		{"groups and peers", &alertv1.Audience{Groups: []string{"benelux", "op-7"}, Administrations: []string{"DE"}}, nil},
		{"all and a group", &alertv1.Audience{AllMembers: true, Groups: []string{"benelux"}}, []string{"alert.audience.all_members"}},
		{"bad group", &alertv1.Audience{Groups: []string{"Bene lux"}}, []string{"alert.audience.groups[0]"}},
		{"repeated group", &alertv1.Audience{Groups: []string{"benelux", "benelux"}}, []string{"alert.audience.groups[1]"}},
		{"bad code", &alertv1.Audience{Administrations: []string{"XX"}}, []string{"alert.audience.administrations[0]"}},
		{"origin itself", &alertv1.Audience{Administrations: []string{"NL"}}, []string{"alert.audience.administrations[0]"}},
		{"repeated peer", &alertv1.Audience{Administrations: []string{"DE", "DE"}}, []string{"alert.audience.administrations[1]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := synth.ValidRisk()
			a.Origin.Administration = "NL"
			a.Audience = tt.au
			if got := fields(alert.Validate(a)); !slices.Equal(got, tt.want) {
				t.Fatalf("fields %v, want %v", got, tt.want)
			}
		})
	}
	if !alert.AllMembers(nil) || !alert.AllMembers(&alertv1.Audience{}) || alert.AllMembers(&alertv1.Audience{Groups: []string{"x"}}) {
		t.Fatal("AllMembers")
	}
}
