package cli

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"github.com/google/uuid"
)

// TestRecallReclassifyAcks: cix reclassify and recall at the originating node, get and
// feed at a receiver, acks at the origin.
func TestRecallReclassifyAcks(t *testing.T) {
	fed := testFederation(t, "NL", "BE")
	nl, be := fed.nodes[0], fed.nodes[1]
	as := seizures(41, 2)
	a, later := as[0], as[1]
	cix(t, jsonLines(t, a), "--addr", nl.d.Addr(), "publish", "-").must(t, 0)
	waitForAlert(t, be, a.GetId())
	// The origin recalls or reclassifies an alert once its own node has received it back
	// (node.originatedAudience); BE may have it first.
	waitForAlert(t, nl, a.GetId())

	r := cix(t, "", "--addr", be.d.Addr(), "recall", "--reason", "not ours", a.GetId()).must(t, 1)
	if !strings.HasPrefix(r.stderr, "cix: recall: PERMISSION_DENIED: ") {
		t.Fatalf("recall at BE: %s", r.stderr)
	}
	cix(t, "", "--addr", nl.d.Addr(), "recall", a.GetId()).must(t, 2)
	cix(t, "", "--addr", nl.d.Addr(), "recall", "--reason", "x", "--code", "whim", a.GetId()).must(t, 2)
	cix(t, "", "--addr", nl.d.Addr(), "reclassify", "--tlp", "purple", a.GetId()).must(t, 2)

	// Without --handling the code in force is kept.
	code := strings.TrimPrefix(a.GetHandling().GetCode().String(), "HANDLING_CODE_")
	r = cix(t, "", "--addr", nl.d.Addr(), "reclassify", "--tlp", "green", a.GetId()).must(t, 0)
	if !strings.Contains(r.stdout, "reclassify: alert "+a.GetId()+", reclassified TLP:GREEN "+code+"\n") {
		t.Fatalf("reclassify output:\n%s", r.stdout)
	}
	notice := uuid.NewString()
	args := []string{"--addr", nl.d.Addr(), "recall", "--reason", "wrong container", "--code", "issued_in_error", "--notice-id", notice, a.GetId()}
	r = cix(t, "", args...).must(t, 0)
	if !strings.Contains(r.stdout, "recalled (issued_in_error): wrong container") || !strings.Contains(r.stdout, "notice:  "+notice) ||
		strings.Contains(r.stdout, "already stored") {
		t.Fatalf("recall output:\n%s", r.stdout)
	}
	if r = cix(t, "", args...).must(t, 0); !strings.Contains(r.stdout, "already stored") {
		t.Fatalf("recall retried:\n%s", r.stdout)
	}

	eventually(t, "BE to apply the recall", func() bool {
		r = cix(t, "", "--addr", be.d.Addr(), "get", a.GetId())
		return strings.Contains(r.stdout, "RECALLED: ")
	})
	for _, want := range []string{"by notice " + notice + ", recalled (issued_in_error): wrong container", "handling: TLP:GREEN " + code,
		"(reclassified ", "issued as TLP:" + tlpName(a.GetHandling().GetTlp())} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("get lacks %q:\n%s", want, r.stdout)
		}
	}
	// BE's history: the two notices, not the recalled alert, then the next alert.
	cix(t, jsonLines(t, later), "--addr", nl.d.Addr(), "publish", "-").must(t, 0)
	waitForAlert(t, be, later.GetId()) // in BE's history, not live
	r = cix(t, "", "--addr", be.d.Addr(), "feed", "--from-start", "--limit", "1").must(t, 0)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || lines[1] != "-- "+a.GetId()+" reclassified TLP:GREEN "+code+" --" ||
		lines[2] != "-- recalled "+a.GetId()+": recalled (issued_in_error): wrong container --" || !strings.Contains(lines[3], later.GetId()[:8]) {
		t.Fatalf("feed:\n%s", r.stdout)
	}

	eventually(t, "BE's acknowledgements at NL", func() bool {
		r = cix(t, "", "--addr", nl.d.Addr(), "acks", a.GetId()).must(t, 0)
		return len(regexp.MustCompile(`(?m)^BE/demo +applied +\S+ \S+ +\S+$`).FindAllString(r.stdout, -1)) == 2
	})
	if !regexp.MustCompile(`^RECEIVER +OUTCOME +APPLIED AT +NOTICE +DETAIL\n`).MatchString(r.stdout) || !strings.Contains(r.stdout, notice) {
		t.Fatalf("acks:\n%s", r.stdout)
	}
	r = cix(t, "", "--addr", nl.d.Addr(), "acks", "--json", "--notice", notice).must(t, 0)
	var res struct {
		Acknowledgements []struct {
			Ack struct{ NoticeID, Outcome, ReceiverAdministration string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res.Acknowledgements) != 1 {
		t.Fatalf("acks --json (%v):\n%s", err, r.stdout)
	}
	if ack := res.Acknowledgements[0].Ack; ack.NoticeID != notice || ack.Outcome != alertv1.NoticeOutcome_NOTICE_OUTCOME_APPLIED.String() || ack.ReceiverAdministration != "BE" {
		t.Fatalf("acks --json: %+v", ack)
	}
	r = cix(t, "", "--addr", nl.d.Addr(), "acks", uuid.NewString()).must(t, 0)
	if r.stdout != "(no acknowledgements yet)\n" {
		t.Fatalf("acks of an alert without notices: %q", r.stdout)
	}
}
