package daemon_test

import (
	"context"
	"io"
	"testing"

	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/envelope"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
)

func TestPublishStreamResultPerItem(t *testing.T) {
	nl, be := pair(t)
	sub := subscribe(t, be, &nodev1.SubscribeRequest{})
	gen := synth.New(5, "NL")
	const n = 500
	// Generate everything first: the generator derives amendments from earlier alerts.
	items := gen.NextN(n)
	bad := map[int]string{}
	for i := range items {
		switch i % 97 {
		case 13:
			items[i].GetHandling().Tlp = alertv1.Tlp_TLP_UNSPECIFIED
			bad[i] = "alert.handling.tlp"
		case 42:
			items[i].Origin.Administration = "DE"
			bad[i] = ""
		}
	}
	items[n-1] = items[0] // the same alert again: a duplicate, not an error

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	stream, err := nl.client.PublishStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for _, a := range items {
			if err := stream.Send(&nodev1.PublishStreamRequest{Alert: a}); err != nil {
				return
			}
		}
		_ = stream.CloseSend()
	}()
	var results []*nodev1.PublishStreamResponse
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d results: %v", len(results), err)
		}
		results = append(results, r)
	}
	if len(results) != n {
		t.Fatalf("%d results for %d items", len(results), n)
	}
	published := 0
	for i, r := range results {
		if r.GetIndex() != uint64(i) {
			t.Fatalf("result %d has index %d", i, r.GetIndex())
		}
		field, isBad := bad[i]
		switch {
		case isBad && field != "":
			if r.GetError().GetCode() != uint32(codes.InvalidArgument) || len(r.GetError().GetFieldViolations()) == 0 ||
				r.GetError().GetFieldViolations()[0].GetField() != field {
				t.Fatalf("item %d: %v, want InvalidArgument on %s", i, r, field)
			}
		case isBad:
			if r.GetError().GetCode() != uint32(codes.PermissionDenied) {
				t.Fatalf("item %d: %v, want PermissionDenied", i, r)
			}
		case i == n-1:
			if !r.GetResult().GetDuplicate() || r.GetId() != items[0].GetId() {
				t.Fatalf("repeated item: %v", r)
			}
		default:
			if r.GetError() != nil || r.GetResult().GetSequence() == 0 || r.GetId() != items[i].GetId() {
				t.Fatalf("item %d: %v", i, r)
			}
			published++
		}
	}
	// Every accepted item arrives at BE once, in order.
	end := sentinel(t, nl)
	got := sub.untilID(t, end, wait)
	if len(got) != published {
		t.Fatalf("BE received %d, want %d", len(got), published)
	}
	j := 0
	for i := 0; i < n-1; i++ {
		if _, isBad := bad[i]; isBad {
			continue
		}
		if got[j].GetAlert().GetId() != items[i].GetId() {
			t.Fatalf("BE alert %d is %s, want %s", j, got[j].GetAlert().GetId(), items[i].GetId())
		}
		j++
	}
}

// TestOwnAlertsStoredWithoutReverifyingOnlyVerbatim: a node stores the alerts it signed
// itself without verifying its own signature again, but only byte for byte on the
// subject it published them on: the same bytes put on another subject are refused.
func TestOwnAlertsStoredWithoutReverifyingOnlyVerbatim(t *testing.T) {
	nl, be := pair(t)
	ctx := context.Background()
	a := newAlert("NL")
	publish(t, nl, a)
	var got *nodev1.GetResponse
	eventually(t, wait, "the alert in NL's own feed", func() bool {
		r, err := nl.client.Get(ctx, &nodev1.GetRequest{Id: a.GetId()})
		got = r
		return err == nil
	})
	if s := got.GetAlert().GetSigner(); s.GetAdministration() != "NL" || s.GetNode() != "n1" || s.GetKeyid() == "" {
		t.Fatalf("own alert stored with signer %v", s)
	}
	raw, err := envelope.Marshal(got.GetAlert().GetEnvelope())
	if err != nil {
		t.Fatal(err)
	}
	other := bus.AlertSubject("NL", "seizure", uuid.NewString())
	if _, err := jsOf(t, nl).Publish(ctx, other, raw); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testNode{nl, be} {
		eventually(t, wait, "the replay quarantined at "+n.cfg.Administration, func() bool {
			return quarantinedBySubject(t, n)[other].GetReason() == nodev1.QuarantineReason_QUARANTINE_REASON_INVALID_CONTENT
		})
	}
}
