package index

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	searchv1 "github.com/cix-exchange/cix/internal/gen/cix/search/v1"
	"github.com/cix-exchange/cix/internal/node"
	"github.com/cix-exchange/cix/internal/synth"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func cloneAlert(a *alertv1.Alert) *alertv1.Alert { return proto.Clone(a).(*alertv1.Alert) }

// amendment returns version prev.version+1 of prev under id.
func amendment(prev *alertv1.Alert, id string, status alertv1.InvestigationStatus) *alertv1.Alert {
	a := cloneAlert(prev)
	a.Id, a.Version, a.Supersedes = id, prev.GetVersion()+1, prev.GetId()
	a.IssuedAt = timestamppb.New(prev.GetIssuedAt().AsTime().Add(time.Hour))
	if a.GetSeizure().GetFollowUp() == nil {
		a.GetSeizure().FollowUp = &alertv1.FollowUp{}
	}
	a.GetSeizure().GetFollowUp().InvestigationStatus = status
	return a
}

const (
	id1 = "00000000-0000-4000-8000-000000000001"
	id2 = "00000000-0000-4000-8000-000000000002"
	id3 = "00000000-0000-4000-8000-000000000003"
	id4 = "00000000-0000-4000-8000-000000000004"
)

func ids(r *searchv1.SearchResult) (history, reports []string) {
	for _, v := range r.GetHistory() {
		history = append(history, v.GetId())
	}
	for _, v := range r.GetReports() {
		reports = append(reports, v.GetId())
	}
	return history, reports
}

// TestVersions: an amendment arriving before the alert it amends, and a third version,
// make one result showing the latest version with every version in its history,
// whatever the order of arrival; also when each version corrects the place of seizure
// (another seizure key), so that only supersedes links them.
func TestVersions(t *testing.T) {
	for _, moved := range []bool{false, true} {
		v1 := synth.ValidSeizure()
		v1.Id = id1
		v2 := amendment(v1, id2, alertv1.InvestigationStatus_INVESTIGATION_STATUS_OPEN)
		v3 := amendment(v2, id3, alertv1.InvestigationStatus_INVESTIGATION_STATUS_CLOSED)
		if moved {
			v2.GetSeizure().Location, v3.GetSeizure().Location = "BEANR", "DEHAM"
		}
		testVersions(t, moved, v1, v2, v3)
	}
}

func testVersions(t *testing.T, moved bool, v1, v2, v3 *alertv1.Alert) {
	for name, order := range map[string][]*alertv1.Alert{
		"in order": {v1, v2, v3}, "amendment first": {v2, v1, v3}, "reversed": {v3, v2, v1},
	} {
		if moved {
			name += ", place corrected"
		}
		t.Run(name, func(t *testing.T) {
			x := openTest(t)
			for i, a := range order { // one transaction each, as alerts trickle in
				load(t, x, uint64(i), []*alertv1.Alert{a}, 1)
			}
			res := search(t, x, &searchv1.SearchRequest{})
			if len(res.GetResults()) != 1 {
				t.Fatalf("%d results, want 1", len(res.GetResults()))
			}
			r := res.GetResults()[0]
			if got := r.GetAlert().GetAlert().GetId(); got != id3 {
				t.Fatalf("shows %s, want the latest version %s", got, id3)
			}
			h, reps := ids(r)
			if !slices.Equal(h, []string{id1, id2, id3}) || !slices.Equal(reps, []string{id3}) {
				t.Fatalf("history %v reports %v", h, reps)
			}
			// Filters match the latest version only.
			open := &searchv1.Selection{InvestigationStatuses: []alertv1.InvestigationStatus{alertv1.InvestigationStatus_INVESTIGATION_STATUS_OPEN}}
			if n := len(search(t, x, &searchv1.SearchRequest{Selection: open}).GetResults()); n != 0 {
				t.Fatalf("a superseded version matched: %d results", n)
			}
			for _, id := range []string{id1, id2, id3} {
				hr, err := x.GetHistory(context.Background(), id)
				if err != nil || hr.GetAlert().GetAlert().GetId() != id3 || len(hr.GetHistory()) != 3 {
					t.Fatalf("history of %s: %v, %v", id, hr, err)
				}
			}
		})
	}
}

