package synth

import (
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// BaseTime is the issued_at of the first alert of every generator; alert n is issued
// n*Step later.
var BaseTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Step is the time between the issued_at of consecutive generated alerts.
const Step = 37 * time.Second

const (
	seizureShare   = 70 // percent of new alerts that are seizures
	amendmentShare = 5  // percent of alerts that amend an earlier one
	poolSize       = 64 // how many recent alerts may be amended
)

// Generator produces a deterministic stream of realistic, valid synthetic alerts. A
// Generator is not safe for concurrent use.
type Generator struct {
	origin  string
	persons bool
	rng     *rand.Rand // content
	ids     *rand.Rand // alert ids only, so that id n depends on the seed and n alone
	n       int
	pool    []*alertv1.Alert // recent first versions that may be amended
	risks   []string         // recent risk alert ids that seizures may refer to
}

// New returns a generator of alerts from administration origin, an ISO 3166-1 alpha-2
// code ("" means "NL"; an unassigned code gives alerts that fail validation). Places of
// seizure are real ports and airports for most EU administrations and GB, and a
// syntactically valid UN/LOCODE ending in ZZZ elsewhere. The same seed and origin
// always give the same alerts; alert ids depend on the seed alone.
func New(seed int64, origin string) *Generator {
	origin = strings.ToUpper(strings.TrimSpace(origin))
	if origin == "" {
		origin = "NL"
	}
	s := uint64(seed)
	return &Generator{
		origin: origin,
		rng:    rand.New(rand.NewPCG(s, 0x9e3779b97f4a7c15)),
		ids:    rand.New(rand.NewPCG(s, 0x5eedc1c0ffee0001)),
	}
}

// WithPersons makes the generator name persons in seizures (and set
// handling.personal_data on those alerts). It returns g.
func (g *Generator) WithPersons(include bool) *Generator {
	g.persons = include
	return g
}

// NextN returns the next n alerts.
func (g *Generator) NextN(n int) []*alertv1.Alert {
	out := make([]*alertv1.Alert, 0, max(n, 0))
	for range n {
		out = append(out, g.Next())
	}
	return out
}

// Next returns the next alert. It passes alert.Validate. About 70% are seizures and 30%
// risk alerts; about 5% amend an earlier alert of the stream (version 2, supersedes set).
func (g *Generator) Next() *alertv1.Alert {
	n := g.n
	g.n++
	id := g.uuid()
	issued := BaseTime.Add(time.Duration(n) * Step)
	if len(g.pool) > 0 && g.rng.IntN(100) < amendmentShare {
		return g.amend(id, issued)
	}
	a := &alertv1.Alert{
		Id:                    id,
		Version:               1,
		Origin:                &alertv1.Origin{Administration: g.origin, Office: g.office()},
		IssuedAt:              timestamppb.New(issued),
		NationalCaseReference: fmt.Sprintf("%s-%d-%06d", g.origin, issued.Year(), 1000+n),
		Grading:               g.grading(),
	}
	if g.rng.IntN(100) < seizureShare {
		a.Body = &alertv1.Alert_Seizure{Seizure: g.seizure(issued)}
	} else {
		a.Body = &alertv1.Alert_Risk{Risk: g.risk(id, issued)}
		g.risks = appendCapped(g.risks, id)
	}
	a.Handling = g.handling(len(a.GetSeizure().GetPersons()) > 0)
	g.pool = appendCapped(g.pool, a)
	return a
}

func appendCapped[T any](s []T, v T) []T {
	if len(s) == poolSize {
		s = append(s[:0], s[1:]...)
	}
	return append(s, v)
}

// amend returns a new version of a recent alert of the stream.
func (g *Generator) amend(id string, issued time.Time) *alertv1.Alert {
	i := g.rng.IntN(len(g.pool))
	prev := g.pool[i]
	g.pool = append(g.pool[:i], g.pool[i+1:]...)
	a := proto.Clone(prev).(*alertv1.Alert)
	a.Id = id
	a.Version = prev.GetVersion() + 1
	a.Supersedes = prev.GetId()
	a.IssuedAt = timestamppb.New(issued)
	if s := a.GetSeizure(); s != nil {
		if s.FollowUp == nil {
			s.FollowUp = &alertv1.FollowUp{GoodsHeldAt: "customs warehouse"}
		}
		s.FollowUp.InvestigationStatus = alertv1.InvestigationStatus_INVESTIGATION_STATUS_REFERRED_TO_PROSECUTION
		s.FollowUp.Arrests += uint32(g.rng.IntN(3))
		if gs := s.GetGoods(); len(gs) > 0 && gs[0].QuantityFound != nil {
			q := gs[0].QuantityFound
			q.Amount = roundQty(q.Amount*(1+g.rng.Float64()*0.1), q.Unit)
		}
	}
	if r := a.GetRisk(); r != nil {
		r.ValidUntil = timestamppb.New(issued.Add(time.Duration(60+g.rng.IntN(60)) * 24 * time.Hour))
		r.Urgency = alertv1.Urgency_URGENCY_PRIORITY
		if r.FeedbackRequired {
			r.FeedbackDue = timestamppb.New(issued.Add(14 * 24 * time.Hour))
		}
	}
	return a
}

// uuid returns the next id: 128 bits of the id stream formatted as a version 4 UUID.
func (g *Generator) uuid() string {
	var b [16]byte
	hi, lo := g.ids.Uint64(), g.ids.Uint64()
	for i := range 8 {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// weighted returns values[i] with probability weights[i]/sum(weights).
func weighted[T any](r *rand.Rand, values []T, weights []int) T {
	total := 0
	for _, w := range weights {
		total += w
	}
	x := r.IntN(total)
	for i, w := range weights {
		if x < w {
			return values[i]
		}
		x -= w
	}
	return values[len(values)-1]
}

func (g *Generator) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + g.rng.IntN(10))
	}
	return string(b)
}

