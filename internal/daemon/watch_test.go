package daemon_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/daemon"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	analystv1 "github.com/cix-exchange/cix/internal/gen/cix/analyst/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func watchClient(t *testing.T, n *testNode) analystv1.WatchServiceClient {
	return analystv1.NewWatchServiceClient(n.conn)
}

func createWatch(t *testing.T, c analystv1.WatchServiceClient, kind analystv1.WatchKind, value string) *analystv1.WatchEntry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	r, err := c.CreateWatch(ctx, &analystv1.CreateWatchRequest{Kind: kind, Value: value, Label: "test " + value})
	if err != nil {
		t.Fatalf("create watch %v %q: %v", kind, value, err)
	}
	return r.GetEntry()
}

// hitsUntil reads the node's hits from the start until the hit for alert id arrives
// and returns every hit read, with it.
func hitsUntil(t *testing.T, c analystv1.WatchServiceClient, id string) []*analystv1.WatchHit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s, err := c.WatchHits(ctx, &analystv1.WatchHitsRequest{Start: nodev1.StartPosition_START_POSITION_EARLIEST})
	if err != nil {
		t.Fatal(err)
	}
	var got []*analystv1.WatchHit
	for {
		ev, err := s.Recv()
		if err != nil {
			t.Fatalf("no hit for %s (%d hits before): %v", id, len(got), err)
		}
		if h := ev.GetHit(); h != nil {
			got = append(got, h)
			if h.GetAlertId() == id {
				return got
			}
		}
	}
}

// freshSeizure is a valid seizure with a new id and none of the values the tests watch.
func freshSeizure() *alertv1.Alert {
	a := synth.ValidSeizure()
	a.Id, a.IssuedAt = uuid.NewString(), nil
	a.GetSeizure().SeizedAt = timestamppb.New(time.Now().Add(-time.Hour))
	a.GetSeizure().Conveyance = &alertv1.Conveyance{Mode: alertv1.TransportMode_TRANSPORT_MODE_ROAD}
	a.GetSeizure().Companies = nil
	a.GetSeizure().Goods[0].HsCode = "240220"
	a.GetSeizure().Goods[0].Description = "cigarettes"
	a.GetSeizure().Concealment = "in the cargo"
	a.GetSeizure().Route = &alertv1.Route{CountryOfOrigin: "BY", CountryOfDestination: "NL"}
	return a
}

