package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/node"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var filterNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func TestParseFilter(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want *nodev1.Filter
		rest []string
		err  string
	}{
		{name: "none", args: nil, want: &nodev1.Filter{}},
		{name: "others pass through", args: []string{"--json", "--cursor", "12", "x"}, want: &nodev1.Filter{}, rest: []string{"--json", "--cursor", "12", "x"}},
		{name: "kinds", args: []string{"--kind", "seizure,risk"}, want: &nodev1.Filter{Kinds: []alertv1.AlertKind{alertv1.AlertKind_ALERT_KIND_SEIZURE, alertv1.AlertKind_ALERT_KIND_RISK}}},
		{name: "repeated and deduplicated", args: []string{"-kind=risk", "--json", "--kind", "Risk", "--kind=seizure"},
			want: &nodev1.Filter{Kinds: []alertv1.AlertKind{alertv1.AlertKind_ALERT_KIND_RISK, alertv1.AlertKind_ALERT_KIND_SEIZURE}}, rest: []string{"--json"}},
		{name: "origins upper-cased", args: []string{"--origin", "nl, be"}, want: &nodev1.Filter{Origins: []string{"NL", "BE"}}},
		{name: "hs prefixes", args: []string{"--hs", "2203,0303", "--hs=2402.20"}, want: &nodev1.Filter{HsPrefixes: []string{"2203", "0303", "240220"}}},
		{name: "commodities with hyphens", args: []string{"--commodity", "drugs,ipr-health-safety,TOBACCO"},
			want: &nodev1.Filter{CommodityGroups: []alertv1.CommodityGroup{alertv1.CommodityGroup_COMMODITY_GROUP_DRUGS,
				alertv1.CommodityGroup_COMMODITY_GROUP_IPR_HEALTH_SAFETY, alertv1.CommodityGroup_COMMODITY_GROUP_TOBACCO}}},
		{name: "route", args: []string{"--route", "CO,EC"}, want: &nodev1.Filter{RouteCountries: []string{"CO", "EC"}}},
		{name: "tlps", args: []string{"--tlp", "clear,green,amber,amber+strict,red", "--tlp", "TLP:AMBER_STRICT"},
			want: &nodev1.Filter{Tlps: []alertv1.Tlp{alertv1.Tlp_TLP_CLEAR, alertv1.Tlp_TLP_GREEN, alertv1.Tlp_TLP_AMBER, alertv1.Tlp_TLP_AMBER_STRICT, alertv1.Tlp_TLP_RED}}},
		{name: "since duration, until time", args: []string{"--since", "24h", "--until=2026-11-27T11:00:00+01:00"},
			want: &nodev1.Filter{IssuedAfter: ts(filterNow.Add(-24 * time.Hour)), IssuedBefore: ts(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))}},
		{name: "since date", args: []string{"--since", "2026-01-01"}, want: &nodev1.Filter{IssuedAfter: ts(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}},
		{name: "repeated since and until narrow", args: []string{"--since", "48h", "--since", "1h", "--until", "10m", "--until", "30m"},
			want: &nodev1.Filter{IssuedAfter: ts(filterNow.Add(-time.Hour)), IssuedBefore: ts(filterNow.Add(-30 * time.Minute))}},
		{name: "after --", args: []string{"--", "--kind", "risk"}, want: &nodev1.Filter{}, rest: []string{"--", "--kind", "risk"}},
		{name: "unknown kind", args: []string{"--kind", "seizures"}, err: `--kind: unknown alert kind "seizures"`},
		{name: "bad origin", args: []string{"--origin", "XX"}, err: `--origin: "XX" is not an ISO 3166-1 alpha-2`},
		{name: "bad hs", args: []string{"--hs", "12a"}, err: `--hs: "12a" is not an HS code prefix`},
		{name: "hs too long", args: []string{"--hs", "12345678901"}, err: `--hs: "12345678901"`},
		{name: "bad commodity", args: []string{"--commodity", "unspecified"}, err: `--commodity: unknown commodity group "unspecified"`},
		{name: "bad tlp", args: []string{"--tlp", "white"}, err: `--tlp: unknown TLP label "white"`},
		{name: "empty value", args: []string{"--route", "CO,,EC"}, err: `--route: empty value in "CO,,EC"`},
		{name: "missing value", args: []string{"--json", "--tlp"}, err: "flag needs a value: --tlp"},
		{name: "bad time", args: []string{"--since", "yesterday"}, err: `--since: "yesterday" is not an RFC 3339 time`},
		{name: "negative duration", args: []string{"--since=-1h"}, err: "--since: a duration means that long ago"},
		{name: "year 0", args: []string{"--until", "0000-01-01T00:00:00Z"}, err: "--until: \"0000-01-01T00:00:00Z\" is out of range"},
		{name: "until before since", args: []string{"--since", "1h", "--until", "2h"}, err: "is not after --since"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, rest, err := parseFilter(c.args, filterNow)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(f, c.want) {
				t.Errorf("filter %v, want %v", f, c.want)
			}
			if fmt.Sprint(rest) != fmt.Sprint(c.rest) {
				t.Errorf("rest %q, want %q", rest, c.rest)
			}
		})
	}
}

// checkFilter asserts what every filter ParseFilter accepts must satisfy: the node
// accepts it, it renders back to flags that parse to the same filter, and no filter
// flag is left in rest (before a "--").
func checkFilter(t *testing.T, args []string) {
	f, rest, err := parseFilter(args, filterNow)
	if err != nil {
		return
	}
	if _, err := node.CompileFilter(f); err != nil {
		t.Fatalf("args %q: the node refuses the filter %v: %v", args, f, err)
	}
	again, more, err := parseFilter(filterArgs(f), filterNow)
	if err != nil || len(more) > 0 || !proto.Equal(again, f) {
		t.Fatalf("args %q: %v renders as %q, which parses to %v, %q, %v", args, f, filterArgs(f), again, more, err)
	}
	for _, r := range rest {
		if r == "--" {
			break
		}
		if name, _, _ := splitFlag(r); isFilterFlag(name) {
			t.Fatalf("args %q: filter flag %q left in rest %q", args, r, rest)
		}
	}
}

// FuzzParseFilter feeds ParseFilter argument lists (one argument per line).
func FuzzParseFilter(f *testing.F) {
	for _, seed := range []string{
		"",
		"--kind\nseizure,risk\n--json",
		"-origin=NL,be\n--route\nCO, EC\n--hs\n2203,0303",
		"--commodity\nipr-health-safety,drugs\n--tlp\namber+strict",
		"--since\n24h\n--until\n2026-11-27T10:00:00Z",
		"--since=2026-01-01\n--since\n1h\n--until\n1m",
		"--\n--kind\nrisk",
		"--kind",
		"--hs=\n",
		"--tlp\nTLP:RED,tlp_green\n--cursor\n12\n--limit\n3",
		"--until\n9999-12-31T23:59:59.999999999Z\n--since\n2562047h",
		"---kind\nrisk\n-\n--=x",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var args []string
		if s != "" {
			args = strings.Split(s, "\n")
		}
		checkFilter(t, args)
	})
}

// TestFilterFlagsDocumented keeps the feed's help in step with ParseFilter.
func TestFilterFlagsDocumented(t *testing.T) {
	r := cix(t, "", "help", "feed").must(t, 0)
	for _, f := range filterFlags {
		if !strings.Contains(r.stdout, "  -"+f.name+" ") {
			t.Errorf("cix help feed does not list --%s", f.name)
		}
	}
}
