package alert

import (
	"strings"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
)

// Normalize tidies an alert in place before validation: it trims surrounding white
// space from the strings, upper-cases codes where that is unambiguous (country codes,
// UN/LOCODEs, office references, currencies, container numbers and prefixes, flight
// numbers, the country prefix of EORI numbers), lower-cases the id, supersedes and
// related alert ids and the primary language subtag, removes the spaces and hyphens
// people write inside container numbers and UN/LOCODEs ("CSQU 305438-3", "NL RTM"), the
// dots and spaces inside HS codes ("2402.20.10") and an "IMO" prefix of IMO numbers,
// sets version to 1 when it is 0, and turns a quantity of -0 into 0. Only ASCII letters
// change case. Normalize is idempotent and accepts nil.
func Normalize(a *alertv1.Alert) {
	if a == nil {
		return
	}
	a.Id = lowerASCII(strings.TrimSpace(a.Id))
	a.Supersedes = lowerASCII(strings.TrimSpace(a.Supersedes))
	if a.Version == 0 {
		a.Version = 1
	}
	if o := a.Origin; o != nil {
		o.Administration = code(o.Administration)
		o.Office = code(o.Office)
		o.Node = strings.TrimSpace(o.Node)
	}
	if au := a.Audience; au != nil {
		for i, g := range au.Groups {
			au.Groups[i] = lowerASCII(strings.TrimSpace(g))
		}
		for i, c := range au.Administrations {
			au.Administrations[i] = code(c)
		}
	}
	if h := a.Handling; h != nil {
		h.Restrictions = strings.TrimSpace(h.Restrictions)
		h.LegalBasis = strings.TrimSpace(h.LegalBasis)
		h.OperationId = strings.TrimSpace(h.OperationId)
	}
	a.NationalCaseReference = strings.TrimSpace(a.NationalCaseReference)
	switch b := a.Body.(type) {
	case *alertv1.Alert_Seizure:
		normalizeSeizure(b.Seizure)
	case *alertv1.Alert_Risk:
		normalizeRisk(b.Risk)
	}
}

func normalizeSeizure(s *alertv1.SeizureAlert) {
	if s == nil {
		return
	}
	s.Location = compact(s.Location, " ")
	s.CustomsOffice = code(s.CustomsOffice)
	s.Concealment = strings.TrimSpace(s.Concealment)
	for _, g := range s.Goods {
		normalizeGoods(g)
	}
	normalizeConveyance(s.Conveyance)
	normalizeRoute(s.Route)
	for _, p := range s.Persons {
		if p == nil {
			continue
		}
		p.FamilyName = strings.TrimSpace(p.FamilyName)
		p.GivenNames = strings.TrimSpace(p.GivenNames)
		p.BirthDate = strings.TrimSpace(p.BirthDate)
		p.Nationality = code(p.Nationality)
		if d := p.Document; d != nil {
			d.Type = strings.TrimSpace(d.Type)
			d.Number = strings.TrimSpace(d.Number)
			d.IssuingCountry = code(d.IssuingCountry)
		}
	}
	for _, c := range s.Companies {
		if c == nil {
			continue
		}
		c.Name = strings.TrimSpace(c.Name)
		c.RegistrationNumber = strings.TrimSpace(c.RegistrationNumber)
		c.Eori = normalizeEORI(c.Eori)
		c.Country = code(c.Country)
	}
	if f := s.FollowUp; f != nil {
		f.GoodsHeldAt = strings.TrimSpace(f.GoodsHeldAt)
		for i, id := range f.RelatedAlertIds {
			f.RelatedAlertIds[i] = lowerASCII(strings.TrimSpace(id))
		}
	}
}

func normalizeGoods(g *alertv1.Goods) {
	if g == nil {
		return
	}
	g.Description = strings.TrimSpace(g.Description)
	g.HsCode = compact(g.HsCode, " .")
	g.Brand = strings.TrimSpace(g.Brand)
	g.Species = strings.TrimSpace(g.Species)
	g.DrugType = strings.TrimSpace(g.DrugType)
	g.DrugForm = strings.TrimSpace(g.DrugForm)
	normalizeQuantity(g.QuantityDeclared)
	normalizeQuantity(g.QuantityFound)
	normalizeMoney(g.Value)
}

// normalizeQuantity turns an amount of -0 into 0. Both mean no amount, but protobuf
// keeps -0 as a value that is set (it is not the zero bit pattern) and writes it, while
// proto.Clone and Merge drop it: the same alert would compare unequal to its copy.
func normalizeQuantity(q *alertv1.Quantity) {
	if q != nil && q.Amount == 0 {
		q.Amount = 0
	}
}

func normalizeMoney(m *alertv1.Money) {
	if m == nil {
		return
	}
	m.Currency = code(m.Currency)
	m.Amount = strings.TrimSpace(m.Amount)
}

