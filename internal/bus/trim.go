package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cix-exchange/cix/internal/federation"
	"github.com/nats-io/nats.go/jetstream"
)

// IngestConsumerPrefix starts the name of every node's ingest consumer
// (ingest_<ADMIN>_<node>).
const IngestConsumerPrefix = "ingest_"

// TrimInbound removes from the inbound stream the messages of the given kinds (the alert
// kinds and notices: what only the ingest consumers read) that every ingest consumer of
// the stream has acknowledged, that is, that every node of the administration has stored
// in its feed or quarantined. The feed is the node's store of what it received; the
// inbound stream is its queue. Without the trim the inbound stream keeps a second copy
// of everything, and nats-server keeps a subject per message of it in memory.
//
// Each source keeps its last message of those kinds: when a source is removed and added
// back (RestartSources, UpdateInbound), nats-server finds where it stopped by reading the
// stream for that source's last message, and without one it would start from the
// stream's last time instead, skipping what the origin published in between.
//
// It returns the number of messages removed. The federation layout only; without an
// ingest consumer it removes nothing.
func (b *Bus) TrimInbound(ctx context.Context, kinds []string) (uint64, error) {
	if !b.Federated() || len(kinds) == 0 {
		return 0, nil
	}
	b.inMu.Lock() // the sources do not change under the trim
	defer b.inMu.Unlock()
	floor, ok, err := b.ingestFloor(ctx)
	if err != nil || !ok {
		return 0, err
	}
	info, err := b.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("trim inbound stream: %w", err)
	}
	before := info.State.Msgs
	first := info.State.FirstSeq
	purged := false
	for _, src := range info.Config.Sources {
		filters := trimFilters(src, kinds)
		var last uint64
		for _, f := range filters {
			m, err := b.stream.GetLastMsgForSubject(ctx, f)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				return 0, fmt.Errorf("trim inbound stream: last message on %s: %w", f, err)
			}
			last = max(last, m.Sequence)
		}
		// Purge below upto: acknowledged by every ingest consumer, and not the source's
		// last message.
		upto := min(floor+1, last)
		if upto <= first {
			continue
		}
		for _, f := range filters {
			if err := b.stream.Purge(ctx, jetstream.WithPurgeSubject(f), jetstream.WithPurgeSequence(upto)); err != nil {
				return 0, fmt.Errorf("trim inbound stream: purge %s below %d: %w", f, upto, err)
			}
		}
		purged = true
	}
	if !purged {
		return 0, nil
	}
	info, err = b.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("trim inbound stream: %w", err)
	}
	// Messages stored meanwhile count against the removed ones: a lower bound.
	if info.State.Msgs >= before {
		return 0, nil
	}
	return before - info.State.Msgs, nil
}

// ingestFloor is the lowest acknowledgement floor (stream sequence) of the inbound
// stream's ingest consumers; ok is false when there is none.
func (b *Bus) ingestFloor(ctx context.Context) (floor uint64, ok bool, err error) {
	l := b.stream.ListConsumers(ctx)
	for ci := range l.Info() {
		if !strings.HasPrefix(ci.Name, IngestConsumerPrefix) {
			continue
		}
		if !ok || ci.AckFloor.Stream < floor {
			floor, ok = ci.AckFloor.Stream, true
		}
	}
	if err := l.Err(); err != nil {
		return 0, false, fmt.Errorf("trim inbound stream: consumers: %w", err)
	}
	return floor, ok, nil
}

// trimFilters are the subject filters of src's messages of kinds in the inbound stream.
// Another member's source is filtered to one scope, cix.out.<O>.<scope>.>; the
// administration's own outbound stream is sourced whole, in every scope
// (cix.out.<A>.all.<kind>.<id>, cix.out.<A>.g.<group>.<kind>.<id>,
// cix.out.<A>.to.<PEER>.<kind>.<id>).
func trimFilters(src *jetstream.StreamSource, kinds []string) []string {
	var prefixes []string
	if base, ok := strings.CutSuffix(src.FilterSubject, ">"); ok {
		prefixes = []string{base}
	} else if src.FilterSubject == "" {
		origin, ok := strings.CutPrefix(src.Name, federation.OutboundStream(""))
		if !ok {
			return nil
		}
		prefixes = []string{
			federation.OutSubjectPrefix + origin + ".all.",
			federation.OutSubjectPrefix + origin + ".*.*.",
		}
	} else {
		return nil
	}
	var out []string
	for _, p := range prefixes {
		for _, k := range kinds {
			out = append(out, p+k+".*")
		}
	}
	return out
}