// TestDuplicateSeizure: the same seizure reported by NL and by BE, and sent again by NL
// under another id, is one result with three reports, counted once.
func TestDuplicateSeizure(t *testing.T) {
	nl := synth.ValidSeizure()
	nl.Id = id1
	be := cloneAlert(nl)
	be.Id, be.Origin = id2, &alertv1.Origin{Administration: "BE", Office: "BE000100"}
	be.NationalCaseReference = "BE-2026-77"
	// BE describes it in its own words, at another time of the day, with a national HS
	// extension: still the same seizure.
	be.GetSeizure().SeizedAt = timestamppb.New(nl.GetSeizure().GetSeizedAt().AsTime().Add(2 * time.Hour))
	be.GetSeizure().GetGoods()[0].Description = "cocaïne, blokken"
	be.GetSeizure().GetGoods()[0].HsCode = alert.HSCodes(nl)[0][:6] + "90"
	again := cloneAlert(nl)
	again.Id = id3
	other := cloneAlert(nl) // another container: another seizure
	other.Id = id4
	other.GetSeizure().GetConveyance().ContainerNumbers = []string{"MSCU1234565"}
	if !slices.Equal(SeizureKey(nl), SeizureKey(be)) || slices.Equal(SeizureKey(nl), SeizureKey(other)) {
		t.Fatal("seizure keys")
	}
	x := openTest(t)
	load(t, x, 0, []*alertv1.Alert{nl, other, be, again}, 4)
	res := search(t, x, &searchv1.SearchRequest{Selection: &searchv1.Selection{Filter: &nodev1.Filter{Origins: []string{"BE"}}}})
	if len(res.GetResults()) != 1 {
		t.Fatalf("%d results for origin BE, want 1", len(res.GetResults()))
	}
	r := res.GetResults()[0]
	if r.GetAlert().GetAlert().GetId() != id2 {
		t.Fatalf("shows %s, want BE's report (the one that matched)", r.GetAlert().GetAlert().GetId())
	}
	_, reps := ids(r)
	if !slices.Equal(reps, []string{id1, id2, id3}) || r.GetReports()[1].GetOrigin() != "BE" || r.GetReports()[1].GetSigner().GetAdministration() != "BE" {
		t.Fatalf("reports %v", r.GetReports())
	}
	all := search(t, x, &searchv1.SearchRequest{})
	if len(all.GetResults()) != 2 {
		t.Fatalf("%d results, want the seizure and the other one", len(all.GetResults()))
	}
	st, err := x.Statistics(context.Background(), &searchv1.StatisticsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetTotal() != 2 {
		t.Fatalf("statistics total %d, want 2", st.GetTotal())
	}
	origins := st.GetTables()[1]
	if origins.GetBy() != searchv1.Dimension_DIMENSION_ORIGIN || len(origins.GetBuckets()) != 2 ||
		origins.GetBuckets()[0].GetKey() != "NL" || origins.GetBuckets()[0].GetCount() != 2 || origins.GetBuckets()[1].GetCount() != 1 {
		t.Fatalf("origins %v", origins)
	}
	if c := st.GetTables()[0].GetBuckets()[0]; c.GetKey() != "COMMODITY_GROUP_DRUGS" || c.GetCount() != 2 {
		t.Fatalf("commodities %v", st.GetTables()[0])
	}
}

// TestRecallAndReclassify: recalled reports leave the results unless asked for and show
// in history; a notice that arrives before its alert applies when the alert does.
func TestRecallAndReclassify(t *testing.T) {
	ctx := context.Background()
	a, b := synth.ValidSeizure(), synth.ValidRisk()
	a.Id, b.Id = id1, id2
	x := openTest(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := x.MarkRecalled(ctx, id2, at, "sent in error"); err != nil { // before b arrives
		t.Fatal(err)
	}
	load(t, x, 0, []*alertv1.Alert{a, b}, 2)
	v2 := amendment(a, id3, alertv1.InvestigationStatus_INVESTIGATION_STATUS_OPEN)
	load(t, x, 2, []*alertv1.Alert{v2}, 1)
	if err := x.MarkRecalled(ctx, id1, at, "wrong seizure"); err != nil { // an earlier version
		t.Fatal(err)
	}
	if n := len(search(t, x, &searchv1.SearchRequest{}).GetResults()); n != 0 {
		t.Fatalf("%d results, want none: both reports are recalled", n)
	}
	res := search(t, x, &searchv1.SearchRequest{Selection: &searchv1.Selection{IncludeRecalled: true}})
	if len(res.GetResults()) != 2 {
		t.Fatalf("%d results with recalled ones, want 2", len(res.GetResults()))
	}
	h, err := x.GetHistory(ctx, id3)
	if err != nil {
		t.Fatal(err)
	}
	if v := h.GetHistory()[0]; v.GetId() != id1 || !v.GetRecalledAt().AsTime().Equal(at) || v.GetRecallReason() != "wrong seizure" {
		t.Fatalf("history %v", h.GetHistory())
	}

	red := &alertv1.Handling{Tlp: alertv1.Tlp_TLP_RED, Code: alertv1.HandlingCode_HANDLING_CODE_H2}
	if err := x.Reclassify(ctx, id2, red); err != nil {
		t.Fatal(err)
	}
	sel := &searchv1.Selection{IncludeRecalled: true, Filter: &nodev1.Filter{Tlps: []alertv1.Tlp{alertv1.Tlp_TLP_RED}}}
	res = search(t, x, &searchv1.SearchRequest{Selection: sel})
	if len(res.GetResults()) != 1 || !proto.Equal(res.GetResults()[0].GetHandling(), red) {
		t.Fatalf("reclassified: %v", res.GetResults())
	}
}

// TestReopen: the cursor and the alerts survive a restart; adding what is indexed again
// adds nothing; a database of another schema version is dropped.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	x, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	src := &memFeed{}
	x.SetSource(src)
	as := corpus(7, 300, "NL", "BE")
	load(t, x, 0, as, 100)
	before := search(t, x, &searchv1.SearchRequest{PageSize: 1000})
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if x, err = Open(ctx, dir, Options{}); err != nil {
		t.Fatal(err)
	}
	x.SetSource(src)
	if s := x.State(); s.Cursor != 300 || s.Alerts != 300 {
		t.Fatalf("state after reopening %+v", s)
	}
	load(t, x, 0, as[:150], 50) // replayed after a crash before the cursor was saved
	if s := x.State(); s.Alerts != 300 {
		t.Fatalf("state after replay %+v", s)
	}
	after := search(t, x, &searchv1.SearchRequest{PageSize: 1000})
	if !proto.Equal(before, after) {
		t.Fatal("results changed by the replay")
	}
	// Another alert at a feed position already indexed is a corrupt feed or index: the
	// write fails (and is retried by the indexer) instead of losing either alert.
	other := corpus(99, 1, "DE")[0]
	if _, err := x.Add(ctx, []*nodev1.VerifiedAlert{verified(other, 10)}, 10); err == nil {
		t.Fatal("an alert at a feed position that holds another was indexed")
	}
	if s := x.State(); s.Alerts != 300 {
		t.Fatalf("state after a refused write %+v", s)
	}
	if _, err := x.w.Exec(`UPDATE meta SET value = 0 WHERE key = 'schema_version'`); err != nil {
		t.Fatal(err)
	}
	_ = x.Close()
	if x, err = Open(ctx, dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if s := x.State(); s.Cursor != 0 || s.Alerts != 0 {
		t.Fatalf("a database of another schema was kept: %+v", s)
	}
}

// TestIndexer: the indexer writes what the feed sends, moves over a gap, skips events it
// does not know, and resumes from its cursor.
func TestIndexer(t *testing.T) {
	as := corpus(9, 5, "NL")
	ev := func(i int) *nodev1.SubscribeResponse {
		return &nodev1.SubscribeResponse{Event: &nodev1.SubscribeResponse_Alert{Alert: verified(as[i], uint64(i+1))}}
	}
	f := &fakeFeed{events: []*nodev1.SubscribeResponse{
		ev(0), ev(1),
		{Event: &nodev1.SubscribeResponse_Gap{Gap: &nodev1.Gap{AfterCursor: "2", ResumeCursor: "6", Missing: 4, Reason: "expired"}}},
		{}, // an event of a kind this indexer does not know
		{Event: &nodev1.SubscribeResponse_CaughtUp{CaughtUp: &nodev1.CaughtUp{Cursor: "6"}}},
	}}
	x := openTest(t)
	run := func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- NewIndexer(x, f, IndexerOptions{Batch: 2}).Run(ctx) }()
		deadline := time.Now().Add(10 * time.Second)
		for x.Cursor() != 6 {
			if time.Now().After(deadline) {
				t.Fatalf("cursor %d, want 6", x.Cursor())
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	run()
	if s := x.State(); s.Alerts != 2 {
		t.Fatalf("state %+v", s)
	}
	run()
	if got := f.reqs[1]; got.GetCursor() != "6" {
		t.Fatalf("resumed with %v, want cursor 6", got)
	}
	if f.reqs[0].GetStart() != nodev1.StartPosition_START_POSITION_EARLIEST || f.reqs[0].GetCursor() != "" {
		t.Fatalf("first subscription %v", f.reqs[0])
	}
}

// TestRequestErrors: every invalid field is named.
func TestRequestErrors(t *testing.T) {
	x := openTest(t)
	ctx := context.Background()
	_, err := x.Search(ctx, &searchv1.SearchRequest{
		PageSize: 5000, PageToken: "nonsense", Sort: 9,
		Selection: &searchv1.Selection{
			Filter:           &nodev1.Filter{Origins: []string{"XX"}},
			ContainerNumbers: []string{"MSCU1234567"}, ImoNumbers: []string{"1234568"}, Locations: []string{"nl"},
			TransportModes: []alertv1.TransportMode{42}, Companies: []string{" "}, Text: "* OR",
			SeizedAfter: timestamppb.New(time.Now()), SeizedBefore: timestamppb.New(time.Now().Add(-time.Hour)),
		},
	})
	var ve *alert.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v", err)
	}
	var fields []string
	for _, v := range ve.Violations {
		fields = append(fields, v.Field)
	}
	want := []string{"selection.filter.origins[0]", "selection.seized_before", "selection.transport_modes[0]",
		"selection.container_numbers[0]", "selection.imo_numbers[0]", "selection.locations[0]", "selection.companies[0]",
		"selection.text", "sort", "page_size"}
	if !slices.Equal(fields, want) {
		t.Fatalf("fields %v\nwant   %v", fields, want)
	}
	// A token of another selection.
	load(t, x, 0, corpus(3, 30, "NL"), 30)
	res := search(t, x, &searchv1.SearchRequest{PageSize: 5})
	_, err = x.Search(ctx, &searchv1.SearchRequest{PageSize: 5, PageToken: res.GetNextPageToken(), Ascending: true})
	if !errors.As(err, &ve) || ve.Violations[0].Field != "page_token" {
		t.Fatalf("token of another order: %v", err)
	}
	if _, err := x.GetHistory(ctx, id4); !errors.Is(err, node.ErrNotFound) {
		t.Fatalf("history of an unknown id: %v", err)
	}
}

// TestSortOrders: every order pages through every result once.
func TestSortOrders(t *testing.T) {
	x := openTest(t)
	load(t, x, 0, corpus(5, 400, "NL", "DE"), 400)
	for _, sort := range []searchv1.SortField{searchv1.SortField_SORT_FIELD_RECEIVED, searchv1.SortField_SORT_FIELD_ISSUED_AT, searchv1.SortField_SORT_FIELD_SEIZED_AT} {
		for _, asc := range []bool{false, true} {
			t.Run(fmt.Sprint(sort, asc), func(t *testing.T) {
				seen := map[string]bool{}
				var keys []time.Time
				token := ""
				for {
					res := search(t, x, &searchv1.SearchRequest{Sort: sort, Ascending: asc, PageSize: 7, PageToken: token})
					for _, r := range res.GetResults() {
						id := r.GetHistory()[0].GetId()
						if seen[id] {
							t.Fatalf("%s twice", id)
						}
						seen[id] = true
						if sort == searchv1.SortField_SORT_FIELD_SEIZED_AT {
							keys = append(keys, r.GetAlert().GetAlert().GetSeizure().GetSeizedAt().AsTime())
						}
					}
					if token = res.GetNextPageToken(); token == "" {
						break
					}
				}
				total, err := x.Statistics(context.Background(), &searchv1.StatisticsRequest{By: []searchv1.Dimension{searchv1.Dimension_DIMENSION_MONTH}})
				if err != nil {
					t.Fatal(err)
				}
				want := int(total.GetTotal())
				if sort == searchv1.SortField_SORT_FIELD_SEIZED_AT {
					st, _ := x.Statistics(context.Background(), &searchv1.StatisticsRequest{Selection: &searchv1.Selection{Filter: &nodev1.Filter{Kinds: []alertv1.AlertKind{alertv1.AlertKind_ALERT_KIND_SEIZURE}}}})
					want = int(st.GetTotal())
					if !slices.IsSortedFunc(keys, func(a, b time.Time) int {
						if asc {
							return a.Compare(b)
						}
						return b.Compare(a)
					}) {
						t.Fatal("not sorted by seizure time")
					}
				}
				if len(seen) != want {
					t.Fatalf("%d results, want %d", len(seen), want)
				}
			})
		}
	}
}

func FuzzPageToken(f *testing.F) {
	f.Add(pageToken{sort: 2, ascending: true, hash: 7, snap: 100, key: -5, grp: 9}.encode())
	f.Add("")
	f.Add("AQEAFkXyHHE7QlisAsYExgQ")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := decodeToken(s)
		if err != nil {
			return
		}
		again, err := decodeToken(tok.encode())
		if err != nil || again != tok {
			t.Fatalf("%q: %+v, then %+v, %v", s, tok, again, err)
		}
	})
}