func (g *Generator) letters(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('A' + g.rng.IntN(26))
	}
	return string(b)
}

// office returns the reference number of one of a few offices of the administration.
func (g *Generator) office() string {
	return g.origin + pick(g.rng, []string{"000396", "000566", "000851", "001284", "002117"})
}

func (g *Generator) grading() *alertv1.Grading {
	return &alertv1.Grading{
		SourceReliability: weighted(g.rng, []alertv1.SourceReliability{1, 2, 3, 4}, []int{45, 35, 5, 15}),
		InformationAccuracy: weighted(g.rng, []alertv1.InformationAccuracy{1, 2, 3, 4},
			[]int{40, 25, 25, 10}),
	}
}

func (g *Generator) handling(personal bool) *alertv1.Handling {
	tlps := []alertv1.Tlp{alertv1.Tlp_TLP_CLEAR, alertv1.Tlp_TLP_GREEN, alertv1.Tlp_TLP_AMBER, alertv1.Tlp_TLP_AMBER_STRICT, alertv1.Tlp_TLP_RED}
	w := []int{5, 45, 35, 7, 8}
	if personal {
		w = []int{0, 0, 60, 20, 20}
	}
	h := &alertv1.Handling{
		Tlp:          weighted(g.rng, tlps, w),
		Code:         weighted(g.rng, []alertv1.HandlingCode{1, 2, 3, 4}, []int{40, 25, 25, 10}),
		PersonalData: personal,
		LegalBasis:   pick(g.rng, legalBases),
	}
	if h.Code == alertv1.HandlingCode_HANDLING_CODE_H3 {
		h.Restrictions = pick(g.rng, []string{
			"Not to be disclosed to private parties; consult the originator before any operational action.",
			"For targeting only; do not contact the carrier or the consignee.",
			"Use restricted to the closed user group of the operation.",
		})
	}
	if g.rng.IntN(10) == 0 {
		h.OperationId = "OP-" + pick(g.rng, []string{"ORION", "SILVER-AXE", "PANGEA", "DEMETER", "THUNDER"}) + "-" + strconv.Itoa(2025+g.rng.IntN(2))
	}
	return h
}

func (g *Generator) profile() *profile {
	w := make([]int, len(profiles))
	idx := make([]int, len(profiles))
	for i := range profiles {
		w[i], idx[i] = profiles[i].weight, i
	}
	return &profiles[weighted(g.rng, idx, w)]
}

var modeLocation = map[alertv1.TransportMode]alertv1.LocationType{
	sea: seaport, airPax: airport, airCgo: airport, road: border, rail: border, post: postal, courier: express,
}

