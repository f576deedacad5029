package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/cix-exchange/cix/internal/envelope"
	trustv1 "github.com/cix-exchange/cix/internal/gen/cix/trust/v1"
	"github.com/cix-exchange/cix/internal/revocation"
)

// PublishRevocation verifies a sealed revocation notice of this node's administration
// and publishes it on the trust stream, where every node applies it.
func (n *Node) PublishRevocation(ctx context.Context, raw []byte) (*trustv1.Revocation, bool, error) {
	if n.revocations == nil {
		return nil, false, fmt.Errorf("%w: revocations are not enabled on this node", ErrUnavailable)
	}
	if len(raw) == 0 {
		return nil, false, invalid("envelope", "required")
	}
	r, dup, err := n.revocations.Publish(ctx, raw)
	var ee *envelope.Error
	var fe *revocation.FieldError
	switch {
	case errors.As(err, &ee):
		return nil, false, invalid("envelope", "%s", ee.Error())
	case errors.As(err, &fe):
		return nil, false, invalid("envelope", "%s", fe.Error())
	case err != nil:
		return nil, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return r, dup, nil
}

// ListRevocations lists the revocation notices this node applies, oldest first.
func (n *Node) ListRevocations() []*trustv1.Revocation {
	if n.revocations == nil {
		return nil
	}
	return n.revocations.List()
}
