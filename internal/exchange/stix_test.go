package exchange

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"github.com/cix-exchange/cix/internal/synth"
)

// The checks below are the STIX 2.1 specification's (OASIS Standard, 10 June 2021)
// requirements on the objects cix writes, property by property: the JSON schemas of
// oasis-open/cti-stix2-json-schemas could not be vendored here, so the test states
// them itself. Sections: 2.9 identifier, 2.2 and 3.2 timestamps, 3.1 and 3.2 common
// properties, 4.5 identity, 4.7 indicator and 9 patterns (syntax only), 4.14 report,
// 7.2 marking definitions (and the TLP 2.0 extension's official definitions), 2.5
// external references, 3.1 custom properties, 2.3 empty lists.

var (
	// RFC 4122 UUID (versions 1 to 5, variant 10), as identifier.json requires.
	stixIDRE  = regexp.MustCompile(`^([a-z][a-z0-9-]+[a-z0-9])--[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	stixTSRE  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`) // created/modified: millisecond precision
	propRE    = regexp.MustCompile(`^[a-z0-9_]{3,250}$`)                            // custom properties
	patternRE = regexp.MustCompile(`^\[([a-z0-9-]+:[a-z0-9_\[\]\*\.]+ (=|LIKE) '([^'\\]|\\.)*'( AND )?)+\]$`)
)

var officialTLP = map[string]string{
	"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": "TLP:CLEAR",
	"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": "TLP:GREEN",
	"marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": "TLP:AMBER",
	"marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": "TLP:AMBER+STRICT",
	"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": "TLP:RED",
}

// required properties per object type, besides type, spec_version, id and created.
var required = map[string][]string{
	"identity":           {"modified", "name"},
	"indicator":          {"modified", "pattern", "pattern_type", "valid_from"},
	"report":             {"modified", "name", "published", "object_refs"},
	"marking-definition": {},
}

type stixObject map[string]any

func (o stixObject) str(k string) string { s, _ := o[k].(string); return s }

// checkBundle checks a bundle against the rules above and returns its objects by id.
func checkBundle(t *testing.T, data []byte) map[string]stixObject {
	t.Helper()
	var bundle struct {
		Type    string       `json:"type"`
		ID      string       `json:"id"`
		Objects []stixObject `json:"objects"`
		Extra   map[string]any
	}
	if err := json.Unmarshal(data, &bundle); err != nil {
		t.Fatalf("bundle is not JSON: %v\n%s", err, data)
	}
	if bundle.Type != "bundle" || !strings.HasPrefix(bundle.ID, "bundle--") || !stixIDRE.MatchString(bundle.ID) {
		t.Fatalf("bundle type %q id %q", bundle.Type, bundle.ID)
	}
	byID := map[string]stixObject{}
	for _, o := range bundle.Objects {
		id := o.str("id")
		if _, dup := byID[id]; dup {
			t.Errorf("object %s appears twice", id)
		}
		byID[id] = o
	}
	for _, o := range bundle.Objects {
		id, typ := o.str("id"), o.str("type")
		errf := func(format string, args ...any) { t.Errorf("%s: %s", id, fmt.Sprintf(format, args...)) }
		m := stixIDRE.FindStringSubmatch(id)
		if m == nil || m[1] != typ {
			errf("id is not %s--<RFC 4122 UUID>", typ)
		}
		if o.str("spec_version") != "2.1" {
			errf("spec_version %q", o["spec_version"])
		}
		req, known := required[typ]
		if !known {
			errf("unexpected type %q", typ)
		}
		for _, p := range append([]string{"created"}, req...) {
			if _, ok := o[p]; !ok {
				errf("lacks required property %s", p)
			}
		}
		for _, p := range []string{"created", "modified"} {
			if v, ok := o[p]; ok && !stixTSRE.MatchString(fmt.Sprint(v)) {
				errf("%s %v is not a UTC timestamp with milliseconds", p, v)
			}
		}
		if o.str("modified") != "" && o.str("modified") < o.str("created") {
			errf("modified before created")
		}
		for k, v := range o {
			if strings.HasPrefix(k, "x_") && !propRE.MatchString(k) {
				errf("custom property name %q", k)
			}
			if l, ok := v.([]any); ok && len(l) == 0 {
				errf("empty list %s", k)
			}
			if s, ok := v.(string); ok && s == "" {
				errf("empty string %s", k)
			}
		}
		if ref := o.str("created_by_ref"); ref != "" && byID[ref].str("type") != "identity" {
			errf("created_by_ref %s is not an identity of the bundle", ref)
		}
		for _, ref := range asList(o["object_marking_refs"]) {
			if byID[ref.(string)].str("type") != "marking-definition" {
				errf("object_marking_refs %s is not a marking definition of the bundle", ref)
			}
		}
		for _, er := range asList(o["external_references"]) {
			e := er.(map[string]any)
			if e["source_name"] == nil || (e["external_id"] == nil && e["url"] == nil && e["description"] == nil) {
				errf("external reference %v", e)
			}
		}
		switch typ {
		case "identity":
			if c := o.str("identity_class"); c != "organization" {
				errf("identity_class %q", c)
			}
		case "indicator":
			if o.str("pattern_type") != "stix" || !patternRE.MatchString(o.str("pattern")) {
				errf("pattern %q (%s)", o["pattern"], o["pattern_type"])
			}
			if vu := o.str("valid_until"); vu != "" && vu <= o.str("valid_from") {
				errf("valid_until not after valid_from")
			}
		case "report":
			for _, ref := range o["object_refs"].([]any) {
				if byID[ref.(string)] == nil {
					errf("object_refs %s not in the bundle", ref)
				}
			}
		case "marking-definition":
			if _, ok := o["modified"]; ok {
				errf("a marking definition has no modified")
			}
			if name, ok := officialTLP[id]; ok {
				ext, _ := o["extensions"].(map[string]any)[tlpExtension].(map[string]any)
				if o.str("name") != name || ext["extension_type"] != "property-extension" ||
					"TLP:"+strings.ToUpper(fmt.Sprint(ext["tlp_2_0"])) != name || o.str("created") != tlpCreated {
					errf("not the official TLP 2.0 definition of %s: %v", name, o)
				}
			} else if o.str("definition_type") != "statement" || o["definition"].(map[string]any)["statement"] == "" {
				errf("marking definition neither TLP 2.0 nor a statement: %v", o)
			}
		}
	}
	return byID
}

