package alert

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Limits on sizes, to refuse absurd alerts.
const (
	// MaxShortText is the maximum length in characters of names, numbers and other short
	// strings.
	MaxShortText = 256
	// MaxLongText is the maximum length in characters of free text such as descriptions,
	// concealment, modus operandi and handling restrictions.
	MaxLongText = 4096
	// MaxURL is the maximum length in bytes of an evidence link.
	MaxURL = 2048
	// MaxItems is the maximum number of elements of a repeated field of goods,
	// containers, documents, parties, codes, indicators and shipments.
	MaxItems = 1000
	// MaxSmallList is the maximum number of elements of short repeated fields: transit
	// countries, places, offence types, commodity groups and evidence links.
	MaxSmallList = 100
	// ClockSkew is how far seized_at may lie after issued_at.
	ClockSkew = 5 * time.Minute
	// maxMessageViolations is how many violations ValidationError.Error spells out.
	maxMessageViolations = 20
)

// FieldViolation is one broken rule. Field is the path of the field in proto field
// names, prefixed with "alert.", e.g. "alert.seizure.goods[0].hs_code".
type FieldViolation struct {
	Field       string
	Description string
}

// ValidationError lists every rule an alert breaks.
type ValidationError struct {
	Violations []FieldViolation
	// Subject names what was invalid in the message ("request", "filter"); "alert" when
	// empty.
	Subject string
}

