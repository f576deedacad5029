package exchange

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

func csvOf(t testing.TB, alerts ...*alertv1.Alert) string {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := WriteCSVHeader(w); err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		if err := WriteCSV(w, a); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	return b.String()
}

// TestCSVRoundTrip: every field with a column survives export and import, including
// aligned groups with empty positions and values holding the list separator.
func TestCSVRoundTrip(t *testing.T) {
	alerts := synth.New(7, "NL").WithPersons(true).NextN(300)
	s := synth.ValidSeizure()
	s.GetSeizure().Goods = append(s.GetSeizure().Goods, &alertv1.Goods{
		CommodityGroup: alertv1.CommodityGroup_COMMODITY_GROUP_TOBACCO, Description: `cigarettes; "Marlboro" \ fakes`,
		Brand: "Marlboro", QuantityFound: &alertv1.Quantity{Amount: 12000, Unit: alertv1.QuantityUnit_QUANTITY_UNIT_STICK},
	})
	alerts = append(alerts, s, synth.ValidRisk())
	rows := ReadCSV(strings.NewReader(csvOf(t, alerts...)))
	if len(rows) != len(alerts) {
		t.Fatalf("%d rows, want %d", len(rows), len(alerts))
	}
	for i, r := range rows {
		if len(r.Errors) > 0 || r.N != i+2 {
			t.Fatalf("row %d (N %d): %v", i, r.N, r.Errors)
		}
		want := withoutRowlessIndicators(alerts[i])
		if !proto.Equal(r.Alert, want) {
			t.Fatalf("row %d differs:\n%v", r.N, cmpDiff(want, r.Alert))
		}
	}
}

func cmpDiff(want, got proto.Message) string {
	return "want " + prototext.Format(want) + "\ngot  " + prototext.Format(got)
}

// TestCSVRowErrors: a bad cell names its row and the alert field, the other rows are
// read; a bad header stops everything.
func TestCSVRowErrors(t *testing.T) {
	header := "id,kind,issued_at,handling.tlp,seizure.goods[].quantity_found.amount,seizure.offence_types,risk.title\n"
	in := header +
		"00000000-0000-4000-8000-000000000001,seizure,2026-01-15T10:00:00Z,amber,1;2,smuggling,\n" +
		"00000000-0000-4000-8000-000000000002,seizure,yesterday,purple,1;lots,smuggling;arson,\n" +
		"00000000-0000-4000-8000-000000000003,seizure,,,,,a title\n" +
		"00000000-0000-4000-8000-000000000004,risk\n" +
		"00000000-0000-4000-8000-000000000005,boat,,,,,\n"
	rows := ReadCSV(strings.NewReader(in))
	type e struct {
		row           int
		field, reason string
	}
	var got []e
	for _, r := range rows {
		for _, x := range r.Errors {
			got = append(got, e{x.Row, x.Field, x.Reason})
		}
	}
	want := []e{
		{3, "alert.issued_at", `"yesterday" is not an RFC 3339 time`},
		{3, "alert.handling.tlp", `"purple" is not one of clear, green, amber, amber_strict, red`},
		{3, "alert.seizure.goods[1].quantity_found.amount", `"lots" is not a number`},
		{3, "alert.seizure.offence_types[1]", `"arson" is not one of smuggling, false_origin, undervaluation, misclassification, ipr_infringement, cites, prohibited_goods, money_laundering, other`},
		{4, "alert.risk.title", "a risk column in a seizure row"},
		{5, "", "2 cells, the header has 7"},
		{6, "kind", `"boat" is not seizure or risk`},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("errors\n got %v\nwant %v", got, want)
	}
	if rows[0].Alert == nil || len(rows[0].Alert.GetSeizure().GetGoods()) != 2 {
		t.Fatalf("good row not decoded: %v", rows[0])
	}

	for _, bad := range []string{"", "id,colour\n1,red\n", "id,id\n"} {
		rows := ReadCSV(strings.NewReader(bad))
		if len(rows) != 1 || rows[0].N != 1 || len(rows[0].Errors) == 0 {
			t.Errorf("header %q: %v", bad, rows)
		}
	}
	// A spreadsheet's semicolon-separated save, with a byte order mark.
	rows = ReadCSV(strings.NewReader("\ufeffid;kind;seizure.route.transit_countries\n00000000-0000-4000-8000-000000000001;seizure;\"PA;MX\"\n"))
	if len(rows) != 1 || rows[0].Alert == nil || !slices.Equal(rows[0].Alert.GetSeizure().GetRoute().GetTransitCountries(), []string{"PA", "MX"}) {
		t.Fatalf("semicolon CSV: %+v", rows)
	}
}

