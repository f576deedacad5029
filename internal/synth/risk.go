package synth

import (
	"slices"
	"strconv"
	"strings"
	"time"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// euPortsOfInterest are the ports most often named in risk alerts.
var euPortsOfInterest = []string{
	"NLRTM", "BEANR", "DEHAM", "DEBRV", "ESALG", "ESVLC", "FRLEH", "ITGOA", "ITGIT", "GRPIR",
	"PTSIE", "PLGDN", "SIKOP", "GBFXT",
}

const day = 24 * time.Hour

func (g *Generator) risk(id string, issued time.Time) *alertv1.RiskAlert {
	p := g.profile()
	mode := pick(g.rng, p.modes)
	locode, _ := g.place(mode)
	route := g.route(p, locode)
	typ := weighted(g.rng, []alertv1.RiskAlertType{
		alertv1.RiskAlertType_RISK_ALERT_TYPE_TREND_ALERT,
		alertv1.RiskAlertType_RISK_ALERT_TYPE_SHIPMENT_WARNING,
		alertv1.RiskAlertType_RISK_ALERT_TYPE_MODUS_OPERANDI_NOTICE,
	}, []int{40, 40, 20})
	if typ == alertv1.RiskAlertType_RISK_ALERT_TYPE_SHIPMENT_WARNING && (mode == road || mode == post) {
		// No identifier of alertv1.ShipmentIdentifier fits lorries and parcels.
		typ = alertv1.RiskAlertType_RISK_ALERT_TYPE_TREND_ALERT
	}
	warning := typ == alertv1.RiskAlertType_RISK_ALERT_TYPE_SHIPMENT_WARNING

	i := g.rng.IntN(len(p.desc))
	hs := p.hs[i%len(p.hs)]
	concealment := pick(g.rng, p.concealment)
	title := p.title
	if mode != p.modes[0] || warning {
		title = strings.ToUpper(p.desc[i][:1]) + p.desc[i][1:]
	}
	r := &alertv1.RiskAlert{
		Type:             typ,
		Title:            title + ": " + route.CountryOfOrigin + " to " + locode,
		CommodityGroups:  []alertv1.CommodityGroup{p.group},
		HsCodes:          []string{hs},
		ModusOperandi:    "Consignments of " + p.desc[i] + " from " + route.CountryOfOrigin + ", " + concealment + ".",
		Concealment:      concealment,
		Route:            route,
		Status:           alertv1.RiskAlertStatus_RISK_ALERT_STATUS_ACTIVE,
		OriginalLanguage: "en",
	}
	if g.rng.IntN(3) == 0 {
		r.HsCodes[0] = hs[:4]
	}
	if g.rng.IntN(4) == 0 {
		if other := pick(g.rng, p.hs); other != hs {
			r.HsCodes = append(r.HsCodes, other)
		}
	}
	if lang, ok := languages[g.origin]; ok && g.rng.IntN(3) == 0 {
		r.OriginalLanguage = lang
	}
	if g.rng.IntN(10) < 7 {
		r.ValidUntil = timestamppb.New(issued.Add(time.Duration(30+g.rng.IntN(150)) * day))
	}
	if warning {
		r.Urgency = weighted(g.rng, []alertv1.Urgency{2, 3}, []int{60, 40})
		r.RequestedAction = weighted(g.rng, []alertv1.RequestedAction{2, 3, 4}, []int{20, 60, 20})
	} else {
		r.Urgency = weighted(g.rng, []alertv1.Urgency{1, 2}, []int{80, 20})
		r.RequestedAction = weighted(g.rng, []alertv1.RequestedAction{1, 5}, []int{60, 40})
	}
	r.PortsOfInterest = []string{locode}
	for range g.rng.IntN(3) {
		if l := pick(g.rng, euPortsOfInterest); l != locode {
			r.PortsOfInterest = append(r.PortsOfInterest, l)
		}
	}
	r.Indicators = g.indicators(p, hs, route)

	if mode == sea || mode == rail {
		r.Conveyance = g.conveyance(mode, route.CountryOfDeparture)
		if !warning {
			// Trend alerts name the means of transport, not one consignment.
			r.Conveyance.ImoNumber, r.Conveyance.ContainerNumbers, r.Conveyance.TransportDocuments = "", nil, nil
		}
	}
	if warning {
		r.Shipments = g.shipments(mode, issued)
	}
	if g.rng.IntN(2) == 0 {
		r.FeedbackRequired = true
		r.FeedbackDue = timestamppb.New(issued.Add(14 * day))
	}
	if g.rng.IntN(10) < 3 {
		r.EvidenceLinks = []string{"https://evidence.cix.example/" + id + "/image-" + strconv.Itoa(1+g.rng.IntN(9)) + ".png"}
	}
	return r
}

func (g *Generator) indicators(p *profile, hs string, route *alertv1.Route) []*alertv1.Indicator {
	var out []*alertv1.Indicator
	add := func(in *alertv1.Indicator) { out = append(out, in) }
	add(&alertv1.Indicator{
		Indicator:   &alertv1.Indicator_HsCode{HsCode: hs[:4]},
		Description: "Declared heading of the targeted goods",
	})
	if g.rng.IntN(2) == 0 {
		add(&alertv1.Indicator{
			Indicator: &alertv1.Indicator_Route{Route: &alertv1.Route{
				CountryOfOrigin:      route.CountryOfOrigin,
				TransitCountries:     slices.Clone(route.TransitCountries),
				CountryOfDestination: route.CountryOfDestination,
			}},
			Description: "Route seen in recent seizures",
		})
	}
	if g.rng.IntN(3) == 0 {
		add(&alertv1.Indicator{
			Indicator:   &alertv1.Indicator_ContainerPrefix{ContainerPrefix: pick(g.rng, ownerCodes)},
			Description: "Containers of this owner were used repeatedly",
		})
	}
	if g.rng.IntN(4) == 0 {
		add(&alertv1.Indicator{
			Indicator:   &alertv1.Indicator_Shipper{Shipper: pick(g.rng, companyNames)},
			Description: "Newly created shipper with no trading history",
		})
	}
	if p.group == alertv1.CommodityGroup_COMMODITY_GROUP_REVENUE {
		add(&alertv1.Indicator{
			Indicator: &alertv1.Indicator_ValueThreshold{ValueThreshold: &alertv1.ValueThreshold{
				Below:   &alertv1.Money{Currency: "EUR", Amount: strconv.FormatFloat(p.price.min*(2+3*g.rng.Float64()), 'f', 2, 64)},
				PerUnit: p.unit,
			}},
			Description: "Declared unit value far below the market price",
		})
	}
	return out
}

func (g *Generator) shipments(mode alertv1.TransportMode, issued time.Time) []*alertv1.ShipmentIdentifier {
	var out []*alertv1.ShipmentIdentifier
	for range 1 + g.rng.IntN(3) {
		s := &alertv1.ShipmentIdentifier{
			Eta: timestamppb.New(issued.Add(time.Duration(2*24+g.rng.IntN(18*24)) * time.Hour).Truncate(time.Hour)),
		}
		switch mode {
		case sea, rail:
			owner := pick(g.rng, ownerCodes)
			s.ContainerNumber = g.containerNumber(owner)
			s.BillOfLading = owner[:3] + "U" + g.digits(8)
		case airPax, airCgo:
			s.FlightNumber = pick(g.rng, airlines) + strconv.Itoa(100+g.rng.IntN(1900))
			if mode == airCgo {
				s.AirWaybill = g.airWaybill()
			}
		default: // express courier
			s.AirWaybill = g.airWaybill()
		}
		out = append(out, s)
	}
	return out
}