// TestWatchHitsEachKind: an entry of every kind gets exactly one hit, on the alert
// carrying its value, through the node's feed; an alert matching no entry gets none.
func TestWatchHitsEachKind(t *testing.T) {
	nl := startNode(t, "NL", nil, nil)
	wc := watchClient(t, nl)
	type kase struct {
		kind    analystv1.WatchKind
		value   string
		alter   func(a *alertv1.Alert)
		field   string
		entryID string
		alertID string
	}
	seized := func(f func(s *alertv1.SeizureAlert)) func(a *alertv1.Alert) {
		return func(a *alertv1.Alert) { f(a.GetSeizure()) }
	}
	cases := []*kase{
		{kind: analystv1.WatchKind_WATCH_KIND_CONTAINER, value: "MSCU 123456-6", field: "alert.seizure.conveyance.container_numbers[0]",
			alter: seized(func(s *alertv1.SeizureAlert) { s.Conveyance.ContainerNumbers = []string{"MSCU1234566"} })},
		{kind: analystv1.WatchKind_WATCH_KIND_IMO, value: "IMO9074729", field: "alert.seizure.conveyance.imo_number",
			alter: seized(func(s *alertv1.SeizureAlert) { s.Conveyance.ImoNumber = "9074729" })},
		{kind: analystv1.WatchKind_WATCH_KIND_VESSEL_NAME, value: "msc aurora", field: "alert.seizure.conveyance.vessel_name",
			alter: seized(func(s *alertv1.SeizureAlert) { s.Conveyance.VesselName = "MSC Aurora" })},
		{kind: analystv1.WatchKind_WATCH_KIND_COMPANY, value: "Sunrise Distribution BV", field: "alert.seizure.companies[0].name",
			alter: seized(func(s *alertv1.SeizureAlert) {
				s.Companies = []*alertv1.Company{{Role: alertv1.CompanyRole_COMPANY_ROLE_CONSIGNEE, Name: "Sunrise Distribution B.V.", Country: "NL"}}
			})},
		{kind: analystv1.WatchKind_WATCH_KIND_PERSON_DOCUMENT, value: "nx4512c8", field: "alert.seizure.persons[0].document.number",
			alter: func(a *alertv1.Alert) {
				a.Handling.PersonalData, a.Handling.PersonalDataAllMembersApproved = true, true
				a.GetSeizure().Persons = []*alertv1.Person{{Role: alertv1.PersonRole_PERSON_ROLE_DRIVER, FamilyName: "Jansen",
					Document: &alertv1.IdentityDocument{Type: "passport", Number: "NX4512C8", IssuingCountry: "NL"}}}
			}},
		{kind: analystv1.WatchKind_WATCH_KIND_HS_ROUTE, value: "2939:EC", field: "alert.seizure.goods[0].hs_code",
			alter: seized(func(s *alertv1.SeizureAlert) { s.Goods[0].HsCode = "293972"; s.Route.CountryOfOrigin = "EC" })},
		{kind: analystv1.WatchKind_WATCH_KIND_TEXT, value: "false floor", field: "alert.seizure.concealment",
			alter: seized(func(s *alertv1.SeizureAlert) { s.Concealment = "in a false floor of the truck" })},
	}
	for _, c := range cases {
		c.entryID = createWatch(t, wc, c.kind, c.value).GetId()
	}
	// An alert that matches nothing, then one alert per case.
	none := freshSeizure()
	publish(t, nl, none)
	for _, c := range cases {
		a := freshSeizure()
		c.alter(a)
		c.alertID = publish(t, nl, a).GetId()
	}
	hits := hitsUntil(t, wc, cases[len(cases)-1].alertID)
	byEntry := map[string][]*analystv1.WatchHit{}
	for _, h := range hits {
		if h.GetAlertId() == none.GetId() {
			t.Errorf("hit for the alert matching nothing: %v", h)
		}
		byEntry[h.GetEntry().GetId()] = append(byEntry[h.GetEntry().GetId()], h)
	}
	for _, c := range cases {
		hs := byEntry[c.entryID]
		if len(hs) != 1 || hs[0].GetAlertId() != c.alertID || hs[0].GetField() != c.field || hs[0].GetOrigin() != "NL" ||
			hs[0].GetAlertKind() != alertv1.AlertKind_ALERT_KIND_SEIZURE || hs[0].GetCursor() == "" || hs[0].GetAlertCursor() == "" {
			t.Errorf("%v %q: hits %v, want one on %s of %s", c.kind, c.value, hs, c.field, c.alertID)
		}
	}

	// Deleted, an entry matches no more; the list shows the others.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := wc.DeleteWatch(ctx, &analystv1.DeleteWatchRequest{Id: cases[0].entryID}); err != nil {
		t.Fatal(err)
	}
	if _, err := wc.DeleteWatch(ctx, &analystv1.DeleteWatchRequest{Id: cases[0].entryID}); status.Code(err) != codes.NotFound {
		t.Fatalf("second delete: %v", err)
	}
	list, err := wc.ListWatches(ctx, &analystv1.ListWatchesRequest{PageSize: 4})
	if err != nil || len(list.GetEntries()) != 4 || list.GetNextPageToken() == "" {
		t.Fatalf("list: %v %v", list, err)
	}
	if _, err := wc.CreateWatch(ctx, &analystv1.CreateWatchRequest{Kind: analystv1.WatchKind_WATCH_KIND_CONTAINER, Value: "MSCU1234565"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad check digit: %v", err)
	}
	again := freshSeizure()
	again.GetSeizure().Conveyance.ContainerNumbers = []string{"MSCU1234566"}
	publish(t, nl, again)
	last := freshSeizure()
	last.GetSeizure().Conveyance.ImoNumber = "9074729"
	publish(t, nl, last)
	for _, h := range hitsUntil(t, wc, last.GetId()) {
		if h.GetAlertId() == again.GetId() {
			t.Errorf("deleted entry matched: %v", h)
		}
	}
}

