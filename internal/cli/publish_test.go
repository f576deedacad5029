package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"google.golang.org/protobuf/encoding/protojson"
)

func TestGenPipedToPublishThenDuplicates(t *testing.T) {
	nl := testFederation(t, "NL").nodes[0]
	gen := cix(t, "", "gen", "--count", "50", "--seed", "7").must(t, 0)
	if n := strings.Count(gen.stdout, "\n"); n != 50 {
		t.Fatalf("gen wrote %d lines, want 50", n)
	}
	if again := cix(t, "", "gen", "--count", "50", "--seed", "7").must(t, 0); again.stdout != gen.stdout {
		t.Fatal("gen is not deterministic for a seed")
	}
	first := cix(t, gen.stdout, "--addr", nl.d.Addr(), "publish", "-").must(t, 0)
	if !strings.HasPrefix(first.stdout, "published 50, duplicates 0, failed 0 in ") || !strings.Contains(first.stdout, "alerts/s)") {
		t.Fatalf("summary:\n%s", first.stdout)
	}
	second := cix(t, gen.stdout, "--addr", nl.d.Addr(), "publish", "-").must(t, 0)
	if !strings.HasPrefix(second.stdout, "published 0, duplicates 50, failed 0 in ") {
		t.Fatalf("summary of the second run:\n%s", second.stdout)
	}
}

// jsonLines renders alerts as JSON lines.
func jsonLines(t *testing.T, alerts ...*alertv1.Alert) string {
	t.Helper()
	var b strings.Builder
	for _, a := range alerts {
		j, err := protojson.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// seizures returns n generated seizures (no amendments, so each stands alone).
func seizures(seed int64, n int) []*alertv1.Alert {
	g := synth.New(seed, "NL")
	var out []*alertv1.Alert
	for len(out) < n {
		if a := g.Next(); a.GetSeizure() != nil && a.GetSupersedes() == "" {
			out = append(out, a)
		}
	}
	return out
}

func TestPublishReportsEachFailedItem(t *testing.T) {
	nl := testFederation(t, "NL").nodes[0]
	as := seizures(3, 5)
	as[2].GetSeizure().GetGoods()[0].HsCode = "77123" // refused by the node
	lines := strings.Split(jsonLines(t, as...), "\n")
	// Item 4 has a field Alert does not know: refused before it is sent.
	lines[3] = strings.Replace(lines[3], `{`, `{"colour":"blue",`, 1)
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}

	r := cix(t, "", "--addr", nl.d.Addr(), "publish", path).must(t, 1)
	for _, want := range []string{
		"published 3, duplicates 0, failed 2 in ",
		"item 3 (line 3): INVALID_ARGUMENT: ",
		"\n  alert.seizure.goods[0].hs_code: ",
		"item 4 (line 4): decode alert: ",
		`unknown field "colour"`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, i := range []int{0, 1, 4} {
		waitForAlert(t, nl, as[i].GetId())
	}

	// The same with --json: one object per item, in order.
	r = cix(t, "", "--addr", nl.d.Addr(), "publish", "--json", path).must(t, 1)
	var got []resultJSON
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var res resultJSON
		if err := json.Unmarshal([]byte(l), &res); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, res)
	}
	want := []string{"duplicate", "duplicate", "failed", "failed", "duplicate"}
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d:\n%s", len(got), len(want), r.stdout)
	}
	for i, res := range got {
		if res.Item != i+1 || res.Line != i+1 || res.Status != want[i] {
			t.Errorf("result %d: %+v, want item %d line %d %s", i, res, i+1, i+1, want[i])
		}
	}
	if got[2].Code != "INVALID_ARGUMENT" || len(got[2].FieldViolations) == 0 ||
		got[2].FieldViolations[0].Field != "alert.seizure.goods[0].hs_code" || got[2].ID != as[2].GetId() {
		t.Errorf("invalid item: %+v", got[2])
	}
}

