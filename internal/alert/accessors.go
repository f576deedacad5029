package alert

import (
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
)

// The accessors below collect the values subscription filters match on. Each returns
// the distinct non-empty values in the order they first appear in the alert, or nil,
// and accepts a nil or bodiless alert.

// HSCodes returns the HS codes of an alert: those of the goods of a seizure, or the HS
// codes and HS code indicators of a risk alert (which may be prefixes).
func HSCodes(a *alertv1.Alert) []string {
	var d dedup[string]
	for _, g := range a.GetSeizure().GetGoods() {
		d.add(g.GetHsCode())
	}
	r := a.GetRisk()
	for _, c := range r.GetHsCodes() {
		d.add(c)
	}
	for _, in := range r.GetIndicators() {
		d.add(in.GetHsCode())
	}
	return d.list
}

// CommodityGroups returns the commodity groups of an alert: those of the goods of a
// seizure or those of a risk alert. COMMODITY_GROUP_UNSPECIFIED is left out.
func CommodityGroups(a *alertv1.Alert) []alertv1.CommodityGroup {
	var d dedup[alertv1.CommodityGroup]
	for _, g := range a.GetSeizure().GetGoods() {
		d.add(g.GetCommodityGroup())
	}
	for _, g := range a.GetRisk().GetCommodityGroups() {
		d.add(g)
	}
	return d.list
}

// RouteCountries returns the countries of the route of an alert (origin, departure,
// transit and destination), including the routes of a risk alert's route indicators.
func RouteCountries(a *alertv1.Alert) []string {
	var d dedup[string]
	addRoute := func(r *alertv1.Route) {
		d.add(r.GetCountryOfOrigin())
		d.add(r.GetCountryOfDeparture())
		for _, c := range r.GetTransitCountries() {
			d.add(c)
		}
		d.add(r.GetCountryOfDestination())
	}
	addRoute(a.GetSeizure().GetRoute())
	r := a.GetRisk()
	addRoute(r.GetRoute())
	for _, in := range r.GetIndicators() {
		addRoute(in.GetRoute())
	}
	return d.list
}

// ContainerNumbers returns the container numbers of an alert: those of the conveyance,
// and for a risk alert also those of the shipments to look for.
func ContainerNumbers(a *alertv1.Alert) []string {
	var d dedup[string]
	for _, n := range a.GetSeizure().GetConveyance().GetContainerNumbers() {
		d.add(n)
	}
	r := a.GetRisk()
	for _, n := range r.GetConveyance().GetContainerNumbers() {
		d.add(n)
	}
	for _, s := range r.GetShipments() {
		d.add(s.GetContainerNumber())
	}
	return d.list
}

// dedup collects distinct non-zero values in order.
type dedup[T comparable] struct {
	list []T
	seen map[T]struct{}
}

func (d *dedup[T]) add(v T) {
	var zero T
	if v == zero {
		return
	}
	if _, ok := d.seen[v]; ok {
		return
	}
	if d.seen == nil {
		d.seen = make(map[T]struct{})
	}
	d.seen[v] = struct{}{}
	d.list = append(d.list, v)
}