func normalizeConveyance(c *alertv1.Conveyance) {
	if c == nil {
		return
	}
	c.FlightNumber = compact(c.FlightNumber, " ")
	c.VesselName = strings.TrimSpace(c.VesselName)
	c.ImoNumber = normalizeIMO(c.ImoNumber)
	c.VehicleRegistration = strings.TrimSpace(c.VehicleRegistration)
	for i, n := range c.ContainerNumbers {
		c.ContainerNumbers[i] = compact(n, " -")
	}
	for _, d := range c.TransportDocuments {
		if d != nil {
			d.Number = strings.TrimSpace(d.Number)
		}
	}
}

func normalizeRoute(r *alertv1.Route) {
	if r == nil {
		return
	}
	r.CountryOfOrigin = code(r.CountryOfOrigin)
	r.CountryOfDeparture = code(r.CountryOfDeparture)
	for i, c := range r.TransitCountries {
		r.TransitCountries[i] = code(c)
	}
	r.CountryOfDestination = code(r.CountryOfDestination)
	for i, p := range r.Places {
		r.Places[i] = compact(p, " ")
	}
}

func normalizeRisk(r *alertv1.RiskAlert) {
	if r == nil {
		return
	}
	r.Title = strings.TrimSpace(r.Title)
	for i, c := range r.HsCodes {
		r.HsCodes[i] = compact(c, " .")
	}
	r.ModusOperandi = strings.TrimSpace(r.ModusOperandi)
	r.Concealment = strings.TrimSpace(r.Concealment)
	normalizeRoute(r.Route)
	normalizeConveyance(r.Conveyance)
	for i, p := range r.PortsOfInterest {
		r.PortsOfInterest[i] = compact(p, " ")
	}
	for _, in := range r.Indicators {
		if in == nil {
			continue
		}
		switch x := in.Indicator.(type) {
		case *alertv1.Indicator_HsCode:
			x.HsCode = compact(x.HsCode, " .")
		case *alertv1.Indicator_Shipper:
			x.Shipper = strings.TrimSpace(x.Shipper)
		case *alertv1.Indicator_Consignee:
			x.Consignee = strings.TrimSpace(x.Consignee)
		case *alertv1.Indicator_ContainerPrefix:
			x.ContainerPrefix = code(x.ContainerPrefix)
		case *alertv1.Indicator_Route:
			normalizeRoute(x.Route)
		case *alertv1.Indicator_ValueThreshold:
			if x.ValueThreshold != nil {
				normalizeMoney(x.ValueThreshold.Below)
				normalizeMoney(x.ValueThreshold.Above)
			}
		}
		in.Description = strings.TrimSpace(in.Description)
	}
	for _, s := range r.Shipments {
		if s == nil {
			continue
		}
		s.ContainerNumber = compact(s.ContainerNumber, " -")
		s.BillOfLading = strings.TrimSpace(s.BillOfLading)
		s.AirWaybill = strings.TrimSpace(s.AirWaybill)
		s.FlightNumber = compact(s.FlightNumber, " ")
	}
	for i, l := range r.EvidenceLinks {
		r.EvidenceLinks[i] = strings.TrimSpace(l)
	}
	r.OriginalLanguage = normalizeLanguage(r.OriginalLanguage)
}

// code trims s and upper-cases its ASCII letters.
func code(s string) string { return upperASCII(strings.TrimSpace(s)) }

// compact removes every byte of cut from s, then trims it and upper-cases its ASCII
// letters.
func compact(s, cut string) string {
	if strings.ContainsAny(s, cut) {
		s = strings.Map(func(r rune) rune {
			if strings.ContainsRune(cut, r) {
				return -1
			}
			return r
		}, s)
	}
	return code(s)
}

// normalizeIMO removes an "IMO" prefix and the spaces of an IMO number when what
// remains is digits only ("IMO 9074729" becomes "9074729"); otherwise it only trims.
func normalizeIMO(s string) string {
	s = strings.TrimSpace(s)
	c := compact(s, " ")
	if len(c) > 3 && c[:3] == "IMO" && allDigits(c[3:]) {
		return c[3:]
	}
	if allDigits(c) {
		return c
	}
	return s
}

// normalizeEORI removes spaces and upper-cases the country prefix; the rest of an EORI
// number is left as is.
func normalizeEORI(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	if len(s) < 2 {
		return upperASCII(s)
	}
	return upperASCII(s[:2]) + s[2:]
}

// normalizeLanguage lower-cases the primary subtag of a language tag ("NL-be" becomes
// "nl-be"); the other subtags keep their case.
func normalizeLanguage(s string) string {
	s = strings.TrimSpace(s)
	primary, rest, found := strings.Cut(s, "-")
	if found {
		return lowerASCII(primary) + "-" + rest
	}
	return lowerASCII(primary)
}

func upperASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'a' && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
