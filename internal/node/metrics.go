package node

import (
	"errors"

	"github.com/cix-exchange/cix/internal/bus"
)

// Publish results, as Metrics.Published receives them.
const (
	PublishStored    = "stored"    // stored in the alert stream
	PublishDuplicate = "duplicate" // the stream held the id already
	PublishRefused   = "refused"   // invalid or not allowed: nothing stored
	PublishFailed    = "failed"    // not stored: NATS unavailable or no usable signing key
)

// Metrics receives the node's counts (internal/metrics implements it). The node calls
// it on its hot paths, once per publish and once per stored batch: implementations must
// be cheap and safe for concurrent use.
type Metrics interface {
	// Published counts one publish by result (PublishStored, ...).
	Published(result string)
	// Ingested counts a stored batch: messages received, alerts and notices verified.
	Ingested(received, alerts, notices int)
	// Quarantined counts a message stored in the quarantine, by reason name.
	Quarantined(reason string)
	// AckReceived counts a verified acknowledgement of one of this administration's
	// notices.
	AckReceived()
}

type noMetrics struct{}

func (noMetrics) Published(string)       {}
func (noMetrics) Ingested(int, int, int) {}
func (noMetrics) Quarantined(string)     {}
func (noMetrics) AckReceived()           {}

// countPublish counts a publish's outcome.
func (n *Node) countPublish(ack bus.Ack, err error) {
	switch {
	case err == nil && ack.Duplicate:
		n.metrics.Published(PublishDuplicate)
	case err == nil:
		n.metrics.Published(PublishStored)
	case errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNoSigningKey):
		n.metrics.Published(PublishFailed)
	default:
		n.metrics.Published(PublishRefused)
	}
}
