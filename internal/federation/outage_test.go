package federation_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/federation"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publishMany stores n alerts of l's administration for scope, asynchronously, ids
// prefix-0000 to prefix-(n-1) in order, and waits for every ack of l's own domain.
func (l *leaf) publishMany(t *testing.T, s federation.Scope, prefix string, n int) []string {
	t.Helper()
	return l.publishSized(t, s, prefix, n, 0)
}

// publishSized is publishMany with payloads of at least size bytes.
func (l *leaf) publishSized(t *testing.T, s federation.Scope, prefix string, n, size int) []string {
	t.Helper()
	subjects := make([]string, n)
	futures := make([]jetstream.PubAckFuture, n)
	for i := range n {
		subjects[i] = federation.OutboundSubject(l.code, s, "risk", fmt.Sprintf("%s-%04d", prefix, i))
		data := []byte(subjects[i])
		if len(data) < size {
			data = append(data, make([]byte, size-len(data))...)
		}
		f, err := l.js.PublishMsgAsync(&nats.Msg{Subject: subjects[i], Data: data},
			jetstream.WithMsgID(subjects[i]), jetstream.WithExpectStream(federation.OutboundStream(l.code)))
		if err != nil {
			t.Fatalf("%s: publish %d: %v", l.code, i, err)
		}
		futures[i] = f
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatalf("%s: publish %d: %v", l.code, i, err)
		case <-time.After(wait):
			t.Fatalf("%s: publish %d: no ack", l.code, i)
		}
	}
	return subjects
}

// waitInOrder waits until code's inbound stream holds, among the messages matching
// filter, exactly want, in this order: no gap, no duplicate, no reordering.
func (f *fed) waitInOrder(code, filter string, want []string) {
	f.t.Helper()
	checkFor(f.t, wait, func() error {
		got := f.leaf(code).inbound(f.t, filter)
		if len(got) < len(want) {
			return fmt.Errorf("%s inbound (%s) holds %d of %d", code, filter, len(got), len(want))
		}
		return nil
	})
	got := f.leaf(code).inbound(f.t, filter)
	if len(got) != len(want) {
		f.t.Fatalf("%s inbound (%s) holds %d messages, want %d (duplicates?)", code, filter, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			f.t.Fatalf("%s inbound (%s) message %d is %s, want %s", code, filter, i, got[i], want[i])
		}
	}
}

// TestHubOutageLosesNothing stops the hub while NL publishes 1,000 alerts for all
// members: NL's leaf keeps accepting them in its own domain, and when the hub returns
// every one arrives at BE and DE, once, in order.
func TestHubOutageLosesNothing(t *testing.T) {
	f := startFed(t, nil)
	nl := f.leaf("NL")
	all := federation.ScopeFilter("NL", federation.AllMembers())
	// The sources are up: an alert before the outage arrives.
	before := nl.publishMany(t, federation.AllMembers(), "before", 1)
	f.waitInOrder("BE", all, before)
	f.waitInOrder("DE", all, before)

	f.stopHub()
	start := time.Now()
	during := nl.publishMany(t, federation.AllMembers(), "during", 1000)
	t.Logf("1000 alerts accepted by NL's leaf in %v while the hub was down", time.Since(start))

	f.startHub()
	back := time.Now()
	f.waitLeafNodes(len(f.m.Members))
	want := append(append([]string{}, before...), during...)
	f.waitInOrder("BE", all, want)
	f.waitInOrder("DE", all, want)
	t.Logf("caught up at BE and DE %v after the hub returned", time.Since(back))

	// Sourcing goes on after the catch-up.
	after := nl.publishMany(t, federation.AllMembers(), "after", 1)
	want = append(want, after...)
	f.waitInOrder("BE", all, want)
	f.waitInOrder("DE", all, want)
}

// TestRestartedLeafCatchesUp stops BE's leaf, publishes at NL meanwhile, and restarts
// BE's leaf from its store: its inbound stream resumes where it stopped, with no gap and
// no duplicate.
func TestRestartedLeafCatchesUp(t *testing.T) {
	f := startFed(t, nil)
	nl := f.leaf("NL")
	all := federation.ScopeFilter("NL", federation.AllMembers())
	benelux := federation.ScopeFilter("NL", federation.ToGroup("benelux"))
	first := nl.publishMany(t, federation.AllMembers(), "first", 100)
	firstG := nl.publishMany(t, federation.ToGroup("benelux"), "first", 10)
	f.waitInOrder("BE", all, first)
	f.waitInOrder("BE", benelux, firstG)

	f.stopLeaf("BE")
	f.waitLeafNodes(len(f.m.Members) - 1)
	second := nl.publishMany(t, federation.AllMembers(), "second", 300)
	secondG := nl.publishMany(t, federation.ToGroup("benelux"), "second", 30)

	start := time.Now()
	f.startLeaf("BE")
	f.waitLeafNodes(len(f.m.Members))
	f.waitInOrder("BE", all, append(append([]string{}, first...), second...))
	f.waitInOrder("BE", benelux, append(append([]string{}, firstG...), secondG...))
	t.Logf("BE caught up %v after its restart", time.Since(start))
}

// TestSourcingStallsWithoutAnExport shows why every export is generated. With the
// generated configuration minus the deliver-prefix export nothing of NL's reaches BE,
// and BE's source reports neither lag nor error: a silent stall. Minus the flow-control
// export, sourcing stops after the consumer's first window of pending bytes (2 MiB in
// nats-server 2.15); the source then reports error 10228 ("stalled on flow control")
// in the stream info. Each variant watches for 5 seconds, in which the complete
// configuration delivers the same 3 MiB in well under one.
func TestSourcingStallsWithoutAnExport(t *testing.T) {
	for _, tc := range []struct{ name, drop string }{
		{"complete configuration", ""},
		{"no flow-control export", "$JS.FC."},
		{"no deliver-prefix export", federation.DeliverSubjectPrefix},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var edit func(string) string
			if tc.drop != "" {
				edit = func(conf string) string { return dropLines(conf, tc.drop) }
			}
			f := startFed(t, edit)
			nl := f.leaf("NL")
			// 3 MiB: more than the first flow-control window.
			sent := nl.publishSized(t, federation.AllMembers(), "stall", 3000, 1024)
			all := federation.ScopeFilter("NL", federation.AllMembers())
			deadline := time.Now().Add(5 * time.Second)
			var got int
			for time.Now().Before(deadline) {
				if got = len(f.leaf("BE").inbound(t, all)); got == len(sent) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			src := f.leaf("BE").sourceInfo(t, federation.OutboundStream("NL"), all)
			t.Logf("%d of %d alerts arrived at BE in 5 s; source lag %d, error %v", got, len(sent), src.Lag, src.Error)
			switch {
			case tc.drop == "" && got != len(sent):
				t.Fatalf("the complete configuration delivered %d of %d", got, len(sent))
			case tc.drop != "" && got == len(sent):
				t.Fatalf("all %d alerts arrived without the export", got)
			}
		})
	}
}

// sourceInfo returns the state of the source of l's inbound stream from stream with
// filter.
func (l *leaf) sourceInfo(t *testing.T, stream, filter string) *jetstream.StreamSourceInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := l.js.Stream(ctx, federation.InboundStream(l.code))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range info.Sources {
		if s.Name == stream && s.FilterSubject == filter {
			return s
		}
	}
	t.Fatalf("%s: no source %s (%s)", l.code, stream, filter)
	return nil
}

// dropLines removes every line of conf containing s.
func dropLines(conf, s string) string {
	var out []string
	for _, l := range strings.Split(conf, "\n") {
		if !strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