// place returns where goods moving by mode are checked in the origin administration.
func (g *Generator) place(mode alertv1.TransportMode) (string, alertv1.LocationType) {
	want := modeLocation[mode]
	home := homePlaces[g.origin]
	if len(home) == 0 {
		return g.origin + "ZZZ", want
	}
	var match []place
	for _, p := range home {
		if p.kind == want || ((want == express || want == postal) && p.kind == airport) {
			match = append(match, p)
		}
	}
	if len(match) > 0 {
		return pick(g.rng, match).locode, want
	}
	if want == border {
		want = alertv1.LocationType_LOCATION_TYPE_INLAND
	}
	return pick(g.rng, home).locode, want
}

func (g *Generator) port(country string) (string, bool) {
	if ps := foreignPorts[country]; len(ps) > 0 {
		return pick(g.rng, ps), true
	}
	if ps := homePlaces[country]; len(ps) > 0 {
		return pick(g.rng, ps).locode, true
	}
	return "", false
}

// route returns a plausible route of goods of profile p seized or checked at locode.
func (g *Generator) route(p *profile, locode string) *alertv1.Route {
	r := &alertv1.Route{CountryOfOrigin: pick(g.rng, p.origins)}
	if p.export {
		r.CountryOfDeparture = g.origin
		r.CountryOfDestination = pick(g.rng, p.destination)
		r.Places = []string{locode}
		if l, ok := g.port(r.CountryOfDestination); ok {
			r.Places = append(r.Places, l)
		}
		return r
	}
	r.CountryOfDeparture = r.CountryOfOrigin
	r.CountryOfDestination = g.origin
	if len(p.destination) > 0 {
		r.CountryOfDestination = pick(g.rng, p.destination)
	}
	if l, ok := g.port(r.CountryOfDeparture); ok {
		r.Places = append(r.Places, l)
	}
	if g.rng.IntN(3) == 0 {
		hub := pick(g.rng, transitHubs)
		if hub != r.CountryOfDeparture {
			r.TransitCountries = []string{hub}
			if l, ok := g.port(hub); ok {
				r.Places = append(r.Places, l)
			}
		}
	}
	r.Places = append(r.Places, locode)
	return r
}

func (g *Generator) containerNumber(owner string) string {
	prefix := owner + g.digits(6)
	d, _ := alert.ContainerCheckDigit(prefix)
	return prefix + strconv.Itoa(d)
}

func (g *Generator) imo() string {
	s := strconv.Itoa(9-g.rng.IntN(2)) + g.digits(5)
	sum := 0
	for i := range 6 {
		sum += int(s[i]-'0') * (7 - i)
	}
	return s + strconv.Itoa(sum%10)
}

// airWaybill returns an air waybill number: airline prefix, serial and mod-7 check digit.
func (g *Generator) airWaybill() string {
	serial := g.rng.IntN(10000000)
	return fmt.Sprintf("%03d-%07d%d", 20+g.rng.IntN(980), serial, serial%7)
}

// postalItem returns a UPU S10 item identifier with its check digit.
func (g *Generator) postalItem(country string) string {
	d := g.digits(8)
	weights := [8]int{8, 6, 4, 2, 3, 5, 9, 7}
	sum := 0
	for i := range 8 {
		sum += int(d[i]-'0') * weights[i]
	}
	c := 11 - sum%11
	switch c {
	case 10:
		c = 0
	case 11:
		c = 5
	}
	return pick(g.rng, []string{"RR", "CP", "LX", "EE"}) + d + strconv.Itoa(c) + country
}

