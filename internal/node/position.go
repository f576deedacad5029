package node

import (
	"context"
	"fmt"
)

// FeedLast returns the newest position of the node's feed (0 while it is empty), for
// readers that follow the feed and report how far behind they are.
func (n *Node) FeedLast(ctx context.Context) (uint64, error) {
	st, err := n.feed.State(ctx)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return st.Last, nil
}
