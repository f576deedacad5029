package cli

import (
	"context"
	"regexp"
	"strings"
	"testing"

	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
)

// jsonEvents decodes the SubscribeResponse lines of feed --json.
func jsonEvents(t *testing.T, out string) []*nodev1.SubscribeResponse {
	t.Helper()
	var evs []*nodev1.SubscribeResponse
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		ev := &nodev1.SubscribeResponse{}
		if err := protojson.Unmarshal([]byte(l), ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestFeedReceivesAlertsPublishedAtAnotherNode(t *testing.T) {
	fed := testFederation(t, "NL", "BE")
	nl, be := fed.nodes[0], fed.nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	// Live from now on: wait until the feed is live before publishing.
	stdout, stderr, done := background(ctx, "--addr", be.d.Addr(), "feed", "--limit", "5", "--json")
	eventually(t, "the feed to be live", func() bool { return strings.Contains(stdout.String(), "caughtUp") })
	as := seizures(31, 8)
	cix(t, jsonLines(t, as...), "--addr", nl.d.Addr(), "publish", "-").must(t, 0)
	if code := exitOf(t, done); code != 0 {
		t.Fatalf("feed exit %d: %s", code, stderr.String())
	}
	evs := jsonEvents(t, stdout.String())
	if len(evs) != 6 || evs[0].GetCaughtUp() == nil {
		t.Fatalf("want caught_up then 5 alerts, got %d events:\n%s", len(evs), stdout.String())
	}
	var last string
	for i, ev := range evs[1:] {
		va := ev.GetAlert()
		if va.GetAlert().GetId() != as[i].GetId() || va.GetSigner().GetAdministration() != "NL" {
			t.Fatalf("event %d: %v, want alert %s signed by NL", i+1, ev, as[i].GetId())
		}
		last = va.GetCursor()
	}
	if want := "resume with: cix feed --cursor " + last + "\n"; stderr.String() != want {
		t.Fatalf("stderr %q, want %q", stderr.String(), want)
	}

	// Resuming from that cursor gives the rest, in order, with no repeat.
	r := cix(t, "", "--addr", be.d.Addr(), "feed", "--json", "--limit", "3", "--cursor", last).must(t, 0)
	var ids []string
	for _, ev := range jsonEvents(t, r.stdout) {
		if a := ev.GetAlert(); a != nil {
			ids = append(ids, a.GetAlert().GetId())
		}
	}
	if strings.Join(ids, " ") != as[5].GetId()+" "+as[6].GetId()+" "+as[7].GetId() {
		t.Fatalf("resumed with %v", ids)
	}
}

func TestFeedTableAndFilters(t *testing.T) {
	fed := testFederation(t, "NL", "BE")
	nl, be := fed.nodes[0], fed.nodes[1]
	in := cix(t, "", "gen", "--count", "40", "--seed", "3").must(t, 0).stdout
	cix(t, in, "--addr", nl.d.Addr(), "publish", "-").must(t, 0)
	eventually(t, "40 alerts in BE's feed", func() bool {
		info, err := be.adm.GetNodeInfo(context.Background(), &nodev1.GetNodeInfoRequest{})
		return err == nil && info.GetFeedAlerts() == 40
	})

	r := cix(t, "", "--addr", be.d.Addr(), "feed", "--from-start", "--kind", "risk", "--limit", "3", "--tlp=green,amber").must(t, 0)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	header := regexp.MustCompile(`^TIME +ORIGIN +KIND +TLP +COMMODITY +HS +ROUTE +ID +SUMMARY$`)
	if len(lines) != 4 || !header.MatchString(lines[0]) {
		t.Fatalf("want a header and 3 rows:\n%s", r.stdout)
	}
	row := regexp.MustCompile(`^2026-\d\d-\d\d \d\d:\d\d  NL      risk     (GREEN|AMBER) +[a-z_]+(\+\d+)? +\d+(\+\d+)? +[A-Z]{2}(>[A-Z]{2})* +[0-9a-f]{8}  \S`)
	idCol := len([]rune(lines[0][:strings.Index(lines[0], " ID ")+1]))
	for _, l := range lines[1:] {
		if !row.MatchString(l) {
			t.Errorf("row %q", l)
		}
		// Columns have fixed widths: the id starts under the ID header in every row.
		if rs := []rune(l); len(rs) < idCol+9 || !regexp.MustCompile(`^[0-9a-f]{8} $`).MatchString(string(rs[idCol:idCol+9])) {
			t.Errorf("ID column not at %d in %q", idCol, l)
		}
	}
	if !strings.HasPrefix(r.stderr, "resume with: cix feed --cursor ") || !strings.HasSuffix(r.stderr, " --kind risk --tlp green,amber\n") {
		t.Fatalf("stderr %q", r.stderr)
	}

	// History then live: the marker comes after the last stored alert.
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr, done := background(ctx, "--addr", be.d.Addr(), "feed", "--from-start", "--origin", "nl")
	eventually(t, "the live marker", func() bool { return strings.Contains(stdout.String(), "-- live --\n") })
	cancel() // as Ctrl-C does
	if code := exitOf(t, done); code != 0 {
		t.Fatalf("interrupted feed exit %d: %s", code, stderr.String())
	}
	if n := strings.Count(stdout.String(), "\n"); n != 40+2 {
		t.Errorf("%d lines, want header, 40 alerts and the live marker:\n%s", n, stdout.String())
	}
	if !strings.HasPrefix(stderr.String(), "resume with: cix feed --cursor 40 --origin NL") {
		t.Errorf("stderr %q", stderr.String())
	}

	// Refusals: a bad filter locally (usage), a cursor beyond the feed by the node.
	r = cix(t, "", "--addr", be.d.Addr(), "feed", "--commodity", "spices").must(t, 2)
	if !strings.Contains(r.stderr, `--commodity: unknown commodity group "spices"`) {
		t.Errorf("stderr %q", r.stderr)
	}
	r = cix(t, "", "--addr", be.d.Addr(), "feed", "--cursor", "999999").must(t, 1)
	if !strings.HasPrefix(r.stderr, "cix: feed: OUT_OF_RANGE: ") {
		t.Errorf("stderr %q", r.stderr)
	}
	cix(t, "", "feed", "--cursor", "1", "--from-start").must(t, 2)
	cix(t, "", "feed", "extra").must(t, 2)
}

// TestFeedReportsGap resumes across alerts the feed no longer holds (as retention
// would expire them).
func TestFeedReportsGap(t *testing.T) {
	fed := testFederation(t, "NL", "BE")
	nl, be := fed.nodes[0], fed.nodes[1]
	as := seizures(51, 10)
	cix(t, jsonLines(t, as...), "--addr", nl.d.Addr(), "publish", "-").must(t, 0)
	eventually(t, "10 alerts in BE's feed", func() bool {
		info, err := be.adm.GetNodeInfo(context.Background(), &nodev1.GetNodeInfoRequest{})
		return err == nil && info.GetFeedAlerts() == 10
	})
	nc, err := nats.Connect(fed.ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), "CIX_FEED_BE_DEMO")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(context.Background(), jetstream.WithPurgeSequence(5)); err != nil { // drops 1 to 4
		t.Fatal(err)
	}
	r := cix(t, "", "--addr", be.d.Addr(), "feed", "--cursor", "2", "--limit", "6").must(t, 0)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 8 || lines[1] != "-- gap: 2 alerts no longer available (expired from the feed); resuming after cursor 4 --" {
		t.Fatalf("want a header, the gap and 6 alerts:\n%s", r.stdout)
	}
	if !strings.Contains(lines[2], as[4].GetId()[:8]) || !strings.Contains(lines[7], as[9].GetId()[:8]) {
		t.Fatalf("alerts after the gap:\n%s", r.stdout)
	}
	if r.stderr != "resume with: cix feed --cursor 10\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
}
