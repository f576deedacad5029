package federation_test

import (
	"testing"

	"github.com/cix-exchange/cix/internal/federation"
)

// TestJoiningByRestart follows README "Joining a new administration": NL and BE run,
// DE is added to the manifest, the hub configuration is regenerated, the hub restarts
// with it, DE's leaf starts, and the scopes include DE. NL and BE re-create their
// inbound streams with the new manifest, as a node does at start. What NL published
// while the hub restarted is not lost.
//
// A configuration reload instead of the restart (what nats-server --signal reload does;
// tried by hand with nats-server 2.15.2) left DE's sources without data for 30 s, also
// when NL's and BE's leaves reconnected after the reload: adding a member's exports and
// imports needs a restart of the hub servers (one at a time in a cluster).
func TestJoiningByRestart(t *testing.T) {
	seeds := map[string]string{}
	f := startFedOf(t, manifestOf(t, seeds, "NL", "BE"), seeds, nil)
	nl := f.leaf("NL")
	before := nl.publish(t, federation.AllMembers(), "before", []byte("before DE joined"))
	f.waitInbound("BE", "", []string{before})

	f.m = manifestOf(t, seeds, "NL", "BE", "DE")
	f.writeHubConfig(nil)
	f.stopHub()
	during := nl.publish(t, federation.AllMembers(), "during", []byte("while the hub restarted"))
	f.startHub()
	f.startLeaf("DE")
	f.waitLeafNodes(3)
	for _, c := range []string{"NL", "BE", "DE"} {
		f.ensureStreams(c)
	}
	toDE := nl.publish(t, federation.ToMember("DE"), "b1", []byte("bilateral"))
	all := nl.publish(t, federation.AllMembers(), "after", []byte("after DE joined"))
	// DE's inbound sources NL's all-members scope from the start: it gets the history.
	f.waitInbound("DE", "", []string{before, during, toDE, all})
	f.waitInbound("BE", "", []string{before, during, all})
}
