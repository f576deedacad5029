package cli

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

// TestWatchCommands: an analyst adds entries, sees the hits of alerts received after,
// follows new hits live, resumes from a cursor, lists and removes entries.
func TestWatchCommands(t *testing.T) {
	fed := testFederation(t, "NL", "BE")
	nl, be := fed.nodes[0], fed.nodes[1]
	addr := be.d.Addr()
	r := cix(t, "", "--addr", addr, "watch", "add", "--kind", "container", "--value", "mscu 123456-6", "--label", "tip NL-17").must(t, 0)
	id := regexp.MustCompile(`^[0-9a-f-]{36}`).FindString(r.stdout)
	if id == "" || !strings.Contains(r.stdout, `container mscu 123456-6 (matched as "MSCU1234566")`) {
		t.Fatalf("add: %q", r.stdout)
	}
	cix(t, "", "--addr", addr, "watch", "add", "--kind", "text", "--value", "false floor").must(t, 0)
	r = cix(t, "", "--addr", addr, "watch", "add", "--kind", "container", "--value", "MSCU1234565").must(t, 1)
	if !strings.Contains(r.stderr, "INVALID_ARGUMENT") || !strings.Contains(r.stderr, "value: \"MSCU1234565\" is not an ISO 6346 container number") {
		t.Errorf("bad check digit: %q", r.stderr)
	}
	cix(t, "", "--addr", addr, "watch", "add", "--kind", "boat", "--value", "x").must(t, 2)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	live, _, done := background(ctx, "--addr", addr, "watch", "hits", "--follow")

	as := recent(41, 3)
	for _, a := range as {
		a.GetSeizure().Concealment = "in the cargo"
	}
	as[0].GetSeizure().GetConveyance().ContainerNumbers = []string{"MSCU1234566"}
	as[2].GetSeizure().Concealment = "a FALSE-floor in the trailer"
	cix(t, jsonLines(t, as...), "--addr", nl.d.Addr(), "publish", "-").must(t, 0)
	eventually(t, "two live hits", func() bool { return strings.Count(live.String(), "\n") == 3 })

	out := live.String()
	if !strings.Contains(out, "container  mscu 123456-6           tip NL-17       "+as[0].GetId()+"  NL      seizure.conveyance.container_numbers[0]  MSCU1234566") ||
		!strings.Contains(out, as[2].GetId()) || strings.Contains(out, as[1].GetId()) {
		t.Errorf("live hits:\n%s", out)
	}
	cancel()
	if code := exitOf(t, done); code != 0 {
		t.Fatalf("watch hits --follow exit %d", code)
	}

	r = cix(t, "", "--addr", addr, "watch", "hits", "--json").must(t, 0)
	if strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stderr, "resume with: cix watch hits --cursor 2") {
		t.Fatalf("hits: %q %q", r.stdout, r.stderr)
	}
	r = cix(t, "", "--addr", addr, "watch", "hits", "--cursor", "1").must(t, 0)
	if strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stdout, as[2].GetId()) {
		t.Fatalf("hits after cursor 1: %q", r.stdout)
	}

	r = cix(t, "", "--addr", addr, "watch", "list").must(t, 0)
	if strings.Count(r.stdout, "\n") != 3 || !strings.Contains(r.stdout, id+"  container  mscu 123456-6  -      tip NL-17") {
		t.Errorf("list:\n%s", r.stdout)
	}
	cix(t, "", "--addr", addr, "watch", "rm", id).must(t, 0)
	r = cix(t, "", "--addr", addr, "watch", "rm", id).must(t, 1)
	if !strings.Contains(r.stderr, "NOT_FOUND") {
		t.Errorf("second rm: %q", r.stderr)
	}
}