func TestPublishOneAlert(t *testing.T) {
	nl := testFederation(t, "NL").nodes[0]
	a := seizures(5, 1)[0]
	pretty := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Format(a)
	r := cix(t, pretty, "--addr", nl.d.Addr(), "publish", "-").must(t, 0)
	if !regexp.MustCompile(`^published ` + a.GetId() + ` seq \d+\n$`).MatchString(r.stdout) {
		t.Fatalf("output %q", r.stdout)
	}
	r = cix(t, pretty, "--addr", nl.d.Addr(), "publish", "-").must(t, 0)
	if !regexp.MustCompile(`^duplicate ` + a.GetId() + ` \(already stored, seq \d+\)\n$`).MatchString(r.stdout) {
		t.Fatalf("output %q", r.stdout)
	}

	a.GetSeizure().GetGoods()[0].HsCode = "77123"
	a.GetSeizure().Location = "XX123"
	r = cix(t, jsonLines(t, a), "--addr", nl.d.Addr(), "publish", "-").must(t, 1)
	for _, want := range []string{
		"cix: publish: INVALID_ARGUMENT: ",
		"\n  alert.seizure.goods[0].hs_code: ",
		"\n  alert.seizure.location: ",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	cix(t, "", "--addr", nl.d.Addr(), "publish", "-").must(t, 1)
	cix(t, "", "publish").must(t, 2)
	cix(t, "", "publish", "a", "b").must(t, 2)
}

func TestPublishStopsAtBrokenJSON(t *testing.T) {
	nl := testFederation(t, "NL").nodes[0]
	as := seizures(9, 2)
	in := jsonLines(t, as...) + "{\"id\": oops}\n" + jsonLines(t, seizures(10, 1)...)
	r := cix(t, in, "--addr", nl.d.Addr(), "publish", "-").must(t, 1)
	if !strings.Contains(r.stdout, "published 2, duplicates 0, failed 1") ||
		!strings.Contains(r.stdout, "item 3 (line 3): invalid JSON: ") {
		t.Fatalf("output:\n%s", r.stdout)
	}
	for _, a := range as {
		waitForAlert(t, nl, a.GetId())
	}
}

// TestDecoderLines checks the line numbers of pretty-printed values, blank lines and
// failures, without a node.
func TestDecoderLines(t *testing.T) {
	as := seizures(11, 3)
	var in strings.Builder
	var wantLines []int
	line := 1
	for i, a := range as {
		var s string
		if i == 1 {
			s = string(must(protojson.Marshal(a))) // one line
		} else {
			s = protojson.MarshalOptions{Multiline: true}.Format(a)
		}
		wantLines = append(wantLines, line)
		in.WriteString(s + "\n\n")
		line += strings.Count(s, "\n") + 2
	}
	in.WriteString(`  {"id": "x", "nope": 1}` + "\n")
	wantLines = append(wantLines, line)
	in.WriteString("\n\n[1, 2,\n 3 4]")
	wantLines = append(wantLines, line+4) // a syntax error is reported where it is

	d := newAlertDecoder(strings.NewReader(in.String()))
	var got []*item
	for it := d.next(); it != nil; it = d.next() {
		got = append(got, it)
	}
	if len(got) != 5 {
		t.Fatalf("%d items, want 5", len(got))
	}
	for i, it := range got {
		if it.n != i+1 || it.line != wantLines[i] {
			t.Errorf("item %d: n %d line %d, want line %d (%v)", i+1, it.n, it.line, wantLines[i], it.err)
		}
		if (i < 3) != (it.err == nil) {
			t.Errorf("item %d: err %v", i+1, it.err)
		}
	}
	if !strings.Contains(fmt.Sprint(got[3].err), "unknown field") || !got[4].fatal {
		t.Errorf("errors: %v / %v (fatal %v)", got[3].err, got[4].err, got[4].fatal)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