func TestReadJSONL(t *testing.T) {
	in := `{"id":"00000000-0000-4000-8000-000000000001","seizure":{}}

{"id": 5}
{"colour":"red"}
{"id":"00000000-0000-4000-8000-000000000002","risk":{"title":"x"}}
`
	rows := ReadJSONL(strings.NewReader(in))
	if len(rows) != 4 {
		t.Fatalf("%d rows: %v", len(rows), rows)
	}
	for i, want := range []struct {
		n   int
		bad bool
	}{{1, false}, {3, true}, {4, true}, {5, false}} {
		if rows[i].N != want.n || (len(rows[i].Errors) > 0) != want.bad || (rows[i].Alert == nil) != want.bad {
			t.Errorf("row %d: %+v", i, rows[i])
		}
	}
	if !strings.Contains(rows[2].Errors[0].Reason, "colour") {
		t.Errorf("reason %q does not name the unknown field", rows[2].Errors[0].Reason)
	}
}

// FuzzImportCSV: no input makes the CSV reader panic; what it decodes exports and
// reads back the same.
func FuzzImportCSV(f *testing.F) {
	f.Add(csvOf(f, synth.ValidSeizure(), synth.ValidRisk()))
	f.Add("id,kind,seizure.goods[].description,seizure.goods[].hs_code\n1,seizure,a\\;b;c,\"1;;2\"\n")
	f.Add("kind;risk.hs_codes\nrisk;\\\n")
	f.Fuzz(func(t *testing.T, in string) {
		for _, r := range ReadCSV(strings.NewReader(in)) {
			if r.Alert == nil {
				if len(r.Errors) == 0 {
					t.Fatalf("row %d has neither alert nor errors", r.N)
				}
				continue
			}
			back := ReadCSV(strings.NewReader(csvOf(t, r.Alert)))
			if len(back) != 1 || back[0].Alert == nil {
				t.Fatalf("row %d does not read back: %v", r.N, back)
			}
		}
	})
}

// FuzzImportJSONL: no input makes the JSON lines reader panic, and row numbers grow.
func FuzzImportJSONL(f *testing.F) {
	f.Add(`{"id":"00000000-0000-4000-8000-000000000001","seizure":{}}` + "\n\n{}\n")
	f.Add("{\"risk\":{\"hsCodes\":[\"2939\"]}}\n}{\n")
	f.Fuzz(func(t *testing.T, in string) {
		last := 0
		for _, r := range ReadJSONL(strings.NewReader(in)) {
			if r.N <= last || (r.Alert == nil) == (len(r.Errors) == 0) {
				t.Fatalf("row %+v after %d", r, last)
			}
			last = r.N
		}
	})
}

// TestImportBoundsErrors: past MaxRowErrors, one last error counts the others.
func TestImportBoundsErrors(t *testing.T) {
	rows := make([]Row, MaxRowErrors+5)
	for i := range rows {
		rows[i] = Row{N: i + 2, Errors: []RowError{{Row: i + 2, Reason: "bad"}}}
	}
	res, err := Import(t.Context(), nil, rows, false) // no row to publish: no publisher needed
	if err != nil {
		t.Fatal(err)
	}
	errs := res.GetErrors()
	if len(errs) != MaxRowErrors+1 || errs[MaxRowErrors].GetRow() != 0 || errs[MaxRowErrors].GetReason() != "and 5 more errors" ||
		res.GetRows() != uint64(len(rows)) || len(res.GetAccepted()) != 0 {
		t.Fatalf("%d errors, last %v, rows %d", len(errs), errs[len(errs)-1], res.GetRows())
	}
}
