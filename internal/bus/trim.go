package bus

import (
	"context"
	"encoding/json"
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
// stream for that source's last message, and without one it would start over
// (federation.InboundStreamConfig: at the origin's first message).
//
// It returns the number of messages removed, also when it fails part way. The
// federation layout only; without an ingest consumer it removes nothing.
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
	var removed uint64
	for _, src := range info.Config.Sources {
		filters := trimFilters(src, kinds)
		var last uint64
		for _, f := range filters {
			m, err := b.stream.GetLastMsgForSubject(ctx, f)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				return removed, fmt.Errorf("trim inbound stream: last message on %s: %w", f, err)
			}
			last = max(last, m.Sequence)
		}
		// Purge below upto: acknowledged by every ingest consumer, and not the source's
		// last message.
		upto := min(floor+1, last)
		if upto <= info.State.FirstSeq {
			continue
		}
		for _, f := range filters {
			n, err := b.purge(ctx, f, upto)
			removed += n
			if err != nil {
				return removed, fmt.Errorf("trim inbound stream: purge %s below %d: %w", f, upto, err)
			}
		}
	}
	return removed, nil
}

// purge removes the inbound stream's messages on filter below seq and returns how many
// nats-server removed (the client's Stream.Purge drops that count). The bus's JetStream
// context has the default API prefix (Open).
func (b *Bus) purge(ctx context.Context, filter string, seq uint64) (uint64, error) {
	req, err := json.Marshal(jetstream.StreamPurgeRequest{Subject: filter, Sequence: seq})
	if err != nil {
		return 0, err
	}
	msg, err := b.js.Conn().RequestWithContext(ctx, jetstream.DefaultAPIPrefix+"STREAM.PURGE."+b.readName, req)
	if err != nil {
		return 0, err
	}
	var resp struct {
		Purged uint64              `json:"purged"`
		Error  *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return 0, fmt.Errorf("purge response: %w", err)
	}
	if resp.Error != nil {
		return 0, resp.Error
	}
	return resp.Purged, nil
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
