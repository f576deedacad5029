package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
)

func TestQuarantineListAndInfo(t *testing.T) {
	fed := testFederation(t, "NL", "BE")
	nl, be := fed.nodes[0], fed.nodes[1]
	a := seizures(41, 1)[0]
	cix(t, jsonLines(t, a), "--addr", nl.d.Addr(), "publish", "-").must(t, 0)
	va := waitForAlert(t, be, a.GetId())

	r := cix(t, "", "--addr", be.d.Addr(), "quarantine", "list").must(t, 0)
	if !strings.Contains(r.stdout, "(quarantine empty)") {
		t.Fatalf("empty quarantine:\n%s", r.stdout)
	}
	var subjects []string
	for range 2 {
		s, err := publishTampered(context.Background(), fed.ns.ClientURL(), va.GetEnvelope(), "NL", alert.KindName(alert.Kind(a)))
		if err != nil {
			t.Fatal(err)
		}
		subjects = append(subjects, s)
	}
	eventually(t, "both tampered messages in BE's quarantine", func() bool {
		m, err := findQuarantined(context.Background(), be.adm, subjects[1])
		return err == nil && m != nil
	})

	r = cix(t, "", "--addr", be.d.Addr(), "quarantine", "list").must(t, 0)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "SEQ  TIME") {
		t.Fatalf("want a header, 2 rows, a blank line and the counts:\n%s", r.stdout)
	}
	// Newest first.
	for i, l := range lines[1:3] {
		if !strings.Contains(l, "  bad_signature  "+subjects[1-i]+"  signature does not verify") {
			t.Errorf("row %d: %q", i, l)
		}
	}
	if lines[4] != "quarantined by reason (2 in all): bad_signature 2" {
		t.Errorf("counts %q", lines[4])
	}
	r = cix(t, "", "--addr", be.d.Addr(), "quarantine", "list", "--limit", "1", "--json").must(t, 0)
	var res struct {
		Messages []struct {
			Reason, Subject string
			Raw             []byte
		}
		Counts map[string]string
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 1 || res.Messages[0].Subject != subjects[1] || res.Messages[0].Reason != "QUARANTINE_REASON_BAD_SIGNATURE" ||
		len(res.Messages[0].Raw) == 0 || res.Counts["bad_signature"] != "2" {
		t.Fatalf("--json:\n%s", r.stdout)
	}
	cix(t, "", "--addr", be.d.Addr(), "quarantine").must(t, 2)
	cix(t, "", "--addr", be.d.Addr(), "quarantine", "list", "--limit", "0").must(t, 2)

	r = cix(t, "", "--addr", be.d.Addr(), "info").must(t, 0)
	for _, want := range []string{
		"node:        BE/demo at " + be.d.Addr() + "\n",
		"trusts:      BE, NL\n",
		"feed:        1 verified alerts\n",
		"quarantine:  2 refused messages\n",
		"certificate: valid until ",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("info lacks %q:\n%s", want, r.stdout)
		}
	}
	r = cix(t, "", "--addr", be.d.Addr(), "info", "--json").must(t, 0)
	if !strings.Contains(r.stdout, `"administration": "BE"`) {
		t.Errorf("info --json:\n%s", r.stdout)
	}
}

func TestInfoShowsNATSCredentialsFromVault(t *testing.T) {
	var b strings.Builder
	info := &nodev1.GetNodeInfoResponse{Administration: "NL", Node: "n1"}
	printInfo(&b, "127.0.0.1:7400", info, time.Now())
	if strings.Contains(b.String(), "nats creds") {
		t.Fatalf("credentials row without credentials from Vault:\n%s", b.String())
	}
	info.NatsCredentialsState, info.NatsCredentialsVersion = "degraded", 3
	info.NatsCredentialsDetail = "version 4 refused: user JWT: expected 3 chunks; version 3 stays in use"
	b.Reset()
	printInfo(&b, "127.0.0.1:7400", info, time.Now())
	want := "nats creds:  from Vault KV, version 3, degraded: version 4 refused: user JWT: expected 3 chunks; version 3 stays in use\n"
	if !strings.Contains(b.String(), want) {
		t.Fatalf("info:\n%s\nwant the line %q", b.String(), want)
	}
}

func TestHealth(t *testing.T) {
	fed := testFederation(t, "NL", "BE")
	be := fed.nodes[1]
	var r result
	eventually(t, "BE healthy (its receiver creates the ingest consumer)", func() bool {
		r = cix(t, "", "--addr", be.d.Addr(), "health")
		return r.code == 0
	})
	for _, want := range []string{be.d.Addr() + ": ok (serving)\n", "  nats ", "  jetstream ", "  signing_identity ", "  revocations "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("health lacks %q:\n%s", want, r.stdout)
		}
	}
	r = cix(t, "", "--addr", be.d.Addr(), "health", "--json").must(t, 0)
	if !strings.Contains(r.stdout, `"state": "HEALTH_STATE_OK"`) || !strings.Contains(r.stdout, `"name": "nats"`) {
		t.Errorf("health --json:\n%s", r.stdout)
	}
	cix(t, "", "--addr", be.d.Addr(), "health", "extra").must(t, 2)
}

// TestQuarantineSubject: an alert quarantined on the federation's shared alert subject
// is listed with its id from its message id; anything else with its subject.
func TestQuarantineSubject(t *testing.T) {
	const id = "0b7e7e5e-6f1c-4d53-9a57-1c2f0a4e9b10"
	for _, tc := range []struct{ subject, msgID, want string }{
		{"cix.out.NL.all.risk._", "cix.out.NL.all.risk." + id, "cix.out.NL.all.risk." + id},
		{"cix.out.NL.all.risk._", "", "cix.out.NL.all.risk._"},
		{"cix.out.NL.all.risk._", "cix.out.BE.all.risk." + id, "cix.out.NL.all.risk._"}, // not its message id
		{"cix.out.NL.all.notice." + id, "cix.out.NL.all.notice." + id, "cix.out.NL.all.notice." + id},
		{"cix.alert.v1.NL.risk." + id, id, "cix.alert.v1.NL.risk." + id},
	} {
		if got := quarantineSubject(&nodev1.QuarantinedMessage{Subject: tc.subject, MessageId: tc.msgID}); got != tc.want {
			t.Errorf("subject %s, message id %q: %s, want %s", tc.subject, tc.msgID, got, tc.want)
		}
	}
}
