package index

import (
	"crypto/sha256"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
)

// SeizureKey is the deterministic key of a seizure: two reports with the same key are
// the same seizure (reported by two administrations, or sent twice under two ids). It is
// the SHA-256, cut to 16 bytes, of
//
//   - the day of seizure (UTC, YYYY-MM-DD),
//   - the place of seizure (UN/LOCODE),
//   - the sorted set of the goods' HS headings at 6 digits (national extensions differ
//     between administrations),
//   - what identifies the consignment: the sorted container numbers; without containers
//     the sorted transport documents (type and number); without either, the sorted set
//     of (HS6, quantity found, unit), quantities rounded to 0.1 kg or l, or to whole
//     pieces.
//
// Names, times of day, offices, values and free text are left out: two administrations
// describe the same seizure differently. It returns nil for a risk alert.
func SeizureKey(a *alertv1.Alert) []byte {
	s := a.GetSeizure()
	if s == nil {
		return nil
	}
	var hs6, ids []string
	for _, g := range s.GetGoods() {
		hs6 = append(hs6, hsHeading(g.GetHsCode()))
	}
	ids = append(ids, s.GetConveyance().GetContainerNumbers()...)
	if len(ids) == 0 {
		for _, d := range s.GetConveyance().GetTransportDocuments() {
			ids = append(ids, strconv.Itoa(int(d.GetType()))+":"+strings.ToUpper(strings.Join(strings.Fields(d.GetNumber()), "")))
		}
	}
	if len(ids) == 0 {
		for _, g := range s.GetGoods() {
			q := g.GetQuantityFound()
			amount := q.GetAmount()
			if u := q.GetUnit(); u == alertv1.QuantityUnit_QUANTITY_UNIT_KILOGRAM || u == alertv1.QuantityUnit_QUANTITY_UNIT_LITRE {
				amount = float64(int64(amount*10+0.5)) / 10
			} else {
				amount = float64(int64(amount + 0.5))
			}
			ids = append(ids, hsHeading(g.GetHsCode())+":"+strconv.FormatFloat(amount, 'f', -1, 64)+":"+strconv.Itoa(int(q.GetUnit())))
		}
	}
	canon := strings.Join([]string{
		"cix-seizure-key-v1",
		s.GetSeizedAt().AsTime().UTC().Format(time.DateOnly),
		strings.ToUpper(s.GetLocation()),
		strings.Join(sortedSet(hs6), ","),
		strings.Join(sortedSet(ids), ","),
	}, "\n")
	sum := sha256.Sum256([]byte(canon))
	return sum[:16]
}

func hsHeading(code string) string {
	if len(code) > 6 {
		return code[:6]
	}
	return code
}

func sortedSet(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// facets returns the values of each repeated field of a.
func facets(a *alertv1.Alert) [numFacets][]any {
	var f [numFacets][]any
	add := func(k facet, vs ...string) {
		for _, v := range vs {
			if v != "" && !slices.Contains(f[k], any(v)) {
				f[k] = append(f[k], v)
			}
		}
	}
	add(facetHS, alert.HSCodes(a)...)
	for _, g := range alert.CommodityGroups(a) {
		f[facetCommodity] = append(f[facetCommodity], int64(g))
	}
	add(facetCountry, alert.RouteCountries(a)...)
	add(facetContainer, alert.ContainerNumbers(a)...)
	s, r := a.GetSeizure(), a.GetRisk()
	add(facetIMO, s.GetConveyance().GetImoNumber(), r.GetConveyance().GetImoNumber())
	for _, c := range s.GetCompanies() {
		add(facetCompany, companyKey(c.GetName()), companyKey(c.GetEori()), companyKey(c.GetRegistrationNumber()))
	}
	for _, in := range r.GetIndicators() {
		add(facetCompany, companyKey(in.GetShipper()), companyKey(in.GetConsignee()))
	}
	add(facetLocation, s.GetLocation())
	add(facetLocation, mainRoute(a).GetPlaces()...)
	add(facetLocation, r.GetPortsOfInterest()...)
	return f
}

// companyKey is how company names and numbers are stored and matched: lower case, one
// space between words.
func companyKey(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

func mainRoute(a *alertv1.Alert) *alertv1.Route {
	if r := a.GetSeizure().GetRoute(); r != nil {
		return r
	}
	return a.GetRisk().GetRoute()
}

// routePath is the route for statistics: countries of origin, departure, transit and
// destination, consecutive repeats dropped, e.g. "CO>ES>NL"; "-" when unknown.
func routePath(a *alertv1.Alert) string {
	r := mainRoute(a)
	var out []string
	for _, c := range slices.Concat([]string{r.GetCountryOfOrigin(), r.GetCountryOfDeparture()}, r.GetTransitCountries(), []string{r.GetCountryOfDestination()}) {
		if c != "" && (len(out) == 0 || out[len(out)-1] != c) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ">")
}

// transportMode is the mode of the alert's conveyance.
func transportMode(a *alertv1.Alert) alertv1.TransportMode {
	if c := a.GetSeizure().GetConveyance(); c != nil {
		return c.GetMode()
	}
	return a.GetRisk().GetConveyance().GetMode()
}

// eventTime is when a seizure was made, or when a risk alert was issued.
func eventTime(a *alertv1.Alert) time.Time {
	if s := a.GetSeizure(); s != nil && s.GetSeizedAt() != nil {
		return s.GetSeizedAt().AsTime()
	}
	return a.GetIssuedAt().AsTime()
}

// texts returns the full-text columns: title, description, concealment, modus operandi.
func texts(a *alertv1.Alert) [4]string {
	var desc []string
	addGoods := func(gs []*alertv1.Goods) {
		for _, g := range gs {
			desc = append(desc, g.GetDescription(), g.GetBrand(), g.GetSpecies(), g.GetDrugType(), g.GetDrugForm())
		}
	}
	s, r := a.GetSeizure(), a.GetRisk()
	addGoods(s.GetGoods())
	var mo []string
	mo = append(mo, r.GetModusOperandi())
	for _, in := range r.GetIndicators() {
		mo = append(mo, in.GetDescription())
	}
	return [4]string{
		r.GetTitle(),
		joinNonEmpty(desc),
		joinNonEmpty([]string{s.GetConcealment(), r.GetConcealment()}),
		joinNonEmpty(mo),
	}
}

func joinNonEmpty(s []string) string {
	return strings.Join(slices.DeleteFunc(s, func(v string) bool { return v == "" }), "\n")
}
