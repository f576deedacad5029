package federation

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamOptions shape the streams a node creates in its administration's domain.
type StreamOptions struct {
	// Replicas of the streams (1 on a single leaf server).
	Replicas int
	// MaxAge after which messages expire; 0 keeps them.
	MaxAge time.Duration
	// DuplicateWindow of the outbound stream (default 2 minutes): within it a re-published
	// Nats-Msg-Id is reported as a duplicate in the ack. Publish with the subject as the
	// message id: one alert may be published to several scopes.
	DuplicateWindow time.Duration
}

func (o StreamOptions) withDefaults() StreamOptions {
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.DuplicateWindow == 0 {
		o.DuplicateWindow = 2 * time.Minute
	}
	if o.MaxAge > 0 && o.DuplicateWindow > o.MaxAge {
		o.DuplicateWindow = o.MaxAge
	}
	return o
}

// OutboundStreamConfig is the configuration of admin's outbound stream: every alert and
// other message admin publishes, under cix.out.<ADMIN>.>. It has no limit of messages per
// subject: the alerts of a scope and kind share one subject (AlertToken). Within the
// duplicate window a repeat is refused by its message id (OutboundMsgID); beyond it, the
// publishers of the messages with an id in their subject ask for the subject to be empty
// (Nats-Expected-Last-Subject-Sequence 0, bus.Publish) and the node looks its alerts up
// in its feed; every receiver keeps what it applied once (docs/security.md).
func OutboundStreamConfig(m *Manifest, admin string, o StreamOptions) (jetstream.StreamConfig, error) {
	if m.Member(admin) == nil {
		return jetstream.StreamConfig{}, fmt.Errorf("outbound stream: %q is not a member", admin)
	}
	o = o.withDefaults()
	return jetstream.StreamConfig{
		Name:        OutboundStream(admin),
		Description: "cix alerts published by " + admin + ", all scopes",
		Subjects:    []string{OriginFilter(admin)},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Replicas:    o.Replicas,
		MaxAge:      o.MaxAge,
		Duplicates:  o.DuplicateWindow,
		Discard:     jetstream.DiscardNew,
		MaxMsgSize:  1 << 20,
	}, nil
}

// InboundStreamConfig is the configuration of admin's inbound stream. It has no subjects
// of its own: it sources admin's own outbound stream (locally) and, from each other
// member's outbound stream, exactly the scopes admin is entitled to, one source per
// (origin, scope) filtered to that scope, across the origin's domain (External API
// prefix) with the deliver prefix of the pair. The hub exports and imports exactly these
// (HubConfig), so a source the manifest does not grant cannot be set up.
func InboundStreamConfig(m *Manifest, admin string, o StreamOptions) (jetstream.StreamConfig, error) {
	if m.Member(admin) == nil {
		return jetstream.StreamConfig{}, fmt.Errorf("inbound stream: %q is not a member", admin)
	}
	o = o.withDefaults()
	// OptStartSeq 1: a source whose position nats-server does not know (new, or removed
	// and added back without a message of it left in the stream, which the node trims:
	// bus.TrimInbound) starts at the origin's first message. Without it nats-server
	// starts such a source at the inbound stream's last time once the stream's first
	// message is gone, and skips what the origin published before.
	sources := []*jetstream.StreamSource{{Name: OutboundStream(admin), OptStartSeq: 1}}
	for _, e := range m.Entitlements(admin) {
		sources = append(sources, &jetstream.StreamSource{
			Name:          OutboundStream(e.Origin),
			OptStartSeq:   1,
			FilterSubject: ScopeFilter(e.Origin, e.Scope),
			External: &jetstream.ExternalStream{
				APIPrefix:     APIPrefix(m.Member(e.Origin).Domain),
				DeliverPrefix: DeliverPrefix(admin, e.Origin),
			},
		})
	}
	return jetstream.StreamConfig{
		Name:        InboundStream(admin),
		Description: "cix alerts " + admin + " may read: its own and those of its scopes",
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Replicas:    o.Replicas,
		MaxAge:      o.MaxAge,
		Sources:     sources,
	}, nil
}