func asList(v any) []any { l, _ := v.([]any); return l }

func stixOf(t *testing.T, alerts ...*alertv1.Alert) []byte {
	t.Helper()
	var b bytes.Buffer
	w := NewSTIXWriter(&b)
	for _, a := range alerts {
		if err := w.Write(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestSTIXBundle checks the export of generated alerts of every TLP and kind.
func TestSTIXBundle(t *testing.T) {
	alerts := synth.New(3, "BE").WithPersons(true).NextN(200)
	alerts = append(alerts, synth.ValidSeizure(), synth.ValidRisk())
	data := stixOf(t, alerts...)
	byID := checkBundle(t, data)
	if bytes.Contains(data, []byte("Jansen")) || bytes.Contains(data, []byte("family_name")) {
		t.Error("personal data in the STIX export")
	}
	tlps := map[string]bool{}
	reports := 0
	for _, o := range byID {
		if o.str("type") != "report" {
			continue
		}
		reports++
		for _, m := range o["object_marking_refs"].([]any) {
			if name, ok := officialTLP[m.(string)]; ok {
				tlps[name] = true
			}
		}
	}
	if reports != len(alerts) || len(tlps) < 4 {
		t.Errorf("%d reports for %d alerts; TLPs %v", reports, len(alerts), tlps)
	}

	// The example seizure, in detail.
	s := synth.ValidSeizure()
	byID = checkBundle(t, stixOf(t, s))
	report := byID[stixID("report", s.GetId())]
	if report == nil {
		t.Fatal("no report for the seizure")
	}
	issued := s.GetIssuedAt().AsTime().UTC().Format("2006-01-02T15:04:05.000Z")
	ext := report["external_references"].([]any)[0].(map[string]any)
	if report.str("created") != issued || report.str("published") != issued || ext["source_name"] != "cix" || ext["external_id"] != s.GetId() {
		t.Errorf("report %v", report)
	}
	if !slices.Contains(asList(report["object_marking_refs"]), any("marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421")) {
		t.Errorf("the TLP:AMBER seizure is not marked TLP:AMBER: %v", report["object_marking_refs"])
	}
	var patterns []string
	for _, ref := range asList(report["object_refs"]) {
		if o := byID[ref.(string)]; o.str("type") == "indicator" {
			patterns = append(patterns, o.str("pattern"))
		}
	}
	want := []string{"[x-cix-container:number = 'CSQU3054383']", "[x-cix-vessel:imo_number = '9074729']"}
	if !slices.Equal(patterns, want) {
		t.Errorf("patterns %q, want %q", patterns, want)
	}

	// The same alert exported twice has the same object ids.
	again := checkBundle(t, stixOf(t, synth.ValidSeizure()))
	for id := range byID {
		if again[id] == nil {
			t.Errorf("id %s not stable", id)
		}
	}

	r := synth.ValidRisk()
	r.GetRisk().Indicators = append(r.GetRisk().Indicators, &alertv1.Indicator{Indicator: &alertv1.Indicator_Shipper{Shipper: `O'Brien \ Sons`}})
	byID = checkBundle(t, stixOf(t, r))
	found := false
	for _, o := range byID {
		if o.str("pattern") == `[x-cix-shipment:shipper_name = 'O\'Brien \\ Sons']` {
			found = true
			if o.str("valid_until") != r.GetRisk().GetValidUntil().AsTime().Format("2006-01-02T15:04:05.000Z") {
				t.Errorf("valid_until %q", o["valid_until"])
			}
		}
	}
	if !found {
		t.Error("no shipper indicator with an escaped pattern")
	}
}
