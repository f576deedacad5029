package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// filterFlags are the flags ParseFilter takes, with their help.
var filterFlags = []struct{ name, help string }{
	{"kind", "alert kinds: seizure, risk"},
	{"origin", "origin administrations (ISO 3166-1 alpha-2), e.g. NL,BE"},
	{"hs", "HS code prefixes (1 to 10 digits), e.g. 2203,0303"},
	{"commodity", "commodity groups: " + strings.Join(commodityNames(), ", ")},
	{"route", "countries anywhere on the route (ISO 3166-1 alpha-2), e.g. CO,EC"},
	{"tlp", "TLP labels: clear, green, amber, amber+strict, red"},
	{"since", "issued at or after: an RFC 3339 time, a date, or a duration ago such as 24h"},
	{"until", "issued before: an RFC 3339 time, a date, or a duration ago such as 1h"},
}

func isFilterFlag(name string) bool {
	for _, f := range filterFlags {
		if f.name == name {
			return true
		}
	}
	return false
}

// commodityNames returns the lower-case names of the commodity groups.
func commodityNames() []string {
	return enumNames(alertv1.CommodityGroup_name, "COMMODITY_GROUP_")
}

// ParseFilter takes the alert filter flags out of args and returns the filter they
// describe and the other arguments, in order. The flags are --kind, --origin, --hs,
// --commodity, --route, --tlp, --since and --until (also with one dash, and as
// --flag=value); each may be repeated and takes comma-separated values, which are
// alternatives. Repeated --since or --until values all apply: the latest --since and
// the earliest --until win. Arguments after "--" are left alone.
//
// Values are checked as the node checks them, so that a mistake is reported before
// anything is sent.
func ParseFilter(args []string) (*nodev1.Filter, []string, error) {
	return parseFilter(args, time.Now())
}

func parseFilter(args []string, now time.Time) (*nodev1.Filter, []string, error) {
	f := &nodev1.Filter{}
	var rest []string
	var since, until time.Time
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, val, hasVal := splitFlag(a)
		if !isFilterFlag(name) {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 == len(args) {
				return nil, nil, fmt.Errorf("flag needs a value: --%s", name)
			}
			i++
			val = args[i]
		}
		var err error
		switch name {
		case "since", "until":
			var t time.Time
			if t, err = parseWhen(val, now); err == nil {
				if name == "since" && (since.IsZero() || t.After(since)) {
					since = t
				}
				if name == "until" && (until.IsZero() || t.Before(until)) {
					until = t
				}
			}
		default:
			err = addFilterValues(f, name, val)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("--%s: %w", name, err)
		}
	}
	if !since.IsZero() {
		f.IssuedAfter = timestamppb.New(since)
	}
	if !until.IsZero() {
		f.IssuedBefore = timestamppb.New(until)
	}
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		return nil, nil, fmt.Errorf("--until %s is not after --since %s", until.Format(time.RFC3339), since.Format(time.RFC3339))
	}
	return f, rest, nil
}

// splitFlag splits "-name", "--name" or "--name=value". name is empty when a is not a
// flag.
func splitFlag(a string) (name, val string, hasVal bool) {
	switch {
	case strings.HasPrefix(a, "--"):
		a = a[2:]
	case strings.HasPrefix(a, "-"):
		a = a[1:]
	default:
		return "", "", false
	}
	name, val, hasVal = strings.Cut(a, "=")
	return name, val, hasVal
}