func (g *Generator) conveyance(mode alertv1.TransportMode, departure string) *alertv1.Conveyance {
	c := &alertv1.Conveyance{Mode: mode}
	doc := func(t alertv1.TransportDocumentType, n string) {
		c.TransportDocuments = append(c.TransportDocuments, &alertv1.TransportDocument{Type: t, Number: n})
	}
	switch mode {
	case sea:
		c.VesselName = pick(g.rng, vesselNames)
		c.ImoNumber = g.imo()
		owner := pick(g.rng, ownerCodes)
		for range 1 + g.rng.IntN(3) {
			c.ContainerNumbers = append(c.ContainerNumbers, g.containerNumber(owner))
		}
		doc(alertv1.TransportDocumentType_TRANSPORT_DOCUMENT_TYPE_BILL_OF_LADING, owner[:3]+"U"+g.digits(8))
	case airPax, airCgo:
		c.FlightNumber = pick(g.rng, airlines) + strconv.Itoa(100+g.rng.IntN(1900))
		if mode == airCgo {
			doc(alertv1.TransportDocumentType_TRANSPORT_DOCUMENT_TYPE_AIR_WAYBILL, g.airWaybill())
		}
	case road:
		c.VehicleRegistration = g.letters(2) + "-" + g.digits(3) + "-" + g.letters(2)
		doc(alertv1.TransportDocumentType_TRANSPORT_DOCUMENT_TYPE_CMR, departure+g.digits(7))
	case rail:
		doc(alertv1.TransportDocumentType_TRANSPORT_DOCUMENT_TYPE_RAIL_CONSIGNMENT_NOTE, g.digits(10))
		c.ContainerNumbers = []string{g.containerNumber(pick(g.rng, ownerCodes))}
	case post:
		doc(alertv1.TransportDocumentType_TRANSPORT_DOCUMENT_TYPE_POSTAL_ITEM, g.postalItem(departure))
	case courier:
		doc(alertv1.TransportDocumentType_TRANSPORT_DOCUMENT_TYPE_OTHER, g.digits(10))
	}
	return c
}

func roundQty(x float64, u alertv1.QuantityUnit) float64 {
	if u == kg || u == litre {
		return math.Round(x*10) / 10
	}
	return math.Max(1, math.Round(x))
}

// quantity draws a log-uniform quantity between the profile's bounds.
func (g *Generator) quantity(p *profile) float64 {
	x := p.qtyMin * math.Pow(p.qtyMax/p.qtyMin, g.rng.Float64())
	return roundQty(x, p.unit)
}

// hsCode returns code, sometimes with a national extension.
func (g *Generator) hsCode(code string) string {
	if len(code) == 6 {
		switch x := g.rng.IntN(10); {
		case x < 2:
			return code + pick(g.rng, []string{"00", "10", "90"})
		case x < 3:
			return code + pick(g.rng, []string{"0000", "1000", "9000"})
		}
	}
	return code
}

func (g *Generator) goods(p *profile) *alertv1.Goods {
	i := g.rng.IntN(len(p.desc))
	aligned := func(s []string) string {
		switch {
		case len(s) == 0:
			return ""
		case len(s) == len(p.desc):
			return s[i]
		}
		return pick(g.rng, s)
	}
	gd := &alertv1.Goods{
		CommodityGroup: p.group,
		Description:    p.desc[i],
		HsCode:         g.hsCode(p.hs[i%len(p.hs)]),
		Brand:          aligned(p.brands),
		Species:        aligned(p.species),
		DrugType:       p.drugType,
		DrugForm:       aligned(p.drugForms),
	}
	found := g.quantity(p)
	gd.QuantityFound = &alertv1.Quantity{Amount: found, Unit: p.unit}
	if p.group == alertv1.CommodityGroup_COMMODITY_GROUP_REVENUE || p.group == alertv1.CommodityGroup_COMMODITY_GROUP_IPR_HEALTH_SAFETY {
		gd.QuantityDeclared = &alertv1.Quantity{Amount: roundQty(found*(0.3+0.7*g.rng.Float64()), p.unit), Unit: p.unit}
	}
	price := p.price.min + (p.price.max-p.price.min)*g.rng.Float64()
	gd.Value = &alertv1.Money{Currency: p.price.currency, Amount: strconv.FormatFloat(found*price, 'f', 2, 64)}
	return gd
}

