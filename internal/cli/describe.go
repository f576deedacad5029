package cli

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// prettyJSON renders m as protobuf JSON indented by two spaces, with stable spacing
// (protojson's own output varies on purpose).
func prettyJSON(m proto.Message) ([]byte, error) {
	b, err := protojson.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Short human-readable renderings of alert fields, shared by get, feed and demo.

// tlpName returns a TLP label as TLP 2.0 writes it: "AMBER+STRICT", "GREEN", ...
func tlpName(t alertv1.Tlp) string {
	switch t {
	case alertv1.Tlp_TLP_CLEAR:
		return "CLEAR"
	case alertv1.Tlp_TLP_GREEN:
		return "GREEN"
	case alertv1.Tlp_TLP_AMBER:
		return "AMBER"
	case alertv1.Tlp_TLP_AMBER_STRICT:
		return "AMBER+STRICT"
	case alertv1.Tlp_TLP_RED:
		return "RED"
	}
	return "-"
}

// enumShort returns the lower-case name of an enum value without its prefix, e.g.
// "ipr_health_safety" for COMMODITY_GROUP_IPR_HEALTH_SAFETY.
func enumShort(name, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(name, prefix))
}

// enumNames returns the short names (enumShort) of an enum's values but the zero one,
// sorted.
func enumNames(names map[int32]string, prefix string) []string {
	var out []string
	for v, n := range names {
		if v != 0 {
			out = append(out, enumShort(n, prefix))
		}
	}
	sort.Strings(out)
	return out
}

func commodityName(g alertv1.CommodityGroup) string {
	return enumShort(g.String(), "COMMODITY_GROUP_")
}

func kindName(a *alertv1.Alert) string {
	if k := alert.KindName(alert.Kind(a)); k != "" {
		return k
	}
	return "-"
}

// commodities returns the commodity groups of an alert: the first, and "+N" for more.
func commodities(a *alertv1.Alert) string {
	gs := alert.CommodityGroups(a)
	if len(gs) == 0 {
		return "-"
	}
	return commodityName(gs[0]) + more(len(gs))
}

// hsCodes returns the first HS code of an alert, and "+N" for more.
func hsCodes(a *alertv1.Alert) string {
	cs := alert.HSCodes(a)
	if len(cs) == 0 {
		return "-"
	}
	return cs[0] + more(len(cs))
}

func more(n int) string {
	if n <= 1 {
		return ""
	}
	return "+" + strconv.Itoa(n-1)
}

func route(a *alertv1.Alert) *alertv1.Route {
	if r := a.GetSeizure().GetRoute(); r != nil {
		return r
	}
	return a.GetRisk().GetRoute()
}

// routeCountries renders the route of an alert as countries, e.g. "CO>PA>NL".
func routeCountries(a *alertv1.Alert) string {
	r := route(a)
	parts := []string{r.GetCountryOfOrigin(), r.GetCountryOfDeparture()}
	parts = append(parts, r.GetTransitCountries()...)
	parts = append(parts, r.GetCountryOfDestination())
	return joinRoute(parts)
}

// routePlaces renders the route as UN/LOCODEs, e.g. "ECGYE>BEANR", falling back to
// countries when the alert names no places.
func routePlaces(a *alertv1.Alert) string {
	if ps := route(a).GetPlaces(); len(ps) > 0 {
		return joinRoute(ps)
	}
	return routeCountries(a)
}

// joinRoute joins the non-empty parts with ">", dropping consecutive repeats.
func joinRoute(parts []string) string {
	var out []string
	for _, p := range parts {
		if p != "" && (len(out) == 0 || out[len(out)-1] != p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ">")
}

// summary is one line about an alert: the first goods and quantity of a seizure
// ("cocaine 120 kg"), the title of a risk alert.
func summary(a *alertv1.Alert) string {
	if s := a.GetSeizure(); s != nil {
		gs := s.GetGoods()
		if len(gs) == 0 {
			return "seizure"
		}
		out := gs[0].GetDescription()
		q := gs[0].GetQuantityFound()
		if q == nil {
			q = gs[0].GetQuantityDeclared()
		}
		if q != nil && q.GetAmount() > 0 {
			out += " " + quantity(q)
		}
		if len(gs) > 1 {
			out += " (+" + strconv.Itoa(len(gs)-1) + " more goods)"
		}
		return out
	}
	if r := a.GetRisk(); r != nil {
		return r.GetTitle()
	}
	return "-"
}

func quantity(q *alertv1.Quantity) string {
	n := strconv.FormatFloat(q.GetAmount(), 'f', -1, 64)
	switch q.GetUnit() {
	case alertv1.QuantityUnit_QUANTITY_UNIT_KILOGRAM:
		return n + " kg"
	case alertv1.QuantityUnit_QUANTITY_UNIT_LITRE:
		return n + " l"
	case alertv1.QuantityUnit_QUANTITY_UNIT_PIECE:
		return n + " pcs"
	case alertv1.QuantityUnit_QUANTITY_UNIT_STICK:
		return n + " sticks"
	case alertv1.QuantityUnit_QUANTITY_UNIT_UNIT:
		return n + " units"
	}
	return n
}

// signerLine renders a signer as "NL/demo key 3fa2c1d0".
func signerLine(s *nodev1.Signer) string {
	return s.GetAdministration() + "/" + s.GetNode() + " key " + clip(s.GetKeyid(), 8, false)
}

// timeLine renders a time in UTC to the minute.
func timeLine(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") }

// clip shortens s to at most n characters, marking the cut with "…" when ellipsis is
// set. Control characters become spaces, so that a value cannot break a table.
func clip(s string, n int, ellipsis bool) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	rs := []rune(s)
	if ellipsis && n > 1 {
		return string(rs[:n-1]) + "…"
	}
	return string(rs[:n])
}

// pad clips s to n characters and pads it with spaces to exactly n.
func pad(s string, n int) string {
	s = clip(s, n, true)
	if c := utf8.RuneCountInString(s); c < n {
		s += strings.Repeat(" ", n-c)
	}
	return s
}
