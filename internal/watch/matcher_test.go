package watch

import (
	"fmt"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	analystv1 "github.com/cix-exchange/cix/internal/gen/cix/analyst/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func entry(t testing.TB, id string, kind analystv1.WatchKind, value string) *analystv1.WatchEntry {
	t.Helper()
	n, err := Normalize(kind, value)
	if err != nil {
		t.Fatalf("normalize %v %q: %v", kind, value, err)
	}
	return &analystv1.WatchEntry{Id: id, Kind: kind, Value: value, Normalized: n, CreatedAt: timestamppb.New(time.Unix(0, 0))}
}

// seizureWithParties is the example seizure with a person's document added.
func seizureWithParties() *alertv1.Alert {
	a := synth.ValidSeizure()
	a.Handling.PersonalData = true
	a.GetSeizure().Persons = []*alertv1.Person{{
		Role: alertv1.PersonRole_PERSON_ROLE_DRIVER, FamilyName: "Jansen",
		Document: &alertv1.IdentityDocument{Type: "passport", Number: "NX4-51 2C8", IssuingCountry: "NL"},
	}}
	return a
}

// TestMatchEachKind: every kind of entry finds the example alerts by the field it is
// meant for, whatever the spelling of the entry, and a value the alerts lack finds
// nothing.
func TestMatchEachKind(t *testing.T) {
	seizure, risk := seizureWithParties(), synth.ValidRisk()
	risk.GetRisk().Indicators = append(risk.GetRisk().Indicators,
		&alertv1.Indicator{Indicator: &alertv1.Indicator_Shipper{Shipper: "Bananera Del Pacífico S.A."}})
	cases := []struct {
		kind      analystv1.WatchKind
		value     string
		alert     *alertv1.Alert
		wantField string // "" means no hit
	}{
		{analystv1.WatchKind_WATCH_KIND_CONTAINER, "csqu 305438-3", seizure, "alert.seizure.conveyance.container_numbers[0]"},
		{analystv1.WatchKind_WATCH_KIND_CONTAINER, "CSQU3054383", risk, "alert.risk.shipments[0].container_number"},
		{analystv1.WatchKind_WATCH_KIND_CONTAINER, "MSCU1234566", seizure, ""},
		{analystv1.WatchKind_WATCH_KIND_IMO, "IMO 9074729", seizure, "alert.seizure.conveyance.imo_number"},
		{analystv1.WatchKind_WATCH_KIND_IMO, "9321483", seizure, ""},
		{analystv1.WatchKind_WATCH_KIND_VESSEL_NAME, "msc   AURORA", seizure, "alert.seizure.conveyance.vessel_name"},
		{analystv1.WatchKind_WATCH_KIND_VESSEL_NAME, "MSC Aurelia", seizure, ""},
		{analystv1.WatchKind_WATCH_KIND_COMPANY, "sunrise distribution bv", seizure, "alert.seizure.companies[0].name"},
		{analystv1.WatchKind_WATCH_KIND_COMPANY, "NL 123456789", seizure, "alert.seizure.companies[0].eori"},
		{analystv1.WatchKind_WATCH_KIND_COMPANY, "bananera del pacifico sa", risk, "alert.risk.indicators[3].shipper"},
		{analystv1.WatchKind_WATCH_KIND_COMPANY, "Sunset Distribution", seizure, ""},
		{analystv1.WatchKind_WATCH_KIND_PERSON_DOCUMENT, "nx451-2c8", seizure, "alert.seizure.persons[0].document.number"},
		{analystv1.WatchKind_WATCH_KIND_PERSON_DOCUMENT, "NX4512C9", seizure, ""},
		{analystv1.WatchKind_WATCH_KIND_HS_ROUTE, "2939:ec", seizure, "alert.seizure.goods[0].hs_code"},
		{analystv1.WatchKind_WATCH_KIND_HS_ROUTE, "08.03:PA", risk, "alert.risk.hs_codes[1]"},
		{analystv1.WatchKind_WATCH_KIND_HS_ROUTE, "2939:CO", seizure, ""}, // HS matches, country does not
		{analystv1.WatchKind_WATCH_KIND_HS_ROUTE, "2402:EC", seizure, ""}, // country matches, HS does not
		{analystv1.WatchKind_WATCH_KIND_TEXT, "Rip-on rip-off", seizure, "alert.seizure.concealment"},
		{analystv1.WatchKind_WATCH_KIND_TEXT, "banana reefers", risk, "alert.risk.title"},
		{analystv1.WatchKind_WATCH_KIND_TEXT, "cocaine", seizure, "alert.seizure.goods[0].description"},
		{analystv1.WatchKind_WATCH_KIND_TEXT, "coca", seizure, ""},           // whole words only
		{analystv1.WatchKind_WATCH_KIND_TEXT, "bags rip-on", seizure, ""},    // words in order only
		{analystv1.WatchKind_WATCH_KIND_TEXT, "reefer bananas", risk, ""},    // not a phrase of the alert
		{analystv1.WatchKind_WATCH_KIND_TEXT, "door container", seizure, ""}, // no stemming
		{analystv1.WatchKind_WATCH_KIND_TEXT, "the doors of reefer", risk, "alert.risk.modus_operandi"},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%s/%s", c.kind, c.value), func(t *testing.T) {
			m := NewMatcher()
			m.Add(entry(t, fmt.Sprintf("e%d", i), c.kind, c.value))
			m.Add(entry(t, "other", analystv1.WatchKind_WATCH_KIND_CONTAINER, "MSCU1234566"))
			got := m.Match(c.alert)
			if c.wantField == "" {
				if len(got) != 0 {
					t.Fatalf("hits %+v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0].Entry.GetId() != fmt.Sprintf("e%d", i) || got[0].Field != c.wantField {
				t.Fatalf("hits %+v, want one of e%d on %s", got, i, c.wantField)
			}
		})
	}
}