func (g *Generator) seizure(issued time.Time) *alertv1.SeizureAlert {
	p := g.profile()
	mode := pick(g.rng, p.modes)
	locode, ltype := g.place(mode)
	seized := issued.Add(-time.Duration(30+g.rng.IntN(14*24*60)) * time.Minute).Truncate(time.Minute)
	s := &alertv1.SeizureAlert{
		SeizedAt:        timestamppb.New(seized),
		LocationType:    ltype,
		Location:        locode,
		CustomsOffice:   g.office(),
		OffenceTypes:    []alertv1.OffenceType{p.offences[0]},
		DetectionMethod: weighted(g.rng, []alertv1.DetectionMethod{1, 2, 3, 4, 5, 6, 7}, []int{40, 8, 20, 10, 12, 6, 4}),
		Concealment:     pick(g.rng, p.concealment),
		Route:           g.route(p, locode),
	}
	if len(p.offences) > 1 && g.rng.IntN(2) == 0 {
		s.OffenceTypes = append(s.OffenceTypes, p.offences[1+g.rng.IntN(len(p.offences)-1)])
	}
	switch {
	case p.export:
		s.Direction = alertv1.Direction_DIRECTION_EXPORT
	case s.Route.CountryOfDestination != g.origin:
		s.Direction = alertv1.Direction_DIRECTION_TRANSIT
		if mode == sea {
			s.Direction = alertv1.Direction_DIRECTION_TRANSHIPMENT
		}
	default:
		s.Direction = alertv1.Direction_DIRECTION_IMPORT
	}
	s.Goods = []*alertv1.Goods{g.goods(p)}
	if g.rng.IntN(5) == 0 {
		s.Goods = append(s.Goods, g.goods(p))
	}
	s.Conveyance = g.conveyance(mode, s.Route.CountryOfDeparture)
	if g.rng.IntN(10) < 6 {
		s.Companies = append(s.Companies, g.company(alertv1.CompanyRole_COMPANY_ROLE_SHIPPER, s.Route.CountryOfDeparture))
		if g.rng.IntN(2) == 0 {
			s.Companies = append(s.Companies, g.company(alertv1.CompanyRole_COMPANY_ROLE_CONSIGNEE, s.Route.CountryOfDestination))
		}
	}
	if g.persons {
		for range 1 + g.rng.IntN(2) {
			s.Persons = append(s.Persons, g.person(mode, seized))
		}
	}
	if g.rng.IntN(10) < 7 {
		f := &alertv1.FollowUp{
			GoodsHeldAt:         "customs warehouse " + locode,
			InvestigationStatus: weighted(g.rng, []alertv1.InvestigationStatus{1, 2, 3, 4}, []int{20, 50, 20, 10}),
			ControlledDelivery:  g.rng.IntN(20) == 0,
		}
		if len(s.Persons) > 0 {
			f.Arrests = uint32(g.rng.IntN(len(s.Persons) + 1))
		}
		if len(g.risks) > 0 && g.rng.IntN(10) == 0 {
			f.RelatedAlertIds = []string{pick(g.rng, g.risks)}
		}
		s.FollowUp = f
	}
	return s
}

func (g *Generator) company(role alertv1.CompanyRole, country string) *alertv1.Company {
	c := &alertv1.Company{Role: role, Name: pick(g.rng, companyNames), Country: country}
	if _, eu := languages[country]; eu && country != "GB" {
		c.Eori = country + g.digits(9+g.rng.IntN(4))
	} else {
		c.RegistrationNumber = g.digits(8)
	}
	return c
}

func (g *Generator) person(mode alertv1.TransportMode, seized time.Time) *alertv1.Person {
	role := alertv1.PersonRole_PERSON_ROLE_CONSIGNEE
	switch mode {
	case airPax:
		role = pick(g.rng, []alertv1.PersonRole{alertv1.PersonRole_PERSON_ROLE_PASSENGER, alertv1.PersonRole_PERSON_ROLE_COURIER})
	case road:
		role = alertv1.PersonRole_PERSON_ROLE_DRIVER
	}
	nat := pick(g.rng, []string{"NL", "ES", "CO", "NG", "TR", "PL", "MA", "DE", "VN", "AL"})
	birth := seized.AddDate(-(20 + g.rng.IntN(45)), 0, -g.rng.IntN(365))
	return &alertv1.Person{
		Role:        role,
		FamilyName:  pick(g.rng, familyNames),
		GivenNames:  pick(g.rng, givenNames),
		BirthDate:   birth.Format(time.DateOnly),
		Nationality: nat,
		Document: &alertv1.IdentityDocument{
			Type: "passport", Number: g.letters(2) + g.digits(7), IssuingCountry: nat,
		},
	}
}
