package cli

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	searchv1 "github.com/cix-exchange/cix/internal/gen/cix/search/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

func TestSearchAndStats(t *testing.T) {
	fed := testFederation(t, "NL", "BE")
	nl, be := fed.nodes[0], fed.nodes[1]
	in := cix(t, "", "gen", "--count", "60", "--seed", "4").must(t, 0).stdout
	cix(t, in, "--addr", nl.d.Addr(), "publish", "-").must(t, 0)
	addr := []string{"--addr", be.d.Addr()}
	var total uint64
	eventually(t, "60 alerts in BE's index", func() bool {
		r := cix(t, "", append(addr, "stats", "--json")...)
		res := &searchv1.StatisticsResponse{}
		if r.code != 0 || protojson.Unmarshal([]byte(r.stdout), res) != nil {
			return false
		}
		total = res.GetTotal()
		return res.GetIndex().GetAlerts() == 60
	})

	r := cix(t, "", append(addr, "search", "--kind", "seizure", "--origin", "nl", "--limit", "3")...).must(t, 0)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || !regexp.MustCompile(`^ID +ISSUED +ORIGIN +KIND +VERSIONS +REPORTS +HEADLINE$`).MatchString(lines[0]) {
		t.Fatalf("want a header and 3 rows:\n%s", r.stdout)
	}
	row := regexp.MustCompile(`^[0-9a-f]{8}  2026-\d\d-\d\d \d\d:\d\d  NL      seizure  [12] +1 +\S`)
	for _, l := range lines[1:] {
		if !row.MatchString(l) {
			t.Errorf("row %q", l)
		}
	}
	next := regexp.MustCompile(`--page (\S+)`).FindStringSubmatch(r.stderr)
	if next == nil {
		t.Fatalf("no next page on stderr: %q", r.stderr)
	}
	r2 := cix(t, "", append(addr, "search", "--kind", "seizure", "--origin", "nl", "--limit", "3", "--page", next[1])...).must(t, 0)
	if strings.Contains(r2.stdout, strings.Fields(lines[3])[0]) {
		t.Fatalf("second page repeats the first:\n%s", r2.stdout)
	}

	r = cix(t, "", append(addr, "stats", "--by", "commodity,month")...).must(t, 0)
	if !strings.Contains(r.stdout, "\nCOMMODITY ") ||
		!strings.Contains(r.stdout, "\nMONTH ") || strings.Contains(r.stdout, "\nORIGIN ") {
		t.Fatalf("stats table:\n%s", r.stdout)
	}
	if !strings.HasPrefix(r.stdout, strconv.FormatUint(total, 10)+" results\n") {
		t.Fatalf("stats total, want %d:\n%s", total, r.stdout)
	}

	r = cix(t, "", append(addr, "search", "--text", "cocaine", "--json")...).must(t, 0)
	res := &searchv1.SearchResponse{}
	if err := protojson.Unmarshal([]byte(r.stdout), res); err != nil {
		t.Fatal(err)
	}
	for _, x := range res.GetResults() {
		if !strings.Contains(strings.ToLower(protojson.Format(x.GetAlert().GetAlert())), "cocaine") {
			t.Errorf("%s does not mention cocaine", x.GetAlert().GetAlert().GetId())
		}
	}
	r = cix(t, "", append(addr, "search", "--container", "ABCD")...).must(t, 1)
	if !strings.Contains(r.stderr, "selection.container_numbers[0]") {
		t.Fatalf("stderr %q", r.stderr)
	}
	cix(t, "", append(addr, "stats", "--by", "colour")...).must(t, 2)
}
