package exchange

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"github.com/google/uuid"
)

// STIX 2.1 export. Each alert becomes a report (created and modified at issued_at,
// published at issued_at, an external reference to the cix alert id) whose object_refs
// are the identity of the originating administration and one indicator per identifier
// worth looking for: container numbers and IMO numbers of the conveyance, and for risk
// alerts the shipments' containers and the structured indicators (HS codes, container
// prefixes, shippers, consignees, routes). Indicator patterns use custom cyber-
// observable types x-cix-container, x-cix-vessel, x-cix-goods and x-cix-shipment.
// Every object carries the TLP 2.0 marking definition of the alert (the OASIS
// definitions of the TLP 2.0 extension, with their official ids) and a statement
// marking for its handling code. Persons are never exported to STIX.
//
// Ids are UUID version 5 derived from the cix ids, so exporting an alert twice gives
// the same STIX ids and importing tools de-duplicate.

// stixNamespace derives STIX object ids.
var stixNamespace = uuid.MustParse("3f5a4c2e-7d1b-4e8a-9c6f-2b0d8e4a1c75")

// tlpExtension is the STIX TLP 2.0 extension definition.
const tlpExtension = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"

// tlpMarkings are the official TLP 2.0 marking definitions.
var tlpMarkings = map[alertv1.Tlp]struct{ id, name, value string }{
	alertv1.Tlp_TLP_CLEAR:        {"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487", "TLP:CLEAR", "clear"},
	alertv1.Tlp_TLP_GREEN:        {"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb", "TLP:GREEN", "green"},
	alertv1.Tlp_TLP_AMBER:        {"marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421", "TLP:AMBER", "amber"},
	alertv1.Tlp_TLP_AMBER_STRICT: {"marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003", "TLP:AMBER+STRICT", "amber+strict"},
	alertv1.Tlp_TLP_RED:          {"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1", "TLP:RED", "red"},
}

// tlpCreated is the created time of the TLP 2.0 marking definitions.
const tlpCreated = "2022-10-01T00:00:00.000Z"

// cixEpoch is the created time of the objects cix defines once (identities, handling
// markings), so that every export describes them identically.
var cixEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var handlingStatements = map[alertv1.HandlingCode]string{
	alertv1.HandlingCode_HANDLING_CODE_H0: "H0: use only for preventing and combating offences",
	alertv1.HandlingCode_HANDLING_CODE_H1: "H1: not to be used in judicial proceedings without the provider's permission",
	alertv1.HandlingCode_HANDLING_CODE_H2: "H2: no onward sharing without the provider's permission",
	alertv1.HandlingCode_HANDLING_CODE_H3: "H3: other restrictions",
}

func stixID(typ, name string) string {
	return typ + "--" + uuid.NewSHA1(stixNamespace, []byte(name)).String()
}

// stixTime formats t as STIX timestamps are written: UTC, milliseconds.
func stixTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// STIXWriter writes one bundle, object by object: the identities and marking
// definitions an alert needs are written before the first object that refers to them.
type STIXWriter struct {
	w       io.Writer
	written map[string]bool
	n       int
	err     error
}

// NewSTIXWriter starts a bundle on w.
func NewSTIXWriter(w io.Writer) *STIXWriter {
	s := &STIXWriter{w: w, written: map[string]bool{}}
	_, s.err = fmt.Fprintf(w, `{"type":"bundle","id":"bundle--%s","objects":[`, uuid.NewString())
	return s
}

type object map[string]any