// TestMatchOncePerEntry: an entry matching several fields is reported once, at the
// first; two entries with the same value are both reported.
func TestMatchOncePerEntry(t *testing.T) {
	m := NewMatcher()
	m.Add(entry(t, "a", analystv1.WatchKind_WATCH_KIND_TEXT, "aurora"))
	m.Add(entry(t, "b", analystv1.WatchKind_WATCH_KIND_CONTAINER, "CSQU3054383"))
	m.Add(entry(t, "c", analystv1.WatchKind_WATCH_KIND_CONTAINER, "CSQU3054383"))
	a := synth.ValidSeizure()
	a.GetSeizure().Concealment = "on board of the MSC Aurora"
	got := m.Match(a)
	if len(got) != 3 {
		t.Fatalf("hits %+v, want 3", got)
	}
	if got[2].Entry.GetId() != "a" || got[2].Field != "alert.seizure.conveyance.vessel_name" {
		t.Errorf("text hit %+v, want on the vessel name", got[2])
	}
	if m.Remove("b") == nil || m.Remove("b") != nil {
		t.Fatal("remove")
	}
	if got := m.Match(a); len(got) != 2 {
		t.Errorf("after remove: %+v", got)
	}
	m.Remove("a")
	if got := m.Match(a); len(got) != 1 || got[0].Entry.GetId() != "c" {
		t.Errorf("after removing the text entry: %+v", got)
	}
}

func TestNormalizeRefuses(t *testing.T) {
	for _, c := range []struct {
		kind  analystv1.WatchKind
		value string
	}{
		{analystv1.WatchKind_WATCH_KIND_CONTAINER, "CSQU3054384"}, // check digit
		{analystv1.WatchKind_WATCH_KIND_IMO, "9074728"},
		{analystv1.WatchKind_WATCH_KIND_VESSEL_NAME, " -- "},
		{analystv1.WatchKind_WATCH_KIND_HS_ROUTE, "2939"},
		{analystv1.WatchKind_WATCH_KIND_HS_ROUTE, "29x9:EC"},
		{analystv1.WatchKind_WATCH_KIND_HS_ROUTE, "2939:XX"},
		{analystv1.WatchKind_WATCH_KIND_TEXT, "one two three four five six seven eight nine"},
		{analystv1.WatchKind_WATCH_KIND_TEXT, ""},
		{analystv1.WatchKind_WATCH_KIND_UNSPECIFIED, "x"},
	} {
		if n, err := Normalize(c.kind, c.value); err == nil {
			t.Errorf("Normalize(%v, %q) = %q, want an error", c.kind, c.value, n)
		}
	}
}