// FuzzTextQuery: whatever is typed, the FTS5 query is valid.
func FuzzTextQuery(f *testing.F) {
	x := openTest(f)
	load(f, x, 0, corpus(1, 20, "NL"), 20)
	for _, s := range []string{`cocaine`, `"false floor" OR bananas*`, `NEAR(a b)`, `title:x`, `a OR OR b`, `"unterminated`, `***`, `-x ^y`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := x.Search(context.Background(), &searchv1.SearchRequest{Selection: &searchv1.Selection{Text: s}, PageSize: 1})
		var ve *alert.ValidationError
		if err != nil && !errors.As(err, &ve) {
			t.Fatalf("%q (%q): %v", s, ftsQuery(s), err)
		}
	})
}

// TestResultsReadFromTheFeed: the index keeps no envelopes; a result's alert and
// envelope are read from the source by the head's feed position, a position the feed no
// longer holds leaves the result without its alert, and no source is an error.
func TestResultsReadFromTheFeed(t *testing.T) {
	ctx := context.Background()
	x := openTest(t)
	as := corpus(11, 3, "NL")
	load(t, x, 0, as, 3)
	var tables int
	if err := x.w.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'envelopes'`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("envelopes table: %d (%v)", tables, err)
	}
	src := x.source().(*memFeed)
	res := search(t, x, &searchv1.SearchRequest{PageSize: 10})
	if len(res.GetResults()) != 3 {
		t.Fatalf("%d results, want 3", len(res.GetResults()))
	}
	for _, r := range res.GetResults() {
		c, _ := node.ParseCursor(r.GetAlert().GetCursor())
		want := verified(src.at[c], c)
		if !proto.Equal(r.GetAlert().GetAlert(), want.GetAlert()) || !proto.Equal(r.GetAlert().GetEnvelope(), want.GetEnvelope()) {
			t.Fatalf("result at %d is not the feed's alert", c)
		}
	}
	src.mu.Lock()
	delete(src.at, 2) // expired from the feed
	src.mu.Unlock()
	res = search(t, x, &searchv1.SearchRequest{PageSize: 10})
	var without []string
	for _, r := range res.GetResults() {
		if r.GetAlert() == nil {
			without = append(without, r.GetHistory()[0].GetCursor())
		}
	}
	if len(res.GetResults()) != 3 || !slices.Equal(without, []string{"2"}) {
		t.Fatalf("%d results, without alert: %v; want 3, [2]", len(res.GetResults()), without)
	}
	x.SetSource(nil)
	if _, err := x.Search(ctx, &searchv1.SearchRequest{}); err == nil {
		t.Fatal("search without a source succeeded")
	}
}