func (s *STIXWriter) write(o object) {
	if s.err != nil {
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(o); err != nil {
		s.err = err
		return
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	sep := ",\n"
	if s.n == 0 {
		sep = "\n"
	}
	s.n++
	_, s.err = s.w.Write(append([]byte(sep), b...))
}

func (s *STIXWriter) once(id string, make func() object) string {
	if !s.written[id] {
		s.written[id] = true
		s.write(make())
	}
	return id
}

// Close ends the bundle.
func (s *STIXWriter) Close() error {
	if s.err != nil {
		return s.err
	}
	_, err := io.WriteString(s.w, "\n]}\n")
	return err
}

func (s *STIXWriter) identity(admin string) string {
	id := stixID("identity", "cix:administration:"+admin)
	return s.once(id, func() object {
		return object{
			"type": "identity", "spec_version": "2.1", "id": id,
			"created": stixTime(cixEpoch), "modified": stixTime(cixEpoch),
			"name": "Customs administration " + admin, "identity_class": "organization",
			"sectors": []string{"government-national"}, "x_cix_administration": admin,
		}
	})
}

func (s *STIXWriter) markings(h *alertv1.Handling) []string {
	var refs []string
	if t, ok := tlpMarkings[h.GetTlp()]; ok {
		refs = append(refs, s.once(t.id, func() object {
			return object{
				"type": "marking-definition", "spec_version": "2.1", "id": t.id, "created": tlpCreated, "name": t.name,
				"extensions": object{tlpExtension: object{"extension_type": "property-extension", "tlp_2_0": t.value}},
			}
		}))
	}
	if st, ok := handlingStatements[h.GetCode()]; ok {
		if r := h.GetRestrictions(); r != "" {
			st += ": " + r
		}
		id := stixID("marking-definition", "cix:handling:"+st)
		refs = append(refs, s.once(id, func() object {
			return object{
				"type": "marking-definition", "spec_version": "2.1", "id": id, "created": stixTime(cixEpoch),
				"name":            "cix handling " + strings.TrimPrefix(h.GetCode().String(), "HANDLING_CODE_"),
				"definition_type": "statement", "definition": object{"statement": st},
			}
		}))
	}
	return refs
}

// indicator is an indicator of an alert, before it has ids and times.
type indicator struct {
	name, pattern string
}

// quote writes s as a STIX pattern string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func indicators(a *alertv1.Alert) []indicator {
	var out []indicator
	seen := map[string]bool{}
	add := func(name, pattern string) {
		if !seen[pattern] {
			seen[pattern] = true
			out = append(out, indicator{name, pattern})
		}
	}
	conveyance := func(c *alertv1.Conveyance) {
		for _, n := range c.GetContainerNumbers() {
			add("Container "+n, "[x-cix-container:number = "+quote(n)+"]")
		}
		if n := c.GetImoNumber(); n != "" {
			add("Vessel IMO "+n, "[x-cix-vessel:imo_number = "+quote(n)+"]")
		}
	}
	conveyance(a.GetSeizure().GetConveyance())
	r := a.GetRisk()
	if r == nil {
		return out
	}
	conveyance(r.GetConveyance())
	for _, sh := range r.GetShipments() {
		if n := sh.GetContainerNumber(); n != "" {
			add("Container "+n, "[x-cix-container:number = "+quote(n)+"]")
		}
	}
	hs := func(code string) {
		add("HS code "+code, "[x-cix-goods:hs_code LIKE "+quote(code+"%")+"]")
	}
	for _, c := range r.GetHsCodes() {
		hs(c)
	}
	for _, in := range r.GetIndicators() {
		switch x := in.GetIndicator().(type) {
		case *alertv1.Indicator_HsCode:
			hs(x.HsCode)
		case *alertv1.Indicator_ContainerPrefix:
			add("Container prefix "+x.ContainerPrefix, "[x-cix-container:number LIKE "+quote(x.ContainerPrefix+"%")+"]")
		case *alertv1.Indicator_Shipper:
			add("Shipper "+x.Shipper, "[x-cix-shipment:shipper_name = "+quote(x.Shipper)+"]")
		case *alertv1.Indicator_Consignee:
			add("Consignee "+x.Consignee, "[x-cix-shipment:consignee_name = "+quote(x.Consignee)+"]")
		case *alertv1.Indicator_Route:
			if p := routePattern(x.Route); p != "" {
				add("Route "+routeText(x.Route), p)
			}
		}
	}
	return out
}

func routePattern(r *alertv1.Route) string {
	var cmp []string
	eq := func(prop, v string) {
		if v != "" {
			cmp = append(cmp, "x-cix-shipment:"+prop+" = "+quote(v))
		}
	}
	eq("country_of_origin", r.GetCountryOfOrigin())
	eq("country_of_departure", r.GetCountryOfDeparture())
	for _, c := range r.GetTransitCountries() {
		eq("transit_countries[*]", c)
	}
	eq("country_of_destination", r.GetCountryOfDestination())
	if len(cmp) == 0 {
		return ""
	}
	return "[" + strings.Join(cmp, " AND ") + "]"
}

func routeText(r *alertv1.Route) string {
	var cs []string
	for _, c := range []string{r.GetCountryOfOrigin(), r.GetCountryOfDeparture()} {
		if c != "" && (len(cs) == 0 || cs[len(cs)-1] != c) {
			cs = append(cs, c)
		}
	}
	cs = append(cs, r.GetTransitCountries()...)
	if c := r.GetCountryOfDestination(); c != "" {
		cs = append(cs, c)
	}
	return strings.Join(cs, " > ")
}

// Write adds the objects of one alert.
func (s *STIXWriter) Write(a *alertv1.Alert) error {
	creator := s.identity(a.GetOrigin().GetAdministration())
	marks := s.markings(a.GetHandling())
	issued := stixTime(a.GetIssuedAt().AsTime())
	refs := []any{creator}
	ext := []object{{"source_name": "cix", "external_id": a.GetId(),
		"description": fmt.Sprintf("cix %s alert version %d from %s", alert.KindName(alert.Kind(a)), a.GetVersion(), a.GetOrigin().GetAdministration())}}
	if a.GetSupersedes() != "" {
		ext = append(ext, object{"source_name": "cix-supersedes", "external_id": a.GetSupersedes()})
	}
	if c := a.GetNationalCaseReference(); c != "" {
		ext = append(ext, object{"source_name": "national-case-reference", "external_id": c})
	}
	var validUntil string
	if vu := a.GetRisk().GetValidUntil(); vu != nil && vu.AsTime().After(a.GetIssuedAt().AsTime()) {
		validUntil = stixTime(vu.AsTime())
	}
	for _, in := range indicators(a) {
		id := stixID("indicator", a.GetId()+"/"+in.pattern)
		o := object{
			"type": "indicator", "spec_version": "2.1", "id": id, "created_by_ref": creator,
			"created": issued, "modified": issued, "name": in.name, "indicator_types": []string{"malicious-activity"},
			"pattern": in.pattern, "pattern_type": "stix", "pattern_version": "2.1", "valid_from": issued,
			"external_references": ext[:1], "object_marking_refs": marks,
		}
		if validUntil != "" {
			o["valid_until"] = validUntil
		}
		s.write(o)
		refs = append(refs, id)
	}
	labels := []string{"cix-" + alert.KindName(alert.Kind(a))}
	for _, g := range alert.CommodityGroups(a) {
		labels = append(labels, strings.ToLower(strings.TrimPrefix(g.String(), "COMMODITY_GROUP_")))
	}
	report := object{
		"type": "report", "spec_version": "2.1", "id": stixID("report", a.GetId()), "created_by_ref": creator,
		"created": issued, "modified": issued, "published": issued,
		"name": title(a), "description": description(a), "report_types": []string{"threat-report"},
		"object_refs": refs, "labels": labels, "external_references": ext, "object_marking_refs": marks,
	}
	if l := a.GetRisk().GetOriginalLanguage(); l != "" {
		report["lang"] = l
	}
	s.write(report)
	return s.err
}

func title(a *alertv1.Alert) string {
	if r := a.GetRisk(); r != nil {
		return r.GetTitle()
	}
	sz := a.GetSeizure()
	what := "goods"
	if gs := sz.GetGoods(); len(gs) > 0 {
		what = gs[0].GetDescription()
	}
	return fmt.Sprintf("Seizure of %s at %s", what, sz.GetLocation())
}

// description is the alert in a few sentences, without personal data.
func description(a *alertv1.Alert) string {
	var b strings.Builder
	line := func(label, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\n", label, v)
		}
	}
	enum := func(v fmt.Stringer, prefix string) string {
		s := strings.TrimPrefix(v.String(), prefix)
		if strings.HasSuffix(s, "UNSPECIFIED") {
			return ""
		}
		return strings.ToLower(strings.ReplaceAll(s, "_", " "))
	}
	conveyance := func(c *alertv1.Conveyance) {
		line("Transport", enum(c.GetMode(), "TRANSPORT_MODE_"))
		line("Vessel", strings.TrimSpace(c.GetVesselName()+" "+imo(c.GetImoNumber())))
		line("Flight", c.GetFlightNumber())
		line("Containers", strings.Join(c.GetContainerNumbers(), ", "))
	}
	if sz := a.GetSeizure(); sz != nil {
		line("Seized", stixTime(sz.GetSeizedAt().AsTime())+" at "+sz.GetLocation()+" ("+enum(sz.GetLocationType(), "LOCATION_TYPE_")+")")
		line("Direction", enum(sz.GetDirection(), "DIRECTION_"))
		line("Detection", enum(sz.GetDetectionMethod(), "DETECTION_METHOD_"))
		for _, g := range sz.GetGoods() {
			q := ""
			if f := g.GetQuantityFound(); f.GetAmount() > 0 {
				q = ", " + strconv.FormatFloat(f.GetAmount(), 'f', -1, 64) + " " + enum(f.GetUnit(), "QUANTITY_UNIT_")
			}
			line("Goods", fmt.Sprintf("%s (HS %s%s)", g.GetDescription(), g.GetHsCode(), q))
		}
		line("Concealment", sz.GetConcealment())
		line("Route", routeText(sz.GetRoute()))
		conveyance(sz.GetConveyance())
		for _, c := range sz.GetCompanies() {
			line("Company", strings.TrimSpace(c.GetName()+" "+c.GetEori()+" "+c.GetCountry()))
		}
	}
	if r := a.GetRisk(); r != nil {
		line("Type", enum(r.GetType(), "RISK_ALERT_TYPE_"))
		line("Urgency", enum(r.GetUrgency(), "URGENCY_"))
		line("Modus operandi", r.GetModusOperandi())
		line("Concealment", r.GetConcealment())
		line("Route", routeText(r.GetRoute()))
		line("Ports of interest", strings.Join(r.GetPortsOfInterest(), ", "))
		conveyance(r.GetConveyance())
		line("Requested action", enum(r.GetRequestedAction(), "REQUESTED_ACTION_"))
	}
	line("Handling", strings.TrimSpace(strings.TrimPrefix(a.GetHandling().GetCode().String(), "HANDLING_CODE_")+" "+a.GetHandling().GetRestrictions()))
	line("Grading", strings.TrimPrefix(a.GetGrading().GetSourceReliability().String(), "SOURCE_RELIABILITY_")+
		strings.TrimPrefix(a.GetGrading().GetInformationAccuracy().String(), "INFORMATION_ACCURACY_"))
	return strings.TrimSpace(b.String())
}

func imo(n string) string {
	if n == "" {
		return ""
	}
	return "(IMO " + n + ")"
}
