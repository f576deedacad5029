package daemon_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/daemon"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	searchv1 "github.com/cix-exchange/cix/internal/gen/cix/search/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func searchClient(t *testing.T, addr string) searchv1.SearchServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return searchv1.NewSearchServiceClient(conn)
}

// waitIndexed waits until the node's index holds n alerts and has read its whole feed.
func waitIndexed(t *testing.T, c searchv1.SearchServiceClient, n uint64) {
	t.Helper()
	eventually(t, 20*time.Second, "the index to hold the alerts", func() bool {
		res, err := c.Search(context.Background(), &searchv1.SearchRequest{PageSize: 1})
		return err == nil && res.GetIndex().GetAlerts() == n && res.GetIndex().GetLag() == 0
	})
}

// TestSearchAcrossNodes: alerts published at NL and BE are indexed at BE as they reach
// its feed; the same seizure reported by both is one result with both signed reports;
// a restart indexes nothing twice, and a deleted index is rebuilt from the feed.
func TestSearchAcrossNodes(t *testing.T) {
	nl, be := pair(t)
	ctx := context.Background()
	for _, a := range synth.New(11, "NL").NextN(40) {
		if _, err := nl.client.Publish(ctx, &nodev1.PublishRequest{Alert: a}); err != nil {
			t.Fatal(err)
		}
	}
	seizure := synth.ValidSeizure()
	seizure.Id = "5e12e000-0000-4000-8000-000000000001"
	beReport := proto.Clone(seizure).(*alertv1.Alert)
	beReport.Id, beReport.Origin = "5e12e000-0000-4000-8000-000000000002", &alertv1.Origin{Administration: "BE"}
	if _, err := nl.client.Publish(ctx, &nodev1.PublishRequest{Alert: seizure}); err != nil {
		t.Fatal(err)
	}
	if _, err := be.client.Publish(ctx, &nodev1.PublishRequest{Alert: beReport}); err != nil {
		t.Fatal(err)
	}
	sc := searchClient(t, be.d.Addr())
	waitIndexed(t, sc, 42)

	res, err := sc.Search(ctx, &searchv1.SearchRequest{Selection: &searchv1.Selection{Filter: &nodev1.Filter{Origins: []string{"BE"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GetResults()) != 1 || len(res.GetResults()[0].GetReports()) != 2 {
		t.Fatalf("want one result with two reports: %v", res.GetResults())
	}
	// The index keeps no envelopes: the result's alert is read from BE's feed.
	head := res.GetResults()[0].GetAlert()
	if id := head.GetAlert().GetId(); (id != seizure.GetId() && id != beReport.GetId()) || len(head.GetEnvelope().GetPayload()) == 0 ||
		len(head.GetEnvelope().GetSignatures()) == 0 || head.GetCursor() == "" {
		t.Fatalf("result's alert, read from the feed: %v", head)
	}
	reps := res.GetResults()[0].GetReports()
	if reps[0].GetSigner().GetAdministration() != "NL" || reps[1].GetSigner().GetAdministration() != "BE" {
		t.Fatalf("reports %v", reps)
	}
	all, err := sc.Statistics(ctx, &searchv1.StatisticsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := all.GetTotal()
	_, err = sc.Search(ctx, &searchv1.SearchRequest{Selection: &searchv1.Selection{Text: "*"}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("empty text: %v", err)
	}

	restart := func(dropIndex bool) {
		t.Helper()
		if err := be.d.Stop(); err != nil {
			t.Fatal(err)
		}
		if dropIndex {
			if err := os.RemoveAll(be.cfg.IndexDir()); err != nil {
				t.Fatal(err)
			}
		}
		d, err := daemon.Start(ctx, be.cfg, testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.Stop() })
		be.d = d
		sc = searchClient(t, d.Addr())
	}
	restart(false)
	if _, err := nl.client.Publish(ctx, &nodev1.PublishRequest{Alert: synth.New(12, "NL").Next()}); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, sc, 43)
	restart(true)
	waitIndexed(t, sc, 43)
	st, err := sc.Statistics(ctx, &searchv1.StatisticsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetTotal() != want+1 {
		t.Fatalf("after rebuilding: %d results, want %d", st.GetTotal(), want+1)
	}
}

// TestRecallLeavesSearch: a recall issued at NL takes the alert out of BE's search
// results (it stays visible, marked, when recalled alerts are asked for), and a
// reclassification moves it between TLP filters.
func TestRecallLeavesSearch(t *testing.T) {
	nl, be := pair(t)
	ctx := context.Background()
	a := newAlert("NL")
	a.Handling.Tlp = alertv1.Tlp_TLP_AMBER
	publish(t, nl, a)
	sc := searchClient(t, be.d.Addr())
	waitIndexed(t, sc, 1)
	byTLP := func(tlp alertv1.Tlp, recalled bool) []*searchv1.SearchResult {
		t.Helper()
		res, err := sc.Search(ctx, &searchv1.SearchRequest{Selection: &searchv1.Selection{
			Filter: &nodev1.Filter{Tlps: []alertv1.Tlp{tlp}}, IncludeRecalled: recalled,
		}})
		if err != nil {
			t.Fatal(err)
		}
		return res.GetResults()
	}
	if len(byTLP(alertv1.Tlp_TLP_AMBER, false)) != 1 {
		t.Fatal("alert not found by its TLP")
	}
	if _, err := nl.client.Reclassify(ctx, &nodev1.ReclassifyRequest{AlertId: a.GetId(), Handling: &alertv1.Reclassification{
		Tlp: alertv1.Tlp_TLP_GREEN, Code: a.GetHandling().GetCode(),
	}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "the downgrade in BE's index", func() bool {
		return len(byTLP(alertv1.Tlp_TLP_GREEN, false)) == 1 && len(byTLP(alertv1.Tlp_TLP_AMBER, false)) == 0
	})
	if _, err := nl.client.Recall(ctx, &nodev1.RecallRequest{AlertId: a.GetId(), Reason: "reported twice"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "the recall in BE's index", func() bool { return len(byTLP(alertv1.Tlp_TLP_GREEN, false)) == 0 })
	got := byTLP(alertv1.Tlp_TLP_GREEN, true)
	if len(got) != 1 || got[0].GetReports()[0].GetRecalledAt() == nil {
		t.Fatalf("recalled alert asked for: %v", got)
	}
}
