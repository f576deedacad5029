package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/exchange"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// recent returns n generated seizures issued now, so that the signing certificates
// (valid from the test's start) cover their issued_at.
func recent(seed int64, n int) []*alertv1.Alert {
	as := seizures(seed, n)
	for _, a := range as {
		a.IssuedAt = timestamppb.Now()
		a.GetSeizure().SeizedAt = timestamppb.New(time.Now().Add(-time.Hour))
	}
	return as
}

// publishedAtNL starts NL and BE, publishes n recent seizures at NL and waits until BE
// holds them.
func publishedAtNL(t *testing.T, seed int64, n int) (nl, be *fedNode, as []*alertv1.Alert) {
	t.Helper()
	fed := testFederation(t, "NL", "BE")
	nl, be = fed.nodes[0], fed.nodes[1]
	as = recent(seed, n)
	cix(t, jsonLines(t, as...), "--addr", nl.d.Addr(), "publish", "-").must(t, 0)
	for _, a := range as {
		waitForAlert(t, be, a.GetId())
	}
	return nl, be, as
}

func csvLines(t *testing.T, as ...*alertv1.Alert) string {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := exchange.WriteCSVHeader(w); err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if err := exchange.WriteCSV(w, a); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	return b.String()
}

// TestExportEnvelopesVerifyOffline: BE exports what NL published as signed envelopes;
// cix verify checks them with NL's anchor and no node, and names the line and the
// reason of a tampered one, and of a missing anchor.
func TestExportEnvelopesVerifyOffline(t *testing.T) {
	nl, be, as := publishedAtNL(t, 31, 3)
	file := filepath.Join(t.TempDir(), "alerts.jsonl")
	r := cix(t, "", "--addr", be.d.Addr(), "export", "--format", "envelopes", "--origin", "NL", "--out", file).must(t, 0)
	if r.stderr != "exported 3 alerts\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
	r = cix(t, "", "verify", file, "--anchors", nl.anchor).must(t, 0)
	for i, a := range as {
		if !strings.Contains(r.stdout, "line "+string(rune('1'+i))+": OK "+a.GetId()+" seizure issued ") {
			t.Errorf("line %d of %q", i+1, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "signed by NL/demo") || !strings.HasSuffix(r.stdout, ": 3 envelopes, 3 verified, 0 failed\n") {
		t.Errorf("stdout %q", r.stdout)
	}

	// Flip one byte of the second alert's payload.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var l exchange.EnvelopeLine
	if err := json.Unmarshal([]byte(lines[1]), &l); err != nil {
		t.Fatal(err)
	}
	l.Payload[len(l.Payload)/2] ^= 0x20
	tampered, _ := json.Marshal(l)
	lines[1] = string(tampered)
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = cix(t, "", "verify", file, "--anchors", nl.anchor).must(t, 1)
	if !strings.Contains(r.stdout, "line 2: FAILED bad_signature: signature does not verify with key") ||
		!strings.Contains(r.stdout, "line 1: OK ") || !strings.HasSuffix(r.stdout, "3 envelopes, 2 verified, 1 failed\n") {
		t.Errorf("tampered:\n%s", r.stdout)
	}
	r = cix(t, "", "verify", file, "--anchors", be.anchor).must(t, 1)
	if !strings.Contains(r.stdout, "line 1: FAILED unknown_key: no trust anchor for administration NL") {
		t.Errorf("without NL's anchor:\n%s", r.stdout)
	}
	cix(t, "", "verify", file).must(t, 2)
}

// TestExportSTIXAndCSV: the STIX export is one bundle with a report per alert; the CSV
// export imports again, where the ids are already stored (duplicates), and a node of
// another administration refuses it row by row.
func TestExportSTIXAndCSV(t *testing.T) {
	nl, be, as := publishedAtNL(t, 32, 4)
	r := cix(t, "", "--addr", be.d.Addr(), "export", "--format", "stix").must(t, 0)
	var bundle struct {
		Type    string           `json:"type"`
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &bundle); err != nil || bundle.Type != "bundle" {
		t.Fatalf("not a bundle: %v\n%s", err, r.stdout)
	}
	reports := 0
	for _, o := range bundle.Objects {
		if o["type"] == "report" {
			reports++
		}
	}
	if reports != len(as) {
		t.Errorf("%d reports for %d alerts", reports, len(as))
	}

	dir := t.TempDir()
	csvFile := filepath.Join(dir, "alerts.csv")
	cix(t, "", "--addr", be.d.Addr(), "export", "--format", "csv", "--out", csvFile).must(t, 0)
	r = cix(t, "", "--addr", nl.d.Addr(), "import", csvFile).must(t, 0)
	if r.stdout != csvFile+": 4 rows, 0 published (4 already stored), 0 refused\n" {
		t.Errorf("re-import: %q %q", r.stdout, r.stderr)
	}
	r = cix(t, "", "--addr", be.d.Addr(), "import", csvFile).must(t, 1)
	if strings.Count(r.stderr, ": alert.origin.administration: permission denied: alert.origin.administration: this node publishes for BE, not NL\n") != 4 {
		t.Errorf("import at BE: %q", r.stderr)
	}
}

// TestImportCSVBadRows: rows with errors are reported with their row and field; by
// default nothing is published, with --keep-good the good rows are.
func TestImportCSVBadRows(t *testing.T) {
	nl := testFederation(t, "NL").nodes[0]
	as := recent(33, 5)
	as[1].GetSeizure().GetGoods()[0].HsCode = "77123"        // row 3
	as[3].GetHandling().Tlp = alertv1.Tlp_TLP_UNSPECIFIED    // row 5
	in := csvLines(t, as...) + strings.Repeat(",", 3) + "\n" // row 7: wrong number of cells
	file := filepath.Join(t.TempDir(), "national.csv")
	if err := os.WriteFile(file, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	wantErrs := []string{
		"row 3: alert.seizure.goods[0].hs_code: ",
		"row 5: alert.handling.tlp: is required",
		"row 7: -: 4 cells, the header has ",
	}
	stored := func(i int) bool {
		_, err := nl.node.Get(t.Context(), &nodev1.GetRequest{Id: as[i].GetId()})
		if err != nil && status.Code(err) != codes.NotFound {
			t.Fatal(err)
		}
		return err == nil
	}

	r := cix(t, "", "--addr", nl.d.Addr(), "import", "--format", "csv", file).must(t, 1)
	for _, w := range wantErrs {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	if r.stdout != file+": 6 rows, 0 published (0 already stored), 3 refused\n" || !strings.Contains(r.stderr, "nothing was published") {
		t.Errorf("all or nothing: %q %q", r.stdout, r.stderr)
	}
	for i := range as {
		if stored(i) {
			t.Errorf("row %d published although the import was refused", i+2)
		}
	}

	r = cix(t, "", "--addr", nl.d.Addr(), "import", "--keep-good", file).must(t, 1)
	if r.stdout != file+": 6 rows, 3 published (0 already stored), 3 refused\n" {
		t.Errorf("keep good: %q %q", r.stdout, r.stderr)
	}
	for i, want := range []bool{true, false, true, false, true} {
		if want {
			waitForAlert(t, nl, as[i].GetId())
		} else if stored(i) {
			t.Errorf("bad row %d published", i+2)
		}
	}
}

// TestImportJSONL: a JSON lines file with an undecodable line and an invalid alert.
func TestImportJSONL(t *testing.T) {
	nl := testFederation(t, "NL").nodes[0]
	as := recent(34, 3)
	as[2].GetSeizure().Location = "Rotterdam"
	in := jsonLines(t, as[0]) + "{\"id\": 7}\n\n" + jsonLines(t, as[1], as[2])
	r := cix(t, in, "--addr", nl.d.Addr(), "import", "--format", "jsonl", "-").must(t, 1)
	if !strings.Contains(r.stderr, "row 2: -: not a cix.alert.v1.Alert in JSON") ||
		!strings.Contains(r.stderr, "row 5: alert.seizure.location: ") || r.stdout != "stdin: 4 rows, 0 published (0 already stored), 2 refused\n" {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	r = cix(t, in, "--addr", nl.d.Addr(), "import", "--format", "jsonl", "--keep-good", "-").must(t, 1)
	if r.stdout != "stdin: 4 rows, 2 published (0 already stored), 2 refused\n" {
		t.Errorf("keep good: %q %q", r.stdout, r.stderr)
	}
	waitForAlert(t, nl, as[1].GetId())
	r = cix(t, jsonLines(t, as[0], as[1]), "--addr", nl.d.Addr(), "import", "--format", "jsonl", "-").must(t, 0)
	if r.stdout != "stdin: 2 rows, 0 published (2 already stored), 0 refused\n" {
		t.Errorf("again: %q", r.stdout)
	}
}
