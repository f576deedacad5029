package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// SourceKey names a source of the inbound stream: its stream and filter.
func SourceKey(name, filter string) string {
	if filter == "" {
		return name
	}
	return name + " " + filter
}

// SourceState is what the inbound stream reports about one of its sources.
type SourceState struct {
	Key string // SourceKey
	// External: a source across domains (another member's outbound stream).
	External bool
	// Lag is how many messages of the origin's stream the source has not received yet,
	// as of its last contact.
	Lag uint64
	// Inactive is the time since the source last heard from the origin (a message or a
	// heartbeat, every second while its consumer lives).
	Inactive time.Duration
	// Err is the error the source reports, if any.
	Err string
}

// Sources reports the state of the inbound stream's sources (federation layout only).
func (b *Bus) Sources(ctx context.Context) ([]SourceState, error) {
	if !b.Federated() {
		return nil, nil
	}
	st, err := b.js.Stream(ctx, b.readName)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []SourceState
	for _, si := range info.Sources {
		s := SourceState{Key: SourceKey(si.Name, si.FilterSubject), External: si.External != nil, Lag: si.Lag, Inactive: si.Active}
		if si.Error != nil {
			s.Err = si.Error.Error()
		}
		out = append(out, s)
	}
	return out, nil
}

// RestartSources makes nats-server set up the consumers of the inbound stream's sources
// keys again now: it updates the stream without them, then with them again. A source
// re-added resumes after the last message the stream holds from it (nats-server keeps
// each source's position in the stream's store), so nothing is skipped or stored twice.
// nats-server otherwise retries a source whose consumer-create request got no answer
// only after that request's 30 s timeout and a backoff.
func (b *Bus) RestartSources(ctx context.Context, keys []string) error {
	if !b.Federated() || len(keys) == 0 {
		return nil
	}
	b.inMu.Lock()
	defer b.inMu.Unlock()
	st, err := b.js.Stream(ctx, b.readName)
	if err != nil {
		return err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return err
	}
	full := info.Config
	without := full
	without.Sources = slices.DeleteFunc(slices.Clone(full.Sources), func(s *jetstream.StreamSource) bool {
		return slices.Contains(keys, SourceKey(s.Name, s.FilterSubject))
	})
	if len(without.Sources) == len(full.Sources) {
		return nil
	}
	if _, err := b.js.UpdateStream(ctx, without); err != nil {
		return fmt.Errorf("restart sources of %s: remove: %w", b.readName, err)
	}
	// Put them back whatever ctx says: the stream must not stay without them.
	var errs []error
	for i := 0; i < 5; i++ {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, err := b.js.UpdateStream(actx, full)
		cancel()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("restart sources of %s: add back: %w", b.readName, errors.Join(errs...))
}
