package index

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	searchv1 "github.com/cix-exchange/cix/internal/gen/cix/search/v1"
	"github.com/cix-exchange/cix/internal/node"
	"github.com/cix-exchange/cix/internal/synth"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// oracle computes, without SQL, what the index should return: chains by supersedes,
// groups by chain and seizure key, the latest version of each chain.
type oracle struct {
	alerts  []*alertv1.Alert // alerts[i] is at feed position i+1
	parent  []int            // union-find over positions
	current map[int]bool     // latest version of its chain
}

func newOracle(as []*alertv1.Alert) *oracle {
	o := &oracle{alerts: as, parent: make([]int, len(as)+1), current: map[int]bool{}}
	for i := range o.parent {
		o.parent[i] = i
	}
	byID, byKey := map[string]int{}, map[string]int{}
	chain := make([]int, len(as)+1) // chain root by position
	for i, a := range as {
		byID[a.GetId()] = i + 1
		chain[i+1] = i + 1
	}
	var root func(p []int, x int) int
	root = func(p []int, x int) int {
		for p[x] != x {
			x = p[x]
		}
		return x
	}
	for i, a := range as {
		pos := i + 1
		if s, ok := byID[a.GetSupersedes()]; ok {
			chain[root(chain, pos)] = root(chain, s)
			o.parent[root(o.parent, pos)] = root(o.parent, s)
		}
		if k := SeizureKey(a); k != nil {
			if q, ok := byKey[string(k)]; ok {
				o.parent[root(o.parent, pos)] = root(o.parent, q)
			} else {
				byKey[string(k)] = pos
			}
		}
	}
	latest := map[int]int{}
	for pos := 1; pos <= len(as); pos++ {
		c := root(chain, pos)
		if l, ok := latest[c]; !ok || as[pos-1].GetVersion() >= as[l-1].GetVersion() {
			latest[c] = pos
		}
	}
	for _, pos := range latest {
		o.current[pos] = true
	}
	for pos := range o.parent {
		o.parent[pos] = root(o.parent, pos)
	}
	return o
}