// addFilterValues adds the comma-separated values of one filter flag to f.
func addFilterValues(f *nodev1.Filter, name, list string) error {
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			return fmt.Errorf("empty value in %q", list)
		}
		switch name {
		case "kind":
			k, ok := alert.ParseKind(strings.ToLower(v))
			if !ok {
				return fmt.Errorf("unknown alert kind %q (want seizure or risk)", v)
			}
			f.Kinds = appendNew(f.Kinds, k)
		case "origin", "route":
			c := strings.ToUpper(v)
			if !alert.ValidCountry(c) {
				return fmt.Errorf("%q is not an ISO 3166-1 alpha-2 country code", v)
			}
			if name == "origin" {
				f.Origins = appendNew(f.Origins, c)
			} else {
				f.RouteCountries = appendNew(f.RouteCountries, c)
			}
		case "hs":
			p := strings.ReplaceAll(v, ".", "")
			if !alert.ValidHSPrefix(p) {
				return fmt.Errorf("%q is not an HS code prefix of 1 to 10 digits", v)
			}
			f.HsPrefixes = appendNew(f.HsPrefixes, p)
		case "commodity":
			n := "COMMODITY_GROUP_" + strings.ToUpper(strings.ReplaceAll(v, "-", "_"))
			g, ok := alertv1.CommodityGroup_value[n]
			if !ok || g == 0 {
				return fmt.Errorf("unknown commodity group %q (want one of %s)", v, strings.Join(commodityNames(), ", "))
			}
			f.CommodityGroups = appendNew(f.CommodityGroups, alertv1.CommodityGroup(g))
		case "tlp":
			t, ok := parseTLP(v)
			if !ok {
				return fmt.Errorf("unknown TLP label %q (want clear, green, amber, amber+strict or red)", v)
			}
			f.Tlps = appendNew(f.Tlps, t)
		}
	}
	return nil
}

func appendNew[T comparable](s []T, v T) []T {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// parseTLP accepts "amber+strict", "AMBER_STRICT", "tlp:amber-strict" and the like.
func parseTLP(s string) (alertv1.Tlp, bool) {
	s = strings.ToLower(s)
	s = strings.TrimPrefix(s, "tlp:")
	s = strings.TrimPrefix(s, "tlp_")
	switch strings.NewReplacer("+", "_", "-", "_").Replace(s) {
	case "clear":
		return alertv1.Tlp_TLP_CLEAR, true
	case "green":
		return alertv1.Tlp_TLP_GREEN, true
	case "amber":
		return alertv1.Tlp_TLP_AMBER, true
	case "amber_strict":
		return alertv1.Tlp_TLP_AMBER_STRICT, true
	case "red":
		return alertv1.Tlp_TLP_RED, true
	}
	return 0, false
}

// parseWhen reads an RFC 3339 time, a date (midnight UTC) or a non-negative Go
// duration meaning that long before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	var t time.Time
	var err error
	if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
		if t, err = time.Parse("2006-01-02", s); err != nil {
			d, derr := time.ParseDuration(s)
			if derr != nil {
				return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time, a date or a duration such as 24h", s)
			}
			if d < 0 {
				return time.Time{}, errors.New("a duration means that long ago: it must not be negative")
			}
			t = now.Add(-d)
		}
	}
	if err := timestamppb.New(t).CheckValid(); err != nil {
		return time.Time{}, fmt.Errorf("%q is out of range", s)
	}
	return t, nil
}

// filterArgs renders f as filter flags, so that ParseFilter(filterArgs(f)) describes
// the same filter. Times are absolute.
func filterArgs(f *nodev1.Filter) []string {
	var out []string
	add := func(name string, vals []string) {
		if len(vals) > 0 {
			out = append(out, "--"+name, strings.Join(vals, ","))
		}
	}
	var ks, cs, ts []string
	for _, k := range f.GetKinds() {
		ks = append(ks, alert.KindName(k))
	}
	for _, c := range f.GetCommodityGroups() {
		cs = append(cs, commodityName(c))
	}
	for _, t := range f.GetTlps() {
		ts = append(ts, strings.ToLower(tlpName(t)))
	}
	add("kind", ks)
	add("origin", f.GetOrigins())
	add("hs", f.GetHsPrefixes())
	add("commodity", cs)
	add("route", f.GetRouteCountries())
	add("tlp", ts)
	if t := f.GetIssuedAfter(); t != nil {
		out = append(out, "--since", t.AsTime().UTC().Format(time.RFC3339Nano))
	}
	if t := f.GetIssuedBefore(); t != nil {
		out = append(out, "--until", t.AsTime().UTC().Format(time.RFC3339Nano))
	}
	return out
}