// benchEntries returns n entries of every kind, most of them values no alert has.
func benchEntries(b *testing.B, n int) *Matcher {
	m := NewMatcher()
	kinds := []analystv1.WatchKind{
		analystv1.WatchKind_WATCH_KIND_CONTAINER, analystv1.WatchKind_WATCH_KIND_IMO,
		analystv1.WatchKind_WATCH_KIND_VESSEL_NAME, analystv1.WatchKind_WATCH_KIND_COMPANY,
		analystv1.WatchKind_WATCH_KIND_PERSON_DOCUMENT, analystv1.WatchKind_WATCH_KIND_HS_ROUTE,
		analystv1.WatchKind_WATCH_KIND_TEXT,
	}
	countries := []string{"EC", "CO", "PA", "BR", "CN", "TR", "MA", "NG"}
	for i := range n {
		var v string
		k := kinds[i%len(kinds)]
		switch k {
		case analystv1.WatchKind_WATCH_KIND_CONTAINER:
			v = containerNumber(i)
		case analystv1.WatchKind_WATCH_KIND_IMO:
			v = imoNumber(1000000 + i)
		case analystv1.WatchKind_WATCH_KIND_VESSEL_NAME:
			v = fmt.Sprintf("Vessel %d", i)
		case analystv1.WatchKind_WATCH_KIND_COMPANY:
			v = fmt.Sprintf("Trading Company %d Ltd", i)
		case analystv1.WatchKind_WATCH_KIND_PERSON_DOCUMENT:
			v = fmt.Sprintf("P%08d", i)
		case analystv1.WatchKind_WATCH_KIND_HS_ROUTE:
			v = fmt.Sprintf("%04d:%s", 100+i%9000, countries[i%len(countries)])
		case analystv1.WatchKind_WATCH_KIND_TEXT:
			v = fmt.Sprintf("hidden in pallet %d", i)
		}
		m.Add(entry(b, fmt.Sprintf("e%06d", i), k, v))
	}
	return m
}

func containerNumber(i int) string {
	p := fmt.Sprintf("ZZZU%06d", i%1000000)
	d, _ := alert.ContainerCheckDigit(p)
	return p + fmt.Sprint(d)
}

func imoNumber(i int) string {
	s := fmt.Sprintf("%06d", i%1000000)
	sum := 0
	for j := 0; j < 6; j++ {
		sum += int(s[j]-'0') * (7 - j)
	}
	return s + fmt.Sprint(sum%10)
}

func benchMatch(b *testing.B, entries int) {
	m := benchEntries(b, entries)
	alerts := synth.New(1, "NL").WithPersons(true).NextN(1000)
	b.ReportAllocs()
	b.ResetTimer()
	hits := 0
	for i := 0; b.Loop(); i++ {
		hits += len(m.Match(alerts[i%len(alerts)]))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
	b.ReportMetric(float64(hits)/float64(b.N), "hits/alert")
}

// BenchmarkMatch10k is the matching rate of synthetic alerts against 10,000 entries
// (docs/performance.md, "Watchlists").
func BenchmarkMatch10k(b *testing.B) { benchMatch(b, 10_000) }

// BenchmarkMatch100 and BenchmarkMatch100k show that the rate does not depend on the
// number of entries.
func BenchmarkMatch100(b *testing.B)  { benchMatch(b, 100) }
func BenchmarkMatch100k(b *testing.B) { benchMatch(b, 100_000) }