// groups returns the first position of each group with a current alert matching p,
// newest first: the order of a default search.
func (o *oracle) groups(p func(*alertv1.Alert) bool) []int {
	first := map[int]int{} // group root -> smallest position
	for pos := 1; pos < len(o.parent); pos++ {
		r := o.parent[pos]
		if f, ok := first[r]; !ok || pos < f {
			first[r] = pos
		}
	}
	seen := map[int]bool{}
	var out []int
	for pos := range o.current {
		if p(o.alerts[pos-1]) && !seen[o.parent[pos]] {
			seen[o.parent[pos]] = true
			out = append(out, first[o.parent[pos]])
		}
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

// firstPosition is the group of a result: the smallest feed position in its history.
func firstPosition(t testing.TB, r *searchv1.SearchResult) int {
	first := 0
	for _, v := range r.GetHistory() {
		c, err := node.ParseCursor(v.GetCursor())
		if err != nil {
			t.Fatal(err)
		}
		if first == 0 || int(c) < first {
			first = int(c)
		}
	}
	return first
}

func words(a *alertv1.Alert) map[string]bool {
	out := map[string]bool{}
	for _, t := range texts(a) {
		for _, w := range strings.FieldsFunc(strings.ToLower(t), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			out[w] = true
		}
	}
	return out
}

func seizure(a *alertv1.Alert) *alertv1.SeizureAlert { return a.GetSeizure() }

// TestSearch100k indexes 100,000 generated alerts of three origins and checks every
// filter, full text and statistics against the oracle, then pages through a selection
// while new alerts (amendments, repeats of old seizures, new reports) keep arriving.
func TestSearch100k(t *testing.T) {
	const n = 100_000
	start := time.Now()
	gen := []*synth.Generator{synth.New(1, "NL"), synth.New(2, "BE"), synth.New(3, "DE")}
	as := make([]*alertv1.Alert, n)
	for i := range as {
		as[i] = gen[i%3].Next()
	}
	x := openTest(t)
	load(t, x, 0, as, 5000)
	t.Logf("indexed %d alerts in %v", n, time.Since(start).Round(time.Millisecond))
	o := newOracle(as)

	// Values that exist in the corpus, so that every filter selects something.
	sample := as[4242]
	var container, imo, company, location string
	for _, a := range as[100:] {
		s := a.GetSeizure()
		if container == "" && len(s.GetConveyance().GetContainerNumbers()) > 0 {
			container = s.GetConveyance().GetContainerNumbers()[0]
		}
		if imo == "" && s.GetConveyance().GetImoNumber() != "" {
			imo = s.GetConveyance().GetImoNumber()
		}
		if company == "" && len(s.GetCompanies()) > 0 {
			company = s.GetCompanies()[0].GetName()
		}
		if location == "" && s.GetLocation() != "" {
			location = s.GetLocation()
		}
	}
	issuedFrom, issuedTo := synth.BaseTime.Add(20000*synth.Step), synth.BaseTime.Add(30000*synth.Step)
	seizedFrom, seizedTo := synth.BaseTime.Add(20000*synth.Step), synth.BaseTime.Add(21000*synth.Step)
	hs := alert.HSCodes(sample)[0][:4]
	cases := []struct {
		name  string
		sel   *searchv1.Selection
		match func(*alertv1.Alert) bool
	}{
		{"everything", nil, func(*alertv1.Alert) bool { return true }},
		{"kind", &searchv1.Selection{Filter: &nodev1.Filter{Kinds: []alertv1.AlertKind{alertv1.AlertKind_ALERT_KIND_RISK}}},
			func(a *alertv1.Alert) bool { return a.GetRisk() != nil }},
		{"origin", &searchv1.Selection{Filter: &nodev1.Filter{Origins: []string{"be"}}},
			func(a *alertv1.Alert) bool { return a.GetOrigin().GetAdministration() == "BE" }},
		{"hs prefix", &searchv1.Selection{Filter: &nodev1.Filter{HsPrefixes: []string{hs}}},
			func(a *alertv1.Alert) bool {
				return slices.ContainsFunc(alert.HSCodes(a), func(c string) bool { return strings.HasPrefix(c, hs) })
			}},
		{"commodity", &searchv1.Selection{Filter: &nodev1.Filter{CommodityGroups: []alertv1.CommodityGroup{alertv1.CommodityGroup_COMMODITY_GROUP_CULTURAL_HERITAGE}}},
			func(a *alertv1.Alert) bool {
				return slices.Contains(alert.CommodityGroups(a), alertv1.CommodityGroup_COMMODITY_GROUP_CULTURAL_HERITAGE)
			}},
		{"route country", &searchv1.Selection{Filter: &nodev1.Filter{RouteCountries: []string{"EC", "PY"}}},
			func(a *alertv1.Alert) bool {
				return slices.ContainsFunc(alert.RouteCountries(a), func(c string) bool { return c == "EC" || c == "PY" })
			}},
		{"tlp", &searchv1.Selection{Filter: &nodev1.Filter{Tlps: []alertv1.Tlp{alertv1.Tlp_TLP_RED}}},
			func(a *alertv1.Alert) bool { return a.GetHandling().GetTlp() == alertv1.Tlp_TLP_RED }},
		{"issued", &searchv1.Selection{Filter: &nodev1.Filter{IssuedAfter: timestamppb.New(issuedFrom), IssuedBefore: timestamppb.New(issuedTo)}},
			func(a *alertv1.Alert) bool {
				t := a.GetIssuedAt().AsTime()
				return !t.Before(issuedFrom) && t.Before(issuedTo)
			}},
		{"seized", &searchv1.Selection{SeizedAfter: timestamppb.New(seizedFrom), SeizedBefore: timestamppb.New(seizedTo)},
			func(a *alertv1.Alert) bool {
				t := seizure(a).GetSeizedAt()
				return t != nil && !t.AsTime().Before(seizedFrom) && t.AsTime().Before(seizedTo)
			}},
		{"transport mode", &searchv1.Selection{TransportModes: []alertv1.TransportMode{alertv1.TransportMode_TRANSPORT_MODE_RAIL}},
			func(a *alertv1.Alert) bool { return transportMode(a) == alertv1.TransportMode_TRANSPORT_MODE_RAIL }},
		{"container", &searchv1.Selection{ContainerNumbers: []string{strings.ToLower(container)}},
			func(a *alertv1.Alert) bool { return slices.Contains(alert.ContainerNumbers(a), container) }},
		{"imo", &searchv1.Selection{ImoNumbers: []string{"IMO " + imo}},
			func(a *alertv1.Alert) bool {
				return seizure(a).GetConveyance().GetImoNumber() == imo || a.GetRisk().GetConveyance().GetImoNumber() == imo
			}},
		{"company", &searchv1.Selection{Companies: []string{strings.ToUpper(company[:len(company)-2])}},
			func(a *alertv1.Alert) bool {
				p := strings.ToLower(company[:len(company)-2])
				for _, c := range seizure(a).GetCompanies() {
					if strings.HasPrefix(strings.ToLower(c.GetName()), p) {
						return true
					}
				}
				for _, in := range a.GetRisk().GetIndicators() {
					if strings.HasPrefix(strings.ToLower(in.GetShipper()), p) || strings.HasPrefix(strings.ToLower(in.GetConsignee()), p) {
						return true
					}
				}
				return false
			}},
		{"risk status", &searchv1.Selection{RiskStatuses: []alertv1.RiskAlertStatus{alertv1.RiskAlertStatus_RISK_ALERT_STATUS_ACTIVE}},
			func(a *alertv1.Alert) bool {
				return a.GetRisk().GetStatus() == alertv1.RiskAlertStatus_RISK_ALERT_STATUS_ACTIVE
			}},
		{"investigation status", &searchv1.Selection{InvestigationStatuses: []alertv1.InvestigationStatus{alertv1.InvestigationStatus_INVESTIGATION_STATUS_CLOSED}},
			func(a *alertv1.Alert) bool {
				return seizure(a).GetFollowUp().GetInvestigationStatus() == alertv1.InvestigationStatus_INVESTIGATION_STATUS_CLOSED
			}},
		{"location", &searchv1.Selection{Locations: []string{location}},
			func(a *alertv1.Alert) bool {
				return seizure(a).GetLocation() == location || slices.Contains(mainRoute(a).GetPlaces(), location) ||
					slices.Contains(a.GetRisk().GetPortsOfInterest(), location)
			}},
		{"text", &searchv1.Selection{Text: "cannabis"},
			func(a *alertv1.Alert) bool { return words(a)["cannabis"] }},
		{"text and filters", &searchv1.Selection{Text: "cocaine OR heroin", Filter: &nodev1.Filter{Origins: []string{"DE"}}},
			func(a *alertv1.Alert) bool {
				w := words(a)
				return (w["cocaine"] || w["heroin"]) && a.GetOrigin().GetAdministration() == "DE"
			}},
		{"text prefix", &searchv1.Selection{Text: "cigar*"},
			func(a *alertv1.Alert) bool {
				for w := range words(a) {
					if strings.HasPrefix(w, "cigar") {
						return true
					}
				}
				return false
			}},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := o.groups(c.match)
			if len(want) == 0 {
				t.Fatal("the oracle selects nothing: pick another value")
			}
			st, err := x.Statistics(ctx, &searchv1.StatisticsRequest{Selection: c.sel, By: []searchv1.Dimension{searchv1.Dimension_DIMENSION_ORIGIN}})
			if err != nil {
				t.Fatal(err)
			}
			if st.GetTotal() != uint64(len(want)) {
				t.Fatalf("statistics total %d, want %d", st.GetTotal(), len(want))
			}
			res := search(t, x, &searchv1.SearchRequest{Selection: c.sel, PageSize: 100})
			if len(want) > 100 && res.GetNextPageToken() == "" {
				t.Fatal("no next page token")
			}
			var got []int
			for _, r := range res.GetResults() {
				got = append(got, firstPosition(t, r))
				if !c.match(r.GetAlert().GetAlert()) {
					t.Errorf("result %s does not match", r.GetAlert().GetAlert().GetId())
				}
			}
			if !slices.Equal(got, want[:min(100, len(want))]) {
				t.Fatalf("first page groups\n got %v\nwant %v", got, want[:min(100, len(want))])
			}
		})
	}

	t.Run("pages stable while alerts arrive", func(t *testing.T) {
		sel := &searchv1.Selection{Filter: &nodev1.Filter{Origins: []string{"BE"}, Kinds: []alertv1.AlertKind{alertv1.AlertKind_ALERT_KIND_SEIZURE}}}
		match := func(a *alertv1.Alert) bool { return a.GetOrigin().GetAdministration() == "BE" && a.GetSeizure() != nil }
		want := o.groups(match)
		var got []int
		token := ""
		next := uint64(n)
		for page := 0; ; page++ {
			res := search(t, x, &searchv1.SearchRequest{Selection: sel, PageSize: 1000, PageToken: token})
			for _, r := range res.GetResults() {
				got = append(got, firstPosition(t, r))
			}
			if token = res.GetNextPageToken(); token == "" {
				break
			}
			// Between pages: new reports, amendments and a BE seizure sent again under a
			// new id (same seizure key) of a group on a later page.
			more := make([]*alertv1.Alert, 0, 301)
			for i := range 300 {
				more = append(more, gen[i%3].Next())
			}
			if old := as[len(as)-1-page*3000]; old.GetSeizure() != nil {
				again := cloneAlert(old)
				again.Id = synth.New(int64(1000+page), "BE").Next().GetId()
				more = append(more, again)
			}
			load(t, x, next, more, len(more))
			next += uint64(len(more))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("paged %d groups, want the %d of the first page's order (first difference at %d)", len(got), len(want), firstDiff(got, want))
		}
	})
}

func firstDiff(a, b []int) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