// Error returns "invalid <subject>: " followed by the violations separated by "; ". Past
// the first 20 violations the message only says how many more there are; Violations
// holds them all.
func (e *ValidationError) Error() string {
	var b strings.Builder
	subject := e.Subject
	if subject == "" {
		subject = "alert"
	}
	b.WriteString("invalid " + subject + ": ")
	for i, v := range e.Violations {
		if i == maxMessageViolations {
			fmt.Fprintf(&b, "; and %d more", len(e.Violations)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(v.Field)
		b.WriteString(": ")
		b.WriteString(v.Description)
	}
	return b.String()
}

// Validate checks an alert as the node does before signing it, after Normalize. It
// returns nil or a *ValidationError listing every violation. It does not consult the
// clock: whether issued_at is plausibly recent is the caller's business.
func Validate(a *alertv1.Alert) error {
	v := &validator{}
	v.alert(a)
	return v.result("")
}

type validator struct {
	vs []FieldViolation
	// issued is issued_at when it is set and valid.
	issued    time.Time
	hasIssued bool
}

func (v *validator) add(field, desc string) {
	v.vs = append(v.vs, FieldViolation{Field: field, Description: desc})
}

func (v *validator) addf(field, format string, args ...any) {
	v.add(field, fmt.Sprintf(format, args...))
}

func idx(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }

// text checks a string's encoding and length, and its presence when required. It
// reports whether the string is set and acceptable so far.
func (v *validator) text(field, s string, max int, required bool) bool {
	switch {
	case s == "":
		if required {
			v.add(field, "is required")
		}
		return false
	case !utf8.ValidString(s):
		v.add(field, "must be valid UTF-8")
		return false
	case len(s) > max && utf8.RuneCountInString(s) > max:
		v.addf(field, "must be at most %d characters", max)
		return false
	}
	return true
}

// enum checks that val is a value of the enum described by names, and that it is not
// the zero (UNSPECIFIED) value when required.
func (v *validator) enum(field string, val int32, names map[int32]string, required bool) {
	if _, ok := names[val]; !ok {
		v.addf(field, "unknown value %d", val)
	} else if required && val == 0 {
		v.add(field, "is required")
	}
}

// count checks the number of elements of a repeated field. It reports whether the
// elements should be checked one by one.
func (v *validator) count(field string, n, min, max int) bool {
	if n < min {
		if min == 1 {
			v.add(field, "at least one is required")
		} else {
			v.addf(field, "at least %d are required", min)
		}
	}
	if n > max {
		v.addf(field, "must have at most %d elements, has %d", max, n)
		return false
	}
	return true
}

// timestamp checks a timestamp. It reports the time when the timestamp is set and valid.
func (v *validator) timestamp(field string, ts *timestamppb.Timestamp, required bool) (time.Time, bool) {
	if ts == nil {
		if required {
			v.add(field, "is required")
		}
		return time.Time{}, false
	}
	if err := ts.CheckValid(); err != nil {
		v.add(field, "must be a valid timestamp")
		return time.Time{}, false
	}
	return ts.AsTime(), true
}

func (v *validator) country(field, s string, required bool) {
	if s == "" {
		if required {
			v.add(field, "is required")
		}
		return
	}
	if !ValidCountry(s) {
		v.add(field, "must be an ISO 3166-1 alpha-2 country code")
	}
}

func (v *validator) locode(field, s string) {
	if s == "" {
		v.add(field, "is required")
	} else if !ValidUNLOCODE(s) {
		v.add(field, "must be a UN/LOCODE (country code and three characters from A-Z, 2-9)")
	}
}

func (v *validator) uuid(field, s string) {
	if s == "" {
		v.add(field, "is required")
	} else if !ValidUUID(s) {
		v.add(field, "must be a UUID in canonical lower-case form")
	}
}

func (v *validator) alert(a *alertv1.Alert) {
	if a == nil {
		v.add("alert", "is required")
		return
	}
	v.uuid("alert.id", a.GetId())
	if s := a.GetSupersedes(); s != "" {
		if !ValidUUID(s) {
			v.add("alert.supersedes", "must be a UUID in canonical lower-case form")
		} else if s == a.GetId() {
			v.add("alert.supersedes", "must differ from alert.id")
		}
	}
	switch {
	case a.GetVersion() == 0:
		v.add("alert.version", "must be at least 1")
	case a.GetSupersedes() != "" && a.GetVersion() < 2:
		v.add("alert.version", "must be at least 2 when supersedes is set")
	case a.GetSupersedes() == "" && a.GetVersion() > 1:
		v.add("alert.supersedes", "is required when version is greater than 1")
	}
	v.origin(a.GetOrigin())
	v.issued, v.hasIssued = v.timestamp("alert.issued_at", a.GetIssuedAt(), true)
	v.handling(a)
	v.audience(a.GetAudience(), a.GetOrigin().GetAdministration())
	v.grading(a.GetGrading())
	v.text("alert.national_case_reference", a.GetNationalCaseReference(), MaxShortText, false)
	switch b := a.GetBody().(type) {
	case *alertv1.Alert_Seizure:
		v.seizure("alert.seizure", b.Seizure)
	case *alertv1.Alert_Risk:
		v.risk("alert.risk", b.Risk)
	default:
		v.add("alert.body", "exactly one of seizure or risk is required")
	}
}

func (v *validator) origin(o *alertv1.Origin) {
	if o == nil {
		v.add("alert.origin", "is required")
		return
	}
	admin := o.GetAdministration()
	v.country("alert.origin.administration", admin, true)
	if off := o.GetOffice(); off != "" {
		if !validOffice(off) {
			v.add("alert.origin.office", "must be a customs office reference number (country code and six letters or digits)")
		} else if off[:2] != admin {
			v.add("alert.origin.office", "must belong to the originating administration")
		}
	}
	v.text("alert.origin.node", o.GetNode(), MaxShortText, false)
}

func (v *validator) handling(a *alertv1.Alert) {
	h := a.GetHandling()
	if h == nil {
		v.add("alert.handling", "is required")
		return
	}
	const p = "alert.handling"
	v.classification(p, h.GetTlp(), h.GetCode(), h.GetRestrictions())
	if len(a.GetSeizure().GetPersons()) > 0 && !h.GetPersonalData() {
		v.add(p+".personal_data", "must be set when the alert names persons")
	}
	v.text(p+".legal_basis", h.GetLegalBasis(), MaxShortText, false)
	v.text(p+".operation_id", h.GetOperationId(), MaxShortText, false)
}

// classification checks the TLP label, handling code and restrictions under p: of an
// alert's handling, or of a reclassification.
func (v *validator) classification(p string, tlp alertv1.Tlp, code alertv1.HandlingCode, restrictions string) {
	v.enum(p+".tlp", int32(tlp), alertv1.Tlp_name, true)
	v.enum(p+".code", int32(code), alertv1.HandlingCode_name, true)
	if restrictions == "" && code == alertv1.HandlingCode_HANDLING_CODE_H3 {
		v.add(p+".restrictions", "is required with handling code H3")
	} else {
		v.text(p+".restrictions", restrictions, MaxLongText, false)
	}
}

// audience checks the shape of an audience: all members alone, or valid and unrepeated
// group names and administration codes other than the origin. Whether the groups and
// administrations exist in the federation is the node's check (it holds the manifest).
func (v *validator) audience(au *alertv1.Audience, origin string) {
	const p = "alert.audience"
	if au.GetAllMembers() && len(au.GetGroups())+len(au.GetAdministrations()) > 0 {
		v.add(p+".all_members", "excludes groups and administrations")
	}
	v.count(p+".groups", len(au.GetGroups()), 0, MaxAudience)
	v.count(p+".administrations", len(au.GetAdministrations()), 0, MaxAudience)
	seen := map[string]bool{}
	for i, g := range au.GetGroups() {
		f := idx(p+".groups", i)
		switch {
		case !ValidGroupName(g):
			v.add(f, "must be a group name (lower-case letter, then letters, digits or hyphens, at most 32)")
		case seen["g."+g]:
			v.add(f, "is repeated")
		}
		seen["g."+g] = true
	}
	for i, c := range au.GetAdministrations() {
		f := idx(p+".administrations", i)
		switch {
		case !ValidCountry(c):
			v.add(f, "must be an ISO 3166-1 alpha-2 code in upper case")
		case c == origin:
			v.add(f, "is the originating administration")
		case seen["to."+c]:
			v.add(f, "is repeated")
		}
		seen["to."+c] = true
	}
}

// MaxAudience bounds the groups and the administrations an audience names.
const MaxAudience = 64

var groupNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// ValidGroupName reports whether s is a federation group name.
func ValidGroupName(s string) bool { return groupNameRE.MatchString(s) }

// AllMembers reports whether an audience is every member of the federation (absent,
// empty or all_members).
func AllMembers(au *alertv1.Audience) bool {
	return au.GetAllMembers() || len(au.GetGroups())+len(au.GetAdministrations()) == 0
}

func (v *validator) grading(g *alertv1.Grading) {
	if g == nil {
		v.add("alert.grading", "is required")
		return
	}
	v.enum("alert.grading.source_reliability", int32(g.GetSourceReliability()), alertv1.SourceReliability_name, true)
	v.enum("alert.grading.information_accuracy", int32(g.GetInformationAccuracy()), alertv1.InformationAccuracy_name, true)
}

func (v *validator) seizure(p string, s *alertv1.SeizureAlert) {
	if t, ok := v.timestamp(p+".seized_at", s.GetSeizedAt(), true); ok && v.hasIssued && t.After(v.issued.Add(ClockSkew)) {
		v.add(p+".seized_at", "must not be after issued_at")
	}
	v.enum(p+".location_type", int32(s.GetLocationType()), alertv1.LocationType_name, true)
	v.locode(p+".location", s.GetLocation())
	if off := s.GetCustomsOffice(); off != "" && !validOffice(off) {
		v.add(p+".customs_office", "must be a customs office reference number (country code and six letters or digits)")
	}
	v.enum(p+".direction", int32(s.GetDirection()), alertv1.Direction_name, true)
	if ot := s.GetOffenceTypes(); v.count(p+".offence_types", len(ot), 1, MaxSmallList) {
		for i, t := range ot {
			v.enum(idx(p+".offence_types", i), int32(t), alertv1.OffenceType_name, true)
		}
	}
	v.enum(p+".detection_method", int32(s.GetDetectionMethod()), alertv1.DetectionMethod_name, true)
	v.text(p+".concealment", s.GetConcealment(), MaxLongText, false)
	if gs := s.GetGoods(); v.count(p+".goods", len(gs), 1, MaxItems) {
		for i, g := range gs {
			v.goods(idx(p+".goods", i), g)
		}
	}
	if c := s.GetConveyance(); c != nil {
		v.conveyance(p+".conveyance", c)
	}
	if r := s.GetRoute(); r != nil {
		v.route(p+".route", r)
	}
	if ps := s.GetPersons(); v.count(p+".persons", len(ps), 0, MaxItems) {
		for i, pe := range ps {
			v.person(idx(p+".persons", i), pe)
		}
	}
	if cs := s.GetCompanies(); v.count(p+".companies", len(cs), 0, MaxItems) {
		for i, c := range cs {
			v.company(idx(p+".companies", i), c)
		}
	}
	if f := s.GetFollowUp(); f != nil {
		v.followUp(p+".follow_up", f)
	}
}

func (v *validator) goods(p string, g *alertv1.Goods) {
	v.enum(p+".commodity_group", int32(g.GetCommodityGroup()), alertv1.CommodityGroup_name, true)
	v.text(p+".description", g.GetDescription(), MaxLongText, true)
	if hs := g.GetHsCode(); hs != "" && !ValidHSCode(hs) {
		v.add(p+".hs_code", "must be an HS code of 6, 8 or 10 digits in chapters 01 to 97")
	}
	v.text(p+".brand", g.GetBrand(), MaxShortText, false)
	v.text(p+".species", g.GetSpecies(), MaxShortText, false)
	v.text(p+".drug_type", g.GetDrugType(), MaxShortText, false)
	v.text(p+".drug_form", g.GetDrugForm(), MaxShortText, false)
	if q := g.GetQuantityDeclared(); q != nil {
		v.quantity(p+".quantity_declared", q)
	}
	if q := g.GetQuantityFound(); q != nil {
		v.quantity(p+".quantity_found", q)
	}
	if m := g.GetValue(); m != nil {
		v.money(p+".value", m)
	}
}

func (v *validator) quantity(p string, q *alertv1.Quantity) {
	amt := q.GetAmount()
	switch {
	case math.IsNaN(amt) || math.IsInf(amt, 0):
		v.add(p+".amount", "must be a finite number")
	case amt < 0:
		v.add(p+".amount", "must not be negative")
	}
	v.enum(p+".unit", int32(q.GetUnit()), alertv1.QuantityUnit_name, false)
	if amt > 0 && q.GetUnit() == alertv1.QuantityUnit_QUANTITY_UNIT_UNSPECIFIED {
		v.add(p+".unit", "is required when amount is set")
	}
}

func (v *validator) money(p string, m *alertv1.Money) {
	switch c := m.GetCurrency(); {
	case c == "":
		v.add(p+".currency", "is required")
	case !ValidCurrency(c):
		v.add(p+".currency", "must be an ISO 4217 currency code")
	}
	switch a := m.GetAmount(); {
	case a == "":
		v.add(p+".amount", "is required")
	case !moneyAmountRE.MatchString(a):
		v.add(p+".amount", "must be a decimal number with at most 15 integer and 2 fraction digits")
	}
}

func (v *validator) conveyance(p string, c *alertv1.Conveyance) {
	v.enum(p+".mode", int32(c.GetMode()), alertv1.TransportMode_name, false)
	v.text(p+".flight_number", c.GetFlightNumber(), MaxShortText, false)
	v.text(p+".vessel_name", c.GetVesselName(), MaxShortText, false)
	if imo := c.GetImoNumber(); imo != "" && !ValidIMO(imo) {
		v.add(p+".imo_number", "must be an IMO number of seven digits with a correct check digit")
	}
	v.text(p+".vehicle_registration", c.GetVehicleRegistration(), MaxShortText, false)
	if cn := c.GetContainerNumbers(); v.count(p+".container_numbers", len(cn), 0, MaxItems) {
		for i, n := range cn {
			v.container(idx(p+".container_numbers", i), n)
		}
	}
	if ds := c.GetTransportDocuments(); v.count(p+".transport_documents", len(ds), 0, MaxItems) {
		for i, d := range ds {
			dp := idx(p+".transport_documents", i)
			v.enum(dp+".type", int32(d.GetType()), alertv1.TransportDocumentType_name, false)
			v.text(dp+".number", d.GetNumber(), MaxShortText, true)
		}
	}
}

func (v *validator) container(field, s string) {
	if s == "" {
		v.add(field, "is required")
	} else if !ValidContainerNumber(s) {
		v.add(field, "must be an ISO 6346 container number with a correct check digit")
	}
}

func (v *validator) route(p string, r *alertv1.Route) {
	v.country(p+".country_of_origin", r.GetCountryOfOrigin(), false)
	v.country(p+".country_of_departure", r.GetCountryOfDeparture(), false)
	if tc := r.GetTransitCountries(); v.count(p+".transit_countries", len(tc), 0, MaxSmallList) {
		for i, c := range tc {
			v.country(idx(p+".transit_countries", i), c, true)
		}
	}
	v.country(p+".country_of_destination", r.GetCountryOfDestination(), false)
	if pl := r.GetPlaces(); v.count(p+".places", len(pl), 0, MaxSmallList) {
		for i, l := range pl {
			v.locode(idx(p+".places", i), l)
		}
	}
}

func (v *validator) person(p string, pe *alertv1.Person) {
	v.enum(p+".role", int32(pe.GetRole()), alertv1.PersonRole_name, false)
	v.text(p+".family_name", pe.GetFamilyName(), MaxShortText, false)
	v.text(p+".given_names", pe.GetGivenNames(), MaxShortText, false)
	if bd := pe.GetBirthDate(); bd != "" {
		if t, ok := validDate(bd); !ok {
			v.add(p+".birth_date", "must be a date in the form YYYY-MM-DD")
		} else if v.hasIssued && t.After(v.issued) {
			v.add(p+".birth_date", "must not be after issued_at")
		}
	}
	v.country(p+".nationality", pe.GetNationality(), false)
	if d := pe.GetDocument(); d != nil {
		v.text(p+".document.type", d.GetType(), MaxShortText, false)
		v.text(p+".document.number", d.GetNumber(), MaxShortText, false)
		v.country(p+".document.issuing_country", d.GetIssuingCountry(), false)
	}
}

func (v *validator) company(p string, c *alertv1.Company) {
	v.enum(p+".role", int32(c.GetRole()), alertv1.CompanyRole_name, false)
	v.text(p+".name", c.GetName(), MaxShortText, true)
	v.text(p+".registration_number", c.GetRegistrationNumber(), MaxShortText, false)
	if e := c.GetEori(); e != "" && !eoriRE.MatchString(e) {
		v.add(p+".eori", "must be an EORI number (country code and up to 15 letters or digits)")
	}
	v.country(p+".country", c.GetCountry(), false)
}

func (v *validator) followUp(p string, f *alertv1.FollowUp) {
	v.text(p+".goods_held_at", f.GetGoodsHeldAt(), MaxShortText, false)
	v.enum(p+".investigation_status", int32(f.GetInvestigationStatus()), alertv1.InvestigationStatus_name, false)
	if ids := f.GetRelatedAlertIds(); v.count(p+".related_alert_ids", len(ids), 0, MaxItems) {
		for i, id := range ids {
			v.uuid(idx(p+".related_alert_ids", i), id)
		}
	}
}

func (v *validator) risk(p string, r *alertv1.RiskAlert) {
	v.enum(p+".type", int32(r.GetType()), alertv1.RiskAlertType_name, true)
	v.text(p+".title", r.GetTitle(), MaxShortText, true)
	if t, ok := v.timestamp(p+".valid_until", r.GetValidUntil(), false); ok && v.hasIssued && !t.After(v.issued) {
		v.add(p+".valid_until", "must be after issued_at")
	}
	v.enum(p+".urgency", int32(r.GetUrgency()), alertv1.Urgency_name, true)
	if cg := r.GetCommodityGroups(); v.count(p+".commodity_groups", len(cg), 1, MaxSmallList) {
		for i, g := range cg {
			v.enum(idx(p+".commodity_groups", i), int32(g), alertv1.CommodityGroup_name, true)
		}
	}
	if hs := r.GetHsCodes(); v.count(p+".hs_codes", len(hs), 0, MaxItems) {
		for i, c := range hs {
			v.hsCodeOrPrefix(idx(p+".hs_codes", i), c)
		}
	}
	v.text(p+".modus_operandi", r.GetModusOperandi(), MaxLongText, false)
	v.text(p+".concealment", r.GetConcealment(), MaxLongText, false)
	if rt := r.GetRoute(); rt != nil {
		v.route(p+".route", rt)
	}
	if c := r.GetConveyance(); c != nil {
		v.conveyance(p+".conveyance", c)
	}
	if ports := r.GetPortsOfInterest(); v.count(p+".ports_of_interest", len(ports), 0, MaxItems) {
		for i, l := range ports {
			v.locode(idx(p+".ports_of_interest", i), l)
		}
	}
	if inds := r.GetIndicators(); v.count(p+".indicators", len(inds), 0, MaxItems) {
		for i, in := range inds {
			v.indicator(idx(p+".indicators", i), in)
		}
	}
	if sh := r.GetShipments(); v.count(p+".shipments", len(sh), 0, MaxItems) {
		for i, s := range sh {
			v.shipment(idx(p+".shipments", i), s)
		}
	}
	v.enum(p+".requested_action", int32(r.GetRequestedAction()), alertv1.RequestedAction_name, true)
	if r.GetFeedbackRequired() && r.GetFeedbackDue() == nil {
		v.add(p+".feedback_due", "is required when feedback_required is set")
	} else {
		v.timestamp(p+".feedback_due", r.GetFeedbackDue(), false)
	}
	if links := r.GetEvidenceLinks(); v.count(p+".evidence_links", len(links), 0, MaxSmallList) {
		for i, l := range links {
			v.link(idx(p+".evidence_links", i), l)
		}
	}
	if lang := r.GetOriginalLanguage(); lang != "" && (len(lang) > 35 || !languageRE.MatchString(lang)) {
		v.add(p+".original_language", "must be a BCP 47 language tag such as \"nl\" or \"pt-BR\"")
	}
	v.enum(p+".status", int32(r.GetStatus()), alertv1.RiskAlertStatus_name, false)
}

func (v *validator) hsCodeOrPrefix(field, s string) {
	if s == "" {
		v.add(field, "is required")
	} else if !validHSCodeOrPrefix(s) {
		v.add(field, "must be an HS code or prefix of 2, 4, 6, 8 or 10 digits in chapters 01 to 97")
	}
}

func (v *validator) indicator(p string, in *alertv1.Indicator) {
	switch x := in.GetIndicator().(type) {
	case *alertv1.Indicator_HsCode:
		v.hsCodeOrPrefix(p+".hs_code", x.HsCode)
	case *alertv1.Indicator_Shipper:
		v.text(p+".shipper", x.Shipper, MaxShortText, true)
	case *alertv1.Indicator_Consignee:
		v.text(p+".consignee", x.Consignee, MaxShortText, true)
	case *alertv1.Indicator_ContainerPrefix:
		if x.ContainerPrefix == "" {
			v.add(p+".container_prefix", "is required")
		} else if !validContainerPrefix(x.ContainerPrefix) {
			v.add(p+".container_prefix", "must be an ISO 6346 owner code and category identifier (four letters ending in U, J or Z)")
		}
	case *alertv1.Indicator_Route:
		if routeEmpty(x.Route) {
			v.add(p+".route", "must not be empty")
		} else {
			v.route(p+".route", x.Route)
		}
	case *alertv1.Indicator_ValueThreshold:
		t := x.ValueThreshold
		if t.GetBelow() == nil && t.GetAbove() == nil {
			v.add(p+".value_threshold", "below or above is required")
		}
		if m := t.GetBelow(); m != nil {
			v.money(p+".value_threshold.below", m)
		}
		if m := t.GetAbove(); m != nil {
			v.money(p+".value_threshold.above", m)
		}
		v.enum(p+".value_threshold.per_unit", int32(t.GetPerUnit()), alertv1.QuantityUnit_name, false)
	default:
		v.add(p+".indicator", "exactly one indicator is required")
	}
	v.text(p+".description", in.GetDescription(), MaxLongText, false)
}

func routeEmpty(r *alertv1.Route) bool {
	return r.GetCountryOfOrigin() == "" && r.GetCountryOfDeparture() == "" &&
		len(r.GetTransitCountries()) == 0 && r.GetCountryOfDestination() == "" &&
		len(r.GetPlaces()) == 0
}

func (v *validator) shipment(p string, s *alertv1.ShipmentIdentifier) {
	if c := s.GetContainerNumber(); c != "" {
		v.container(p+".container_number", c)
	}
	v.text(p+".bill_of_lading", s.GetBillOfLading(), MaxShortText, false)
	v.text(p+".air_waybill", s.GetAirWaybill(), MaxShortText, false)
	v.text(p+".flight_number", s.GetFlightNumber(), MaxShortText, false)
	if s.GetContainerNumber() == "" && s.GetBillOfLading() == "" && s.GetAirWaybill() == "" && s.GetFlightNumber() == "" {
		v.add(p, "at least one of container_number, bill_of_lading, air_waybill or flight_number is required")
	}
	v.timestamp(p+".eta", s.GetEta(), false)
}

func (v *validator) link(field, s string) {
	if s == "" {
		v.add(field, "is required")
		return
	}
	if len(s) > MaxURL {
		v.addf(field, "must be at most %d bytes", MaxURL)
		return
	}
	u, err := url.Parse(s)
	if err != nil || strings.ContainsFunc(s, unicode.IsSpace) || !u.IsAbs() || ((u.Scheme == "http" || u.Scheme == "https") && u.Host == "") {
		v.add(field, "must be an absolute URL")
	}
}
