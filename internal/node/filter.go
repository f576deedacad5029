package node

import (
	"fmt"
	"strings"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
)

// maxFilterValues bounds each repeated filter field.
const maxFilterValues = 256

// Filter is a compiled, validated subscription filter.
type Filter struct {
	kinds       map[alertv1.AlertKind]bool
	origins     map[string]bool
	hsPrefixes  []string
	commodities map[alertv1.CommodityGroup]bool
	countries   map[string]bool
	tlps        map[alertv1.Tlp]bool
	after       time.Time
	before      time.Time
}

// CompileFilter validates f and compiles it. A nil f matches everything.
func CompileFilter(f *nodev1.Filter) (*Filter, error) {
	c := &Filter{}
	var vs []alert.FieldViolation
	bad := func(field, format string, args ...any) {
		vs = append(vs, alert.FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
	}
	tooMany := func(field string, n int) bool {
		if n > maxFilterValues {
			bad(field, "at most %d values", maxFilterValues)
			return true
		}
		return false
	}
	if !tooMany("filter.kinds", len(f.GetKinds())) {
		for i, k := range f.GetKinds() {
			if _, ok := alertv1.AlertKind_name[int32(k)]; !ok || k == alertv1.AlertKind_ALERT_KIND_UNSPECIFIED {
				bad(fmt.Sprintf("filter.kinds[%d]", i), "unknown alert kind %d", k)
				continue
			}
			c.kinds = set(c.kinds, k)
		}
	}
	if !tooMany("filter.origins", len(f.GetOrigins())) {
		for i, o := range f.GetOrigins() {
			o = strings.ToUpper(strings.TrimSpace(o))
			if !alert.ValidCountry(o) {
				bad(fmt.Sprintf("filter.origins[%d]", i), "%q is not an ISO 3166-1 alpha-2 code", o)
				continue
			}
			c.origins = set(c.origins, o)
		}
	}
	if !tooMany("filter.hs_prefixes", len(f.GetHsPrefixes())) {
		for i, p := range f.GetHsPrefixes() {
			p = strings.ReplaceAll(strings.TrimSpace(p), ".", "")
			if !alert.ValidHSPrefix(p) {
				bad(fmt.Sprintf("filter.hs_prefixes[%d]", i), "%q is not an HS code prefix of 1 to 10 digits", p)
				continue
			}
			c.hsPrefixes = append(c.hsPrefixes, p)
		}
	}
	if !tooMany("filter.commodity_groups", len(f.GetCommodityGroups())) {
		for i, g := range f.GetCommodityGroups() {
			if _, ok := alertv1.CommodityGroup_name[int32(g)]; !ok || g == alertv1.CommodityGroup_COMMODITY_GROUP_UNSPECIFIED {
				bad(fmt.Sprintf("filter.commodity_groups[%d]", i), "unknown commodity group %d", g)
				continue
			}
			c.commodities = set(c.commodities, g)
		}
	}
	if !tooMany("filter.route_countries", len(f.GetRouteCountries())) {
		for i, o := range f.GetRouteCountries() {
			o = strings.ToUpper(strings.TrimSpace(o))
			if !alert.ValidCountry(o) {
				bad(fmt.Sprintf("filter.route_countries[%d]", i), "%q is not an ISO 3166-1 alpha-2 code", o)
				continue
			}
			c.countries = set(c.countries, o)
		}
	}
	if !tooMany("filter.tlps", len(f.GetTlps())) {
		for i, t := range f.GetTlps() {
			if _, ok := alertv1.Tlp_name[int32(t)]; !ok || t == alertv1.Tlp_TLP_UNSPECIFIED {
				bad(fmt.Sprintf("filter.tlps[%d]", i), "unknown TLP %d", t)
				continue
			}
			c.tlps = set(c.tlps, t)
		}
	}
	if ts := f.GetIssuedAfter(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			bad("filter.issued_after", "%v", err)
		}
		c.after = ts.AsTime()
	}
	if ts := f.GetIssuedBefore(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			bad("filter.issued_before", "%v", err)
		}
		c.before = ts.AsTime()
	}
	if !c.after.IsZero() && !c.before.IsZero() && !c.before.After(c.after) {
		bad("filter.issued_before", "must be after issued_after")
	}
	if len(vs) > 0 {
		return nil, &alert.ValidationError{Subject: "filter", Violations: vs}
	}
	return c, nil
}

func set[K comparable](m map[K]bool, k K) map[K]bool {
	if m == nil {
		m = map[K]bool{}
	}
	m[k] = true
	return m
}

// Match reports whether a passes the filter.
func (c *Filter) Match(a *alertv1.Alert) bool {
	if c.tlps != nil && !c.tlps[a.GetHandling().GetTlp()] {
		return false
	}
	return c.MatchExceptTLP(a)
}

// MatchExceptTLP reports whether a passes the filter's criteria other than TLP labels.
func (c *Filter) MatchExceptTLP(a *alertv1.Alert) bool {
	if c.kinds != nil && !c.kinds[alert.Kind(a)] {
		return false
	}
	if c.origins != nil && !c.origins[a.GetOrigin().GetAdministration()] {
		return false
	}
	if !c.after.IsZero() || !c.before.IsZero() {
		t := a.GetIssuedAt().AsTime()
		if (!c.after.IsZero() && t.Before(c.after)) || (!c.before.IsZero() && !t.Before(c.before)) {
			return false
		}
	}
	if c.commodities != nil && !anyIn(alert.CommodityGroups(a), c.commodities) {
		return false
	}
	if c.countries != nil && !anyIn(alert.RouteCountries(a), c.countries) {
		return false
	}
	if c.hsPrefixes != nil && !c.matchHS(alert.HSCodes(a)) {
		return false
	}
	return true
}

func anyIn[K comparable](vals []K, m map[K]bool) bool {
	for _, v := range vals {
		if m[v] {
			return true
		}
	}
	return false
}

func (c *Filter) matchHS(codes []string) bool {
	for _, code := range codes {
		for _, p := range c.hsPrefixes {
			if strings.HasPrefix(code, p) {
				return true
			}
		}
	}
	return false
}