// TestWatchRestartKeepsEntriesAndResumes: BE is stopped while NL publishes and started
// again; its entries survive, the alerts it received meanwhile are matched once, and
// the hits of before are neither lost nor repeated. A recalled alert gets no hit.
func TestWatchRestartKeepsEntriesAndResumes(t *testing.T) {
	beDir := t.TempDir()
	beKS, err := trust.OpenDevKeystore(filepath.Join(beDir, "keys"), "BE", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	nl := startNode(t, "NL", nil, []string{beKS.AnchorPath()})
	cfg := nodeConfig(t, "BE", []string{nl.d.NATSURL()}, []string{nl.d.AnchorPath()}, func(c *config.Config) { c.DataDir = beDir })
	start := func() (*daemon.Daemon, analystv1.WatchServiceClient) {
		d, err := daemon.Start(context.Background(), cfg, testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(d.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return d, analystv1.NewWatchServiceClient(conn)
	}
	be, wc := start()
	entry := createWatch(t, wc, analystv1.WatchKind_WATCH_KIND_CONTAINER, "CSQU3054383")
	withContainer := func() *alertv1.Alert {
		a := freshSeizure()
		a.GetSeizure().Conveyance.ContainerNumbers = []string{"CSQU3054383"}
		return a
	}
	first := withContainer()
	publish(t, nl, first)
	if got := hitsUntil(t, wc, first.GetId()); len(got) != 1 {
		t.Fatalf("hits before the restart: %v", got)
	}
	// A recall notice for an alert BE has not received yet.
	recalled, meanwhile := withContainer(), withContainer()
	if err := be.Watch().MarkRecalled(context.Background(), recalled.GetId()); err != nil {
		t.Fatal(err)
	}
	if err := be.Stop(); err != nil {
		t.Fatal(err)
	}

	// Published while BE is down.
	publish(t, nl, recalled)
	publish(t, nl, meanwhile)

	be, wc = start()
	t.Cleanup(func() {
		if err := be.Stop(); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	list, err := wc.ListWatches(ctx, &analystv1.ListWatchesRequest{})
	if err != nil || len(list.GetEntries()) != 1 || list.GetEntries()[0].GetId() != entry.GetId() {
		t.Fatalf("entries after restart: %v %v", list, err)
	}
	last := withContainer()
	publish(t, nl, last)
	got := hitsUntil(t, wc, last.GetId())
	var ids []string
	for _, h := range got {
		ids = append(ids, h.GetAlertId())
	}
	if want := []string{first.GetId(), meanwhile.GetId(), last.GetId()}; fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("hits %v, want %v", ids, want)
	}
}

// TestWatchOwnersAndRoles: with mutual TLS an entry belongs to the analyst who made it;
// another analyst cannot delete it, an admin can; publishers cannot watch or export,
// analysts cannot import.
func TestWatchOwnersAndRoles(t *testing.T) {
	nl := startNode(t, "NL", nil, nil, func(c *config.Config) { c.GRPC.TLS.Mode = config.TLSDev })
	conn := func(role trust.Role, name string) *grpc.ClientConn {
		c, k, err := nl.ks.IssueClientCert(role, name, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return tlsConn(t, nl.d.Addr(), nl.ks.Anchor(), &pair)
	}
	alice := analystv1.NewWatchServiceClient(conn(trust.RoleAnalyst, "alice"))
	bob := analystv1.NewWatchServiceClient(conn(trust.RoleAnalyst, "bob"))
	admin := analystv1.NewWatchServiceClient(conn(trust.RoleAdmin, "root"))
	pubConn := conn(trust.RolePublisher, "nces")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	e := createWatch(t, alice, analystv1.WatchKind_WATCH_KIND_IMO, "9074729")
	if e.GetOwner() != "alice" {
		t.Fatalf("owner %q", e.GetOwner())
	}
	if _, err := bob.DeleteWatch(ctx, &analystv1.DeleteWatchRequest{Id: e.GetId()}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("bob deleting alice's entry: %v", err)
	}
	for who, want := range map[analystv1.WatchServiceClient]int{alice: 1, bob: 0} {
		l, err := who.ListWatches(ctx, &analystv1.ListWatchesRequest{Mine: true})
		if err != nil || len(l.GetEntries()) != want {
			t.Errorf("mine: %v %v, want %d", l, err, want)
		}
	}
	if _, err := analystv1.NewWatchServiceClient(pubConn).CreateWatch(ctx, &analystv1.CreateWatchRequest{
		Kind: analystv1.WatchKind_WATCH_KIND_IMO, Value: "9074729"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("publisher watching: %v", err)
	}
	exp, err := analystv1.NewExchangeServiceClient(pubConn).Export(ctx, &analystv1.ExportRequest{Format: analystv1.ExportFormat_EXPORT_FORMAT_CSV})
	if err == nil {
		_, err = exp.Recv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("publisher exporting: %v", err)
	}
	imp, err := analystv1.NewExchangeServiceClient(conn(trust.RoleAnalyst, "carol")).Import(ctx)
	if err == nil {
		_, err = imp.CloseAndRecv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("analyst importing: %v", err)
	}
	if _, err := admin.DeleteWatch(ctx, &analystv1.DeleteWatchRequest{Id: e.GetId()}); err != nil {
		t.Fatalf("admin deleting: %v", err)
	}
}
